//! Device identities, safety numbers and key-change tracking.
//!
//! A device owns one Ed25519 signing key. The same key is the signature key of the device's MLS
//! leaf (its `BasicCredential` carries [`CredentialIdentity::to_bytes`]) and signs the device's
//! relay requests ([`DeviceIdentity::sign`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use openmls::prelude::{BasicCredential, CredentialWithKey, SignatureScheme};
use openmls_traits::signatures::{Signer, SignerError};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use sealroom_wire::CredentialIdentity;

/// One device's long-term identity: its credential identity and Ed25519 signing key.
pub struct DeviceIdentity {
    identity: CredentialIdentity,
    signing: SigningKey,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("identity", &self.identity)
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredIdentity {
    org: String,
    user: String,
    device: String,
    key: String,
}

impl Clone for DeviceIdentity {
    /// Copies the identity with its secret key (the copy zeroizes its key on drop too). The SDK
    /// client keeps one copy to sign relay requests without locking the room state.
    fn clone(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            signing: self.signing.clone(),
        }
    }
}

impl DeviceIdentity {
    /// A fresh identity with a random signing key.
    pub fn generate(identity: CredentialIdentity) -> Self {
        Self {
            identity,
            signing: SigningKey::generate(&mut OsRng),
        }
    }

    /// Builds an identity from existing secret key bytes (imports, test vectors).
    pub fn from_secret_bytes(identity: CredentialIdentity, secret: &[u8; 32]) -> Self {
        Self {
            identity,
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// Who this device is.
    pub fn identity(&self) -> &CredentialIdentity {
        &self.identity
    }

    /// The Ed25519 public key (the MLS leaf signature key and the relay's device key).
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs `message` (e.g. a relay request's canonical string) with the device key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    pub(crate) fn credential_with_key(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.identity.to_bytes()).into(),
            signature_key: self.public_key().to_vec().into(),
        }
    }

    pub(crate) fn to_stored(&self) -> Zeroizing<Vec<u8>> {
        let mut s = StoredIdentity {
            org: self.identity.org_id.clone(),
            user: self.identity.user_id.clone(),
            device: self.identity.device_id.clone(),
            key: hex::encode(self.signing.to_bytes()),
        };
        let out = Zeroizing::new(serde_json::to_vec(&s).unwrap_or_default());
        zeroize::Zeroize::zeroize(&mut s.key);
        out
    }

    pub(crate) fn from_stored(bytes: &[u8]) -> Option<Self> {
        let s: StoredIdentity = serde_json::from_slice(bytes).ok()?;
        let key = Zeroizing::new(s.key);
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(key.as_bytes(), secret.as_mut()).ok()?;
        let identity = CredentialIdentity::new(&s.org, &s.user, &s.device).ok()?;
        Some(Self::from_secret_bytes(identity, &secret))
    }
}

impl Signer for DeviceIdentity {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.signing.sign(payload).to_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// Verifies an Ed25519 signature by `public_key` over `message`.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(pk) = <[u8; 32]>::try_from(public_key) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    vk.verify(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

/// A user's safety number: 60 decimal digits, shown as twelve groups of five. Two people
/// compare it out of band.
///
/// The number users see ([`SafetyNumber::for_identity`]) covers the user id and the user's
/// identity key (see [`crate::certificate`]): adding or removing a device does not change it,
/// only a new identity key does. [`SafetyNumber::compute`] is the older number over the set of
/// device keys, still used for room-level key-change events and for users whose identity key
/// this device has never seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// Computes the number for `user_id` and its identity public key.
    ///
    /// Digest: `SHA-256("sealroom-safety-number-v2" || u32 len || user_id || identity key (32))`
    /// iterated with a counter byte for 64 bytes; each 5-byte chunk, read big-endian, mod 100000
    /// gives one group.
    pub fn for_identity(user_id: &str, identity_key: &[u8; 32]) -> Self {
        let mut base = Sha256::new();
        base.update(b"sealroom-safety-number-v2");
        base.update((user_id.len() as u32).to_be_bytes());
        base.update(user_id.as_bytes());
        base.update(identity_key);
        Self::from_digest(base)
    }

    /// Computes the device-set number for `user_id` and its device public keys (order does
    /// not matter).
    ///
    /// Digest: `SHA-256("sealroom-safety-number-v1" || u32 len || user_id || u32 n || keys sorted)`
    /// iterated with a counter byte for 64 bytes; each 5-byte chunk, read big-endian, mod 100000
    /// gives one group.
    pub fn compute(user_id: &str, device_keys: &BTreeSet<[u8; 32]>) -> Self {
        let mut base = Sha256::new();
        base.update(b"sealroom-safety-number-v1");
        base.update((user_id.len() as u32).to_be_bytes());
        base.update(user_id.as_bytes());
        base.update((device_keys.len() as u32).to_be_bytes());
        for k in device_keys {
            base.update(k);
        }
        Self::from_digest(base)
    }

    fn from_digest(base: Sha256) -> Self {
        let mut bytes = Vec::with_capacity(64);
        for counter in 0u8..2 {
            let mut h = base.clone();
            h.update([counter]);
            bytes.extend_from_slice(&h.finalize());
        }
        let mut groups = Vec::with_capacity(12);
        for chunk in bytes.chunks(5).take(12) {
            let mut v = 0u64;
            for b in chunk {
                v = (v << 8) | u64::from(*b);
            }
            groups.push(format!("{:05}", v % 100_000));
        }
        Self(groups.join(" "))
    }

    /// The number as displayed: twelve space-separated groups of five digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A known user's set of device keys changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The user whose keys changed.
    pub user_id: String,
    /// Device keys that appeared.
    pub added: Vec<[u8; 32]>,
    /// Device keys that disappeared.
    pub removed: Vec<[u8; 32]>,
    /// The safety number before the change.
    pub old_safety_number: SafetyNumber,
    /// The safety number after the change.
    pub new_safety_number: SafetyNumber,
}

/// The device keys this device has seen per user (trust on first use, then change events).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyDirectory {
    users: BTreeMap<String, BTreeSet<[u8; 32]>>,
}

impl KeyDirectory {
    /// Records `keys` as the full device set of `user_id`. The first sighting is recorded
    /// silently; a different set for a known user yields a [`KeyChange`].
    pub fn observe(&mut self, user_id: &str, keys: BTreeSet<[u8; 32]>) -> Option<KeyChange> {
        let change = match self.users.get(user_id) {
            None => None,
            Some(old) if *old == keys => None,
            Some(old) => Some(KeyChange {
                user_id: user_id.to_owned(),
                added: keys.difference(old).copied().collect(),
                removed: old.difference(&keys).copied().collect(),
                old_safety_number: SafetyNumber::compute(user_id, old),
                new_safety_number: SafetyNumber::compute(user_id, &keys),
            }),
        };
        self.users.insert(user_id.to_owned(), keys);
        change
    }

    /// Adds keys seen for `user_id` (e.g. in a room's tree) without dropping known ones; a key
    /// new for an already known user yields a [`KeyChange`].
    pub fn observe_keys(&mut self, user_id: &str, keys: &BTreeSet<[u8; 32]>) -> Option<KeyChange> {
        let merged = match self.users.get(user_id) {
            Some(old) => old.union(keys).copied().collect(),
            None => keys.clone(),
        };
        self.observe(user_id, merged)
    }

    /// The known device keys of `user_id`.
    pub fn keys(&self, user_id: &str) -> Option<&BTreeSet<[u8; 32]>> {
        self.users.get(user_id)
    }

    /// The safety number of a known user.
    pub fn safety_number(&self, user_id: &str) -> Option<SafetyNumber> {
        self.users
            .get(user_id)
            .map(|k| SafetyNumber::compute(user_id, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safety_number_shape_and_order_independence() {
        let a: BTreeSet<[u8; 32]> = [[1; 32], [2; 32]].into_iter().collect();
        let n = SafetyNumber::compute("alice", &a);
        assert_eq!(n.as_str().len(), 12 * 5 + 11);
        assert!(n.as_str().split(' ').all(|g| g.len() == 5));
        let b: BTreeSet<[u8; 32]> = [[2; 32], [1; 32]].into_iter().collect();
        assert_eq!(n, SafetyNumber::compute("alice", &b));
        assert_ne!(n, SafetyNumber::compute("bob", &b));
        let id = SafetyNumber::for_identity("alice", &[1; 32]);
        assert_eq!(id.as_str().len(), 12 * 5 + 11);
        assert_ne!(id, SafetyNumber::for_identity("bob", &[1; 32]));
        assert_ne!(id, SafetyNumber::for_identity("alice", &[2; 32]));
    }

    #[test]
    fn directory_reports_changes() {
        let mut d = KeyDirectory::default();
        assert!(d.observe("u", [[1; 32]].into_iter().collect()).is_none());
        assert!(d.observe("u", [[1; 32]].into_iter().collect()).is_none());
        let c = d
            .observe_keys("u", &[[2; 32]].into_iter().collect())
            .unwrap();
        assert_eq!(c.added, vec![[2; 32]]);
        assert!(c.removed.is_empty());
        assert_ne!(c.old_safety_number, c.new_safety_number);
    }

    #[test]
    fn identity_round_trip_and_signature() {
        let id = CredentialIdentity::new("acme", "alice", "phone").unwrap();
        let dev = DeviceIdentity::generate(id);
        let back = DeviceIdentity::from_stored(&dev.to_stored()).unwrap();
        assert_eq!(back.public_key(), dev.public_key());
        let sig = back.sign(b"GET /v1/rooms");
        assert!(verify_signature(&dev.public_key(), b"GET /v1/rooms", &sig));
        assert!(!verify_signature(&dev.public_key(), b"GET /v1/room", &sig));
    }
}
