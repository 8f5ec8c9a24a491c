//! A fixed-window failure counter per key (source address, user), shared by request
//! authentication and the handlers that verify secrets themselves (setup tokens, TOTP codes).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::ApiError;

/// Fixed-window counter of failures per key (source address, user): once a key reaches the
/// limit within the current minute, it is blocked until the window ends.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

const WINDOW_SECS: i64 = 60;

impl RateLimiter {
    /// A limiter allowing `limit` failures per key and minute.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has used up its failures in the current window.
    pub fn is_blocked(&self, key: &str, now: i64) -> bool {
        self.blocked_for(key, now).is_some()
    }

    /// When `key` has used up its failures in the current window: the seconds until that
    /// window ends (at least 1), for `Retry-After`.
    pub fn blocked_for(&self, key: &str, now: i64) -> Option<u64> {
        let w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match w.get(key) {
            Some((start, count)) if now - start < WINDOW_SECS && *count >= self.limit => {
                Some((start + WINDOW_SECS - now).max(1).unsigned_abs())
            }
            _ => None,
        }
    }

    /// Counts one failure for `key`.
    pub fn record_failure(&self, key: &str, now: i64) {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() > 100_000 {
            w.retain(|_, (start, _)| now - *start < WINDOW_SECS);
        }
        let entry = w.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= WINDOW_SECS {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Checks `key` and, if `failed`, counts a failure: a helper for handlers that verify
    /// something themselves (setup tokens, TOTP codes).
    pub fn guard(&self, key: &str, now: i64) -> Result<(), ApiError> {
        match self.blocked_for(key, now) {
            Some(retry_after) => Err(ApiError::RateLimited { retry_after }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_limit_and_resets_next_window() {
        let l = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(!l.is_blocked("ip:1", 100));
            l.record_failure("ip:1", 100);
        }
        assert!(l.is_blocked("ip:1", 110));
        // Retry-After: the rest of the window that started at 100.
        assert_eq!(l.blocked_for("ip:1", 110), Some(50));
        assert_eq!(l.blocked_for("ip:1", 159), Some(1));
        assert!(!l.is_blocked("ip:2", 110));
        assert!(!l.is_blocked("ip:1", 161));
        l.record_failure("ip:1", 161);
        assert!(!l.is_blocked("ip:1", 161));
    }
}
