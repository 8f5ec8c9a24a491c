//! Spaces and their rooms as this device sees them: creation, listing, members.

use super::*;

impl SealroomClient {
    // ----- spaces ------------------------------------------------------------------------

    /// Creates a space for a customer organisation with its customer room and, when
    /// `with_internal_room`, a staff-only internal room.
    pub async fn create_space(
        &self,
        customer_org_id: &str,
        with_internal_room: bool,
    ) -> Result<Space, ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::json(
                "POST",
                "/v1/spaces",
                &CreateSpace {
                    customer_org_id: customer_org_id.to_owned(),
                },
            )?)
            .await?;
        self.create_room(&info.space_id, RoomKind::Customer).await?;
        if with_internal_room {
            self.create_room(&info.space_id, RoomKind::Internal).await?;
        }
        self.space(&info.space_id).await
    }

    pub(super) async fn create_room(
        &self,
        space_id: &str,
        kind: RoomKind,
    ) -> Result<(), ClientError> {
        let (created, tree) = self.with(|r| {
            let created = r.rooms.create_room(space_id, kind)?;
            let tree = r.rooms.ratchet_tree(&created.room_id)?;
            Ok((created, tree))
        })?;
        let body = CreateRoomRequest {
            space_id: space_id.to_owned(),
            group_info: b64(&created.group_info),
            ratchet_tree: b64(&tree),
        };
        let relay_id = relay_room_id(&created.room_id);
        let answer: serde_json::Value = self
            .signed_json(Call::json("POST", "/v1/rooms", &body)?)
            .await?;
        if answer.get("room_id").and_then(|v| v.as_str()) != Some(relay_id.as_str()) {
            return Err(ClientError::Protocol(
                "the relay registered the room under another id".into(),
            ));
        }
        let record = RoomRecord {
            room_id: created.room_id.as_str().to_owned(),
            relay_id,
            space_id: space_id.to_owned(),
            internal: kind == RoomKind::Internal,
            hs_after: 0,
            msg_after: 0,
            joined_epoch: 0,
            next_index: 0,
            removed: false,
        };
        self.with(|r| Ok(r.rooms.app_commit(vec![record.write()?])?))
    }

    pub(super) fn room_records(&self) -> Result<Vec<RoomRecord>, ClientError> {
        self.with(|r| {
            let mut out = Vec::new();
            for key in r.rooms.app_keys(ROOM_RECORD_PREFIX)? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    out.push(from_json::<RoomRecord>(&bytes)?);
                }
            }
            Ok(out)
        })
    }

    pub(super) fn space_room(
        &self,
        space_id: &str,
        internal: bool,
    ) -> Result<RoomRecord, ClientError> {
        self.room_records()?
            .into_iter()
            .find(|r| r.space_id == space_id && r.internal == internal)
            .ok_or_else(|| ClientError::Unknown {
                what: if internal { "internal room" } else { "space" },
                id: space_id.to_owned(),
            })
    }

    /// Spaces this user belongs to, with members and safety numbers.
    pub async fn spaces(&self) -> Result<Vec<Space>, ClientError> {
        let list: SpaceList = self.signed_json(Call::get("/v1/spaces")).await?;
        let records = self.room_records()?;
        let mut trust = BTreeMap::new();
        let mut out = Vec::with_capacity(list.spaces.len());
        for info in list.spaces {
            out.push(self.describe_space(info, &records, &mut trust).await?);
        }
        Ok(out)
    }

    /// One space.
    pub async fn space(&self, space_id: &str) -> Result<Space, ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::get(format!("/v1/spaces/{}", seg(space_id))))
            .await?;
        let records = self.room_records()?;
        self.describe_space(info, &records, &mut BTreeMap::new())
            .await
    }

    /// The space as this device sees it. Members come from the MLS tree of the space's rooms
    /// (what the relay cannot fake: it cannot sign leaves); the relay's member list only adds
    /// roles, and users it lists who have no device in the rooms yet. A user in the tree whom
    /// the relay does not list is shown with `listed_by_relay: false`. Each tree device is
    /// verified against the user's certificates and pinned identity key
    /// ([`SealroomClient::user_trust`]); `trust` caches the users already judged.
    pub(super) async fn describe_space(
        &self,
        info: SpaceInfo,
        records: &[RoomRecord],
        trust: &mut BTreeMap<String, vouching::UserTrust>,
    ) -> Result<Space, ClientError> {
        let customer = records
            .iter()
            .find(|r| r.space_id == info.space_id && !r.internal && !r.removed);
        let internal = records
            .iter()
            .find(|r| r.space_id == info.space_id && r.internal && !r.removed);
        let mut tree: BTreeMap<String, TreeUser> = BTreeMap::new();
        self.with(|r| {
            for (record, in_internal) in [(customer, false), (internal, true)] {
                let Some(record) = record else { continue };
                for (id, key) in r.rooms.members(&record.core_id()?)? {
                    let user = tree.entry(id.user_id.clone()).or_insert_with(|| TreeUser {
                        org_id: id.org_id.clone(),
                        ..TreeUser::default()
                    });
                    if !user.devices.contains(&id.device_id) {
                        user.devices.push(id.device_id.clone());
                    }
                    if let Ok(k) = <[u8; 32]>::try_from(key.as_slice()) {
                        user.keys.insert(k);
                        user.leaves.push((id.device_id.clone(), k));
                    }
                    if in_internal {
                        user.internal = true;
                    } else {
                        user.customer = true;
                    }
                }
            }
            Ok(())
        })?;
        for user_id in tree.keys() {
            if !trust.contains_key(user_id) {
                let judged = self.user_trust(user_id).await?;
                trust.insert(user_id.clone(), judged);
            }
        }
        let no_trust = vouching::UserTrust::default();
        let provider_org = info.provider_org_id.clone();
        let member = |user_id: String, role: SpaceRole, listed: bool, t: Option<TreeUser>| {
            let t = t.unwrap_or_default();
            let judged = trust.get(&user_id).unwrap_or(&no_trust);
            let mut verified_devices: Vec<String> = Vec::new();
            for device in &t.devices {
                // Every leaf of the device (one per room) must carry the certified key.
                let leaves: Vec<&[u8; 32]> = t
                    .leaves
                    .iter()
                    .filter(|(d, _)| d == device)
                    .map(|(_, k)| k)
                    .collect();
                if !leaves.is_empty() && leaves.iter().all(|k| judged.verified(device, *k)) {
                    verified_devices.push(device.clone());
                }
            }
            let safety_number = judged
                .safety_number(&user_id)
                .or_else(|| (!t.keys.is_empty()).then(|| SafetyNumber::compute(&user_id, &t.keys)))
                .map(|n| n.as_str().to_owned());
            let org_id = (!t.devices.is_empty()).then(|| t.org_id.clone());
            let provider_staff = match &org_id {
                Some(org) => *org == provider_org,
                None => matches!(role, SpaceRole::Owner | SpaceRole::Staff),
            };
            SpaceMember {
                safety_number,
                verified_devices,
                identity_key_changed: judged.changed,
                user_id,
                role,
                devices: t.devices,
                org_id,
                provider_staff,
                listed_by_relay: listed,
                in_customer_room: t.customer,
                in_internal_room: t.internal,
                name: None,
            }
        };
        let mut members = Vec::with_capacity(info.members.len());
        for m in info.members {
            let t = tree.remove(&m.user_id);
            members.push(member(m.user_id, m.role, true, t));
        }
        for (user_id, t) in tree {
            let role = if t.org_id == info.provider_org_id {
                SpaceRole::Staff
            } else {
                SpaceRole::Customer
            };
            members.push(member(user_id, role, false, Some(t)));
        }
        let names = self.names()?;
        for m in &mut members {
            m.name = names.get(&m.user_id).cloned();
        }
        Ok(Space {
            space_id: info.space_id,
            provider_org_id: info.provider_org_id,
            customer_org_id: info.customer_org_id,
            owner_user_id: info.owner_user_id,
            members,
            joined: customer.is_some(),
            internal_room: internal.is_some(),
        })
    }
}

/// A user as the MLS trees of a space's rooms show them.
#[derive(Default)]
struct TreeUser {
    org_id: String,
    devices: Vec<String>,
    keys: BTreeSet<[u8; 32]>,
    /// `(device id, leaf signature key)` of every leaf of the user in the rooms.
    leaves: Vec<(String, [u8; 32])>,
    customer: bool,
    internal: bool,
}
