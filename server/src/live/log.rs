//! The live-event log in the store, shared by every relay instance on it.
//!
//! Layout (tree: key -> value):
//! - [`LIVE_EVENTS`]: cursor (u64 BE) -> [`StoredEvent`] (JSON). Cursors are dense: each batch
//!   takes the next cursors in one transaction that checks and moves [`HEAD`], so a batch
//!   becomes visible only after every earlier one, on every instance. A reader that has seen
//!   cursor `n` has seen every event up to `n` that was not pruned.
//! - [`LIVE_META`]: [`HEAD`] -> last cursor handed out (u64 BE); [`FLOOR`] -> every cursor up
//!   to this one was pruned (u64 BE).
//!
//! Events carry ids only (room id, kind, message seq or epoch, blob id), never content, and
//! are filtered by the reader's room membership at read time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::rooms::data::{self as rooms, RoomError};
use crate::store::{decode_json, Store, StoreError, Txn, TxnError};

/// Tree: cursor -> [`StoredEvent`].
pub const LIVE_EVENTS: &str = "live_events";
/// Tree: [`HEAD`] and [`FLOOR`].
pub const LIVE_META: &str = "live_meta";
/// Key in [`LIVE_META`]: the last cursor handed out.
pub const HEAD: &[u8] = b"head";
/// Key in [`LIVE_META`]: every cursor up to this one was pruned.
pub const FLOOR: &[u8] = b"floor";
/// Attempts of one append against appends of other instances.
const APPEND_ATTEMPTS: u32 = 200;
/// Events deleted per pruning transaction.
const PRUNE_BATCH: u64 = 512;

/// What happened, as stored and as answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LiveKind {
    /// A room was registered (`room_id`).
    Room,
    /// An application message was stored (`seq`: its seq in the room's message log).
    Message,
    /// A commit changed the room (`seq`: the new epoch).
    Commit,
    /// A file upload completed (`blob_id`).
    File,
    /// A file was deleted (`blob_id`).
    FileDeleted,
    /// The relay may have dropped events (overload): every device should sync in full. Not
    /// tied to a room; every device sees it.
    Resync,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The room ("" for [`LiveKind::Resync`]).
    pub room_id: String,
    /// What happened.
    pub kind: LiveKind,
    /// Message seq or epoch, by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Blob id, for file kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    /// When it was stored, Unix milliseconds (for pruning).
    pub at_ms: i64,
    /// Devices that see the event although they are no longer members of the room: those the
    /// commit removed. Their next sync of the room is refused, which tells them at once that
    /// they were removed, instead of at their next full sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_devices: Vec<String>,
}

/// One event of a [`Page`], as answered to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// The event's cursor.
    pub cursor: u64,
    /// The room ("" for `resync`).
    pub room_id: String,
    /// What happened.
    pub kind: LiveKind,
    /// Message seq (`message`) or epoch (`commit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Blob id (`file`, `file_deleted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
}

/// The answer of `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The events visible to the device, cursors ascending.
    pub events: Vec<LiveEvent>,
    /// The cursor to send as `after` next time.
    pub cursor: u64,
    /// `true`: the `after` cursor is older than what the relay keeps (or is not one of its
    /// cursors): events may have been missed, so sync every room in full, then continue from
    /// `cursor`.
    pub resync: bool,
}

fn read_u64(store: &dyn Store, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    store.get(LIVE_META, key)
}

fn decode_u64(bytes: Option<&[u8]>) -> Result<u64, StoreError> {
    match bytes {
        None => Ok(0),
        Some(b) => <[u8; 8]>::try_from(b)
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Decode {
                tree: LIVE_META.to_owned(),
                message: "not 8 bytes".to_owned(),
            }),
    }
}

/// The last cursor handed out (0: none yet).
pub fn head(store: &dyn Store) -> Result<u64, StoreError> {
    decode_u64(read_u64(store, HEAD)?.as_deref())
}

/// Every cursor up to this one was pruned.
pub fn floor(store: &dyn Store) -> Result<u64, StoreError> {
    decode_u64(read_u64(store, FLOOR)?.as_deref())
}

/// Appends `events` under the next cursors; returns the new head. Retries while other
/// instances append at the same time.
pub fn append(store: &dyn Store, events: &[StoredEvent]) -> Result<u64, StoreError> {
    let count = u64::try_from(events.len()).map_err(|e| StoreError::Backend(e.to_string()))?;
    for attempt in 0..APPEND_ATTEMPTS {
        let old = read_u64(store, HEAD)?;
        let head = decode_u64(old.as_deref())?;
        let new_head = head.saturating_add(count);
        let mut txn = Txn::new();
        txn.check(LIVE_META, HEAD, old.as_deref());
        txn.put(LIVE_META, HEAD, &new_head.to_be_bytes());
        for (cursor, event) in (head + 1..).zip(events) {
            txn.put_json(LIVE_EVENTS, &cursor.to_be_bytes(), event)?;
        }
        match store.commit(&txn) {
            Ok(()) => return Ok(new_head),
            Err(TxnError::Conflict { .. }) => {
                // Another instance appended: spread out a little and try again.
                let jitter = u64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 3);
                std::thread::sleep(std::time::Duration::from_millis(
                    u64::from(attempt.min(10)) + jitter,
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Backend(
        "live event append kept conflicting".to_owned(),
    ))
}

/// The events after `after` that `device_id` may see, at most `limit` cursors scanned.
/// `after` `None`: no events, just the current cursor.
pub fn read(
    store: &dyn Store,
    device_id: &str,
    after: Option<u64>,
    limit: u64,
) -> Result<Page, StoreError> {
    let Some(after) = after else {
        return Ok(Page {
            events: Vec::new(),
            cursor: head(store)?,
            resync: false,
        });
    };
    let start = after.saturating_add(1);
    let end = start.saturating_add(limit);
    let scanned: Vec<(u64, StoredEvent)> = store
        .range(LIVE_EVENTS, &start.to_be_bytes(), Some(&end.to_be_bytes()))?
        .map(|kv| {
            let (k, v) = kv?;
            let cursor = decode_u64(Some(&k))?;
            Ok((cursor, decode_json::<StoredEvent>(LIVE_EVENTS, &v)?))
        })
        .collect::<Result<_, StoreError>>()?;
    // Floor and head are read after the events: pruning moves the floor in the same
    // transaction as it deletes, so a scan that raced with pruning shows up here.
    let head = head(store)?;
    if after < floor(store)? || after > head {
        return Ok(Page {
            events: Vec::new(),
            cursor: head,
            resync: true,
        });
    }
    let mut visible: HashMap<String, bool> = HashMap::new();
    let mut events = Vec::new();
    let mut cursor = after;
    for (c, event) in scanned {
        cursor = c;
        let allowed = if event.kind == LiveKind::Resync
            || event.removed_devices.iter().any(|d| d == device_id)
        {
            true
        } else if let Some(allowed) = visible.get(&event.room_id) {
            *allowed
        } else {
            let allowed = member(store, &event.room_id, device_id)?;
            visible.insert(event.room_id.clone(), allowed);
            allowed
        };
        if allowed {
            events.push(LiveEvent {
                cursor: c,
                room_id: event.room_id,
                kind: event.kind,
                seq: event.seq,
                blob_id: event.blob_id,
            });
        }
    }
    Ok(Page {
        events,
        cursor,
        resync: false,
    })
}

/// Whether `device_id` may use the room now (the same check as every room route).
fn member(store: &dyn Store, room_id: &str, device_id: &str) -> Result<bool, StoreError> {
    match rooms::room_for_member(store, room_id, device_id) {
        Ok(_) => Ok(true),
        Err(RoomError::Store(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// Deletes events stored before `cutoff_ms` (oldest first) and moves the floor; returns how
/// many were deleted.
pub fn prune(store: &dyn Store, cutoff_ms: i64) -> Result<usize, StoreError> {
    let mut deleted = 0;
    loop {
        let old_floor = read_u64(store, FLOOR)?;
        let floor = decode_u64(old_floor.as_deref())?;
        let start = floor.saturating_add(1);
        let end = start.saturating_add(PRUNE_BATCH);
        let mut txn = Txn::new();
        let mut new_floor = floor;
        let mut reached_young = false;
        let mut n: u64 = 0;
        for kv in store.range(LIVE_EVENTS, &start.to_be_bytes(), Some(&end.to_be_bytes()))? {
            let (k, v) = kv?;
            let event: StoredEvent = decode_json(LIVE_EVENTS, &v)?;
            if event.at_ms >= cutoff_ms {
                reached_young = true;
                break;
            }
            txn.delete(LIVE_EVENTS, &k);
            new_floor = decode_u64(Some(&k))?;
            n += 1;
        }
        if n == 0 {
            return Ok(deleted);
        }
        txn.check(LIVE_META, FLOOR, old_floor.as_deref());
        txn.put(LIVE_META, FLOOR, &new_floor.to_be_bytes());
        match store.commit(&txn) {
            Ok(()) => deleted += usize::try_from(n).unwrap_or(usize::MAX),
            // Another pruner moved the floor (two leaders during a hand-over): start again.
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        if reached_young || n < PRUNE_BATCH {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    fn event(room: &str, kind: LiveKind, at_ms: i64) -> StoredEvent {
        StoredEvent {
            room_id: room.to_owned(),
            kind,
            seq: Some(1),
            blob_id: None,
            at_ms,
            removed_devices: Vec::new(),
        }
    }

    #[test]
    fn cursors_are_dense_across_batches() {
        let store = RedbStore::temporary().unwrap();
        assert_eq!(head(&store).unwrap(), 0);
        let a = event("r", LiveKind::Message, 1);
        assert_eq!(append(&store, &[a.clone(), a.clone()]).unwrap(), 2);
        assert_eq!(append(&store, &[a]).unwrap(), 3);
        let keys: Vec<u64> = store
            .scan_prefix(LIVE_EVENTS, &[])
            .unwrap()
            .map(|kv| decode_u64(Some(&kv.unwrap().0)).unwrap())
            .collect();
        assert_eq!(keys, vec![1, 2, 3]);
    }

    #[test]
    fn rooms_the_device_is_not_in_are_skipped_but_passed() {
        let store = RedbStore::temporary().unwrap();
        append(
            &store,
            &[
                event("nosuchroom", LiveKind::Message, 1),
                event("", LiveKind::Resync, 1),
                event("nosuchroom", LiveKind::Commit, 1),
            ],
        )
        .unwrap();
        let page = read(&store, "dev", Some(0), 100).unwrap();
        assert!(!page.resync);
        assert_eq!(page.cursor, 3);
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].kind, LiveKind::Resync);
        assert_eq!(page.events[0].cursor, 2);
        // The page limit bounds the scan, and the cursor stops where the scan stopped.
        let page = read(&store, "dev", Some(0), 1).unwrap();
        assert_eq!((page.cursor, page.events.len()), (1, 0));
        // No `after`: just the current cursor.
        let page = read(&store, "dev", None, 100).unwrap();
        assert_eq!((page.cursor, page.events.len(), page.resync), (3, 0, false));
    }

    #[test]
    fn pruned_and_future_cursors_answer_resync() {
        let store = RedbStore::temporary().unwrap();
        let old: Vec<StoredEvent> = (0..(PRUNE_BATCH + 5))
            .map(|_| event("r", LiveKind::Message, 10))
            .collect();
        append(&store, &old).unwrap();
        append(&store, &[event("r", LiveKind::Message, 1000)]).unwrap();
        let n = u64::try_from(prune(&store, 500).unwrap()).unwrap();
        assert_eq!(n, PRUNE_BATCH + 5);
        assert_eq!(floor(&store).unwrap(), n);
        let page = read(&store, "dev", Some(3), 100).unwrap();
        assert!(page.resync);
        assert_eq!(page.cursor, n + 1);
        let page = read(&store, "dev", Some(n), 100).unwrap();
        assert!(!page.resync);
        assert_eq!(page.cursor, n + 1);
        let page = read(&store, "dev", Some(n + 2), 100).unwrap();
        assert!(
            page.resync,
            "a cursor from the future is not one of this relay's"
        );
        // Nothing more to prune.
        assert_eq!(prune(&store, 500).unwrap(), 0);
    }
}
