//! Hourly quotas: how many messages, and how many message bytes, one user and one space may
//! post per clock hour. Counters live in the store, so every relay instance sharing it enforces
//! the same budget; a request over budget changes nothing and gets 429 with `Retry-After` (the
//! seconds to the next hour).
//!
//! Hourly budgets rather than totals: stored messages leave through retention and disappearing
//! messages, so a budget on what is posted per hour bounds the growth the relay can be made to
//! store without coupling every deletion path to a counter. Blob bytes, which stay until
//! deleted, have a total quota instead (`blobs::data::USER_USAGE`).
//!
//! Layout of [`QUOTA_TREE`]: key = window start (8 bytes, big-endian Unix seconds) followed by
//! the counter name (`user:{id}` or `space:{id}`); value = count (u64 BE) then bytes (u64 BE).
//! Windows before the current one are deleted by [`prune`].

use std::sync::Arc;

use crate::error::ApiError;
use crate::store::{Derive, DeriveError, Op, Store, StoreError, Txn, TxnError, TxnReader};

/// Tree of the hourly counters.
pub const QUOTA_TREE: &str = "quota_windows";
/// Length of a quota window in seconds.
pub const WINDOW_SECS: i64 = 3600;

/// One counter and its budget for the current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Counter name, e.g. `user:{id}` or `space:{id}`.
    pub name: String,
    /// Largest count per window.
    pub count: u64,
    /// Largest byte total per window.
    pub bytes: u64,
}

/// Why a charge was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A budget of the current window is used up.
    #[error("hourly quota of {name} exhausted; retry in {retry_after} s")]
    Exceeded {
        /// The counter whose budget is used up.
        name: String,
        /// Seconds until the next window.
        retry_after: u64,
    },
    /// Other requests (on other instances) kept changing a counter through every retry;
    /// nothing was charged (503, the request may be sent again).
    #[error("quota counters stayed contended")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Exceeded { name, retry_after } => ApiError::QuotaExceeded {
                message: format!("hourly quota of {name} exhausted"),
                retry_after,
            },
            QuotaError::Contended => {
                ApiError::unavailable("quota counters stayed contended, retry")
            }
            QuotaError::Store(e) => e.into(),
        }
    }
}

fn window_start(now: i64) -> i64 {
    now - now.rem_euclid(WINDOW_SECS)
}

fn key(window: i64, name: &str) -> Vec<u8> {
    let mut k = window.to_be_bytes().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn decode(raw: Option<&[u8]>) -> Result<(u64, u64), StoreError> {
    let Some(raw) = raw else {
        return Ok((0, 0));
    };
    let bad = || StoreError::Backend("quota counter is not 16 bytes".into());
    let count = raw.get(..8).ok_or_else(bad)?;
    let bytes = raw.get(8..16).ok_or_else(bad)?;
    Ok((
        u64::from_be_bytes(count.try_into().map_err(|_| bad())?),
        u64::from_be_bytes(bytes.try_into().map_err(|_| bad())?),
    ))
}

/// Charges one item of `size` bytes to every budget of `budgets` in the window of `now`: all
/// of them, or none when one would go over.
pub fn charge(
    store: &dyn Store,
    budgets: &[Budget],
    size: u64,
    now: i64,
) -> Result<(), QuotaError> {
    let mut txn = Txn::new();
    txn.derive(Charge::new(budgets, size, now));
    store.commit(&txn).map_err(QuotaError::from_txn)
}

impl QuotaError {
    /// The error of a transaction that carried a [`Charge`] (a refusal of another derive of
    /// the same transaction is passed on as a storage error: callers downcast their own).
    pub fn from_txn(e: TxnError) -> Self {
        match e {
            TxnError::Store(e) => e.into(),
            TxnError::Conflict { .. } => QuotaError::Contended,
            TxnError::Refused(e) => match e.downcast::<QuotaError>() {
                Ok(q) => *q,
                Err(other) => QuotaError::Store(StoreError::Backend(other.to_string())),
            },
        }
    }
}

/// A charge inside a transaction ([`Derive`]): reads the counters where the transaction runs
/// and refuses it with [`QuotaError::Exceeded`] when one budget would go over, so a message and
/// its charge are stored together or not at all and concurrent posts to one space never
/// conflict on the space's counter.
pub struct Charge {
    budgets: Vec<Budget>,
    size: u64,
    window: i64,
    retry_after: u64,
}

impl Charge {
    /// One item of `size` bytes against each of `budgets` in the window of `now`.
    pub fn new(budgets: &[Budget], size: u64, now: i64) -> Arc<Self> {
        let window = window_start(now);
        let retry_after = u64::try_from(window + WINDOW_SECS - now)
            .unwrap_or(1)
            .max(1);
        Arc::new(Self {
            budgets: budgets.to_vec(),
            size,
            window,
            retry_after,
        })
    }
}

impl Derive for Charge {
    fn derive(&self, read: &mut dyn TxnReader) -> Result<Vec<Op>, DeriveError> {
        let mut ops = Vec::with_capacity(self.budgets.len());
        for budget in &self.budgets {
            let k = key(self.window, &budget.name);
            let raw = read.get(QUOTA_TREE, &k)?;
            let (count, bytes) = decode(raw.as_deref())?;
            let (count, bytes) = (count.saturating_add(1), bytes.saturating_add(self.size));
            if count > budget.count || bytes > budget.bytes {
                return Err(DeriveError::Refused(Box::new(QuotaError::Exceeded {
                    name: budget.name.clone(),
                    retry_after: self.retry_after,
                })));
            }
            let mut value = count.to_be_bytes().to_vec();
            value.extend_from_slice(&bytes.to_be_bytes());
            ops.push(Op::Put {
                tree: QUOTA_TREE.to_owned(),
                key: k,
                value,
            });
        }
        Ok(ops)
    }

    fn locks(&self) -> Vec<String> {
        self.budgets
            .iter()
            .map(|b| format!("quota:{}", b.name))
            .collect()
    }

    fn reads(&self) -> Vec<(String, Vec<u8>)> {
        self.budgets
            .iter()
            .map(|b| (QUOTA_TREE.to_owned(), key(self.window, &b.name)))
            .collect()
    }
}

/// Deletes the counters of windows before the current one. Returns how many were removed.
pub fn prune(store: &dyn Store, now: i64) -> Result<usize, StoreError> {
    let end = window_start(now).to_be_bytes();
    let start = 0i64.to_be_bytes();
    let stale: Vec<Vec<u8>> = store
        .range(QUOTA_TREE, &start, Some(&end))?
        .map(|kv| kv.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for k in &stale {
        store.delete(QUOTA_TREE, k)?;
    }
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    fn budget(name: &str, count: u64, bytes: u64) -> Budget {
        Budget {
            name: name.to_owned(),
            count,
            bytes,
        }
    }

    #[test]
    fn budgets_are_all_or_nothing_and_reset_each_hour() {
        let store = RedbStore::temporary().unwrap();
        let t = 10 * WINDOW_SECS + 100;
        let both = [budget("user:u", 2, 1000), budget("space:s", 3, 1000)];
        charge(&store, &both, 10, t).unwrap();
        charge(&store, &both, 10, t).unwrap();
        let err = charge(&store, &both, 10, t).unwrap_err();
        assert!(matches!(
            err,
            QuotaError::Exceeded { ref name, retry_after } if name == "user:u" && retry_after == 3500
        ));
        // The refused charge did not count against the space.
        let space = [budget("space:s", 3, 1000)];
        charge(&store, &space, 10, t).unwrap();
        assert!(charge(&store, &space, 10, t).is_err());
        // Bytes have their own budget.
        assert!(charge(&store, &[budget("user:v", 10, 100)], 101, t).is_err());
        charge(&store, &[budget("user:v", 10, 100)], 100, t).unwrap();
        // The next hour starts afresh; pruning drops the old window.
        charge(&store, &both, 10, t + WINDOW_SECS).unwrap();
        assert_eq!(prune(&store, t + WINDOW_SECS).unwrap(), 3);
        assert_eq!(prune(&store, t + WINDOW_SECS).unwrap(), 0);
    }

    #[test]
    fn concurrent_charges_of_one_space_all_count_and_none_fail() {
        let store = std::sync::Arc::new(RedbStore::temporary().unwrap());
        let t = 10 * WINDOW_SECS + 100;
        let threads: Vec<_> = (0..16)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let budgets = [
                            budget(&format!("user:{n}"), 1000, 1 << 30),
                            budget("space:shared", 400, 1 << 30),
                        ];
                        charge(store.as_ref(), &budgets, 1, t).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // Exactly 400 were counted: the space's budget is now used up.
        let err = charge(
            store.as_ref(),
            &[budget("space:shared", 400, 1 << 30)],
            1,
            t,
        );
        assert!(matches!(err, Err(QuotaError::Exceeded { .. })));
    }
}
