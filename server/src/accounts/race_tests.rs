//! Approval against a concurrent revocation: the approval's transaction is built from the
//! device record it read; a revocation committed before it must win, never be overwritten by
//! an active device.

use super::*;
use crate::config::Config;
use crate::directory::{DeviceRecord, DeviceStatus, DEVICES};
use crate::store::{StoreExt, Txn};

#[test]
fn a_revocation_committed_during_an_approval_is_not_undone() {
    let (state, _shutdown) = AppState::for_tests(Config::default());
    let store = state.store.as_ref();
    let mut device = DeviceRecord {
        device_id: "d1".into(),
        user_id: "u1".into(),
        org_id: "o1".into(),
        name: "phone".into(),
        public_key: [7; 32],
        status: DeviceStatus::Pending,
        created_at: 0,
    };
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
