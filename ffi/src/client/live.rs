//! Live events for Kotlin and Swift (a third `#[uniffi::export] impl` of [`SealroomClient`]):
//! `next_events` blocks until the relay's long poll announces something and returns the
//! events its sync produced (core's `SealroomClient::next_events`: reconnects with back-off
//! and jitter, cursor kept in the state directory). The host loops on it on a background
//! thread (`while (running) { handle(client.nextEvents(30_000u)) }`); the timeout bounds how
//! long a stop takes. See `docs/client.md`, "Live events".

use std::time::Duration;

use sealroom_core::client as core;

use super::{ClientEvent, SealroomClient, SealroomError};

/// How the live loop waits and reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct LiveOptions {
    /// Seconds one long poll may wait on the relay (1 to 30; default 25).
    pub wait_secs: u64,
    /// Seconds between full syncs of every room (default 120; 0: before every poll).
    pub full_sync_secs: u64,
    /// First pause after a failed poll, milliseconds (default 250).
    pub min_backoff_ms: u64,
    /// Longest pause between reconnects, milliseconds (default 30000).
    pub max_backoff_ms: u64,
}

#[uniffi::export]
impl SealroomClient {
    /// Sets how the live loop waits and reconnects.
    pub fn set_live_options(&self, options: LiveOptions) -> Result<(), SealroomError> {
        Ok(self.client.set_live_options(core::LiveOptions {
            wait_secs: options.wait_secs,
            full_sync_secs: options.full_sync_secs,
            min_backoff: Duration::from_millis(options.min_backoff_ms),
            max_backoff: Duration::from_millis(options.max_backoff_ms),
        })?)
    }

    /// Blocks until something changed for this device and returns it (never empty), or until
    /// `timeout_ms` passed (0: no limit) and returns an empty list. Nothing is lost by a
    /// timeout: the next call continues from the stored cursor. Transport failures, 429 and
    /// 5xx are retried inside; other errors are thrown (e.g. not registered).
    pub fn next_events(&self, timeout_ms: u64) -> Result<Vec<ClientEvent>, SealroomError> {
        if timeout_ms == 0 {
            self.block(self.client.next_events())
        } else {
            let limit = Duration::from_millis(timeout_ms);
            match self
                .runtime
                .block_on(async { tokio::time::timeout(limit, self.client.next_events()).await })
            {
                Ok(result) => Ok(result?),
                Err(_elapsed) => Ok(Vec::new()),
            }
        }
    }
}
