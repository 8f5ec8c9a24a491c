//! Coordination of relay instances that share one PostgreSQL database (the scale-out
//! deployment), for [`super::PgStore`]:
//!
//! - **Leadership of singleton jobs**: a session-level `pg_try_advisory_lock` per job, taken on
//!   one dedicated connection per instance and held for as long as that connection lives. The
//!   instance that holds it runs the job; the others skip it. When the leader dies (even by
//!   SIGKILL) its connection closes, PostgreSQL releases the lock, and the next instance to try
//!   takes it over. A connection that fails is replaced, and every lock is tried again.
//! - **Wake-ups**: `NOTIFY sealroom_live, '<schema>:<cursor>'` after live events are stored,
//!   and one dedicated `LISTEN` connection per instance that forwards the cursors to a watch
//!   channel. It reconnects with back-off when it fails; notifications sent meanwhile are lost,
//!   which the live module's periodic re-check of the store covers.
//!
//! Lock keys and payloads carry the store's schema name, so independent relays sharing one
//! database (one schema each) neither block nor wake each other.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{watch, Mutex};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use super::StoreError;

/// The NOTIFY channel of live-event announcements.
pub(super) const LIVE_CHANNEL: &str = "sealroom_live";
/// How long a liveness probe of the leader connection may take before it counts as dead.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between reconnection attempts of the LISTEN connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The advisory lock key of `job` for the relay whose tables live in `schema` (64-bit FNV-1a).
pub(super) fn lock_key(schema: &str, job: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = b"sealroom-lead\0"
        .iter()
        .chain(schema.as_bytes())
        .chain(b"\0")
        .chain(job.as_bytes());
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_be_bytes(h.to_be_bytes())
}

/// The dedicated connection holding this instance's advisory locks, and the keys it holds.
#[derive(Default)]
pub(super) struct Leader {
    conn: Option<(Client, HashSet<i64>)>,
}

/// The [`Leader`] shared by the store's calls.
pub(super) type SharedLeader = Arc<Mutex<Leader>>;

/// Whether this instance holds (or now takes) the advisory lock `key`.
pub(super) async fn try_lead(
    leader: SharedLeader,
    config: Config,
    key: i64,
) -> Result<bool, StoreError> {
    let mut guard = leader.lock().await;
    // A lock held on a connection that died is gone: probe before answering from memory.
    let alive = match guard.conn.as_ref() {
        Some((client, _)) if !client.is_closed() => matches!(
            tokio::time::timeout(PROBE_TIMEOUT, client.simple_query("SELECT 1")).await,
            Ok(Ok(_))
        ),
        _ => false,
    };
    if !alive {
        guard.conn = None;
        let (client, connection) = config.connect(NoTls).await.map_err(backend)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "leader connection to PostgreSQL ended");
            }
        });
        guard.conn = Some((client, HashSet::new()));
    }
    let Some((client, held)) = guard.conn.as_mut() else {
        return Err(backend("leader connection missing"));
    };
    if held.contains(&key) {
        return Ok(true);
    }
    let row = match client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await
    {
        Ok(row) => row,
        Err(e) => {
            guard.conn = None;
            return Err(backend(e));
        }
    };
    let won: bool = row.get(0);
    if won {
        held.insert(key);
    }
    Ok(won)
}

/// The payload announcing `cursor` for the relay in `schema`.
pub(super) fn payload(schema: &str, cursor: u64) -> String {
    format!("{schema}:{cursor}")
}

/// The cursor in `payload` if it was sent by a relay in `schema`.
fn parse_payload(schema: &str, payload: &str) -> Option<u64> {
    let (s, cursor) = payload.rsplit_once(':')?;
    if s != schema {
        return None;
    }
    cursor.parse().ok()
}

/// Starts the LISTEN task on the current runtime; it runs until every receiver is dropped
/// (checked after each connection ends) or the runtime shuts down.
pub(super) fn spawn_listener(config: Config, schema: String) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen(&config, &schema, &tx).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => tracing::warn!(error = %e, "LISTEN connection to PostgreSQL failed"),
            }
            if tx.is_closed() {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    });
    rx
}

/// One LISTEN connection, until it ends.
async fn listen(
    config: &Config,
    schema: &str,
    tx: &watch::Sender<u64>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if ntx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client
        .batch_execute(&format!("LISTEN {LIVE_CHANNEL}"))
        .await?;
    // Announcements sent while this instance was not listening are lost: nudge the waiters
    // so that they re-read the store now instead of at the next re-check.
    tx.send_modify(|_| {});
    while let Some(payload) = nrx.recv().await {
        if let Some(cursor) = parse_payload(schema, &payload) {
            tx.send_if_modified(|seen| {
                let newer = cursor > *seen;
                if newer {
                    *seen = cursor;
                }
                newer
            });
        }
        if tx.is_closed() {
            break;
        }
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{lock_key, parse_payload, payload};

    #[test]
    fn lock_keys_differ_per_job_and_schema() {
        assert_ne!(lock_key("", "digest"), lock_key("", "retention"));
        assert_ne!(lock_key("a", "digest"), lock_key("b", "digest"));
        assert_eq!(lock_key("a", "digest"), lock_key("a", "digest"));
    }

    #[test]
    fn payloads_of_other_relays_are_ignored() {
        assert_eq!(parse_payload("r1", &payload("r1", 42)), Some(42));
        assert_eq!(parse_payload("r1", &payload("r2", 42)), None);
        assert_eq!(parse_payload("", &payload("", 7)), Some(7));
        assert_eq!(parse_payload("", "garbage"), None);
    }
}
