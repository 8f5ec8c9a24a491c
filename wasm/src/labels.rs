//! Classification labels, the space policy and the four-eyes release, for JS (methods of
//! `SealroomClient`; see `docs/client.md`, "Classification and policy" and "Four-eyes
//! release"). The label of an upload is `NewFile.classification`; listed versions carry
//! `classification`, `access` and `releasedBy`.

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
/** What the space policy says about one label. */
export interface LabelRule {
  classification: Classification;
  /** Whether customers may download files with this label. */
  customerDownload: boolean;
  /** Whether a scan verdict is required (enforced with the scanner). */
  scanRequired?: boolean;
  /** Whether a second staff member must release each version before customers open it. */
  fourEyes?: boolean;
}
/** A space's classification policy (set by staff; every client checks who sent it). */
export interface SpacePolicy { labels: LabelRule[]; default: Classification; }
/**
 * What this device may do with a file version: `open`, or the code the download would fail
 * with (`awaiting_release`, `download_not_allowed`, `label_not_allowed`).
 */
export type FileAccess = "open" | "awaiting_release" | "download_not_allowed" | "label_not_allowed";
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
        let s = self.shared.clone();
        run(&self.shared, async move {
            s.core
                .approve_release(&space_id, &file_id)
                .await
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
