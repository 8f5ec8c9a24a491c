//! Users' identity keys and device certificates, stored for clients to fetch (issue 25,
//! "devices vouched for by their user"). Clients verify certificates themselves against the
//! identity key they pinned; the relay's checks here are a second line that keeps garbage out
//! of its store. The relay never holds an identity key's secret.
//!
//! `PUT /v1/me/identity` publishes the user's identity public key, set once, with the calling
//! device's certificate; `PUT /v1/devices/{device_id}/certificate` stores a certificate for a
//! device of the caller's own user. An approval (`POST /v1/device-requests/{id}/approve`) may
//! carry the new device's certificate and the sealed hand-over of the identity key (the
//! "bundle"), which the new device fetches with the request.

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use sealroom_wire::accounts::{self as wire, device_certificate_message};
use sealroom_wire::audit::AuditAction;

use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{no_content, ok_json, Reply};
use crate::state::AppState;
use crate::store::{Store, StoreError, StoreExt, Txn};

use super::*;

/// Tree: user id -> the user's identity public key (32 bytes), set once.
pub const IDENTITY_KEYS: &str = "acct_identity_keys";
/// Tree: user id || identity key (32 bytes) -> empty: keys an administrator reset, which the
/// user's devices may not publish again.
pub const RETIRED_IDENTITY_KEYS: &str = "acct_identity_retired";
/// Tree: device id -> the device's certificate (64 bytes).
pub const DEVICE_CERTS: &str = "acct_device_certs";
/// Tree: device request id -> [`LinkTransfer`].
pub const LINK_TRANSFERS: &str = "acct_link_transfers";
/// Largest accepted sealed hand-over, in base64 characters.
const MAX_BUNDLE_CHARS: usize = 512;

/// What a device request carries for the identity key hand-over.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkTransfer {
    /// The new device's one-time X25519 public key, hex.
    pub kx_public_key: Option<String>,
    /// The sealed hand-over from the approving device, base64.
    pub bundle: Option<String>,
}

/// The user's identity public key, if published.
pub fn identity_key(store: &dyn Store, user_id: &str) -> Result<Option<[u8; 32]>, StoreError> {
    Ok(store
        .get(IDENTITY_KEYS, user_id.as_bytes())?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()))
}

/// A device's stored certificate (hex), if any.
pub fn certificate(store: &dyn Store, device_id: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(DEVICE_CERTS, device_id.as_bytes())?
        .map(hex::encode))
}

/// The hand-over record of a device request.
pub fn link_transfer(store: &dyn Store, request_id: &str) -> Result<LinkTransfer, StoreError> {
    Ok(store
        .get_json::<LinkTransfer>(LINK_TRANSFERS, request_id.as_bytes())?
        .unwrap_or_default())
}

/// Parses a hex X25519 public key (32 bytes).
pub fn parse_kx_key(hex_key: &str) -> Result<String, ApiError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut key)
        .map_err(|_| ApiError::bad_request("kx_public_key must be 64 hex characters"))?;
    Ok(hex::encode(key))
}

fn parse_certificate(hex_cert: &str) -> Result<[u8; 64], ApiError> {
    let mut sig = [0u8; 64];
    hex::decode_to_slice(hex_cert, &mut sig)
        .map_err(|_| ApiError::bad_request("certificate must be 128 hex characters"))?;
    Ok(sig)
}

/// Checks `certificate` for `device` under `identity_key`.
fn check_certificate(
    identity_key: &[u8; 32],
    device: &DeviceRecord,
    certificate: &[u8; 64],
) -> Result<(), ApiError> {
    let key = VerifyingKey::from_bytes(identity_key)
        .map_err(|_| ApiError::bad_request("the identity key is not a valid Ed25519 key"))?;
    let message =
        device_certificate_message(&device.user_id, &device.device_id, &device.public_key);
    key.verify_strict(&message, &Signature::from_bytes(certificate))
        .map_err(|_| ApiError::bad_request("the certificate does not verify for this device"))
}

/// Checks and stores a certificate for `device_id` in `txn` (the user's identity key must be
/// published).
pub(crate) fn certify_in(
    store: &dyn Store,
    txn: &mut Txn,
    device_id: &str,
    hex_cert: &str,
) -> Result<(), ApiError> {
    let certificate = parse_certificate(hex_cert)?;
    let device: DeviceRecord = store
        .get_json(DEVICES, device_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    let identity = identity_key(store, &device.user_id)?
        .ok_or_else(|| ApiError::conflict("the user has no identity key yet"))?;
    check_certificate(&identity, &device, &certificate)?;
    txn.put(DEVICE_CERTS, device_id.as_bytes(), &certificate);
    Ok(())
}

/// `PUT /v1/me/identity`.
pub(crate) fn publish_identity(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let req: wire::PublishIdentity = authed.json()?;
    let public_key = parse_public_key(&req.public_key)?;
    let certificate = parse_certificate(&req.certificate)?;
    let store = state.store.as_ref();
    let device: DeviceRecord = store
        .get_json(DEVICES, authed.device_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    check_certificate(&public_key, &device, &certificate)?;
    let existing = store
        .get(IDENTITY_KEYS, authed.user_id.as_bytes())
        .map_err(ApiError::from)?;
    match &existing {
        Some(k) if k.as_slice() != public_key.as_slice() => {
            return Err(ApiError::conflict("the user's identity key is already set"));
        }
        None if store
            .get(
                RETIRED_IDENTITY_KEYS,
                &retired_key(&authed.user_id, &public_key),
            )
            .map_err(ApiError::from)?
            .is_some() =>
        {
            return Err(ApiError::conflict(
                "this identity key was reset; create a new one",
            ));
        }
        _ => {}
    }
    let mut txn = Txn::new();
    txn.check(
        IDENTITY_KEYS,
        authed.user_id.as_bytes(),
        existing.as_deref(),
    )
    .put(IDENTITY_KEYS, authed.user_id.as_bytes(), &public_key)
    .put(DEVICE_CERTS, authed.device_id.as_bytes(), &certificate);
    let event = audit::event_by(AuditAction::DeviceCertify, authed)
        .object(authed.device_id.clone())
        .detail(format!("identity key published user={}", authed.user_id));
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(ok_json(
        &serde_json::json!({ "identity_key": hex::encode(public_key) }),
    ))
}

/// `PUT /v1/devices/{device_id}/certificate`.
pub(crate) fn put_certificate(
    state: &AppState,
    authed: &AuthedDevice,
    device_id: &str,
) -> Result<Reply, ApiError> {
    let req: wire::DeviceCertificate = authed.json()?;
    let store = state.store.as_ref();
    let device: DeviceRecord = store
        .get_json(DEVICES, device_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    if device.user_id != authed.user_id {
        return Err(ApiError::not_found("no such device"));
    }
    if device.status == DeviceStatus::Revoked {
        return Err(ApiError::Gone("the device is revoked".to_owned()));
    }
    let mut txn = Txn::new();
    certify_in(store, &mut txn, device_id, &req.certificate)?;
    let event = audit::event_by(AuditAction::DeviceCertify, authed)
        .object(device_id.to_owned())
        .detail("by=certificate".to_owned());
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(no_content())
}

/// `DELETE /v1/users/{user_id}/identity`: an administrator of the user's organisation (or of
/// the provider organisation, which supports its customers) resets the user's identity key
/// for a user who lost every device and the recovery backup, or whose device holding the key
/// was stolen (revoke that device first). The key and every certificate of the user's devices
/// are removed; the next `PUT /v1/me/identity` of one of the user's devices sets a new key.
/// Other members keep the old key pinned and see a key change until they accept the new one.
/// The user is told by mail and in the security events.
pub(crate) fn reset_identity(
    state: &AppState,
    authed: &AuthedDevice,
    user_id: &str,
) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let target = user(store, user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let provider = is_provider(store, authed).map_err(ApiError::from)?;
    if target.org_id != authed.org_id && !provider {
        return Err(ApiError::not_found("no such user"));
    }
    require_role(authed, &[Role::Admin])?;
    let Some(existing) = store
        .get(IDENTITY_KEYS, target.user_id.as_bytes())
        .map_err(ApiError::from)?
    else {
        return Err(ApiError::not_found("the user has no identity key"));
    };
    let mut txn = Txn::new();
    txn.check(IDENTITY_KEYS, target.user_id.as_bytes(), Some(&existing))
        .delete(IDENTITY_KEYS, target.user_id.as_bytes())
        .put(
            RETIRED_IDENTITY_KEYS,
            &retired_key(&target.user_id, &existing),
            &[],
        );
    for device in user_devices(store, &target.user_id).map_err(ApiError::from)? {
        txn.delete(DEVICE_CERTS, device.device_id.as_bytes());
    }
    let event = audit::event_by(AuditAction::DeviceCertify, authed)
        .object(target.user_id.clone())
        .detail("identity key reset by=admin");
    audit::commit_with(state, txn, vec![event])?;
    security::record(
        state,
        &target.user_id,
        wire::SecurityEventKind::IdentityReset,
        None,
        None,
        Some(&authed.client),
    )?;
    durable(state)?;
    tracing::info!(user_id = %target.user_id, by = %authed.device_id, "identity key reset");
    Ok(no_content())
}

/// The prefix of `user_id`'s keys in [`RETIRED_IDENTITY_KEYS`].
fn retired_prefix(user_id: &str) -> Vec<u8> {
    let mut prefix = user_id.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

fn retired_key(user_id: &str, identity_key: &[u8]) -> Vec<u8> {
    let mut key = retired_prefix(user_id);
    key.extend_from_slice(identity_key);
    key
}

/// Checks an approval's bundle (base64, bounded).
pub(crate) fn check_bundle(bundle: &str) -> Result<(), ApiError> {
    if bundle.len() > MAX_BUNDLE_CHARS
        || !bundle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err(ApiError::bad_request("bundle must be short base64"));
    }
    Ok(())
}

/// Adds to `txn` the removal of the identity key of `user_id` and the certificates of
/// `device_ids` (erasure).
pub fn erase(
    store: &dyn Store,
    txn: &mut Txn,
    user_id: &str,
    device_ids: &[String],
) -> Result<(), StoreError> {
    txn.delete(IDENTITY_KEYS, user_id.as_bytes());
    for kv in store.scan_prefix(RETIRED_IDENTITY_KEYS, &retired_prefix(user_id))? {
        txn.delete(RETIRED_IDENTITY_KEYS, &kv?.0);
    }
    for device_id in device_ids {
        txn.delete(DEVICE_CERTS, device_id.as_bytes());
    }
    Ok(())
}
