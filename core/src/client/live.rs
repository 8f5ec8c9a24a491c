//! Live events: the relay's long poll (`GET /v1/events`, `docs/relay.md` "Live events") turned
//! into the same typed [`ClientEvent`]s that [`SealroomClient::sync`] returns, without the
//! host polling.
//!
//! The relay answers ids only ("something new in room X"); [`SealroomClient::next_events`]
//! then syncs the rooms it named (every room on `resync`) through the ordinary routes and
//! returns what changed. Core spawns nothing and blocks nothing: the host drives the loop by
//! awaiting `next_events` again and again (or [`SealroomClient::watch`]), and stops it by
//! dropping the future. Waits between reconnects go through [`Transport::sleep`].
//!
//! - The cursor is kept in the client store after the events up to it were synced, so a
//!   restarted client continues where it stopped (events between the poll and a crash are
//!   fetched again: at least once, and sync itself is idempotent).
//! - Transport failures, 429 and 5xx answers are retried with exponential back-off and full
//!   jitter ([`LiveOptions::min_backoff`] doubling up to [`LiveOptions::max_backoff`]); never
//!   a tight loop. Other errors (removed, not registered, corrupt state) are returned.
//! - The relay hides a room's events from a device that is not (or no longer) a member, even
//!   the commit that removed it. A full sync every [`LiveOptions::full_sync_secs`] (and at the
//!   first call) is how a removed device learns of its removal, and how news the relay never
//!   announced (an invitee who registered) is found.
//! - An invitee who registered into a space, or a user added to it on the relay, whose devices
//!   are not in the space's room yet, is reported once to staff as
//!   [`ClientEvent::MemberWaiting`] (derived by comparing the relay's member list with the MLS
//!   tree at each full sync): the device can then call [`SealroomClient::add_member`].

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use serde::Deserialize;

use super::*;

/// Store key of the live-event cursor.
const CURSOR_KEY: &str = "live/cursor";
/// Store key of the `(space, user)` pairs already reported as [`ClientEvent::MemberWaiting`].
const WAITING_KEY: &str = "live/waiting";
/// The longest wait the relay accepts, seconds.
pub const MAX_LIVE_WAIT_SECS: u64 = 30;

/// How [`SealroomClient::next_events`] waits and reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOptions {
    /// Seconds one long poll may wait on the relay (1 to [`MAX_LIVE_WAIT_SECS`]; default 25,
    /// under the 60 s idle timeout of common proxies).
    pub wait_secs: u64,
    /// Seconds between full syncs of every room (default 120; 0: before every poll). Also
    /// the longest a removal or a registered invitee goes unnoticed.
    pub full_sync_secs: u64,
    /// First pause after a failed poll (default 250 ms).
    pub min_backoff: Duration,
    /// Longest pause between reconnects (default 30 s).
    pub max_backoff: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            wait_secs: 25,
            full_sync_secs: 120,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl LiveOptions {
    fn check(&self) -> Result<(), ClientError> {
        if self.wait_secs == 0 || self.wait_secs > MAX_LIVE_WAIT_SECS {
            return Err(ClientError::InvalidInput(format!(
                "wait_secs must be between 1 and {MAX_LIVE_WAIT_SECS}"
            )));
        }
        if self.min_backoff.is_zero() || self.max_backoff < self.min_backoff {
            return Err(ClientError::InvalidInput(
                "min_backoff must be positive and at most max_backoff".into(),
            ));
        }
        Ok(())
    }

    /// The pause before reconnect number `failures` (1, 2, ...): a random duration between
    /// half and all of `min_backoff * 2^(failures-1)`, capped at `max_backoff`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let ceiling = self
            .min_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        let ms = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(2);
        let half = ms / 2;
        Duration::from_millis(half + OsRng.next_u64() % (ms - half + 1))
    }
}

/// The loop's memory that need not survive a restart.
#[derive(Debug, Default)]
pub(super) struct LiveState {
    options: LiveOptions,
    /// When the last full sync ran (the transport's Unix seconds).
    last_full: Option<i64>,
}

/// The answer of `GET /v1/events`.
#[derive(Debug, Deserialize)]
struct EventsPage {
    events: Vec<WireEvent>,
    cursor: u64,
    #[serde(default)]
    resync: bool,
}

/// One event of an [`EventsPage`]: ids only.
#[derive(Debug, Deserialize)]
struct WireEvent {
    room_id: String,
    kind: String,
}

/// Whether a failed poll or sync is worth retrying after a pause: the relay was unreachable,
/// overloaded or failing.
fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Transport(t) => !matches!(
            t,
            TransportError::InsecureUrl(_) | TransportError::Redirect(_)
        ),
        ClientError::Relay { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

impl SealroomClient {
    /// Sets how the live loop waits and reconnects (see [`LiveOptions`]).
    pub fn set_live_options(&self, options: LiveOptions) -> Result<(), ClientError> {
        options.check()?;
        self.live_state()?.options = options;
        Ok(())
    }

    /// Waits until something changed for this device and returns it: the events a sync of the
    /// rooms the relay announced produced (the same events [`SealroomClient::sync`] returns,
    /// plus [`ClientEvent::MemberWaiting`]). Never returns an empty list: it long-polls
    /// again while nothing is new. Transport failures, 429 and 5xx are retried with back-off
    /// and jitter; any other error is returned (call again to go on).
    ///
    /// Drop the future to stop: nothing is lost, the cursor in the store moves only after the
    /// events before it were synced. Do not run two loops on one client at once.
    pub async fn next_events(&self) -> Result<Vec<ClientEvent>, ClientError> {
        let mut failures = 0u32;
        loop {
            match self.live_step().await {
                Ok(events) if !events.is_empty() => return Ok(events),
                Ok(_) => failures = 0,
                Err(e) if transient(&e) => {
                    failures = failures.saturating_add(1);
                    let pause = self.live_state()?.options.backoff(failures);
                    self.api.sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Calls `on_events` with every batch of [`SealroomClient::next_events`] until it answers
    /// [`ControlFlow::Break`] (then `Ok`) or an error that is not transient (then that error).
    /// A convenience for Rust hosts; drop the future to stop at any time.
    pub async fn watch<F>(&self, mut on_events: F) -> Result<(), ClientError>
    where
        F: FnMut(Vec<ClientEvent>) -> ControlFlow<()>,
    {
        loop {
            let events = self.next_events().await?;
            if on_events(events).is_break() {
                return Ok(());
            }
        }
    }

    /// The live-event cursor kept in the store (`None` before the first poll).
    pub fn live_cursor(&self) -> Result<Option<u64>, ClientError> {
        self.with(|r| match r.rooms.app_get(CURSOR_KEY)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        })
    }

    fn save_cursor(&self, cursor: u64) -> Result<(), ClientError> {
        if self.live_cursor()? == Some(cursor) {
            return Ok(());
        }
        let bytes = to_json(&cursor)?;
        self.with(|r| {
            Ok(r.rooms
                .app_commit(vec![(CURSOR_KEY.to_owned(), Some(bytes))])?)
        })
    }

    fn live_state(&self) -> Result<MutexGuard<'_, LiveState>, ClientError> {
        self.live
            .lock()
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))
    }

    async fn poll(&self, after: Option<u64>, wait: u64) -> Result<EventsPage, ClientError> {
        let path = match after {
            Some(after) => format!("/v1/events?after={after}&wait={wait}"),
            None => "/v1/events".to_owned(),
        };
        self.signed_json(Call::get(path)).await
    }

    /// One round: a full sync when due, then one long poll and the sync it calls for. May
    /// return no events (the poll timed out, or what was announced changed nothing visible).
    async fn live_step(&self) -> Result<Vec<ClientEvent>, ClientError> {
        let (options, last_full) = {
            let s = self.live_state()?;
            (s.options, s.last_full)
        };
        let now = self.api.now();
        let due = last_full.is_none_or(|t| now.saturating_sub(t) >= options.full_sync_secs as i64);
        let mut cursor = self.live_cursor()?;
        if cursor.is_none() || due {
            // The cursor first: whatever happens after it is announced by the next poll.
            let start = match cursor {
                Some(c) => c,
                None => self.poll(None, 0).await?.cursor,
            };
            let events = self.full_sync().await?;
            self.save_cursor(start)?;
            cursor = Some(start);
            if !events.is_empty() {
                return Ok(events);
            }
        }
        let page = self.poll(cursor, options.wait_secs).await?;
        let events = if page.resync || page.events.iter().any(|e| e.kind == "resync") {
            self.full_sync().await?
        } else if page.events.is_empty() {
            Vec::new()
        } else {
            let rooms: BTreeSet<String> = page
                .events
                .iter()
                .filter(|e| !e.room_id.is_empty())
                .map(|e| e.room_id.clone())
                .collect();
            self.sync_some(Some(&rooms)).await?
        };
        self.save_cursor(page.cursor)?;
        Ok(events)
    }

    /// Every room, then the members waiting to be added.
    async fn full_sync(&self) -> Result<Vec<ClientEvent>, ClientError> {
        let now = self.api.now();
        let mut events = self.sync_some(None).await?;
        events.extend(self.waiting_members().await?);
        self.live_state()?.last_full = Some(now);
        Ok(events)
    }

    /// Users the relay lists in a space where this user is staff or owner, who have no device
    /// in the space's customer room yet and were not reported before.
    async fn waiting_members(&self) -> Result<Vec<ClientEvent>, ClientError> {
        let account = self.account()?;
        if account.role == Role::Customer {
            return Ok(Vec::new());
        }
        let list: SpaceList = self.signed_json(Call::get("/v1/spaces")).await?;
        let records = self.room_records()?;
        let reported: BTreeSet<(String, String)> =
            self.with(|r| match r.rooms.app_get(WAITING_KEY)? {
                Some(bytes) => from_json(&bytes),
                None => Ok(BTreeSet::new()),
            })?;
        let mut still = BTreeSet::new();
        let mut events = Vec::new();
        for info in list.spaces {
            let me_staff = info.members.iter().any(|m| {
                m.user_id == account.user_id
                    && matches!(m.role, SpaceRole::Staff | SpaceRole::Owner)
            });
            let Some(record) = records
                .iter()
                .find(|r| r.space_id == info.space_id && !r.internal && !r.removed)
            else {
                continue;
            };
            if !me_staff {
                continue;
            }
            let room_id = record.core_id()?;
            let in_tree: BTreeSet<String> = self.with(|r| {
                Ok(r.rooms
                    .members(&room_id)?
                    .into_iter()
                    .map(|(id, _)| id.user_id)
                    .collect())
            })?;
            for member in info.members {
                if member.user_id == account.user_id || in_tree.contains(&member.user_id) {
                    continue;
                }
                let pair = (info.space_id.clone(), member.user_id.clone());
                if !reported.contains(&pair) {
                    events.push(ClientEvent::MemberWaiting {
                        space_id: info.space_id.clone(),
                        user_id: member.user_id.clone(),
                    });
                }
                still.insert(pair);
            }
        }
        if still != reported {
            let bytes = to_json(&still)?;
            self.with(|r| {
                Ok(r.rooms
                    .app_commit(vec![(WAITING_KEY.to_owned(), Some(bytes))])?)
            })?;
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let o = LiveOptions::default();
        for failures in 1..40 {
            let ceiling = o
                .min_backoff
                .saturating_mul(1u32 << (failures - 1).min(20))
                .min(o.max_backoff);
            let d = o.backoff(failures);
            assert!((ceiling / 2..=ceiling).contains(&d), "{failures}: {d:?}");
        }
        assert!(o.backoff(100) <= o.max_backoff);
        assert!(o.backoff(1) >= Duration::from_millis(125));
    }

    #[test]
    fn options_are_checked() {
        let bad = |f: fn(&mut LiveOptions)| {
            let mut o = LiveOptions::default();
            f(&mut o);
            o.check().is_err()
        };
        assert!(LiveOptions::default().check().is_ok());
        assert!(bad(|o| o.wait_secs = 0));
        assert!(bad(|o| o.wait_secs = 31));
        assert!(bad(|o| o.min_backoff = Duration::ZERO));
        assert!(bad(|o| o.max_backoff = Duration::from_millis(1)));
    }

    #[test]
    fn only_unreachable_overloaded_or_failing_relays_are_retried() {
        let relay = |status: u16| ClientError::Relay {
            status,
            code: String::new(),
            message: String::new(),
        };
        assert!(transient(&relay(503)));
        assert!(transient(&relay(500)));
        assert!(transient(&relay(429)));
        assert!(!transient(&relay(403)));
        assert!(!transient(&relay(400)));
        assert!(transient(&ClientError::Transport(TransportError::Timeout)));
        assert!(transient(&ClientError::Transport(TransportError::Connect(
            "refused".into()
        ))));
        assert!(!transient(&ClientError::Transport(
            TransportError::Redirect(302)
        )));
        assert!(!transient(&ClientError::NotRegistered));
    }
}
