//! Malware scan verdicts (`docs/scanner.md`, "The clients").
//!
//! * The space's scanner is a device of a provider service user; the space policy, which only
//!   staff post, names that user ([`SpacePolicy::scanner`]). Receivers accept a
//!   [`ScanVerdict`] only from a device of that user (the room layer already refuses verdicts
//!   from anyone outside the provider organisation), and only when it names the file, its
//!   version and the digest of the version's signed announcement.
//! * A file version whose label requires a scan waits ([`ScanState::Waiting`]) until a verdict
//!   arrives; a customer-room upload with such a label is also held on the relay (`scan`) until
//!   the scanner's device sends the relay its signed release, which it does for clean files.
//! * An infected or failed file opens for no one but its uploader and the scanner, unless a
//!   staff member (not the uploader's user, not the scanner) overrides the verdict with
//!   [`SealroomClient::override_scan`]: a signed release of kind `scan_override` in the room
//!   and on the relay, audited there. The override opens the file for staff, never customers.

use serde::{Deserialize, Serialize};

use sealroom_wire::blobs::{release_statement, ReleaseRequest, ScannerDesignation, HOLD_SCAN};

use crate::identity::CredentialIdentity;
use crate::room::{AppWrite, Content, ScanVerdict, SpacePolicy, RELEASE_SCAN_OVERRIDE};

pub use crate::room::Verdict;

use super::api::{relay_error, seg, Call};
use super::files::FileVersion;
use super::labels::{FileAccess, LabelRefusal, StoredRelease};
use super::{from_json, to_json, ClientError, RoomRecord, SealroomClient};

const VERDICT_PREFIX: &str = "lscan/";

/// The scan state of a file version, as listings carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ScanState {
    /// Its label requires no scan and no verdict arrived.
    #[default]
    NotRequired,
    /// Its label requires a scan; no verdict from the space's scanner yet.
    Waiting,
    /// The scanner found nothing.
    Clean,
    /// The scanner found malware.
    Infected {
        /// The scanner's signature name.
        signature: String,
    },
    /// The scanner could not scan it.
    Failed,
}

impl ScanState {
    /// The stable code (`not_required`, `waiting`, `clean`, `infected`, `failed`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Waiting => "waiting",
            Self::Clean => "clean",
            Self::Infected { .. } => "infected",
            Self::Failed => "failed",
        }
    }

    fn from_verdict(v: &Verdict) -> Self {
        match v {
            Verdict::Clean => Self::Clean,
            Verdict::Infected(name) => Self::Infected {
                signature: name.clone(),
            },
            Verdict::Failed => Self::Failed,
        }
    }
}

/// A verdict as this device received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredVerdict {
    file_id: String,
    version: u64,
    version_digest: String,
    state: ScanState,
    user_id: String,
    device_id: String,
}

/// One slot per file and sending user: a forged verdict from another staff user never
/// replaces the scanner's, and the scanner's latest verdict on a version wins.
fn verdict_key(space_id: &str, file_id: &str, user_id: &str) -> String {
    format!("{VERDICT_PREFIX}{space_id}/{file_id}/{user_id}")
}

/// Records a verdict received from the room (called from `sync`; the room layer already
/// refused it from anyone outside the provider organisation).
pub(super) fn translate_content(
    content: &Content,
    sender: &CredentialIdentity,
    record: &RoomRecord,
    writes: &mut Vec<AppWrite>,
) {
    if let Content::ScanVerdict(v) = content {
        let stored = StoredVerdict {
            file_id: v.file_id.clone(),
            version: v.version,
            version_digest: hex::encode(v.version_digest),
            state: ScanState::from_verdict(&v.verdict),
            user_id: sender.user_id.clone(),
            device_id: sender.device_id.clone(),
        };
        if let Ok(bytes) = to_json(&stored) {
            writes.push((
                verdict_key(&record.space_id, &v.file_id, &sender.user_id),
                Some(bytes),
            ));
        }
    }
}

/// Sets `scan` of a listed version and narrows its `access` (called by the label listing).
/// `digest`: hex [`version_digest`] of the version's signed announcement.
#[allow(clippy::too_many_arguments)]
pub(super) fn annotate_scan(
    f: &mut FileVersion,
    policy: &SpacePolicy,
    scan_required: bool,
    staff: bool,
    me: &str,
    digest: Option<&str>,
    releases: &[StoredRelease],
    verdicts: &[StoredVerdict],
) {
    let scanner = policy.scanner.as_deref();
    let verdict = verdicts.iter().find(|v| {
        Some(v.user_id.as_str()) == scanner
            && v.file_id == f.file_id
            && v.version == f.version
            && Some(v.version_digest.as_str()) == digest
    });
    let required = scan_required && !f.internal;
    f.scan = match verdict {
        Some(v) => v.state.clone(),
        None if required => ScanState::Waiting,
        None => ScanState::NotRequired,
    };
    // The uploader has the plaintext already; the scanner must read it to scan it.
    if me == f.sender_user_id || Some(me) == scanner {
        return;
    }
    if !matches!(f.access, FileAccess::Open | FileAccess::AwaitingRelease) {
        return;
    }
    let overridden = staff
        && releases.iter().any(|r| {
            r.kind == RELEASE_SCAN_OVERRIDE
                && r.file_id == f.file_id
                && r.version == f.version
                && Some(r.version_digest.as_str()) == digest
                && r.user_id != f.sender_user_id
                && Some(r.user_id.as_str()) != scanner
        });
    let refusal = match &f.scan {
        ScanState::Waiting => Some(FileAccess::AwaitingScan),
        ScanState::Infected { .. } if !overridden => Some(FileAccess::Infected),
        ScanState::Failed if !overridden => Some(FileAccess::ScanFailed),
        _ => None,
    };
    if let Some(r) = refusal {
        f.access = r;
    }
}

impl SealroomClient {
    /// Names the space's scanner (provider staff): designates `user_id` (a provider staff
    /// member of the space) on the relay, which then takes `scan` releases from its devices
    /// only, and posts the space policy with [`SpacePolicy::scanner`] set, from which every
    /// member's client accepts verdicts. `None` removes the scanner.
    pub async fn set_space_scanner(
        &self,
        space_id: &str,
        user_id: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut policy = self.space_policy(space_id)?;
        policy.scanner = user_id.map(str::to_owned);
        self.signed(Call::json(
            "PUT",
            format!("/v1/spaces/{}/scanner", seg(space_id)),
            &ScannerDesignation {
                user_id: policy.scanner.clone(),
            },
        )?)
        .await?;
        self.set_space_policy(space_id, &policy).await
    }

    /// Every verdict received in the space (any sender; listings keep the scanner's).
    pub(super) fn stored_verdicts(
        &self,
        space_id: &str,
    ) -> Result<Vec<StoredVerdict>, ClientError> {
        self.with(|r| {
            let mut out = Vec::new();
            for key in r.rooms.app_keys(&format!("{VERDICT_PREFIX}{space_id}/"))? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    out.push(from_json(&bytes)?);
                }
            }
            Ok(out)
        })
    }

    /// Sends the relay a release statement of `kind` signed by this device; a blob without
    /// that hold (`409 not_held`) is fine.
    pub(super) async fn relay_release(
        &self,
        relay_id: &str,
        file_id: &str,
        kind: &str,
        space_id: &str,
    ) -> Result<(), ClientError> {
        let statement = release_statement(relay_id, file_id, kind);
        let signature = hex::encode(self.with(|r| Ok(r.rooms.device().sign(&statement)))?);
        let response = self
            .signed_raw(Call::json(
                "POST",
                format!("/v1/rooms/{relay_id}/blobs/{file_id}/release"),
                &ReleaseRequest {
                    kind: kind.to_owned(),
                    signature,
                },
            )?)
            .await?;
        match response.status {
            200..=299 => Ok(()),
            409 if relay_error(&response).code() == "relay_not_held" => Ok(()),
            _ => Err(super::files::removal(relay_error(&response), space_id)),
        }
    }

    /// Posts this device's scan verdict on a file version (the space's scanner only: the user
    /// the space policy names). A clean verdict also releases the relay's `scan` hold.
    pub async fn post_scan_verdict(
        &self,
        space_id: &str,
        file_id: &str,
        verdict: Verdict,
    ) -> Result<(), ClientError> {
        if let Verdict::Infected(name) = &verdict {
            if name.is_empty()
                || name.len() > crate::room::MAX_SIGNATURE_NAME_LEN
                || name.chars().any(char::is_control)
            {
                return Err(ClientError::InvalidInput(
                    "a signature name is 1 to 256 bytes without control characters".into(),
                ));
            }
        }
        let account = self.account()?;
        if self.space_policy(space_id)?.scanner.as_deref() != Some(account.user_id.as_str()) {
            return Err(ClientError::Label(LabelRefusal::NotScanner));
        }
        let version = self.announced(space_id, self.listed(space_id, file_id)?)?;
        let content = ScanVerdict {
            file_id: file_id.to_owned(),
            document_id: version.entry.document_id.clone(),
            version: version.entry.version,
            version_digest: version.digest,
            verdict: verdict.clone(),
        };
        self.post_about(space_id, &version, Content::ScanVerdict(content))
            .await?;
        if verdict == Verdict::Clean {
            self.relay_release(&version.record.relay_id, file_id, HOLD_SCAN, space_id)
                .await?;
        }
        let stored = StoredVerdict {
            file_id: file_id.to_owned(),
            version: version.entry.version,
            version_digest: hex::encode(version.digest),
            state: ScanState::from_verdict(&verdict),
            user_id: account.user_id.clone(),
            device_id: account.device_id,
        };
        let write = (
            verdict_key(space_id, file_id, &account.user_id),
            Some(to_json(&stored)?),
        );
        self.with(|r| Ok(r.rooms.app_commit(vec![write])?))
    }

    /// Overrides an infected or failed verdict (provider staff, not the uploader's user, not
    /// the scanner): posts a signed `scan_override` release into the file's room and to the
    /// relay (audited there as `blob.release kind=scan_override`). Staff may then open the
    /// file; customers still may not.
    ///
    /// # Errors
    ///
    /// [`LabelRefusal::NotStaff`] for a customer or for the space's scanner (a machine does
    /// not overrule its own verdict: the relay refuses its override, `403 scanner_not_staff`,
    /// and every client ignores one in the room); [`LabelRefusal::SelfRelease`] for the
    /// uploader's user; [`LabelRefusal::NotOverridable`] unless the verdict is infected or
    /// failed.
    pub async fn override_scan(&self, space_id: &str, file_id: &str) -> Result<(), ClientError> {
        self.release_version(space_id, file_id, RELEASE_SCAN_OVERRIDE)
            .await
    }
}
