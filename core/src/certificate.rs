//! Devices vouched for by their user: the per-user identity key, device certificates, the
//! sealed hand-over of the identity key to a newly approved device, and the pinning of other
//! users' identity keys.
//!
//! Every user has one Ed25519 **identity key**, created by the user's first device. Its public
//! half is published on the relay (set once); the secret lives only on the user's devices that
//! were approved by another device of the user, and in the user's recovery backup.
//!
//! A **device certificate** is the identity key's signature over
//!
//! ```text
//! "sealroom-device-certificate-v1" || u32 BE len(user_id) || user_id
//!                                  || u32 BE len(device_id) || device_id || device key (32)
//! ```
//!
//! where the device key is the Ed25519 key of the device's MLS leaf (and relay requests). A
//! device is *verified* for a viewer when a certificate for exactly the key in the MLS tree
//! verifies (strictly) under the identity key the viewer pinned for that user. The relay stores
//! and serves certificates, so it can withhold them (the device shows unverified) but cannot
//! forge them, nor move one device's certificate to another device or key.
//!
//! **Hand-over.** A device asking to be linked sends a one-time X25519 public key with its
//! request. The approving device seals the identity key secret to it:
//! `eph_pub (32) || ChaCha20-Poly1305(key, nonce = 0^12, aad = context, secret (32))` with
//! `key = HKDF-SHA256(salt = eph_pub || kx_pub, ikm = X25519(eph, kx_pub),
//! info = "sealroom-identity-handover-v1")` and `context = request id || 0x00 || user id`.
//! The key is used once, so a fixed nonce is safe.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::identity::SafetyNumber;
use crate::primitives::{ed25519_verify, hkdf_sha256_key, Aead, X25519Secret};

pub use sealroom_wire::accounts::{
    device_certificate_message as certificate_message, DEVICE_CERTIFICATE_LABEL,
};
/// HKDF `info` of the identity key hand-over.
pub const HANDOVER_LABEL: &[u8] = b"sealroom-identity-handover-v1";
/// Length of a sealed hand-over: ephemeral public key, secret, tag.
pub const HANDOVER_LEN: usize = 32 + 32 + 16;

/// A user's identity signing key. Zeroized on drop; neither `Debug`-printed with its secret
/// nor serializable.
pub struct UserIdentityKey {
    signing: SigningKey,
}

impl fmt::Debug for UserIdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserIdentityKey")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl UserIdentityKey {
    /// A fresh random identity key.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// Rebuilds the key from its secret bytes.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// Copies the secret out (for the encrypted device state, the recovery backup and the
    /// sealed hand-over only).
    pub fn expose_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key, published on the relay and pinned by other users.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Certifies that `device_key` is the key of device `device_id` of `user_id`.
    pub fn certify(&self, user_id: &str, device_id: &str, device_key: &[u8; 32]) -> [u8; 64] {
        self.signing
            .sign(&certificate_message(user_id, device_id, device_key))
            .to_bytes()
    }
}

/// Whether `certificate` certifies `device_key` as device `device_id` of `user_id` under the
/// identity key `identity_key` (strict Ed25519 verification).
pub fn verify_certificate(
    identity_key: &[u8; 32],
    user_id: &str,
    device_id: &str,
    device_key: &[u8; 32],
    certificate: &[u8],
) -> bool {
    ed25519_verify(
        identity_key,
        &certificate_message(user_id, device_id, device_key),
        certificate,
    )
    .is_ok()
}

/// [`verify_certificate`] with the key and certificate as hex (as the relay serves them).
pub fn verify_certificate_hex(
    identity_key: &[u8; 32],
    user_id: &str,
    device_id: &str,
    device_key: &[u8; 32],
    certificate_hex: &str,
) -> bool {
    match hex::decode(certificate_hex) {
        Ok(sig) => verify_certificate(identity_key, user_id, device_id, device_key, &sig),
        Err(_) => false,
    }
}

fn handover_context(request_id: &str, user_id: &str) -> Vec<u8> {
    let mut c = Vec::with_capacity(request_id.len() + 1 + user_id.len());
    c.extend_from_slice(request_id.as_bytes());
    c.push(0);
    c.extend_from_slice(user_id.as_bytes());
    c
}

fn handover_key(
    shared: &crate::primitives::SecretKey,
    eph_pub: &[u8; 32],
    kx_pub: &[u8; 32],
) -> crate::primitives::SecretKey {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(kx_pub);
    hkdf_sha256_key(&salt, shared.expose_bytes(), HANDOVER_LABEL)
}

/// Seals `key` to the new device's one-time X25519 key `kx_pub` for request `request_id` of
/// `user_id`. `None` when `kx_pub` is a low-order point or randomness fails.
pub fn seal_handover(
    key: &UserIdentityKey,
    kx_pub: &[u8; 32],
    request_id: &str,
    user_id: &str,
) -> Option<Vec<u8>> {
    let eph = X25519Secret::generate().ok()?;
    let eph_pub = eph.public_key();
    let shared = eph.diffie_hellman(kx_pub).ok()?;
    let aead = Aead::new(&handover_key(&shared, &eph_pub, kx_pub));
    let secret = key.expose_secret();
    let ct = aead
        .seal(
            &[0u8; 12],
            &handover_context(request_id, user_id),
            secret.as_ref(),
        )
        .ok()?;
    let mut out = Vec::with_capacity(HANDOVER_LEN);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&ct);
    Some(out)
}

/// Opens a sealed hand-over with the new device's one-time secret. `None` for anything that
/// does not open (one opaque failure).
pub fn open_handover(
    kx: &X25519Secret,
    sealed: &[u8],
    request_id: &str,
    user_id: &str,
) -> Option<UserIdentityKey> {
    if sealed.len() != HANDOVER_LEN {
        return None;
    }
    let mut eph_pub = [0u8; 32];
    eph_pub.copy_from_slice(&sealed[..32]);
    let shared = kx.diffie_hellman(&eph_pub).ok()?;
    let aead = Aead::new(&handover_key(&shared, &eph_pub, &kx.public_key()));
    let plain = Zeroizing::new(
        aead.open(
            &[0u8; 12],
            &handover_context(request_id, user_id),
            &sealed[32..],
        )
        .ok()?,
    );
    let secret: Zeroizing<[u8; 32]> = Zeroizing::new(plain.as_slice().try_into().ok()?);
    Some(UserIdentityKey::from_secret_bytes(&secret))
}

/// The identity key this device pinned for another user (trust on first use), and the last
/// different key the relay served for them, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPin {
    /// The pinned key, hex.
    pub key: String,
    /// A different key served later (a key change this device reported and did not accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// What observing a served identity key did to a pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// Nothing changed (no key served, or the pinned key again, or a conflict already known).
    Unchanged,
    /// First sight: the served key is now pinned.
    Pinned,
    /// The relay served another key than the pinned one, for the first time: report it. The
    /// pin keeps the old key; devices verify only under it.
    Changed {
        /// The safety number over the newly served key.
        new_safety_number: SafetyNumber,
    },
}

impl IdentityPin {
    /// The pinned key as bytes.
    pub fn key_bytes(&self) -> Option<[u8; 32]> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(&self.key, &mut k).ok()?;
        Some(k)
    }

    /// Whether the relay served another key than the pinned one.
    pub fn changed(&self) -> bool {
        self.conflict.is_some()
    }

    /// Accepts the changed key (the last different key served) as the new pin, if
    /// `safety_number` is the safety number over it (what the user compared with the other
    /// user out of band; spaces are ignored). Returns whether the pin changed.
    pub fn accept_change(&mut self, user_id: &str, safety_number: &str) -> bool {
        let Some(conflict) = self.conflict.clone() else {
            return false;
        };
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(&conflict, &mut bytes).is_err() {
            return false;
        }
        let expected = SafetyNumber::for_identity(user_id, &bytes);
        let digits = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        if digits(expected.as_str()) != digits(safety_number) {
            return false;
        }
        self.key = conflict;
        self.conflict = None;
        true
    }

    /// Applies a served key to `pin` (which is `None` before first sight).
    pub fn observe(pin: &mut Option<Self>, user_id: &str, served: Option<&str>) -> PinOutcome {
        let Some(served) = served.map(str::to_ascii_lowercase) else {
            return PinOutcome::Unchanged;
        };
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(&served, &mut bytes).is_err() {
            return PinOutcome::Unchanged;
        }
        match pin {
            None => {
                *pin = Some(Self {
                    key: served,
                    conflict: None,
                });
                PinOutcome::Pinned
            }
            Some(p) if p.key == served => PinOutcome::Unchanged,
            Some(p) if p.conflict.as_deref() == Some(served.as_str()) => PinOutcome::Unchanged,
            Some(p) => {
                p.conflict = Some(served);
                PinOutcome::Changed {
                    new_safety_number: SafetyNumber::for_identity(user_id, &bytes),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_key_is_accepted_only_with_its_safety_number() {
        let old = UserIdentityKey::generate();
        let new = UserIdentityKey::generate();
        let mut pin = None;
        let old_hex = hex::encode(old.public_key());
        let new_hex = hex::encode(new.public_key());
        assert_eq!(
            IdentityPin::observe(&mut pin, "bob", Some(&old_hex)),
            PinOutcome::Pinned
        );
        let PinOutcome::Changed { new_safety_number } =
            IdentityPin::observe(&mut pin, "bob", Some(&new_hex))
        else {
            panic!("no change reported");
        };
        let mut p = pin.unwrap();
        let old_number = SafetyNumber::for_identity("bob", &old.public_key());
        assert!(!p.accept_change("bob", old_number.as_str()));
        assert!(!p.accept_change("eve", new_safety_number.as_str()));
        assert_eq!(p.key, old_hex);
        assert!(p.accept_change("bob", new_safety_number.as_str()));
        assert_eq!(p.key, new_hex);
        assert!(!p.changed());
        // Nothing left to accept.
        assert!(!p.accept_change("bob", new_safety_number.as_str()));
    }

    #[test]
    fn certificate_binds_user_device_and_key() {
        let id = UserIdentityKey::generate();
        let pk = id.public_key();
        let dev = [7u8; 32];
        let cert = id.certify("alice", "phone", &dev);
        assert!(verify_certificate(&pk, "alice", "phone", &dev, &cert));
        // Another device, key, user or identity key: refused.
        assert!(!verify_certificate(&pk, "alice", "laptop", &dev, &cert));
        assert!(!verify_certificate(
            &pk, "alice", "phone", &[8u8; 32], &cert
        ));
        assert!(!verify_certificate(&pk, "bob", "phone", &dev, &cert));
        let other = UserIdentityKey::generate().public_key();
        assert!(!verify_certificate(&other, "alice", "phone", &dev, &cert));
        // Length-prefixed fields: moving a character between user and device changes the text.
        let c2 = id.certify("alic", "ephone", &dev);
        assert!(!verify_certificate(&pk, "alice", "phone", &dev, &c2));
        assert!(!verify_certificate(
            &pk,
            "alice",
            "phone",
            &dev,
            &cert[..63]
        ));
        assert!(verify_certificate_hex(
            &pk,
            "alice",
            "phone",
            &dev,
            &hex::encode(cert)
        ));
        assert!(!verify_certificate_hex(&pk, "alice", "phone", &dev, "zz"));
    }

    #[test]
    fn handover_round_trip_and_binding() {
        let id = UserIdentityKey::generate();
        let kx = X25519Secret::generate().unwrap();
        let sealed = seal_handover(&id, &kx.public_key(), "req1", "alice").unwrap();
        assert_eq!(sealed.len(), HANDOVER_LEN);
        let back = open_handover(&kx, &sealed, "req1", "alice").unwrap();
        assert_eq!(back.public_key(), id.public_key());
        assert!(open_handover(&kx, &sealed, "req2", "alice").is_none());
        assert!(open_handover(&kx, &sealed, "req1", "bob").is_none());
        let other = X25519Secret::generate().unwrap();
        assert!(open_handover(&other, &sealed, "req1", "alice").is_none());
        let mut bad = sealed.clone();
        bad[40] ^= 1;
        assert!(open_handover(&kx, &bad, "req1", "alice").is_none());
        assert!(seal_handover(&id, &[0u8; 32], "req1", "alice").is_none());
    }

    #[test]
    fn pin_is_first_use_and_never_replaced_silently() {
        let a = hex::encode([1u8; 32]);
        let b = hex::encode([2u8; 32]);
        let mut pin = None;
        assert_eq!(
            IdentityPin::observe(&mut pin, "u", None),
            PinOutcome::Unchanged
        );
        assert_eq!(
            IdentityPin::observe(&mut pin, "u", Some(&a)),
            PinOutcome::Pinned
        );
        assert_eq!(
            IdentityPin::observe(&mut pin, "u", Some(&a)),
            PinOutcome::Unchanged
        );
        let changed = IdentityPin::observe(&mut pin, "u", Some(&b));
        assert!(matches!(changed, PinOutcome::Changed { .. }));
        // Reported once; the old key stays pinned.
        assert_eq!(
            IdentityPin::observe(&mut pin, "u", Some(&b)),
            PinOutcome::Unchanged
        );
        let p = pin.unwrap();
        assert_eq!(p.key, a);
        assert!(p.changed());
        assert_eq!(p.key_bytes(), Some([1u8; 32]));
    }
}
