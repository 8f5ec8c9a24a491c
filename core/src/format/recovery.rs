//! The recovery-backup container (specified in `docs/format.md`, "Recovery backups"): a
//! byte string sealed under a key derived from a passphrase with Argon2id, bound to the user
//! it belongs to.
//!
//! Layout: `"SRRB" | version 1 | m_kib | t | p (u32 BE each) | salt (16) | nonce (12) |
//! ChaCha20-Poly1305(plaintext)`, key = Argon2id v0x13 (passphrase, salt, m_kib, t, p) with a
//! 32-byte output, associated data = the 45-byte header followed by the user id (UTF-8). A
//! backup moved to another user, or with its cost parameters lowered, does not open.
//!
//! What goes inside (the client's JSON bundle of room keys, file index and messages) is the
//! client's business (`crate::client`); this module only seals and opens bytes.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use sealroom_wire::recovery::{RECOVERY_HEADER_LEN, RECOVERY_MAGIC};

use crate::primitives::{self, Aead, SecretKey, AEAD_TAG_LEN};

/// The container version this module writes and reads.
pub const RECOVERY_VERSION: u8 = 1;
/// Salt length in bytes.
pub const RECOVERY_SALT_LEN: usize = 16;
/// Nonce length in bytes.
pub const RECOVERY_NONCE_LEN: usize = 12;

/// Argon2id cost parameters of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl RecoveryParams {
    /// The cost of new backups: 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// Opening refuses any parameter above these (1 GiB, 16 passes, 8 lanes) before doing any
    /// work: a hostile relay could otherwise make a device spend gigabytes or hours on a forged
    /// backup.
    pub const MAX: Self = Self {
        m_kib: 1024 * 1024,
        t_cost: 16,
        p_cost: 8,
    };

    fn within_max(&self) -> bool {
        self.m_kib <= Self::MAX.m_kib
            && self.t_cost <= Self::MAX.t_cost
            && self.p_cost <= Self::MAX.p_cost
    }
}

/// Why a backup could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// Too short to be a backup, or it does not start with `SRRB`.
    #[error("not a recovery backup")]
    NotRecovery,
    /// A container version this implementation does not know.
    #[error("unsupported recovery backup version {0}")]
    UnsupportedVersion(u8),
    /// A cost parameter is above [`RecoveryParams::MAX`]; refused before any work.
    #[error("the recovery backup asks for excessive key-derivation cost")]
    ExcessiveCost,
    /// Argon2 refuses the cost parameters (for example memory below 8 KiB per lane).
    #[error("invalid recovery key-derivation parameters")]
    InvalidParameters,
    /// Decryption failed: wrong passphrase, another user's backup, or modified bytes
    /// (header included). Deliberately says nothing about which.
    #[error("the recovery backup does not open with this passphrase")]
    Decrypt,
    /// Sealing: the plaintext is too large for one AEAD message.
    #[error("recovery backup too large")]
    TooLarge,
    /// The operating system's random number generator failed.
    #[error("random number generator failure")]
    Random,
}

/// Derives the 32-byte container key.
fn derive_key(
    passphrase: &str,
    salt: &[u8],
    params: RecoveryParams,
) -> Result<Zeroizing<[u8; 32]>, RecoveryError> {
    let argon_params = Params::new(params.m_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| RecoveryError::InvalidParameters)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| RecoveryError::InvalidParameters)?;
    Ok(key)
}

fn aad(header: &[u8], user_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + user_id.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

/// Seals `plaintext` for `user_id` under `passphrase` with [`RecoveryParams::DEFAULT`] and a
/// fresh random salt and nonce. Takes about a second (64 MiB Argon2id).
pub fn seal(passphrase: &str, user_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, RecoveryError> {
    let mut salt = [0u8; RECOVERY_SALT_LEN];
    let mut nonce = [0u8; RECOVERY_NONCE_LEN];
    primitives::fill_random(&mut salt).map_err(|_| RecoveryError::Random)?;
    primitives::fill_random(&mut nonce).map_err(|_| RecoveryError::Random)?;
    seal_with(
        passphrase,
        user_id,
        plaintext,
        RecoveryParams::DEFAULT,
        &salt,
        &nonce,
    )
}

/// [`seal`] with chosen parameters, salt and nonce. Test-only (feature `test-vectors`):
/// deterministic test vectors.
#[cfg(feature = "test-vectors")]
pub fn seal_with_salt(
    passphrase: &str,
    user_id: &str,
    plaintext: &[u8],
    params: RecoveryParams,
    salt: &[u8; RECOVERY_SALT_LEN],
    nonce: &[u8; RECOVERY_NONCE_LEN],
) -> Result<Vec<u8>, RecoveryError> {
    seal_with(passphrase, user_id, plaintext, params, salt, nonce)
}

fn seal_with(
    passphrase: &str,
    user_id: &str,
    plaintext: &[u8],
    params: RecoveryParams,
    salt: &[u8; RECOVERY_SALT_LEN],
    nonce: &[u8; RECOVERY_NONCE_LEN],
) -> Result<Vec<u8>, RecoveryError> {
    let key = derive_key(passphrase, salt, params)?;
    let mut out = Vec::with_capacity(RECOVERY_HEADER_LEN + plaintext.len() + AEAD_TAG_LEN);
    out.extend_from_slice(RECOVERY_MAGIC);
    out.push(RECOVERY_VERSION);
    for v in [params.m_kib, params.t_cost, params.p_cost] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(salt);
    out.extend_from_slice(nonce);
    let ct = Aead::new(&SecretKey::from_bytes(*key))
        .seal(nonce, &aad(&out, user_id), plaintext)
        .map_err(|_| RecoveryError::TooLarge)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The cost parameters a sealed backup declares (not yet authenticated), or why it is not a
/// backup this implementation reads.
pub fn params_of(sealed: &[u8]) -> Result<RecoveryParams, RecoveryError> {
    if sealed.len() < RECOVERY_HEADER_LEN + AEAD_TAG_LEN || !sealed.starts_with(RECOVERY_MAGIC) {
        return Err(RecoveryError::NotRecovery);
    }
    match sealed[4] {
        RECOVERY_VERSION => {}
        other => return Err(RecoveryError::UnsupportedVersion(other)),
    }
    let word = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&sealed[at..at + 4]);
        u32::from_be_bytes(b)
    };
    Ok(RecoveryParams {
        m_kib: word(5),
        t_cost: word(9),
        p_cost: word(13),
    })
}

/// Opens a sealed backup of `user_id` with `passphrase`. Parameters above
/// [`RecoveryParams::MAX`] are refused before the key derivation runs.
pub fn open(
    passphrase: &str,
    user_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, RecoveryError> {
    let params = params_of(sealed)?;
    if !params.within_max() {
        return Err(RecoveryError::ExcessiveCost);
    }
    let salt = &sealed[17..17 + RECOVERY_SALT_LEN];
    let mut nonce = [0u8; RECOVERY_NONCE_LEN];
    nonce.copy_from_slice(&sealed[33..33 + RECOVERY_NONCE_LEN]);
    let header = &sealed[..RECOVERY_HEADER_LEN];
    let key = derive_key(passphrase, salt, params)?;
    let plain = Aead::new(&SecretKey::from_bytes(*key))
        .open(
            &nonce,
            &aad(header, user_id),
            &sealed[RECOVERY_HEADER_LEN..],
        )
        .map_err(|_| RecoveryError::Decrypt)?;
    Ok(Zeroizing::new(plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: RecoveryParams = RecoveryParams {
        m_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn seal_and_open_round_trip_and_bind_the_user() {
        let sealed = seal("correct horse battery", "u1", b"history").unwrap();
        assert_eq!(&sealed[..4], RECOVERY_MAGIC);
        assert_eq!(params_of(&sealed).unwrap(), RecoveryParams::DEFAULT);
        assert_eq!(
            open("correct horse battery", "u1", &sealed)
                .unwrap()
                .as_slice(),
            b"history"
        );
        assert_eq!(
            open("wrong horse battery!", "u1", &sealed),
            Err(RecoveryError::Decrypt)
        );
        // Moved to another user: does not open.
        assert_eq!(
            open("correct horse battery", "u2", &sealed),
            Err(RecoveryError::Decrypt)
        );
        // Lowered cost parameters are authenticated too.
        let mut weaker = sealed.clone();
        weaker[8] = 1;
        assert!(open("correct horse battery", "u1", &weaker).is_err());
        // Excessive cost is refused before any work.
        let mut costly = sealed.clone();
        costly[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            open("correct horse battery", "u1", &costly),
            Err(RecoveryError::ExcessiveCost)
        );
        assert_eq!(
            open("correct horse battery", "u1", &sealed[..40]),
            Err(RecoveryError::NotRecovery)
        );
    }

    #[test]
    fn version_and_parameters_are_checked() {
        let sealed = seal_with("passphrase 1234", "u", b"x", CHEAP, &[1; 16], &[2; 12]).unwrap();
        let mut v2 = sealed.clone();
        v2[4] = 2;
        assert_eq!(
            open("passphrase 1234", "u", &v2),
            Err(RecoveryError::UnsupportedVersion(2))
        );
        let mut zero_lanes = sealed.clone();
        zero_lanes[13..17].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            open("passphrase 1234", "u", &zero_lanes),
            Err(RecoveryError::InvalidParameters)
        );
        assert_eq!(
            open("passphrase 1234", "u", &sealed).unwrap().as_slice(),
            b"x"
        );
    }
}
