//! Profiles for JS (methods of `SealroomClient`; see `docs/client.md`, "Names"): the user's own
//! signed profile, other users' as their devices posted them into the rooms, and the name a
//! waiting device signed, for the admit step.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use sealroom_core::client::ProfileInput;

use crate::client::Client;
use crate::convert::{from_js, to_js};
use crate::error::client_error;

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
            let input: ProfileInput = from_js(&input, "profile")?;
            let p = s.core.set_profile(input).await.map_err(client_error)?;
            to_js(&p)
        })
    }

    /// This user's own profile, or null.
    #[wasm_bindgen(js_name = ownProfile, unchecked_return_type = "Promise<UserProfile | null>")]
    pub fn own_profile(&self) -> Promise {
        self.bridge_js(move |s| async move { to_js(&s.core.own_profile().map_err(client_error)?) })
    }

    /// The latest accepted profile of a user, or null.
    #[wasm_bindgen(unchecked_return_type = "Promise<UserProfile | null>")]
    pub fn profile(&self, #[wasm_bindgen(js_name = userId)] user_id: String) -> Promise {
        self.bridge_js(
            move |s| async move { to_js(&s.core.profile(&user_id).map_err(client_error)?) },
        )
    }

    /// The latest accepted profile of every user this device knows one of.
    #[wasm_bindgen(unchecked_return_type = "Promise<UserProfile[]>")]
    pub fn profiles(&self) -> Promise {
        self.bridge_js(move |s| async move { to_js(&s.core.profiles().map_err(client_error)?) })
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
            to_js(&a)
        })
    }
}
