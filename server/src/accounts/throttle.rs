//! Enrolment throttles: failed TOTP approvals per user and per source address, and device
//! requests per user and per source address. Counters live in the store, so a restart does not
//! reset them and every relay instance sees the same counts.
//!
//! A TOTP attempt is *charged before the code is checked* (compare-and-swap on the counter) and
//! the charge is undone only by a success: parallel guesses therefore gain nothing.
//!
//! Per user: the first [`Enrolment::free_failures`] failures cost nothing; after the k-th
//! failure (k ≥ free) the next attempt waits `delay_base_secs · 2^(k - free)` seconds (at most a
//! day); at [`Enrolment::user_lock_failures`] failures TOTP approval is locked until one of the
//! user's devices or an administrator unlocks it (or TOTP is reset). The numbers and the
//! attacker's best success probability are in `docs/relay.md` ("Enrolment").
//!
//! Per source address: the same growing delays after `free_failures` failures, and a lock for
//! the rest of a 24-hour window at [`Enrolment::source_lock_failures`] failures (addresses are
//! shared, so the lock expires).

use serde::{Deserialize, Serialize};

use crate::config::Enrolment;
use crate::error::{ApiError, ErrorBody};
use crate::reply::Reply;
use crate::store::{decode_json, encode_json, Store};

/// Tree: throttle key (`totp-user:<id>`, `totp-ip:<ip>`, `req-user:<id>`, `req-ip:<ip>`) ->
/// [`Counter`].
pub const THROTTLE: &str = "acct_enrol_throttle";

const DAY: i64 = 24 * 3600;
/// Most attempts at writing one counter under contention before giving up with 409.
const CAS_ATTEMPTS: usize = 32;

/// One throttle counter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counter {
    /// Failures (or requests) counted since the last reset.
    pub count: u32,
    /// Start of the current 24-hour window (source and request counters).
    pub window_start: i64,
    /// No attempt is evaluated before this time (Unix seconds).
    pub next_at: i64,
    /// Locked: no attempt is evaluated until an unlock (user) or the window ends (source).
    pub locked: bool,
}

/// Why an attempt was refused without being evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Wait this many seconds.
    Wait(u64),
    /// Locked until an existing device or an administrator unlocks it.
    Locked,
    /// Locked for this many seconds (a source address at its daily limit).
    LockedFor(u64),
}

impl Denied {
    /// The 429 answer: `Retry-After` and a stable code (`rate_limited` or `enrolment_locked`).
    pub fn reply(self) -> Reply {
        let (code, message, retry) = match self {
            Denied::Wait(s) => (
                "rate_limited",
                "too many failed attempts, retry later".to_owned(),
                s,
            ),
            Denied::LockedFor(s) => (
                "rate_limited",
                "too many attempts from this address, retry later".to_owned(),
                s,
            ),
            Denied::Locked => (
                "enrolment_locked",
                "TOTP approval is locked after too many failures; an existing device or an \
                 administrator must unlock it"
                    .to_owned(),
                DAY as u64,
            ),
        };
        let body = ErrorBody { code, message };
        Reply::json(crate::reply::TOO_MANY_REQUESTS, &body)
            .with_header("retry-after", retry.max(1).to_string())
    }
}

/// The throttle key of a TOTP user counter.
pub fn totp_user_key(user_id: &str) -> String {
    format!("totp-user:{user_id}")
}

/// The throttle key of a user's device-request counter.
pub fn request_user_key(user_id: &str) -> String {
    format!("req-user:{user_id}")
}

/// The growing delay after `count` failures.
fn delay(policy: &Enrolment, count: u32) -> i64 {
    if count < policy.free_failures {
        return 0;
    }
    let exp = (count - policy.free_failures).min(20);
    let secs = policy.delay_base_secs.saturating_mul(1u64 << exp);
    i64::try_from(secs).unwrap_or(DAY).min(DAY)
}

/// How a counter behaves.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Failures of one user: delays, then locked until unlocked.
    User,
    /// Failures from one address: delays, then locked for the rest of the day window.
    Source,
    /// Requests created per day (no delays): refused beyond `limit` until the window ends.
    Daily(u32),
}

fn load(store: &dyn Store, key: &str) -> Result<(Option<Vec<u8>>, Counter), ApiError> {
    let raw = store.get(THROTTLE, key.as_bytes())?;
    let counter = match &raw {
        Some(bytes) => decode_json(THROTTLE, bytes)?,
        None => Counter::default(),
    };
    Ok((raw, counter))
}

/// Counts one attempt against `key` if it may be evaluated now; refuses it otherwise.
pub fn charge(
    store: &dyn Store,
    policy: &Enrolment,
    key: &str,
    kind: Kind,
    now: i64,
) -> Result<Result<Counter, Denied>, ApiError> {
    for _ in 0..CAS_ATTEMPTS {
        let (raw, mut c) = load(store, key)?;
        if !matches!(kind, Kind::User) && (raw.is_none() || now - c.window_start >= DAY) {
            c = Counter {
                window_start: now,
                ..Counter::default()
            };
        }
        let window_left = u64::try_from(c.window_start + DAY - now).unwrap_or(1);
        match kind {
            Kind::User if c.locked => return Ok(Err(Denied::Locked)),
            Kind::Source if c.locked => return Ok(Err(Denied::LockedFor(window_left))),
            Kind::Daily(limit) if c.count >= limit => {
                return Ok(Err(Denied::LockedFor(window_left)))
            }
            _ => {}
        }
        if now < c.next_at {
            return Ok(Err(Denied::Wait(
                u64::try_from(c.next_at - now).unwrap_or(1),
            )));
        }
        c.count = c.count.saturating_add(1);
        match kind {
            Kind::User => {
                c.next_at = now + delay(policy, c.count);
                c.locked = c.count >= policy.user_lock_failures;
            }
            Kind::Source => {
                c.next_at = now + delay(policy, c.count);
                c.locked = c.count >= policy.source_lock_failures;
            }
            Kind::Daily(_) => {}
        }
        let new = encode_json(THROTTLE, &c)?;
        if store.compare_and_swap(THROTTLE, key.as_bytes(), raw.as_deref(), Some(&new))? {
            return Ok(Ok(c));
        }
    }
    Err(ApiError::conflict("throttle contended, retry"))
}

/// Gives back one charge of a source counter after a success (the charge was not a failure).
pub fn refund(store: &dyn Store, policy: &Enrolment, key: &str) -> Result<(), ApiError> {
    for _ in 0..CAS_ATTEMPTS {
        let (raw, mut c) = load(store, key)?;
        if raw.is_none() {
            return Ok(());
        }
        c.count = c.count.saturating_sub(1);
        if c.count < policy.free_failures {
            c.next_at = 0;
        }
        let new = encode_json(THROTTLE, &c)?;
        if store.compare_and_swap(THROTTLE, key.as_bytes(), raw.as_deref(), Some(&new))? {
            return Ok(());
        }
    }
    Err(ApiError::conflict("throttle contended, retry"))
}

/// Forgets a counter (a success, an unlock, a TOTP reset).
pub fn reset(store: &dyn Store, key: &str) -> Result<(), ApiError> {
    store.delete(THROTTLE, key.as_bytes())?;
    Ok(())
}

/// The user's TOTP counter: (failures, locked).
pub fn user_state(store: &dyn Store, user_id: &str) -> Result<(u32, bool), ApiError> {
    let c = load(store, &totp_user_key(user_id))?.1;
    Ok((c.count, c.locked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    fn policy() -> Enrolment {
        Enrolment {
            delay_base_secs: 30,
            free_failures: 2,
            user_lock_failures: 8,
            source_lock_failures: 40,
            ..Enrolment::default()
        }
    }

    #[test]
    fn user_counter_delays_then_locks() {
        let store = RedbStore::temporary().unwrap();
        let p = policy();
        let k = "totp-user:u";
        let mut now = 1_000;
        assert!(charge(&store, &p, k, Kind::User, now).unwrap().is_ok());
        assert!(charge(&store, &p, k, Kind::User, now).unwrap().is_ok());
        // After the second failure: 30 s.
        assert_eq!(
            charge(&store, &p, k, Kind::User, now).unwrap().unwrap_err(),
            Denied::Wait(30)
        );
        let mut waits = Vec::new();
        for _ in 2..8 {
            let c = loop {
                match charge(&store, &p, k, Kind::User, now).unwrap() {
                    Ok(c) => break c,
                    Err(Denied::Wait(s)) => now += s as i64,
                    Err(d) => panic!("{d:?}"),
                }
            };
            waits.push(c.next_at - now);
        }
        assert_eq!(waits, vec![60, 120, 240, 480, 960, 1920]);
        // Eight failures: locked, whatever the time.
        assert_eq!(
            charge(&store, &p, k, Kind::User, now + 10 * DAY)
                .unwrap()
                .unwrap_err(),
            Denied::Locked
        );
        reset(&store, k).unwrap();
        assert!(charge(&store, &p, k, Kind::User, now).unwrap().is_ok());
    }

    #[test]
    fn daily_counter_refuses_beyond_limit_until_the_window_ends() {
        let store = RedbStore::temporary().unwrap();
        let p = policy();
        for _ in 0..3 {
            assert!(charge(&store, &p, "r", Kind::Daily(3), 100)
                .unwrap()
                .is_ok());
        }
        assert_eq!(
            charge(&store, &p, "r", Kind::Daily(3), 200)
                .unwrap()
                .unwrap_err(),
            Denied::LockedFor((DAY - 100) as u64)
        );
        assert!(charge(&store, &p, "r", Kind::Daily(3), 100 + DAY)
            .unwrap()
            .is_ok());
    }
}
