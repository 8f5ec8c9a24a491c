//! Binding records of the space's classification policy and of scan verdicts, field-for-field
//! copies of the core types with `From` conversions (labels as their stable wire strings).
//! Nothing here decides anything.

use sealroom_core::client as core;

/// Core's own enum (uniffi derive behind core's `uniffi` feature).
pub use sealroom_core::client::ScanState;

/// What the space policy says about one label.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LabelRule {
    /// The label (`public`, `internal`, `confidential`, `restricted` or a newer peer's).
    pub classification: String,
    /// Whether customers may download files with this label.
    pub customer_download: bool,
    /// Whether a scan verdict is required (enforced with the scanner).
    #[uniffi(default = false)]
    pub scan_required: bool,
    /// Whether a second staff member must release each version before customers open it.
    #[uniffi(default = false)]
    pub four_eyes: bool,
}

/// A space's classification policy.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SpacePolicy {
    /// The labels allowed, with their rules.
    pub labels: Vec<LabelRule>,
    /// The label of an upload that names none (one of `labels`).
    pub default_label: String,
    /// The user id of the space's scanner (a service user of the provider), if the space has
    /// one. Keep the value read from `space_policy` when posting a changed policy: `None`
    /// removes the scanner from the policy.
    #[uniffi(default = None)]
    pub scanner: Option<String>,
}

impl From<core::SpacePolicy> for SpacePolicy {
    fn from(p: core::SpacePolicy) -> Self {
        Self {
            labels: p
                .labels
                .into_iter()
                .map(|r| LabelRule {
                    classification: r.classification.as_str().to_owned(),
                    customer_download: r.customer_download,
                    scan_required: r.scan_required,
                    four_eyes: r.four_eyes,
                })
                .collect(),
            default_label: p.default.as_str().to_owned(),
            scanner: p.scanner,
        }
    }
}

impl From<SpacePolicy> for core::SpacePolicy {
    fn from(p: SpacePolicy) -> Self {
        Self {
            labels: p
                .labels
                .into_iter()
                .map(|r| core::LabelRule {
                    classification: core::Classification::from_wire(&r.classification),
                    customer_download: r.customer_download,
                    scan_required: r.scan_required,
                    four_eyes: r.four_eyes,
                })
                .collect(),
            default: core::Classification::from_wire(&p.default_label),
            scanner: p.scanner,
        }
    }
}
