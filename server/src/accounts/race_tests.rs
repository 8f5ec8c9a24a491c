//! Approval and revocation against concurrent changes of the device record. Each builds its
//! transaction from the device record it read and commits only if that record is unchanged: a
//! revocation committed meanwhile is never overwritten by an active device, and an erased
//! device is never written back by a revocation.

use super::*;
use crate::config::Config;
use crate::directory::{DeviceRecord, DeviceStatus, DEVICES};
use crate::store::{StoreExt, Txn};

/// Device `d1` of user `u1` in org `o1`, with `status`.
fn device_d1(status: DeviceStatus) -> DeviceRecord {
    DeviceRecord {
        device_id: "d1".into(),
        user_id: "u1".into(),
        org_id: "o1".into(),
        name: "phone".into(),
        public_key: [7; 32],
        status,
        created_at: 0,
    }
}

#[test]
fn a_revocation_committed_during_an_approval_is_not_undone() {
    let (state, _shutdown) = AppState::for_tests(Config::default());
    let store = state.store.as_ref();
    let mut device = device_d1(DeviceStatus::Pending);
    store.put_json(DEVICES, b"d1", &device).unwrap();
    let request = DeviceRequest {
        request_id: "r1".into(),
        user_id: "u1".into(),
        device_id: "d1".into(),
        public_key: hex::encode([7u8; 32]),
        status: RequestStatus::Pending,
        created_at: 0,
        expires_at: i64::MAX,
    };
    store.put_json(DEVICE_REQUESTS, b"r1", &request).unwrap();

    // The approval reads the request and the pending device and builds its transaction ...
    let (raw, request) = enrol::load_request(&state, "r1").unwrap();
    let (txn, _) = enrol::activation(&state, &raw, &request, Txn::new()).unwrap();
    // ... an administrator's revocation of the device commits meanwhile ...
    device.status = DeviceStatus::Revoked;
    store.put_json(DEVICES, b"d1", &device).unwrap();
    // ... and the approval's commit is refused: the device stays revoked.
    let refused = store.commit(&txn).map_err(ApiError::from).unwrap_err();
    assert_eq!(refused.status(), 409, "{refused:?}");
    let now: DeviceRecord = store.get_json(DEVICES, b"d1").unwrap().unwrap();
    assert_eq!(now.status, DeviceStatus::Revoked);
    let kept: DeviceRequest = store.get_json(DEVICE_REQUESTS, b"r1").unwrap().unwrap();
    assert_eq!(kept.status, RequestStatus::Pending);

    // Without a concurrent change the same approval commits.
    device.status = DeviceStatus::Pending;
    store.put_json(DEVICES, b"d1", &device).unwrap();
    let (raw, request) = enrol::load_request(&state, "r1").unwrap();
    enrol::activate(&state, &raw, &request, Txn::new()).unwrap();
    let now: DeviceRecord = store.get_json(DEVICES, b"d1").unwrap().unwrap();
    assert_eq!(now.status, DeviceStatus::Active);
}

/// A revocation against an erasure committed during it: the revocation's transaction checks
/// the device record it read, so it cannot write back a (revoked) record of an erased user.
#[test]
fn a_revocation_does_not_recreate_a_device_erased_during_it() {
    use crate::auth::AuthedDevice;
    use crate::directory::Role;

    let (state, _shutdown) = AppState::for_tests(Config::default());
    let store = state.store.as_ref();
    let device = device_d1(DeviceStatus::Active);
    store.put_json(DEVICES, b"d1", &device).unwrap();
    let admin = AuthedDevice::for_tests(
        "o1",
        "admin",
        "admin-device",
        Role::Admin,
        bytes::Bytes::new(),
    );

    // The revocation reads the device and builds its transaction ...
    let (txn, _) = users::revocation(&state, &admin, "d1").unwrap().unwrap();
    // ... the user's erasure deletes the device meanwhile ...
    store.delete(DEVICES, b"d1").unwrap();
    // ... and the revocation's commit is refused: nothing of the device comes back.
    let refused = store.commit(&txn).map_err(ApiError::from).unwrap_err();
    assert_eq!(refused.status(), 409, "{refused:?}");
    assert!(store.get(DEVICES, b"d1").unwrap().is_none());

    // Without a concurrent change the revocation commits.
    store.put_json(DEVICES, b"d1", &device).unwrap();
    let (txn, _) = users::revocation(&state, &admin, "d1").unwrap().unwrap();
    store.commit(&txn).unwrap();
    let now: DeviceRecord = store.get_json(DEVICES, b"d1").unwrap().unwrap();
    assert_eq!(now.status, DeviceStatus::Revoked);
    assert!(users::revocation(&state, &admin, "d1").unwrap().is_none());
}
