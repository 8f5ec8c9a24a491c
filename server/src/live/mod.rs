//! Live events: `GET /v1/events?after=<cursor>&wait=<seconds>`, a long poll that tells a device
//! "something new in room X" as soon as it is stored, on any relay instance.
//!
//! - Every [`RelayEvent`] about a room goes from the in-process bus ([`crate::events`]) into a
//!   log in the store ([`log`]), in batches, under dense cursors shared by all instances.
//! - A waiting request sleeps on a watch channel of the newest cursor ([`feed`]); it holds no
//!   thread and no store transaction while it waits, and re-reads the log (briefly, on a
//!   blocking thread) when the cursor moves. On one instance the writer moves it; with
//!   several instances on PostgreSQL the store's announcements (LISTEN/NOTIFY) and a re-check
//!   of the store every [`feed::RECHECK`] move it too, so a lost announcement delays an event
//!   but never loses it.
//! - Answers carry ids only (room id, kind, seq or blob id) and only rooms the device is a
//!   member of when the answer is read. A cursor older than the log keeps
//!   (`SEALROOM_LIVE_KEEP_SECS`, default 600) answers `resync: true`.
//! - At most [`MAX_WAITERS_PER_DEVICE`] requests of one device wait at a time (429
//!   `too_many_waiters` beyond).
//!
//! Why a long poll and not SSE or WebSocket: see `docs/relay.md`, "Live events".

pub mod feed;
pub mod log;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::events::RelayEvent;
use crate::reply::{ok_json, Reply};
use crate::state::AppState;

pub use self::feed::spawn;

/// Longest wait a request may ask for, seconds.
pub const MAX_WAIT_SECS: u64 = 30;
/// Cursors scanned per answer.
pub const PAGE_LIMIT: u64 = 200;
/// Requests of one device that may wait at the same time.
pub const MAX_WAITERS_PER_DEVICE: usize = 4;

/// The query of `GET /v1/events`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The cursor of the last answer (absent: answer the current cursor at once).
    pub after: Option<u64>,
    /// Seconds to wait for an event when there is none (0 to [`MAX_WAIT_SECS`], default 0).
    pub wait: Option<u64>,
}

/// Sets up what the live-event route needs (the per-device waiter counts); called once when
/// the routes are built.
pub fn init(state: &AppState) {
    state.insert_extension(Waiters::default());
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(ApiError::internal("blocking task", &e)),
    }
}

pub(crate) async fn get_events(
    query: EventsQuery,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "wait must be at most {MAX_WAIT_SECS} seconds"
        )));
    }
    let feed = feed::handle(&state)?;
    let mut head = feed.subscribe();
    let mut draining = feed.draining();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let device_id = authed.device_id.clone();
    let _slot = if wait > 0 && query.after.is_some() {
        Some(WaiterSlot::take(&state, &device_id)?)
    } else {
        None
    };
    let mut after = query.after;
    loop {
        // Mark the current head seen before reading: a move after the read wakes the wait.
        head.borrow_and_update();
        let (st, dev) = (state.clone(), device_id.clone());
        let page =
            blocking(move || Ok(log::read(st.store.as_ref(), &dev, after, PAGE_LIMIT)?)).await?;
        if !page.events.is_empty() || page.resync || after.is_none() || wait == 0 {
            return Ok(ok_json(&page));
        }
        // Nothing visible yet: continue past what was scanned (rooms of others included).
        after = Some(page.cursor);
        if *draining.borrow() {
            return Ok(ok_json(&page));
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { return Ok(ok_json(&page)) },
            _ = tokio::time::sleep_until(deadline) => return Ok(ok_json(&page)),
            _ = draining.changed() => return Ok(ok_json(&page)),
        }
    }
}

/// The number of waiting requests per device.
#[derive(Debug, Default)]
struct Waiters(Mutex<HashMap<String, usize>>);

/// A waiting request's place, given back when the request ends (answered or dropped).
struct WaiterSlot {
    waiters: Arc<Waiters>,
    device_id: String,
}

impl WaiterSlot {
    fn take(state: &AppState, device_id: &str) -> Result<Self, ApiError> {
        let waiters = state
            .extension::<Waiters>()
            .ok_or_else(|| ApiError::internal("live events", &"waiter table missing"))?;
        {
            let mut map = waiters.0.lock().unwrap_or_else(|p| p.into_inner());
            let count = map.entry(device_id.to_owned()).or_insert(0);
            if *count >= MAX_WAITERS_PER_DEVICE {
                return Err(ApiError::TooManyWaiters(format!(
                    "at most {MAX_WAITERS_PER_DEVICE} requests of a device may wait at once"
                )));
            }
            *count += 1;
        }
        Ok(Self {
            waiters,
            device_id: device_id.to_owned(),
        })
    }
}

impl Drop for WaiterSlot {
    fn drop(&mut self) {
        let mut map = self.waiters.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&self.device_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.device_id);
            }
        }
    }
}

/// The log entry of a bus event (`None`: not about a room, e.g. account security).
pub fn stored_event(event: &RelayEvent, at_ms: i64) -> Option<log::StoredEvent> {
    let (room_id, kind, seq, blob_id) = match event {
        RelayEvent::RoomCreated { room_id, .. } => (room_id, log::LiveKind::Room, None, None),
        RelayEvent::MessagePosted { room_id, seq, .. } => {
            (room_id, log::LiveKind::Message, Some(*seq), None)
        }
        RelayEvent::Committed { room_id, epoch, .. } => {
            (room_id, log::LiveKind::Commit, Some(*epoch), None)
        }
        RelayEvent::BlobCompleted {
            room_id, blob_id, ..
        } => (room_id, log::LiveKind::File, None, Some(blob_id.clone())),
        RelayEvent::BlobDeleted { room_id, blob_id } => (
            room_id,
            log::LiveKind::FileDeleted,
            None,
            Some(blob_id.clone()),
        ),
        _ => return None,
    };
    let removed_devices = match event {
        RelayEvent::Committed { removed, .. } => {
            removed.iter().map(|(_, device)| device.clone()).collect()
        }
        _ => Vec::new(),
    };
    Some(log::StoredEvent {
        room_id: room_id.clone(),
        kind,
        seq,
        blob_id,
        at_ms,
        removed_devices,
    })
}
