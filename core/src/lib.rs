//! Sealroom SDK core.
//!
//! Everything cryptographic in Sealroom lives here: the sealed-file format ([`format`]),
//! device identities, MLS rooms and the encrypted local state, and the [`client`] that ties
//! them to the relay. The crate has no async runtime; the client's HTTP goes through a
//! host-supplied [`client::Transport`] (the feature `http` adds a native one).
#![forbid(unsafe_code)]

// The records and enums that the Kotlin/Swift bindings export as they are (feature `uniffi`,
// on in sealroom-ffi only).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod certificate;
pub mod client;
pub mod format;
pub mod identity;
pub mod primitives;
pub mod room;
pub mod state;
