//! Relay events other modules react to (notifications, audit): "something new in a room".
//!
//! The rooms and blobs routes publish on a broadcast channel kept in [`AppState`]'s extensions;
//! consumers call [`subscribe`]. Events carry ids only, never content. Publishing never blocks
//! and never fails a request: with no subscriber the event is dropped, and a slow subscriber
//! sees `RecvError::Lagged` and skips ahead.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::state::AppState;

/// Capacity of the event channel before slow subscribers lag.
pub const CHANNEL_CAPACITY: usize = 4096;

/// Something happened in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayEvent {
    /// A room was registered.
    RoomCreated {
        /// Room id.
        room_id: String,
        /// Its space.
        space_id: String,
        /// Creating user.
        user_id: String,
        /// Creating device.
        device_id: String,
    },
    /// An application message was stored.
    MessagePosted {
        /// Room id.
        room_id: String,
        /// Its space.
        space_id: String,
        /// Sequence number in the room's message log.
        seq: u64,
        /// Sending user.
        user_id: String,
        /// Sending device.
        device_id: String,
        /// Ciphertext size in bytes.
        size: u64,
    },
    /// A commit changed the room's membership or keys.
    Committed {
        /// Room id.
        room_id: String,
        /// Its space.
        space_id: String,
        /// The new epoch.
        epoch: u64,
        /// Committing user.
        user_id: String,
        /// Committing device.
        device_id: String,
        /// Devices added, as `(user_id, device_id)`.
        added: Vec<(String, String)>,
        /// Devices removed, as `(user_id, device_id)`.
        removed: Vec<(String, String)>,
    },
    /// A blob upload completed: a new file is in the room.
    BlobCompleted {
        /// Room id.
        room_id: String,
        /// Its space.
        space_id: String,
        /// Blob id.
        blob_id: String,
        /// Uploading user.
        user_id: String,
        /// Uploading device.
        device_id: String,
        /// Size in bytes.
        size: u64,
    },
    /// A blob was deleted (by a member, or by expiry).
    BlobDeleted {
        /// Room id.
        room_id: String,
        /// Blob id.
        blob_id: String,
    },
    /// Something happened to a user's account security (a device request, an approval, a TOTP
    /// lockout or reset): the user is told by a content-free mail.
    AccountSecurity {
        /// The user.
        user_id: String,
        /// What happened: the stable name of a `sealroom_wire::accounts::SecurityEventKind`.
        kind: String,
    },
}

/// The sender kept in the state's extensions.
#[derive(Debug, Clone)]
pub struct EventBus(pub broadcast::Sender<RelayEvent>);

/// Serializes the creation of the channel, so two first users never create two channels.
static CREATE: Mutex<()> = Mutex::new(());

fn bus(state: &AppState) -> broadcast::Sender<RelayEvent> {
    if let Some(bus) = state.extension::<EventBus>() {
        return bus.0.clone();
    }
    let _guard = CREATE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(bus) = state.extension::<EventBus>() {
        return bus.0.clone();
    }
    let (tx, _rx) = broadcast::channel(CHANNEL_CAPACITY);
    state.insert_extension(EventBus(tx.clone()));
    tx
}

/// Creates the event channel; call once at start-up before subscribers attach (idempotent).
pub fn init(state: &AppState) {
    let _ = bus(state);
}

/// A new receiver of every event published from now on.
pub fn subscribe(state: &AppState) -> broadcast::Receiver<RelayEvent> {
    bus(state).subscribe()
}

/// Publishes an event (dropped when nobody listens).
pub fn publish(state: &AppState, event: RelayEvent) {
    let _ = bus(state).send(event);
}
