//! Storage behind a trait: named trees of byte keys and values, with prefix and range scans,
//! compare-and-swap, and conditional atomic transactions across trees.
//!
//! The transaction model is "checks + writes" ([`Txn`]): a set of expected values (a key holds
//! exactly these bytes, or is absent) and a set of puts and deletes, applied all together or not
//! at all. It is what etcd's `Txn`, FoundationDB and most distributed stores offer, so a
//! deployment that outgrows one machine can implement [`Store`] on one of them. Callers read,
//! decide, then commit with checks on what they read, and retry or answer 409 on
//! [`TxnError::Conflict`]. One commit per room epoch and the audit hash chain are built this way.
//!
//! [`SledStore`] is the embedded default. Every write goes through a shared "write gate" that
//! [`Store::snapshot`] takes exclusively, so a snapshot is a consistent point in time while the
//! relay keeps running.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

/// A storage failure: the relay answers 500 for these, they are never a client's fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The underlying database failed (I/O, corruption, ...).
    #[error("storage backend: {0}")]
    Backend(String),
    /// A stored value could not be decoded.
    #[error("stored value in tree {tree} does not decode: {message}")]
    Decode {
        /// Tree name.
        tree: String,
        /// Decoder message.
        message: String,
    },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// Why a [`Txn`] was not applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// A check failed: the key did not hold the expected value. Nothing was written.
    #[error("conflict on tree {tree}")]
    Conflict {
        /// Tree of the first failed check.
        tree: String,
        /// Key of the first failed check.
        key: Vec<u8>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key-value pair from a scan.
pub type Kv = (Vec<u8>, Vec<u8>);

/// A scan's iterator, in ascending key order.
pub type KvIter = Box<dyn Iterator<Item = Result<Kv, StoreError>> + Send>;

/// One expected value in a [`Txn`].
#[derive(Debug, Clone)]
pub struct Check {
    tree: String,
    key: Vec<u8>,
    expected: Option<Vec<u8>>,
}

/// One write in a [`Txn`].
#[derive(Debug, Clone)]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// Tree name.
        tree: String,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` (no error when absent).
    Delete {
        /// Tree name.
        tree: String,
        /// Key.
        key: Vec<u8>,
    },
}

/// A conditional, atomic multi-tree write: every check holds and every op applies, or nothing.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    checks: Vec<Check>,
    ops: Vec<Op>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `key` in `tree` to hold exactly `expected` (`None`: to be absent).
    pub fn check(&mut self, tree: &str, key: &[u8], expected: Option<&[u8]>) -> &mut Self {
        self.checks.push(Check {
            tree: tree.to_owned(),
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
        });
        self
    }

    /// Sets `key` in `tree` to `value`.
    pub fn put(&mut self, tree: &str, key: &[u8], value: &[u8]) -> &mut Self {
        self.ops.push(Op::Put {
            tree: tree.to_owned(),
            key: key.to_vec(),
            value: value.to_vec(),
        });
        self
    }

    /// Sets `key` in `tree` to the JSON encoding of `value`.
    pub fn put_json<T: Serialize>(
        &mut self,
        tree: &str,
        key: &[u8],
        value: &T,
    ) -> Result<&mut Self, StoreError> {
        let bytes = encode_json(tree, value)?;
        Ok(self.put(tree, key, &bytes))
    }

    /// Removes `key` from `tree`.
    pub fn delete(&mut self, tree: &str, key: &[u8]) -> &mut Self {
        self.ops.push(Op::Delete {
            tree: tree.to_owned(),
            key: key.to_vec(),
        });
        self
    }

    /// The checks, in order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The writes, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn tree_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .checks
            .iter()
            .map(|c| c.tree.clone())
            .chain(self.ops.iter().map(|op| match op {
                Op::Put { tree, .. } | Op::Delete { tree, .. } => tree.clone(),
            }))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Receives `(tree, key, value)` triples from [`Store::snapshot`].
pub type SnapshotSink<'a> = dyn FnMut(&str, &[u8], &[u8]) -> Result<(), StoreError> + 'a;

/// The storage interface of the relay. Trees are created on first use.
pub trait Store: Send + Sync + 'static {
    /// The value of `key` in `tree`.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` in `tree` to `value`.
    fn put(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` from `tree`, returning the old value.
    fn delete(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Atomically replaces the value of `key` if it is `expected` (`None`: absent) with `new`
    /// (`None`: remove). Returns whether the swap happened.
    fn compare_and_swap(
        &self,
        tree: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
    /// All pairs whose key starts with `prefix`, ascending.
    fn scan_prefix(&self, tree: &str, prefix: &[u8]) -> Result<KvIter, StoreError>;
    /// All pairs with `start <= key < end` (`end` `None`: to the end of the tree), ascending.
    fn range(&self, tree: &str, start: &[u8], end: Option<&[u8]>) -> Result<KvIter, StoreError>;
    /// The pair with the greatest key starting with `prefix`.
    fn last_with_prefix(&self, tree: &str, prefix: &[u8]) -> Result<Option<Kv>, StoreError>;
    /// Applies a conditional transaction atomically.
    fn commit(&self, txn: &Txn) -> Result<(), TxnError>;
    /// A store-wide unique, increasing id.
    fn next_id(&self) -> Result<u64, StoreError>;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Writes every `(tree, key, value)` of a consistent point in time to `sink`. Writes wait
    /// while the snapshot runs.
    fn snapshot(&self, sink: &mut SnapshotSink<'_>) -> Result<(), StoreError>;
    /// Names of the trees that exist.
    fn tree_names(&self) -> Result<Vec<String>, StoreError>;
}

/// Typed helpers for every [`Store`].
pub trait StoreExt: Store {
    /// Reads and decodes a JSON value.
    fn get_json<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.get(tree, key)? {
            Some(bytes) => decode_json(tree, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes and writes a JSON value.
    fn put_json<T: Serialize>(&self, tree: &str, key: &[u8], value: &T) -> Result<(), StoreError> {
        let bytes = encode_json(tree, value)?;
        self.put(tree, key, &bytes)
    }

    /// Decodes every JSON value under `prefix`.
    fn scan_json<T: DeserializeOwned>(
        &self,
        tree: &str,
        prefix: &[u8],
    ) -> Result<Vec<T>, StoreError> {
        self.scan_prefix(tree, prefix)?
            .map(|kv| kv.and_then(|(_, v)| decode_json(tree, &v)))
            .collect()
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

/// Decodes a stored JSON value.
pub fn decode_json<T: DeserializeOwned>(tree: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        tree: tree.to_owned(),
        message: e.to_string(),
    })
}

/// Encodes a value as JSON for storage.
pub fn encode_json<T: Serialize>(tree: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Decode {
        tree: tree.to_owned(),
        message: e.to_string(),
    })
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

/// The store as shared by the relay.
pub type SharedStore = Arc<dyn Store>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_ops_scans_and_cas() {
        let s = SledStore::temporary().unwrap();
        assert_eq!(s.get("t", b"a").unwrap(), None);
        s.put("t", b"a1", b"x").unwrap();
        s.put("t", b"a2", b"y").unwrap();
        s.put("t", b"b1", b"z").unwrap();
        let keys: Vec<Vec<u8>> = s
            .scan_prefix("t", b"a")
            .unwrap()
            .map(|kv| kv.unwrap().0)
            .collect();
        assert_eq!(keys, vec![b"a1".to_vec(), b"a2".to_vec()]);
        assert_eq!(s.last_with_prefix("t", b"a").unwrap().unwrap().0, b"a2");
        let range: Vec<Vec<u8>> = s
            .range("t", b"a2", Some(b"b2"))
            .unwrap()
            .map(|kv| kv.unwrap().0)
            .collect();
        assert_eq!(range, vec![b"a2".to_vec(), b"b1".to_vec()]);
        assert!(s.compare_and_swap("t", b"c", None, Some(b"1")).unwrap());
        assert!(!s.compare_and_swap("t", b"c", None, Some(b"2")).unwrap());
        assert!(s
            .compare_and_swap("t", b"c", Some(b"1"), Some(b"2"))
            .unwrap());
        assert_eq!(s.delete("t", b"c").unwrap(), Some(b"2".to_vec()));
        assert!(s.next_id().unwrap() < s.next_id().unwrap());
    }

    #[test]
    fn txn_is_all_or_nothing_across_trees() {
        let s = SledStore::temporary().unwrap();
        let mut ok = Txn::new();
        ok.check("epoch", b"room", None)
            .put("epoch", b"room", b"1")
            .put("log", b"room/1", b"commit");
        s.commit(&ok).unwrap();
        // Same check again: the key now exists, so nothing may be written.
        let mut again = Txn::new();
        again
            .check("epoch", b"room", None)
            .put("epoch", b"room", b"9")
            .put("log", b"room/9", b"other");
        assert!(matches!(s.commit(&again), Err(TxnError::Conflict { .. })));
        assert_eq!(s.get("epoch", b"room").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get("log", b"room/9").unwrap(), None);
        let mut next = Txn::new();
        next.check("epoch", b"room", Some(b"1"))
            .put("epoch", b"room", b"2")
            .delete("log", b"room/1");
        s.commit(&next).unwrap();
        assert_eq!(s.get("log", b"room/1").unwrap(), None);
    }

    #[test]
    fn concurrent_txns_on_one_key_exactly_one_wins() {
        let s = Arc::new(SledStore::temporary().unwrap());
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let mut t = Txn::new();
                    t.check("epoch", b"r", None).put("epoch", b"r", &[i]);
                    s.commit(&t).is_ok()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1);
    }

    #[test]
    fn snapshot_lists_every_tree() {
        let s = SledStore::temporary().unwrap();
        s.put("a", b"k", b"v").unwrap();
        s.put_json("b", b"k", &vec![1, 2]).unwrap();
        let mut seen = Vec::new();
        s.snapshot(&mut |t, k, v| {
            seen.push((t.to_owned(), k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(s.get_json::<Vec<u32>>("b", b"k").unwrap(), Some(vec![1, 2]));
        assert_eq!(
            s.tree_names().unwrap(),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }
}
