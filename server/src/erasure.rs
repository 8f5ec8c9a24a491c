//! Erasing a user: their devices (so no request of theirs authenticates again), each device's
//! key packages and welcome mailbox, their pending device requests, their TOTP enrolment, their
//! space memberships and index entries, their notification preference and pending digest, and
//! the user record (name, e-mail). All of it is one transaction with its audit entry (which
//! keeps ids only): the user is erased and audited, or neither. It is conditional on the user
//! record and the user's generation ([`crate::accounts::USER_GEN`]), which every change adding
//! a record found here by a scan bumps: a device requested (or a membership added) between the
//! scans and the commit makes the erasure answer 409 instead of leaving it behind.
//!
//! Route: `POST /v1/users/{user_id}/erase` (organisation admins; an admin of the provider
//! organisation may erase any user, another organisation's admin only their own users; nobody
//! erases themselves).
//!
//! Ciphertext the user posted stays in their rooms (it belongs to the room, and retention
//! policies govern it); their devices stay MLS leaves until a member commits their removal,
//! but can no longer authenticate to the relay.

use serde::Serialize;

use sealroom_wire::audit::AuditAction;

use crate::accounts::{
    DeviceRecord, DeviceRequest, OrgKind, OrgRecord, Role, UserRecord, DEVICES, DEVICE_REQUESTS,
    ORGS, ORG_USERS, SPACE_MEMBERS, TOTP, USERS, USER_DEVICES, USER_GEN, USER_SPACES,
};
use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{ok_json, Reply};
use crate::state::AppState;
use crate::store::{decode_json, Store, StoreError, StoreExt, Txn};

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// The erased user.
    pub user_id: String,
    /// Devices removed (with their key packages and mailboxes).
    pub devices: Vec<String>,
}

/// Erases `user_id` from `store` (no audit entry). Returns `None` when there is no such user.
pub fn erase_user(store: &dyn Store, user_id: &str) -> Result<Option<ErasureReport>, StoreError> {
    let Some((report, txn)) = erasure(store, user_id)? else {
        return Ok(None);
    };
    store.commit(&txn)?;
    store.flush()?;
    Ok(Some(report))
}

/// The erasure of `user_id` as one transaction (conditional on the user record being as read),
/// to be committed by the caller with its audit entry. `None`: there is no such user.
pub fn erasure(
    store: &dyn Store,
    user_id: &str,
) -> Result<Option<(ErasureReport, Txn)>, StoreError> {
    let Some(user_raw) = store.get(USERS, user_id.as_bytes())? else {
        return Ok(None);
    };
    let user: UserRecord = decode_json(USERS, &user_raw)?;
    let mut txn = Txn::new();
    txn.check(USERS, user_id.as_bytes(), Some(&user_raw));
    // A change that added a device, a device request or a membership of the user after the
    // scans below bumped the generation: this commit then fails (409) rather than leave it.
    let generation = store.get(USER_GEN, user_id.as_bytes())?;
    txn.check(USER_GEN, user_id.as_bytes(), generation.as_deref());
    txn.delete(USER_GEN, user_id.as_bytes());
    let mut devices = Vec::new();
    for item in store.scan_prefix(DEVICES, &[])? {
        let (key, value) = item?;
        let device: DeviceRecord = decode_json(DEVICES, &value)?;
        if device.user_id == user_id {
            txn.delete(DEVICES, &key);
            crate::rooms::data::erase_device(store, &mut txn, &device.device_id)?;
            devices.push(device.device_id);
        }
    }
    // Pending device requests (they carry the user's id and a public key).
    for item in store.scan_prefix(DEVICE_REQUESTS, &[])? {
        let (key, value) = item?;
        let request: DeviceRequest = decode_json(DEVICE_REQUESTS, &value)?;
        if request.user_id == user_id {
            txn.delete(DEVICE_REQUESTS, &key);
        }
    }
    txn.delete(TOTP, user_id.as_bytes());
    crate::accounts::erase_enrolment(store, &mut txn, user_id, &devices)?;
    // Index entries: devices of the user, spaces of the user and their membership records.
    let prefix = format!("{user_id}/");
    for tree in [USER_DEVICES, USER_SPACES] {
        for item in store.scan_prefix(tree, prefix.as_bytes())? {
            let (key, _) = item?;
            if tree == USER_SPACES {
                if let Some(space_id) = key.get(prefix.len()..) {
                    let mut member_key = space_id.to_vec();
                    member_key.push(b'/');
                    member_key.extend_from_slice(user_id.as_bytes());
                    txn.delete(SPACE_MEMBERS, &member_key);
                }
            }
            txn.delete(tree, &key);
        }
    }
    txn.delete(ORG_USERS, format!("{}/{user_id}", user.org_id).as_bytes());
    crate::notify::engine::forget_user(&mut txn, user_id);
    crate::recovery::erase(&mut txn, user_id);
    txn.delete(USERS, user_id.as_bytes());
    Ok(Some((
        ErasureReport {
            user_id: user_id.to_owned(),
            devices,
        },
        txn,
    )))
}

pub(crate) fn erase(
    state: &AppState,
    authed: &AuthedDevice,
    user_id: &str,
) -> Result<Reply, ApiError> {
    if authed.role != Role::Admin {
        return Err(ApiError::forbidden("only organisation admins erase users"));
    }
    if authed.user_id == user_id {
        return Err(ApiError::bad_request("an admin cannot erase themselves"));
    }
    let store = state.store.as_ref();
    let target = store
        .get_json::<UserRecord>(USERS, user_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let provider_admin = store
        .get_json::<OrgRecord>(ORGS, authed.org_id.as_bytes())?
        .is_some_and(|o| o.kind == OrgKind::Provider);
    if !provider_admin && target.org_id != authed.org_id {
        return Err(ApiError::not_found("no such user"));
    }
    // Everything of the user and the audit entry: one transaction. A user changed meanwhile
    // (the record's check fails, or the generation's: a device or a membership was added
    // after the scans) answers 409; the admin retries.
    let (report, txn) =
        erasure(store, user_id)?.ok_or_else(|| ApiError::not_found("no such user"))?;
    let event = audit::event_by(AuditAction::UserErase, authed)
        .object(user_id)
        .size(report.devices.len() as u64)
        .detail(format!(
            "org={} devices={}",
            target.org_id,
            report.devices.len()
        ));
    audit::commit_with(state, txn, vec![event])?;
    store.flush()?;
    Ok(ok_json(&report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::RequestStatus;
    use crate::store::RedbStore;

    fn user(id: &str, org: &str) -> UserRecord {
        UserRecord {
            user_id: id.into(),
            org_id: org.into(),
            name: format!("{id} name"),
            email: Some(format!("{id}@example.test")),
            role: Role::Customer,
            created_at: 1,
        }
    }

    fn request(id: &str, user: &str) -> DeviceRequest {
        DeviceRequest {
            request_id: id.into(),
            user_id: user.into(),
            device_id: format!("dev-{id}"),
            public_key: "00".repeat(32),
            status: RequestStatus::Pending,
            created_at: 1,
            expires_at: 2,
        }
    }

    /// Stores the provider org `o1` with the user `u1`; returns its administrator, who erases.
    fn org_with_user_u1(store: &dyn Store) -> AuthedDevice {
        let org = OrgRecord {
            org_id: "o1".into(),
            name: "o1".into(),
            kind: OrgKind::Provider,
            created_at: 0,
        };
        store.put_json(ORGS, b"o1", &org).unwrap();
        store.put_json(USERS, b"u1", &user("u1", "o1")).unwrap();
        store.put(ORG_USERS, b"o1/u1", b"").unwrap();
        AuthedDevice::for_tests(
            "o1",
            "admin",
            "admin-device",
            Role::Admin,
            bytes::Bytes::new(),
        )
    }

    #[test]
    fn erasure_removes_every_record_of_the_user_and_nothing_else() {
        let store = RedbStore::temporary().unwrap();
        for u in ["u1", "u2"] {
            store.put_json(USERS, u.as_bytes(), &user(u, "o1")).unwrap();
            store
                .put(ORG_USERS, format!("o1/{u}").as_bytes(), b"")
                .unwrap();
            store
                .put(USER_DEVICES, format!("{u}/d-{u}").as_bytes(), b"")
                .unwrap();
            store
                .put(USER_SPACES, format!("{u}/s1").as_bytes(), b"")
                .unwrap();
            store
                .put(SPACE_MEMBERS, format!("s1/{u}").as_bytes(), b"{}")
                .unwrap();
            store.put(TOTP, u.as_bytes(), b"{}").unwrap();
            store
                .put_json(
                    DEVICE_REQUESTS,
                    format!("r-{u}").as_bytes(),
                    &request(&format!("r-{u}"), u),
                )
                .unwrap();
        }
        let report = erase_user(&store, "u1").unwrap().unwrap();
        assert_eq!(report.user_id, "u1");
        for (tree, key) in [
            (USERS, "u1".to_owned()),
            (ORG_USERS, "o1/u1".into()),
            (USER_DEVICES, "u1/d-u1".into()),
            (USER_SPACES, "u1/s1".into()),
            (SPACE_MEMBERS, "s1/u1".into()),
            (TOTP, "u1".into()),
            (DEVICE_REQUESTS, "r-u1".into()),
        ] {
            assert!(
                store.get(tree, key.as_bytes()).unwrap().is_none(),
                "{tree} {key}"
            );
            let other = key.replace("u1", "u2");
            assert!(
                store.get(tree, other.as_bytes()).unwrap().is_some(),
                "{tree} {other}"
            );
        }
        assert!(erase_user(&store, "u1").unwrap().is_none());
    }

    #[test]
    fn an_erasure_and_its_audit_entry_are_one_commit() {
        use crate::audit::chain::{self, HEAD_KEY, META_TREE};
        use crate::config::Config;
        use std::sync::Arc;

        let (state, _tx) = AppState::for_tests(Config::default());
        let store = Arc::clone(&state.store);
        let authed = org_with_user_u1(store.as_ref());
        store.put(TOTP, b"u1", b"{}").unwrap();

        store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
        let refused = erase(&state, &authed, "u1").unwrap_err();
        assert_eq!(refused.status(), 500, "refused: {refused:?}");
        for (tree, key) in [(USERS, "u1"), (ORG_USERS, "o1/u1"), (TOTP, "u1")] {
            assert!(
                store.get(tree, key.as_bytes()).unwrap().is_some(),
                "{tree} kept"
            );
        }

        store.delete(META_TREE, HEAD_KEY).unwrap();
        erase(&state, &authed, "u1").unwrap();
        for (tree, key) in [(USERS, "u1"), (ORG_USERS, "o1/u1"), (TOTP, "u1")] {
            assert!(
                store.get(tree, key.as_bytes()).unwrap().is_none(),
                "{tree} erased"
            );
        }
        assert_eq!(chain::head(store.as_ref()).unwrap().unwrap().seq, 1);
    }

    /// A device requested for the user between the erasure's scan and its commit: either the
    /// erasure's commit is refused (409, and erasing again removes the device too) or the
    /// request is; never does a device, a request or an index entry of the erased user
    /// survive.
    #[test]
    fn a_device_requested_during_an_erasure_does_not_survive_it() {
        use crate::auth::ClientInfo;
        use crate::config::Config;
        use ed25519_dalek::SigningKey;

        let (state, _tx) = AppState::for_tests(Config::default());
        let store = state.store.as_ref();
        let authed = org_with_user_u1(store);
        let left_of_u1 = || {
            let devices: Vec<DeviceRecord> = store.scan_json(DEVICES, b"").unwrap();
            let requests: Vec<DeviceRequest> = store.scan_json(DEVICE_REQUESTS, b"").unwrap();
            let index = store.scan_prefix(USER_DEVICES, b"u1/").unwrap().count();
            devices.iter().filter(|d| d.user_id == "u1").count()
                + requests.iter().filter(|r| r.user_id == "u1").count()
                + index
        };

        // The erasure's scan: no device yet.
        let (_, txn) = erasure(store, "u1").unwrap().unwrap();
        // A device request for the user commits meanwhile (nothing stops it: the user exists).
        let request = sealroom_wire::accounts::DeviceRequestCreate {
            user_id: "u1".into(),
            device_name: "phone".into(),
            public_key: hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes()),
            kx_public_key: None,
        };
        let requested =
            crate::accounts::enrol::create_device_request(&state, ClientInfo::default(), request);
        // Then the erasure's commit.
        let event = audit::AuditEvent::new(AuditAction::UserErase).object("u1");
        match audit::commit_with(&state, txn, vec![event]) {
            Ok(()) => assert!(
                requested.is_err(),
                "erased with a device requested during the erasure"
            ),
            Err(e) => {
                assert_eq!(e.status(), 409, "{e:?}");
                assert!(requested.is_ok());
                erase(&state, &authed, "u1").unwrap();
            }
        }
        assert!(store.get(USERS, b"u1").unwrap().is_none());
        assert_eq!(left_of_u1(), 0, "something of the erased user survived");
    }
}
