//! The background side of live events: the writer that moves bus events into the store's log,
//! the watch channel of the newest cursor that waiting requests sleep on, the re-check that
//! follows other instances, and the pruning of old events.
//!
//! Settings from the environment:
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SEALROOM_LIVE_KEEP_SECS` | how long events stay in the log; older cursors get `resync` | 600 |
//! | `SEALROOM_LIVE_PRUNE_TICK_SECS` | how often the log is pruned | 60 |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::events::{self, RelayEvent};
use crate::live::log::{self, LiveKind, StoredEvent};
use crate::state::AppState;
use crate::store::lead;

/// How often a relay that shares its store with other instances re-reads the newest cursor,
/// whatever the announcements say.
pub const RECHECK: Duration = Duration::from_secs(1);
/// Bus events written per store transaction.
const BATCH: usize = 256;
/// The singleton job name of pruning.
const PRUNE_JOB: &str = "live_prune";

/// The newest cursor known to this instance, and the "stop waiting" flag of shutdown.
#[derive(Debug)]
pub struct LiveFeed {
    head: watch::Sender<u64>,
    draining: watch::Sender<bool>,
}

impl LiveFeed {
    fn new() -> Self {
        Self {
            head: watch::channel(0).0,
            draining: watch::channel(false).0,
        }
    }

    /// A receiver of the newest cursor.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// A receiver that turns `true` when the relay begins shutting down.
    pub fn draining(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }

    /// Moves the newest cursor forward (never back); wakes the waiters when it moved.
    pub fn advance(&self, cursor: u64) {
        self.head.send_if_modified(|seen| {
            let newer = cursor > *seen;
            if newer {
                *seen = cursor;
            }
            newer
        });
    }
}

/// Serializes the creation of the feed.
static CREATE: Mutex<()> = Mutex::new(());

fn ensure(state: &AppState) -> Arc<LiveFeed> {
    if let Some(feed) = state.extension::<LiveFeed>() {
        return feed;
    }
    let _guard = CREATE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(feed) = state.extension::<LiveFeed>() {
        return feed;
    }
    state.insert_extension(LiveFeed::new());
    match state.extension::<LiveFeed>() {
        Some(feed) => feed,
        // Just inserted under the lock; a fresh feed keeps callers working all the same.
        None => Arc::new(LiveFeed::new()),
    }
}

/// The feed of the relay.
pub fn handle(state: &AppState) -> Result<Arc<LiveFeed>, ApiError> {
    Ok(ensure(state))
}

/// Makes every waiting request answer now (the relay is shutting down).
pub fn drain(state: &AppState) {
    ensure(state).draining.send_replace(true);
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(default)
        .max(1)
}

/// Starts the writer, the re-check (when other instances may share the store) and the
/// pruning task. Each stops at shutdown.
pub fn spawn(state: AppState) {
    let feed = ensure(&state);
    events::init(&state);
    let rx = events::subscribe(&state);
    tokio::spawn(write_loop(state.clone(), Arc::clone(&feed), rx));
    if let Some(announcements) = state.store.live_announcements() {
        tokio::spawn(recheck_loop(
            state.clone(),
            Arc::clone(&feed),
            announcements,
        ));
    }
    tokio::spawn(prune_loop(state));
}

async fn read_head(state: &AppState) -> Option<u64> {
    let st = state.clone();
    match tokio::task::spawn_blocking(move || log::head(st.store.as_ref())).await {
        Ok(Ok(head)) => Some(head),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "live event head unreadable");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "live event head task failed");
            None
        }
    }
}

async fn write_loop(
    state: AppState,
    feed: Arc<LiveFeed>,
    mut rx: tokio::sync::broadcast::Receiver<RelayEvent>,
) {
    if let Some(head) = read_head(&state).await {
        feed.advance(head);
    }
    let mut shutdown = state.shutdown_signal();
    // Set when events were dropped (bus overflow, failed write): the next batch carries a
    // resync marker so that devices sync in full.
    let mut missed = false;
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => batch.push(ev),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "live event writer lagged, events skipped");
                    missed = true;
                }
                Err(RecvError::Closed) => break,
            },
            _ = shutdown.changed() => break,
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(TryRecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "live event writer lagged, events skipped");
                    missed = true;
                }
                Err(_) => break,
            }
        }
        let now = state.clock.now_millis();
        let mut stored: Vec<StoredEvent> = batch
            .iter()
            .filter_map(|ev| super::stored_event(ev, now))
            .collect();
        if missed {
            stored.push(StoredEvent {
                room_id: String::new(),
                kind: LiveKind::Resync,
                seq: None,
                blob_id: None,
                at_ms: now,
                removed_devices: Vec::new(),
            });
        }
        if stored.is_empty() {
            continue;
        }
        let st = state.clone();
        let written = tokio::task::spawn_blocking(move || {
            let head = log::append(st.store.as_ref(), &stored)?;
            if let Err(e) = st.store.announce_live(head) {
                // The other instances' re-check picks the events up.
                tracing::warn!(error = %e, "live event announcement failed");
            }
            Ok::<u64, crate::store::StoreError>(head)
        })
        .await;
        match written {
            Ok(Ok(head)) => {
                missed = false;
                feed.advance(head);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "live events not stored; a resync marker follows");
                missed = true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "live event writer task failed");
                missed = true;
            }
        }
    }
}

async fn recheck_loop(
    state: AppState,
    feed: Arc<LiveFeed>,
    mut announcements: watch::Receiver<u64>,
) {
    let mut shutdown = state.shutdown_signal();
    let mut listening = true;
    loop {
        tokio::select! {
            changed = announcements.changed(), if listening => {
                if changed.is_err() {
                    listening = false;
                } else {
                    let cursor = *announcements.borrow_and_update();
                    if cursor > *feed.head.borrow() {
                        feed.advance(cursor);
                        continue;
                    }
                    // A reconnected listener's nudge (or an old cursor): read the store.
                }
            }
            _ = tokio::time::sleep(RECHECK) => {}
            _ = shutdown.changed() => break,
        }
        if let Some(head) = read_head(&state).await {
            feed.advance(head);
        }
    }
}

async fn prune_loop(state: AppState) {
    let tick = Duration::from_secs(env_secs("SEALROOM_LIVE_PRUNE_TICK_SECS", 60));
    let keep_ms = i64::try_from(env_secs("SEALROOM_LIVE_KEEP_SECS", 600))
        .unwrap_or(i64::MAX / 2_000)
        .saturating_mul(1000);
    let mut shutdown = state.shutdown_signal();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => break,
        }
        let st = state.clone();
        let result = tokio::task::spawn_blocking(move || {
            if !lead(st.store.as_ref(), PRUNE_JOB) {
                return Ok(0);
            }
            let cutoff = st.clock.now_millis().saturating_sub(keep_ms);
            log::prune(st.store.as_ref(), cutoff)
        })
        .await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "live event pruning failed"),
            Err(e) => tracing::warn!(error = %e, "live event pruning task failed"),
        }
    }
}
