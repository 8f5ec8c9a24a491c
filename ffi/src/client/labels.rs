//! Classification policy, four-eyes release and the malware scanner's part of them (a further
//! `#[uniffi::export] impl` of [`SealroomClient`]; see `docs/client.md`, "Classification and
//! policy", "Four-eyes release", and `docs/scanner.md`). The label of an upload is
//! `NewFile.classification`; listed versions carry `classification`, `access`, `scan` and
//! `released_by`.

use super::{SealroomClient, SealroomError, SpacePolicy};

#[uniffi::export]
impl SealroomClient {
    /// The space's classification policy (the latest one staff posted; the default policy
    /// when none arrived yet).
    pub fn space_policy(&self, space_id: String) -> Result<SpacePolicy, SealroomError> {
        Ok(self.client.space_policy(&space_id)?)
    }

    /// Sets the space's classification policy (provider staff only: `not_staff` otherwise).
    pub fn set_space_policy(
        &self,
        space_id: String,
        policy: SpacePolicy,
    ) -> Result<(), SealroomError> {
        self.block(self.client.set_space_policy(&space_id, &policy))
    }

    /// Releases a held file version (staff of another user than the uploader: `self_release`
    /// or `not_staff` otherwise).
    pub fn approve_release(&self, space_id: String, file_id: String) -> Result<(), SealroomError> {
        self.block(self.client.approve_release(&space_id, &file_id))
    }

    /// Names the space's scanner (provider staff): designates `user_id` (a provider staff
    /// member of the space) on the relay and posts the space policy with `scanner` set, from
    /// which every member's client accepts verdicts. `None` removes the scanner.
    pub fn set_space_scanner(
        &self,
        space_id: String,
        user_id: Option<String>,
    ) -> Result<(), SealroomError> {
        self.block(self.client.set_space_scanner(&space_id, user_id.as_deref()))
    }

    /// Overrides an infected or failed verdict (provider staff, not the uploader's user, not
    /// the scanner; audited by the relay): staff may then open the file, customers still may
    /// not. Refused with `not_overridable` for any other scan state, `not_staff` or
    /// `self_release`.
    pub fn override_scan(&self, space_id: String, file_id: String) -> Result<(), SealroomError> {
        self.block(self.client.override_scan(&space_id, &file_id))
    }
}
