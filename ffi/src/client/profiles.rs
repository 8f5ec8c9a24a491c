//! Names: the user's own signed profile, other users' as their devices posted them into the
//! rooms, and the name a waiting device signed, for the admit step (a further
//! `#[uniffi::export] impl` of [`SealroomClient`]; see `docs/client.md`, "Names").

use super::{SealroomClient, SealroomError};
use sealroom_core::client::{Admission, ProfileInput, UserProfile};

#[uniffi::export]
impl SealroomClient {
    /// Sets this user's profile: signed by this device and posted (encrypted) into every room
    /// this device is in; key packages published from now on carry the name.
    pub fn set_profile(&self, input: ProfileInput) -> Result<UserProfile, SealroomError> {
        self.block(self.client.set_profile(input))
    }

    /// This user's own profile, if set.
    pub fn own_profile(&self) -> Result<Option<UserProfile>, SealroomError> {
        Ok(self.client.own_profile()?)
    }

    /// The latest profile of `user_id` this device accepted.
    pub fn profile(&self, user_id: String) -> Result<Option<UserProfile>, SealroomError> {
        Ok(self.client.profile(&user_id)?)
    }

    /// The latest accepted profile of every user this device knows one of.
    pub fn profiles(&self) -> Result<Vec<UserProfile>, SealroomError> {
        Ok(self.client.profiles()?.into_iter().collect())
    }

    /// Adds the space of a customer invitation to this (already registered) account, with no
    /// second registration; returns the space id. Staff then admit this user's devices.
    pub fn accept_invitation(&self, token: String) -> Result<String, SealroomError> {
        self.block(self.client.accept_invitation(&token))
    }

    /// Before admitting `user_id` into a space's room: the name their device signed and their
    /// safety number, side by side (claims one key package of each of their devices).
    pub fn admission(&self, space_id: String, user_id: String) -> Result<Admission, SealroomError> {
        self.block(self.client.admission(&space_id, &user_id))
    }
}
