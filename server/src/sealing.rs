//! The relay key and relay secrets sealed at rest.
//!
//! Relay-side secrets (TOTP secrets, the audit signing key) are stored only sealed with
//! ChaCha20-Poly1305 under a key derived from the *relay key*, a 32-byte key kept in a file
//! outside the data directory (`relay_key_file`, default `<data_dir>.relay-key`). A copy of the
//! data directory or a backup file therefore holds no usable secret without that file.
//!
//! Key file: 64 lower- or upper-case hex characters (an optional trailing newline), mode 0600.
//! At start the relay creates it (mode 0600) when it is absent, and refuses to start when it has
//! group or other permissions or is not exactly 32 bytes of hex.
//!
//! Sealed value: `"SRS1"` ‖ key id (8 bytes: the first 8 bytes of SHA-256 of the relay key) ‖
//! nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes). The AEAD key is
//! HKDF-SHA256(ikm = relay key, salt = empty, info = `"sealroom relay seal v1"`); the associated
//! data is `"SRS1"` ‖ purpose ‖ 0x00 ‖ context, so a sealed value moved to another record or
//! another purpose does not open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// Magic and version of a sealed value.
pub const SEALED_MAGIC: &[u8; 4] = b"SRS1";
/// Length of the relay key.
pub const RELAY_KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HKDF_INFO: &[u8] = b"sealroom relay seal v1";

/// Why the relay key could not be loaded or a value not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key file could not be read, created or written.
    #[error("relay key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is readable or writable by group or others.
    #[error("relay key file {path} has mode {mode:o}; it must be 0600 (chmod 600)")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold exactly 32 bytes of hex.
    #[error("relay key file {path} must hold 64 hex characters (32 bytes)")]
    Length {
        /// The file.
        path: PathBuf,
    },
    /// The key file lies inside the data directory.
    #[error("relay key file {path} must not be inside the data directory")]
    InsideDataDir {
        /// The file.
        path: PathBuf,
    },
    /// A sealed value does not open under this key (wrong key, tampered, moved or not sealed).
    #[error("a sealed relay secret does not open under the relay key")]
    Open,
}

/// The relay key. Zeroized on drop; never printed.
pub struct RelayKey {
    aead: Zeroizing<[u8; 32]>,
    id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for RelayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayKey")
            .field("id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

impl RelayKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; RELAY_KEY_LEN]) -> Self {
        let mut aead = Zeroizing::new([0u8; 32]);
        // HKDF-SHA256 expands to 32 bytes, far below its 255·32-byte limit: cannot fail.
        let hk = Hkdf::<Sha256>::new(None, bytes);
        if hk.expand(HKDF_INFO, aead.as_mut()).is_err() {
            aead.copy_from_slice(&Sha256::digest(bytes));
        }
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&Sha256::digest(bytes)[..KEY_ID_LEN]);
        Self { aead, id }
    }

    /// The key id (first 8 bytes of SHA-256 of the key), hex: names the key in logs and docs.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// Loads the key file, refusing loose permissions and wrong lengths.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::Io {
            path: path.to_path_buf(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SealError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let mut bytes = Zeroizing::new([0u8; RELAY_KEY_LEN]);
        hex::decode_to_slice(text.trim_end_matches(['\n', '\r']), bytes.as_mut()).map_err(
            |_| SealError::Length {
                path: path.to_path_buf(),
            },
        )?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Loads the key file, creating it (mode 0600, 32 random bytes) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        if !path.exists() {
            let mut bytes = Zeroizing::new([0u8; RELAY_KEY_LEN]);
            rand_core::OsRng.fill_bytes(bytes.as_mut());
            write_key_file(path, &bytes)?;
            tracing::warn!(file = %path.display(), "created a new relay key; keep it with (but apart from) the backups");
        }
        Self::load(path)
    }

    /// Seals `plaintext` for `purpose` (e.g. `"totp"`) bound to `context` (e.g. a user id).
    pub fn seal(&self, purpose: &str, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand_core::OsRng.fill_bytes(&mut nonce);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.aead.as_ref()));
        let aad = aad(purpose, context);
        let mut out = Vec::with_capacity(4 + KEY_ID_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(SEALED_MAGIC);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        // Encryption with ChaCha20-Poly1305 fails only for inputs beyond 256 GiB.
        if let Ok(ct) = cipher.encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        ) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// Opens a value sealed by [`RelayKey::seal`] with the same purpose and context.
    pub fn open(
        &self,
        purpose: &str,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let header = 4 + KEY_ID_LEN + NONCE_LEN;
        if sealed.len() < header + TAG_LEN || &sealed[..4] != SEALED_MAGIC {
            return Err(SealError::Open);
        }
        if sealed[4..4 + KEY_ID_LEN] != self.id {
            return Err(SealError::Open);
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(self.aead.as_ref()));
        let aad = aad(purpose, context);
        cipher
            .decrypt(
                Nonce::from_slice(&sealed[4 + KEY_ID_LEN..header]),
                Payload {
                    msg: &sealed[header..],
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

/// Loads (or at first start creates) the configured relay key, refusing a key file inside the
/// data directory.
pub fn load_for(config: &Config) -> Result<RelayKey, SealError> {
    let path = config.relay_key_path();
    check_outside(&path, &config.data_dir)?;
    RelayKey::load_or_create(&path)
}

/// The relay key of a running relay (stored by [`crate::run`] at start).
pub fn relay_key(state: &AppState) -> Result<Arc<RelayKey>, ApiError> {
    state
        .extension::<RelayKey>()
        .ok_or_else(|| ApiError::internal("relay key", &"not loaded"))
}

fn aad(purpose: &str, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(4 + purpose.len() + 1 + context.len());
    aad.extend_from_slice(SEALED_MAGIC);
    aad.extend_from_slice(purpose.as_bytes());
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

/// Writes a key file (mode 0600, created new: an existing file is never overwritten).
pub fn write_key_file(path: &Path, key: &[u8; RELAY_KEY_LEN]) -> Result<(), SealError> {
    use std::io::Write as _;
    let io = |source| SealError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(key)));
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Refuses a key file inside the data directory.
pub fn check_outside(path: &Path, data_dir: &Path) -> Result<(), SealError> {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .components()
            .collect::<PathBuf>()
    };
    if abs(path).starts_with(abs(data_dir)) {
        return Err(SealError::InsideDataDir {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = RelayKey::from_bytes(&[7u8; 32]);
        let sealed = key.seal("totp", b"user-1", b"secret bytes");
        assert!(!sealed.windows(12).any(|w| w == b"secret bytes"));
        assert_eq!(
            key.open("totp", b"user-1", &sealed).unwrap().as_slice(),
            b"secret bytes"
        );
        assert!(key.open("totp", b"user-2", &sealed).is_err());
        assert!(key.open("audit", b"user-1", &sealed).is_err());
        let other = RelayKey::from_bytes(&[8u8; 32]);
        assert!(other.open("totp", b"user-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open("totp", b"user-1", &tampered).is_err());
    }

    #[test]
    fn key_file_is_created_0600_and_loose_or_short_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.key");
        let a = RelayKey::load_or_create(&path).unwrap();
        let b = RelayKey::load(&path).unwrap();
        assert_eq!(a.id_hex(), b.id_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                RelayKey::load(&path),
                Err(SealError::Permissions { .. })
            ));
            let short = dir.path().join("short.key");
            std::fs::write(&short, "abcd\n").unwrap();
            std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(matches!(
                RelayKey::load(&short),
                Err(SealError::Length { .. })
            ));
        }
        assert!(check_outside(&dir.path().join("d/k"), &dir.path().join("d")).is_err());
        assert!(check_outside(&dir.path().join("d.relay-key"), &dir.path().join("d")).is_ok());
    }
}
