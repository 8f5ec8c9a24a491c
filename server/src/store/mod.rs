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
//! Backends live in submodules. [`RedbStore`] (`redb.rs`) is the embedded default: every write
//! is durable when it returns, and [`Store::snapshot`] reads one MVCC snapshot while writers
//! carry on. [`SledStore`] (`sled.rs`, the store of earlier releases) stays only for
//! [`migrate`] (`sealroom-server migrate`) and the tests that build an old data directory;
//! its writes go through a shared "write gate" that its snapshot takes exclusively.

use serde::de::DeserializeOwned;
use serde::Serialize;

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
    /// A [`Derive`] of the transaction refused it; nothing was written. The error is the one
    /// the derive gave (callers downcast it).
    #[error("refused: {0}")]
    Refused(Box<dyn std::error::Error + Send + Sync>),
}

impl From<TxnError> for StoreError {
    /// For callers whose transactions can neither conflict nor be refused (no checks, no
    /// derives): anything but a storage failure becomes one.
    fn from(e: TxnError) -> Self {
        match e {
            TxnError::Store(e) => e,
            other => StoreError::Backend(other.to_string()),
        }
    }
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
/// Its [`Derive`]s run inside the transaction after the checks, in order, and add writes
/// computed from what they read there.
#[derive(Clone, Default)]
pub struct Txn {
    checks: Vec<Check>,
    ops: Vec<Op>,
    derived: Vec<SharedDerive>,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn")
            .field("checks", &self.checks)
            .field("ops", &self.ops)
            .field("derived", &self.derived.len())
            .finish()
    }
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

    /// Adds a derive: writes computed inside the transaction (see [`derive`]).
    pub fn derive(&mut self, d: SharedDerive) -> &mut Self {
        self.derived.push(d);
        self
    }

    /// This transaction with every derive that has a [`Derive::deferred`] form replaced by it.
    pub fn deferring(&self) -> std::borrow::Cow<'_, Txn> {
        let deferred: Vec<Option<SharedDerive>> =
            self.derived.iter().map(|d| d.deferred()).collect();
        if deferred.iter().all(Option::is_none) {
            return std::borrow::Cow::Borrowed(self);
        }
        let derived = self
            .derived
            .iter()
            .zip(deferred)
            .map(|(d, later)| later.unwrap_or_else(|| d.clone()))
            .collect();
        std::borrow::Cow::Owned(Txn {
            checks: self.checks.clone(),
            ops: self.ops.clone(),
            derived,
        })
    }

    /// Whether the transaction has derives.
    pub fn has_derived(&self) -> bool {
        !self.derived.is_empty()
    }

    /// Whether the transaction does nothing.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.ops.is_empty() && self.derived.is_empty()
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
    /// [`Store::commit`] for a change whose loss in a crash its caller repairs (an upload's
    /// offset that its blob file records durably): it may return before the change is durable
    /// ([`RedbStore`] commits it without a sync; it becomes durable with the next synced
    /// commit). The default commits durably.
    fn commit_lazy(&self, txn: &Txn) -> Result<(), TxnError> {
        self.commit(txn)
    }
    /// A store-wide unique, increasing id.
    fn next_id(&self) -> Result<u64, StoreError>;
    /// Makes every write so far durable (a no-op for backends whose writes are durable when
    /// they return, as [`RedbStore`]'s are).
    fn flush(&self) -> Result<(), StoreError>;
    /// Whether this process's writes are committed in the order they were issued, through one
    /// queue ([`RedbStore`]'s group commit): then a write queued by
    /// [`Store::put_unacknowledged`] is durable once any write issued after it returns (any
    /// but a [`Store::commit_lazy`], itself durable only with the next such write).
    fn writes_in_order(&self) -> bool {
        false
    }
    /// Whether this store runs derives in their [`Derive::deferred`] form: writers of several
    /// instances commit concurrently and should not all lock one row; the deferred work
    /// (linking audit entries into the chain) is then done by a background task.
    fn defers_derives(&self) -> bool {
        false
    }
    /// Whether [`Store::commit_queued`] hands a transaction to a background writer, so that an
    /// async caller can await the outcome ([`commit_async`]) without holding a thread.
    fn queues_commits(&self) -> bool {
        false
    }
    /// Commits `txn` and calls `done` with the outcome once it is durable. Backends with a
    /// background writer ([`Store::queues_commits`]) queue it and return at once; the default
    /// commits here and now, blocking the caller.
    fn commit_queued(&self, txn: Txn, done: Box<dyn FnOnce(Result<(), TxnError>) + Send>) {
        done(self.commit(&txn));
    }
    /// Sets `key` in `tree` to `value` without waiting for it to be durable: `done` is called
    /// with the outcome once it is committed (immediately and durably, here; [`RedbStore`]
    /// queues it for its next group commit and returns at once, and commits it without a sync
    /// unless that batch also holds a write waited for durably: it is durable once any such
    /// write issued after it returns). A crash before then may lose the write: only for writes
    /// whose loss is harmless (see `auth.rs`, read requests' nonces).
    fn put_unacknowledged(
        &self,
        tree: &str,
        key: &[u8],
        value: &[u8],
        done: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    ) -> Result<(), StoreError> {
        let result = self.put(tree, key, value);
        let failed = result.as_ref().err().map(ToString::to_string);
        done(result);
        match failed {
            Some(e) => Err(StoreError::Backend(e)),
            None => Ok(()),
        }
    }
    /// Writes every `(tree, key, value)` of a consistent point in time to `sink`, tree by tree
    /// in name order, keys ascending. Backends with MVCC snapshots let writes run meanwhile;
    /// others make writes wait.
    fn snapshot(&self, sink: &mut SnapshotSink<'_>) -> Result<(), StoreError>;
    /// Names of the trees that exist.
    fn tree_names(&self) -> Result<Vec<String>, StoreError>;

    // ---- Coordination of several relay instances on one store. The defaults are those of a
    // store that only one relay process can open (the embedded ones): it leads every job, and
    // nobody else needs waking. ----

    /// Tries to make this process the one relay instance that runs the singleton job `job`
    /// (digest mails, retention sweeps, upload expiry, pruning). `true`: run it now. Leadership
    /// is sticky (the same instance keeps winning while it lives) and passes to another
    /// instance when the leader dies; call before every run of the job.
    fn try_lead(&self, job: &str) -> Result<bool, StoreError> {
        let _ = job;
        Ok(true)
    }

    /// Tells the other relay instances on this store that live events up to `cursor` are
    /// stored, so that their waiting devices wake (best effort: a lost announcement delays an
    /// event until the next re-check, it never loses it).
    fn announce_live(&self, cursor: u64) -> Result<(), StoreError> {
        let _ = cursor;
        Ok(())
    }

    /// The cursors other instances announce with [`Store::announce_live`]; `None` when no other
    /// instance can share this store (then the in-process event bus is enough).
    fn live_announcements(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
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

/// Whether this process should run the singleton job `job` now ([`Store::try_lead`]); a
/// failure to find out is logged and counts as "no" (the job runs at a later tick, or on
/// another instance).
pub fn lead(store: &dyn Store, job: &str) -> bool {
    match store.try_lead(job) {
        Ok(lead) => lead,
        Err(e) => {
            tracing::warn!(error = %e, job, "cannot tell whether this instance leads the job");
            false
        }
    }
}

/// The store as shared by the relay.
pub type SharedStore = std::sync::Arc<dyn Store>;

pub mod blobs;
pub mod derive;
pub use self::derive::{Derive, DeriveError, SharedDerive, TxnReader};
pub mod migrate;
mod redb;
mod sled;
pub use self::redb::{OpenError, RedbStore, RESERVED_PREFIX};
pub use self::sled::SledStore;
mod pg_coord;
mod postgres;
pub use self::postgres::{PgConnectError, PgStore};

#[cfg(test)]
pub(crate) mod conformance;
/// The PostgreSQL test database for tests of other modules (`test_url`, `fresh_store`).
#[cfg(test)]
pub(crate) use self::postgres::tests as pg_tests;

/// Commits `txn` from async code: awaits the background writer where the backend has one (no
/// thread is held while the group commit's fsync runs), else commits on a blocking thread.
pub async fn commit_async(store: &SharedStore, txn: Txn) -> Result<(), TxnError> {
    let gone = |what: String| TxnError::Store(StoreError::Backend(what));
    if store.queues_commits() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        store.commit_queued(
            txn,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.await
            .unwrap_or_else(|_| Err(gone("the store's writer has stopped".to_owned())))
    } else {
        let store = SharedStore::clone(store);
        tokio::task::spawn_blocking(move || store.commit(&txn))
            .await
            .unwrap_or_else(|e| Err(gone(format!("blocking commit: {e}"))))
    }
}
