//! The space's scanner: the user whose devices release scan holds ([`HOLD_SCAN`]) in a space
//! (`docs/scanner.md`, "Who the scanner is").
//!
//! A scanner is a service user of the provider organisation and a staff member of the space
//! like any other; what makes it the scanner is a designation that the space's provider staff
//! (owner or staff role) or a provider administrator store with `PUT
//! /v1/spaces/{space}/scanner`, audited as `membership.add` with `role=scanner`. A space has at
//! most one scanner; a new designation replaces the old one, `{"user_id": null}` removes it.
//! The clients do not rely on this: they accept verdicts only from the user the space policy
//! names, which staff sign into the room.

use serde::{Deserialize, Serialize};

use sealroom_wire::audit::AuditAction;
use sealroom_wire::blobs::{ScannerDesignation, HOLD_SCAN};

use crate::accounts::{self, Role, SpaceRole};
use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{ok_json, Reply};
use crate::state::AppState;
use crate::store::{Store, StoreError, StoreExt, Txn};

/// Tree: space id -> [`StoredScanner`].
pub const SCANNERS: &str = "space_scanners";

/// A designation as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredScanner {
    /// The scanner's user.
    pub user_id: String,
    /// Who designated it.
    pub set_by: String,
    /// Unix seconds.
    pub set_at: i64,
}

/// The space's scanner user, if one is designated.
pub fn designated(store: &dyn Store, space_id: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get_json::<StoredScanner>(SCANNERS, space_id.as_bytes())?
        .map(|s| s.user_id))
}

/// Provider staff of the space (owner or staff role) or a provider administrator.
fn check_manager(state: &AppState, authed: &AuthedDevice, space_id: &str) -> Result<(), ApiError> {
    sealroom_wire::check_id(space_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match authed.role {
        Role::Admin => match accounts::space(state.store.as_ref(), space_id)? {
            Some(space) if space.provider_org_id == authed.org_id => Ok(()),
            _ => Err(ApiError::not_found("no such space")),
        },
        _ => {
            let (_, me) = accounts::require_space_member(state, space_id, authed)?;
            if me.role == SpaceRole::Customer {
                Err(ApiError::forbidden(
                    "only provider staff designate the space's scanner",
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// `GET /v1/spaces/{space}/scanner`: any member of the space (the scanner is visible).
pub(crate) fn get_scanner(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    sealroom_wire::check_id(space_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if authed.role != Role::Admin {
        accounts::require_space_member(state, space_id, authed)?;
    } else {
        check_manager(state, authed, space_id)?;
    }
    Ok(ok_json(&ScannerDesignation {
        user_id: designated(state.store.as_ref(), space_id)?,
    }))
}

/// `PUT /v1/spaces/{space}/scanner`: designates (or with `null` removes) the space's scanner,
/// a provider staff member of the space.
pub(crate) fn put_scanner(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    check_manager(state, authed, space_id)?;
    let body: ScannerDesignation = authed.json()?;
    let store = state.store.as_ref();
    // The designation and its audit entry: one transaction.
    let mut txn = Txn::new();
    match &body.user_id {
        Some(user_id) => {
            sealroom_wire::check_id(user_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let member = accounts::space_member(store, space_id, user_id)?;
            if member.map(|m| m.role) != Some(SpaceRole::Staff) {
                return Err(ApiError::bad_request(
                    "the scanner must be a provider staff member of the space (not its owner)",
                ));
            }
            txn.put_json(
                SCANNERS,
                space_id.as_bytes(),
                &StoredScanner {
                    user_id: user_id.clone(),
                    set_by: authed.user_id.clone(),
                    set_at: state.now(),
                },
            )?;
        }
        None => {
            txn.delete(SCANNERS, space_id.as_bytes());
        }
    }
    let event = audit::event_by(AuditAction::MembershipAdd, authed)
        .object(space_id)
        .detail(match &body.user_id {
            Some(u) => format!("space user={u} role=scanner hold={HOLD_SCAN}"),
            None => "space role=scanner removed".to_owned(),
        });
    audit::commit_with(state, txn, vec![event])?;
    state.store.flush()?;
    Ok(ok_json(&body))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::accounts::{SpaceRecord, SPACES};
    use crate::audit::chain::{self, HEAD_KEY, META_TREE};
    use crate::config::Config;

    /// A designation change and its audit entry commit together: with a damaged chain head
    /// nothing changes, with a sound one both land.
    #[test]
    fn a_scanner_designation_and_its_entry_are_one_commit() {
        let (state, _tx) = AppState::for_tests(Config::default());
        let store = Arc::clone(&state.store);
        let space = SpaceRecord {
            space_id: "s1".into(),
            provider_org_id: "p".into(),
            customer_org_id: "c".into(),
            owner_user_id: "owner".into(),
            created_at: 0,
        };
        store.put_json(SPACES, b"s1", &space).unwrap();
        let scanner = StoredScanner {
            user_id: "scan".into(),
            set_by: "owner".into(),
            set_at: 0,
        };
        store.put_json(SCANNERS, b"s1", &scanner).unwrap();
        let body = br#"{"user_id":null}"#;
        let authed = AuthedDevice::for_tests(
            "p",
            "admin",
            "admin-device",
            Role::Admin,
            bytes::Bytes::from_static(body),
        );

        store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
        let refused = put_scanner(&state, &authed, "s1").unwrap_err();
        assert_eq!(refused.status(), 500, "refused: {refused:?}");
        assert_eq!(
            designated(store.as_ref(), "s1").unwrap().as_deref(),
            Some("scan")
        );

        store.delete(META_TREE, HEAD_KEY).unwrap();
        put_scanner(&state, &authed, "s1").unwrap();
        assert_eq!(designated(store.as_ref(), "s1").unwrap(), None);
        assert_eq!(chain::head(store.as_ref()).unwrap().unwrap().seq, 1);
    }
}
