//! Bootstrap, registration, the caller and their devices, device revocation.

use sealroom_wire::accounts as wire;
use sealroom_wire::accounts::SecurityEventKind;
use sealroom_wire::audit::AuditAction;

use crate::audit;
use crate::auth::{AuthedDevice, ClientInfo};
use crate::error::ApiError;
use crate::reply::{json_reply, no_content, ok_json, Reply};
use crate::state::AppState;
use crate::store::{StoreExt, Txn};

use super::*;

/// Commits `txn`, a change that adds records of the existing user `user_id` which the user's
/// erasure finds by a scan (a device and its request, a space membership), with its audit
/// `events`, on two conditions: the user record is still as read, and the user's generation
/// ([`USER_GEN`]) too, which this commit bumps. An erasure checks both and deletes them: one
/// committed first makes this change fail (404: the user is gone), one that scanned before
/// this commit fails at its own (409: the admin erases again, and the new records with it).
/// A race with another change of the same user is retried here.
pub(crate) fn commit_for_user(
    state: &AppState,
    user_id: &str,
    txn: Txn,
    events: Vec<AuditEvent>,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let key = user_id.as_bytes();
    for attempt in 0..crate::contention::RETRIES {
        if attempt > 0 {
            std::thread::sleep(crate::contention::backoff(attempt));
        }
        let user_raw = store
            .get(USERS, key)?
            .ok_or_else(|| ApiError::not_found("no such user"))?;
        let gen_raw = store.get(USER_GEN, key)?;
        let generation = gen_raw
            .as_deref()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes);
        let mut attempt = txn.clone();
        attempt
            .check(USERS, key, Some(&user_raw))
            .check(USER_GEN, key, gen_raw.as_deref())
            .put(USER_GEN, key, &generation.wrapping_add(1).to_be_bytes());
        audit::within(state, &mut attempt, events.clone());
        match store.commit(&attempt) {
            Ok(()) => return Ok(()),
            Err(crate::store::TxnError::Conflict { tree, .. })
                if tree == USERS || tree == USER_GEN =>
            {
                continue
            }
            Err(e) => return Err(audit::txn_error(e)),
        }
    }
    Err(ApiError::conflict("the user kept changing, retry"))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_user_txn(
    txn: &mut Txn,
    now: i64,
    org_id: &str,
    role: Role,
    name: &str,
    email: Option<String>,
    device_name: &str,
    public_key: [u8; 32],
) -> Result<(UserRecord, DeviceRecord), ApiError> {
    let user = UserRecord {
        user_id: random_id(),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        email,
        role,
        created_at: now,
    };
    let device = DeviceRecord {
        device_id: random_id(),
        user_id: user.user_id.clone(),
        org_id: org_id.to_owned(),
        name: device_name.to_owned(),
        public_key,
        status: DeviceStatus::Active,
        created_at: now,
    };
    txn.put_json(USERS, user.user_id.as_bytes(), &user)?
        .put_json(DEVICES, device.device_id.as_bytes(), &device)?
        .put(
            USER_DEVICES,
            &pair_key(&user.user_id, &device.device_id),
            b"",
        )
        .put(ORG_USERS, &pair_key(org_id, &user.user_id), b"");
    Ok((user, device))
}

pub(crate) fn bootstrap(
    state: &AppState,
    client: ClientInfo,
    req: wire::BootstrapRequest,
) -> Result<Reply, ApiError> {
    let now = state.now();
    let rl_key = client.ip.map(|ip| format!("ip:{ip}")).unwrap_or_default();
    state.limiter.guard(&rl_key, now)?;
    let store = state.store.as_ref();
    let expected = store.get(META, META_SETUP_DIGEST).map_err(ApiError::from)?;
    let given = token_digest(&req.setup_token);
    let valid = match &expected {
        Some(e) => bool::from(e.as_slice().ct_eq(given.as_bytes())),
        None => false,
    };
    if store
        .get(META, META_BOOTSTRAPPED)
        .map_err(ApiError::from)?
        .is_some()
    {
        return Err(ApiError::conflict("the relay is already bootstrapped"));
    }
    if !valid {
        state.limiter.record_failure(&rl_key, now);
        return Err(ApiError::unauthenticated("invalid setup token"));
    }
    check_name("org_name", &req.org_name)?;
    check_name("user_name", &req.user_name)?;
    check_name("device_name", &req.device_name)?;
    check_email(req.email.as_deref())?;
    let public_key = parse_public_key(&req.public_key)?;
    let org = OrgRecord {
        org_id: random_id(),
        name: req.org_name,
        kind: OrgKind::Provider,
        created_at: now,
    };
    let mut txn = Txn::new();
    txn.check(META, META_BOOTSTRAPPED, None)
        .put(META, META_BOOTSTRAPPED, org.org_id.as_bytes())
        .delete(META, META_SETUP_DIGEST)
        .put_json(ORGS, org.org_id.as_bytes(), &org)
        .map_err(ApiError::from)?;
    let (user, device) = new_user_txn(
        &mut txn,
        now,
        &org.org_id,
        Role::Admin,
        &req.user_name,
        req.email,
        &req.device_name,
        public_key,
    )?;
    let events = vec![
        client_event(AuditAction::OrgCreate, &client)
            .actor(user.user_id.clone())
            .device(device.device_id.clone())
            .org(org.org_id.clone())
            .object(org.org_id.clone())
            .detail("bootstrap kind=provider"),
        client_event(AuditAction::UserRegister, &client)
            .actor(user.user_id.clone())
            .device(device.device_id.clone())
            .org(org.org_id.clone())
            .object(user.user_id.clone())
            .detail("bootstrap role=admin"),
    ];
    audit::commit_with(state, txn, events)?;
    durable(state)?;
    let _ = std::fs::remove_file(state.config.data_dir.join(SETUP_TOKEN_FILE));
    tracing::info!(org_id = %org.org_id, user_id = %user.user_id, "relay bootstrapped");
    Ok(json_reply(
        crate::reply::CREATED,
        &wire::Registered {
            org_id: org.org_id,
            user_id: user.user_id,
            device_id: device.device_id,
            role: wire_role(Role::Admin),
            space_id: None,
        },
    ))
}

/// `POST /v1/invitations/check`: whether a token can still be used, and (when it can) who
/// invited whom into which organisation, from the relay's own records. An unknown token is 401
/// and a failure for the caller's rate limit, exactly as at registration.
pub(crate) fn check_invitation(
    state: &AppState,
    client: ClientInfo,
    req: wire::InvitationCheckRequest,
) -> Result<Reply, ApiError> {
    let now = state.now();
    let rl_key = client.ip.map(|ip| format!("ip:{ip}")).unwrap_or_default();
    state.limiter.guard(&rl_key, now)?;
    let store = state.store.as_ref();
    let Some(invite) = store
        .get_json::<InviteRecord>(INVITES, token_digest(&req.token).as_bytes())
        .map_err(ApiError::from)?
    else {
        state.limiter.record_failure(&rl_key, now);
        return Err(ApiError::unauthenticated("invalid invitation token"));
    };
    let state_now = invite.state(now);
    let mut answer = wire::InvitationCheck {
        state: state_now,
        role: None,
        org_name: None,
        inviter_name: None,
        inviter_user_id: None,
        space_id: None,
        expires_at: invite.expires_at,
    };
    if state_now == wire::InvitationState::Valid {
        answer.role = Some(wire_role(invite.role));
        answer.org_name = org(store, &invite.org_id)
            .map_err(ApiError::from)?
            .map(|o| o.name);
        answer.inviter_name = user(store, &invite.invited_by)
            .map_err(ApiError::from)?
            .map(|u| u.name);
        answer.inviter_user_id = Some(invite.invited_by);
        answer.space_id = invite.space_id;
    }
    Ok(ok_json(&answer))
}

pub(crate) fn register(
    state: &AppState,
    client: ClientInfo,
    req: wire::RegisterRequest,
) -> Result<Reply, ApiError> {
    let now = state.now();
    let rl_key = client.ip.map(|ip| format!("ip:{ip}")).unwrap_or_default();
    state.limiter.guard(&rl_key, now)?;
    let digest = token_digest(&req.token);
    let store = state.store.as_ref();
    let Some(raw) = store
        .get(INVITES, digest.as_bytes())
        .map_err(ApiError::from)?
    else {
        state.limiter.record_failure(&rl_key, now);
        return Err(ApiError::unauthenticated("invalid invitation token"));
    };
    let invite: InviteRecord = crate::store::decode_json(INVITES, &raw).map_err(ApiError::from)?;
    invite.usable(now)?;
    check_name("user_name", &req.user_name)?;
    check_name("device_name", &req.device_name)?;
    check_email(req.email.as_deref())?;
    let public_key = parse_public_key(&req.public_key)?;
    let mut used = invite.clone();
    used.used = true;
    let mut txn = Txn::new();
    txn.check(INVITES, digest.as_bytes(), Some(&raw))
        .put_json(INVITES, digest.as_bytes(), &used)
        .map_err(ApiError::from)?;
    let (user, device) = new_user_txn(
        &mut txn,
        now,
        &invite.org_id,
        invite.role,
        &req.user_name,
        req.email,
        &req.device_name,
        public_key,
    )?;
    if let Some(space_id) = &invite.space_id {
        let member = SpaceMember {
            space_id: space_id.clone(),
            user_id: user.user_id.clone(),
            role: SpaceRole::Customer,
            added_at: now,
        };
        txn.put_json(SPACE_MEMBERS, &pair_key(space_id, &user.user_id), &member)
            .map_err(ApiError::from)?
            .put(USER_SPACES, &pair_key(&user.user_id, space_id), b"");
    }
    let registered = |action| {
        client_event(action, &client)
            .actor(user.user_id.clone())
            .device(device.device_id.clone())
            .org(user.org_id.clone())
    };
    let mut events = vec![registered(AuditAction::UserRegister)
        .object(user.user_id.clone())
        .detail(format!(
            "invitation={} role={}",
            invite.invitation_id,
            role_label(user.role)
        ))];
    if let Some(space_id) = &invite.space_id {
        events.push(
            registered(AuditAction::MembershipAdd)
                .object(space_id.clone())
                .detail(format!("space user={} role=customer", user.user_id)),
        );
    }
    audit::commit_with(state, txn, events)?;
    durable(state)?;
    tracing::info!(user_id = %user.user_id, device_id = %device.device_id, "user registered");
    Ok(json_reply(
        crate::reply::CREATED,
        &wire::Registered {
            org_id: user.org_id,
            user_id: user.user_id,
            device_id: device.device_id,
            role: wire_role(user.role),
            space_id: invite.space_id,
        },
    ))
}

/// `POST /v1/invitations/accept` (signed): an existing customer user takes an invitation into a
/// further space of their own organisation, with no second registration. The invitation is used
/// up and the user becomes a customer member of its space (the staff then admit the user's
/// devices into the room). An invitation for another organisation, or a staff invitation, is
/// refused: it needs its own account.
pub(crate) fn accept_invitation(
    state: &AppState,
    authed: &AuthedDevice,
) -> Result<Reply, ApiError> {
    let req: wire::InvitationCheckRequest = authed.json()?;
    let now = state.now();
    let rl_key = format!("device:{}", authed.device_id);
    state.limiter.guard(&rl_key, now)?;
    let digest = token_digest(&req.token);
    let store = state.store.as_ref();
    let Some(raw) = store
        .get(INVITES, digest.as_bytes())
        .map_err(ApiError::from)?
    else {
        state.limiter.record_failure(&rl_key, now);
        return Err(ApiError::unauthenticated("invalid invitation token"));
    };
    let invite: InviteRecord = crate::store::decode_json(INVITES, &raw).map_err(ApiError::from)?;
    invite.usable(now)?;
    let Some(space_id) = invite.space_id.clone() else {
        return Err(ApiError::forbidden(
            "only invitations into a space can be added to an existing account",
        ));
    };
    if invite.role != Role::Customer || authed.role != Role::Customer {
        return Err(ApiError::forbidden(
            "only customers add a space to an existing account",
        ));
    }
    if invite.org_id != authed.org_id {
        return Err(ApiError::forbidden(
            "the invitation is for another organisation: register with it on another device",
        ));
    }
    let space = space(store, &space_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such space"))?;
    let mut used = invite.clone();
    used.used = true;
    let member = SpaceMember {
        space_id: space_id.clone(),
        user_id: authed.user_id.clone(),
        role: SpaceRole::Customer,
        added_at: now,
    };
    let mut txn = Txn::new();
    txn.check(INVITES, digest.as_bytes(), Some(&raw))
        .put_json(INVITES, digest.as_bytes(), &used)
        .map_err(ApiError::from)?
        .put_json(
            SPACE_MEMBERS,
            &pair_key(&space_id, &authed.user_id),
            &member,
        )
        .map_err(ApiError::from)?
        .put(USER_SPACES, &pair_key(&authed.user_id, &space_id), b"");
    let event = audit::event_by(AuditAction::MembershipAdd, authed)
        .object(space_id.clone())
        .detail(format!(
            "space user={} role=customer invitation={}",
            authed.user_id, invite.invitation_id
        ));
    commit_for_user(state, &authed.user_id, txn, vec![event])?;
    durable(state)?;
    Ok(ok_json(&super::spaces::space_info(store, &space)?))
}

pub(crate) fn me(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let user = user(state.store.as_ref(), &authed.user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(ok_json(&wire::Me {
        org_id: authed.org_id.clone(),
        user_id: authed.user_id.clone(),
        device_id: authed.device_id.clone(),
        role: wire_role(authed.role),
        name: user.name,
        email: user.email,
    }))
}

pub(crate) fn device_info(d: &DeviceRecord, certificate: Option<String>) -> wire::DeviceInfo {
    wire::DeviceInfo {
        device_id: d.device_id.clone(),
        user_id: d.user_id.clone(),
        name: d.name.clone(),
        public_key: hex::encode(d.public_key),
        status: match d.status {
            DeviceStatus::Active => wire::DeviceState::Active,
            DeviceStatus::Pending => wire::DeviceState::Pending,
            DeviceStatus::Revoked => wire::DeviceState::Revoked,
        },
        created_at: d.created_at,
        certificate,
    }
}

pub(crate) fn list_devices(state: &AppState, user_id: &str) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let devices = user_devices(store, user_id).map_err(ApiError::from)?;
    let mut out = Vec::with_capacity(devices.len());
    for d in &devices {
        let certificate = identity::certificate(store, &d.device_id).map_err(ApiError::from)?;
        out.push(device_info(d, certificate));
    }
    Ok(ok_json(&wire::DeviceList {
        devices: out,
        identity_key: identity::identity_key(store, user_id)
            .map_err(ApiError::from)?
            .map(hex::encode),
    }))
}

/// Whether `viewer` may see `target`'s users and devices: same organisation, or they share a
/// space.
pub(crate) fn may_see_user(
    store: &dyn Store,
    viewer: &AuthedDevice,
    target: &UserRecord,
) -> Result<bool, StoreError> {
    Ok(target.org_id == viewer.org_id || shares_space(store, &viewer.user_id, &target.user_id)?)
}

pub(crate) fn user_devices_route(
    state: &AppState,
    authed: &AuthedDevice,
    user_id: &str,
) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let target = user(store, user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    if !may_see_user(store, authed, &target).map_err(ApiError::from)? {
        return Err(ApiError::not_found("no such user"));
    }
    list_devices(state, user_id)
}

pub(crate) fn revoke_device(
    state: &AppState,
    authed: &AuthedDevice,
    device_id: &str,
) -> Result<Reply, ApiError> {
    let Some((txn, device)) = revocation(state, authed, device_id)? else {
        // Already revoked: nothing changes, no second mail.
        return Ok(no_content());
    };
    let event = audit::event_by(AuditAction::DeviceRemove, authed)
        .object(device_id)
        .detail(format!("revoked user={}", device.user_id));
    audit::commit_with(state, txn, vec![event])?;
    // The user learns it by a content-free mail and in their devices' security events,
    // whoever revoked it (the user from another device or an administrator).
    security::record(
        state,
        &device.user_id,
        SecurityEventKind::DeviceRevoked,
        Some(device_id),
        None,
        Some(&authed.client),
    )?;
    durable(state)?;
    tracing::info!(device_id, by = %authed.device_id, "device revoked");
    Ok(no_content())
}

/// The transaction that revokes `device_id` for `authed` (after its permission checks) and the
/// device as it will be; `None` when it is revoked already. It commits only if the device record
/// is still the one read here: an approval or an erasure committed meanwhile makes it a
/// conflict (409), so a revocation never recreates the record of an erased user.
pub(crate) fn revocation(
    state: &AppState,
    authed: &AuthedDevice,
    device_id: &str,
) -> Result<Option<(Txn, DeviceRecord)>, ApiError> {
    let store = state.store.as_ref();
    let raw = store
        .get(DEVICES, device_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    let mut device: DeviceRecord =
        crate::store::decode_json(DEVICES, &raw).map_err(ApiError::from)?;
    let own = device.user_id == authed.user_id;
    // An admin of the device's organisation, or of the provider organisation (which runs the
    // portal for its customers, as for erasure): a customer who lost a phone calls support.
    let org_admin = authed.role == Role::Admin
        && (device.org_id == authed.org_id
            || is_provider(store, authed).map_err(ApiError::from)?);
    if !own && !org_admin {
        return Err(if device.org_id == authed.org_id {
            ApiError::forbidden("only the owner or an admin may revoke a device")
        } else {
            ApiError::not_found("no such device")
        });
    }
    if device.status == DeviceStatus::Revoked {
        return Ok(None);
    }
    device.status = DeviceStatus::Revoked;
    let mut txn = Txn::new();
    txn.check(DEVICES, device_id.as_bytes(), Some(&raw))
        .put_json(DEVICES, device_id.as_bytes(), &device)
        .map_err(ApiError::from)?;
    Ok(Some((txn, device)))
}
