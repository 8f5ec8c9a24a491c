//! Writes computed inside a transaction from what it reads there ([`Derive`]).
//!
//! A sequence counter, a usage counter or the audit hash chain's head is read, changed and
//! written by many concurrent requests. With only checks and writes ([`Txn`]), each request
//! reads outside the transaction and commits with a check on what it read; requests that read
//! the same value conflict, and all but one retry after a commit (an fsync) they had to wait
//! for. A [`Derive`] instead runs inside the transaction: [`RedbStore`](super::RedbStore)
//! calls it within the write transaction of its group commit, where it sees the writes of the
//! requests committed before it in the same batch, so a hundred posts to one room share one
//! commit and never conflict. Backends without in-transaction reads run [`optimistic`]: the
//! derive reads through the store, every value it read becomes a check, and the transaction
//! is retried when one changed, under the process-wide locks the derive names (so that within
//! one process it does not retry at all).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Check, Op, Store, StoreError, Txn, TxnError};

/// Reads inside a transaction.
pub trait TxnReader {
    /// The value of `key` in `tree` as the transaction sees it: the store's committed state,
    /// plus the writes of the transaction (its plain ops and earlier derives).
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Why a [`Derive`] produced no writes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeriveError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The derive refused the transaction (a budget exhausted, ...): nothing of the
    /// transaction is written. The caller downcasts the error it gave.
    #[error("refused: {0}")]
    Refused(Box<dyn std::error::Error + Send + Sync>),
}

/// Writes computed from values read inside the transaction. It may run more than once for
/// one commit (retries, a batch re-run alone after a storage error): it must depend only on
/// what it reads and keep the outcome of its last run for the caller (in a `Mutex` field).
pub trait Derive: Send + Sync + 'static {
    /// The writes, computed from `read`.
    fn derive(&self, read: &mut dyn TxnReader) -> Result<Vec<Op>, DeriveError>;

    /// Names of process-wide locks that backends running [`optimistic`] hold while they run
    /// this derive and commit, so that writers of one process queue instead of conflicting.
    fn locks(&self) -> Vec<String> {
        Vec::new()
    }

    /// The keys (tree, key) this derive will read, as far as it knows them before it runs: a
    /// backend whose reads are round trips (PostgreSQL) fetches them all in one before running
    /// the derives. A hint only: a read not named here is answered all the same, one round
    /// trip later.
    fn reads(&self) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    /// The derive to run instead on a store whose writers run concurrently
    /// ([`super::Store::defers_derives`]: PostgreSQL shared by several instances), where this
    /// one would make every transaction that carries it wait for one row that all of them
    /// lock (the audit chain's head). `None`: this derive runs as it is.
    fn deferred(&self) -> Option<SharedDerive> {
        None
    }
}

/// The keys the derives of `txn` name in [`Derive::reads`], in order, each once.
pub fn hinted_reads(txn: &Txn) -> Vec<(String, Vec<u8>)> {
    let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
    for key in txn.derived.iter().flat_map(|d| d.reads()) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// A shared derive in a [`Txn`].
pub type SharedDerive = Arc<dyn Derive>;

/// A read of the committed state below an [`Overlay`].
pub type BaseRead<'a> = dyn FnMut(&str, &[u8]) -> Result<Option<Vec<u8>>, StoreError> + 'a;

/// Reads through `base`, with the writes of `pending` on top.
pub struct Overlay<'a> {
    base: &'a mut BaseRead<'a>,
    pending: HashMap<(String, Vec<u8>), Option<Vec<u8>>>,
    /// Values read from `base` (not from `pending`), first read per key.
    reads: Vec<(String, Vec<u8>, Option<Vec<u8>>)>,
}

impl<'a> Overlay<'a> {
    /// An overlay over `base` holding `ops`.
    pub fn new(base: &'a mut BaseRead<'a>, ops: &[Op]) -> Self {
        let mut overlay = Self {
            base,
            pending: HashMap::new(),
            reads: Vec::new(),
        };
        overlay.apply(ops);
        overlay
    }

    /// Adds `ops` on top.
    pub fn apply(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Put { tree, key, value } => {
                    self.pending
                        .insert((tree.clone(), key.clone()), Some(value.clone()));
                }
                Op::Delete { tree, key } => {
                    self.pending.insert((tree.clone(), key.clone()), None);
                }
            }
        }
    }

    /// What was read from the base store, per key, as checks.
    fn read_checks(&self) -> Vec<Check> {
        self.reads
            .iter()
            .map(|(tree, key, expected)| Check {
                tree: tree.clone(),
                key: key.clone(),
                expected: expected.clone(),
            })
            .collect()
    }
}

impl TxnReader for Overlay<'_> {
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.pending.get(&(tree.to_owned(), key.to_vec())) {
            return Ok(v.clone());
        }
        if let Some((_, _, v)) = self
            .reads
            .iter()
            .find(|(t, k, _)| t == tree && k.as_slice() == key)
        {
            return Ok(v.clone());
        }
        let v = (self.base)(tree, key)?;
        self.reads.push((tree.to_owned(), key.to_vec(), v.clone()));
        Ok(v)
    }
}

/// Runs the derives of `txn` over `overlay` (which holds the plain ops), in order, each seeing
/// the writes of the ones before. Returns every write: the plain ops, then the derived ones.
pub fn run_derives(txn: &Txn, overlay: &mut Overlay<'_>) -> Result<Vec<Op>, TxnError> {
    let mut ops = txn.ops.clone();
    for d in &txn.derived {
        let more = d.derive(overlay).map_err(|e| match e {
            DeriveError::Store(e) => TxnError::Store(e),
            DeriveError::Refused(e) => TxnError::Refused(e),
        })?;
        overlay.apply(&more);
        ops.extend(more);
    }
    Ok(ops)
}

/// How often [`optimistic`] re-runs a transaction whose reads changed before it committed.
const OPTIMISTIC_ATTEMPTS: usize = 64;

/// Process-wide named locks (see [`Derive::locks`]), bounded like the message-post table was:
/// idle entries are evicted once the table holds [`LOCKS_BOUND`] names.
static NAMED_LOCKS: Mutex<Option<HashMap<String, Arc<Mutex<()>>>>> = Mutex::new(None);
const LOCKS_BOUND: usize = 1024;

fn named_lock(name: &str) -> Arc<Mutex<()>> {
    let mut guard = NAMED_LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(l) = map.get(name) {
        return l.clone();
    }
    if map.len() >= LOCKS_BOUND {
        // Clones are made only under the table's lock: an entry only the table holds has
        // nobody holding or waiting for it.
        map.retain(|_, l| Arc::strong_count(l) > 1);
    }
    map.entry(name.to_owned()).or_default().clone()
}

/// Commits `txn` with derives on a backend that cannot read inside its transactions: runs the
/// derives over committed reads, turns every read into a check and commits checks and writes;
/// when a read changed meanwhile, runs again. A conflict on one of `txn`'s own checks is
/// returned as is.
pub fn optimistic(store: &dyn Store, txn: &Txn) -> Result<(), TxnError> {
    let mut names: Vec<String> = txn.derived.iter().flat_map(|d| d.locks()).collect();
    names.sort();
    names.dedup();
    let locks: Vec<Arc<Mutex<()>>> = names.iter().map(|n| named_lock(n)).collect();
    let _guards: Vec<_> = locks
        .iter()
        .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
        .collect();
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let mut base = |tree: &str, key: &[u8]| store.get(tree, key);
        let mut overlay = Overlay::new(&mut base, &txn.ops);
        let ops = run_derives(txn, &mut overlay)?;
        let mut plain = Txn {
            checks: txn.checks.clone(),
            ops,
            derived: Vec::new(),
        };
        plain.checks.extend(overlay.read_checks());
        match store.commit(&plain) {
            Err(TxnError::Conflict { tree, key })
                if !txn.checks.iter().any(|c| c.tree == tree && c.key == key) =>
            {
                continue
            }
            other => return other,
        }
    }
    Err(TxnError::Conflict {
        tree: "(derived reads)".to_owned(),
        key: Vec::new(),
    })
}
