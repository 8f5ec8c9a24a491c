//! Classification labels, the space policy and the four-eyes release, for JS (methods of
//! `SealroomClient`; see `docs/client.md`, "Classification and policy" and "Four-eyes
//! release"), and the malware scanner's part of them (`docs/scanner.md`): naming the space's
//! scanner and the staff override of a verdict. The label of an upload is
//! `NewFile.classification`; listed versions carry `classification`, `access`, `releasedBy` and
//! `scan`.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use sealroom_core::client::SpacePolicy;

use crate::client::{run, Client};
use crate::convert::{from_js, to_js};
use crate::error::client_error;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/**
 * A classification label: one of the four known ones, or a label of a newer peer (kept as
 * its string). Lowercase ASCII letters, digits, `-` and `_`, at most 255 bytes.
 */
export type Classification = "public" | "internal" | "confidential" | "restricted" | (string & {});
"#;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// The space's classification policy (the latest staff posted; the default policy when
    /// none arrived).
    #[wasm_bindgen(js_name = spacePolicy, unchecked_return_type = "SpacePolicy")]
    pub fn space_policy(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
    ) -> Result<JsValue, JsValue> {
        let policy = self
            .shared
            .core
            .space_policy(&space_id)
            .map_err(client_error)?;
        to_js(&policy)
    }

    /// Sets the space's classification policy (provider staff only; `not_staff` otherwise).
    #[wasm_bindgen(js_name = setSpacePolicy, unchecked_return_type = "Promise<void>")]
    pub fn set_space_policy(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(unchecked_param_type = "SpacePolicy")] policy: JsValue,
    ) -> Promise {
        let s = self.shared.clone();
        let policy: Result<SpacePolicy, JsValue> = from_js(&policy, "policy");
        run(&self.shared, async move {
            let policy = policy?;
            s.core
                .set_space_policy(&space_id, &policy)
                .await
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Releases a held file version (staff of another user than the uploader; `self_release`
    /// or `not_staff` otherwise).
    #[wasm_bindgen(js_name = approveRelease, unchecked_return_type = "Promise<void>")]
    pub fn approve_release(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
    ) -> Promise {
        self.bridge_unit(move |s| async move { s.core.approve_release(&space_id, &file_id).await })
    }

    /// Names the space's scanner (provider staff): designates `userId` (a staff member of the
    /// space, not its owner) on the relay and posts the space policy with `scanner` set;
    /// `null` removes the scanner.
    #[wasm_bindgen(js_name = setSpaceScanner, unchecked_return_type = "Promise<void>")]
    pub fn set_space_scanner(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = userId)] user_id: Option<String>,
    ) -> Promise {
        self.bridge_unit(move |s| async move {
            s.core
                .set_space_scanner(&space_id, user_id.as_deref())
                .await
        })
    }

    /// Overrides an `infected` or `failed` scan verdict (provider staff, not the uploader's
    /// user, not the scanner; `not_overridable` for any other scan state, `self_release` or
    /// `not_staff` otherwise). Audited by the relay; staff may then open the file, customers
    /// still may not.
    #[wasm_bindgen(js_name = overrideScan, unchecked_return_type = "Promise<void>")]
    pub fn override_scan(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
    ) -> Promise {
        self.bridge_unit(move |s| async move { s.core.override_scan(&space_id, &file_id).await })
    }
}
