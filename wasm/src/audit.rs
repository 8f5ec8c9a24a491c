//! The client's own check of the relay's audit chain (`checkAudit`), beside the relay's verdict
//! (`verifyAudit` in `client.rs`).

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::client::{num, Client};
use crate::error::client_error;

#[wasm_bindgen(typescript_custom_section)]
const TS_AUDIT_CHECK: &'static str = r#"
/**
 * What `checkAudit()` verified on this device: the relay's signed head, and every hash of the
 * chain up to it. A rolled-back or rewritten history, a changed relay key or a broken chain
 * rejects instead, with `code` `audit_rolled_back`, `audit_rewritten`, `audit_key_changed` or
 * `audit_broken` (`kind` `corrupt`).
 */
export interface AuditCheck {
  /** Sequence number of the verified, signed head. */
  headSeq: number;
  /** Its hash (hex). */
  headHash: string;
  /** Entries whose hash this device recomputed (those this admin may read). */
  entriesVerified: number;
  /** Links of other organisations, checked by their hashes only. */
  linksHidden: number;
  /** The relay's audit public key (hex), pinned by this device at its first check. */
  relayKey: string;
}
"#;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Checks the relay's audit chain on this device (organisation admins): verifies the
    /// relay's signed head and every hash up to it, and compares with the head this device
    /// verified last (kept in its encrypted state). Unlike `verifyAudit`, this does not trust
    /// the relay's own verdict.
    #[wasm_bindgen(js_name = checkAudit, unchecked_return_type = "Promise<AuditCheck>")]
    pub fn check_audit(&self) -> Promise {
        self.bridge_js(move |s| async move {
            let check = s.core.check_audit().await.map_err(client_error)?;
            let out = Object::new();
            for (name, value) in [
                ("headSeq", num(check.head_seq)),
                ("headHash", JsValue::from_str(&check.head_hash)),
                ("entriesVerified", num(check.entries_verified)),
                ("linksHidden", num(check.links_hidden)),
                ("relayKey", JsValue::from_str(&check.relay_key)),
            ] {
                Reflect::set(&out, &JsValue::from_str(name), &value)?;
            }
            Ok(out.into())
        })
    }
}
