//! A store backed by the host: the WASM layer implements [`HostStorage`] over IndexedDB (one
//! transaction per batch), the mobile layers over files or SQLite.

use std::collections::BTreeMap;

use super::{BatchEntry, KvStore, StateError};

/// What a host must provide: load everything once, then commit batches atomically.
///
/// Values handed to the host are already encrypted by [`super::EncryptedStore`]; the host never
/// sees plaintext state. `commit` must apply the whole batch or nothing (an IndexedDB
/// transaction, a SQLite transaction, or write-new-file + rename).
pub trait HostStorage: Send {
    /// Every stored entry.
    fn load_all(&self) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// Applies the batch atomically: `Some` stores, `None` deletes.
    fn commit(&mut self, batch: &[BatchEntry]) -> Result<(), String>;
}

/// Adapts a [`HostStorage`] to [`KvStore`], keeping a read cache of the host's entries.
pub struct HostKv {
    host: Box<dyn HostStorage>,
    cache: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for HostKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKv").finish_non_exhaustive()
    }
}

impl HostKv {
    /// Loads the host's entries.
    pub fn open(host: Box<dyn HostStorage>) -> Result<Self, StateError> {
        let cache = host
            .load_all()
            .map_err(StateError::Host)?
            .into_iter()
            .collect();
        Ok(Self { host, cache })
    }
}

impl KvStore for HostKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.cache.get(key).cloned())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .cache
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        // The cache changes only once the host has accepted the batch.
        self.host.commit(&batch).map_err(StateError::Host)?;
        for (k, v) in batch {
            match v {
                Some(v) => self.cache.insert(k, v),
                None => self.cache.remove(&k),
            };
        }
        Ok(())
    }
}
