//! Checks of the key packages the relay hands out for a user, before anything is committed
//! with them. The relay chooses which packages a claim returns; a hostile relay could hand out
//! a package of a device it controls. Each package must name the user being added, that
//! user's organisation, and a device the relay lists for the user, active, with the package's
//! signature key; no device may appear twice.
//!
//! What this cannot catch: a relay that makes up a device and lists it consistently in the
//! user's device list. The user's own identity vouching for their devices closes that gap
//! ([`drop_unverified`], applied to every room by default; see [`crate::certificate`]).

use std::collections::BTreeSet;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{BasicCredential, MlsMessageBodyIn, MlsMessageIn, ProtocolVersion};

use sealroom_wire::accounts::{DeviceList, DeviceState};
use sealroom_wire::rooms::ClaimedKeyPackages;

use crate::identity::CredentialIdentity;
use crate::room::crypto::SuiteCrypto;

use super::{unb64, ClientError};

/// The device a key package is for and its MLS signature key, after checking the package's
/// own signature.
fn inspect(bytes: &[u8]) -> Result<(CredentialIdentity, Vec<u8>), String> {
    let message =
        MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| "not an MLSMessage".to_owned())?;
    let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
        return Err("not a key package".into());
    };
    let package = package
        .validate(&SuiteCrypto, ProtocolVersion::Mls10)
        .map_err(|_| "the key package does not verify".to_owned())?;
    let leaf = package.leaf_node();
    let basic = BasicCredential::try_from(leaf.credential().clone())
        .map_err(|_| "not a basic credential".to_owned())?;
    let id = CredentialIdentity::from_bytes(basic.identity())
        .map_err(|_| "the credential names no Sealroom device".to_owned())?;
    Ok((id, leaf.signature_key().as_slice().to_vec()))
}

/// Checks every package of `claimed` for `user_id` of `org_id` against the relay's device
/// list of the user; returns `(device id, package bytes)` of each, or the first mismatch.
pub(super) fn check_claimed(
    user_id: &str,
    org_id: &str,
    claimed: &ClaimedKeyPackages,
    devices: &DeviceList,
) -> Result<Vec<(String, Vec<u8>)>, ClientError> {
    let mismatch = |reason: String| ClientError::KeyPackageMismatch {
        user_id: user_id.to_owned(),
        reason,
    };
    if claimed.user_id != user_id {
        return Err(mismatch(format!(
            "the claim answered for user {}",
            claimed.user_id
        )));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(claimed.key_packages.len());
    for entry in &claimed.key_packages {
        let bytes = unb64(&entry.key_package)?;
        let (id, signature_key) = inspect(&bytes).map_err(mismatch)?;
        if id.user_id != user_id {
            return Err(mismatch(format!(
                "the package of device {} is for user {}",
                entry.device_id, id.user_id
            )));
        }
        if id.org_id != org_id {
            return Err(mismatch(format!(
                "the package of device {} is for organisation {}",
                entry.device_id, id.org_id
            )));
        }
        if id.device_id != entry.device_id {
            return Err(mismatch(format!(
                "the package listed for device {} names device {}",
                entry.device_id, id.device_id
            )));
        }
        if !seen.insert(id.device_id.clone()) {
            return Err(mismatch(format!(
                "two packages for device {}",
                id.device_id
            )));
        }
        let listed = devices.devices.iter().find(|d| {
            d.device_id == id.device_id && d.user_id == user_id && d.status == DeviceState::Active
        });
        let Some(listed) = listed else {
            return Err(mismatch(format!(
                "device {} is not an active device of the user",
                id.device_id
            )));
        };
        if hex::decode(&listed.public_key).ok().as_deref() != Some(signature_key.as_slice()) {
            return Err(mismatch(format!(
                "the package of device {} is signed by another key than the device's",
                id.device_id
            )));
        }
        out.push((id.device_id, bytes));
    }
    Ok(out)
}

/// Removes from `checked` the packages of devices without a certificate that verifies under
/// the user's pinned identity key (`check_claimed` already tied each package's key to the
/// listed device key the certificate covers); returns the removed device ids.
pub(super) fn drop_unverified(
    checked: &mut Vec<(String, Vec<u8>)>,
    trust: &super::vouching::UserTrust,
) -> Vec<String> {
    let mut skipped = Vec::new();
    checked.retain(|(device_id, _)| {
        let keep = trust.certified.contains_key(device_id);
        if !keep {
            skipped.push(device_id.clone());
        }
        keep
    });
    skipped
}
