//! Records of the profile calls ([`super::profiles`]), kept out of `types.rs`.

use sealroom_core::client as core;

/// What a user says about themselves (`set_profile`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProfileInput {
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Organisation (up to 100 characters).
    #[uniffi(default = None)]
    pub organisation: Option<String>,
    /// Job title (up to 100 characters).
    #[uniffi(default = None)]
    pub title: Option<String>,
}

impl From<ProfileInput> for core::ProfileInput {
    fn from(p: ProfileInput) -> Self {
        Self {
            name: p.name,
            organisation: p.organisation,
            title: p.title,
        }
    }
}

/// A user's profile as this device accepted it: signed by one of the user's own devices, the
/// latest wins; text made safe to show (no direction overrides or control characters).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UserProfile {
    /// User.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Organisation.
    pub organisation: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Unix seconds on the signing device's clock.
    pub updated_at: u64,
    /// The device that signed it.
    pub device_id: String,
}

impl From<core::UserProfile> for UserProfile {
    fn from(p: core::UserProfile) -> Self {
        Self {
            user_id: p.user_id,
            name: p.name,
            organisation: p.organisation,
            title: p.title,
            updated_at: p.updated_at,
            device_id: p.device_id,
        }
    }
}

/// One device of an [`Admission`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AdmissionDevice {
    /// Device.
    pub device_id: String,
    /// The name on the device's own signed card, if valid.
    pub name: Option<String>,
    /// Whether the user's identity key vouches for the device.
    pub verified: bool,
}

/// What staff see before admitting a user: the name the user's device signed and the safety
/// number, side by side.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Admission {
    /// User.
    pub user_id: String,
    /// The name the user's devices signed into their key packages.
    pub name: Option<String>,
    /// The user's safety number.
    pub safety_number: Option<String>,
    /// The devices an admit would add.
    pub devices: Vec<AdmissionDevice>,
}

impl From<core::Admission> for Admission {
    fn from(a: core::Admission) -> Self {
        Self {
            user_id: a.user_id,
            name: a.name,
            safety_number: a.safety_number,
            devices: a
                .devices
                .into_iter()
                .map(|d| AdmissionDevice {
                    device_id: d.device_id,
                    name: d.name,
                    verified: d.verified,
                })
                .collect(),
        }
    }
}
