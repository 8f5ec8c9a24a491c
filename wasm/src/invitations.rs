//! Checking an invitation before registering with it (issue 18): the relay says whether the
//! token can still be used and, while it can, who invited whom into which organisation, so a
//! page shows the relay's records instead of names written into the link.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::{run, Client};
use crate::convert::to_js;
use crate::error::client_error;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Asks the relay what an invitation token leads to (no device needed). An unknown token
    /// rejects with code `relay_unauthenticated` and counts towards this address's failure
    /// limit on the relay.
    #[wasm_bindgen(js_name = checkInvitation, unchecked_return_type = "Promise<InvitationCheck>")]
    pub fn check_invitation(&self, token: String) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            to_js(
                &s.core
                    .check_invitation(&token)
                    .await
                    .map_err(client_error)?,
            )
        })
    }

    /// Adds the space of a customer invitation to this (already registered) account: no
    /// second registration. Resolves to the space id; staff then admit this user's devices.
    /// An invitation for another organisation rejects with `relay_forbidden`, a used or expired
    /// one with `relay_gone`.
    #[wasm_bindgen(js_name = acceptInvitation, unchecked_return_type = "Promise<string>")]
    pub fn accept_invitation(&self, token: String) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            let space_id = s
                .core
                .accept_invitation(&token)
                .await
                .map_err(client_error)?;
            Ok(JsValue::from(space_id))
        })
    }
}
