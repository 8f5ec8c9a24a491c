//! Rooms on the relay: the MLS view of each room ([`mls`]), its storage ([`data`]: ordered
//! handshakes with one commit per epoch, welcome mailboxes, application messages, the key
//! package directory) and the HTTP routes ([`routes`]).

pub mod data;
pub mod mls;
mod routes;

pub use routes::routes;

use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::state::AppState;

/// Checks that the calling device's user may create a room in `space_id`: they must be a
/// member of the space (404 otherwise, as for any space they cannot see).
pub fn check_space_access(
    state: &AppState,
    space_id: &str,
    authed: &AuthedDevice,
) -> Result<(), ApiError> {
    crate::accounts::require_space_member(state, space_id, authed).map(|_| ())
}
