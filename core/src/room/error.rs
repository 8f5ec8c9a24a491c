//! Room errors and their classification.

use std::fmt;

use super::policy::PolicyViolation;
use crate::state::StateError;

/// What the caller should do about a [`RoomError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Transient or ordering problem: sync the room (process pending messages) and retry.
    Retry,
    /// This device is no longer a member of the room.
    Removed,
    /// The input is malformed, forged or fails to decrypt: drop it, do not retry.
    Corrupt,
    /// The request was refused by policy or is not valid in the current state (caller error).
    Rejected,
    /// The local store failed: drop this client and reopen it from storage.
    Storage,
    /// A bug or an unexpected library failure.
    Internal,
}

/// Errors of room operations.
#[derive(Debug)]
#[non_exhaustive]
pub enum RoomError {
    /// No room with this id exists on this device. ([`ErrorKind::Rejected`])
    UnknownRoom,
    /// A room id does not have the shape `<space>.<customer|internal>.<32 hex>`. ([`ErrorKind::Rejected`])
    InvalidRoomId,
    /// An identifier (org, user, device, space) is not valid. ([`ErrorKind::Rejected`])
    InvalidId,
    /// A commit of this device is waiting for [`super::Client::confirm_commit`] or
    /// [`super::Client::discard_commit`]. ([`ErrorKind::Retry`])
    PendingCommit,
    /// There is no pending commit to confirm or discard. ([`ErrorKind::Rejected`])
    NoPendingCommit,
    /// This device was removed from the room. ([`ErrorKind::Removed`])
    Removed,
    /// The room's history keys have not arrived yet (a newcomer before the history message).
    /// ([`ErrorKind::Retry`])
    HistoryPending,
    /// Content labelled internal cannot be posted into (or accepted from) a customer room.
    /// ([`ErrorKind::Rejected`])
    InternalInCustomerRoom,
    /// A document version is not higher than one already seen for that document.
    /// ([`ErrorKind::Rejected`])
    DocumentRollback {
        /// The document.
        document_id: String,
        /// Highest version seen so far.
        current: u64,
        /// The refused version.
        offered: u64,
    },
    /// A document version's author signature does not verify. ([`ErrorKind::Corrupt`])
    BadSignature,
    /// No room content key of that generation is known on this device (posted after this device
    /// was removed, or not yet received). ([`ErrorKind::Rejected`])
    KeyUnavailable,
    /// A key package is malformed, has an invalid signature, the wrong ciphersuite or a
    /// credential that is not a Sealroom identity. ([`ErrorKind::Corrupt`])
    InvalidKeyPackage,
    /// A user or device named in an operation is not in the room, or already is. ([`ErrorKind::Rejected`])
    Membership,
    /// The welcome is not for any key package of this device. ([`ErrorKind::Rejected`])
    NoMatchingKeyPackage,
    /// The message is malformed, for another room, or fails MLS validation. ([`ErrorKind::Corrupt`])
    InvalidMessage,
    /// Decryption failed (one opaque variant). ([`ErrorKind::Corrupt`])
    Decrypt,
    /// Application content inside a valid MLS message is malformed. ([`ErrorKind::Corrupt`])
    InvalidContent,
    /// Application content has an unknown version. ([`ErrorKind::Corrupt`])
    UnsupportedVersion,
    /// A previous storage failure left this client's memory ahead of its store: reopen it.
    /// ([`ErrorKind::Storage`])
    Poisoned,
    /// The local store failed. ([`ErrorKind::Storage`])
    Storage(StateError),
    /// The room's membership policy does not allow this change. ([`ErrorKind::Rejected`])
    Policy(PolicyViolation),
    /// The room's group context names no provider organisation (a room not created by a
    /// Sealroom client of this version): it cannot be joined. ([`ErrorKind::Rejected`])
    NoProviderOrg,
    /// openmls failed unexpectedly (the text is openmls's error). ([`ErrorKind::Internal`])
    Mls(String),
}

impl RoomError {
    /// How the caller should react.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::PendingCommit | Self::HistoryPending => ErrorKind::Retry,
            Self::Removed => ErrorKind::Removed,
            Self::BadSignature
            | Self::InvalidKeyPackage
            | Self::InvalidMessage
            | Self::Decrypt
            | Self::InvalidContent
            | Self::UnsupportedVersion => ErrorKind::Corrupt,
            Self::UnknownRoom
            | Self::InvalidRoomId
            | Self::InvalidId
            | Self::NoPendingCommit
            | Self::InternalInCustomerRoom
            | Self::DocumentRollback { .. }
            | Self::KeyUnavailable
            | Self::Membership
            | Self::NoMatchingKeyPackage
            | Self::Policy(_)
            | Self::NoProviderOrg => ErrorKind::Rejected,
            Self::Poisoned | Self::Storage(_) => ErrorKind::Storage,
            Self::Mls(_) => ErrorKind::Internal,
        }
    }
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownRoom => write!(f, "unknown room"),
            Self::InvalidRoomId => write!(f, "invalid room id"),
            Self::InvalidId => write!(f, "invalid identifier"),
            Self::PendingCommit => write!(f, "a commit is pending: confirm or discard it first"),
            Self::NoPendingCommit => write!(f, "no pending commit"),
            Self::Removed => write!(f, "this device was removed from the room"),
            Self::HistoryPending => write!(f, "room history keys not received yet"),
            Self::InternalInCustomerRoom => {
                write!(f, "internal content cannot go into a customer room")
            }
            Self::DocumentRollback {
                document_id,
                current,
                offered,
            } => write!(
                f,
                "document {document_id}: version {offered} is not above {current}"
            ),
            Self::BadSignature => write!(f, "bad author signature"),
            Self::KeyUnavailable => write!(f, "room content key unavailable"),
            Self::InvalidKeyPackage => write!(f, "invalid key package"),
            Self::Membership => write!(f, "membership does not allow this operation"),
            Self::NoMatchingKeyPackage => write!(f, "welcome does not match any key package"),
            Self::InvalidMessage => write!(f, "invalid message"),
            Self::Decrypt => write!(f, "decryption failed"),
            Self::InvalidContent => write!(f, "invalid content"),
            Self::UnsupportedVersion => write!(f, "unsupported content version"),
            Self::Policy(v) => write!(f, "refused by the room policy: {v}"),
            Self::NoProviderOrg => write!(f, "the room names no provider organisation"),
            Self::Poisoned => write!(f, "client must be reopened after a storage failure"),
            Self::Storage(e) => write!(f, "storage: {e}"),
            Self::Mls(e) => write!(f, "mls: {e}"),
        }
    }
}

impl std::error::Error for RoomError {}

impl From<StateError> for RoomError {
    fn from(e: StateError) -> Self {
        Self::Storage(e)
    }
}

pub(crate) fn mls<E: fmt::Debug>(e: E) -> RoomError {
    RoomError::Mls(format!("{e:?}"))
}
