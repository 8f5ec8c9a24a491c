//! Adding and removing members: MLS commits through the relay, retried on epoch races.

use super::*;
use sealroom_wire::accounts::DeviceState;

impl SealroomClient {
    /// Adds a user to a space: on the relay (staff; customers invited into the space are
    /// members already) and, with every device that has published key packages, into the
    /// space's customer room and, for provider staff, its internal room.
    pub async fn add_member(&self, space_id: &str, user_id: &str) -> Result<(), ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::get(format!("/v1/spaces/{}", seg(space_id))))
            .await?;
        let info = if info.members.iter().any(|m| m.user_id == user_id) {
            info
        } else {
            self.signed(Call::json(
                "POST",
                format!("/v1/spaces/{}/members", seg(space_id)),
                &AddSpaceMember {
                    user_id: user_id.to_owned(),
                },
            )?)
            .await?;
            self.signed_json(Call::get(format!("/v1/spaces/{}", seg(space_id))))
                .await?
        };
        let role = info
            .members
            .iter()
            .find(|m| m.user_id == user_id)
            .map(|m| m.role)
            .ok_or_else(|| ClientError::Unknown {
                what: "space member",
                id: user_id.to_owned(),
            })?;
        // Staff belong to the provider organisation, customers to the space's customer
        // organisation: every key package must say so.
        let staff = matches!(role, SpaceRole::Staff | SpaceRole::Owner);
        let org_id = if staff {
            &info.provider_org_id
        } else {
            &info.customer_org_id
        };
        let mut rooms = vec![self.space_room(space_id, false)?];
        if staff {
            if let Ok(internal) = self.space_room(space_id, true) {
                rooms.push(internal);
            }
        }
        for record in rooms {
            self.add_user_to_room(&record, user_id, org_id).await?;
        }
        Ok(())
    }

    /// Adds every device of `user_id` (of organisation `org_id`) that is not in the room yet
    /// and that the user's identity key vouches for (unless this device's policy lets
    /// unverified devices into this kind of room, see
    /// [`SealroomClient::set_allow_unverified_customer`] and
    /// [`SealroomClient::set_allow_unverified_internal`]). Each device left out is reported by
    /// the next `sync` as [`ClientEvent::DeviceSkipped`]; when every candidate is left out and
    /// none of the user's devices is in the room, the add fails with
    /// [`ClientError::UnverifiedDevices`]. Every package the relay hands out is checked first
    /// ([`keypackages::check_claimed`]): one that is not the user's refuses the whole add,
    /// before anything is committed.
    pub(super) async fn add_user_to_room(
        &self,
        record: &RoomRecord,
        user_id: &str,
        org_id: &str,
    ) -> Result<(), ClientError> {
        let room_id = record.core_id()?;
        let present: BTreeSet<String> = self.with(|r| {
            Ok(r.rooms
                .members(&room_id)?
                .into_iter()
                .filter(|(id, _)| id.user_id == user_id)
                .map(|(id, _)| id.device_id)
                .collect())
        })?;
        // The device list first: with nothing vouched for to add, no key package is claimed
        // (a claim uses up one package of every device).
        let devices: DeviceList = self
            .signed_json(Call::get(format!("/v1/users/{}/devices", seg(user_id))))
            .await?;
        let trust = self.judge_devices(user_id, Some(&devices))?;
        let allow_unverified = if record.internal {
            self.allow_unverified_internal()?
        } else {
            self.allow_unverified_customer()?
        };
        let candidates: Vec<&str> = devices
            .devices
            .iter()
            .filter(|d| {
                d.user_id == user_id
                    && d.status == DeviceState::Active
                    && !present.contains(&d.device_id)
            })
            .map(|d| d.device_id.as_str())
            .collect();
        let vouched = candidates
            .iter()
            .any(|d| allow_unverified || trust.certified.contains_key(*d));
        let mut skipped: Vec<String> = Vec::new();
        let mut checked: Vec<(String, Vec<u8>)> = Vec::new();
        if vouched {
            let claimed: ClaimedKeyPackages = self
                .signed_json(Call::raw(
                    "POST",
                    format!("/v1/users/{}/keypackages/claim", seg(user_id)),
                    Vec::new(),
                ))
                .await?;
            checked = keypackages::check_claimed(user_id, org_id, &claimed, &devices)?
                .into_iter()
                .filter(|(device_id, _)| !present.contains(device_id))
                .collect();
            if !allow_unverified {
                skipped = keypackages::drop_unverified(&mut checked, &trust);
            }
        } else {
            skipped = candidates.iter().map(|d| (*d).to_owned()).collect();
        }
        if !skipped.is_empty() {
            let events: Vec<ClientEvent> = skipped
                .iter()
                .map(|device_id| ClientEvent::DeviceSkipped {
                    space_id: record.space_id.clone(),
                    internal: record.internal,
                    user_id: user_id.to_owned(),
                    device_id: device_id.clone(),
                    reason: "unverified_device".into(),
                })
                .collect();
            self.defer_events(events)?;
        }
        let packages: Vec<Vec<u8>> = checked.into_iter().map(|(_, bytes)| bytes).collect();
        if packages.is_empty() {
            if !present.is_empty() {
                return Ok(());
            }
            if !skipped.is_empty() {
                return Err(ClientError::UnverifiedDevices {
                    user_id: user_id.to_owned(),
                    devices: skipped,
                });
            }
            return Err(ClientError::InvalidInput(format!(
                "user {user_id} has no device with key packages yet"
            )));
        }
        self.commit_with_retry(record, |rooms, id| rooms.add_members(id, &packages))
            .await?;
        // The newcomer cannot read what was posted before it joined: post this user's profile
        // again (the other members do so when they see the add).
        self.share_profile(&BTreeSet::from([record.relay_id.clone()]))
            .await
    }

    /// Removes a user from a space: every device from the space's rooms (the relay learns it
    /// from the commits and refuses the user from then on), then from the space on the relay.
    pub async fn remove_member(&self, space_id: &str, user_id: &str) -> Result<(), ClientError> {
        for record in self.room_records()? {
            if record.space_id != space_id || record.removed {
                continue;
            }
            let room_id = record.core_id()?;
            let present = self.with(|r| {
                Ok(r.rooms
                    .members(&room_id)?
                    .iter()
                    .any(|(id, _)| id.user_id == user_id))
            })?;
            if present {
                self.commit_with_retry(&record, |rooms, id| rooms.remove_users(id, &[user_id]))
                    .await?;
            }
        }
        let response = self
            .signed_raw(Call::delete(format!(
                "/v1/spaces/{}/members/{}",
                seg(space_id),
                seg(user_id)
            )))
            .await?;
        match response.status {
            200..=299 | 404 => Ok(()),
            _ => Err(relay_error(&response)),
        }
    }

    /// Builds a commit with `build`, sends it, and on an epoch conflict syncs the room and
    /// rebuilds it, up to [`COMMIT_ATTEMPTS`] times.
    pub(super) async fn commit_with_retry<F>(
        &self,
        record: &RoomRecord,
        build: F,
    ) -> Result<(), ClientError>
    where
        F: Fn(&mut room::Client, &RoomId) -> Result<CommitOutput, RoomError>,
    {
        self.commit_until_done(record, |rooms, id| build(rooms, id).map(Some))
            .await
            .map(|_| ())
    }

    /// Like [`Self::commit_with_retry`], but `build` may find after a catch-up sync that there
    /// is nothing left to commit (`Ok(None)`: another member's commit did it first); returns
    /// the devices the accepted commit removed, or `None` when nothing was committed.
    pub(super) async fn commit_until_done<F>(
        &self,
        record: &RoomRecord,
        build: F,
    ) -> Result<Option<Vec<CredentialIdentity>>, ClientError>
    where
        F: Fn(&mut room::Client, &RoomId) -> Result<Option<CommitOutput>, RoomError>,
    {
        let room_id = record.core_id()?;
        for _ in 0..COMMIT_ATTEMPTS {
            // What the catch-up sync reports (refusals, membership changes) reaches the app
            // with the next `sync`.
            let mut events = Vec::new();
            let synced = self.sync_room(&record.relay_id, &mut events).await;
            self.defer_events(events)?;
            synced?;
            let Some(out) = self.with(|r| Ok(build(&mut r.rooms, &room_id)?))? else {
                return Ok(None);
            };
            let body = PostHandshakeRequest {
                message: b64(&out.commit),
                welcome: out.welcome.as_deref().map(b64),
            };
            let response = self
                .signed_raw(Call::json(
                    "POST",
                    format!("/v1/rooms/{}/handshakes", record.relay_id),
                    &body,
                )?)
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    // Unknown outcome: keep the pending commit; the next sync sees whether the
                    // relay took it (then it is confirmed) or not (then it is discarded).
                    return Err(e);
                }
            };
            match response.status {
                200..=299 => {
                    let outgoing = self.with(|r| Ok(r.rooms.confirm_commit(&room_id)?.outgoing))?;
                    for message in outgoing {
                        self.send_message_bytes(&record.relay_id, &message, None)
                            .await?;
                    }
                    self.with(|r| Ok(r.rooms.clear_outbox(&room_id)?))?;
                    return Ok(Some(out.removed));
                }
                409 => {
                    self.with(|r| Ok(r.rooms.discard_commit(&room_id)?))?;
                }
                _ => {
                    self.with(|r| Ok(r.rooms.discard_commit(&room_id)?))?;
                    return Err(relay_error(&response));
                }
            }
        }
        Err(ClientError::Relay {
            status: 409,
            code: "epoch_conflict".into(),
            message: "gave up after repeated epoch conflicts".into(),
        })
    }

    /// Leaves a space: asks the other members (by an MLS remove proposal) to remove this
    /// device; they commit it on their next sync.
    pub async fn leave_space(&self, space_id: &str) -> Result<(), ClientError> {
        for record in self.room_records()? {
            if record.space_id != space_id || record.removed {
                continue;
            }
            let room_id = record.core_id()?;
            let proposal = self.with(|r| Ok(r.rooms.leave(&room_id)?))?;
            let body = PostHandshakeRequest {
                message: b64(&proposal),
                welcome: None,
            };
            self.signed(Call::json(
                "POST",
                format!("/v1/rooms/{}/handshakes", record.relay_id),
                &body,
            )?)
            .await?;
        }
        Ok(())
    }
}
