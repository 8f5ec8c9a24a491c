//! Rooms on the relay: the MLS view of each room ([`mls`]), its storage ([`data`]: ordered
//! handshakes with one commit per epoch, welcome mailboxes, application messages, the key
//! package directory) and the request handlers ([`handlers`]; the routes are in `crate::http::rooms`).

pub mod data;
pub mod handlers;
pub mod mls;

use sealroom_wire::audit::AuditAction;
use sealroom_wire::rooms::RoomMember;

use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::state::AppState;

/// Sets up what the room handlers share (the event bus); called once when the routes are
/// built.
pub fn init(state: &AppState) {
    crate::events::init(state);
}

/// Checks that the calling device's user may create a room in `space_id`: they must be a
/// member of the space (404 otherwise, as for any space they cannot see).
pub fn check_space_access(
    state: &AppState,
    space_id: &str,
    authed: &AuthedDevice,
) -> Result<(), ApiError> {
    crate::accounts::require_space_member(state, space_id, authed).map(|_| ())
}

/// One audit entry per device that joined or left a room, for the caller to commit with the
/// change: the object is the room, the detail names the member (ids only) and the epoch, the
/// actor is the device that sent the commit (or registered the room).
pub fn membership_events(
    authed: &AuthedDevice,
    room_id: &str,
    epoch: u64,
    added: &[RoomMember],
    removed: &[RoomMember],
) -> Vec<audit::AuditEvent> {
    added
        .iter()
        .map(|m| (AuditAction::MembershipAdd, m))
        .chain(removed.iter().map(|m| (AuditAction::MembershipRemove, m)))
        .map(|(action, member)| {
            audit::event_by(action, authed)
                .object(room_id)
                .detail(format!(
                    "room user={} device={} epoch={epoch}",
                    member.user_id, member.device_id
                ))
        })
        .collect()
}
