//! User profiles: the display name (and optionally organisation and title) a user gives
//! themselves, signed by one of the user's devices.
//!
//! A profile travels inside the rooms as [`super::Content::Profile`] (encrypted by MLS; the
//! relay never sees it) and, reduced to the name alone, as the [`PROFILE_CARD_EXTENSION`] of
//! the device's key packages, so that staff admitting a new device see a name the device itself
//! signed before the device is in any room.
//!
//! Signed bytes (Ed25519, by the device key of the MLS leaf / relay requests):
//!
//! ```text
//! "sealroom-profile-v1" || u32 BE len || user id || u32 BE len || device id
//!                       || u32 BE len || name || opt(organisation) || opt(title)
//!                       || u64 BE updated_at
//! opt(x) = 0x00 | 0x01 || u32 BE len || x
//! ```
//!
//! Receivers accept a profile only when its user and device are the sender's MLS credential
//! (in a room) or the key package's credential (a card), and the signature verifies under that
//! device's key; among the accepted profiles of one user, the one with the highest
//! `updated_at` (the signer's clock) wins. Names are display data: [`display_text`] removes
//! bidirectional controls and control characters before anything shows them.

use crate::identity::DeviceIdentity;
use crate::primitives::ed25519_verify;

/// Domain separation of the profile signature.
pub const PROFILE_LABEL: &[u8] = b"sealroom-profile-v1";
/// The key-package extension type (private use) carrying the device's profile card.
pub const PROFILE_CARD_EXTENSION: u16 = 0xF5A2;
/// Longest name, organisation or title, in characters.
pub const PROFILE_FIELD_MAX: usize = 100;

/// A user's profile as one of their devices signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The user the profile describes.
    pub user_id: String,
    /// The device that signed it.
    pub device_id: String,
    /// Display name.
    pub name: String,
    /// Organisation, as the user gives it.
    pub organisation: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Unix time (s) on the signer's clock: the latest profile of a user wins.
    pub updated_at: u64,
    /// Ed25519 signature of the device over [`Profile::signed_bytes`].
    pub signature: Vec<u8>,
}

/// Why a profile is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileProblem {
    /// The name is empty (after trimming) or a field is longer than [`PROFILE_FIELD_MAX`].
    Invalid,
    /// The profile names another user or device than the one that sent or carries it.
    NotSender,
    /// The signature does not verify under the device's key.
    BadSignature,
}

impl Profile {
    /// Creates and signs a profile of `device`'s user.
    pub fn sign(
        device: &DeviceIdentity,
        name: &str,
        organisation: Option<&str>,
        title: Option<&str>,
        updated_at: u64,
    ) -> Result<Self, ProfileProblem> {
        let clean = |s: &str| s.trim().to_owned();
        let mut profile = Profile {
            user_id: device.identity().user_id.clone(),
            device_id: device.identity().device_id.clone(),
            name: clean(name),
            organisation: organisation.map(clean).filter(|s| !s.is_empty()),
            title: title.map(clean).filter(|s| !s.is_empty()),
            updated_at,
            signature: Vec::new(),
        };
        profile.check_fields()?;
        profile.signature = device.sign(&profile.signed_bytes()).to_vec();
        Ok(profile)
    }

    /// The card published with key packages: the name alone (the relay already holds the
    /// name the user registered with; organisation and title stay inside the rooms).
    pub fn card(&self, device: &DeviceIdentity) -> Result<Self, ProfileProblem> {
        Profile::sign(device, &self.name, None, None, self.updated_at)
    }

    /// The bytes the device signs (see the module docs).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = PROFILE_LABEL.to_vec();
        for part in [&self.user_id, &self.device_id, &self.name] {
            put(&mut out, part);
        }
        for opt in [&self.organisation, &self.title] {
            match opt {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    put(&mut out, s);
                }
            }
        }
        out.extend_from_slice(&self.updated_at.to_be_bytes());
        out
    }

    /// Checks that the profile is `user_id`/`device_id`'s, signed by `device_key`, with
    /// fields in bounds.
    pub fn verify(
        &self,
        user_id: &str,
        device_id: &str,
        device_key: &[u8],
    ) -> Result<(), ProfileProblem> {
        if self.user_id != user_id || self.device_id != device_id {
            return Err(ProfileProblem::NotSender);
        }
        self.check_fields()?;
        let key: &[u8; 32] = device_key
            .try_into()
            .map_err(|_| ProfileProblem::BadSignature)?;
        ed25519_verify(key, &self.signed_bytes(), &self.signature)
            .map_err(|_| ProfileProblem::BadSignature)
    }

    fn check_fields(&self) -> Result<(), ProfileProblem> {
        let long = |s: &str| s.chars().count() > PROFILE_FIELD_MAX;
        if display_text(&self.name).is_empty()
            || long(&self.name)
            || self.organisation.as_deref().is_some_and(long)
            || self.title.as_deref().is_some_and(long)
        {
            return Err(ProfileProblem::Invalid);
        }
        Ok(())
    }

    /// Encodes the profile (JSON, binary fields hex) for a key-package card or local storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = WireProfile::from(self);
        // Serializing strings and numbers into a Vec cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decodes [`Profile::to_bytes`]; `None` for anything malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let wire: WireProfile = serde_json::from_slice(bytes).ok()?;
        wire.into_profile()
    }

    /// The name as it may be shown: see [`display_text`].
    pub fn display_name(&self) -> String {
        display_text(&self.name)
    }
}

fn put(out: &mut Vec<u8>, part: &str) {
    out.extend_from_slice(&(part.len() as u32).to_be_bytes());
    out.extend_from_slice(part.as_bytes());
}

/// Display data from another user, made safe to show in running text: bidirectional formatting
/// controls (embeddings, overrides, isolates, marks), C0/C1 control characters and line or
/// paragraph separators are removed, runs of white space become one space, and the result is
/// trimmed. Hosts should still isolate the text (HTML `<bdi>`) when they embed it.
pub fn display_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let bidi = matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        if bidi || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if c.is_whitespace() || matches!(c, '\u{2028}' | '\u{2029}') {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// The JSON form of a profile (content messages, cards, local storage).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WireProfile {
    pub(crate) user_id: String,
    pub(crate) device_id: String,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) organisation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    pub(crate) updated_at: u64,
    pub(crate) signature: String,
}

impl From<&Profile> for WireProfile {
    fn from(p: &Profile) -> Self {
        WireProfile {
            user_id: p.user_id.clone(),
            device_id: p.device_id.clone(),
            name: p.name.clone(),
            organisation: p.organisation.clone(),
            title: p.title.clone(),
            updated_at: p.updated_at,
            signature: hex::encode(&p.signature),
        }
    }
}

impl WireProfile {
    pub(crate) fn into_profile(self) -> Option<Profile> {
        Some(Profile {
            signature: hex::decode(&self.signature).ok()?,
            user_id: self.user_id,
            device_id: self.device_id,
            name: self.name,
            organisation: self.organisation,
            title: self.title,
            updated_at: self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::CredentialIdentity;

    fn device(user: &str, dev: &str) -> DeviceIdentity {
        DeviceIdentity::generate(CredentialIdentity::new("org1", user, dev).unwrap())
    }

    #[test]
    fn sign_verify_and_tamper() {
        let d = device("u1", "d1");
        let key = d.public_key();
        let p = Profile::sign(&d, " Karin Lund ", Some("Nordic Dental"), None, 7).unwrap();
        assert_eq!(p.name, "Karin Lund");
        p.verify("u1", "d1", &key).unwrap();
        let back = Profile::from_bytes(&p.to_bytes()).unwrap();
        assert_eq!(back, p);
        assert_eq!(p.verify("u2", "d1", &key), Err(ProfileProblem::NotSender));
        let mut renamed = p.clone();
        renamed.name = "Anna Admin".into();
        assert_eq!(
            renamed.verify("u1", "d1", &key),
            Err(ProfileProblem::BadSignature)
        );
        let mut other_title = p.clone();
        other_title.title = Some("CEO".into());
        assert_eq!(
            other_title.verify("u1", "d1", &key),
            Err(ProfileProblem::BadSignature)
        );
        let other = device("u1", "d1");
        assert_eq!(
            p.verify("u1", "d1", &other.public_key()),
            Err(ProfileProblem::BadSignature)
        );
        let card = p.card(&d).unwrap();
        assert_eq!(card.organisation, None);
        card.verify("u1", "d1", &key).unwrap();
    }

    #[test]
    fn bounds() {
        let d = device("u1", "d1");
        assert_eq!(
            Profile::sign(&d, " \u{202E} ", None, None, 1),
            Err(ProfileProblem::Invalid)
        );
        let long = "x".repeat(PROFILE_FIELD_MAX + 1);
        assert_eq!(
            Profile::sign(&d, "A", Some(&long), None, 1),
            Err(ProfileProblem::Invalid)
        );
        assert!(Profile::sign(&d, &"x".repeat(PROFILE_FIELD_MAX), None, None, 1).is_ok());
    }

    #[test]
    fn display_text_neutralises() {
        assert_eq!(display_text("Karin \u{202E}dnuL"), "Karin dnuL");
        assert_eq!(display_text(" a\u{0}\u{7}b\n\tc\u{2028}d "), "ab c d");
        assert_eq!(display_text("\u{2066}x\u{2069}\u{200F}"), "x");
        assert_eq!(display_text("Åsa Öberg"), "Åsa Öberg");
    }
}
