//! Per-device mailboxes: welcomes waiting for a device, its one-time key packages and its
//! last-resort package, and their erasure with the device.

use super::*;

/// The welcomes waiting for `device_id`.
pub fn welcomes(store: &dyn Store, device_id: &str) -> Result<Vec<WelcomeEntry>, StoreError> {
    store.scan_json(WELCOMES, &prefix_of(device_id))
}

/// Removes one welcome from `device_id`'s mailbox. Returns whether it existed.
pub fn ack_welcome(store: &dyn Store, device_id: &str, id: u64) -> Result<bool, StoreError> {
    Ok(store.delete(WELCOMES, &seq_key(device_id, id))?.is_some())
}

/// Stores validated key packages of `device` in one transaction with the writes `with` adds
/// for the count it makes (the upload's audit entry; the count assumes no concurrent change of
/// the device's packages). Returns the new count.
pub fn upload_key_packages(
    store: &dyn Store,
    device: &DeviceKey,
    packages: &[Vec<u8>],
    with: &dyn Fn(&mut Txn, &KeyPackageCount),
) -> Result<KeyPackageCount, RoomError> {
    let mut expected = key_package_count(store, &device.device_id)?;
    let mut txn = Txn::new();
    for bytes in packages {
        let valid = mls::validate_key_package(bytes, device)?;
        if valid.last_resort {
            txn.put(LAST_RESORT, device.device_id.as_bytes(), &valid.bytes);
            expected.last_resort = true;
        } else {
            let id = store.next_id()?;
            txn.put(KEY_PACKAGES, &seq_key(&device.device_id, id), &valid.bytes);
            expected.available += 1;
        }
    }
    with(&mut txn, &expected);
    store.commit(&txn)?;
    Ok(key_package_count(store, &device.device_id)?)
}

/// How many key packages `device_id` has stored.
pub fn key_package_count(
    store: &dyn Store,
    device_id: &str,
) -> Result<KeyPackageCount, StoreError> {
    let mut available = 0u64;
    for item in store.scan_prefix(KEY_PACKAGES, &prefix_of(device_id))? {
        item?;
        available += 1;
    }
    Ok(KeyPackageCount {
        available,
        last_resort: store.get(LAST_RESORT, device_id.as_bytes())?.is_some(),
    })
}

/// Claims one key package for each active device of `user_id`: a one-time package is
/// consumed; when none is left, the last-resort package is handed out and kept. The claims of
/// all devices are one transaction with the writes `with` adds for them (the claim's audit
/// entry), retried when another claim took a package meanwhile.
pub fn claim_key_packages(
    store: &dyn Store,
    user_id: &str,
    device_ids: &[String],
    with: &dyn Fn(&mut Txn, &ClaimedKeyPackages),
) -> Result<ClaimedKeyPackages, RoomError> {
    for _ in 0..HANDSHAKE_RETRIES {
        let mut txn = Txn::new();
        let mut claimed = Vec::new();
        let mut missing = Vec::new();
        for device_id in device_ids {
            let first = store
                .scan_prefix(KEY_PACKAGES, &prefix_of(device_id))?
                .next()
                .transpose()?;
            let package = match first {
                // Consumed only if nobody else did in between.
                Some((key, value)) => {
                    txn.check(KEY_PACKAGES, &key, Some(&value));
                    txn.delete(KEY_PACKAGES, &key);
                    Some(value)
                }
                None => store.get(LAST_RESORT, device_id.as_bytes())?,
            };
            match package {
                Some(bytes) => claimed.push(ClaimedKeyPackage {
                    device_id: device_id.clone(),
                    key_package: B64.encode(bytes),
                }),
                None => missing.push(device_id.clone()),
            }
        }
        let result = ClaimedKeyPackages {
            user_id: user_id.to_owned(),
            key_packages: claimed,
            missing,
        };
        with(&mut txn, &result);
        match store.commit(&txn) {
            Ok(()) => return Ok(result),
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RoomError::Busy)
}

/// Adds to `txn` the deletion of everything stored for a device: key packages and welcome
/// mailbox (user erasure).
pub fn erase_device(store: &dyn Store, txn: &mut Txn, device_id: &str) -> Result<(), StoreError> {
    for tree in [KEY_PACKAGES, WELCOMES] {
        for item in store.scan_prefix(tree, &prefix_of(device_id))? {
            let (key, _) = item?;
            txn.delete(tree, &key);
        }
    }
    txn.delete(LAST_RESORT, device_id.as_bytes());
    Ok(())
}
