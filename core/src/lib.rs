//! Sealroom SDK core.
//!
//! Everything cryptographic in Sealroom lives here: the sealed-file format ([`format`]),
//! device identities, MLS rooms and the encrypted local state. The crate performs no network
//! I/O and has no async runtime; hosts (the WASM and uniffi layers, Rust apps) move bytes.
#![forbid(unsafe_code)]

pub mod format;
pub mod identity;
pub mod primitives;
pub mod room;
pub mod state;
