//! Audit trail wire types: the hash-chained entries the relay records, the query and export
//! parameters organisation admins use, and the result of verifying the chain.
//!
//! Each entry is hashed as `SHA-256(prev_hash || canonical_json(entry))`, where `prev_hash` is the
//! 32 raw bytes of the previous entry's hash (32 zero bytes before the first entry) and
//! `canonical_json` is [`AuditEntry::canonical_json`]: the entry's JSON with its keys in
//! lexicographic order, no insignificant whitespace, integers in decimal and absent values as
//! `null` (RFC 8785 for the types used here).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Length in bytes of an entry hash (SHA-256).
pub const AUDIT_HASH_LEN: usize = 32;

/// Hex encoding of the hash that precedes the first entry: 32 zero bytes.
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Largest page an audit query returns.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// Page size when a query names none.
pub const DEFAULT_AUDIT_PAGE: usize = 100;

/// What happened. The string forms (see [`AuditAction::as_str`]) are stable and appear in the
/// stored entries, in queries (`action=`) and in exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AuditAction {
    /// An organisation was created (bootstrap or by an admin).
    OrgCreate,
    /// An invitation was issued.
    InviteCreate,
    /// An unused invitation was revoked by the space's staff or an administrator.
    InviteRevoke,
    /// A user registered (accepted an invitation or was bootstrapped).
    UserRegister,
    /// A device was registered for a user.
    DeviceRegister,
    /// A pending device was approved (by another device of the user or by TOTP).
    DeviceApprove,
    /// A device was removed or revoked.
    DeviceRemove,
    /// A user's role changed.
    RoleChange,
    /// A space was created.
    SpaceCreate,
    /// A member was added to a room or space.
    MembershipAdd,
    /// A member was removed from a room or space.
    MembershipRemove,
    /// Key packages were uploaded.
    KeyPackageUpload,
    /// A key package was claimed.
    KeyPackageClaim,
    /// A handshake (MLS commit) was accepted for a room.
    HandshakeCommit,
    /// A Welcome was delivered to a device mailbox.
    WelcomeSend,
    /// An application message was posted to a room.
    MessagePost,
    /// An application message was deleted.
    MessageDelete,
    /// Disappearing messages reached their expiry and were deleted.
    MessageExpire,
    /// A blob upload was created.
    BlobUploadCreate,
    /// A blob upload completed (all bytes received).
    BlobUpload,
    /// A blob was downloaded (or a range of it).
    BlobDownload,
    /// A blob was deleted.
    BlobDelete,
    /// A notification mail was sent.
    NotificationSend,
    /// A notification mail could not be delivered.
    NotificationFail,
    /// A user changed their notification preference.
    NotifyPreferenceSet,
    /// A space's retention policy was set or cleared.
    RetentionPolicySet,
    /// Ciphertext older than a space's retention period was deleted.
    RetentionDelete,
    /// A user was erased: devices, key packages, mailboxes and preferences removed.
    UserErase,
    /// The audit log was exported.
    AuditExport,
    /// A backup snapshot was written.
    BackupCreate,
    /// A user stored (or replaced) their sealed recovery backup.
    RecoveryStore,
    /// A user's device fetched their sealed recovery backup.
    RecoveryFetch,
    /// A user deleted their recovery backup.
    RecoveryDelete,
    /// A user's TOTP changed: enrolled, confirmed, unlocked after a lockout, or reset (by the
    /// user or an administrator). The detail says which.
    TotpChange,
    /// A device approval failed (a wrong TOTP code) or was refused by the enrolment throttle.
    DeviceApproveFail,
    /// A user's identity key was published, or a device certificate stored (a device vouched
    /// for by its user).
    DeviceCertify,
    /// A held blob was released (a four-eyes release by a staff device).
    BlobRelease,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [Self; 37] = [
        Self::OrgCreate,
        Self::InviteCreate,
        Self::InviteRevoke,
        Self::UserRegister,
        Self::DeviceRegister,
        Self::DeviceApprove,
        Self::DeviceRemove,
        Self::RoleChange,
        Self::SpaceCreate,
        Self::MembershipAdd,
        Self::MembershipRemove,
        Self::KeyPackageUpload,
        Self::KeyPackageClaim,
        Self::HandshakeCommit,
        Self::WelcomeSend,
        Self::MessagePost,
        Self::MessageDelete,
        Self::MessageExpire,
        Self::BlobUploadCreate,
        Self::BlobUpload,
        Self::BlobDownload,
        Self::BlobDelete,
        Self::NotificationSend,
        Self::NotificationFail,
        Self::NotifyPreferenceSet,
        Self::RetentionPolicySet,
        Self::RetentionDelete,
        Self::UserErase,
        Self::AuditExport,
        Self::BackupCreate,
        Self::RecoveryStore,
        Self::RecoveryFetch,
        Self::RecoveryDelete,
        Self::TotpChange,
        Self::DeviceApproveFail,
        Self::DeviceCertify,
        Self::BlobRelease,
    ];

    /// The stable string form, e.g. `blob.upload`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgCreate => "org.create",
            Self::InviteCreate => "invite.create",
            Self::InviteRevoke => "invite.revoke",
            Self::UserRegister => "user.register",
            Self::DeviceRegister => "device.register",
            Self::DeviceApprove => "device.approve",
            Self::DeviceRemove => "device.remove",
            Self::RoleChange => "role.change",
            Self::SpaceCreate => "space.create",
            Self::MembershipAdd => "membership.add",
            Self::MembershipRemove => "membership.remove",
            Self::KeyPackageUpload => "keypackage.upload",
            Self::KeyPackageClaim => "keypackage.claim",
            Self::HandshakeCommit => "handshake.commit",
            Self::WelcomeSend => "welcome.send",
            Self::MessagePost => "message.post",
            Self::MessageDelete => "message.delete",
            Self::MessageExpire => "message.expire",
            Self::BlobUploadCreate => "blob.upload_create",
            Self::BlobUpload => "blob.upload",
            Self::BlobDownload => "blob.download",
            Self::BlobDelete => "blob.delete",
            Self::NotificationSend => "notification.send",
            Self::NotificationFail => "notification.fail",
            Self::NotifyPreferenceSet => "notify.preference_set",
            Self::RetentionPolicySet => "retention.policy_set",
            Self::RetentionDelete => "retention.delete",
            Self::UserErase => "user.erase",
            Self::AuditExport => "audit.export",
            Self::BackupCreate => "backup.create",
            Self::RecoveryStore => "recovery.store",
            Self::RecoveryFetch => "recovery.fetch",
            Self::RecoveryDelete => "recovery.delete",
            Self::TotpChange => "totp.change",
            Self::DeviceApproveFail => "device.approve_fail",
            Self::DeviceCertify => "device.certify",
            Self::BlobRelease => "blob.release",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string did not name an [`AuditAction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAction;

impl fmt::Display for UnknownAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown audit action")
    }
}

impl std::error::Error for UnknownAction {}

impl FromStr for AuditAction {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAction)
    }
}

impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown audit action {s:?}")))
    }
}

/// One entry of the audit trail, exactly as it is hashed. Fields are declared in lexicographic
/// order so that serde's output is the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// What happened.
    #[cfg_attr(feature = "ts", tsify(type = "string"))]
    pub action: AuditAction,
    /// User who acted; `None` for the relay itself (retention, expiry, notifications).
    pub actor_user: Option<String>,
    /// Short, content-free detail (e.g. notification mode, number of items deleted).
    pub detail: Option<String>,
    /// Device that signed the request, if any.
    pub device: Option<String>,
    /// Client IP address as the relay saw it, if any.
    pub ip: Option<String>,
    /// Object acted on (room, blob, message, user, device or space id).
    pub object_id: Option<String>,
    /// Organisation the entry belongs to; admins of that organisation can read it.
    pub org: Option<String>,
    /// Hex of the previous entry's hash ([`GENESIS_PREV_HASH`] for the first entry).
    pub prev_hash: String,
    /// Sequence number, starting at 1, without gaps.
    pub seq: u64,
    /// Size in bytes of the object (ciphertext bytes), if meaningful.
    pub size: Option<u64>,
    /// When the relay recorded the entry, in milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Client `User-Agent` header, if any.
    pub user_agent: Option<String>,
}

impl AuditEntry {
    /// The canonical JSON bytes that are hashed.
    pub fn canonical_json(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }
}

/// A stored entry with its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct AuditRecord {
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hex of `SHA-256(prev_hash || canonical_json(entry))`.
    pub hash: String,
}

/// Filters of an audit query or export (query string of `GET /v1/audit` and
/// `GET /v1/audit/export`). Every filter is optional; filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries at or after this time (ms since the epoch).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub from_ms: Option<u64>,
    /// Only entries strictly before this time (ms since the epoch).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub to_ms: Option<u64>,
    /// Only entries by this user.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub actor: Option<String>,
    /// Only entries with this action (string form, e.g. `blob.upload`).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub action: Option<String>,
    /// Only entries about this object id.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub object: Option<String>,
    /// Pagination cursor: only entries with a sequence number greater than this.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub after: Option<u64>,
    /// Page size (default [`DEFAULT_AUDIT_PAGE`], at most [`MAX_AUDIT_PAGE`]).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub limit: Option<u32>,
    /// Export format: `json` (default) or `csv`. Only read by the export route; the SDK's
    /// `audit_export` ignores it and sends its own `format` argument.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub format: Option<String>,
}

/// One page of query results, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct AuditPage {
    /// The matching entries of this page.
    pub entries: Vec<AuditRecord>,
    /// Pass as `after` to fetch the next page; `None` when this was the last page.
    pub next_after: Option<u64>,
}

/// Result of verifying the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AuditVerifyReport {
    /// True when every entry links to its predecessor, every hash matches and the head pointer
    /// names the last entry.
    pub ok: bool,
    /// Number of entries that verified before the first problem (all of them when `ok`).
    pub verified: u64,
    /// Sequence number of the head as stored.
    pub head_seq: u64,
    /// Hex hash of the head as stored: publish it elsewhere to detect a later truncation.
    pub head_hash: String,
    /// Sequence number of the first entry that failed, when not `ok`.
    pub first_bad_seq: Option<u64>,
    /// What failed, when not `ok`.
    pub problem: Option<String>,
}

/// Domain-separation prefix of a signed audit head.
pub const HEAD_SIGNING_CONTEXT: &[u8] = b"sealroom audit head v1\0";

/// The bytes the relay's audit key signs for a head: [`HEAD_SIGNING_CONTEXT`] ‖ `seq` (u64
/// big-endian) ‖ the 32 raw bytes of `hash`. `None` when `hash` is not 32 bytes of hex.
pub fn head_signing_bytes(seq: u64, hash: &str) -> Option<Vec<u8>> {
    let raw = decode_hash(hash)?;
    let mut out = Vec::with_capacity(HEAD_SIGNING_CONTEXT.len() + 8 + AUDIT_HASH_LEN);
    out.extend_from_slice(HEAD_SIGNING_CONTEXT);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&raw);
    Some(out)
}

/// 32 bytes from 64 hex characters.
pub fn decode_hash(hash: &str) -> Option<[u8; AUDIT_HASH_LEN]> {
    if hash.len() != 2 * AUDIT_HASH_LEN {
        return None;
    }
    let mut out = [0u8; AUDIT_HASH_LEN];
    for (i, chunk) in hash.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// `GET /v1/audit/head`: the current head of the chain, signed by the relay's audit key
/// (Ed25519 over [`head_signing_bytes`]). Clients pin `public_key` on first use and remember
/// the heads they saw, so a rolled-back or rewritten history is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAuditHead {
    /// Sequence number of the last entry (0 when the chain is empty).
    pub seq: u64,
    /// Hex hash of the last entry ([`GENESIS_PREV_HASH`] when empty).
    pub hash: String,
    /// Hex of the relay's Ed25519 audit public key.
    pub public_key: String,
    /// Hex of the Ed25519 signature.
    pub signature: String,
}

/// One link of the chain as a client downloads it to verify it: the whole entry when the caller
/// may read it, otherwise only its sequence number and hashes (the entry of another
/// organisation stays hidden but still binds the chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLink {
    /// Sequence number.
    pub seq: u64,
    /// Hex hash of the previous entry.
    pub prev_hash: String,
    /// Hex hash of this entry.
    pub hash: String,
    /// The entry, when visible to the caller.
    pub entry: Option<AuditEntry>,
}

/// `GET /v1/audit/chain?after=N&limit=M`: consecutive links after `N`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChainPage {
    /// The links.
    pub links: Vec<AuditLink>,
    /// Pass as `after` to fetch the next page; `None` at the end of the chain.
    pub next_after: Option<u64>,
}

/// Canonical serialisation without pulling `serde_json` into the wire crate: the entry has a
/// fixed shape, so it is written by hand (keys sorted, RFC 8785 string escaping).
mod canonical {
    use super::AuditEntry;

    pub(super) fn to_vec(e: &AuditEntry) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push('{');
        key(&mut out, "action", true);
        string(&mut out, e.action.as_str());
        key(&mut out, "actor_user", false);
        opt_string(&mut out, e.actor_user.as_deref());
        key(&mut out, "detail", false);
        opt_string(&mut out, e.detail.as_deref());
        key(&mut out, "device", false);
        opt_string(&mut out, e.device.as_deref());
        key(&mut out, "ip", false);
        opt_string(&mut out, e.ip.as_deref());
        key(&mut out, "object_id", false);
        opt_string(&mut out, e.object_id.as_deref());
        key(&mut out, "org", false);
        opt_string(&mut out, e.org.as_deref());
        key(&mut out, "prev_hash", false);
        string(&mut out, &e.prev_hash);
        key(&mut out, "seq", false);
        out.push_str(&e.seq.to_string());
        key(&mut out, "size", false);
        match e.size {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("null"),
        }
        key(&mut out, "time_ms", false);
        out.push_str(&e.time_ms.to_string());
        key(&mut out, "user_agent", false);
        opt_string(&mut out, e.user_agent.as_deref());
        out.push('}');
        out.into_bytes()
    }

    fn key(out: &mut String, k: &str, first: bool) {
        if !first {
            out.push(',');
        }
        string(out, k);
        out.push(':');
    }

    fn opt_string(out: &mut String, s: Option<&str>) {
        match s {
            Some(s) => string(out, s),
            None => out.push_str("null"),
        }
    }

    /// RFC 8785 string serialisation: `"` and `\` escaped, the five short control escapes,
    /// other control characters as `\u00xx` (lowercase hex), everything else verbatim.
    fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            action: AuditAction::BlobUpload,
            actor_user: Some("alice".into()),
            detail: None,
            device: Some("laptop".into()),
            ip: Some("127.0.0.1".into()),
            object_id: Some("blob-1".into()),
            org: Some("acme".into()),
            prev_hash: GENESIS_PREV_HASH.into(),
            seq: 1,
            size: Some(42),
            time_ms: 1_700_000_000_000,
            user_agent: Some("agent \"x\"\n\u{1}é".into()),
        }
    }

    #[test]
    fn canonical_json_is_sorted_compact_and_escaped() {
        let got = String::from_utf8(entry().canonical_json()).unwrap();
        assert_eq!(
            got,
            "{\"action\":\"blob.upload\",\"actor_user\":\"alice\",\"detail\":null,\
             \"device\":\"laptop\",\"ip\":\"127.0.0.1\",\"object_id\":\"blob-1\",\"org\":\"acme\",\
             \"prev_hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",\
             \"seq\":1,\"size\":42,\"time_ms\":1700000000000,\
             \"user_agent\":\"agent \\\"x\\\"\\n\\u0001é\"}"
        );
    }

    #[test]
    fn actions_round_trip_through_strings() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
        }
        assert_eq!("nope".parse::<AuditAction>(), Err(UnknownAction));
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }
}
