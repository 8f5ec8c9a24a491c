//! HTTP routes of rooms, handshakes, messages, welcomes and key packages (see
//! `docs/api/openapi.yaml`). Every route is device-signed; room routes are for current member
//! devices only (403 otherwise), as the relay learned membership from the MLS handshakes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::sync::Arc;

use serde::Deserialize;

use sealroom_wire::rooms::{
    CreateRoomRequest, EpochConflict, HandshakeAccepted, HandshakePage, MessagePage, MessagePosted,
    PostHandshakeRequest, PostMessageRequest, UploadKeyPackagesRequest, WelcomePage,
    MAX_KEY_PACKAGES_PER_UPLOAD, MAX_PAGE,
};

use sealroom_wire::audit::AuditAction;

use crate::accounts::{self, DeviceRecord, DeviceStatus, UserAccess};
use crate::audit;
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::events::{self, RelayEvent};
use crate::quota::{self, Budget};
use crate::reply::{json_reply, no_content, ok_json, Reply};
use crate::rooms::data::{self, PageLimit, RoomError};
use crate::rooms::mls::{DeviceKey, MlsError};
use crate::state::AppState;
use crate::store::{commit_async, Txn};

/// Query of the paged routes. Unknown parameters are refused (400), like unknown fields of the
/// account bodies and the audit query: a misspelt `limit` must not silently page by 100.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
}

impl PageQuery {
    /// The requested count (default 100, at most `MAX_PAGE`) and the configured byte cap.
    fn limit(&self, state: &AppState) -> PageLimit {
        PageLimit {
            count: self.limit.unwrap_or(100).clamp(1, MAX_PAGE),
            bytes: state.config.quotas.max_page_bytes,
        }
    }
}

fn decode_b64(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    B64.decode(value)
        .map_err(|_| ApiError::malformed(format!("{field} is not valid base64")))
}

fn check_room_id(room_id: &str) -> Result<(), ApiError> {
    if room_id.is_empty()
        || room_id.len() > 256
        || !room_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::not_found("no such room"));
    }
    Ok(())
}

/// Runs blocking store and MLS work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(ApiError::internal("blocking task", &e)),
    }
}

pub(crate) async fn create_room(authed: AuthedDevice, state: AppState) -> Result<Reply, ApiError> {
    let req: CreateRoomRequest = authed.json()?;
    sealroom_wire::check_id(&req.space_id)
        .map_err(|e| ApiError::bad_request(format!("space_id: {e}")))?;
    let group_info = decode_b64("group_info", &req.group_info)?;
    let tree = decode_b64("ratchet_tree", &req.ratchet_tree)?;
    let st = state.clone();
    let device_id = authed.device_id.clone();
    let record = blocking(move || {
        crate::rooms::check_space_access(&st, &req.space_id, &authed)?;
        let now = st.now();
        let record = data::create_room(
            st.store.as_ref(),
            &req.space_id,
            &group_info,
            &tree,
            &authed.device_id,
            now,
            // The room and its members' audit entries: one transaction.
            &|txn, record| {
                let events = crate::rooms::membership_events(
                    &authed,
                    &record.room_id,
                    record.epoch,
                    &record.members,
                    &[],
                );
                audit::within(&st, txn, events);
            },
        )?;
        st.store.flush()?;
        Ok(record)
    })
    .await?;
    let user_id = record
        .members
        .iter()
        .find(|m| m.device_id == device_id)
        .map(|m| m.user_id.clone())
        .unwrap_or_default();
    events::publish(
        &state,
        RelayEvent::RoomCreated {
            room_id: record.room_id.clone(),
            space_id: record.space_id.clone(),
            user_id,
            device_id,
        },
    );
    Ok(json_reply(crate::reply::CREATED, &record.info()))
}

pub(crate) async fn get_room(
    room_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    check_room_id(&room_id)?;
    let info = blocking(move || {
        let store = state.store.as_ref();
        let record = data::room_for_member(store, &room_id, &authed.device_id)?;
        let mut info = record.info();
        info.revoked_devices = data::revoked_members(store, &record)?;
        Ok::<_, ApiError>(info)
    })
    .await?;
    Ok(ok_json(&info))
}

pub(crate) async fn post_handshake(
    room_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    check_room_id(&room_id)?;
    let req: PostHandshakeRequest = authed.json()?;
    let message = decode_b64("message", &req.message)?;
    let welcome = req
        .welcome
        .as_deref()
        .map(|w| decode_b64("welcome", w))
        .transpose()?;
    let st = state.clone();
    let device_id = authed.device_id.clone();
    let message_size = message.len() as u64;
    let who = authed.clone();
    let result = tokio::task::spawn_blocking(move || {
        let now = st.now();
        let now_ms = audit::now_ms(&st);
        // A commit's audit entries (the commit, then one per member added or removed) are
        // written in the commit's own transaction: no commit without its record.
        let record = |posted: &data::PostedHandshake| -> Option<crate::store::SharedDerive> {
            if posted.entry.kind != sealroom_wire::rooms::HandshakeKind::Commit {
                return None;
            }
            let mut events = vec![audit::event_by(AuditAction::HandshakeCommit, &who)
                .object(posted.room.room_id.clone())
                .size(message_size)
                .detail(format!(
                    "epoch={} added={} removed={}",
                    posted.room.epoch,
                    posted.added.len(),
                    posted.removed.len()
                ))];
            events.extend(crate::rooms::membership_events(
                &who,
                &posted.room.room_id,
                posted.room.epoch,
                &posted.added,
                &posted.removed,
            ));
            let append: crate::store::SharedDerive = audit::AuditAppend::new(now_ms, events);
            Some(append)
        };
        let posted = data::post_handshake(
            st.store.as_ref(),
            &room_id,
            &device_id,
            &message,
            welcome.as_deref(),
            now,
            &record,
        )?;
        // The handshake is acknowledged only once it is durable: a lost commit after an
        // acknowledgement would fork the room.
        st.store.flush()?;
        Ok::<_, RoomError>(posted)
    })
    .await
    .map_err(|e| ApiError::internal("blocking task", &e))?;
    let posted = match result {
        Ok(posted) => posted,
        Err(RoomError::Mls(MlsError::EpochConflict { current, sent })) => {
            return Ok(json_reply(
                409,
                &EpochConflict {
                    code: "epoch_conflict".to_owned(),
                    message: format!(
                        "the room is at epoch {current}, the commit was sent in epoch {sent}"
                    ),
                    current_epoch: current,
                },
            ))
        }
        Err(e) => return Err(ApiError::from(e)),
    };
    if posted.entry.kind == sealroom_wire::rooms::HandshakeKind::Commit {
        events::publish(
            &state,
            RelayEvent::Committed {
                room_id: posted.room.room_id.clone(),
                space_id: posted.room.space_id.clone(),
                epoch: posted.room.epoch,
                user_id: authed.user_id.clone(),
                device_id: authed.device_id.clone(),
                added: posted
                    .added
                    .iter()
                    .map(|m| (m.user_id.clone(), m.device_id.clone()))
                    .collect(),
                removed: posted
                    .removed
                    .iter()
                    .map(|m| (m.user_id.clone(), m.device_id.clone()))
                    .collect(),
            },
        );
    }
    Ok(json_reply(
        crate::reply::CREATED,
        &HandshakeAccepted {
            seq: posted.entry.seq,
            epoch: posted.room.epoch,
        },
    ))
}

pub(crate) async fn get_handshakes(
    room_id: String,
    query: PageQuery,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    check_room_id(&room_id)?;
    let page = blocking(move || {
        let store = state.store.as_ref();
        let record = data::room_for_member(store, &room_id, &authed.device_id)?;
        let revoked_devices = data::revoked_members(store, &record)?;
        let entries = data::handshakes(store, &room_id, query.after, query.limit(&state))?;
        // What a client reads must survive a crash: a commit is visible as soon as its
        // transaction commits, before the flush that precedes its acknowledgement; a client
        // that merged a commit the relay then lost in a crash would fork from the room.
        store.flush()?;
        let next_after = entries.last().map_or(query.after, |e| e.seq);
        Ok(HandshakePage {
            entries,
            next_after,
            revoked_devices,
        })
    })
    .await?;
    Ok(ok_json(&page))
}

pub(crate) async fn post_message(
    room_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    check_room_id(&room_id)?;
    let req: PostMessageRequest = authed.json()?;
    let message = decode_b64("message", &req.message)?;
    let size = message.len() as u64;
    let device_id = authed.device_id.clone();
    let user_id = authed.user_id.clone();
    let by = authed.clone();
    // The checks and the transaction: the charge, the message under the room's next seq and
    // its audit entry (who posted to which room, when, how large: never the content), all or
    // nothing, durable when the commit returns, and shared with concurrent posts.
    let prepare = move |st: &AppState| -> Result<(data::RoomRecord, Txn, Arc<data::MessageAppend>), ApiError> {
        let now = st.now();
        // Only a message the relay would store is charged to the hourly budgets.
        let room = data::check_message(
            st.store.as_ref(),
            &room_id,
            &device_id,
            &message,
            req.expires_at,
            now,
        )?;
        let q = &st.config.quotas;
        let budgets = [
            Budget {
                name: format!("user:{user_id}"),
                count: q.user_messages_per_hour,
                bytes: q.user_message_bytes_per_hour,
            },
            Budget {
                name: format!("space:{}", room.space_id),
                count: q.space_messages_per_hour,
                bytes: q.space_message_bytes_per_hour,
            },
        ];
        let append = data::MessageAppend::new(&room_id, &device_id, &message, req.expires_at, now);
        let audit_room = room_id.clone();
        let space_id = room.space_id.clone();
        let event = audit::event_by(AuditAction::MessagePost, &by)
            .object(room_id.clone())
            .size(size);
        let mut txn = Txn::new();
        txn.derive(quota::Charge::new(&budgets, size, now))
            .derive(append.clone())
            .derive(audit::AuditAppend::computed(
                audit::now_ms(st),
                move |read| {
                    let seq = data::last_seq(read, &audit_room)?;
                    Ok(vec![event
                        .clone()
                        .detail(format!("space={space_id} seq={seq}"))])
                },
            ));
        Ok((room, txn, append))
    };
    let stored = |append: &data::MessageAppend| {
        append
            .entry()
            .ok_or_else(|| ApiError::internal("message post", &"no entry stored"))
    };
    let (record, entry) = if state.store.queues_commits() {
        // The embedded store: its reads are in-process lookups, done here; the commit is
        // awaited without holding a thread while the group commit's fsync runs.
        let (room, txn, append) = prepare(&state)?;
        commit_async(&state.store, txn)
            .await
            .map_err(audit::txn_error)?;
        (room, stored(&append)?)
    } else {
        let st = state.clone();
        blocking(move || {
            let (room, txn, append) = prepare(&st)?;
            st.store.commit(&txn).map_err(audit::txn_error)?;
            Ok((room, stored(&append)?))
        })
        .await?
    };
    events::publish(
        &state,
        RelayEvent::MessagePosted {
            room_id: record.room_id,
            space_id: record.space_id,
            seq: entry.seq,
            user_id: authed.user_id,
            device_id: authed.device_id,
            size,
        },
    );
    Ok(json_reply(
        crate::reply::CREATED,
        &MessagePosted { seq: entry.seq },
    ))
}

pub(crate) async fn get_messages(
    room_id: String,
    query: PageQuery,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    check_room_id(&room_id)?;
    let page = blocking(move || {
        let store = state.store.as_ref();
        data::room_for_member(store, &room_id, &authed.device_id)?;
        let (entries, next_after) = data::messages(
            store,
            &room_id,
            query.after,
            query.limit(&state),
            state.now(),
        )?;
        // Read, then flush: a message read before it was durable could be lost in a crash
        // and its seq given to another message, which this reader's cursor would skip.
        store.flush()?;
        Ok(MessagePage {
            entries,
            next_after,
        })
    })
    .await?;
    Ok(ok_json(&page))
}

pub(crate) async fn get_welcomes(authed: AuthedDevice, state: AppState) -> Result<Reply, ApiError> {
    let entries = blocking(move || {
        let entries = data::welcomes(state.store.as_ref(), &authed.device_id)?;
        // A welcome is written with its commit: read, then flush, so nobody joins an epoch
        // a crash could still undo.
        state.store.flush()?;
        Ok(entries)
    })
    .await?;
    Ok(ok_json(&WelcomePage { entries }))
}

pub(crate) async fn ack_welcome(
    id: u64,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    let existed = blocking(move || {
        let existed = data::ack_welcome(state.store.as_ref(), &authed.device_id, id)?;
        // Durable before the 204: an acknowledged welcome is never delivered again after a
        // crash (the device already used its key package for it).
        state.store.flush()?;
        Ok::<_, ApiError>(existed)
    })
    .await?;
    if existed {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("no such welcome"))
    }
}

fn device_key(state: &AppState, authed: &AuthedDevice) -> Result<DeviceKey, ApiError> {
    let (device, _user) = accounts::active_device(state.store.as_ref(), &authed.device_id)?
        .ok_or_else(|| ApiError::unauthenticated("unknown device"))?;
    Ok(DeviceKey {
        org_id: device.org_id,
        user_id: device.user_id,
        device_id: device.device_id,
        public_key: device.public_key,
    })
}

pub(crate) async fn upload_key_packages(
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    let req: UploadKeyPackagesRequest = authed.json()?;
    if req.key_packages.is_empty() || req.key_packages.len() > MAX_KEY_PACKAGES_PER_UPLOAD {
        return Err(ApiError::bad_request(format!(
            "send 1 to {MAX_KEY_PACKAGES_PER_UPLOAD} key packages"
        )));
    }
    let packages = req
        .key_packages
        .iter()
        .map(|p| decode_b64("key_packages", p))
        .collect::<Result<Vec<_>, _>>()?;
    let count = blocking(move || {
        let device = device_key(&state, &authed)?;
        // The packages and their audit entry: one transaction.
        let count =
            data::upload_key_packages(state.store.as_ref(), &device, &packages, &|txn, count| {
                let event = audit::event_by(AuditAction::KeyPackageUpload, &authed)
                    .object(authed.device_id.clone())
                    .size(packages.len() as u64)
                    .detail(format!("available={}", count.available));
                audit::within(&state, txn, vec![event]);
            })?;
        state.store.flush()?;
        Ok(count)
    })
    .await?;
    Ok(ok_json(&count))
}

pub(crate) async fn count_key_packages(
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    let count = blocking(move || {
        data::key_package_count(state.store.as_ref(), &authed.device_id).map_err(ApiError::from)
    })
    .await?;
    Ok(ok_json(&count))
}

pub(crate) async fn claim_key_packages(
    user_id: String,
    authed: AuthedDevice,
    state: AppState,
) -> Result<Reply, ApiError> {
    sealroom_wire::check_id(&user_id).map_err(|_| ApiError::not_found("no such user"))?;
    let claimed = blocking(move || {
        let store = state.store.as_ref();
        let target =
            accounts::user(store, &user_id)?.ok_or_else(|| ApiError::not_found("no such user"))?;
        match accounts::key_package_access(store, &authed, &target)? {
            UserAccess::Allowed => {}
            UserAccess::Forbidden => {
                return Err(ApiError::forbidden(
                    "key packages are only handed to users who share a space with their owner",
                ))
            }
            UserAccess::Hidden => return Err(ApiError::not_found("no such user")),
        }
        let devices: Vec<DeviceRecord> = accounts::user_devices(store, &user_id)?;
        let mut device_ids: Vec<String> = devices
            .into_iter()
            .filter(|d| d.user_id == user_id && d.status == DeviceStatus::Active)
            .map(|d| d.device_id)
            .collect();
        if device_ids.is_empty() {
            return Err(ApiError::not_found("no such user or no active device"));
        }
        device_ids.sort();
        // The consumed packages and the claim's audit entry: one transaction.
        let claimed = data::claim_key_packages(store, &user_id, &device_ids, &|txn, claimed| {
            let event = audit::event_by(AuditAction::KeyPackageClaim, &authed)
                .object(user_id.clone())
                .size(claimed.key_packages.len() as u64)
                .detail(format!("missing={}", claimed.missing.len()));
            audit::within(&state, txn, vec![event]);
        })?;
        // A consumed one-time package must stay consumed across a crash.
        store.flush()?;
        Ok(claimed)
    })
    .await?;
    Ok(ok_json(&claimed))
}
