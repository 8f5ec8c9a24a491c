//! Counters that many requests change at once (hourly quotas, blob usage): the store keeps
//! them consistent with compare-and-swap transactions, and a transaction that lost a race is
//! tried again. Two things keep those retries from running out under load:
//!
//! - inside one instance, [`Stripes`] serialise the changes of the same counter, so requests
//!   on the same space queue on a lock instead of failing each other's transactions;
//! - between instances (which share the store but not the locks), each retry waits a little
//!   longer with jitter ([`backoff`]) so the writers spread out, up to [`RETRIES`] attempts.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Attempts of one counter change before it gives up on a counter other instances keep
/// changing (with the waits of [`backoff`], about half a second in all).
pub const RETRIES: u32 = 64;

/// Number of locks in a [`Stripes`] set.
const STRIPES: usize = 64;

/// Locks serialising this instance's changes of the same counter names (hashed onto 64
/// locks: two names may share one, which only serialises them).
#[derive(Debug)]
pub struct Stripes([Mutex<()>; STRIPES]);

impl Stripes {
    /// A set of unlocked stripes (usable in a `static`).
    pub const fn new() -> Self {
        Self([const { Mutex::new(()) }; STRIPES])
    }

    /// Locks the stripes of every name of `names`, in ascending stripe order (so that two
    /// callers never deadlock), each once. Blocks: call it from a blocking thread, as store
    /// calls are.
    pub fn lock<'a>(&'a self, names: &[&str]) -> Vec<MutexGuard<'a, ()>> {
        let mut stripes: Vec<usize> = names.iter().map(|n| stripe(n)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        stripes
            .iter()
            .filter_map(|&i| self.0.get(i))
            .map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
            .collect()
    }
}

impl Default for Stripes {
    fn default() -> Self {
        Self::new()
    }
}

fn stripe(name: &str) -> usize {
    let digest = Sha256::digest(name.as_bytes());
    usize::from(digest[0]) % STRIPES
}

/// The wait before retry `attempt` (1-based): `attempt` ms up to 10 ms, plus 0-3 ms jitter.
pub fn backoff(attempt: u32) -> Duration {
    let jitter = u64::from(OsRng.next_u32() % 4);
    Duration::from_millis(u64::from(attempt.min(10)) + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_lock_each_once_and_backoff_stays_short() {
        let stripes = Stripes::new();
        // The same name twice takes its lock once (a second lock would deadlock).
        let guards = stripes.lock(&["space:a", "space:a", "user:b"]);
        assert!(!guards.is_empty() && guards.len() <= 2);
        drop(guards);
        let total: Duration = (1..RETRIES).map(backoff).sum();
        assert!(total < Duration::from_secs(1), "{total:?}");
        assert!(backoff(1) >= Duration::from_millis(1));
    }
}
