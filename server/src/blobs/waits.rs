//! Appends that arrive ahead of their blob's stored offset. A client may keep two appends of
//! one upload in flight: the second names the offset the first one ends at and reaches the
//! relay while the first is still on its way or being stored. Instead of refusing it at once
//! (409, which would make every client wait for each append's answer before sending the
//! next), the relay holds it briefly until the stored offset reaches its own, then appends it
//! as usual. Bounded on every side:
//! - only an append at most `limits.max_chunk` bytes ahead of the stored offset waits (one
//!   append ahead); one further away is refused at once (409 with the stored offset);
//! - at most [`WAITING_PER_BLOB`] appends wait per blob and instance; another one is refused at
//!   once;
//! - a waiting append keeps the permit it holds ([`crate::http::append_permits`]): its body
//!   stays counted in the instance's bound on appends in flight and in its sender's slots;
//! - it waits at most [`OFFSET_WAIT`]; if the offset never arrives (the append before it was
//!   lost), it is refused as before (409 with the stored offset) and nothing changed.
//!
//! A waiting append is woken when an append of the same blob on this instance ends, and
//! otherwise re-checks the store every [`WAIT_POLL`]: with several relay instances (PostgreSQL
//! and S3) the append before it may be stored by another instance. It is then appended by the
//! same checked path as every other append (the stored offset compared under the blob's lock
//! and in the transaction), so an append that waited can never be stored twice nor at another
//! offset than the one its signature covers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How long an append ahead of the stored offset waits for it.
pub const OFFSET_WAIT: Duration = Duration::from_secs(5);

/// How often a waiting append re-checks the store without being woken (another instance may
/// have stored the append before it).
pub const WAIT_POLL: Duration = Duration::from_millis(100);

/// Appends that may wait at once per blob (and instance).
pub const WAITING_PER_BLOB: usize = 1;

/// The appends waiting per blob on this instance (an entry only while one waits).
#[derive(Debug, Default)]
pub struct OffsetWaits(Mutex<HashMap<String, Entry>>);

#[derive(Debug)]
struct Entry {
    /// Bumped whenever an append of the blob ended on this instance.
    moved: watch::Sender<u64>,
    waiting: usize,
}

impl OffsetWaits {
    /// A place among the appends waiting for `blob_id`; `None` when [`WAITING_PER_BLOB`]
    /// already wait. Changes after this call wake the returned waiter.
    pub fn enter(self: &Arc<Self>, blob_id: &str) -> Option<Waiter> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(blob_id.to_owned()).or_insert_with(|| Entry {
            moved: watch::channel(0).0,
            waiting: 0,
        });
        if entry.waiting >= WAITING_PER_BLOB {
            return None;
        }
        entry.waiting += 1;
        Some(Waiter {
            waits: Arc::clone(self),
            blob_id: blob_id.to_owned(),
            moved: entry.moved.subscribe(),
        })
    }

    /// An append of `blob_id` ended on this instance (stored or not): the appends waiting for
    /// it look at the store again.
    pub fn moved(&self, blob_id: &str) {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get(blob_id) {
            entry.moved.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One waiting append's place ([`OffsetWaits::enter`]), given back on drop.
#[derive(Debug)]
pub struct Waiter {
    waits: Arc<OffsetWaits>,
    blob_id: String,
    moved: watch::Receiver<u64>,
}

impl Waiter {
    /// Waits until an append of the blob ended on this instance, or [`WAIT_POLL`], but not
    /// past `until`. `false` once `until` has passed: stop waiting.
    pub async fn next(&mut self, until: Instant) -> bool {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let poll = WAIT_POLL.min(until - now);
        // A closed channel cannot happen while this waiter holds the entry; either way the
        // store is looked at again.
        let _ = tokio::time::timeout(poll, self.moved.changed()).await;
        true
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.waits.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&self.blob_id) {
            entry.waiting = entry.waiting.saturating_sub(1);
            if entry.waiting == 0 {
                map.remove(&self.blob_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_waiter_per_blob_woken_by_an_append_and_gone_on_drop() {
        let waits = Arc::new(OffsetWaits::default());
        let mut first = waits.enter("b1").unwrap();
        assert!(waits.enter("b1").is_none(), "a second waiter is refused");
        let other = waits.enter("b2").unwrap();
        // An append of b1 ends: the waiter looks again.
        waits.moved("b1");
        let until = Instant::now() + Duration::from_secs(3600);
        tokio::time::timeout(Duration::from_secs(60), async {
            assert!(first.next(until).await);
        })
        .await
        .unwrap();
        // Past its deadline it stops.
        assert!(!first.next(Instant::now()).await);
        drop(first);
        assert!(waits.enter("b1").is_some());
        drop(other);
        assert_eq!(waits.len(), 0);
        // Nobody waits: nothing is kept.
        waits.moved("b3");
        assert_eq!(waits.len(), 0);
    }
}
