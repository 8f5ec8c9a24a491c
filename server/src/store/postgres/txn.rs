//! Transactions of the PostgreSQL store: a [`Txn`]'s checks (`SELECT ... FOR UPDATE`) and writes
//! in one `SERIALIZABLE` transaction, tried again with back-off when PostgreSQL reports a
//! serialization failure or deadlock.
//!
//! A [`Txn`] with derives runs in one `READ COMMITTED` transaction instead: every value a check
//! or a derive reads is read with `SELECT ... FOR UPDATE`, so it is locked (a concurrent writer
//! of the same row waits for this commit and then reads the committed value) and cannot change
//! before the commit; a key read as absent and then written is written with a plain `INSERT`,
//! so two transactions that both found it absent cannot both write it (one gets a unique
//! violation and runs again). Derives are synchronous and reads are not: a derive runs over
//! the values fetched so far, and when it asks for one not fetched yet, that value is fetched
//! (locked) and the derives run again from the start (they depend only on what they read).

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::error::SqlState;
use tokio_postgres::IsolationLevel;

use std::collections::HashMap;

use super::{backend, PUT, TXN_ATTEMPTS};
use crate::store::derive::{run_derives, Overlay};
use crate::store::{Op, StoreError, Txn, TxnError};

/// A plain insert: fails with a unique violation when the key exists.
const INSERT: &str = "INSERT INTO sealroom_kv (tree, key, value) VALUES ($1, $2, $3)";

fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// The outcome of one attempt at a [`Txn`].
enum Attempt {
    Done,
    Conflict(String, Vec<u8>),
    Retry,
}

pub(super) async fn commit_with_retries(pool: &Pool, txn: &Txn) -> Result<(), TxnError> {
    for attempt in 0..TXN_ATTEMPTS {
        let outcome = if txn.has_derived() {
            match commit_derived_once(pool, txn).await {
                Ok(Ok(a)) => a,
                Ok(Err(refused)) => return Err(refused),
                Err(e) => return Err(e.into()),
            }
        } else {
            commit_once(pool, txn).await?
        };
        match outcome {
            Attempt::Done => return Ok(()),
            Attempt::Conflict(tree, key) => return Err(TxnError::Conflict { tree, key }),
            Attempt::Retry => {
                // Back off a little, more with each attempt, so racing instances spread out.
                let jitter = u64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng) % 5);
                tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(20)) + jitter))
                    .await;
            }
        }
    }
    Err(TxnError::Store(StoreError::Backend(
        "transaction kept failing to serialize".to_owned(),
    )))
}

async fn commit_once(pool: &Pool, txn: &Txn) -> Result<Attempt, StoreError> {
    let mut client = pool.get().await.map_err(backend)?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .start()
        .await
        .map_err(backend)?;
    macro_rules! step {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) if retryable(&e) => return Ok(Attempt::Retry),
                Err(e) => return Err(backend(e)),
            }
        };
    }
    let check = step!(
        tx.prepare_cached("SELECT value FROM sealroom_kv WHERE tree = $1 AND key = $2 FOR UPDATE")
            .await
    );
    // All checks in one pipeline (one round trip), compared in order.
    let values =
        step!(values_of(&tx, &check, txn.checks().iter().map(|c| (&c.tree, &c.key))).await);
    for (c, current) in txn.checks().iter().zip(values) {
        if current.as_deref() != c.expected.as_deref() {
            // Dropping `tx` rolls back.
            return Ok(Attempt::Conflict(c.tree.clone(), c.key.clone()));
        }
    }
    let put = step!(tx.prepare_cached(PUT).await);
    let delete = step!(
        tx.prepare_cached("DELETE FROM sealroom_kv WHERE tree = $1 AND key = $2")
            .await
    );
    // The writes in one pipeline too: the rows locked above are held for one round trip of
    // writes and the commit's, not one per write.
    step!(
        in_order(txn.ops().iter().map(|op| async {
            match op {
                Op::Put { tree, key, value } => tx.execute(&put, &[tree, key, value]).await,
                Op::Delete { tree, key } => tx.execute(&delete, &[tree, key]).await,
            }
        }))
        .await
    );
    step!(tx.commit().await);
    Ok(Attempt::Done)
}

/// Runs `statements` as one pipeline (tokio-postgres sends every request of futures polled
/// together before reading the first answer) and returns their results in order, or the first
/// statement's error in that order (the ones after a failed statement only report the aborted
/// transaction).
async fn in_order<T, F>(
    statements: impl Iterator<Item = F>,
) -> Result<Vec<T>, tokio_postgres::Error>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    futures_util::future::join_all(statements)
        .await
        .into_iter()
        .collect()
}

/// The values of `keys` (tree, key) read with `select` (the locking `SELECT value ...`), in one
/// pipeline, in order.
async fn values_of<'k>(
    tx: &deadpool_postgres::Transaction<'_>,
    select: &tokio_postgres::Statement,
    keys: impl Iterator<Item = (&'k String, &'k Vec<u8>)>,
) -> Result<Vec<Option<Vec<u8>>>, tokio_postgres::Error> {
    let rows =
        in_order(keys.map(|(tree, key)| async move { tx.query_opt(select, &[tree, key]).await }))
            .await?;
    Ok(rows.into_iter().map(|row| row.map(|r| r.get(0))).collect())
}

/// Marker of a value a derive asked for that was not fetched yet.
const NOT_FETCHED: &str = "value not fetched yet";

/// One attempt at a [`Txn`] with derives (see the module documentation). The inner `Err` is
/// a refusal by a derive (nothing written).
async fn commit_derived_once(
    pool: &Pool,
    txn: &Txn,
) -> Result<Result<Attempt, TxnError>, StoreError> {
    let mut client = pool.get().await.map_err(backend)?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(backend)?;
    macro_rules! step {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) if retryable(&e) => return Ok(Ok(Attempt::Retry)),
                Err(e) => return Err(backend(e)),
            }
        };
    }
    let lock = step!(
        tx.prepare_cached("SELECT value FROM sealroom_kv WHERE tree = $1 AND key = $2 FOR UPDATE")
            .await
    );
    // Every value read so far, locked.
    let mut fetched: HashMap<(String, Vec<u8>), Option<Vec<u8>>> = HashMap::new();
    let values = step!(values_of(&tx, &lock, txn.checks().iter().map(|c| (&c.tree, &c.key))).await);
    for (c, current) in txn.checks().iter().zip(values) {
        if current.as_deref() != c.expected.as_deref() {
            return Ok(Ok(Attempt::Conflict(c.tree.clone(), c.key.clone())));
        }
        fetched.insert((c.tree.clone(), c.key.clone()), current);
    }
    // The keys the derives name ahead, locked in one pipeline (reads they did not name are
    // fetched one by one below).
    let hinted: Vec<(String, Vec<u8>)> = crate::store::derive::hinted_reads(txn)
        .into_iter()
        .filter(|k| !fetched.contains_key(k))
        .collect();
    let values = step!(values_of(&tx, &lock, hinted.iter().map(|(tree, key)| (tree, key))).await);
    fetched.extend(hinted.into_iter().zip(values));
    let ops = loop {
        let mut missing: Option<(String, Vec<u8>)> = None;
        let result = {
            let mut base =
                |tree: &str, key: &[u8]| match fetched.get(&(tree.to_owned(), key.to_vec())) {
                    Some(v) => Ok(v.clone()),
                    None => {
                        missing = Some((tree.to_owned(), key.to_vec()));
                        Err(StoreError::Backend(NOT_FETCHED.to_owned()))
                    }
                };
            let mut overlay = Overlay::new(&mut base, txn.ops());
            run_derives(txn, &mut overlay)
        };
        match (missing, result) {
            (Some((tree, key)), _) => {
                let row = step!(tx.query_opt(&lock, &[&tree, &key]).await);
                fetched.insert((tree, key), row.map(|r| r.get(0)));
            }
            (None, Ok(ops)) => break ops,
            (None, Err(TxnError::Store(e))) => return Err(e),
            (None, Err(other)) => return Ok(Err(other)),
        }
    };
    let put = step!(tx.prepare_cached(PUT).await);
    let insert = step!(tx.prepare_cached(INSERT).await);
    let delete = step!(
        tx.prepare_cached("DELETE FROM sealroom_kv WHERE tree = $1 AND key = $2")
            .await
    );
    // The last write of each key wins, as in the other stores; a key read as absent is
    // inserted, so that a concurrent insert of it makes this attempt run again.
    let mut last: HashMap<(&str, &[u8]), usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let (Op::Put { tree, key, .. } | Op::Delete { tree, key }) = op;
        last.insert((tree.as_str(), key.as_slice()), i);
    }
    // The writes in one pipeline: the rows locked above (a room's counter, the audit chain's
    // head) are held for one round trip of writes and the commit's, not one per write.
    let writes = ops.iter().enumerate().filter_map(|(i, op)| {
        let (Op::Put { tree, key, .. } | Op::Delete { tree, key }) = op;
        if last.get(&(tree.as_str(), key.as_slice())) != Some(&i) {
            return None;
        }
        let read_absent = matches!(fetched.get(&(tree.clone(), key.clone())), Some(None));
        let (tx, put, insert, delete) = (&tx, &put, &insert, &delete);
        Some(async move {
            match op {
                Op::Put { tree, key, value } if read_absent => {
                    tx.execute(insert, &[tree, key, value]).await
                }
                Op::Put { tree, key, value } => tx.execute(put, &[tree, key, value]).await,
                Op::Delete { tree, key } => tx.execute(delete, &[tree, key]).await,
            }
        })
    });
    step!(in_order(writes).await);
    step!(tx.commit().await);
    Ok(Ok(Attempt::Done))
}
