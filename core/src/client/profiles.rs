//! Profiles: this user's own (`set_profile`), other users' as their devices posted them into
//! the rooms, and the card of a device waiting to be admitted (`admission`).
//!
//! A profile is accepted only when it names its sender's user and device and verifies under
//! that device's key (the room layer checks this for profiles in rooms; [`check_card`] for key
//! package cards); among a user's accepted profiles the latest `updated_at` wins. The relay
//! never sees a profile in a room; a key package card carries the name alone.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn, ProtocolVersion};

use sealroom_wire::accounts::DeviceState;

use super::*;
use crate::room::crypto::SuiteCrypto;
use crate::room::profile::PROFILE_CARD_EXTENSION;
use crate::room::{display_text, Profile, ProfileProblem};

/// Local keys: `profile/<user>/<updated_at, 20 digits>/<device>`; the highest wins.
const PROFILE_PREFIX: &str = "profile/";
/// This device's own signed profile.
const OWN_PROFILE_KEY: &str = "own-profile";

/// What a user says about themselves ([`SealroomClient::set_profile`]). Deserialize: the WASM
/// package reads it from JS (unknown keys refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// Display name (1 to 100 characters).
    pub name: String,
    /// Organisation (up to 100 characters).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub organisation: Option<String>,
    /// Job title (up to 100 characters).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub title: Option<String>,
}

/// A user's profile as this device accepted it, ready to show: every text field went through
/// [`display_text`] (no bidirectional controls or control characters); still isolate it
/// (`<bdi>`) in running text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct UserProfile {
    /// User.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Organisation, as the user gives it.
    pub organisation: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Unix time (s) the user set it, on their device's clock.
    pub updated_at: u64,
    /// The device that signed it.
    pub device_id: String,
}

impl From<&Profile> for UserProfile {
    fn from(p: &Profile) -> Self {
        let opt = |s: &Option<String>| s.as_deref().map(display_text).filter(|s| !s.is_empty());
        UserProfile {
            user_id: p.user_id.clone(),
            name: p.display_name(),
            organisation: opt(&p.organisation),
            title: opt(&p.title),
            updated_at: p.updated_at,
            device_id: p.device_id.clone(),
        }
    }
}

/// What staff see before admitting a user's devices into a space's room
/// ([`SealroomClient::admission`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Admission {
    /// User.
    pub user_id: String,
    /// The name the user's devices signed (from a vouched-for device's card when there is
    /// one); `None` when no device published a valid card.
    pub name: Option<String>,
    /// The user's safety number (see [`SpaceMember::safety_number`]).
    pub safety_number: Option<String>,
    /// The devices an admit would add.
    pub devices: Vec<AdmissionDevice>,
}

/// One device of an [`Admission`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AdmissionDevice {
    /// Device.
    pub device_id: String,
    /// The name on the device's own card, if it has a valid one.
    pub name: Option<String>,
    /// Whether the user's identity key vouches for the device.
    pub verified: bool,
}

fn profile_key(p: &Profile) -> String {
    format!(
        "{PROFILE_PREFIX}{}/{:020}/{}",
        p.user_id, p.updated_at, p.device_id
    )
}

/// The index write that records an accepted profile.
pub(super) fn profile_write(p: &Profile) -> AppWrite {
    (profile_key(p), Some(p.to_bytes()))
}

/// The card in a key package, if it has one that names the package's own user and device and
/// verifies under the package's signature key.
pub(super) fn check_card(package: &[u8]) -> Option<Profile> {
    let message = MlsMessageIn::tls_deserialize_exact(package).ok()?;
    let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
        return None;
    };
    let package = package
        .validate(&SuiteCrypto, ProtocolVersion::Mls10)
        .ok()?;
    let bytes = &package.extensions().unknown(PROFILE_CARD_EXTENSION)?.0;
    let card = Profile::from_bytes(bytes)?;
    let leaf = package.leaf_node();
    let basic = openmls::prelude::BasicCredential::try_from(leaf.credential().clone()).ok()?;
    let id = CredentialIdentity::from_bytes(basic.identity()).ok()?;
    card.verify(&id.user_id, &id.device_id, leaf.signature_key().as_slice())
        .ok()?;
    Some(card)
}

fn problem(p: ProfileProblem) -> ClientError {
    ClientError::InvalidInput(match p {
        ProfileProblem::Invalid => {
            "a profile needs a name; name, organisation and title have at most 100 characters"
                .into()
        }
        _ => "the profile could not be signed".into(),
    })
}

impl SealroomClient {
    /// Sets this user's profile: signs it with this device's key, keeps it, and posts it into
    /// every room this device is in (encrypted; the relay never reads it). Key packages
    /// published from now on carry the name as their card. Rooms the post fails in get the
    /// profile again when this device next joins or sees someone added there.
    pub async fn set_profile(&self, input: ProfileInput) -> Result<UserProfile, ClientError> {
        let now = self.api.now().max(0) as u64;
        let profile = self.with(|r| {
            let own = load_own(&r.rooms)?;
            // Latest wins on every receiver: never go back in time, even with a slow clock.
            let at = own.map_or(now, |p| now.max(p.updated_at + 1));
            let p = Profile::sign(
                r.rooms.device(),
                &input.name,
                input.organisation.as_deref(),
                input.title.as_deref(),
                at,
            )
            .map_err(problem)?;
            r.rooms.app_commit(vec![
                (OWN_PROFILE_KEY.into(), Some(p.to_bytes())),
                profile_write(&p),
            ])?;
            Ok(p)
        })?;
        let rooms: BTreeSet<String> = self
            .room_records()?
            .into_iter()
            .filter(|r| !r.removed)
            .map(|r| r.relay_id)
            .collect();
        self.share_profile(&rooms).await?;
        Ok(UserProfile::from(&profile))
    }

    /// This user's profile as this device signed it, if set.
    pub fn own_profile(&self) -> Result<Option<UserProfile>, ClientError> {
        self.with(|r| Ok(load_own(&r.rooms)?.as_ref().map(UserProfile::from)))
    }

    /// The latest profile of `user_id` this device accepted (its own for this user).
    pub fn profile(&self, user_id: &str) -> Result<Option<UserProfile>, ClientError> {
        Ok(self.profiles()?.into_iter().find(|p| p.user_id == user_id))
    }

    /// The latest accepted profile of every user this device knows one of.
    pub fn profiles(&self) -> Result<Vec<UserProfile>, ClientError> {
        self.with(|r| {
            let mut latest: BTreeMap<String, Profile> = BTreeMap::new();
            for key in r.rooms.app_keys(PROFILE_PREFIX)? {
                let Some(p) = r.rooms.app_get(&key)?.and_then(|b| Profile::from_bytes(&b)) else {
                    continue;
                };
                let newer = latest
                    .get(&p.user_id)
                    .is_none_or(|old| p.updated_at >= old.updated_at);
                if newer {
                    latest.insert(p.user_id.clone(), p);
                }
            }
            Ok(latest.values().map(UserProfile::from).collect())
        })
    }

    /// Display names by user id (for filling in [`Message::sender_name`] and
    /// [`SpaceMember::name`]).
    pub(super) fn names(&self) -> Result<BTreeMap<String, String>, ClientError> {
        Ok(self
            .profiles()?
            .into_iter()
            .map(|p| (p.user_id, p.name))
            .collect())
    }

    /// The card this device's key packages carry: its own profile's name, signed.
    pub(super) fn own_card(&self) -> Result<Option<Profile>, ClientError> {
        self.with(|r| match load_own(&r.rooms)? {
            Some(p) => Ok(p.card(r.rooms.device()).ok()),
            None => Ok(None),
        })
    }

    /// Keeps `name` as this user's first profile (at registration, before key packages are
    /// published); an invalid name is left out.
    pub(super) fn initial_profile(&self, name: &str) -> Result<(), ClientError> {
        let now = self.api.now().max(0) as u64;
        self.with(|r| {
            if let Ok(p) = Profile::sign(r.rooms.device(), name, None, None, now) {
                r.rooms.app_commit(vec![
                    (OWN_PROFILE_KEY.into(), Some(p.to_bytes())),
                    profile_write(&p),
                ])?;
            }
            Ok(())
        })
    }

    /// Posts this user's own profile into the rooms with these relay ids (best effort: a room
    /// it cannot be posted in now is skipped; retryable errors are returned).
    pub(super) async fn share_profile(
        &self,
        relay_ids: &BTreeSet<String>,
    ) -> Result<(), ClientError> {
        let Some(profile) = self.with(|r| load_own(&r.rooms))? else {
            return Ok(());
        };
        for record in self.room_records()? {
            if record.removed || !relay_ids.contains(&record.relay_id) {
                continue;
            }
            let room_id = record.core_id()?;
            let posted = self.with(|r| {
                Ok(r.rooms
                    .post(&room_id, Label::Customer, Content::Profile(profile.clone())))
            })?;
            let Ok(bytes) = posted else { continue };
            match self
                .send_message_bytes(&record.relay_id, &bytes, None)
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_retryable() => return Err(e),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// After a sync: rooms this device joined, and rooms where another user's device was
    /// added, get this user's profile (newcomers cannot read what was posted before they
    /// joined).
    pub(super) async fn share_profile_after(
        &self,
        events: &[ClientEvent],
    ) -> Result<(), ClientError> {
        let me = self.account()?.user_id;
        let spaces: BTreeSet<(String, Option<bool>)> = events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::JoinedSpace { space_id, internal } => {
                    Some((space_id.clone(), Some(*internal)))
                }
                ClientEvent::MemberAdded {
                    space_id, user_id, ..
                } if *user_id != me => Some((space_id.clone(), None)),
                _ => None,
            })
            .collect();
        if spaces.is_empty() {
            return Ok(());
        }
        let rooms: BTreeSet<String> = self
            .room_records()?
            .into_iter()
            .filter(|r| {
                spaces.iter().any(|(s, internal)| {
                    *s == r.space_id && internal.is_none_or(|i| i == r.internal)
                })
            })
            .map(|r| r.relay_id)
            .collect();
        self.share_profile(&rooms).await
    }

    /// What staff see before admitting `user_id` into a space's room: the name the user's
    /// devices signed into their key packages (the cards), side by side with the user's safety
    /// number. The relay's own record of the user's name is not used. Reading the cards claims
    /// one key package of each of the user's active devices (the devices publish new ones).
    pub async fn admission(&self, space_id: &str, user_id: &str) -> Result<Admission, ClientError> {
        let space = self.space(space_id).await?;
        let member = space
            .members
            .iter()
            .find(|m| m.user_id == user_id)
            .ok_or_else(|| ClientError::Unknown {
                what: "space member",
                id: user_id.to_owned(),
            })?;
        let safety_number = member.safety_number.clone();
        let devices: DeviceList = self
            .signed_json(Call::get(format!("/v1/users/{}/devices", seg(user_id))))
            .await?;
        let trust = self.judge_devices(user_id, Some(&devices))?;
        let safety_number = trust
            .safety_number(user_id)
            .map(|n| n.as_str().to_owned())
            .or(safety_number);
        let active = devices
            .devices
            .iter()
            .any(|d| d.user_id == user_id && d.status == DeviceState::Active);
        let mut out = Vec::new();
        if active {
            let claimed: ClaimedKeyPackages = self
                .signed_json(Call::raw(
                    "POST",
                    format!("/v1/users/{}/keypackages/claim", seg(user_id)),
                    Vec::new(),
                ))
                .await?;
            let staff = matches!(member.role, SpaceRole::Staff | SpaceRole::Owner);
            let org_id = member.org_id.clone().unwrap_or_else(|| {
                if staff {
                    space.provider_org_id.clone()
                } else {
                    space.customer_org_id.clone()
                }
            });
            for (device_id, package) in
                keypackages::check_claimed(user_id, &org_id, &claimed, &devices)?
            {
                let card = check_card(&package);
                out.push(AdmissionDevice {
                    verified: trust.certified.contains_key(&device_id),
                    name: card.as_ref().map(Profile::display_name),
                    device_id,
                });
            }
        }
        let name = out
            .iter()
            .filter(|d| d.verified)
            .chain(out.iter())
            .find_map(|d| d.name.clone());
        Ok(Admission {
            user_id: user_id.to_owned(),
            name,
            safety_number,
            devices: out,
        })
    }
}

fn load_own(rooms: &room::Client) -> Result<Option<Profile>, ClientError> {
    Ok(rooms
        .app_get(OWN_PROFILE_KEY)?
        .and_then(|b| Profile::from_bytes(&b)))
}
