//! Harness for Sealroom's end-to-end tests: start the real `sealroom-server` binary on a free
//! loopback port with a temporary data directory, talk to it over real HTTP with signed
//! requests, kill and restart it.
//!
//! Modules: [`relay`] (process control, HTTP client, device signing, account helpers),
//! [`cluster`] (three instances on one PostgreSQL), [`backend`] (the relay's storage, embedded or PostgreSQL + S3, read and tampered with directly),
//! [`hostile`] (a tampering proxy in front of the relay), [`raw_member`] (a member with its own
//! MLS state that sends what an honest SDK never would), [`sdk`] (SDK devices with their own
//! stores); [`runtime`], the Tokio runtime the tests drive clients and proxies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod backend;
pub mod cluster;
pub mod hostile;
pub mod raw_member;
pub mod relay;
pub mod rooms;
pub mod sdk;
pub mod smtp;

/// The multi-thread Tokio runtime (two workers) the tests run SDK clients and async code on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
