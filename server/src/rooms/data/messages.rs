//! Application messages of a room: posting (one sequence number each, in one transaction),
//! pages for sync, expiry of disappearing messages, and deletion before a cut-off (retention).

use super::*;

/// Serializes message posts per room (the seq counter is read, incremented and written in one
/// transaction; the lock avoids retry storms under load).
///
/// Bounded: once the table holds [`MESSAGE_LOCKS_BOUND`] rooms, adding another first evicts
/// every idle entry (a lock no post holds or waits for), so the table keeps at most the bound
/// plus the rooms being posted to at that moment, however many rooms the relay serves.
#[derive(Debug, Default)]
pub struct MessageLocks(Mutex<HashMap<String, std::sync::Arc<Mutex<()>>>>);

/// Rooms the message-post lock table keeps before it evicts idle entries (about 100 bytes
/// each).
pub(super) const MESSAGE_LOCKS_BOUND: usize = 1024;

impl MessageLocks {
    fn lock_for(&self, room_id: &str) -> std::sync::Arc<Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(room_id) {
            return lock.clone();
        }
        if map.len() >= MESSAGE_LOCKS_BOUND {
            // Clones are made only under the table's lock, so an entry the table alone holds
            // has no post holding or waiting for it: dropping it loses nothing, and the next
            // post to that room starts a fresh lock.
            map.retain(|_, lock| std::sync::Arc::strong_count(lock) > 1);
        }
        map.entry(room_id.to_owned()).or_default().clone()
    }

    /// Rooms in the table (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Stores an application message sent by a member device.
pub fn post_message(
    store: &dyn Store,
    locks: &MessageLocks,
    room_id: &str,
    device_id: &str,
    message: &[u8],
    expires_at: Option<u64>,
    now: i64,
) -> Result<(RoomRecord, MessageEntry), RoomError> {
    let record = check_message(store, room_id, device_id, message, expires_at, now)?;
    let entry = store_message(store, locks, room_id, device_id, message, expires_at, now)?;
    Ok((record, entry))
}

/// Checks an application message before anything is charged or stored: the sender is a
/// member device, the message is an MLS `PrivateMessage` of the room, and `expires_at` is in
/// the future. Returns the room.
pub fn check_message(
    store: &dyn Store,
    room_id: &str,
    device_id: &str,
    message: &[u8],
    expires_at: Option<u64>,
    now: i64,
) -> Result<RoomRecord, RoomError> {
    let record = room_for_member(store, room_id, device_id)?;
    let group_id = hex::decode(&record.room_id)
        .map_err(|_| MlsError::Internal("stored room id is not hex".into()))?;
    mls::check_application_message(&group_id, message)?;
    if expires_at.is_some_and(|t| t <= now_u64(now)) {
        return Err(MlsError::Invalid("expires_at is in the past".into()).into());
    }
    Ok(record)
}

/// Appends a message that [`check_message`] accepted to the room's log under the next seq.
pub fn store_message(
    store: &dyn Store,
    locks: &MessageLocks,
    room_id: &str,
    device_id: &str,
    message: &[u8],
    expires_at: Option<u64>,
    now: i64,
) -> Result<MessageEntry, RoomError> {
    let lock = locks.lock_for(room_id);
    let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
    let last = store.get(MESSAGE_SEQ, room_id.as_bytes())?;
    let last_seq = match &last {
        Some(bytes) => u64::from_be_bytes(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Backend("message seq is not 8 bytes".into()))?,
        ),
        None => 0,
    };
    let seq = last_seq + 1;
    let entry = MessageEntry {
        seq,
        sender_device: device_id.to_owned(),
        message: B64.encode(message),
        received_at: now_u64(now),
        expires_at,
    };
    let mut txn = Txn::new();
    txn.check(MESSAGE_SEQ, room_id.as_bytes(), last.as_deref());
    txn.put(MESSAGE_SEQ, room_id.as_bytes(), &seq.to_be_bytes());
    txn.put_json(MESSAGES, &seq_key(room_id, seq), &entry)?;
    if let Some(expiry) = expires_at {
        txn.put(MESSAGE_EXPIRY, &expiry_key(expiry, room_id, seq), &[]);
    }
    store.commit(&txn)?;
    Ok(entry)
}

fn expiry_key(expiry: u64, room_id: &str, seq: u64) -> Vec<u8> {
    let mut key = expiry.to_be_bytes().to_vec();
    key.extend_from_slice(&seq_key(room_id, seq));
    key
}

/// Messages of a room with `seq > after`, within `limit`, leaving out expired ones.
pub fn messages(
    store: &dyn Store,
    room_id: &str,
    after: u64,
    limit: PageLimit,
    now: i64,
) -> Result<(Vec<MessageEntry>, u64), StoreError> {
    let entries: Vec<MessageEntry> = page(store, MESSAGES, room_id, after, limit)?;
    let next = entries.last().map_or(after, |e| e.seq);
    let now = now_u64(now);
    let live = entries
        .into_iter()
        .filter(|e| e.expires_at.is_none_or(|t| t > now))
        .collect();
    Ok((live, next))
}

/// Deletes every message whose expiry is at or before `now`. Returns how many were deleted.
/// The retention task calls this periodically.
pub fn delete_expired(store: &dyn Store, now: i64) -> Result<usize, StoreError> {
    let end = (now_u64(now).saturating_add(1)).to_be_bytes();
    let due: Vec<Vec<u8>> = store
        .range(MESSAGE_EXPIRY, &[], Some(&end))?
        .map(|item| item.map(|(k, _)| k))
        .collect::<Result<_, _>>()?;
    for key in &due {
        let message_key = &key[8..];
        let mut txn = Txn::new();
        txn.delete(MESSAGES, message_key);
        txn.delete(MESSAGE_EXPIRY, key);
        match store.commit(&txn) {
            Ok(()) => {}
            Err(TxnError::Store(e)) => return Err(e),
            Err(other) => return Err(StoreError::Backend(other.to_string())),
        }
    }
    Ok(due.len())
}

/// Deletes the messages of a room received at or before `before` (per-space retention).
/// Returns how many were deleted.
pub fn delete_messages_before(
    store: &dyn Store,
    room_id: &str,
    before: i64,
) -> Result<usize, StoreError> {
    let before = now_u64(before);
    let mut deleted = 0;
    for item in store.scan_prefix(MESSAGES, &prefix_of(room_id))? {
        let (key, value) = item?;
        let entry: MessageEntry = crate::store::decode_json(MESSAGES, &value)?;
        if entry.received_at > before {
            break;
        }
        let mut txn = Txn::new();
        txn.delete(MESSAGES, &key);
        if let Some(expiry) = entry.expires_at {
            txn.delete(MESSAGE_EXPIRY, &expiry_key(expiry, room_id, entry.seq));
        }
        store.commit(&txn).map_err(|e| match e {
            TxnError::Store(e) => e,
            other => StoreError::Backend(other.to_string()),
        })?;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_table_evicts_idle_rooms_and_keeps_held_ones() {
        let locks = MessageLocks::default();
        // A room whose post is in progress (its lock held) while many other rooms post.
        let busy = locks.lock_for("busy");
        let held = busy.lock().unwrap();
        for i in 0..5 * MESSAGE_LOCKS_BOUND {
            let lock = locks.lock_for(&format!("room-{i}"));
            drop(lock.lock().unwrap());
            assert!(locks.len() <= MESSAGE_LOCKS_BOUND + 1, "{}", locks.len());
        }
        // The held room kept its entry: a second post to it waits on the same lock.
        let again = locks.lock_for("busy");
        assert!(std::sync::Arc::ptr_eq(&busy, &again));
        assert!(again.try_lock().is_err());
        drop(held);
        assert!(again.try_lock().is_ok());
        // Same room, same lock while the table has room.
        let a = locks.lock_for("room-x");
        assert!(std::sync::Arc::ptr_eq(&a, &locks.lock_for("room-x")));
    }
}
