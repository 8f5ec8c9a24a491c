//! Transactions of the PostgreSQL store: a [`Txn`]'s checks (`SELECT ... FOR UPDATE`) and writes
//! in one `SERIALIZABLE` transaction, tried again with back-off when PostgreSQL reports a
//! serialization failure or deadlock.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::error::SqlState;
use tokio_postgres::IsolationLevel;

use super::{backend, PUT, TXN_ATTEMPTS};
use crate::store::{Op, StoreError, Txn, TxnError};

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
        match commit_once(pool, txn).await? {
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
    for c in txn.checks() {
        let row = step!(tx.query_opt(&check, &[&c.tree, &c.key]).await);
        let current: Option<Vec<u8>> = row.map(|r| r.get(0));
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
    for op in txn.ops() {
        match op {
            Op::Put { tree, key, value } => {
                step!(tx.execute(&put, &[tree, key, value]).await);
            }
            Op::Delete { tree, key } => {
                step!(tx.execute(&delete, &[tree, key]).await);
            }
        }
    }
    step!(tx.commit().await);
    Ok(Attempt::Done)
}
