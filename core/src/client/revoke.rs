//! Revoking a lost device: the relay refuses it at once, and the device's leaves leave every
//! room by MLS commits, made by the revoking device where it may and otherwise by the next
//! member online whom the membership policy allows (`docs/client.md`, "Revoking a device").

use sealroom_wire::accounts::SecurityEventList;

use super::*;

impl SealroomClient {
    /// Revokes `device_id`: one of this user's other devices, or (for an administrator) any
    /// device of the administrator's organisation; a provider administrator any device. The
    /// relay refuses the device from then on and mails its user a content-free notice. Then this device commits the removal of the
    /// revoked device's leaves in every room where the membership policy lets it (a provider
    /// device: every room; a customer device: rooms holding its own user's device); in the
    /// other rooms the next member online who may do it commits the removal on its `sync`.
    ///
    /// Returns in how many rooms this call removed the device. A failure after the relay
    /// accepted the revocation (a network error, repeated epoch conflicts) is returned after
    /// trying every room; the revocation stands and the next `sync` of any allowed member
    /// finishes the removals. Revoking this device itself signs it out: the relay refuses
    /// every later request, and nothing is committed.
    pub async fn revoke_device(&self, device_id: &str) -> Result<u32, ClientError> {
        let own = self.account()?.device_id;
        let response = self
            .signed_raw(Call::delete(format!("/v1/devices/{}", seg(device_id))))
            .await?;
        if !(200..300).contains(&response.status) {
            return Err(relay_error(&response));
        }
        if device_id == own {
            return Ok(0);
        }
        let revoked = [device_id.to_owned()];
        let mut events = Vec::new();
        let mut rooms = 0u32;
        let mut first_error = None;
        for record in self.room_records()? {
            if record.removed {
                continue;
            }
            match self.remove_revoked(&record, &revoked, &mut events).await {
                Ok(true) => rooms = rooms.saturating_add(1),
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // Membership changes seen on the way reach the app with the next `sync`.
        self.defer_events(events)?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(rooms),
        }
    }

    /// The security events of this user's account after the cursor `after` (0: from the
    /// start), oldest first: device requests and approvals, revocations, authenticator
    /// lockouts and resets. Page on with the last event's `seq`.
    pub async fn security_events(&self, after: u64) -> Result<SecurityEventList, ClientError> {
        self.signed_json(Call::get(format!("/v1/me/security-events?after={after}")))
            .await
    }

    /// Commits the removal of those of `revoked` that are in the room and that this device's
    /// membership policy lets it remove, retrying on epoch races; a race lost to a member who
    /// removed them first ends with nothing to do. Returns whether this device's commit
    /// removed anyone (reported as [`ClientEvent::MemberRemoved`]).
    pub(super) async fn remove_revoked(
        &self,
        record: &RoomRecord,
        revoked: &[String],
        events: &mut Vec<ClientEvent>,
    ) -> Result<bool, ClientError> {
        let room_id = record.core_id()?;
        let removable = |rooms: &room::Client, id: &RoomId| -> Result<Vec<String>, RoomError> {
            let mut out = Vec::new();
            for device in revoked {
                if rooms.may_remove_device(id, device)? {
                    out.push(device.clone());
                }
            }
            Ok(out)
        };
        // Nothing this device may remove: no round trip.
        if self
            .with(|r| Ok(removable(&r.rooms, &room_id)?))?
            .is_empty()
        {
            return Ok(false);
        }
        let removed = self
            .commit_until_done(record, |rooms, id| {
                let devices = removable(&*rooms, id)?;
                if devices.is_empty() {
                    return Ok(None);
                }
                let devices: Vec<&str> = devices.iter().map(String::as_str).collect();
                rooms.remove_devices(id, &devices).map(Some)
            })
            .await?;
        let Some(removed) = removed else {
            return Ok(false);
        };
        for id in &removed {
            events.push(ClientEvent::MemberRemoved {
                space_id: record.space_id.clone(),
                user_id: id.user_id.clone(),
                device_id: id.device_id.clone(),
            });
        }
        Ok(!removed.is_empty())
    }
}
