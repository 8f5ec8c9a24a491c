//! Enrolment events a user's existing devices can read (`GET /v1/me/security-events`), each
//! also announced on the event bus so the user gets a content-free mail
//! (`crate::notify::security`).

use serde::Deserialize;

use sealroom_wire::accounts::{SecurityEvent, SecurityEventKind, SecurityEventList};

use crate::auth::{AuthedDevice, ClientInfo};
use crate::error::ApiError;
use crate::events::{self, RelayEvent};
use crate::reply::{ok_json, Reply};
use crate::state::AppState;
use crate::store::{decode_json, encode_json, Store, StoreError, Txn};

/// Tree: `user_id/` ‖ 8-byte big-endian sequence -> [`SecurityEvent`] (JSON).
pub const SECURITY_EVENTS: &str = "acct_security_events";
/// Largest page of `GET /v1/me/security-events`.
pub const PAGE_MAX: usize = 200;

fn key(user_id: &str, seq: u64) -> Vec<u8> {
    let mut k = format!("{user_id}/").into_bytes();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Records an event for `user_id` and announces it (mail). Kinds that are noisy by nature
/// (a single wrong code) are recorded but mailed only when they lock.
pub fn record(
    state: &AppState,
    user_id: &str,
    kind: SecurityEventKind,
    device_id: Option<&str>,
    request_id: Option<&str>,
    client: Option<&ClientInfo>,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    // Sequence numbers start at 1, so `after=0` lists everything.
    let seq = store.next_id()?.saturating_add(1);
    let event = SecurityEvent {
        seq,
        kind,
        at: state.now(),
        device_id: device_id.map(str::to_owned),
        request_id: request_id.map(str::to_owned),
        ip: client.and_then(|c| c.ip).map(|ip| ip.to_string()),
    };
    store.put(
        SECURITY_EVENTS,
        &key(user_id, seq),
        &encode_json(SECURITY_EVENTS, &event)?,
    )?;
    if kind != SecurityEventKind::TotpFailed {
        events::publish(
            state,
            RelayEvent::AccountSecurity {
                user_id: user_id.to_owned(),
                kind: kind.as_str().to_owned(),
            },
        );
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    after: u64,
}

/// `GET /v1/me/security-events?after=N`: the caller's account events after `N`, oldest first.
pub(crate) fn list(
    state: &AppState,
    authed: &AuthedDevice,
    raw_query: &str,
) -> Result<Reply, ApiError> {
    let page: Page = serde_urlencoded::from_str(raw_query)
        .map_err(|e| ApiError::malformed(format!("invalid query: {e}")))?;
    let start = key(&authed.user_id, page.after.saturating_add(1));
    let end = key(&authed.user_id, u64::MAX);
    let mut events = Vec::new();
    for kv in state
        .store
        .range(SECURITY_EVENTS, &start, Some(&end))
        .map_err(ApiError::from)?
    {
        let (_, v) = kv.map_err(ApiError::from)?;
        events.push(decode_json::<SecurityEvent>(SECURITY_EVENTS, &v).map_err(ApiError::from)?);
        if events.len() >= PAGE_MAX {
            break;
        }
    }
    Ok(ok_json(&SecurityEventList { events }))
}

/// Adds to `txn` the removal of a user's events (erasure).
pub fn erase(store: &dyn Store, txn: &mut Txn, user_id: &str) -> Result<(), StoreError> {
    let prefix = format!("{user_id}/").into_bytes();
    for kv in store.scan_prefix(SECURITY_EVENTS, &prefix)? {
        txn.delete(SECURITY_EVENTS, &kv?.0);
    }
    Ok(())
}
