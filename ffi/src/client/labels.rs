//! Classification policy and four-eyes release (a further `#[uniffi::export] impl` of
//! [`SealroomClient`]; see `docs/client.md`, "Classification and policy", "Four-eyes
//! release"). The label of an upload is `NewFile.classification`; listed versions carry
//! `classification`, `access` and `released_by`.

use super::label_types::SpacePolicy;
use super::{SealroomClient, SealroomError};

#[uniffi::export]
impl SealroomClient {
    /// The space's classification policy (the latest one staff posted; the default policy
    /// when none arrived yet).
    pub fn space_policy(&self, space_id: String) -> Result<SpacePolicy, SealroomError> {
        Ok(self.client.space_policy(&space_id)?.into())
    }

    /// Sets the space's classification policy (provider staff only: `not_staff` otherwise).
    pub fn set_space_policy(
        &self,
        space_id: String,
        policy: SpacePolicy,
    ) -> Result<(), SealroomError> {
        self.block(self.client.set_space_policy(&space_id, &policy.into()))
    }

    /// Releases a held file version (staff of another user than the uploader: `self_release`
    /// or `not_staff` otherwise).
    pub fn approve_release(&self, space_id: String, file_id: String) -> Result<(), SealroomError> {
        self.block(self.client.approve_release(&space_id, &file_id))
    }
}
