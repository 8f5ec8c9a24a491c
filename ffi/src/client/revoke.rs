//! Revoking a lost device and reading the account's security events (a second
//! `#[uniffi::export] impl` of [`SealroomClient`]; see `docs/client.md`, "Revoking a device").

use sealroom_wire::accounts as wire;

use super::{SealroomClient, SealroomError};

/// One event of the user's account, for the user's devices to show.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SecurityEvent {
    /// Increasing per user: pass the last one to `security_events(after)`.
    pub seq: u64,
    /// Stable name: `device_requested`, `device_approved_by_device`,
    /// `device_approved_by_totp`, `totp_failed`, `totp_locked`, `totp_unlocked`,
    /// `totp_reset`, `device_revoked`, `identity_reset` (newer relays may add more).
    pub kind: String,
    /// Unix seconds.
    pub at: i64,
    /// The device concerned, if any.
    pub device_id: Option<String>,
    /// The device request concerned, if any.
    pub request_id: Option<String>,
    /// Source address of the request, if the relay knew it.
    pub ip: Option<String>,
}

impl From<wire::SecurityEvent> for SecurityEvent {
    fn from(e: wire::SecurityEvent) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind.as_str().to_owned(),
            at: e.at,
            device_id: e.device_id,
            request_id: e.request_id,
            ip: e.ip,
        }
    }
}

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
        let list = self.block(self.client.security_events(after))?;
        Ok(list.events.into_iter().map(Into::into).collect())
    }
}
