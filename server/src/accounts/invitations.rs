//! Invitations: issued with a lifetime, listed for a space's staff, revoked before use.
//!
//! An admin invites staff; staff (space members) invite customer members into a space. The
//! token is stored only as its SHA-256 ([`INVITES`]); [`INVITE_IDS`] maps the public id to that
//! digest so staff can revoke by id, and [`SPACE_INVITES`] lists a space's invitations. A
//! revoked or expired invitation is refused on check, registration and acceptance
//! ([`InviteRecord::usable`]). Invitations written before the indexes existed are still used
//! and checked by token, but not listed or revocable by id.

use sealroom_wire::accounts as wire;
use sealroom_wire::audit::AuditAction;

use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{json_reply, no_content, ok_json, Reply};
use crate::state::AppState;
use crate::store::Txn;

use super::*;

/// The lifetime asked for, bounded, in seconds.
fn lifetime(asked: Option<u64>) -> Result<i64, ApiError> {
    let secs = asked.unwrap_or(wire::DEFAULT_INVITATION_LIFETIME_SECS);
    if !(wire::MIN_INVITATION_LIFETIME_SECS..=wire::MAX_INVITATION_LIFETIME_SECS).contains(&secs) {
        return Err(ApiError::bad_request(format!(
            "lifetime_secs must be from {} (one hour) to {} (30 days)",
            wire::MIN_INVITATION_LIFETIME_SECS,
            wire::MAX_INVITATION_LIFETIME_SECS
        )));
    }
    i64::try_from(secs).map_err(|_| ApiError::bad_request("lifetime_secs out of range"))
}

pub(crate) fn create_invitation(
    state: &AppState,
    authed: &AuthedDevice,
) -> Result<Reply, ApiError> {
    let req: wire::CreateInvitation = authed.json()?;
    let store = state.store.as_ref();
    let now = state.now();
    let ttl = lifetime(req.lifetime_secs)?;
    let (org_id, role, space_id) = match req.role {
        wire::Role::Staff | wire::Role::Admin => {
            require_role(authed, &[Role::Admin])?;
            if !is_provider(store, authed).map_err(ApiError::from)? {
                return Err(ApiError::forbidden("only provider admins invite staff"));
            }
            if req.space_id.is_some() {
                return Err(ApiError::bad_request("staff invitations take no space_id"));
            }
            let role = if req.role == wire::Role::Admin {
                Role::Admin
            } else {
                Role::Staff
            };
            (authed.org_id.clone(), role, None)
        }
        wire::Role::Customer => {
            require_role(authed, &[Role::Admin, Role::Staff])?;
            let space_id = req
                .space_id
                .ok_or_else(|| ApiError::bad_request("customer invitations need a space_id"))?;
            let (space, member) = require_space_member(state, &space_id, authed)?;
            if member.role == SpaceRole::Customer {
                return Err(ApiError::forbidden("customers cannot invite"));
            }
            (space.customer_org_id, Role::Customer, Some(space_id))
        }
    };
    let token = random_token();
    let digest = token_digest(&token);
    let invite = InviteRecord {
        invitation_id: random_id(),
        org_id,
        role,
        space_id,
        invited_by: authed.user_id.clone(),
        created_at: now,
        expires_at: now.saturating_add(ttl),
        used: false,
        revoked_at: None,
        revoked_by: None,
    };
    let mut txn = Txn::new();
    txn.put_json(INVITES, digest.as_bytes(), &invite)
        .map_err(ApiError::from)?
        .put(
            INVITE_IDS,
            invite.invitation_id.as_bytes(),
            digest.as_bytes(),
        );
    if let Some(space_id) = &invite.space_id {
        txn.put(
            SPACE_INVITES,
            &pair_key(space_id, &invite.invitation_id),
            b"",
        );
    }
    let event = audit::event_by(AuditAction::InviteCreate, authed)
        .object(invite.invitation_id.clone())
        .detail({
            let mut detail = format!("role={}", role_label(invite.role));
            if let Some(space_id) = &invite.space_id {
                detail.push_str(&format!(" space={space_id}"));
            }
            // A lifetime the creator chose (the default is not repeated in every entry).
            if req.lifetime_secs.is_some() {
                detail.push_str(&format!(" lifetime={ttl}"));
            }
            detail
        });
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(json_reply(
        crate::reply::CREATED,
        &wire::Invitation {
            invitation_id: invite.invitation_id,
            token,
            org_id: invite.org_id,
            role: wire_role(invite.role),
            space_id: invite.space_id,
            expires_at: invite.expires_at,
        },
    ))
}

/// The invitation `invitation_id` with its stored bytes and token digest.
fn load_by_id(
    state: &AppState,
    invitation_id: &str,
) -> Result<Option<(String, Vec<u8>, InviteRecord)>, ApiError> {
    let store = state.store.as_ref();
    let Some(digest) = store
        .get(INVITE_IDS, invitation_id.as_bytes())
        .map_err(ApiError::from)?
    else {
        return Ok(None);
    };
    let digest = String::from_utf8(digest)
        .map_err(|_| ApiError::internal("invitation index", &"digest is not UTF-8".to_owned()))?;
    let Some(raw) = store
        .get(INVITES, digest.as_bytes())
        .map_err(ApiError::from)?
    else {
        return Ok(None);
    };
    let invite = crate::store::decode_json(INVITES, &raw).map_err(ApiError::from)?;
    Ok(Some((digest, raw, invite)))
}

/// Whether `authed` manages the invitations of `invite`: provider admins all of them; for an
/// invitation into a space, the space's owner and staff. Anyone else gets 403.
fn require_manager(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: Option<&str>,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    if authed.role == Role::Admin && is_provider(store, authed).map_err(ApiError::from)? {
        return Ok(());
    }
    let staff_of_space = match space_id {
        Some(space_id) if authed.role != Role::Customer => {
            space_member(store, space_id, &authed.user_id)
                .map_err(ApiError::from)?
                .is_some_and(|m| m.role != SpaceRole::Customer)
        }
        _ => false,
    };
    if staff_of_space {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the space's staff or an administrator manage its invitations",
        ))
    }
}

fn info(invite: &InviteRecord, now: i64) -> wire::InvitationInfo {
    wire::InvitationInfo {
        invitation_id: invite.invitation_id.clone(),
        role: wire_role(invite.role),
        space_id: invite.space_id.clone(),
        invited_by: invite.invited_by.clone(),
        created_at: invite.created_at,
        expires_at: invite.expires_at,
        state: invite.state(now),
        revoked_at: invite.revoked_at,
    }
}

/// `GET /v1/spaces/{space_id}/invitations`: the space's open invitations (neither used nor
/// revoked; expired ones with their state), newest first. For the space's staff and provider
/// admins; a customer member gets 403, anyone who cannot see the space 404.
pub(crate) fn list_space_invitations(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let admin = authed.role == Role::Admin && is_provider(store, authed).map_err(ApiError::from)?;
    if admin {
        space(store, space_id)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found("no such space"))?;
    } else {
        require_space_member(state, space_id, authed)?;
        require_manager(state, authed, Some(space_id))?;
    }
    let now = state.now();
    let mut invitations = Vec::new();
    for item in store
        .scan_prefix(SPACE_INVITES, &prefix_key(space_id))
        .map_err(ApiError::from)?
    {
        let (key, _) = item.map_err(ApiError::from)?;
        let Some(invitation_id) = second_part(&key) else {
            continue;
        };
        if let Some((_, _, invite)) = load_by_id(state, &invitation_id)? {
            let info = info(&invite, now);
            if matches!(
                info.state,
                wire::InvitationState::Valid | wire::InvitationState::Expired
            ) {
                invitations.push(info);
            }
        }
    }
    invitations
        .sort_by(|a, b| (b.created_at, &b.invitation_id).cmp(&(a.created_at, &a.invitation_id)));
    Ok(ok_json(&wire::InvitationList { invitations }))
}

/// `DELETE /v1/invitations/{invitation_id}`: revokes an unused invitation. Provider admins may
/// revoke any; the owner and staff of a space those into their space. Anyone else gets 403, an
/// unknown id 404, a used one 409; revoking twice is a no-op (204). Audited as
/// `invite.revoke`.
pub(crate) fn revoke_invitation(
    state: &AppState,
    authed: &AuthedDevice,
    invitation_id: &str,
) -> Result<Reply, ApiError> {
    let Some((digest, raw, invite)) = load_by_id(state, invitation_id)? else {
        return Err(ApiError::not_found("no such invitation"));
    };
    require_manager(state, authed, invite.space_id.as_deref())?;
    if invite.used {
        return Err(ApiError::conflict("invitation already used"));
    }
    if invite.revoked_at.is_some() {
        return Ok(no_content());
    }
    let mut revoked = invite.clone();
    revoked.revoked_at = Some(state.now());
    revoked.revoked_by = Some(authed.user_id.clone());
    let mut txn = Txn::new();
    txn.check(INVITES, digest.as_bytes(), Some(&raw))
        .put_json(INVITES, digest.as_bytes(), &revoked)
        .map_err(ApiError::from)?;
    let event = audit::event_by(AuditAction::InviteRevoke, authed)
        .object(invite.invitation_id.clone())
        .detail(match &invite.space_id {
            Some(space_id) => format!("role={} space={space_id}", role_label(invite.role)),
            None => format!("role={}", role_label(invite.role)),
        });
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(no_content())
}
