//! Recovery backups: the public parts of their layout, which the relay checks before it
//! stores one. The sealing itself (Argon2id, ChaCha20-Poly1305) lives in `sealroom-core`.
//!
//! Layout: `magic (4) | version (1) | argon2 m_kib (4, BE) | t (4, BE) | p (4, BE) |
//! salt (16) | nonce (12) | ciphertext with tag`. Everything before the ciphertext is
//! authenticated as associated data.

use serde::{Deserialize, Serialize};

/// First bytes of every sealed recovery backup.
pub const RECOVERY_MAGIC: &[u8; 4] = b"SRRB";
/// Length of the header before the ciphertext.
pub const RECOVERY_HEADER_LEN: usize = 4 + 1 + 4 + 4 + 4 + 16 + 12;
/// The shortest possible sealed backup (header and an AEAD tag).
pub const RECOVERY_MIN_LEN: usize = RECOVERY_HEADER_LEN + 16;

/// The answer to storing a recovery backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryInfo {
    /// Bytes stored.
    pub length: u64,
}
