//! Profiles for JS (methods of `SealroomClient`; see `docs/client.md`, "Names"): the user's own
//! signed profile, other users' as their devices posted them into the rooms, and the name a
//! waiting device signed, for the admit step.

use js_sys::Promise;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use sealroom_core::client::{Admission, ProfileInput, UserProfile};

use crate::client::Client;
use crate::convert::{from_js, to_js};
use crate::error::client_error;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** What a user says about themselves (`setProfile`). */
export interface ProfileInput {
  /** 1 to 100 characters. */
  name: string;
  organisation?: string | null;
  title?: string | null;
}
/**
 * A user's profile as this device accepted it: signed by one of the user's own devices, the
 * latest one wins. Text is made safe to show (no direction overrides or control characters);
 * still isolate it (`<bdi>`) in running text.
 */
export interface UserProfile {
  userId: string; name: string; organisation: string | null; title: string | null;
  /** Unix seconds on the signing device's clock. */
  updatedAt: number;
  /** The device that signed it. */
  deviceId: string;
}
/** What staff see before admitting a user's devices (`admission`). */
export interface Admission {
  userId: string;
  /** The name the user's device signed into its key packages; null when none did. */
  name: string | null;
  /** The user's safety number (compare it out of band before admitting). */
  safetyNumber: string | null;
  devices: { deviceId: string; name: string | null; verified: boolean }[];
}
"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileInputJs {
    name: String,
    #[serde(default)]
    organisation: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

fn profile(p: &UserProfile) -> Value {
    json!({
        "userId": p.user_id, "name": p.name, "organisation": p.organisation,
        "title": p.title, "updatedAt": p.updated_at, "deviceId": p.device_id,
    })
}

fn admission(a: &Admission) -> Value {
    json!({
        "userId": a.user_id, "name": a.name, "safetyNumber": a.safety_number,
        "devices": a.devices.iter().map(|d| json!({
            "deviceId": d.device_id, "name": d.name, "verified": d.verified,
        })).collect::<Vec<_>>(),
    })
}

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Sets this user's profile: signed by this device, posted (encrypted) into every room
    /// this device is in; key packages published from now on carry the name.
    #[wasm_bindgen(js_name = setProfile, unchecked_return_type = "Promise<UserProfile>")]
    pub fn set_profile(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProfileInput")] input: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let i: ProfileInputJs = from_js(&input, "profile")?;
            let input = ProfileInput {
                name: i.name,
                organisation: i.organisation,
                title: i.title,
            };
            let p = s.core.set_profile(input).await.map_err(client_error)?;
            to_js(&profile(&p))
        })
    }

    /// This user's own profile, or null.
    #[wasm_bindgen(js_name = ownProfile, unchecked_return_type = "Promise<UserProfile | null>")]
    pub fn own_profile(&self) -> Promise {
        self.bridge_js(move |s| async move {
            let p = s.core.own_profile().map_err(client_error)?;
            to_js(&p.as_ref().map(profile))
        })
    }

    /// The latest accepted profile of a user, or null.
    #[wasm_bindgen(unchecked_return_type = "Promise<UserProfile | null>")]
    pub fn profile(&self, #[wasm_bindgen(js_name = userId)] user_id: String) -> Promise {
        self.bridge_js(move |s| async move {
            let p = s.core.profile(&user_id).map_err(client_error)?;
            to_js(&p.as_ref().map(profile))
        })
    }

    /// The latest accepted profile of every user this device knows one of.
    #[wasm_bindgen(unchecked_return_type = "Promise<UserProfile[]>")]
    pub fn profiles(&self) -> Promise {
        self.bridge_js(move |s| async move {
            let list = s.core.profiles().map_err(client_error)?;
            to_js(&list.iter().map(profile).collect::<Vec<_>>())
        })
    }

    /// Before admitting a user into a space's room: the name their device signed and their
    /// safety number, side by side (claims one key package of each of their devices).
    #[wasm_bindgen(unchecked_return_type = "Promise<Admission>")]
    pub fn admission(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = userId)] user_id: String,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let a = s
                .core
                .admission(&space_id, &user_id)
                .await
                .map_err(client_error)?;
            to_js(&admission(&a))
        })
    }
}
