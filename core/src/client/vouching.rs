//! Devices vouched for by their user (see [`crate::certificate`]): this device's copy of the
//! user's identity key, certifying devices, pinning other users' identity keys and deciding
//! which devices are verified, and the policy for unverified devices in internal rooms.

use std::collections::BTreeMap;

use sealroom_wire::accounts::{DeviceCertificate, DeviceList, DeviceState, PublishIdentity};

use crate::certificate::{verify_certificate_hex, IdentityPin, PinOutcome, UserIdentityKey};
use crate::identity::SafetyNumber;

use super::api::{relay_error, seg, Call};
use super::{from_json, to_json, ClientError, ClientEvent, SealroomClient};

/// Key in the device's encrypted state of the user's identity key secret (hex).
const IDENTITY_SECRET_KEY: &str = "identity/secret";
/// Prefix of pinned identity keys per user.
const PIN_PREFIX: &str = "identity/pin/";
/// Key of the policy for unverified devices in internal rooms (`"allow"` or absent).
const POLICY_KEY: &str = "policy/unverified-internal";
/// Key of the policy for unverified devices in customer rooms (`"allow"` or absent).
const CUSTOMER_POLICY_KEY: &str = "policy/unverified-customer";

/// How this device sees one user's devices: the identity key it pinned for them, and which
/// devices carry a certificate under that key for the key the relay lists.
#[derive(Debug, Clone, Default)]
pub(super) struct UserTrust {
    /// The pinned identity key.
    pub(super) pinned: Option<[u8; 32]>,
    /// The relay served another identity key than the pinned one.
    pub(super) changed: bool,
    /// Device id -> certified device key (only certificates that verify under the pin).
    pub(super) certified: BTreeMap<String, [u8; 32]>,
}

impl UserTrust {
    /// Whether `device_id` with the MLS leaf key `leaf_key` is vouched for by the user.
    pub(super) fn verified(&self, device_id: &str, leaf_key: &[u8]) -> bool {
        self.certified
            .get(device_id)
            .is_some_and(|k| k.as_slice() == leaf_key)
    }

    /// The user's safety number (over the pinned identity key), if one is pinned.
    pub(super) fn safety_number(&self, user_id: &str) -> Option<SafetyNumber> {
        self.pinned.map(|k| SafetyNumber::for_identity(user_id, &k))
    }
}

fn key_bytes(hex_key: &str) -> Option<[u8; 32]> {
    let mut k = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut k).ok()?;
    Some(k)
}

impl SealroomClient {
    /// The user's identity key, if this device holds it (created it, was approved by a device
    /// that holds it, or restored the recovery backup).
    pub(super) fn identity_key(&self) -> Result<Option<UserIdentityKey>, ClientError> {
        self.with(|r| {
            let Some(bytes) = r.rooms.app_get(IDENTITY_SECRET_KEY)? else {
                return Ok(None);
            };
            let mut secret = zeroize::Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(bytes.as_slice(), secret.as_mut())
                .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))?;
            Ok(Some(UserIdentityKey::from_secret_bytes(&secret)))
        })
    }

    /// Whether this device holds the user's identity key and so can vouch for other devices
    /// of the user ([`SealroomClient::approve_device`], [`SealroomClient::certify_device`]).
    pub fn can_vouch(&self) -> Result<bool, ClientError> {
        Ok(self.identity_key()?.is_some())
    }

    /// Keeps `key` in the encrypted state and pins its public half for this user.
    pub(super) fn keep_identity_key(&self, key: &UserIdentityKey) -> Result<(), ClientError> {
        let secret = key.expose_secret();
        let secret_hex = zeroize::Zeroizing::new(hex::encode(secret.as_ref()));
        self.with(|r| {
            let pin = IdentityPin {
                key: hex::encode(key.public_key()),
                conflict: None,
            };
            let user = r.account.user_id.clone();
            Ok(r.rooms.app_commit(vec![
                (
                    IDENTITY_SECRET_KEY.into(),
                    Some(secret_hex.as_bytes().to_vec()),
                ),
                (format!("{PIN_PREFIX}{user}"), Some(to_json(&pin)?)),
            ])?)
        })
    }

    /// On the user's first device: creates the identity key, keeps it, and publishes it with
    /// this device's certificate (`PUT /v1/me/identity`, set once on the relay).
    pub(super) async fn create_identity(&self) -> Result<(), ClientError> {
        let key = UserIdentityKey::generate();
        self.keep_identity_key(&key)?;
        self.publish_identity(&key).await
    }

    async fn publish_identity(&self, key: &UserIdentityKey) -> Result<(), ClientError> {
        let account = self.account()?;
        let device_key = self.signing_device()?.public_key();
        let body = PublishIdentity {
            public_key: hex::encode(key.public_key()),
            certificate: hex::encode(key.certify(
                &account.user_id,
                &account.device_id,
                &device_key,
            )),
        };
        self.signed(Call::json("PUT", "/v1/me/identity", &body)?)
            .await?;
        Ok(())
    }

    /// Certifies this device under the identity key it now holds (after a restore).
    pub(super) async fn certify_self(&self, key: &UserIdentityKey) -> Result<(), ClientError> {
        let account = self.account()?;
        let public_key = hex::encode(self.signing_device()?.public_key());
        self.upload_certificate(key, &account.user_id, &account.device_id, &public_key)
            .await
    }

    async fn upload_certificate(
        &self,
        key: &UserIdentityKey,
        user_id: &str,
        device_id: &str,
        public_key: &str,
    ) -> Result<(), ClientError> {
        let device_key = key_bytes(public_key)
            .ok_or_else(|| ClientError::InvalidInput("public_key is not 32 bytes of hex".into()))?;
        let body = DeviceCertificate {
            certificate: hex::encode(key.certify(user_id, device_id, &device_key)),
        };
        self.signed(Call::json(
            "PUT",
            format!("/v1/devices/{}/certificate", seg(device_id)),
            &body,
        )?)
        .await?;
        Ok(())
    }

    /// Vouches for another device of this user that is not verified yet (one linked by a TOTP
    /// code alone), after the user compared `public_key` (hex) with what that device shows.
    /// Needs the identity key on this device ([`SealroomClient::can_vouch`]).
    pub async fn certify_device(
        &self,
        device_id: &str,
        public_key: &str,
    ) -> Result<(), ClientError> {
        let key = self.identity_key()?.ok_or(ClientError::CannotVouch)?;
        let account = self.account()?;
        let devices: DeviceList = self.signed_json(Call::get("/v1/me/devices")).await?;
        let listed = devices
            .devices
            .iter()
            .find(|d| d.device_id == device_id && d.status != DeviceState::Revoked)
            .ok_or_else(|| ClientError::Unknown {
                what: "device",
                id: device_id.to_owned(),
            })?;
        if !listed.public_key.eq_ignore_ascii_case(public_key) {
            return Err(ClientError::InvalidInput(
                "the device's key differs from the one compared".into(),
            ));
        }
        self.upload_certificate(&key, &account.user_id, device_id, public_key)
            .await
    }

    /// Sets whether devices nobody vouched for may be added to internal (staff-only) rooms by
    /// this device. Off by default: [`SealroomClient::add_member`] then leaves them out and
    /// reports each with [`ClientEvent::DeviceSkipped`] (or fails with
    /// [`ClientError::UnverifiedDevices`] when it could add none). Kept in the device's state.
    pub fn set_allow_unverified_internal(&self, allow: bool) -> Result<(), ClientError> {
        self.with(|r| {
            Ok(r.rooms
                .app_commit(vec![(POLICY_KEY.into(), allow.then(|| b"allow".to_vec()))])?)
        })
    }

    /// Whether unverified devices may join internal rooms (see
    /// [`SealroomClient::set_allow_unverified_internal`]).
    pub fn allow_unverified_internal(&self) -> Result<bool, ClientError> {
        self.with(|r| Ok(r.rooms.app_get(POLICY_KEY)?.is_some()))
    }

    /// Sets whether devices nobody vouched for may be added to customer rooms by this device.
    /// Off by default, as for internal rooms: a device linked by a TOTP code alone, or one the
    /// relay made up and lists for the user, joins no room until the user vouches for it.
    /// Turning it on lets a relay that lists a device of its own for a user read that user's
    /// customer rooms (every member would see the device as unverified). Kept in the device's
    /// state.
    pub fn set_allow_unverified_customer(&self, allow: bool) -> Result<(), ClientError> {
        self.with(|r| {
            Ok(r.rooms.app_commit(vec![(
                CUSTOMER_POLICY_KEY.into(),
                allow.then(|| b"allow".to_vec()),
            )])?)
        })
    }

    /// Whether unverified devices may join customer rooms (see
    /// [`SealroomClient::set_allow_unverified_customer`]).
    pub fn allow_unverified_customer(&self) -> Result<bool, ClientError> {
        self.with(|r| Ok(r.rooms.app_get(CUSTOMER_POLICY_KEY)?.is_some()))
    }

    /// Checks `devices` (the relay's list of `user_id`'s devices) against the identity key
    /// this device pinned for the user, pinning it at first sight. A different key than the
    /// pinned one is reported once as [`ClientEvent::KeyChanged`] (with the safety number over
    /// the new key) and not accepted: devices verify under the pinned key only.
    pub(super) fn judge_devices(
        &self,
        user_id: &str,
        devices: Option<&DeviceList>,
    ) -> Result<UserTrust, ClientError> {
        let pin_key = format!("{PIN_PREFIX}{user_id}");
        let mut pin: Option<IdentityPin> = self.with(|r| match r.rooms.app_get(&pin_key)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        })?;
        let served = devices.and_then(|d| d.identity_key.as_deref());
        match IdentityPin::observe(&mut pin, user_id, served) {
            PinOutcome::Unchanged => {}
            PinOutcome::Pinned => {
                let bytes = to_json(&pin)?;
                self.with(|r| Ok(r.rooms.app_commit(vec![(pin_key, Some(bytes))])?))?;
            }
            PinOutcome::Changed { new_safety_number } => {
                let bytes = to_json(&pin)?;
                self.with(|r| Ok(r.rooms.app_commit(vec![(pin_key, Some(bytes))])?))?;
                self.defer_events(vec![ClientEvent::KeyChanged {
                    user_id: user_id.to_owned(),
                    safety_number: new_safety_number.as_str().to_owned(),
                }])?;
            }
        }
        let mut trust = UserTrust {
            pinned: pin.as_ref().and_then(IdentityPin::key_bytes),
            changed: pin.as_ref().is_some_and(IdentityPin::changed),
            certified: BTreeMap::new(),
        };
        let (Some(identity), Some(devices)) = (trust.pinned, devices) else {
            return Ok(trust);
        };
        for d in &devices.devices {
            if d.user_id != user_id || d.status == DeviceState::Revoked {
                continue;
            }
            let (Some(cert), Some(device_key)) = (&d.certificate, key_bytes(&d.public_key)) else {
                continue;
            };
            if verify_certificate_hex(&identity, user_id, &d.device_id, &device_key, cert) {
                trust.certified.insert(d.device_id.clone(), device_key);
            }
        }
        Ok(trust)
    }

    /// Fetches `user_id`'s device list and judges it ([`SealroomClient::judge_devices`]). A
    /// user the relay does not show (404) has no verified devices.
    pub(super) async fn user_trust(&self, user_id: &str) -> Result<UserTrust, ClientError> {
        let response = self
            .signed_raw(Call::get(format!("/v1/users/{}/devices", seg(user_id))))
            .await?;
        let devices: Option<DeviceList> = match response.status {
            200..=299 => Some(super::api::decode(&response.body)?),
            403 | 404 => None,
            _ => return Err(relay_error(&response)),
        };
        let trust = self.judge_devices(user_id, devices.as_ref())?;
        if devices.as_ref().is_some_and(|d| d.identity_key.is_none())
            && user_id == self.account()?.user_id
        {
            // The first device's publication failed at registration: publish now. After an
            // administrator reset the key, the relay refuses it (409): drop it, so that this
            // device no longer vouches under a key nobody accepts.
            if let Some(key) = self.identity_key()? {
                match self.publish_identity(&key).await {
                    Ok(()) => {}
                    Err(ClientError::Relay { status: 409, .. }) => self.forget_identity_key()?,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(trust)
    }

    fn forget_identity_key(&self) -> Result<(), ClientError> {
        self.with(|r| {
            Ok(r.rooms
                .app_commit(vec![(IDENTITY_SECRET_KEY.into(), None)])?)
        })
    }

    /// An administrator of the user's organisation (or of the provider) resets `user_id`'s
    /// identity key on the relay, for a user who lost every device and the recovery backup or
    /// whose device holding the key was stolen (revoke it first): the key and every device
    /// certificate of the user are removed, the user is told by mail, and the old key can
    /// never be published again. One of the user's devices then calls
    /// [`SealroomClient::create_new_identity`]; the other members see a key change and accept
    /// the new key with [`SealroomClient::accept_identity_key`] after comparing safety numbers.
    pub async fn reset_identity(&self, user_id: &str) -> Result<(), ClientError> {
        self.signed(Call::delete(format!("/v1/users/{}/identity", seg(user_id))))
            .await?;
        Ok(())
    }

    /// After an identity reset: creates a new identity key for this device's user, keeps it,
    /// and publishes it with this device's certificate (the relay takes the first device's key
    /// only). The device can then vouch for the user's other devices. Fails with
    /// [`ClientError::InvalidInput`] while the relay still publishes a key for the user.
    pub async fn create_new_identity(&self) -> Result<(), ClientError> {
        let devices: DeviceList = self.signed_json(Call::get("/v1/me/devices")).await?;
        if devices.identity_key.is_some() {
            return Err(ClientError::InvalidInput(
                "the user has an identity key; an administrator must reset it first".into(),
            ));
        }
        let key = UserIdentityKey::generate();
        self.keep_identity_key(&key)?;
        if let Err(e) = self.publish_identity(&key).await {
            // Another device of the user was first (409) or the relay failed: this device
            // does not hold the published key.
            if matches!(e, ClientError::Relay { status: 409, .. }) {
                self.forget_identity_key()?;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Accepts `user_id`'s changed identity key (reported by [`ClientEvent::KeyChanged`] and
    /// `SpaceMember::identity_key_changed`) after the user compared `safety_number`, the safety
    /// number over the new key, with that user out of band. From then on the user's devices
    /// verify under the new key. Fails with [`ClientError::InvalidInput`] when no key change is
    /// pending or the number is not the new key's.
    pub fn accept_identity_key(
        &self,
        user_id: &str,
        safety_number: &str,
    ) -> Result<(), ClientError> {
        let pin_key = format!("{PIN_PREFIX}{user_id}");
        let pin: Option<IdentityPin> = self.with(|r| match r.rooms.app_get(&pin_key)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        })?;
        let Some(mut pin) = pin.filter(IdentityPin::changed) else {
            return Err(ClientError::InvalidInput(format!(
                "no changed identity key of user {user_id} to accept"
            )));
        };
        if !pin.accept_change(user_id, safety_number) {
            return Err(ClientError::InvalidInput(
                "the safety number is not the one over the user's new identity key".into(),
            ));
        }
        let bytes = to_json(&pin)?;
        self.with(|r| Ok(r.rooms.app_commit(vec![(pin_key, Some(bytes))])?))
    }
}
