//! Application messages of a room: posting (one sequence number each, in one transaction),
//! pages for sync, expiry of disappearing messages, and deletion before a cut-off (retention).

use super::*;

/// Stores an application message sent by a member device.
pub fn post_message(
    store: &dyn Store,
    room_id: &str,
    device_id: &str,
    message: &[u8],
    expires_at: Option<u64>,
    now: i64,
) -> Result<(RoomRecord, MessageEntry), RoomError> {
    let record = check_message(store, room_id, device_id, message, expires_at, now)?;
    let entry = store_message(store, room_id, device_id, message, expires_at, now)?;
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
    room_id: &str,
    device_id: &str,
    message: &[u8],
    expires_at: Option<u64>,
    now: i64,
) -> Result<MessageEntry, RoomError> {
    let append = MessageAppend::new(room_id, device_id, message, expires_at, now);
    let mut txn = Txn::new();
    txn.derive(append.clone());
    store.commit(&txn)?;
    append
        .entry()
        .ok_or_else(|| RoomError::Store(StoreError::Backend("message append left no entry".into())))
}

/// A message appended inside a transaction ([`Derive`]): reads the room's last seq where the
/// transaction runs and stores the message under the next one, so concurrent posts to one room
/// share a commit instead of conflicting on the counter. After the commit, [`Self::entry`]
/// holds what was stored.
pub struct MessageAppend {
    room_id: String,
    entry: MessageEntry,
    stored: Mutex<Option<MessageEntry>>,
}

impl MessageAppend {
    /// The message `message` from `device_id` to `room_id`, received at `now`.
    pub fn new(
        room_id: &str,
        device_id: &str,
        message: &[u8],
        expires_at: Option<u64>,
        now: i64,
    ) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            room_id: room_id.to_owned(),
            entry: MessageEntry {
                seq: 0,
                sender_device: device_id.to_owned(),
                message: B64.encode(message),
                received_at: now_u64(now),
                expires_at,
            },
            stored: Mutex::new(None),
        })
    }

    /// The stored entry (with its seq) once the transaction committed.
    pub fn entry(&self) -> Option<MessageEntry> {
        self.stored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The last seq of a room's message log as a transaction sees it (0: none yet).
pub fn last_seq(read: &mut dyn TxnReader, room_id: &str) -> Result<u64, StoreError> {
    match read.get(MESSAGE_SEQ, room_id.as_bytes())? {
        Some(bytes) => {
            Ok(u64::from_be_bytes(bytes.as_slice().try_into().map_err(
                |_| StoreError::Backend("message seq is not 8 bytes".into()),
            )?))
        }
        None => Ok(0),
    }
}

impl Derive for MessageAppend {
    fn reads(&self) -> Vec<(String, Vec<u8>)> {
        vec![(MESSAGE_SEQ.to_owned(), self.room_id.as_bytes().to_vec())]
    }

    fn derive(&self, read: &mut dyn TxnReader) -> Result<Vec<Op>, DeriveError> {
        let seq = last_seq(read, &self.room_id)? + 1;
        let entry = MessageEntry {
            seq,
            ..self.entry.clone()
        };
        let mut ops = vec![
            Op::Put {
                tree: MESSAGE_SEQ.to_owned(),
                key: self.room_id.as_bytes().to_vec(),
                value: seq.to_be_bytes().to_vec(),
            },
            Op::Put {
                tree: MESSAGES.to_owned(),
                key: seq_key(&self.room_id, seq),
                value: crate::store::encode_json(MESSAGES, &entry)?,
            },
        ];
        if let Some(expiry) = entry.expires_at {
            ops.push(Op::Put {
                tree: MESSAGE_EXPIRY.to_owned(),
                key: expiry_key(expiry, &self.room_id, seq),
                value: Vec::new(),
            });
        }
        *self.stored.lock().unwrap_or_else(|p| p.into_inner()) = Some(entry);
        Ok(ops)
    }

    fn locks(&self) -> Vec<String> {
        vec![format!("room-messages:{}", self.room_id)]
    }
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

/// How many messages one deletion transaction removes at most (with its audit entry).
pub const DELETE_BATCH: usize = 500;

/// A stored message to delete: its key and, for a disappearing message, its expiry index key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMessage {
    key: Vec<u8>,
    expiry_key: Option<Vec<u8>>,
}

impl DueMessage {
    /// Adds the deletion of this message (and its expiry index entry) to `txn`.
    pub fn delete_in(&self, txn: &mut Txn) {
        txn.delete(MESSAGES, &self.key);
        if let Some(k) = &self.expiry_key {
            txn.delete(MESSAGE_EXPIRY, k);
        }
    }
}

/// Messages whose expiry is at or before `now`, in expiry order.
pub fn expired_messages(store: &dyn Store, now: i64) -> Result<Vec<DueMessage>, StoreError> {
    let end = (now_u64(now).saturating_add(1)).to_be_bytes();
    store
        .range(MESSAGE_EXPIRY, &[], Some(&end))?
        .map(|item| {
            item.map(|(k, _)| DueMessage {
                key: k.get(8..).unwrap_or_default().to_vec(),
                expiry_key: Some(k),
            })
        })
        .collect()
}

/// Deletes every message whose expiry is at or before `now`, [`DELETE_BATCH`] messages per
/// transaction, each with the writes `with` adds for its count (the sweep's audit entry).
/// Returns how many were deleted. The retention task calls this periodically.
pub fn delete_expired_with(
    store: &dyn Store,
    now: i64,
    with: &dyn Fn(&mut Txn, usize),
) -> Result<usize, TxnError> {
    let due = expired_messages(store, now)?;
    for batch in due.chunks(DELETE_BATCH) {
        let mut txn = Txn::new();
        for m in batch {
            m.delete_in(&mut txn);
        }
        with(&mut txn, batch.len());
        store.commit(&txn)?;
    }
    Ok(due.len())
}

/// The messages of a room received at or before `before` (per-space retention), oldest first.
pub fn messages_before(
    store: &dyn Store,
    room_id: &str,
    before: i64,
) -> Result<Vec<DueMessage>, StoreError> {
    let before = now_u64(before);
    let mut due = Vec::new();
    for item in store.scan_prefix(MESSAGES, &prefix_of(room_id))? {
        let (key, value) = item?;
        let entry: MessageEntry = crate::store::decode_json(MESSAGES, &value)?;
        if entry.received_at > before {
            break;
        }
        let expiry_key = entry
            .expires_at
            .map(|expiry| expiry_key(expiry, room_id, entry.seq));
        due.push(DueMessage { key, expiry_key });
    }
    Ok(due)
}
