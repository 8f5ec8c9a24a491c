//! The embedded sled implementation of [`Store`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{Kv, KvIter, Op, SnapshotSink, Store, StoreError, Txn, TxnError};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// The embedded sled implementation of [`Store`].
pub struct SledStore {
    db: sled::Db,
    trees: RwLock<HashMap<String, sled::Tree>>,
    /// Writers hold it shared, snapshots exclusively.
    gate: RwLock<()>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

/// Tree names starting with this prefix are sled internals and never exported.
const SLED_DEFAULT_TREE: &[u8] = b"__sled__default";

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        Ok(Self::from_db(db))
    }

    /// Opens (or creates) the database in `dir` with a page cache of `cache_bytes` bytes
    /// (sled's default, used by [`SledStore::open`], is 1 GiB).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()?;
        Ok(Self::from_db(db))
    }

    /// A throw-away in-memory database (tests).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Ok(Self::from_db(db))
    }

    fn from_db(db: sled::Db) -> Self {
        Self {
            db,
            trees: RwLock::new(HashMap::new()),
            gate: RwLock::new(()),
        }
    }

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        {
            let trees = self.trees.read().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = trees.get(name) {
                return Ok(t.clone());
            }
        }
        let tree = self.db.open_tree(name)?;
        let mut trees = self.trees.write().unwrap_or_else(|p| p.into_inner());
        trees.insert(name.to_owned(), tree.clone());
        Ok(tree)
    }

    fn write_gate(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn boxed(iter: sled::Iter) -> KvIter {
    Box::new(iter.map(|r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(StoreError::from)
    }))
}

impl Store for SledStore {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree)?.get(key)?.map(|v| v.to_vec()))
    }

    fn put(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let t = self.tree(tree)?;
        let _gate = self.write_gate();
        t.insert(key, value)?;
        Ok(())
    }

    fn delete(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.tree(tree)?;
        let _gate = self.write_gate();
        Ok(t.remove(key)?.map(|v| v.to_vec()))
    }

    fn compare_and_swap(
        &self,
        tree: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let t = self.tree(tree)?;
        let _gate = self.write_gate();
        Ok(t.compare_and_swap(key, expected, new)?.is_ok())
    }

    fn scan_prefix(&self, tree: &str, prefix: &[u8]) -> Result<KvIter, StoreError> {
        Ok(boxed(self.tree(tree)?.scan_prefix(prefix)))
    }

    fn range(&self, tree: &str, start: &[u8], end: Option<&[u8]>) -> Result<KvIter, StoreError> {
        let t = self.tree(tree)?;
        let iter = match end {
            Some(end) => t.range(start.to_vec()..end.to_vec()),
            None => t.range(start.to_vec()..),
        };
        Ok(boxed(iter))
    }

    fn last_with_prefix(&self, tree: &str, prefix: &[u8]) -> Result<Option<Kv>, StoreError> {
        match self.tree(tree)?.scan_prefix(prefix).next_back() {
            Some(r) => {
                let (k, v) = r?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    fn commit(&self, txn: &Txn) -> Result<(), TxnError> {
        if txn.has_derived() {
            return super::derive::optimistic(self, txn);
        }
        let names = txn.tree_names();
        if names.is_empty() {
            return Ok(());
        }
        let trees = names
            .iter()
            .map(|n| self.tree(n))
            .collect::<Result<Vec<_>, _>>()?;
        let index = |name: &str| {
            names
                .binary_search_by(|n| n.as_str().cmp(name))
                .unwrap_or(0)
        };
        let _gate = self.write_gate();
        let result = trees
            .as_slice()
            .transaction(|txs: &Vec<TransactionalTree>| {
                for check in &txn.checks {
                    let Some(t) = txs.get(index(&check.tree)) else {
                        continue;
                    };
                    let current = t.get(&check.key)?;
                    if current.as_deref() != check.expected.as_deref() {
                        return Err(ConflictableTransactionError::Abort((
                            check.tree.clone(),
                            check.key.clone(),
                        )));
                    }
                }
                for op in &txn.ops {
                    match op {
                        Op::Put { tree, key, value } => {
                            if let Some(t) = txs.get(index(tree)) {
                                t.insert(key.as_slice(), value.as_slice())?;
                            }
                        }
                        Op::Delete { tree, key } => {
                            if let Some(t) = txs.get(index(tree)) {
                                t.remove(key.as_slice())?;
                            }
                        }
                    }
                }
                Ok(())
            });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort((tree, key))) => Err(TxnError::Conflict { tree, key }),
            Err(TransactionError::Storage(e)) => Err(TxnError::Store(e.into())),
        }
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn snapshot(&self, sink: &mut SnapshotSink<'_>) -> Result<(), StoreError> {
        // Exclusive: no write through this store runs while the snapshot is taken.
        let _exclusive = self.gate.write().unwrap_or_else(|p| p.into_inner());
        for name in self.tree_names()? {
            let tree = self.tree(&name)?;
            for kv in tree.iter() {
                let (k, v) = kv?;
                sink(&name, &k, &v)?;
            }
        }
        Ok(())
    }

    fn tree_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for raw in self.db.tree_names() {
            if raw.as_ref() == SLED_DEFAULT_TREE {
                continue;
            }
            match std::str::from_utf8(&raw) {
                Ok(name) => names.push(name.to_owned()),
                Err(_) => {
                    return Err(StoreError::Backend("non-UTF-8 tree name".to_owned()));
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::SledStore;

    #[test]
    fn conformance_suite() {
        conformance::run_all(|| SledStore::temporary().unwrap());
    }
}
