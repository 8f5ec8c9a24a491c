//! Checking an invitation before registering with it (issue 18): the relay says whether the
//! token can still be used and, while it can, who invited whom into which organisation, so a
//! page shows the relay's records instead of names written into the link. Staff list a space's
//! open invitations and revoke them.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::Client;
use crate::error::client_error;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Asks the relay what an invitation token leads to (no device needed). An unknown token
    /// rejects with code `relay_unauthenticated` and counts towards this address's failure
    /// limit on the relay.
    #[wasm_bindgen(js_name = checkInvitation, unchecked_return_type = "Promise<InvitationCheck>")]
    pub fn check_invitation(&self, token: String) -> Promise {
        self.bridge(move |s| async move { s.core.check_invitation(&token).await })
    }

    /// Adds the space of a customer invitation to this (already registered) account: no
    /// second registration. Resolves to the space id; staff then admit this user's devices.
    /// An invitation for another organisation rejects with `relay_forbidden`, a used or expired
    /// one with `relay_gone`.
    #[wasm_bindgen(js_name = acceptInvitation, unchecked_return_type = "Promise<string>")]
    pub fn accept_invitation(&self, token: String) -> Promise {
        self.bridge_js(move |s| async move {
            let space_id = s
                .core
                .accept_invitation(&token)
                .await
                .map_err(client_error)?;
            Ok(JsValue::from(space_id))
        })
    }

    /// The open invitations into a space (neither used nor revoked; expired ones with their
    /// state), newest first: for the space's staff and provider admins (a customer rejects
    /// with `relay_forbidden`). Never the tokens.
    #[wasm_bindgen(js_name = spaceInvitations, unchecked_return_type = "Promise<InvitationInfo[]>")]
    pub fn space_invitations(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
    ) -> Promise {
        self.bridge(move |s| async move { s.core.space_invitations(&space_id).await })
    }

    /// Revokes an unused invitation (the space's staff or an administrator): its link is
    /// refused from now on. A used invitation rejects with `relay_conflict`; someone else's
    /// space with `relay_forbidden`.
    #[wasm_bindgen(js_name = revokeInvitation, unchecked_return_type = "Promise<void>")]
    pub fn revoke_invitation(
        &self,
        #[wasm_bindgen(js_name = invitationId)] invitation_id: String,
    ) -> Promise {
        self.bridge_unit(move |s| async move { s.core.revoke_invitation(&invitation_id).await })
    }
}
