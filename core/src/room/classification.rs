//! Classification labels, the space policy and four-eyes release statements as room content.
//!
//! A file's classification (`public`, `internal`, `confidential`, `restricted`, or a label of
//! a newer peer) is sealed in the file's metadata and signed in its
//! [`DocumentVersion`](super::DocumentVersion). The space's policy ([`SpacePolicy`]) and the
//! approvals of held files ([`ReleaseApproval`]) are room content that only devices of the
//! room's provider organisation may post: every client refuses them from anyone else
//! ([`check_staff_content`]), so a customer cannot forge either, and the relay cannot (it holds
//! no MLS keys).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::content::Content;
use super::policy::{Policy, PolicyViolation};
use crate::format::MAX_CLASSIFICATION_LEN;
use crate::identity::CredentialIdentity;

/// Most labels one policy may list.
pub const MAX_POLICY_LABELS: usize = 32;

/// A classification label. Unknown labels (from newer peers) are kept as
/// [`Classification::Other`] and shown, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Classification {
    /// `public`: may be shown to anyone.
    Public,
    /// `internal`: for the two organisations of the space.
    Internal,
    /// `confidential`: for the people of the space only.
    Confidential,
    /// `restricted`: the most sensitive label.
    Restricted,
    /// A label this SDK does not know (its wire string, unchanged).
    Other(String),
}

impl Classification {
    /// The stable wire string (`public`, `internal`, `confidential`, `restricted`, or the
    /// unknown label as received).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
            Self::Other(s) => s,
        }
    }

    /// Parses a wire string; unknown strings become [`Classification::Other`].
    pub fn from_wire(s: &str) -> Self {
        match s {
            "public" => Self::Public,
            "internal" => Self::Internal,
            "confidential" => Self::Confidential,
            "restricted" => Self::Restricted,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether the label may be written: 1 to [`MAX_CLASSIFICATION_LEN`] bytes of printable
    /// ASCII lowercase letters, digits, `-` and `_`.
    pub fn is_valid(&self) -> bool {
        let s = self.as_str();
        !s.is_empty()
            && s.len() <= MAX_CLASSIFICATION_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Classification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Classification {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}

// Kotlin/Swift see a label as its wire string (a `Classification` alias of String), as JSON does.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(Classification, String, {
    lower: |c| c.as_str().to_owned(),
    try_lift: |s| Ok(Classification::from_wire(&s)),
});

/// What the policy says about one label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LabelRule {
    /// The label.
    pub classification: Classification,
    /// Whether customers may download files with this label.
    pub customer_download: bool,
    /// Whether a scan verdict is required before customers open it (enforced from the next
    /// release on, with the scanner).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub scan_required: bool,
    /// Whether a second staff member (another user than the uploader) must approve each
    /// version before customers may open it.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub four_eyes: bool,
}

/// A space's classification policy, posted by staff into the space's customer room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SpacePolicy {
    /// The labels allowed in the space, with their rules.
    pub labels: Vec<LabelRule>,
    /// The label of an upload that names none (must be in `labels`).
    pub default: Classification,
    /// The space's scanner: the provider service user whose devices' scan verdicts
    /// ([`ScanVerdict`]) the members accept (`docs/scanner.md`). `None`: no scanner, and
    /// labels that require a scan wait for good. Keep the value read when posting a changed
    /// policy: `None` removes the scanner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", tsify(type = "string | null"))]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub scanner: Option<String>,
}

impl Default for SpacePolicy {
    /// The policy of a space whose staff set none: the four labels, `confidential` by default,
    /// customers may download every one, nothing held.
    fn default() -> Self {
        let rule = |classification| LabelRule {
            classification,
            customer_download: true,
            scan_required: false,
            four_eyes: false,
        };
        Self {
            labels: vec![
                rule(Classification::Public),
                rule(Classification::Internal),
                rule(Classification::Confidential),
                rule(Classification::Restricted),
            ],
            default: Classification::Confidential,
            scanner: None,
        }
    }
}

impl SpacePolicy {
    /// The rule of `label`, or `None` when the policy does not allow it.
    pub fn rule(&self, label: &Classification) -> Option<&LabelRule> {
        self.labels.iter().find(|r| &r.classification == label)
    }

    /// Whether the policy is well formed: 1 to [`MAX_POLICY_LABELS`] valid, distinct labels
    /// and a default among them.
    pub fn is_valid(&self) -> bool {
        let mut seen = std::collections::BTreeSet::new();
        !self.labels.is_empty()
            && self.labels.len() <= MAX_POLICY_LABELS
            && self
                .labels
                .iter()
                .all(|r| r.classification.is_valid() && seen.insert(&r.classification))
            && self.rule(&self.default).is_some()
    }
}

/// The kind of hold a release lifts.
pub const HOLD_FOUR_EYES: &str = "four_eyes";

/// The kind of a staff release that lets staff (only staff) open a file whose scan found
/// malware or failed: an explicit, audited override.
pub const RELEASE_SCAN_OVERRIDE: &str = "scan_override";

/// Most bytes of a signature name in an infected verdict.
pub const MAX_SIGNATURE_NAME_LEN: usize = 256;

/// The scanner's verdict on one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No malware found.
    Clean,
    /// Malware found: the scanner's signature name.
    Infected(String),
    /// The scan could not be completed (the scanner gave up after retries).
    Failed,
}

/// A scan verdict posted by the space's scanner device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanVerdict {
    /// The relay's blob id of the file.
    pub file_id: String,
    /// The document.
    pub document_id: String,
    /// The version scanned.
    pub version: u64,
    /// [`version_digest`] of the scanned version: binds the verdict to that version's
    /// content, label and file.
    pub version_digest: [u8; 32],
    /// The verdict.
    pub verdict: Verdict,
}

/// A staff member's approval of one version of a held file (a four-eyes release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseApproval {
    /// The relay's blob id of the file.
    pub file_id: String,
    /// The document.
    pub document_id: String,
    /// The version approved.
    pub version: u64,
    /// [`version_digest`] of the approved version: binds the approval to that version's
    /// content, label and file.
    pub version_digest: [u8; 32],
    /// The hold lifted ([`HOLD_FOUR_EYES`]).
    pub kind: String,
}

/// SHA-256 of a document version's signed bytes
/// ([`DocumentVersion::signed_bytes`](super::DocumentVersion::signed_bytes)): what a release
/// approval names.
pub fn version_digest(signed_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(signed_bytes).into()
}

/// Policy, release and scan verdict content come from provider staff only.
pub(super) fn check_staff_content(
    policy: &Policy<'_>,
    sender: &CredentialIdentity,
    content: &Content,
) -> Result<(), PolicyViolation> {
    match content {
        Content::SpacePolicy(p) => {
            if !policy.is_provider(sender) {
                return Err(PolicyViolation::NotStaff);
            }
            if !p.is_valid() {
                return Err(PolicyViolation::InvalidClassification);
            }
            Ok(())
        }
        Content::Release(r) => {
            if !policy.is_provider(sender) {
                return Err(PolicyViolation::NotStaff);
            }
            if r.kind != HOLD_FOUR_EYES && r.kind != RELEASE_SCAN_OVERRIDE {
                return Err(PolicyViolation::InvalidClassification);
            }
            Ok(())
        }
        // Receivers also check that the sender is the space's scanner (client layer).
        Content::ScanVerdict(v) => {
            if !policy.is_provider(sender) {
                return Err(PolicyViolation::NotStaff);
            }
            match &v.verdict {
                Verdict::Infected(name)
                    if name.is_empty()
                        || name.len() > MAX_SIGNATURE_NAME_LEN
                        || name.chars().any(char::is_control) =>
                {
                    Err(PolicyViolation::InvalidClassification)
                }
                _ => Ok(()),
            }
        }
        Content::Document(d) => match &d.classification {
            Some(c) if !c.is_valid() => Err(PolicyViolation::InvalidClassification),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_stable_and_unknown_labels_kept() {
        for (c, s) in [
            (Classification::Public, "public"),
            (Classification::Internal, "internal"),
            (Classification::Confidential, "confidential"),
            (Classification::Restricted, "restricted"),
        ] {
            assert_eq!(c.as_str(), s);
            assert_eq!(Classification::from_wire(s), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{s}\""));
        }
        let other: Classification = serde_json::from_str("\"export-controlled\"").unwrap();
        assert_eq!(other, Classification::Other("export-controlled".into()));
        assert_eq!(other.as_str(), "export-controlled");
        assert!(other.is_valid());
        assert!(!Classification::Other(String::new()).is_valid());
        assert!(!Classification::Other("Bad Label".into()).is_valid());
        assert!(!Classification::Other("x".repeat(256)).is_valid());
    }

    #[test]
    fn policy_validity() {
        let mut p = SpacePolicy::default();
        assert!(p.is_valid());
        p.default = Classification::Other("secret".into());
        assert!(!p.is_valid());
        let mut p = SpacePolicy::default();
        p.labels.push(p.labels[0].clone());
        assert!(!p.is_valid());
        let p = SpacePolicy {
            labels: Vec::new(),
            default: Classification::Public,
            scanner: None,
        };
        assert!(!p.is_valid());
    }
}
