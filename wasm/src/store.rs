//! The state store of a JS client: an in-memory map loaded from the host store at open; every
//! committed batch is queued and written to the host store (IndexedDB, memory, or the app's own)
//! before the client call that produced it resolves.
//!
//! Core's [`KvStore`] is synchronous while IndexedDB is not, so the batch queue bridges them:
//! [`QueuedKv::commit`] applies a batch to the map and queues it; the binding drains the queue
//! after each call ([`Pending::drain`]) and awaits the host's `commit`. Values are already
//! encrypted under the storage key by core's `EncryptedStore`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sealroom_core::state::{BatchEntry, KvStore, StateError};

/// Batches committed to the map but not yet handed to the host store.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    batches: Mutex<Vec<Vec<BatchEntry>>>,
}

impl Pending {
    /// Takes every queued batch, merged into one in commit order (later writes of a name win).
    pub(crate) fn drain(&self) -> Vec<BatchEntry> {
        let batches = match self.batches.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            // A poisoned lock means a panic elsewhere; the queued batches are still valid.
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let mut merged: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        for batch in batches {
            merged.extend(batch);
        }
        merged.into_iter().collect()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.lock().map(|b| b.is_empty()).unwrap_or(false)
    }

    fn push(&self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        self.batches
            .lock()
            .map_err(|_| StateError::Host("store queue lock poisoned".into()))?
            .push(batch);
        Ok(())
    }
}

/// In-memory [`KvStore`] whose commits are also queued for the host store.
#[derive(Debug)]
pub(crate) struct QueuedKv {
    map: BTreeMap<String, Vec<u8>>,
    pending: Arc<Pending>,
}

impl QueuedKv {
    /// A store holding `entries` (as loaded from the host store).
    pub(crate) fn new(entries: Vec<(String, Vec<u8>)>, pending: Arc<Pending>) -> Self {
        Self {
            map: entries.into_iter().collect(),
            pending,
        }
    }
}

impl KvStore for QueuedKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.map.get(key).cloned())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .map
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        self.pending.push(batch.clone())?;
        for (k, v) in batch {
            match v {
                Some(v) => self.map.insert(k, v),
                None => self.map.remove(&k),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drained_batches_merge_in_commit_order() {
        let pending = Arc::new(Pending::default());
        let mut kv = QueuedKv::new(vec![("a".into(), vec![1])], pending.clone());
        kv.commit(vec![("b".into(), Some(vec![2])), ("a".into(), None)])
            .unwrap();
        kv.commit(vec![("b".into(), Some(vec![3]))]).unwrap();
        assert_eq!(kv.get("b").unwrap(), Some(vec![3]));
        assert_eq!(kv.get("a").unwrap(), None);
        let drained = pending.drain();
        assert_eq!(
            drained,
            vec![("a".to_owned(), None), ("b".to_owned(), Some(vec![3]))]
        );
        assert!(pending.is_empty());
        assert!(pending.drain().is_empty());
    }
}
