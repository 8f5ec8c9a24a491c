//! A change and its audit entries commit together: when the audit append is refused (here a
//! damaged chain head), the change is not stored either, and with a sound head both are.

use bytes::Bytes;
use tokio::sync::watch;

use super::*;
use crate::audit::chain::{self, HEAD_KEY, META_TREE};
use crate::auth::AuthedDevice;
use crate::config::Config;
use crate::directory::{OrgKind, OrgRecord, Role, ORGS};
use crate::state::AppState;
use crate::store::{Store, StoreExt};

fn state() -> (AppState, watch::Sender<bool>) {
    let (state, tx) = AppState::for_tests(Config::default());
    for (id, kind) in [
        ("provider", OrgKind::Provider),
        ("customer", OrgKind::Customer),
    ] {
        let org = OrgRecord {
            org_id: id.to_owned(),
            name: id.to_owned(),
            kind,
            created_at: 0,
        };
        state.store.put_json(ORGS, id.as_bytes(), &org).unwrap();
    }
    state
        .store
        .put(META, META_BOOTSTRAPPED, b"provider")
        .unwrap();
    (state, tx)
}

fn staff(body: &str) -> AuthedDevice {
    let body = Bytes::copy_from_slice(body.as_bytes());
    AuthedDevice::for_tests("provider", "staff-user", "staff-device", Role::Admin, body)
}

fn count(store: &dyn Store, tree: &str) -> usize {
    store.scan_prefix(tree, b"").unwrap().count()
}

#[test]
fn a_space_is_not_created_when_its_audit_entries_cannot_be_written() {
    let (state, _shutdown) = state();
    let store = state.store.as_ref();
    store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    let authed = staff(r#"{"customer_org_id":"customer"}"#);
    let refused = spaces::create_space(&state, &authed).unwrap_err();
    assert_eq!(
        refused.status(),
        500,
        "refused by the audit append: {refused:?}"
    );
    assert_eq!(count(store, SPACES), 0, "no space without its audit entry");
    assert_eq!(count(store, SPACE_MEMBERS), 0);
    assert_eq!(count(store, USER_SPACES), 0);

    store.delete(META_TREE, HEAD_KEY).unwrap();
    spaces::create_space(&state, &authed).unwrap();
    assert_eq!(count(store, SPACES), 1);
    assert_eq!(count(store, USER_SPACES), 1);
    // Both entries (space.create, membership.add) in the same commit as the space.
    assert_eq!(chain::head(store).unwrap().unwrap().seq, 2);
}

#[test]
fn an_organisation_and_its_entry_are_one_commit() {
    let (state, _shutdown) = state();
    let store = state.store.as_ref();
    store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    let authed = staff(r#"{"name":"Nordic Dental AB"}"#);
    let refused = spaces::create_org(&state, &authed).unwrap_err();
    assert_eq!(
        refused.status(),
        500,
        "refused by the audit append: {refused:?}"
    );
    assert_eq!(count(store, ORGS), 2, "only the two set up");
    store.delete(META_TREE, HEAD_KEY).unwrap();
    spaces::create_org(&state, &authed).unwrap();
    assert_eq!(count(store, ORGS), 3);
    assert_eq!(chain::head(store).unwrap().unwrap().seq, 1);
}
