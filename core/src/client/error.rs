//! Errors of the client, each with a [`ClientErrorKind`] that tells the caller what to do and
//! a stable [`ClientError::code`] that the WASM and native bindings carry unchanged.

use crate::format::FormatError;
use crate::room::{ErrorKind as RoomErrorKind, RoomError};
use crate::state::StateError;

use super::transport::TransportError;

/// What the caller should do about an error. One binding exception per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientErrorKind {
    /// The relay is unreachable or busy (network, 429, 503): retry later; nothing was lost.
    Network,
    /// The relay refused this device's credentials (revoked device, bad clock): re-register or
    /// fix the clock.
    Unauthenticated,
    /// The caller may not do this (not a member, wrong role, removed from the space).
    Forbidden,
    /// The space, room, file or user does not exist.
    NotFound,
    /// Someone else changed the same thing first: sync and retry.
    Conflict,
    /// A size limit was exceeded (space quota, body limit).
    TooLarge,
    /// Data from the relay or from another member is malformed, forged or does not decrypt.
    Corrupt,
    /// The request is invalid (bad argument, refused media type, wrong state).
    InvalidInput,
    /// The local state store failed: reopen the client.
    Storage,
    /// A bug: please report it.
    Internal,
}

impl ClientErrorKind {
    /// The kind's stable name (`network`, `forbidden`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::TooLarge => "too_large",
            Self::Corrupt => "corrupt",
            Self::InvalidInput => "invalid_input",
            Self::Storage => "storage",
            Self::Internal => "internal",
        }
    }
}

/// Errors of [`SealroomClient`](super::SealroomClient).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No response from the relay.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The relay answered with an error status and its JSON error body.
    #[error("relay refused the request ({status} {code}): {message}")]
    Relay {
        /// HTTP status.
        status: u16,
        /// The relay's stable error code (`forbidden`, `epoch_conflict`, ...).
        code: String,
        /// The relay's message.
        message: String,
    },
    /// The relay answered something this client cannot parse.
    #[error("unexpected answer from the relay: {0}")]
    Protocol(String),
    /// A room (MLS) operation failed.
    #[error(transparent)]
    Room(#[from] RoomError),
    /// A sealed file failed to seal or open.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The local store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// This client has no registered device yet (call `register` or `bootstrap`).
    #[error("no device is registered in this client's store")]
    NotRegistered,
    /// This client's store already holds a registered device.
    #[error("this client's store already holds a registered device")]
    AlreadyRegistered,
    /// An unknown space, room, file, message or user.
    #[error("unknown {what}: {id}")]
    Unknown {
        /// What was looked up (`space`, `file`, ...).
        what: &'static str,
        /// The id.
        id: String,
    },
    /// This device was removed from the space.
    #[error("this device was removed from space {0}")]
    RemovedFromSpace(String),
    /// The content is refused by the space's policy before anything is encrypted (for example
    /// a media type that is not allowed; the sniffed type decides, not the file name).
    #[error("refused by policy: {0}")]
    Policy(String),
    /// A classification label, the space policy or a four-eyes hold refuses this (stable
    /// codes: [`LabelRefusal::code`](super::LabelRefusal::code)).
    #[error("refused by the classification policy: {0}")]
    Label(super::LabelRefusal),
    /// A caller error: invalid argument or state.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An I/O error of a caller-supplied stream.
    #[error("stream i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// A key package the relay handed out for a user is not that user's: its credential names
    /// another user, another organisation, a device the relay does not list for the user (or
    /// lists with another key), or two packages name one device. Nothing was committed.
    #[error("key package for user {user_id} refused: {reason}")]
    KeyPackageMismatch {
        /// The user being added.
        user_id: String,
        /// What did not match.
        reason: String,
    },
    /// None of the user's devices that are not in the room yet is vouched for by the user's
    /// identity key (linked by a TOTP code alone, or made up by the relay), and none is in the
    /// room: nothing was committed. A device becomes verified when another device of the user
    /// approves or certifies it, or when it restores the recovery backup; add it again then.
    #[error("no device of user {user_id} is vouched for by the user's identity key (unverified: {})", devices.join(", "))]
    UnverifiedDevices {
        /// The user being added.
        user_id: String,
        /// The devices left out.
        devices: Vec<String>,
    },
    /// The recovery passphrase does not open the recovery backup (or the backup was altered).
    #[error("the recovery passphrase does not open this recovery backup")]
    WrongPassphrase,
    /// This device's own check of the relay's audit chain failed: a rolled-back or rewritten
    /// history, a changed relay audit key or a broken chain.
    #[error("audit check failed: {0}")]
    AuditHistory(super::admin::AuditCheckError),
    /// This device does not hold the user's identity key, so it cannot vouch for another
    /// device (it was linked by a TOTP code alone and has not restored the recovery backup).
    #[error("this device cannot vouch for devices: it does not hold the user's identity key")]
    CannotVouch,
}

impl ClientError {
    /// What the caller should do.
    pub fn kind(&self) -> ClientErrorKind {
        match self {
            Self::Transport(_) => ClientErrorKind::Network,
            Self::Relay { status, code, .. } => match (*status, code.as_str()) {
                (401, _) => ClientErrorKind::Unauthenticated,
                (403, _) => ClientErrorKind::Forbidden,
                (404 | 410, _) => ClientErrorKind::NotFound,
                (409, _) => ClientErrorKind::Conflict,
                (413, _) => ClientErrorKind::TooLarge,
                (429, _) | (502..=504, _) => ClientErrorKind::Network,
                (400 | 405 | 416 | 422, _) => ClientErrorKind::InvalidInput,
                _ => ClientErrorKind::Internal,
            },
            Self::Protocol(_) => ClientErrorKind::Corrupt,
            Self::Room(e) => match e.kind() {
                RoomErrorKind::Retry => ClientErrorKind::Conflict,
                RoomErrorKind::Removed => ClientErrorKind::Forbidden,
                RoomErrorKind::Corrupt => ClientErrorKind::Corrupt,
                RoomErrorKind::Rejected => ClientErrorKind::InvalidInput,
                RoomErrorKind::Storage => ClientErrorKind::Storage,
                _ => ClientErrorKind::Internal,
            },
            Self::Format(e) => match e {
                FormatError::Io(_) => ClientErrorKind::Storage,
                FormatError::TooLarge
                | FormatError::MetadataTooLarge
                | FormatError::RangeOutOfBounds => ClientErrorKind::InvalidInput,
                FormatError::Internal | FormatError::Random => ClientErrorKind::Internal,
                _ => ClientErrorKind::Corrupt,
            },
            Self::State(_) => ClientErrorKind::Storage,
            Self::NotRegistered | Self::AlreadyRegistered => ClientErrorKind::InvalidInput,
            Self::Unknown { .. } => ClientErrorKind::NotFound,
            Self::RemovedFromSpace(_) => ClientErrorKind::Forbidden,
            Self::Policy(_) | Self::InvalidInput(_) => ClientErrorKind::InvalidInput,
            Self::Label(r) => match r {
                super::LabelRefusal::Mismatch => ClientErrorKind::Corrupt,
                super::LabelRefusal::InvalidPolicy => ClientErrorKind::InvalidInput,
                _ => ClientErrorKind::Forbidden,
            },
            Self::Io(_) => ClientErrorKind::Storage,
            Self::WrongPassphrase => ClientErrorKind::InvalidInput,
            Self::KeyPackageMismatch { .. } => ClientErrorKind::Corrupt,
            Self::UnverifiedDevices { .. } => ClientErrorKind::Forbidden,
            Self::AuditHistory(_) => ClientErrorKind::Corrupt,
            Self::CannotVouch => ClientErrorKind::InvalidInput,
        }
    }

    /// A stable, specific error code (`relay_forbidden`, `not_registered`, `policy`, ...) for
    /// logs and bindings. Relay errors carry the relay's own code with a `relay_` prefix.
    pub fn code(&self) -> String {
        match self {
            Self::Transport(TransportError::Timeout) => "timeout".into(),
            Self::Transport(_) => "network".into(),
            Self::Relay { code, .. } => format!("relay_{code}"),
            Self::Protocol(_) => "protocol".into(),
            Self::Room(_) => format!("room_{}", self.kind().as_str()),
            Self::Format(_) => format!("format_{}", self.kind().as_str()),
            Self::State(_) => "storage".into(),
            Self::NotRegistered => "not_registered".into(),
            Self::AlreadyRegistered => "already_registered".into(),
            Self::Unknown { what, .. } => format!("unknown_{what}"),
            Self::RemovedFromSpace(_) => "removed_from_space".into(),
            Self::Policy(_) => "policy".into(),
            Self::Label(r) => r.code().into(),
            Self::InvalidInput(_) => "invalid_input".into(),
            Self::Io(_) => "io".into(),
            Self::WrongPassphrase => "wrong_passphrase".into(),
            Self::KeyPackageMismatch { .. } => "key_package_mismatch".into(),
            Self::UnverifiedDevices { .. } => "unverified_devices".into(),
            Self::AuditHistory(e) => match e {
                super::admin::AuditCheckError::RolledBack { .. } => "audit_rolled_back".into(),
                super::admin::AuditCheckError::Rewritten { .. } => "audit_rewritten".into(),
                super::admin::AuditCheckError::KeyChanged => "audit_key_changed".into(),
                _ => "audit_broken".into(),
            },
            Self::CannotVouch => "cannot_vouch".into(),
        }
    }

    /// Whether retrying the same call later may succeed: only where the cause is transient
    /// (no answer, the relay busy or rate-limiting, a race with another writer). A settled
    /// state is not retryable even when its kind is [`ClientErrorKind::Conflict`]: the relay's
    /// generic `conflict` (409) covers both races ("concurrent change, retry", "another append
    /// to this upload is in progress", an upload offset or MLS epoch moved on) and facts a
    /// retry cannot change ("the relay is already bootstrapped", "TOTP is already enrolled",
    /// "device request already approved"), told apart by [`transient_conflict`].
    pub fn is_retryable(&self) -> bool {
        match self {
            // A refused URL or a redirect stays refused; no answer may come next time.
            Self::Transport(TransportError::InsecureUrl(_) | TransportError::Redirect(_)) => false,
            Self::Transport(_) => true,
            Self::Relay {
                status,
                code,
                message,
            } => match (*status, code.as_str()) {
                (429, _) | (502..=504, _) => true,
                (409, "epoch_conflict") => true,
                (409, _) => transient_conflict(message),
                _ => false,
            },
            Self::Room(e) => e.kind() == RoomErrorKind::Retry,
            _ => false,
        }
    }
}

/// Whether a relay `conflict` (409) message names a race that a retry (after a sync) can win,
/// rather than a state that is already settled. The relay's wording, matched on the parts
/// that name a race; anything else (`already ...`, `... reset`, `not pending`) is settled.
fn transient_conflict(message: &str) -> bool {
    const RACES: [&str; 5] = [
        "retry",
        "in progress",
        "is at offset",
        "epoch",
        "not complete",
    ];
    // A plain byte scan (ASCII case-insensitive): no substring-search machinery in the WASM.
    let has = |needle: &str| {
        message
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    !has("already") && RACES.iter().any(|race| has(race))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_statuses_map_to_kinds_and_codes() {
        let e = |status: u16, code: &str| ClientError::Relay {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert_eq!(e(403, "forbidden").kind(), ClientErrorKind::Forbidden);
        assert_eq!(e(409, "epoch_conflict").kind(), ClientErrorKind::Conflict);
        assert_eq!(e(429, "rate_limited").kind(), ClientErrorKind::Network);
        assert_eq!(e(413, "too_large").kind(), ClientErrorKind::TooLarge);
        assert_eq!(e(500, "internal").kind(), ClientErrorKind::Internal);
        assert_eq!(e(409, "epoch_conflict").code(), "relay_epoch_conflict");
        assert!(e(503, "unavailable").is_retryable());
        assert!(!e(403, "forbidden").is_retryable());
        assert_eq!(ClientError::NotRegistered.code(), "not_registered");
    }

    /// Every code's `retryable`, one row each: true only where a retry can succeed.
    #[test]
    fn retryable_only_where_a_retry_can_succeed() {
        let relay = |status: u16, code: &str, message: &str| ClientError::Relay {
            status,
            code: code.into(),
            message: message.into(),
        };
        let table: Vec<(ClientError, &str, bool)> = vec![
            (TransportError::Timeout.into(), "timeout", true),
            (
                TransportError::Connect("reset".into()).into(),
                "network",
                true,
            ),
            (TransportError::Other("x".into()).into(), "network", true),
            (
                TransportError::InsecureUrl("http://relay".into()).into(),
                "network",
                false,
            ),
            (TransportError::Redirect(302).into(), "network", false),
            (
                relay(429, "rate_limited", "too many"),
                "relay_rate_limited",
                true,
            ),
            (
                relay(429, "quota_exceeded", "hourly"),
                "relay_quota_exceeded",
                true,
            ),
            (
                relay(429, "too_many_waiters", "wait"),
                "relay_too_many_waiters",
                true,
            ),
            (relay(503, "unavailable", "busy"), "relay_unavailable", true),
            (relay(502, "bad_gateway", ""), "relay_bad_gateway", true),
            (relay(504, "timeout", ""), "relay_timeout", true),
            (
                relay(409, "epoch_conflict", "the room is at epoch 4"),
                "relay_epoch_conflict",
                true,
            ),
            (
                relay(409, "conflict", "concurrent change, retry"),
                "relay_conflict",
                true,
            ),
            (
                relay(409, "conflict", "throttle contended, retry"),
                "relay_conflict",
                true,
            ),
            (
                relay(
                    409,
                    "conflict",
                    "another append to this upload is in progress",
                ),
                "relay_conflict",
                true,
            ),
            (
                relay(409, "conflict", "the upload is at offset 4096"),
                "relay_conflict",
                true,
            ),
            (
                relay(409, "conflict", "the upload is not complete"),
                "relay_conflict",
                true,
            ),
            (
                relay(409, "conflict", "the relay is already bootstrapped"),
                "relay_conflict",
                false,
            ),
            (
                relay(409, "conflict", "TOTP is already enrolled"),
                "relay_conflict",
                false,
            ),
            (
                relay(409, "conflict", "the user's identity key is already set"),
                "relay_conflict",
                false,
            ),
            (
                relay(
                    409,
                    "conflict",
                    "this identity key was reset; create a new one",
                ),
                "relay_conflict",
                false,
            ),
            (
                relay(409, "conflict", "device request already approved"),
                "relay_conflict",
                false,
            ),
            (
                relay(409, "conflict", "device is not pending"),
                "relay_conflict",
                false,
            ),
            (relay(400, "bad_request", ""), "relay_bad_request", false),
            (
                relay(401, "unauthenticated", ""),
                "relay_unauthenticated",
                false,
            ),
            (relay(403, "forbidden", ""), "relay_forbidden", false),
            (relay(404, "not_found", ""), "relay_not_found", false),
            (relay(410, "gone", ""), "relay_gone", false),
            (relay(413, "too_large", ""), "relay_too_large", false),
            (
                relay(416, "range_not_satisfiable", ""),
                "relay_range_not_satisfiable",
                false,
            ),
            (relay(500, "internal", ""), "relay_internal", false),
            (ClientError::Protocol("x".into()), "protocol", false),
            (RoomError::PendingCommit.into(), "room_conflict", true),
            (RoomError::Removed.into(), "room_forbidden", false),
            (RoomError::Decrypt.into(), "room_corrupt", false),
            (
                ClientError::Format(FormatError::Decrypt),
                "format_corrupt",
                false,
            ),
            (ClientError::NotRegistered, "not_registered", false),
            (ClientError::AlreadyRegistered, "already_registered", false),
            (
                ClientError::Unknown {
                    what: "space",
                    id: "s".into(),
                },
                "unknown_space",
                false,
            ),
            (
                ClientError::RemovedFromSpace("s".into()),
                "removed_from_space",
                false,
            ),
            (ClientError::Policy("type".into()), "policy", false),
            (
                ClientError::InvalidInput("x".into()),
                "invalid_input",
                false,
            ),
            (std::io::Error::other("source failed").into(), "io", false),
            (ClientError::WrongPassphrase, "wrong_passphrase", false),
            (ClientError::CannotVouch, "cannot_vouch", false),
        ];
        for (error, code, retryable) in table {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(error.is_retryable(), retryable, "{code}: {error}");
        }
    }
}
