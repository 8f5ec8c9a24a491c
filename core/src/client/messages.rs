//! Text messages: posting, the local index, threads.

use super::files::removal;
use super::*;

impl SealroomClient {
    // ----- messages ----------------------------------------------------------------------

    pub(super) async fn send_message_bytes(
        &self,
        relay_id: &str,
        message: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, ClientError> {
        let body = PostMessageRequest {
            message: b64(message),
            expires_at,
        };
        let posted: serde_json::Value = self
            .signed_json(Call::json(
                "POST",
                format!("/v1/rooms/{relay_id}/messages"),
                &body,
            )?)
            .await?;
        posted
            .get("seq")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ClientError::Protocol("message post without seq".into()))
    }

    /// Posts a message into a space's customer room, or with `internal` into its staff-only
    /// internal room. Internal content is never sent to the customer room.
    pub async fn post_message(
        &self,
        space_id: &str,
        message: NewMessage,
    ) -> Result<Message, ClientError> {
        if message.body.is_empty() {
            return Err(ClientError::InvalidInput("empty message".into()));
        }
        let record = self.space_room(space_id, message.internal)?;
        if record.removed {
            return Err(ClientError::RemovedFromSpace(space_id.to_owned()));
        }
        let now = self.api.now().max(0) as u64;
        let expires_at = message.expires_in_secs.map(|s| now.saturating_add(s));
        let text = TextMessage {
            thread_id: message.thread_id.unwrap_or_else(random_id),
            message_id: random_id(),
            reply_to: message.reply_to,
            body: message.body,
            expires_at,
            sent_at: Some(now),
        };
        let label = if message.internal {
            Label::Internal
        } else {
            Label::Customer
        };
        let room_id = record.core_id()?;
        let (bytes, account) = self.with(|r| {
            let bytes = r.rooms.post(&room_id, label, Content::Text(text.clone()))?;
            Ok((bytes, r.account.clone()))
        })?;
        self.send_message_bytes(&record.relay_id, &bytes, expires_at)
            .await
            .map_err(|e| removal(e, space_id))?;
        // Own messages are not readable by this device from the relay (MLS), so they are
        // indexed here.
        self.with(|r| {
            let mut rec = load_record(&r.rooms, &record.relay_id)?;
            let stored = Message {
                space_id: space_id.to_owned(),
                internal: record.internal,
                thread_id: text.thread_id.clone(),
                message_id: text.message_id.clone(),
                reply_to: text.reply_to.clone(),
                sender_user_id: account.user_id.clone(),
                sender_device_id: account.device_id.clone(),
                body: text.body.clone(),
                expires_at,
                index: rec.next_index,
                sender_name: None,
                sent_at: Some(now),
                received_at: None,
            };
            rec.next_index += 1;
            r.rooms
                .app_commit(vec![message_write(&stored)?, rec.write()?])?;
            Ok(stored)
        })
        .and_then(|mut stored| {
            stored.sender_name = self.names()?.remove(&stored.sender_user_id);
            Ok(stored)
        })
    }

    /// Messages of a space (both rooms this device is in), oldest first; `thread` narrows to
    /// one thread. Expired messages are left out (and deleted locally).
    pub fn messages(
        &self,
        space_id: &str,
        thread: Option<&str>,
    ) -> Result<Vec<Message>, ClientError> {
        let now = self.api.now().max(0) as u64;
        self.with(|r| {
            let mut out = Vec::new();
            let mut expired = Vec::new();
            for key in r.rooms.app_keys(&format!("{MESSAGE_PREFIX}{space_id}/"))? {
                let Some(bytes) = r.rooms.app_get(&key)? else {
                    continue;
                };
                let m: Message = from_json(&bytes)?;
                if m.expires_at.is_some_and(|t| t <= now) {
                    expired.push((key, None));
                    continue;
                }
                if thread.is_none_or(|t| t == m.thread_id) {
                    out.push(m);
                }
            }
            if !expired.is_empty() {
                r.rooms.app_commit(expired)?;
            }
            out.sort_by_key(|m| (m.internal, m.index));
            Ok(out)
        })
        .and_then(|mut out: Vec<Message>| {
            let names = self.names()?;
            for m in &mut out {
                m.sender_name = names.get(&m.sender_user_id).cloned();
            }
            Ok(out)
        })
    }

    /// Threads of a space.
    pub fn threads(&self, space_id: &str) -> Result<Vec<Thread>, ClientError> {
        let mut threads: BTreeMap<(bool, String), Thread> = BTreeMap::new();
        for m in self.messages(space_id, None)? {
            let t = threads
                .entry((m.internal, m.thread_id.clone()))
                .or_insert_with(|| Thread {
                    thread_id: m.thread_id.clone(),
                    internal: m.internal,
                    messages: 0,
                    last_index: 0,
                });
            t.messages += 1;
            t.last_index = t.last_index.max(m.index);
        }
        Ok(threads.into_values().collect())
    }
}
