//! Encrypted local state.
//!
//! Everything the SDK keeps on a device (its identity, MLS group state, room content keys) goes
//! through one [`KvStore`]: a key-value store whose only write is an atomic batch
//! ([`KvStore::commit`]). On top of it, [`EncryptedStore`] encrypts every value with
//! ChaCha20-Poly1305 under the device [`StorageKey`], with a fresh random 96-bit nonce per value
//! and the entry's name as associated data, so a value cannot be moved to another name.
//!
//! Implementations: [`MemoryKv`] (tests, ephemeral sessions), `FileKv` (feature `fs`, on by
//! default: an append-only, checksummed log that survives a crash at any point) and
//! [`HostKv`], which wraps a [`HostStorage`] the WASM layer backs with IndexedDB and the mobile
//! layers with files.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::primitives::{Aead, SecretKey};
use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

#[cfg(feature = "fs")]
mod file;
mod host;

#[cfg(feature = "fs")]
pub use file::FileKv;
pub use host::{HostKv, HostStorage};

/// Why the local state could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum StateError {
    /// The underlying file system failed.
    Io(std::io::Error),
    /// A stored value failed to decrypt or authenticate (wrong storage key or tampered data).
    Decrypt,
    /// The store's bytes do not have the expected structure (not a torn write: real damage).
    Corrupt,
    /// The host-provided store reported a failure (the message comes from the host).
    Host(String),
    /// The state was written in another state format than this SDK reads (see [`STATE_FORMAT`]).
    UnsupportedFormat {
        /// The format the store holds (1 for stores written before the format marker existed).
        found: u32,
        /// The format this SDK reads and writes.
        supported: u32,
    },
}

/// The format of everything a device persists (the encodings of the client's, the rooms' and
/// openmls's values; not the value encryption, which has its own version byte). Written as the
/// value of [`STATE_FORMAT_KEY`] when a device is created and checked when it is opened.
///
/// Bump it whenever a persisted encoding changes in a way the previous SDK cannot read or the
/// new SDK cannot read back; stores without the marker are format 1. An SDK refuses any other
/// format with [`StateError::UnsupportedFormat`] (never by misreading it as corrupt data); the
/// device is then linked again (and its recovery backup restored, if one exists).
///
/// History: 1 = openmls state in JSON (`openmls_memory_storage`); 2 = openmls state in postcard
/// (`room::storage::SdkStorage`).
pub const STATE_FORMAT: u32 = 2;

/// The store name under which [`STATE_FORMAT`] is kept (4 bytes, little-endian u32).
pub const STATE_FORMAT_KEY: &str = "format";

/// Reads the store's format marker: [`STATE_FORMAT`] is `Ok`, anything else is
/// [`StateError::UnsupportedFormat`] (a missing marker is format 1).
pub fn check_format(store: &EncryptedStore) -> Result<(), StateError> {
    let found = match store.get(STATE_FORMAT_KEY)? {
        None => 1,
        Some(bytes) => {
            let raw: [u8; 4] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StateError::Corrupt)?;
            u32::from_le_bytes(raw)
        }
    };
    if found == STATE_FORMAT {
        Ok(())
    } else {
        Err(StateError::UnsupportedFormat {
            found,
            supported: STATE_FORMAT,
        })
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "state i/o error: {e}"),
            Self::Decrypt => write!(f, "stored value could not be decrypted"),
            Self::Corrupt => write!(f, "state store is corrupt"),
            Self::Host(m) => write!(f, "host state store failed: {m}"),
            Self::UnsupportedFormat { found, supported } => write!(
                f,
                "this device's state is in format {found} and this SDK reads format {supported}: \
                 link the device again (and restore its recovery backup, if it has one)"
            ),
        }
    }
}

impl std::error::Error for StateError {}

impl From<std::io::Error> for StateError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// One write of a batch: `Some(value)` stores, `None` deletes.
pub type BatchEntry = (String, Option<Vec<u8>>);

/// A key-value store with atomic batch commit.
///
/// Contract: after `commit` returns `Ok`, the whole batch is durable; if it returns `Err` or the
/// process dies during it, a later reader sees either the whole batch or none of it.
pub trait KvStore: Send {
    /// The value stored under `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// All keys starting with `prefix`, in ascending order.
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError>;
    /// Applies every entry of `batch` atomically.
    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError>;
}

impl KvStore for Box<dyn KvStore> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        (**self).keys(prefix)
    }
    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        (**self).commit(batch)
    }
}

/// An in-memory store. Clones share the same map, so a test can "reopen" a device from a clone.
#[derive(Clone, Default)]
pub struct MemoryKv {
    map: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>>, StateError> {
        self.map
            .lock()
            .map_err(|_| StateError::Host("memory store lock poisoned".into()))
    }

    /// A deep copy (not sharing the map): a snapshot of the store at this moment.
    pub fn snapshot(&self) -> Result<Self, StateError> {
        let map = self.lock()?.clone();
        Ok(Self {
            map: Arc::new(Mutex::new(map)),
        })
    }
}

impl fmt::Debug for MemoryKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKv").finish_non_exhaustive()
    }
}

impl KvStore for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .lock()?
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        let mut map = self.lock()?;
        for (k, v) in batch {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }
}

/// The device storage key: 32 bytes that encrypt every value at rest.
///
/// The host keeps it in the platform's key store (Keychain, Android Keystore, a non-extractable
/// WebCrypto-wrapped blob) and hands it to the SDK on open.
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key from the OS generator.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// Copies the key bytes out (for the host to store them in its key store).
    pub fn expose_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl Drop for StorageKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

const VALUE_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// A [`KvStore`] whose values are encrypted under a [`StorageKey`].
///
/// Value encoding: `0x01 || nonce (12 bytes) || ChaCha20-Poly1305(value, aad = "sealroom-state-v1:" || name)`.
pub struct EncryptedStore {
    kv: Box<dyn KvStore>,
    cipher: Aead,
}

impl fmt::Debug for EncryptedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStore").finish_non_exhaustive()
    }
}

fn aad(name: &str) -> Vec<u8> {
    let mut a = b"sealroom-state-v1:".to_vec();
    a.extend_from_slice(name.as_bytes());
    a
}

impl EncryptedStore {
    /// Opens `kv` with `key`.
    pub fn new(kv: Box<dyn KvStore>, key: &StorageKey) -> Self {
        Self {
            kv,
            cipher: Aead::new(&SecretKey::from_bytes(key.0)),
        }
    }

    /// Decrypts the value stored under `name`.
    pub fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StateError> {
        let Some(stored) = self.kv.get(name)? else {
            return Ok(None);
        };
        self.open(name, &stored).map(Some)
    }

    /// All names starting with `prefix`.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        self.kv.keys(prefix)
    }

    fn open(&self, name: &str, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, StateError> {
        match stored.first() {
            Some(&VALUE_VERSION) => {}
            _ => return Err(StateError::Decrypt),
        }
        let Some((nonce, ct)) = stored[1..].split_first_chunk::<NONCE_LEN>() else {
            return Err(StateError::Decrypt);
        };
        self.cipher
            .open(nonce, &aad(name), ct)
            .map(Zeroizing::new)
            .map_err(|_| StateError::Decrypt)
    }

    fn seal(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StateError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .seal(&nonce, &aad(name), value)
            .map_err(|_| StateError::Corrupt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VALUE_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Encrypts and commits `batch` atomically.
    pub fn commit(&mut self, batch: Batch) -> Result<(), StateError> {
        let mut sealed = Vec::with_capacity(batch.entries.len());
        for (name, value) in &batch.entries {
            let v = match value {
                Some(v) => Some(self.seal(name, v)?),
                None => None,
            };
            sealed.push((name.clone(), v));
        }
        self.kv.commit(sealed)
    }
}

/// Plaintext changes collected during one SDK operation, committed as one atomic batch.
#[derive(Default)]
pub struct Batch {
    entries: Vec<(String, Option<Zeroizing<Vec<u8>>>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` under `name`.
    pub fn put(&mut self, name: impl Into<String>, value: Vec<u8>) {
        self.entries
            .push((name.into(), Some(Zeroizing::new(value))));
    }

    /// Deletes `name`.
    pub fn delete(&mut self, name: impl Into<String>) {
        self.entries.push((name.into(), None));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_round_trip_and_binding() {
        let kv = MemoryKv::new();
        let key = StorageKey::from_bytes([7; 32]);
        let mut store = EncryptedStore::new(Box::new(kv.clone()), &key);
        let mut b = Batch::new();
        b.put("a", b"secret".to_vec());
        b.put("b", b"other".to_vec());
        store.commit(b).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().as_slice(), b"secret");
        let raw = kv.get("a").unwrap().unwrap();
        assert!(!raw.windows(6).any(|w| w == b"secret"));
        // Moving a value to another name fails to authenticate.
        let mut kv2 = kv.clone();
        kv2.commit(vec![("b".into(), Some(raw))]).unwrap();
        assert!(matches!(store.get("b"), Err(StateError::Decrypt)));
        // The wrong key fails.
        let other = EncryptedStore::new(Box::new(kv), &StorageKey::from_bytes([8; 32]));
        assert!(matches!(other.get("a"), Err(StateError::Decrypt)));
        assert_eq!(
            store.keys("").unwrap(),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}
