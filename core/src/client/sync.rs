//! Sync: welcomes, handshakes and messages from the relay, applied in order, and the events
//! they produce.

use super::*;

use crate::room::RefusalReason;

/// Where an incoming MLS message came from.
#[derive(Clone, Copy)]
enum Source {
    Handshake(u64),
    Message(u64),
}

impl SealroomClient {
    // ----- sync --------------------------------------------------------------------------

    /// Fetches welcomes, handshakes and messages from the relay and applies them in order.
    /// Returns what changed. Safe to call at any time and repeatedly.
    pub async fn sync(&self) -> Result<Vec<ClientEvent>, ClientError> {
        self.sync_some(None).await
    }

    /// [`SealroomClient::sync`] of the rooms with these relay ids only (`None`: every room),
    /// welcomes included; key packages are topped up after a full sync or a join.
    pub(super) async fn sync_some(
        &self,
        only: Option<&BTreeSet<String>>,
    ) -> Result<Vec<ClientEvent>, ClientError> {
        let mut events = self.take_deferred()?;
        self.sync_welcomes(&mut events).await?;
        for mut record in self.room_records()? {
            if record.removed || only.is_some_and(|o| !o.contains(&record.relay_id)) {
                continue;
            }
            match self.sync_room(&record.relay_id, &mut events).await {
                // Devices the relay no longer accepts leave the room by a commit of the first
                // member online whom the membership policy lets remove them.
                Ok(revoked) if !revoked.is_empty() => {
                    match self.remove_revoked(&record, &revoked, &mut events).await {
                        Ok(_) => {}
                        // Retried by the next sync.
                        Err(e) if e.is_retryable() => return Err(e),
                        // A refusal must not stop every later sync: reported, retried next
                        // time the relay lists the device.
                        Err(e) => events.push(ClientEvent::Dropped {
                            space_id: record.space_id.clone(),
                            reason: format!("removing revoked devices failed: {e}"),
                        }),
                    }
                }
                Ok(_) => {}
                // The relay no longer lets this device read the room: it was removed by a
                // commit it cannot fetch any more. Stop the room and go on with the others.
                Err(ClientError::Relay { status: 403, .. }) => {
                    record.removed = true;
                    let write = record.write()?;
                    self.with(|r| Ok(r.rooms.app_commit(vec![write])?))?;
                    if !events.iter().any(|e| {
                        matches!(e, ClientEvent::RemovedFromSpace { space_id } if *space_id == record.space_id)
                    }) {
                        events.push(ClientEvent::RemovedFromSpace {
                            space_id: record.space_id.clone(),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Announced files get their name, media type and size before the events go out.
        self.complete_new_files(&mut events).await?;
        // Newcomers (and this device in a room it just joined) learn this user's profile.
        self.share_profile_after(&events).await?;
        if only.is_none()
            || events
                .iter()
                .any(|e| matches!(e, ClientEvent::JoinedSpace { .. }))
        {
            self.replenish_key_packages().await?;
        }
        Ok(events)
    }

    pub(super) async fn replenish_key_packages(&self) -> Result<(), ClientError> {
        let count: KeyPackageCount = self.signed_json(Call::get("/v1/keypackages")).await?;
        if (count.available as usize) < KEY_PACKAGE_BATCH / 2 {
            self.publish_key_packages(KEY_PACKAGE_BATCH, !count.last_resort)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn sync_welcomes(
        &self,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let page: WelcomePage = self.signed_json(Call::get("/v1/welcomes")).await?;
        for entry in page.entries {
            let welcome = unb64(&entry.welcome)?;
            let relay_id = entry.room_id.clone();
            let result = self.with(|r| {
                let mut joined_record = None;
                let result = r.rooms.join_recording(&welcome, |joined| {
                    let record = RoomRecord {
                        room_id: joined.room_id.as_str().to_owned(),
                        relay_id: relay_id.clone(),
                        space_id: joined.room_id.space_id().unwrap_or_default().to_owned(),
                        internal: joined.room_id.kind() == RoomKind::Internal,
                        hs_after: 0,
                        msg_after: 0,
                        joined_epoch: joined.epoch,
                        next_index: 0,
                        removed: false,
                    };
                    let write = record.write().ok();
                    joined_record = Some(record);
                    write.into_iter().collect()
                });
                Ok((result.map(|_| ()), joined_record))
            })?;
            match result {
                (Ok(()), Some(record)) => {
                    self.apply_pending_recovery(&record)?;
                    events.push(ClientEvent::JoinedSpace {
                        space_id: record.space_id,
                        internal: record.internal,
                    })
                }
                (Ok(()), None) => {}
                // A welcome for a room this device is already in, or one it cannot use
                // (its key package is gone): nothing to join; drop it.
                (Err(e), _) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Rejected) => {
                    events.push(ClientEvent::Dropped {
                        space_id: String::new(),
                        reason: format!("welcome not usable: {e}"),
                    });
                }
                (Err(e), _) => return Err(e.into()),
            }
            let response = self
                .signed_raw(Call::delete(format!("/v1/welcomes/{}", entry.id)))
                .await?;
            if !(200..300).contains(&response.status) && response.status != 404 {
                return Err(relay_error(&response));
            }
        }
        Ok(())
    }

    /// Applies everything new in one room: handshakes first (they change the epoch), then
    /// messages. Returns the member devices the relay reports revoked (its last handshake
    /// page's `revoked_devices`).
    pub(super) async fn sync_room(
        &self,
        relay_id: &str,
        events: &mut Vec<ClientEvent>,
    ) -> Result<Vec<String>, ClientError> {
        let revoked = loop {
            let after = self.with(|r| Ok(load_record(&r.rooms, relay_id)?.hs_after))?;
            let page: HandshakePage = self
                .signed_json(Call::get(format!(
                    "/v1/rooms/{relay_id}/handshakes?after={after}&limit={PAGE}"
                )))
                .await?;
            if page.entries.is_empty() {
                break page.revoked_devices;
            }
            for entry in page.entries {
                let bytes = unb64(&entry.message)?;
                if !self.apply(
                    relay_id,
                    Source::Handshake(entry.seq),
                    after,
                    (&entry.sender_device, None),
                    &bytes,
                    events,
                )? {
                    return Ok(Vec::new());
                }
            }
        };
        loop {
            let after = self.with(|r| Ok(load_record(&r.rooms, relay_id)?.msg_after))?;
            let page: MessagePage = self
                .signed_json(Call::get(format!(
                    "/v1/rooms/{relay_id}/messages?after={after}&limit={PAGE}"
                )))
                .await?;
            if page.entries.is_empty() {
                break;
            }
            for entry in page.entries {
                let bytes = unb64(&entry.message)?;
                if !self.apply(
                    relay_id,
                    Source::Message(entry.seq),
                    after,
                    (&entry.sender_device, Some(entry.received_at)),
                    &bytes,
                    events,
                )? {
                    return Ok(Vec::new());
                }
            }
        }
        Ok(revoked)
    }

    /// Applies one incoming message and advances the cursor in the same atomic commit.
    /// Returns `false` when the room cannot go on now (removed, or waiting for something).
    ///
    /// `fetched_after` is the cursor the page was asked for: an entry above it that the room's
    /// cursor has passed meanwhile was applied by a sync running at the same time; an entry at
    /// or below it is the relay answering out of order and goes through the checks (and is
    /// refused there) like any other.
    fn apply(
        &self,
        relay_id: &str,
        source: Source,
        fetched_after: u64,
        (sender_device, received_at): (&str, Option<u64>),
        bytes: &[u8],
        events: &mut Vec<ClientEvent>,
    ) -> Result<bool, ClientError> {
        self.with(|r| {
            let mut record = load_record(&r.rooms, relay_id)?;
            // Applied already by a sync running at the same time (the live loop's and the
            // host's): nothing to do.
            let applied = match source {
                Source::Handshake(seq) => seq > fetched_after && seq <= record.hs_after,
                Source::Message(seq) => seq > fetched_after && seq <= record.msg_after,
            };
            if applied {
                return Ok(true);
            }
            match source {
                Source::Handshake(seq) => record.hs_after = record.hs_after.max(seq),
                Source::Message(seq) => record.msg_after = record.msg_after.max(seq),
            }
            let own = sender_device == r.account.device_id;
            let before_join = matches!(source, Source::Message(_))
                && message_epoch(bytes).is_some_and(|e| e < record.joined_epoch);
            if (own && matches!(source, Source::Message(_))) || before_join {
                // Own application messages are indexed when posted; messages of epochs before
                // this device joined were never meant for it.
                r.rooms.app_commit(vec![record.write()?])?;
                return Ok(true);
            }
            let room_id = record.core_id()?;
            let mut produced = Vec::new();
            let result = r.rooms.process_recording(&room_id, bytes, |room_events| {
                let mut writes = Vec::new();
                for ev in room_events {
                    translate(
                        ev,
                        &mut record,
                        (sender_device, received_at),
                        &mut writes,
                        &mut produced,
                    );
                }
                if let Ok(w) = record.write() {
                    writes.push(w);
                }
                writes
            });
            match result {
                Ok(_) => {
                    events.append(&mut produced);
                    Ok(true)
                }
                Err(e) => match e.kind() {
                    ErrorKind::Corrupt | ErrorKind::Rejected => {
                        let mut rec = load_record(&r.rooms, relay_id)?;
                        match source {
                            Source::Handshake(seq) => rec.hs_after = rec.hs_after.max(seq),
                            Source::Message(seq) => rec.msg_after = rec.msg_after.max(seq),
                        }
                        r.rooms.app_commit(vec![rec.write()?])?;
                        events.push(ClientEvent::Dropped {
                            space_id: rec.space_id,
                            reason: e.to_string(),
                        });
                        Ok(true)
                    }
                    ErrorKind::Removed => {
                        let mut rec = load_record(&r.rooms, relay_id)?;
                        if !rec.removed {
                            rec.removed = true;
                            r.rooms.app_commit(vec![rec.write()?])?;
                            events.push(ClientEvent::RemovedFromSpace {
                                space_id: rec.space_id,
                            });
                        }
                        Ok(false)
                    }
                    _ => Err(e.into()),
                },
            }
        })
    }
}

/// Turns one room event into client events and index writes.
fn translate(
    event: &RoomEvent,
    record: &mut RoomRecord,
    (relay_sender, received_at): (&str, Option<u64>),
    writes: &mut Vec<AppWrite>,
    out: &mut Vec<ClientEvent>,
) {
    let space_id = record.space_id.clone();
    match event {
        RoomEvent::Content {
            sender,
            label,
            content: Content::Text(t),
        } => {
            let message = Message {
                space_id: space_id.clone(),
                internal: *label == Label::Internal || record.internal,
                thread_id: t.thread_id.clone(),
                message_id: t.message_id.clone(),
                reply_to: t.reply_to.clone(),
                sender_user_id: sender.user_id.clone(),
                sender_device_id: sender.device_id.clone(),
                body: t.body.clone(),
                expires_at: t.expires_at,
                index: record.next_index,
                sender_name: None,
                sent_at: t.sent_at,
                received_at,
            };
            record.next_index += 1;
            if let Ok(w) = message_write(&message) {
                writes.push(w);
            }
            out.push(ClientEvent::NewMessage { message });
        }
        RoomEvent::Content {
            sender,
            content: content @ (Content::SpacePolicy(_) | Content::Release(_)),
            ..
        } => labels::translate_content(content, sender, record, writes, out),
        RoomEvent::Content {
            sender,
            content: content @ Content::ScanVerdict(_),
            ..
        } => scan::translate_content(content, sender, record, writes),
        // Checked by the room layer: the sender's own profile, signed by the sending device.
        RoomEvent::Content {
            content: Content::Profile(p),
            ..
        } => writes.push(profiles::profile_write(p)),
        RoomEvent::Content {
            sender, content, ..
        } => files::translate_content(content, (&sender.user_id, received_at), record, writes, out),
        RoomEvent::Commit { added, removed, .. } => {
            for id in added {
                out.push(ClientEvent::MemberAdded {
                    space_id: space_id.clone(),
                    user_id: id.user_id.clone(),
                    device_id: id.device_id.clone(),
                });
            }
            for id in removed {
                out.push(ClientEvent::MemberRemoved {
                    space_id: space_id.clone(),
                    user_id: id.user_id.clone(),
                    device_id: id.device_id.clone(),
                });
            }
        }
        RoomEvent::Removed => {
            record.removed = true;
            out.push(ClientEvent::RemovedFromSpace { space_id });
        }
        RoomEvent::HistoryReceived { .. } => out.push(ClientEvent::HistoryReceived { space_id }),
        RoomEvent::Refused { sender, reason } => out.push(ClientEvent::Refused {
            space_id,
            room: record.relay_id.clone(),
            sender: match sender {
                Some(id) => format!("{}/{}", id.user_id, id.device_id),
                None => format!("relay:{relay_sender}"),
            },
            reason: refusal_code(*reason).to_owned(),
        }),
        // A changed device set is not a key change: new devices arrive as `MemberAdded` and
        // show verified or not in the space's members; `ClientEvent::KeyChanged` is about the
        // user's identity key (`vouching.rs`).
        _ => {}
    }
}

/// The stable code of a refusal reason (`ClientEvent::Refused::reason`).
fn refusal_code(reason: RefusalReason) -> &'static str {
    match reason {
        RefusalReason::ExternalSender => "external_sender",
        RefusalReason::NotPublic => "not_public",
        RefusalReason::MembershipPolicy => "membership_policy",
        RefusalReason::HistoryNotFromAdder => "history_not_from_adder",
        RefusalReason::HistoryFutureEpoch => "history_future_epoch",
        RefusalReason::DocumentVersion => "document_version",
        RefusalReason::Profile => "profile_not_sender",
        RefusalReason::StaffOnly => "staff_only",
    }
}
