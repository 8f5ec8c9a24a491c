//! Organisations, spaces and space membership (invitations: [`super::invitations`]).

use sealroom_wire::accounts as wire;
use sealroom_wire::audit::AuditAction;

use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::reply::{json_reply, no_content, ok_json, Reply};
use crate::state::AppState;
use crate::store::Txn;

use super::*;

pub(crate) fn create_org(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let req: wire::CreateOrg = authed.json()?;
    require_role(authed, &[Role::Admin])?;
    if !is_provider(state.store.as_ref(), authed).map_err(ApiError::from)? {
        return Err(ApiError::forbidden(
            "only provider admins create organisations",
        ));
    }
    check_name("name", &req.name)?;
    let org = OrgRecord {
        org_id: random_id(),
        name: req.name,
        kind: OrgKind::Customer,
        created_at: state.now(),
    };
    let mut txn = Txn::new();
    txn.put_json(ORGS, org.org_id.as_bytes(), &org)
        .map_err(ApiError::from)?;
    let event = audit::event_by(AuditAction::OrgCreate, authed)
        .object(org.org_id.clone())
        .detail("kind=customer");
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(json_reply(crate::reply::CREATED, &org_info(&org)))
}

pub(crate) fn org_info(org: &OrgRecord) -> wire::OrgInfo {
    wire::OrgInfo {
        org_id: org.org_id.clone(),
        name: org.name.clone(),
        kind: match org.kind {
            OrgKind::Provider => wire::OrgKind::Provider,
            OrgKind::Customer => wire::OrgKind::Customer,
        },
        created_at: org.created_at,
    }
}

pub(crate) fn get_org(
    state: &AppState,
    authed: &AuthedDevice,
    org_id: &str,
) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let visible = authed.org_id == org_id
        || (authed.role != Role::Customer && is_provider(store, authed).map_err(ApiError::from)?);
    let org = org(store, org_id).map_err(ApiError::from)?;
    match org {
        Some(o) if visible => Ok(ok_json(&org_info(&o))),
        _ => Err(ApiError::not_found("no such organisation")),
    }
}

pub(crate) fn space_info(
    store: &dyn Store,
    space: &SpaceRecord,
) -> Result<wire::SpaceInfo, ApiError> {
    let members = space_members(store, &space.space_id)?;
    Ok(wire::SpaceInfo {
        space_id: space.space_id.clone(),
        provider_org_id: space.provider_org_id.clone(),
        customer_org_id: space.customer_org_id.clone(),
        owner_user_id: space.owner_user_id.clone(),
        created_at: space.created_at,
        members: members
            .into_iter()
            .map(|m| wire::SpaceMemberInfo {
                user_id: m.user_id,
                role: match m.role {
                    SpaceRole::Owner => wire::SpaceRole::Owner,
                    SpaceRole::Staff => wire::SpaceRole::Staff,
                    SpaceRole::Customer => wire::SpaceRole::Customer,
                },
                added_at: m.added_at,
            })
            .collect(),
    })
}

pub(crate) fn create_space(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let req: wire::CreateSpace = authed.json()?;
    require_role(authed, &[Role::Admin, Role::Staff])?;
    let store = state.store.as_ref();
    if !is_provider(store, authed).map_err(ApiError::from)? {
        return Err(ApiError::forbidden("only provider staff create spaces"));
    }
    let customer = org(store, &req.customer_org_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such organisation"))?;
    if customer.kind != OrgKind::Customer {
        return Err(ApiError::bad_request(
            "customer_org_id must name a customer organisation",
        ));
    }
    let space = SpaceRecord {
        space_id: random_id(),
        provider_org_id: authed.org_id.clone(),
        customer_org_id: customer.org_id,
        owner_user_id: authed.user_id.clone(),
        created_at: state.now(),
    };
    // The space, its owner's membership and both audit entries: one transaction.
    let mut txn = Txn::new();
    txn.put_json(SPACES, space.space_id.as_bytes(), &space)
        .map_err(ApiError::from)?;
    put_space_member(
        state,
        &mut txn,
        &space.space_id,
        &authed.user_id,
        SpaceRole::Owner,
    )?;
    let events = vec![
        audit::event_by(AuditAction::SpaceCreate, authed)
            .object(space.space_id.clone())
            .detail(format!("customer_org={}", space.customer_org_id)),
        audit::event_by(AuditAction::MembershipAdd, authed)
            .object(space.space_id.clone())
            .detail(format!("space user={} role=owner", authed.user_id)),
    ];
    audit::commit_with(state, txn, events)?;
    durable(state)?;
    Ok(json_reply(
        crate::reply::CREATED,
        &space_info(store, &space)?,
    ))
}

pub(crate) fn list_spaces(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let mut spaces = Vec::new();
    for id in user_spaces(store, &authed.user_id).map_err(ApiError::from)? {
        if let Some(sp) = space(store, &id).map_err(ApiError::from)? {
            spaces.push(space_info(store, &sp)?);
        }
    }
    Ok(ok_json(&wire::SpaceList { spaces }))
}

pub(crate) fn get_space(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    let (space, _) = require_space_member(state, space_id, authed)?;
    Ok(ok_json(&space_info(state.store.as_ref(), &space)?))
}

pub(crate) fn add_space_member(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
) -> Result<Reply, ApiError> {
    let req: wire::AddSpaceMember = authed.json()?;
    let (space, me) = require_space_member(state, space_id, authed)?;
    if me.role == SpaceRole::Customer {
        return Err(ApiError::forbidden("customers cannot add members"));
    }
    let store = state.store.as_ref();
    let target = user(store, &req.user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let role = if target.org_id == space.provider_org_id {
        SpaceRole::Staff
    } else if target.org_id == space.customer_org_id {
        SpaceRole::Customer
    } else {
        return Err(ApiError::forbidden(
            "user belongs to neither organisation of the space",
        ));
    };
    let mut txn = Txn::new();
    put_space_member(state, &mut txn, space_id, &target.user_id, role)?;
    let event = audit::event_by(AuditAction::MembershipAdd, authed)
        .object(space_id)
        .detail(format!(
            "space user={} role={}",
            target.user_id,
            space_role_label(role)
        ));
    // Conditional on the user and bumping their generation: never a member erased meanwhile.
    super::users::commit_for_user(state, &target.user_id, txn, vec![event])?;
    durable(state)?;
    Ok(no_content())
}

pub(crate) fn remove_space_member(
    state: &AppState,
    authed: &AuthedDevice,
    space_id: &str,
    user_id: &str,
) -> Result<Reply, ApiError> {
    let (space, me) = require_space_member(state, space_id, authed)?;
    let leaving_self = user_id == authed.user_id;
    if me.role == SpaceRole::Customer && !leaving_self {
        return Err(ApiError::forbidden("customers cannot remove members"));
    }
    if user_id == space.owner_user_id {
        return Err(ApiError::forbidden("the owner cannot be removed"));
    }
    let store = state.store.as_ref();
    if space_member(store, space_id, user_id)
        .map_err(ApiError::from)?
        .is_none()
    {
        return Err(ApiError::not_found("not a member"));
    }
    let mut txn = Txn::new();
    txn.delete(SPACE_MEMBERS, &pair_key(space_id, user_id))
        .delete(USER_SPACES, &pair_key(user_id, space_id));
    let event = audit::event_by(AuditAction::MembershipRemove, authed)
        .object(space_id)
        .detail(format!("space user={user_id}"));
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(no_content())
}
