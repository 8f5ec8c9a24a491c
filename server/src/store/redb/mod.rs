//! The embedded redb implementation of [`Store`]: one file, one redb table per tree.
//!
//! Writes go through one writer thread ([`writer`]) that commits the writes waiting at that
//! moment in one redb write transaction with [`redb::Durability::Immediate`] (redb's default:
//! the commit returns once synced), and answers them only then: a write is on disk when its
//! call returns (group commit), so [`Store::flush`] has nothing left to do. Jobs of a batch
//! run one after another in the transaction, which makes checks, writes and [`Derive`]s of a
//! [`Txn`] atomic and serialisable without retries. Reads use read transactions, which are
//! MVCC snapshots of committed (synced) data: [`Store::snapshot`] is one consistent point in
//! time and writers carry on while it runs.
//!
//! [`Derive`]: super::Derive

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    TableHandle, WriteTransaction,
};

use super::derive::{run_derives, Overlay};
use super::{Kv, KvIter, Op, SnapshotSink, Store, StoreError, Txn, TxnError};

mod writer;
use writer::Writer;

/// Tables whose names start with this prefix belong to the store itself and are never listed,
/// scanned by [`Store::snapshot`] or written through the [`Store`] interface.
pub const RESERVED_PREFIX: &str = "__sealroom";
/// The store's own table: the id generator's reserved bound and migration records.
const META: &str = "__sealroom_meta";
/// Key in [`META`]: every id below this value may have been handed out (u64, big-endian).
const NEXT_ID_BOUND: &[u8] = b"next_id_bound";
/// Ids reserved per durable write of [`NEXT_ID_BOUND`].
const ID_BLOCK: u64 = 1024;

fn table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn reserved(tree: &str) -> Result<(), StoreError> {
    if tree.starts_with(RESERVED_PREFIX) || tree.is_empty() {
        Err(StoreError::Backend(format!(
            "tree name {tree:?} is reserved"
        )))
    } else {
        Ok(())
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The embedded redb implementation of [`Store`].
pub struct RedbStore {
    db: Arc<Database>,
    /// Owns every write transaction (group commit).
    writer: Writer,
    /// Next id to hand out.
    next: AtomicU64,
    /// Ids below this bound are reserved durably; guarded so only one thread extends it.
    bound: Mutex<u64>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

/// Why [`RedbStore::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process (a running relay) has the file open.
    #[error("the store {0} is open in another process (is a relay running on it?)")]
    Locked(std::path::PathBuf),
    /// The file could not be opened or is not a store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OpenError> for StoreError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Store(s) => s,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

impl RedbStore {
    /// Opens (or creates) the store file `path` with a page cache of `cache_bytes` bytes.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self, OpenError> {
        let cache = usize::try_from(cache_bytes).unwrap_or(usize::MAX);
        let db = Database::builder()
            .set_cache_size(cache)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => OpenError::Locked(path.to_owned()),
                other => OpenError::Store(backend(other)),
            })?;
        Ok(Self::from_db(db)?)
    }

    /// A throw-away in-memory store (tests).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        Self::from_db(db)
    }

    fn from_db(db: Database) -> Result<Self, StoreError> {
        let bound = {
            let rtx = db.begin_read().map_err(backend)?;
            read_u64(&rtx, META, NEXT_ID_BOUND)?.unwrap_or(1)
        };
        let db = Arc::new(db);
        Ok(Self {
            writer: Writer::start(Arc::clone(&db))?,
            db,
            next: AtomicU64::new(bound),
            bound: Mutex::new(bound),
        })
    }

    /// Runs `f` in the next group commit (see [`writer`]); returns once it is durable.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.run(f)
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(backend)
    }

    /// Moves the id generator so that every later [`Store::next_id`] is at least `floor`
    /// (restore and migration carry ids over from another store).
    pub fn advance_next_id(&self, floor: u64) -> Result<(), StoreError> {
        let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        if floor > *bound {
            self.persist_bound(floor)?;
            *bound = floor;
        }
        self.next.fetch_max(floor, Ordering::SeqCst);
        Ok(())
    }

    fn persist_bound(&self, bound: u64) -> Result<(), StoreError> {
        self.write(move |wtx| insert(wtx, META, NEXT_ID_BOUND, bound.to_be_bytes().as_slice()))
    }

    /// A value of the store's own metadata table (see [`RESERVED_PREFIX`]).
    pub fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rtx = self.read()?;
        read_value(&rtx, META, key)
    }

    /// Sets a value of the store's own metadata table, durably.
    pub fn set_meta(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if key == NEXT_ID_BOUND {
            return Err(StoreError::Backend("reserved metadata key".to_owned()));
        }
        let (key, value) = (key.to_vec(), value.to_vec());
        self.write(move |wtx| insert(wtx, META, &key, &value))
    }

    /// Writes many pairs into `tree` in one durable transaction (bulk loads: restore, migrate).
    pub fn put_many(&self, tree: &str, pairs: &[Kv]) -> Result<(), StoreError> {
        reserved(tree)?;
        let (tree, pairs) = (tree.to_owned(), pairs.to_vec());
        self.write(move |wtx| {
            let mut t = wtx.open_table(table(&tree)).map_err(backend)?;
            for (k, v) in &pairs {
                t.insert(k.as_slice(), v.as_slice()).map_err(backend)?;
            }
            Ok(())
        })
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // The writer thread holds the database: stop it so that the file is closed when the
        // store is dropped (a reopen in the same process must not find it locked).
        self.writer.stop();
    }
}

/// Sets `key` in `tree` inside `wtx`.
fn insert(wtx: &WriteTransaction, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let mut t = wtx.open_table(table(tree)).map_err(backend)?;
    t.insert(key, value).map_err(backend)?;
    Ok(())
}

/// The value of `key` in `tree` inside `wtx` (sees the transaction's own writes).
fn get_in(wtx: &WriteTransaction, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let t = wtx.open_table(table(tree)).map_err(backend)?;
    let v = t.get(key).map_err(backend)?.map(|g| g.value().to_vec());
    Ok(v)
}

/// Applies `ops` inside `wtx`.
fn apply(wtx: &WriteTransaction, ops: &[Op]) -> Result<(), StoreError> {
    for op in ops {
        match op {
            Op::Put { tree, key, value } => insert(wtx, tree, key, value)?,
            Op::Delete { tree, key } => {
                let mut t = wtx.open_table(table(tree)).map_err(backend)?;
                t.remove(key.as_slice()).map_err(backend)?;
            }
        }
    }
    Ok(())
}

/// Runs `txn` inside `wtx`: its checks, then (all passing) its derives, then every write.
/// Nothing is written when a check fails or a derive refuses (the outer `Ok(Err(_))`); a
/// storage error (the outer `Err`) may leave part of it written, and the writer then aborts.
fn run_txn(wtx: &WriteTransaction, txn: &Txn) -> Result<Result<(), TxnError>, StoreError> {
    for check in &txn.checks {
        if get_in(wtx, &check.tree, &check.key)?.as_deref() != check.expected.as_deref() {
            return Ok(Err(TxnError::Conflict {
                tree: check.tree.clone(),
                key: check.key.clone(),
            }));
        }
    }
    if !txn.has_derived() {
        apply(wtx, &txn.ops)?;
        return Ok(Ok(()));
    }
    let mut base = |tree: &str, key: &[u8]| get_in(wtx, tree, key);
    let mut overlay = Overlay::new(&mut base, &txn.ops);
    let ops = match run_derives(txn, &mut overlay) {
        Ok(ops) => ops,
        Err(TxnError::Store(e)) => return Err(e),
        Err(other) => return Ok(Err(other)),
    };
    for op in &ops {
        let (Op::Put { tree, .. } | Op::Delete { tree, .. }) = op;
        if let Err(e) = reserved(tree) {
            return Ok(Err(e.into()));
        }
    }
    apply(wtx, &ops)?;
    Ok(Ok(()))
}

fn read_value(
    rtx: &ReadTransaction,
    tree: &str,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let t = match rtx.open_table(table(tree)) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(backend(e)),
    };
    let value = t.get(key).map_err(backend)?.map(|g| g.value().to_vec());
    Ok(value)
}

fn read_u64(rtx: &ReadTransaction, tree: &str, key: &[u8]) -> Result<Option<u64>, StoreError> {
    match read_value(rtx, tree, key)? {
        None => Ok(None),
        Some(v) => {
            let bytes: [u8; 8] = v
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Backend("malformed id bound".to_owned()))?;
            Ok(Some(u64::from_be_bytes(bytes)))
        }
    }
}

/// A lazy scan over `[start, end)` of `tree` in its own read transaction.
fn scan(
    rtx: &ReadTransaction,
    tree: &str,
    start: &[u8],
    end: Option<&[u8]>,
) -> Result<KvIter, StoreError> {
    let t = match rtx.open_table(table(tree)) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Box::new(std::iter::empty())),
        Err(e) => return Err(backend(e)),
    };
    let range = match end {
        Some(end) if end <= start => return Ok(Box::new(std::iter::empty())),
        Some(end) => t.range_owned(start..end),
        None => t.range_owned(start..),
    }
    .map_err(backend)?;
    Ok(Box::new(range.map(|r| {
        r.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
            .map_err(backend)
    })))
}

impl Store for RedbStore {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        reserved(tree)?;
        read_value(&self.read()?, tree, key)
    }

    fn put(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        reserved(tree)?;
        let (tree, key, value) = (tree.to_owned(), key.to_vec(), value.to_vec());
        self.write(move |wtx| insert(wtx, &tree, &key, &value))
    }

    fn delete(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        reserved(tree)?;
        if self.get(tree, key)?.is_none() {
            return Ok(None);
        }
        let (tree, key) = (tree.to_owned(), key.to_vec());
        self.write(move |wtx| {
            let mut t = wtx.open_table(table(&tree)).map_err(backend)?;
            let old = t
                .remove(key.as_slice())
                .map_err(backend)?
                .map(|g| g.value().to_vec());
            Ok(old)
        })
    }

    fn compare_and_swap(
        &self,
        tree: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        reserved(tree)?;
        let (tree, key) = (tree.to_owned(), key.to_vec());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        self.write(move |wtx| {
            let mut t = wtx.open_table(table(&tree)).map_err(backend)?;
            let current = t
                .get(key.as_slice())
                .map_err(backend)?
                .map(|g| g.value().to_vec());
            if current != expected {
                return Ok(false);
            }
            match &new {
                Some(v) => {
                    t.insert(key.as_slice(), v.as_slice()).map_err(backend)?;
                }
                None => {
                    t.remove(key.as_slice()).map_err(backend)?;
                }
            }
            Ok(true)
        })
    }

    fn scan_prefix(&self, tree: &str, prefix: &[u8]) -> Result<KvIter, StoreError> {
        reserved(tree)?;
        let end = prefix_end(prefix);
        scan(&self.read()?, tree, prefix, end.as_deref())
    }

    fn range(&self, tree: &str, start: &[u8], end: Option<&[u8]>) -> Result<KvIter, StoreError> {
        reserved(tree)?;
        scan(&self.read()?, tree, start, end)
    }

    fn last_with_prefix(&self, tree: &str, prefix: &[u8]) -> Result<Option<Kv>, StoreError> {
        reserved(tree)?;
        let rtx = self.read()?;
        let t = match rtx.open_table(table(tree)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let end = prefix_end(prefix);
        let mut range = match &end {
            Some(end) => t.range(prefix..end.as_slice()),
            None => t.range(prefix..),
        }
        .map_err(backend)?;
        let last = match range.next_back() {
            Some(r) => {
                let (k, v) = r.map_err(backend)?;
                Some((k.value().to_vec(), v.value().to_vec()))
            }
            None => None,
        };
        Ok(last)
    }

    fn commit(&self, txn: &Txn) -> Result<(), TxnError> {
        for name in txn.tree_names() {
            reserved(&name)?;
        }
        if txn.is_empty() {
            return Ok(());
        }
        let txn = txn.clone();
        self.write(move |wtx| run_txn(wtx, &txn))?
    }

    fn commit_lazy(&self, txn: &Txn) -> Result<(), TxnError> {
        for name in txn.tree_names() {
            reserved(&name)?;
        }
        if txn.is_empty() {
            return Ok(());
        }
        let txn = txn.clone();
        self.writer.run_lazy(move |wtx| run_txn(wtx, &txn))?
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        loop {
            let id = self.next.fetch_add(1, Ordering::SeqCst);
            let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
            if id < *bound {
                return Ok(id);
            }
            // Reserve the next block durably before handing out any id of it, so ids stay
            // increasing across a crash and a restart.
            let new_bound = id.saturating_add(ID_BLOCK);
            self.persist_bound(new_bound)?;
            *bound = new_bound;
            if id < *bound {
                return Ok(id);
            }
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every commit above is durable when it returns.
        Ok(())
    }

    fn queues_commits(&self) -> bool {
        true
    }

    fn commit_queued(&self, txn: Txn, done: Box<dyn FnOnce(Result<(), TxnError>) + Send>) {
        for name in txn.tree_names() {
            if let Err(e) = reserved(&name) {
                return done(Err(e.into()));
            }
        }
        if txn.is_empty() {
            return done(Ok(()));
        }
        // When the queue is gone (the store is closing), the job and `done` with it are
        // dropped: the waiting caller sees its channel closed.
        let _ = self.writer.submit_with(
            move |wtx| run_txn(wtx, &txn),
            move |r: Result<Result<(), TxnError>, StoreError>| {
                done(r.unwrap_or_else(|e| Err(e.into())))
            },
        );
    }

    fn writes_in_order(&self) -> bool {
        // One writer thread takes jobs first come, first served, and commits them in batches
        // in that order.
        true
    }

    fn put_unacknowledged(
        &self,
        tree: &str,
        key: &[u8],
        value: &[u8],
        done: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    ) -> Result<(), StoreError> {
        reserved(tree)?;
        let (tree, key, value) = (tree.to_owned(), key.to_vec(), value.to_vec());
        self.writer
            .submit(move |wtx| insert(wtx, &tree, &key, &value), done)
    }

    fn snapshot(&self, sink: &mut SnapshotSink<'_>) -> Result<(), StoreError> {
        // One read transaction: an MVCC snapshot, writers are not held up.
        let rtx = self.read()?;
        for name in tree_names_in(&rtx)? {
            let t = rtx.open_table(table(&name)).map_err(backend)?;
            for kv in t.range(..).map_err(backend)? {
                let (k, v) = kv.map_err(backend)?;
                sink(&name, k.value(), v.value())?;
            }
        }
        Ok(())
    }

    fn tree_names(&self) -> Result<Vec<String>, StoreError> {
        tree_names_in(&self.read()?)
    }
}

fn tree_names_in(rtx: &ReadTransaction) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = rtx
        .list_tables()
        .map_err(backend)?
        .map(|h| h.name().to_owned())
        .filter(|n| !n.starts_with(RESERVED_PREFIX))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::RedbStore;

    #[test]
    fn conformance_suite() {
        conformance::run_all(|| RedbStore::temporary().unwrap());
    }

    #[test]
    fn reopened_store_keeps_data_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        conformance::survives_reopen(|| RedbStore::open(&path, 1 << 20).unwrap());
    }

    #[test]
    fn writers_run_while_a_snapshot_is_read() {
        use crate::store::Store;
        let s = std::sync::Arc::new(RedbStore::temporary().unwrap());
        s.put("t", b"before", b"1").unwrap();
        let mut seen = Vec::new();
        s.snapshot(&mut |_, k, _| {
            // A write from another thread completes while the snapshot is open (with a gate
            // this would never return) and is not seen by it.
            let writer = std::sync::Arc::clone(&s);
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(writer.put("t", b"during", b"2").is_ok());
            });
            assert_eq!(
                rx.recv_timeout(std::time::Duration::from_secs(60)),
                Ok(true),
                "the write waited for the snapshot"
            );
            seen.push(k.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![b"before".to_vec()]);
        assert_eq!(s.get("t", b"during").unwrap(), Some(b"2".to_vec()));
    }

    struct Panics;

    impl crate::store::Derive for Panics {
        fn derive(
            &self,
            _: &mut dyn crate::store::TxnReader,
        ) -> Result<Vec<crate::store::Op>, crate::store::DeriveError> {
            panic!("a derive that panics (test)")
        }
    }

    #[test]
    fn a_failing_write_fails_alone_and_the_writer_carries_on() {
        use crate::store::{Store, Txn};
        let s = std::sync::Arc::new(RedbStore::temporary().unwrap());
        let handles: Vec<_> = (0..16u8)
            .map(|i| {
                let s = std::sync::Arc::clone(&s);
                std::thread::spawn(move || {
                    let mut t = Txn::new();
                    t.put("t", &[i], b"v");
                    if i % 4 == 0 {
                        t.derive(std::sync::Arc::new(Panics));
                    }
                    (i, s.commit(&t).is_ok())
                })
            })
            .collect();
        for h in handles {
            let (i, ok) = h.join().unwrap();
            assert_eq!(ok, i % 4 != 0, "write {i}");
            let stored = s.get("t", &[i]).unwrap();
            assert_eq!(stored.is_some(), i % 4 != 0, "write {i}");
        }
        s.put("t", b"after", b"1").unwrap();
        assert_eq!(s.get("t", b"after").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn prefix_end_of_edge_cases() {
        assert_eq!(super::prefix_end(b""), None);
        assert_eq!(super::prefix_end(b"a"), Some(b"b".to_vec()));
        assert_eq!(super::prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(super::prefix_end(b"\xff\xff"), None);
    }
}
