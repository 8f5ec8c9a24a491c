//! Further devices: device requests, approval by a device or a TOTP code, TOTP enrolment.

use zeroize::Zeroizing;

use sealroom_wire::accounts::{self as wire, SecurityEventKind};
use sealroom_wire::audit::AuditAction;

use crate::audit;
use crate::auth::{AuthedDevice, ClientInfo};
use crate::error::ApiError;
use crate::reply::{json_reply, no_content, ok_json, Reply};
use crate::state::AppState;
use crate::store::{StoreExt, Txn};
use crate::totp;

use super::{security, throttle, *};

/// The throttle key of the client's source address for `what` (`req`, `totp`).
fn source_key(what: &str, client: &ClientInfo) -> String {
    match client.ip {
        Some(ip) => format!("{what}-ip:{ip}"),
        None => format!("{what}-ip:unknown"),
    }
}

pub(crate) fn create_device_request(
    state: &AppState,
    client: ClientInfo,
    req: wire::DeviceRequestCreate,
) -> Result<Reply, ApiError> {
    check_name("device_name", &req.device_name)?;
    let public_key = parse_public_key(&req.public_key)?;
    let kx_public_key = req
        .kx_public_key
        .as_deref()
        .map(identity::parse_kx_key)
        .transpose()?;
    let store = state.store.as_ref();
    let now = state.now();
    let policy = &state.config.enrolment;
    let per_source = throttle::Kind::Daily(policy.requests_per_source_per_day);
    if let Err(denied) =
        throttle::charge(store, policy, &source_key("req", &client), per_source, now)?
    {
        return Ok(denied.reply());
    }
    let owner = user(store, &req.user_id)
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let per_user = throttle::Kind::Daily(policy.requests_per_user_per_day);
    let user_key = throttle::request_user_key(&owner.user_id);
    if let Err(denied) = throttle::charge(store, policy, &user_key, per_user, now)? {
        return Ok(denied.reply());
    }
    let device = DeviceRecord {
        device_id: random_id(),
        user_id: owner.user_id.clone(),
        org_id: owner.org_id.clone(),
        name: req.device_name,
        public_key,
        status: DeviceStatus::Pending,
        created_at: now,
    };
    let request = DeviceRequest {
        request_id: random_id(),
        user_id: owner.user_id.clone(),
        device_id: device.device_id.clone(),
        public_key: hex::encode(public_key),
        status: RequestStatus::Pending,
        created_at: now,
        expires_at: now + DEVICE_REQUEST_TTL_SECS,
    };
    let mut txn = Txn::new();
    txn.put_json(DEVICES, device.device_id.as_bytes(), &device)
        .map_err(ApiError::from)?
        .put(
            USER_DEVICES,
            &pair_key(&owner.user_id, &device.device_id),
            b"",
        )
        .put_json(DEVICE_REQUESTS, request.request_id.as_bytes(), &request)
        .map_err(ApiError::from)?;
    let transfer = identity::LinkTransfer {
        kx_public_key,
        bundle: None,
    };
    if transfer.kx_public_key.is_some() {
        txn.put_json(
            identity::LINK_TRANSFERS,
            request.request_id.as_bytes(),
            &transfer,
        )
        .map_err(ApiError::from)?;
    }
    // Unauthenticated: the entry names the claimed user in its detail, not as the actor.
    let event = client_event(AuditAction::DeviceRegister, &client)
        .device(device.device_id.clone())
        .org(owner.org_id.clone())
        .object(device.device_id.clone())
        .detail(format!(
            "pending user={} request={}",
            owner.user_id, request.request_id
        ));
    // Conditional on the user and bumping their generation: never a device of an erased user.
    super::users::commit_for_user(state, &owner.user_id, txn, vec![event])?;
    security::record(
        state,
        &owner.user_id,
        SecurityEventKind::DeviceRequested,
        Some(&device.device_id),
        Some(&request.request_id),
        Some(&client),
    )?;
    durable(state)?;
    Ok(json_reply(
        crate::reply::CREATED,
        &request_info(&request, transfer),
    ))
}

pub(crate) fn request_info(
    r: &DeviceRequest,
    transfer: identity::LinkTransfer,
) -> wire::DeviceRequestInfo {
    wire::DeviceRequestInfo {
        kx_public_key: transfer.kx_public_key,
        bundle: transfer.bundle,
        request_id: r.request_id.clone(),
        user_id: r.user_id.clone(),
        device_id: r.device_id.clone(),
        public_key: r.public_key.clone(),
        status: match r.status {
            RequestStatus::Pending => wire::DeviceRequestStatus::Pending,
            RequestStatus::Approved => wire::DeviceRequestStatus::Approved,
        },
        expires_at: r.expires_at,
    }
}

pub(crate) fn load_request(
    state: &AppState,
    request_id: &str,
) -> Result<(Vec<u8>, DeviceRequest), ApiError> {
    let raw = state
        .store
        .get(DEVICE_REQUESTS, request_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such device request"))?;
    let r = crate::store::decode_json(DEVICE_REQUESTS, &raw)?;
    Ok((raw, r))
}

pub(crate) fn get_device_request(state: &AppState, request_id: &str) -> Result<Reply, ApiError> {
    let (_, r) = load_request(state, request_id)?;
    let transfer =
        identity::link_transfer(state.store.as_ref(), request_id).map_err(ApiError::from)?;
    Ok(ok_json(&request_info(&r, transfer)))
}

/// Activates the pending device of a request, atomically with marking it approved.
pub(crate) fn activate(
    state: &AppState,
    raw: &[u8],
    request: &DeviceRequest,
    txn: Txn,
) -> Result<(), ApiError> {
    let (txn, device) = activation(state, raw, request, txn)?;
    state.store.commit(&txn)?;
    tracing::info!(user_id = %device.user_id, device_id = %device.device_id, "device approved");
    Ok(())
}

/// The transaction that activates the request's pending device (`txn` plus the approval), and
/// the device as it will be. It commits only if the request and the device record are still
/// the ones read here: a revocation (or erasure) committed meanwhile makes it a conflict
/// (409), never an active device again.
pub(crate) fn activation(
    state: &AppState,
    raw: &[u8],
    request: &DeviceRequest,
    mut txn: Txn,
) -> Result<(Txn, DeviceRecord), ApiError> {
    if request.status != RequestStatus::Pending {
        return Err(ApiError::conflict("device request already approved"));
    }
    if request.expires_at < state.now() {
        return Err(ApiError::Gone("device request expired".to_owned()));
    }
    let store = state.store.as_ref();
    let device_raw = store
        .get(DEVICES, request.device_id.as_bytes())?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    let mut device: DeviceRecord = crate::store::decode_json(DEVICES, &device_raw)?;
    if device.status != DeviceStatus::Pending {
        return Err(ApiError::conflict("device is not pending"));
    }
    device.status = DeviceStatus::Active;
    let mut approved = request.clone();
    approved.status = RequestStatus::Approved;
    txn.check(DEVICE_REQUESTS, request.request_id.as_bytes(), Some(raw))
        .check(DEVICES, device.device_id.as_bytes(), Some(&device_raw))
        .put_json(DEVICE_REQUESTS, request.request_id.as_bytes(), &approved)?
        .put_json(DEVICES, device.device_id.as_bytes(), &device)?;
    Ok((txn, device))
}

pub(crate) fn approve_device_request(
    state: &AppState,
    authed: &AuthedDevice,
    request_id: &str,
) -> Result<Reply, ApiError> {
    let req: wire::ApproveDevice = authed.json()?;
    let (raw, request) = load_request(state, request_id)?;
    if request.user_id != authed.user_id {
        return Err(ApiError::forbidden(
            "only the user's own devices approve a device",
        ));
    }
    if req.public_key != request.public_key {
        return Err(ApiError::bad_request(
            "public_key does not match the request",
        ));
    }
    let store = state.store.as_ref();
    // The approving device may vouch for the new one: its certificate (checked under the
    // user's identity key) and the sealed identity key for it, stored with the approval.
    let mut txn = Txn::new();
    if let Some(cert) = &req.certificate {
        identity::certify_in(store, &mut txn, &request.device_id, cert)?;
    }
    if let Some(bundle) = &req.bundle {
        identity::check_bundle(bundle)?;
        let mut transfer =
            identity::link_transfer(store, &request.request_id).map_err(ApiError::from)?;
        transfer.bundle = Some(bundle.clone());
        txn.put_json(
            identity::LINK_TRANSFERS,
            request.request_id.as_bytes(),
            &transfer,
        )
        .map_err(ApiError::from)?;
    }
    let waiting = link_wait_until(store, &request.device_id)?.is_some();
    let vouching = req.certificate.is_some();
    // The approval and its audit entry: one transaction, whichever way it goes.
    let event = audit::event_by(AuditAction::DeviceApprove, authed)
        .object(request.device_id.clone())
        .detail(format!("by=device request={}", request.request_id));
    audit::within(state, &mut txn, vec![event]);
    if request.status == RequestStatus::Approved && (waiting || vouching) {
        // Linked by TOTP alone: an existing device confirms it now (ending its wait for the
        // recovery backup) and, holding the identity key, vouches for it.
        if request.device_id == authed.device_id {
            return Err(ApiError::forbidden("a device cannot confirm itself"));
        }
        txn.delete(LINK_WAIT, request.device_id.as_bytes());
        store.commit(&txn).map_err(audit::txn_error)?;
    } else {
        activate(state, &raw, &request, txn)?;
    }
    security::record(
        state,
        &request.user_id,
        SecurityEventKind::DeviceApprovedByDevice,
        Some(&request.device_id),
        Some(&request.request_id),
        Some(&authed.client),
    )?;
    durable(state)?;
    Ok(no_content())
}

/// Tree: device id -> Unix time before which a device linked by a TOTP code alone may not
/// fetch the recovery backup (8-byte big-endian). Removed when an existing device approves it.
pub const LINK_WAIT: &str = "acct_link_wait";

/// Until when `device_id` (linked by TOTP alone) waits for the recovery backup, if it does.
pub fn link_wait_until(store: &dyn Store, device_id: &str) -> Result<Option<i64>, ApiError> {
    Ok(store
        .get(LINK_WAIT, device_id.as_bytes())?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_be_bytes))
}

pub(crate) fn approve_with_totp(
    state: &AppState,
    client: ClientInfo,
    request_id: &str,
    body: wire::TotpCode,
) -> Result<Reply, ApiError> {
    let now = state.now();
    let (raw, request) = load_request(state, request_id)?;
    // A code is checked only for a request that can still be approved: a finished request
    // must not become an oracle for codes.
    if request.status != RequestStatus::Pending {
        return Err(ApiError::conflict("device request already approved"));
    }
    if request.expires_at < now {
        return Err(ApiError::Gone("device request expired".to_owned()));
    }
    let store = state.store.as_ref();
    let policy = &state.config.enrolment;
    // Charged before the code is checked, so parallel guesses gain nothing; a success undoes
    // the user's charge.
    let source_key = source_key("totp", &client);
    let org_id = user(store, &request.user_id)
        .map_err(ApiError::from)?
        .map(|u| u.org_id);
    let attempt = |action: AuditAction, detail: String| {
        let mut event = client_event(action, &client)
            .actor(request.user_id.clone())
            .device(request.device_id.clone())
            .object(request.device_id.clone())
            .detail(detail);
        if let Some(org_id) = &org_id {
            event = event.org(org_id.clone());
        }
        event
    };
    let refused = |denied: throttle::Denied| -> Result<Reply, ApiError> {
        audit::record(
            state,
            attempt(
                AuditAction::DeviceApproveFail,
                format!("by=totp request={} throttled", request.request_id),
            ),
        )
        .map_err(ApiError::from)?;
        Ok(denied.reply())
    };
    // A locked user refuses before anything is charged (a source is not blamed for trying a
    // locked account, and the lock does not depend on the source).
    if throttle::user_state(store, &request.user_id)?.1 {
        return refused(throttle::Denied::Locked);
    }
    if let Err(denied) = throttle::charge(store, policy, &source_key, throttle::Kind::Source, now)?
    {
        return refused(denied);
    }
    let user_key = throttle::totp_user_key(&request.user_id);
    let charged = match throttle::charge(store, policy, &user_key, throttle::Kind::User, now)? {
        Ok(c) => c,
        Err(denied) => return refused(denied),
    };
    let totp_raw = store
        .get(TOTP, request.user_id.as_bytes())
        .map_err(ApiError::from)?;
    let record: Option<TotpRecord> = match &totp_raw {
        Some(r) => Some(crate::store::decode_json(TOTP, r).map_err(ApiError::from)?),
        None => None,
    };
    let relay_key = crate::sealing::relay_key(state)?;
    let step = match record.as_ref().filter(|r| r.confirmed) {
        Some(r) => {
            let secret = r
                .secret(&relay_key, &request.user_id)
                .map_err(|e| ApiError::internal("TOTP secret", &e))?;
            totp::verify(&secret, &body.code, now).filter(|s| *s > r.last_step)
        }
        None => None,
    };
    let (Some(step), Some(mut record), Some(totp_raw)) = (step, record, totp_raw) else {
        let locked = if charged.locked { " locked" } else { "" };
        audit::record(
            state,
            attempt(
                AuditAction::DeviceApproveFail,
                format!(
                    "by=totp request={} failures={}{locked}",
                    request.request_id, charged.count
                ),
            ),
        )
        .map_err(ApiError::from)?;
        let kind = if charged.locked {
            tracing::warn!(user_id = %request.user_id, "TOTP approval locked after repeated failures");
            SecurityEventKind::TotpLocked
        } else {
            SecurityEventKind::TotpFailed
        };
        security::record(
            state,
            &request.user_id,
            kind,
            Some(&request.device_id),
            Some(&request.request_id),
            Some(&client),
        )?;
        durable(state)?;
        return Err(ApiError::unauthenticated("invalid TOTP code"));
    };
    throttle::reset(store, &user_key)?;
    throttle::refund(store, policy, &source_key)?;
    record.last_step = step;
    // The code's step used up, the activation, the device's wait for the recovery backup
    // and the audit entry: one transaction.
    let mut txn = Txn::new();
    txn.check(TOTP, request.user_id.as_bytes(), Some(&totp_raw))
        .put_json(TOTP, request.user_id.as_bytes(), &record)
        .map_err(ApiError::from)?;
    let wait = i64::try_from(policy.totp_link_wait_secs).unwrap_or(i64::MAX);
    if wait > 0 {
        txn.put(
            LINK_WAIT,
            request.device_id.as_bytes(),
            &now.saturating_add(wait).to_be_bytes(),
        );
    }
    let event = attempt(
        AuditAction::DeviceApprove,
        format!("by=totp request={}", request.request_id),
    );
    audit::within(state, &mut txn, vec![event]);
    activate(state, &raw, &request, txn)?;
    security::record(
        state,
        &request.user_id,
        SecurityEventKind::DeviceApprovedByTotp,
        Some(&request.device_id),
        Some(&request.request_id),
        Some(&client),
    )?;
    durable(state)?;
    Ok(no_content())
}

pub(crate) fn totp_enrol(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    if let Some(existing) = store
        .get_json::<TotpRecord>(TOTP, authed.user_id.as_bytes())
        .map_err(ApiError::from)?
    {
        if existing.confirmed {
            return Err(ApiError::conflict("TOTP is already enrolled"));
        }
    }
    let key = crate::sealing::relay_key(state)?;
    let mut secret = Zeroizing::new(vec![0u8; 20]);
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let record = TotpRecord::new_sealed(&key, &authed.user_id, &secret);
    let mut txn = Txn::new();
    txn.put_json(TOTP, authed.user_id.as_bytes(), &record)
        .map_err(ApiError::from)?;
    let event = audit::event_by(AuditAction::TotpChange, authed)
        .object(authed.user_id.clone())
        .detail("enrol");
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    let b32 = Zeroizing::new(totp::base32(&secret));
    Ok(json_reply(
        crate::reply::CREATED,
        &wire::TotpEnrolment {
            otpauth_uri: format!(
                "otpauth://totp/Sealroom:{}?secret={}&issuer=Sealroom&algorithm=SHA1&digits=6&period=30",
                authed.user_id,
                b32.as_str()
            ),
            secret: b32.to_string(),
        },
    ))
}

pub(crate) fn totp_confirm(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let body: wire::TotpCode = authed.json()?;
    let now = state.now();
    let key = format!("totp:{}", authed.user_id);
    state.limiter.guard(&key, now)?;
    let store = state.store.as_ref();
    let mut record: TotpRecord = store
        .get_json(TOTP, authed.user_id.as_bytes())
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("no TOTP enrolment in progress"))?;
    if record.confirmed {
        return Err(ApiError::conflict("TOTP is already enrolled"));
    }
    let relay_key = crate::sealing::relay_key(state)?;
    let secret = record
        .secret(&relay_key, &authed.user_id)
        .map_err(|e| ApiError::internal("TOTP secret", &e))?;
    let Some(step) = totp::verify(&secret, &body.code, now) else {
        state.limiter.record_failure(&key, now);
        return Err(ApiError::bad_request("invalid TOTP code"));
    };
    record.confirmed = true;
    record.last_step = step;
    let mut txn = Txn::new();
    txn.put_json(TOTP, authed.user_id.as_bytes(), &record)
        .map_err(ApiError::from)?;
    let event = audit::event_by(AuditAction::TotpChange, authed)
        .object(authed.user_id.clone())
        .detail("confirm");
    audit::commit_with(state, txn, vec![event])?;
    durable(state)?;
    Ok(no_content())
}

fn totp_state(state: &AppState, user_id: &str) -> Result<wire::TotpStatus, ApiError> {
    let store = state.store.as_ref();
    let record: Option<TotpRecord> = store.get_json(TOTP, user_id.as_bytes())?;
    let (failures, locked) = throttle::user_state(store, user_id)?;
    Ok(wire::TotpStatus {
        enrolled: record.is_some(),
        confirmed: record.as_ref().is_some_and(|r| r.confirmed),
        locked,
        failures,
    })
}

/// `GET /v1/me/totp`: the caller's TOTP state, with the lockout.
pub(crate) fn totp_status(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    Ok(ok_json(&totp_state(state, &authed.user_id)?))
}

/// `POST /v1/me/totp/unlock`: one of the user's own active devices lifts a lockout.
pub(crate) fn totp_unlock(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    // The lifted lockout (the user's failure counter gone) and its audit entry: one transaction.
    let mut txn = Txn::new();
    txn.delete(
        throttle::THROTTLE,
        throttle::totp_user_key(&authed.user_id).as_bytes(),
    );
    let event = audit::event_by(AuditAction::TotpChange, authed)
        .object(authed.user_id.clone())
        .detail("unlock");
    audit::commit_with(state, txn, vec![event])?;
    security::record(
        state,
        &authed.user_id,
        SecurityEventKind::TotpUnlocked,
        Some(&authed.device_id),
        None,
        Some(&authed.client),
    )?;
    durable(state)?;
    Ok(no_content())
}

/// Removes a user's TOTP enrolment and lockout (the user re-enrols with a new secret).
/// Removes `user_id`'s TOTP enrolment with its audit entry `event` in one transaction, then
/// the user's failure counter. `false`: there was none (nothing written).
fn remove_totp(
    state: &AppState,
    user_id: &str,
    event: audit::AuditEvent,
) -> Result<bool, ApiError> {
    let store = state.store.as_ref();
    let Some(raw) = store.get(TOTP, user_id.as_bytes())? else {
        return Ok(false);
    };
    let mut txn = Txn::new();
    txn.check(TOTP, user_id.as_bytes(), Some(&raw))
        .delete(TOTP, user_id.as_bytes());
    audit::commit_with(state, txn, vec![event])?;
    throttle::reset(store, &throttle::totp_user_key(user_id))?;
    Ok(true)
}

/// `DELETE /v1/me/totp`: the user removes their own TOTP enrolment (e.g. after losing the
/// authenticator); a new `POST /v1/me/totp` enrols a fresh secret.
pub(crate) fn totp_remove(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let event = audit::event_by(AuditAction::TotpChange, authed)
        .object(authed.user_id.clone())
        .detail("reset by=user");
    if !remove_totp(state, &authed.user_id, event)? {
        return Err(ApiError::not_found("no TOTP enrolment"));
    }
    security::record(
        state,
        &authed.user_id,
        SecurityEventKind::TotpReset,
        Some(&authed.device_id),
        None,
        Some(&authed.client),
    )?;
    durable(state)?;
    Ok(no_content())
}

/// `DELETE /v1/users/{id}/totp`: an administrator of the user's organisation resets the user's
/// TOTP (removes the secret and any lockout). The user is told by mail.
pub(crate) fn totp_admin_reset(
    state: &AppState,
    authed: &AuthedDevice,
    user_id: &str,
) -> Result<Reply, ApiError> {
    let store = state.store.as_ref();
    let target = user(store, user_id)
        .map_err(ApiError::from)?
        .filter(|u| u.org_id == authed.org_id)
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    require_role(authed, &[Role::Admin])?;
    let event = audit::event_by(AuditAction::TotpChange, authed)
        .object(target.user_id.clone())
        .detail("reset by=admin");
    if !remove_totp(state, &target.user_id, event)? {
        return Err(ApiError::not_found("no TOTP enrolment"));
    }
    security::record(
        state,
        &target.user_id,
        SecurityEventKind::TotpReset,
        None,
        None,
        Some(&authed.client),
    )?;
    durable(state)?;
    Ok(no_content())
}
