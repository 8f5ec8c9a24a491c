//! Revoking a lost device and reading the account's security events (a second
//! `#[uniffi::export] impl` of [`SealroomClient`]; see `docs/client.md`, "Revoking a device").

use super::{SealroomClient, SealroomError};

pub use sealroom_wire::accounts::{SecurityEvent, SecurityEventKind};

#[uniffi::export]
impl SealroomClient {
    /// Revokes a device: one of this user's other devices, or (as an admin) any device of the
    /// organisation. The relay refuses it at once and mails its user; then this device removes
    /// it by MLS commit from every room where it may. Returns the number of rooms this call
    /// removed it from; in the others the next allowed member removes it on its `sync`.
    pub fn revoke_device(&self, device_id: String) -> Result<u32, SealroomError> {
        self.block(self.client.revoke_device(&device_id))
    }

    /// The account's security events after the cursor `after` (0: all), oldest first.
    pub fn security_events(&self, after: u64) -> Result<Vec<SecurityEvent>, SealroomError> {
        Ok(self.block(self.client.security_events(after))?.events)
    }
}
