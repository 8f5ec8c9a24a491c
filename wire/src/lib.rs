//! Wire types shared between the Sealroom SDK (`sealroom-core`) and the relay (`sealroom-server`).
//!
//! Only public data lives here: identifiers, ciphertext envelopes and request/response bodies.
//! The relay depends on this crate and never on `sealroom-core`, so it cannot link a secret type.
#![forbid(unsafe_code)]

// The records and enums that the Kotlin/Swift bindings export as they are (feature `uniffi`,
// on in sealroom-ffi only).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod accounts;
pub mod auth;

use std::fmt;

pub mod audit;
pub mod blobs;
pub mod notify;
pub mod recovery;
pub mod rooms;

/// Version of the relay HTTP API described in `docs/api/openapi.yaml`.
pub const API_VERSION: &str = "v1";

/// Maximum length in bytes of one identifier (organisation, user or device id).
pub const MAX_ID_LEN: usize = 64;

/// Why an identifier or credential identity was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier is empty or longer than [`MAX_ID_LEN`] bytes.
    Length,
    /// The identifier contains a byte outside `[A-Za-z0-9_-]`.
    Charset,
    /// The credential identity does not have the `sealroom:v1:` prefix and three parts.
    Shape,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length => write!(f, "identifier must be 1 to {MAX_ID_LEN} bytes"),
            Self::Charset => write!(f, "identifier may contain only A-Z a-z 0-9 _ -"),
            Self::Shape => write!(
                f,
                "credential identity must be sealroom:v1:<org>:<user>:<device>"
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// Checks that `id` is a valid organisation, user or device identifier: 1 to 64 bytes of
/// `[A-Za-z0-9_-]`.
pub fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(IdError::Length);
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError::Charset);
    }
    Ok(())
}

/// The identity carried in a device's MLS `BasicCredential`: which organisation, user and device
/// a leaf belongs to. The relay reads it from handshake messages to learn room membership, and
/// checks that the leaf's signature key is the key that device registered.
///
/// Encoding (the credential's identity bytes): the UTF-8 string
/// `sealroom:v1:<org_id>:<user_id>:<device_id>`, each id as checked by [`check_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialIdentity {
    /// Organisation id.
    pub org_id: String,
    /// User id, unique within the relay.
    pub user_id: String,
    /// Device id, unique within the relay.
    pub device_id: String,
}

const CREDENTIAL_PREFIX: &str = "sealroom:v1:";

impl CredentialIdentity {
    /// Builds an identity after checking every part.
    pub fn new(org_id: &str, user_id: &str, device_id: &str) -> Result<Self, IdError> {
        check_id(org_id)?;
        check_id(user_id)?;
        check_id(device_id)?;
        Ok(Self {
            org_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
        })
    }

    /// The credential identity bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!(
            "{CREDENTIAL_PREFIX}{}:{}:{}",
            self.org_id, self.user_id, self.device_id
        )
        .into_bytes()
    }

    /// Parses credential identity bytes; anything but the exact encoding is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let text = std::str::from_utf8(bytes).map_err(|_| IdError::Shape)?;
        let rest = text.strip_prefix(CREDENTIAL_PREFIX).ok_or(IdError::Shape)?;
        let mut parts = rest.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(org), Some(user), Some(device), None) => Self::new(org, user, device),
            _ => Err(IdError::Shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_identity_round_trips() {
        let id = CredentialIdentity::new("acme", "alice", "laptop-1").unwrap();
        assert_eq!(id.to_bytes(), b"sealroom:v1:acme:alice:laptop-1");
        assert_eq!(CredentialIdentity::from_bytes(&id.to_bytes()).unwrap(), id);
    }

    #[test]
    fn credential_identity_rejects_bad_shapes() {
        for bad in [
            &b""[..],
            b"sealroom:v1:a:b",
            b"sealroom:v1:a:b:c:d",
            b"sealroom:v2:a:b:c",
            b"sealroom:v1:a:b c:d",
            b"sealroom:v1::b:c",
            b"\xff\xfe",
        ] {
            assert!(CredentialIdentity::from_bytes(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(check_id(&long), Err(IdError::Length));
        assert_eq!(check_id(&"x".repeat(MAX_ID_LEN)), Ok(()));
    }
}
