//! Thin, tested wrappers over the cryptographic primitives core uses.
//!
//! Every other module of core reaches ChaCha20-Poly1305, HKDF-SHA256, X25519 and Ed25519
//! through this module, so that the Wycheproof suites (`core/tests/wycheproof.rs`) exercise the
//! exact code paths the SDK runs. The API is deliberately small:
//!
//! - [`Aead`]: ChaCha20-Poly1305 (RFC 8439) with a 96-bit nonce; one-shot and in-place forms.
//! - [`hkdf_sha256`] / [`hkdf_sha256_key`]: HKDF-SHA256 (RFC 5869), extract then expand with
//!   an `info` label. Every derivation in Sealroom uses its own label.
//! - [`X25519Secret::diffie_hellman`]: X25519 (RFC 7748) that **rejects the all-zero shared
//!   secret** (a low-order or otherwise non-contributory public key), in constant time.
//! - [`ed25519_sign`] / [`ed25519_verify`]: Ed25519 (RFC 8032); verification is *strict*
//!   (rejects non-canonical `S`, small-order `R` and small-order public keys).
//!
//! Secret outputs are [`SecretKey`] values: zeroized on drop, no `Debug`, bytes only through
//! [`SecretKey::expose_bytes`].
//!
//! ```
//! use sealroom_core::primitives::{hkdf_sha256_key, Aead, X25519Secret};
//!
//! let alice = X25519Secret::from_bytes([1u8; 32]);
//! let bob = X25519Secret::from_bytes([2u8; 32]);
//! let shared = alice.diffie_hellman(&bob.public_key()).unwrap();
//! let key = hkdf_sha256_key(b"salt", shared.expose_bytes(), b"example/v1/key");
//! let aead = Aead::new(&key);
//! let sealed = aead.seal(&[0u8; 12], b"aad", b"hello").unwrap();
//! assert_eq!(aead.open(&[0u8; 12], b"aad", &sealed).unwrap(), b"hello");
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length in bytes of a ChaCha20-Poly1305 key.
pub const AEAD_KEY_LEN: usize = 32;
/// Length in bytes of a ChaCha20-Poly1305 nonce.
pub const AEAD_NONCE_LEN: usize = 12;
/// Length in bytes of a ChaCha20-Poly1305 authentication tag.
pub const AEAD_TAG_LEN: usize = 16;
/// Largest output HKDF-SHA256 can produce (255 blocks of 32 bytes).
pub const HKDF_SHA256_MAX_OUTPUT: usize = 255 * 32;
/// Length in bytes of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// Errors of the primitive wrappers.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrimitiveError {
    /// AEAD decryption failed: wrong key, nonce or associated data, or a modified ciphertext or
    /// tag. Deliberately says nothing more.
    #[error("decryption failed")]
    Decrypt,
    /// X25519 produced the all-zero shared secret: the peer's public key has low order.
    #[error("X25519 shared secret is all zero (non-contributory public key)")]
    NonContributory,
    /// An Ed25519 signature did not verify under strict rules (or the key was invalid).
    #[error("invalid signature")]
    BadSignature,
    /// An input or a requested output has a length the primitive cannot accept.
    #[error("invalid length")]
    InvalidLength,
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable")]
    Random,
}

/// 32 secret bytes: a symmetric key, an HKDF output or an X25519 shared secret.
///
/// Zeroized on drop; implements neither `Debug` nor `Display` nor `Serialize`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Wraps 32 bytes the caller already holds (the caller should zeroize its copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Draws 32 fresh bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, PrimitiveError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Borrows the secret bytes. Callers must not log or persist them unprotected.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Fills `out` from the operating system's CSPRNG.
pub fn fill_random(out: &mut [u8]) -> Result<(), PrimitiveError> {
    OsRng
        .try_fill_bytes(out)
        .map_err(|_| PrimitiveError::Random)
}

/// ChaCha20-Poly1305 (RFC 8439) under one key.
///
/// Natively this is the `chacha20poly1305` crate (AVX2/NEON ChaCha20); in WASM with `simd128`
/// it is `sealroom_chacha` (the crate has no `simd128` backend, and its portable one ran at a tenth
/// of Poly1305's speed there). Both are the same AEAD byte for byte. The key schedule is held in
/// memory and zeroized on drop.
#[derive(Clone)]
pub struct Aead {
    cipher: imp::Cipher,
}

impl Aead {
    /// Prepares the cipher for `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: imp::Cipher::new(key.expose_bytes()),
        }
    }

    /// Encrypts `plaintext` and returns `ciphertext || tag` (`plaintext.len() + 16` bytes).
    pub fn seal(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PrimitiveError> {
        let mut out = Vec::with_capacity(plaintext.len() + AEAD_TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place(nonce, aad, &mut out)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Verifies and decrypts `ciphertext || tag`. Returns the plaintext only if the tag verifies.
    pub fn open(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, PrimitiveError> {
        let Some((ciphertext, tag)) = sealed.split_last_chunk::<AEAD_TAG_LEN>() else {
            return Err(PrimitiveError::Decrypt);
        };
        let mut out = ciphertext.to_vec();
        self.open_in_place(nonce, aad, &mut out, tag)?;
        Ok(out)
    }

    /// Encrypts `buf` in place and returns the detached tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], PrimitiveError> {
        self.cipher
            .seal_in_place(nonce, aad, buf)
            .ok_or(PrimitiveError::InvalidLength)
    }

    /// Verifies `tag` over `buf` and, only if it verifies, decrypts `buf` in place.
    ///
    /// On failure `buf` is left holding the ciphertext, never unauthenticated plaintext.
    pub fn open_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), PrimitiveError> {
        if self.cipher.open_in_place(nonce, aad, buf, tag) {
            Ok(())
        } else {
            Err(PrimitiveError::Decrypt)
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

    #[derive(Clone)]
    pub(super) struct Cipher(ChaCha20Poly1305);

    impl Cipher {
        pub(super) fn new(key: &[u8; 32]) -> Self {
            Self(ChaCha20Poly1305::new(Key::from_slice(key)))
        }
        pub(super) fn seal_in_place(
            &self,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
        ) -> Option<[u8; 16]> {
            self.0
                .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
                .ok()
                .map(Into::into)
        }
        pub(super) fn open_in_place(
            &self,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 16],
        ) -> bool {
            self.0
                .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
                .is_ok()
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use sealroom_chacha::ChaCha20Poly1305;

    #[derive(Clone)]
    pub(super) struct Cipher(ChaCha20Poly1305);

    impl Cipher {
        pub(super) fn new(key: &[u8; 32]) -> Self {
            Self(ChaCha20Poly1305::new(key))
        }
        pub(super) fn seal_in_place(
            &self,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
        ) -> Option<[u8; 16]> {
            self.0.encrypt_in_place_detached(nonce, aad, buf).ok()
        }
        pub(super) fn open_in_place(
            &self,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 16],
        ) -> bool {
            self.0
                .decrypt_in_place_detached(nonce, aad, buf, tag)
                .is_ok()
        }
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` (an empty salt means 32 zero bytes), then expand
/// with `info` into `okm`.
///
/// Fails with [`PrimitiveError::InvalidLength`] if `okm` is longer than
/// [`HKDF_SHA256_MAX_OUTPUT`].
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    okm: &mut [u8],
) -> Result<(), PrimitiveError> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .map_err(|_| PrimitiveError::InvalidLength)
}

/// HKDF-SHA256 deriving one 32-byte key under the `label` (the HKDF `info`).
pub fn hkdf_sha256_key(salt: &[u8], ikm: &[u8], label: &[u8]) -> SecretKey {
    let mut okm = [0u8; 32];
    // Invariant: 32 bytes is far below the 8160-byte HKDF-SHA256 limit, so expand cannot fail;
    // the error arm is unreachable and leaves `okm` untouched.
    let _ = hkdf_sha256(salt, ikm, label, &mut okm);
    let key = SecretKey(okm);
    okm.zeroize();
    key
}

/// An X25519 static secret (RFC 7748). Zeroized on drop, no `Debug`.
pub struct X25519Secret(x25519_dalek::StaticSecret);

impl X25519Secret {
    /// Draws a fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, PrimitiveError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        let secret = Self::from_bytes(bytes);
        bytes.zeroize();
        Ok(secret)
    }

    /// Wraps 32 secret bytes (clamped by X25519 itself, as RFC 7748 specifies).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(x25519_dalek::StaticSecret::from(bytes))
    }

    /// The public key `X25519(secret, 9)`.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// Copies the secret bytes out (for encrypted storage only).
    pub fn expose_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Computes `X25519(secret, their_public)`.
    ///
    /// Rejects an all-zero result (checked in constant time) with
    /// [`PrimitiveError::NonContributory`]: such a result means the peer sent a low-order point
    /// and the "shared" secret is known to everyone.
    pub fn diffie_hellman(&self, their_public: &[u8; 32]) -> Result<SecretKey, PrimitiveError> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
        if !shared.was_contributory() {
            return Err(PrimitiveError::NonContributory);
        }
        Ok(SecretKey(shared.to_bytes()))
    }
}

/// Signs `message` with Ed25519 (RFC 8032, pure Ed25519).
pub fn ed25519_sign(key: &SigningKey, message: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
    key.sign(message).to_bytes()
}

/// Verifies an Ed25519 signature strictly.
///
/// Rejects a public key that does not decode or has small order, a signature that is not
/// exactly 64 bytes, a non-canonical scalar `S`, a small-order `R`, and any signature that does
/// not verify.
pub fn ed25519_verify(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8],
) -> Result<(), PrimitiveError> {
    let signature: &[u8; ED25519_SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| PrimitiveError::BadSignature)?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| PrimitiveError::BadSignature)?;
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| PrimitiveError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_round_trip_and_tamper() {
        let aead = Aead::new(&SecretKey::from_bytes([7u8; 32]));
        let nonce = [1u8; 12];
        let mut sealed = aead.seal(&nonce, b"ad", b"payload").unwrap();
        assert_eq!(sealed.len(), 7 + AEAD_TAG_LEN);
        assert_eq!(aead.open(&nonce, b"ad", &sealed).unwrap(), b"payload");
        assert_eq!(
            aead.open(&nonce, b"other", &sealed),
            Err(PrimitiveError::Decrypt)
        );
        assert_eq!(
            aead.open(&[2u8; 12], b"ad", &sealed),
            Err(PrimitiveError::Decrypt)
        );
        assert_eq!(
            aead.open(&nonce, b"ad", &sealed[..10]),
            Err(PrimitiveError::Decrypt)
        );
        sealed[0] ^= 1;
        assert_eq!(
            aead.open(&nonce, b"ad", &sealed),
            Err(PrimitiveError::Decrypt)
        );
    }

    #[test]
    fn aead_in_place_leaves_ciphertext_on_failure() {
        let aead = Aead::new(&SecretKey::from_bytes([7u8; 32]));
        let mut buf = *b"in place";
        let tag = aead.seal_in_place(&[0; 12], b"", &mut buf).unwrap();
        let ciphertext = buf;
        let mut bad_tag = tag;
        bad_tag[15] ^= 0x80;
        assert!(aead
            .open_in_place(&[0; 12], b"", &mut buf, &bad_tag)
            .is_err());
        assert_eq!(buf, ciphertext);
        aead.open_in_place(&[0; 12], b"", &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"in place");
    }

    #[test]
    fn x25519_agrees_and_rejects_zero() {
        let a = X25519Secret::generate().unwrap();
        let b = X25519Secret::generate().unwrap();
        let ab = a.diffie_hellman(&b.public_key()).unwrap();
        let ba = b.diffie_hellman(&a.public_key()).unwrap();
        assert_eq!(ab.expose_bytes(), ba.expose_bytes());
        // The identity (u = 0) and u = 1 are low-order points.
        assert!(matches!(
            a.diffie_hellman(&[0u8; 32]),
            Err(PrimitiveError::NonContributory)
        ));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(matches!(
            a.diffie_hellman(&one),
            Err(PrimitiveError::NonContributory)
        ));
    }

    #[test]
    fn hkdf_labels_separate_and_limits() {
        let k1 = hkdf_sha256_key(b"salt", b"ikm", b"a");
        let k2 = hkdf_sha256_key(b"salt", b"ikm", b"b");
        assert_ne!(k1.expose_bytes(), k2.expose_bytes());
        let mut big = vec![0u8; HKDF_SHA256_MAX_OUTPUT + 1];
        assert_eq!(
            hkdf_sha256(b"", b"ikm", b"", &mut big),
            Err(PrimitiveError::InvalidLength)
        );
        let mut max = vec![0u8; HKDF_SHA256_MAX_OUTPUT];
        hkdf_sha256(b"", b"ikm", b"", &mut max).unwrap();
    }

    #[test]
    fn ed25519_sign_verify_strict() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = key.verifying_key().to_bytes();
        let sig = ed25519_sign(&key, b"msg");
        ed25519_verify(&public, b"msg", &sig).unwrap();
        assert_eq!(
            ed25519_verify(&public, b"msh", &sig),
            Err(PrimitiveError::BadSignature)
        );
        assert_eq!(
            ed25519_verify(&public, b"msg", &sig[..63]),
            Err(PrimitiveError::BadSignature)
        );
        // Small-order public key (the identity point) is rejected by strict verification.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            ed25519_verify(&identity, b"msg", &sig),
            Err(PrimitiveError::BadSignature)
        );
    }
}
