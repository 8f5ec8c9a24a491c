//! Classification labels, the space policy and four-eyes release (`docs/client.md`,
//! "Classification and policy", "Four-eyes release").
//!
//! * Every upload carries a [`Classification`], sealed in the file's metadata, signed in the
//!   room's document version and in the manifest. Receivers compare the sealed label with the
//!   announced one when they open the file and refuse a mismatch.
//! * The space's [`SpacePolicy`] is room content in the space's customer room that only
//!   provider staff may post (the room layer refuses it from anyone else); the latest one in
//!   room order wins. Uploads with a label the policy does not allow are refused before
//!   anything is encrypted, and receivers refuse to open them.
//! * A label whose rule asks for four eyes holds each version for customers until a second
//!   member of staff approves it ([`SealroomClient::approve_release`]): a provider staff user
//!   other than the uploader's and other than the space's scanner (a machine, named by
//!   [`SpacePolicy::scanner`]). The approval is a [`ReleaseApproval`] in the room, and a
//!   signed release statement the relay checks before it serves the blob to customers.
//!   Receivers ignore an approval from the uploader's user or from the scanner.

use serde::{Deserialize, Serialize};

use crate::identity::CredentialIdentity;
use crate::room::{
    self, version_digest, AppWrite, Content, DocumentVersion, Label, ReleaseApproval,
    HOLD_FOUR_EYES, RELEASE_SCAN_OVERRIDE,
};

pub use crate::room::{Classification, LabelRule, SpacePolicy};

use super::files::{FileVersion, NewFile};
use super::scan::ScanState;
use super::{from_json, to_json, ClientError, ClientEvent, RoomRecord, SealroomClient};

const POLICY_PREFIX: &str = "lpol/";
pub(super) const RELEASE_PREFIX: &str = "lrel/";

/// Why the SDK refuses a labelled file ([`ClientError::Label`]); each has a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelRefusal {
    /// `awaiting_release`: the label asks for a four-eyes release and no staff member other
    /// than the uploader and the scanner approved this version yet.
    AwaitingRelease,
    /// `download_not_allowed`: the space's policy does not let customers download this label.
    DownloadNotAllowed,
    /// `label_not_allowed`: the space's policy does not allow this label.
    NotAllowed,
    /// `label_mismatch`: the label sealed in the file differs from the signed announcement.
    Mismatch,
    /// `self_release`: the uploader's own user cannot release the file.
    SelfRelease,
    /// `not_staff`: only provider staff set the policy or release files (the space's scanner
    /// is not staff for a four-eyes release or a scan override).
    NotStaff,
    /// `invalid_policy`: the policy or label is malformed (see [`SpacePolicy::is_valid`]).
    InvalidPolicy,
    /// `awaiting_scan`: the label requires a scan and the space's scanner posted no verdict on
    /// this version yet.
    AwaitingScan,
    /// `infected`: the scanner found malware in this version (only a staff override opens it).
    Infected,
    /// `scan_failed`: the scanner could not scan this version (only a staff override opens it).
    ScanFailed,
    /// `not_scanner`: only the space's scanner posts scan verdicts.
    NotScanner,
    /// `not_overridable`: a scan override needs an infected or failed verdict.
    NotOverridable,
}

impl LabelRefusal {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::AwaitingRelease => "awaiting_release",
            Self::DownloadNotAllowed => "download_not_allowed",
            Self::NotAllowed => "label_not_allowed",
            Self::Mismatch => "label_mismatch",
            Self::SelfRelease => "self_release",
            Self::NotStaff => "not_staff",
            Self::InvalidPolicy => "invalid_policy",
            Self::AwaitingScan => "awaiting_scan",
            Self::Infected => "infected",
            Self::ScanFailed => "scan_failed",
            Self::NotScanner => "not_scanner",
            Self::NotOverridable => "not_overridable",
        }
    }
}

impl std::fmt::Display for LabelRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AwaitingRelease => "the file awaits a four-eyes release by a second staff member",
            Self::DownloadNotAllowed => {
                "the space's policy does not let customers download this label"
            }
            Self::NotAllowed => "the space's policy does not allow this label",
            Self::Mismatch => "the sealed label differs from the signed announcement",
            Self::SelfRelease => "the uploader cannot release their own file",
            Self::NotStaff => "only provider staff may do this",
            Self::InvalidPolicy => "malformed label or policy",
            Self::AwaitingScan => "the file awaits the scanner's verdict",
            Self::Infected => "the scanner found malware in the file",
            Self::ScanFailed => "the scanner could not scan the file",
            Self::NotScanner => "only the space's scanner posts scan verdicts",
            Self::NotOverridable => "only an infected or failed scan can be overridden",
        })
    }
}

/// What this device may do with a file version under the space's current policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FileAccess {
    /// It opens.
    #[default]
    Open,
    /// Held for a four-eyes release (customers only).
    AwaitingRelease,
    /// Customers may not download this label.
    DownloadNotAllowed,
    /// The label is not allowed in the space.
    LabelNotAllowed,
    /// The label requires a scan and no verdict arrived yet.
    AwaitingScan,
    /// The scanner found malware (no staff override for this device).
    Infected,
    /// The scan failed (no staff override for this device).
    ScanFailed,
}

impl FileAccess {
    /// The stable code (`open` or the refusal's code).
    pub fn code(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::AwaitingRelease => LabelRefusal::AwaitingRelease.code(),
            Self::DownloadNotAllowed => LabelRefusal::DownloadNotAllowed.code(),
            Self::LabelNotAllowed => LabelRefusal::NotAllowed.code(),
            Self::AwaitingScan => LabelRefusal::AwaitingScan.code(),
            Self::Infected => LabelRefusal::Infected.code(),
            Self::ScanFailed => LabelRefusal::ScanFailed.code(),
        }
    }

    fn refusal(self) -> Option<LabelRefusal> {
        match self {
            Self::Open => None,
            Self::AwaitingRelease => Some(LabelRefusal::AwaitingRelease),
            Self::DownloadNotAllowed => Some(LabelRefusal::DownloadNotAllowed),
            Self::LabelNotAllowed => Some(LabelRefusal::NotAllowed),
            Self::AwaitingScan => Some(LabelRefusal::AwaitingScan),
            Self::Infected => Some(LabelRefusal::Infected),
            Self::ScanFailed => Some(LabelRefusal::ScanFailed),
        }
    }
}

/// A space policy as this device received it.
#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    policy: SpacePolicy,
    user_id: String,
    device_id: String,
}

/// A release approval (four eyes) or scan override as this device received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredRelease {
    /// [`HOLD_FOUR_EYES`] or [`crate::room::RELEASE_SCAN_OVERRIDE`] (records written before overrides
    /// existed are four-eyes releases).
    #[serde(default = "four_eyes")]
    pub(super) kind: String,
    pub(super) file_id: String,
    pub(super) version: u64,
    pub(super) version_digest: String,
    pub(super) user_id: String,
    pub(super) device_id: String,
}

fn four_eyes() -> String {
    HOLD_FOUR_EYES.to_owned()
}

fn policy_key(space_id: &str) -> String {
    format!("{POLICY_PREFIX}{space_id}")
}

/// Key of a four-eyes release; a scan override has its own key (`kind` suffix), so that
/// neither replaces the other.
pub(super) fn release_key(space_id: &str, file_id: &str, user_id: &str, kind: &str) -> String {
    if kind == HOLD_FOUR_EYES {
        format!("{RELEASE_PREFIX}{space_id}/{file_id}/{user_id}")
    } else {
        format!("{RELEASE_PREFIX}{space_id}/{file_id}/{user_id}/{kind}")
    }
}

/// Records a policy or release received from the room (called from `sync`; the room layer
/// already refused both from anyone but provider staff).
pub(super) fn translate_content(
    content: &Content,
    sender: &CredentialIdentity,
    record: &RoomRecord,
    writes: &mut Vec<AppWrite>,
    _out: &mut [ClientEvent],
) {
    match content {
        // The space policy lives in the customer room, where customers see it too.
        Content::SpacePolicy(p) if !record.internal => {
            let stored = StoredPolicy {
                policy: p.clone(),
                user_id: sender.user_id.clone(),
                device_id: sender.device_id.clone(),
            };
            if let Ok(bytes) = to_json(&stored) {
                writes.push((policy_key(&record.space_id), Some(bytes)));
            }
        }
        Content::Release(r) => {
            let stored = StoredRelease {
                kind: r.kind.clone(),
                file_id: r.file_id.clone(),
                version: r.version,
                version_digest: hex::encode(r.version_digest),
                user_id: sender.user_id.clone(),
                device_id: sender.device_id.clone(),
            };
            if let Ok(bytes) = to_json(&stored) {
                writes.push((
                    release_key(&record.space_id, &r.file_id, &sender.user_id, &r.kind),
                    Some(bytes),
                ));
            }
        }
        _ => {}
    }
}

/// The signed bytes of a file version as its document announcement signed them.
pub(super) fn announced_bytes(room_id: &str, f: &FileVersion) -> Option<Vec<u8>> {
    let mut content_digest = [0u8; 32];
    hex::decode_to_slice(&f.digest, &mut content_digest).ok()?;
    Some(
        DocumentVersion {
            document_id: f.document_id.clone(),
            version: f.version,
            content_digest,
            file_id: Some(f.file_id.clone()),
            author_signature: Vec::new(),
            classification: f.classification.clone(),
        }
        .signed_bytes(room_id),
    )
}

/// The label of a sealed file's metadata as an announcement states it (`None`: empty).
pub(super) fn sealed_label_matches(entry: &FileVersion, sealed: &str) -> Result<(), ClientError> {
    let announced = entry.classification.as_ref().map_or("", |c| c.as_str());
    if announced == sealed {
        Ok(())
    } else {
        Err(ClientError::Label(LabelRefusal::Mismatch))
    }
}

/// A listed file version with the room that announced it and the digest of that
/// announcement: what a scan verdict or a release names.
pub(super) struct AnnouncedVersion {
    pub(super) entry: FileVersion,
    pub(super) record: RoomRecord,
    pub(super) room_id: room::RoomId,
    pub(super) digest: [u8; 32],
}

impl SealroomClient {
    /// The space's classification policy: the latest one staff posted into the space's
    /// customer room, or [`SpacePolicy::default`] when none arrived yet.
    pub fn space_policy(&self, space_id: &str) -> Result<SpacePolicy, ClientError> {
        let stored: Option<StoredPolicy> =
            self.with(|r| match r.rooms.app_get(&policy_key(space_id))? {
                Some(bytes) => from_json(&bytes).map(Some),
                None => Ok(None),
            })?;
        Ok(stored.map(|s| s.policy).unwrap_or_default())
    }

    /// Sets the space's classification policy (provider staff only): posts it into the
    /// space's customer room, where every member's client checks that a staff device sent it.
    pub async fn set_space_policy(
        &self,
        space_id: &str,
        policy: &SpacePolicy,
    ) -> Result<(), ClientError> {
        if !policy.is_valid() {
            return Err(ClientError::Label(LabelRefusal::InvalidPolicy));
        }
        let record = self.space_room(space_id, false)?;
        if record.removed {
            return Err(ClientError::RemovedFromSpace(space_id.to_owned()));
        }
        let room_id = record.core_id()?;
        if !self.is_staff_in(&room_id)? {
            return Err(ClientError::Label(LabelRefusal::NotStaff));
        }
        let content = Content::SpacePolicy(policy.clone());
        let msg = self.with(|r| Ok(r.rooms.post(&room_id, Label::Customer, content)?))?;
        self.send_message_bytes(&record.relay_id, &msg, None)
            .await
            .map_err(|e| super::files::removal(e, space_id))?;
        let account = self.account()?;
        let stored = StoredPolicy {
            policy: policy.clone(),
            user_id: account.user_id,
            device_id: account.device_id,
        };
        let write = (policy_key(space_id), Some(to_json(&stored)?));
        self.with(|r| Ok(r.rooms.app_commit(vec![write])?))
    }

    /// Approves (releases) a held file version: a second member of staff, that is provider
    /// staff of another user than the uploader's and not the space's scanner
    /// ([`SpacePolicy::scanner`], a machine). Posts a [`ReleaseApproval`] naming the file and
    /// its version digest into the file's room, and the signed release statement to the relay,
    /// which then serves the blob to the space's customers.
    ///
    /// # Errors
    ///
    /// [`LabelRefusal::NotStaff`] for a customer or for the space's scanner (the relay also
    /// refuses the scanner's release, `403 scanner_not_staff`, and every client ignores a
    /// scanner's approval in the room); [`LabelRefusal::SelfRelease`] for the uploader's user.
    pub async fn approve_release(&self, space_id: &str, file_id: &str) -> Result<(), ClientError> {
        self.release_version(space_id, file_id, HOLD_FOUR_EYES)
            .await
    }

    /// Releases the listed version of a file as provider staff of another user than the
    /// uploader: a [`ReleaseApproval`] of `kind` ([`HOLD_FOUR_EYES`] or
    /// [`RELEASE_SCAN_OVERRIDE`]) in the file's room, the statement signed by this device on
    /// the relay (a blob without that hold is fine: the room's approval stands), and this
    /// device's own record of it. A scan override needs an infected or failed verdict; neither
    /// kind is ever the scanner's.
    pub(super) async fn release_version(
        &self,
        space_id: &str,
        file_id: &str,
        kind: &str,
    ) -> Result<(), ClientError> {
        let entry = self.listed(space_id, file_id)?;
        let overriding = kind == RELEASE_SCAN_OVERRIDE;
        if overriding && !matches!(entry.scan, ScanState::Infected { .. } | ScanState::Failed) {
            return Err(ClientError::Label(LabelRefusal::NotOverridable));
        }
        let version = self.announced(space_id, entry)?;
        if !self.is_staff_in(&version.room_id)? {
            return Err(ClientError::Label(LabelRefusal::NotStaff));
        }
        let account = self.account()?;
        if account.user_id == version.entry.sender_user_id {
            return Err(ClientError::Label(LabelRefusal::SelfRelease));
        }
        // The scanner is a machine, not a second member of staff.
        if self.space_policy(space_id)?.scanner.as_deref() == Some(account.user_id.as_str()) {
            return Err(ClientError::Label(LabelRefusal::NotStaff));
        }
        let approval = ReleaseApproval {
            file_id: file_id.to_owned(),
            document_id: version.entry.document_id.clone(),
            version: version.entry.version,
            version_digest: version.digest,
            kind: kind.to_owned(),
        };
        self.post_about(space_id, &version, Content::Release(approval))
            .await?;
        self.relay_release(&version.record.relay_id, file_id, kind, space_id)
            .await?;
        let stored = StoredRelease {
            kind: kind.to_owned(),
            file_id: file_id.to_owned(),
            version: version.entry.version,
            version_digest: hex::encode(version.digest),
            user_id: account.user_id.clone(),
            device_id: account.device_id,
        };
        let write = (
            release_key(space_id, file_id, &account.user_id, kind),
            Some(to_json(&stored)?),
        );
        self.with(|r| Ok(r.rooms.app_commit(vec![write])?))
    }

    /// The listed version of `file_id`.
    pub(super) fn listed(&self, space_id: &str, file_id: &str) -> Result<FileVersion, ClientError> {
        self.files(space_id)?
            .into_iter()
            .find(|f| f.file_id == file_id)
            .ok_or_else(|| ClientError::Unknown {
                what: "file",
                id: file_id.to_owned(),
            })
    }

    /// A listed version with the room that announced it, to post a verdict or release about;
    /// refuses when this device was removed from that room.
    pub(super) fn announced(
        &self,
        space_id: &str,
        entry: FileVersion,
    ) -> Result<AnnouncedVersion, ClientError> {
        let record = self.space_room(space_id, entry.internal)?;
        if record.removed {
            return Err(ClientError::RemovedFromSpace(space_id.to_owned()));
        }
        let room_id = record.core_id()?;
        let signed = announced_bytes(room_id.as_str(), &entry)
            .ok_or(ClientError::State(crate::state::StateError::Corrupt))?;
        Ok(AnnouncedVersion {
            digest: version_digest(&signed),
            entry,
            record,
            room_id,
        })
    }

    /// Posts `content` about a version into the room that announced it, under that room's
    /// label, and sends it to the relay.
    pub(super) async fn post_about(
        &self,
        space_id: &str,
        version: &AnnouncedVersion,
        content: Content,
    ) -> Result<(), ClientError> {
        let label = if version.entry.internal {
            Label::Internal
        } else {
            Label::Customer
        };
        let msg = self.with(|r| Ok(r.rooms.post(&version.room_id, label, content)?))?;
        self.send_message_bytes(&version.record.relay_id, &msg, None)
            .await
            .map_err(|e| super::files::removal(e, space_id))?;
        Ok(())
    }

    /// Whether this device belongs to the room's provider organisation.
    pub(super) fn is_staff_in(&self, room_id: &room::RoomId) -> Result<bool, ClientError> {
        let org = self.account()?.org_id;
        Ok(self.room_provider(room_id)?.as_deref() == Some(org.as_str()))
    }

    /// The room's provider organisation as its MLS group context states it.
    fn room_provider(&self, room_id: &room::RoomId) -> Result<Option<String>, ClientError> {
        self.with(|r| Ok(r.rooms.room_members(room_id)?.provider_org))
    }

    /// The label, rule and relay holds of an upload under the space's policy; refuses a label
    /// the policy does not allow before anything is encrypted.
    pub(super) fn upload_label(
        &self,
        space_id: &str,
        file: &NewFile,
    ) -> Result<(Classification, Vec<String>), ClientError> {
        let policy = self.space_policy(space_id)?;
        let label = file
            .classification
            .clone()
            .unwrap_or_else(|| policy.default.clone());
        if !label.is_valid() {
            return Err(ClientError::Label(LabelRefusal::InvalidPolicy));
        }
        let rule = policy
            .rule(&label)
            .ok_or(ClientError::Label(LabelRefusal::NotAllowed))?;
        // The relay keeps customers away from the bytes as well: until a release for a
        // four-eyes label, for good when customers may not download the label.
        let held = rule.four_eyes || !rule.customer_download;
        let mut holds = Vec::new();
        if held && !file.internal {
            holds.push(HOLD_FOUR_EYES.to_owned());
        }
        // Until the scanner's release, the relay serves it to the uploader and the scanner.
        if rule.scan_required && !file.internal {
            holds.push(sealroom_wire::blobs::HOLD_SCAN.to_owned());
        }
        Ok((label, holds))
    }

    /// Fills in the label-derived fields of listed file versions (`access`, `released_by`).
    pub(super) fn annotate_labels(
        &self,
        space_id: &str,
        files: &mut [FileVersion],
    ) -> Result<(), ClientError> {
        if files.is_empty() {
            return Ok(());
        }
        let policy = self.space_policy(space_id)?;
        let releases: Vec<StoredRelease> = self.with(|r| {
            let mut out = Vec::new();
            for key in r.rooms.app_keys(&format!("{RELEASE_PREFIX}{space_id}/"))? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    out.push(from_json(&bytes)?);
                }
            }
            Ok(out)
        })?;
        let verdicts = self.stored_verdicts(space_id)?;
        let account = self.account()?;
        let org = account.org_id.clone();
        let mut rooms: Vec<(bool, Option<(String, bool)>)> = Vec::new();
        for internal in [false, true] {
            let info = match self.space_room(space_id, internal) {
                Ok(record) => {
                    let room_id = record.core_id()?;
                    let staff = self.room_provider(&room_id)?.as_deref() == Some(org.as_str());
                    Some((room_id.as_str().to_owned(), staff))
                }
                Err(ClientError::Unknown { .. }) => None,
                Err(e) => return Err(e),
            };
            rooms.push((internal, info));
        }
        for f in files.iter_mut() {
            let Some((room_id, staff)) = rooms
                .iter()
                .find(|(i, _)| *i == f.internal)
                .and_then(|(_, info)| info.clone())
            else {
                continue;
            };
            let digest = announced_bytes(&room_id, f).map(|b| hex::encode(version_digest(&b)));
            f.released_by = releases
                .iter()
                .filter(|r| {
                    r.kind == HOLD_FOUR_EYES
                        && r.file_id == f.file_id
                        && r.version == f.version
                        && Some(&r.version_digest) == digest.as_ref()
                        && r.user_id != f.sender_user_id
                        && Some(r.user_id.as_str()) != policy.scanner.as_deref()
                })
                .map(|r| r.user_id.clone())
                .collect();
            let label = f
                .classification
                .clone()
                .unwrap_or_else(|| policy.default.clone());
            f.access = match policy.rule(&label) {
                None => FileAccess::LabelNotAllowed,
                Some(_) if staff || f.internal => FileAccess::Open,
                Some(rule) if !rule.customer_download => FileAccess::DownloadNotAllowed,
                Some(rule) if rule.four_eyes && f.released_by.is_empty() => {
                    FileAccess::AwaitingRelease
                }
                Some(_) => FileAccess::Open,
            };
            let scan_required = policy.rule(&label).is_some_and(|r| r.scan_required);
            super::scan::annotate_scan(
                f,
                &policy,
                scan_required,
                staff,
                &account.user_id,
                digest.as_deref(),
                &releases,
                &verdicts,
            );
        }
        Ok(())
    }

    /// Refuses to open a file version this device may not open ([`FileAccess`]).
    pub(super) fn check_open(&self, entry: &FileVersion) -> Result<(), ClientError> {
        match entry.access.refusal() {
            Some(r) => Err(ClientError::Label(r)),
            None => Ok(()),
        }
    }
}
