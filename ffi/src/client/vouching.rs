//! Devices vouched for by their user (issue 25): whether this device can vouch, certifying a
//! device linked by a TOTP code alone, and the policy for unverified devices in customer and internal rooms.
//! The verification itself happens in core; [`super::types::SpaceMember`] and the
//! `KeyChanged` / `DeviceSkipped` events carry its results.

use super::{SealroomClient, SealroomError};

#[uniffi::export]
impl SealroomClient {
    /// Whether this device holds the user's identity key and can vouch for the user's other
    /// devices (created the user, was approved by such a device, or restored the backup).
    pub fn can_vouch(&self) -> Result<bool, SealroomError> {
        Ok(self.client.can_vouch()?)
    }

    /// Vouches for another device of this user (one linked by a TOTP code alone) after the
    /// user compared its public key. Fails with code `cannot_vouch` on a device without the
    /// identity key.
    pub fn certify_device(
        &self,
        device_id: String,
        public_key: String,
    ) -> Result<(), SealroomError> {
        self.block(self.client.certify_device(&device_id, &public_key))
    }

    /// Whether this device adds devices nobody vouched for to internal rooms (default `false`:
    /// they are left out and reported by a `DeviceSkipped` event).
    pub fn set_allow_unverified_internal(&self, allow: bool) -> Result<(), SealroomError> {
        Ok(self.client.set_allow_unverified_internal(allow)?)
    }

    /// The current policy (see `set_allow_unverified_internal`).
    pub fn allow_unverified_internal(&self) -> Result<bool, SealroomError> {
        Ok(self.client.allow_unverified_internal()?)
    }

    /// Whether this device adds devices nobody vouched for to customer rooms (default `false`:
    /// they are left out and reported by a `DeviceSkipped` event; an add that could add none
    /// fails with code `unverified_devices`).
    pub fn set_allow_unverified_customer(&self, allow: bool) -> Result<(), SealroomError> {
        Ok(self.client.set_allow_unverified_customer(allow)?)
    }

    /// The current policy (see `set_allow_unverified_customer`).
    pub fn allow_unverified_customer(&self) -> Result<bool, SealroomError> {
        Ok(self.client.allow_unverified_customer()?)
    }

    /// Administrator: resets `user_id`'s identity key on the relay (a user who lost every
    /// device and the recovery backup, or whose key-holding device was stolen and revoked).
    /// The user is told by mail; one of the user's devices then calls `create_new_identity`.
    pub fn reset_identity(&self, user_id: String) -> Result<(), SealroomError> {
        self.block(self.client.reset_identity(&user_id))
    }

    /// After an identity reset: creates and publishes a new identity key on this device, which
    /// can then vouch for the user's other devices.
    pub fn create_new_identity(&self) -> Result<(), SealroomError> {
        self.block(self.client.create_new_identity())
    }

    /// Accepts `user_id`'s changed identity key (a `KeyChanged` event) after the user compared
    /// `safety_number`, the number over the new key, out of band.
    pub fn accept_identity_key(
        &self,
        user_id: String,
        safety_number: String,
    ) -> Result<(), SealroomError> {
        Ok(self.client.accept_identity_key(&user_id, &safety_number)?)
    }
}
