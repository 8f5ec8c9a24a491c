//! Opt-in recovery backups: a user who loses every device must not lose their spaces' history.
//!
//! [`SealroomClient::create_recovery_backup`] collects what only this device knows — the room
//! content keys (the keys that open every file posted in a room), the document versions, the
//! local file index with file keys, and the decrypted messages — seals it under a key derived
//! from a recovery passphrase with Argon2id, and stores the ciphertext on the relay
//! (`PUT /v1/me/recovery`). A new device of the same user (linked with a TOTP code, see
//! [`SealroomClient::approve_device_link_with_totp`]) calls
//! [`SealroomClient::restore_recovery_backup`] with the passphrase; once a member re-adds it to
//! the space, the restored keys join the room and the files and messages from before are
//! readable again.
//!
//! The trade-off, plainly: the relay operator holds the ciphertext, so the backup is exactly as
//! strong as the passphrase. Argon2id (64 MiB, 3 passes) makes each guess expensive but cannot
//! save a guessable passphrase; the client refuses passphrases under 12 characters. A forgotten
//! passphrase cannot be reset by anyone. A backup is a snapshot: keys and messages that arrive
//! later are in it only after the next `create_recovery_backup`. Users who do not opt in keep
//! the stronger property that nothing on the relay can ever open their history.
//!
//! The container (Argon2id + ChaCha20-Poly1305, bound to the user id) is
//! [`crate::format::recovery`], specified in `docs/format.md` ("Recovery backups").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use sealroom_wire::recovery::RecoveryInfo;

use crate::format::recovery::{self as container, RecoveryError};
use crate::room::{AppWrite, RoomHistory};

use super::api::{relay_error, Call};
use super::{
    from_json, load_record, message_write, to_json, ClientError, Message, RoomRecord,
    SealroomClient, MESSAGE_PREFIX, ROOM_RECORD_PREFIX,
};

/// Shortest accepted passphrase, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;
/// App-data prefixes copied into a backup besides messages: the file index and file keys.
const FILE_PREFIXES: [&str; 2] = ["fidx/", "fkey/"];
/// Restored room history waiting for this device to join the room.
const PENDING_PREFIX: &str = "recover/";

/// What a backup holds or a restore brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RecoveryReport {
    /// Rooms with content keys.
    pub rooms: u64,
    /// Room content keys.
    pub keys: u64,
    /// File index entries and file keys.
    pub files: u64,
    /// Messages.
    pub messages: u64,
    /// Size of the sealed backup in bytes.
    pub sealed_bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct Bundle {
    v: u32,
    user_id: String,
    created_at: i64,
    rooms: Vec<BundleRoom>,
    /// `(app key, JSON value)` of the file index and file keys.
    files: Vec<(String, String)>,
    messages: Vec<Message>,
    /// The user's identity key secret (hex), when the backing-up device holds it: a device
    /// that restores the backup can vouch for itself and for the user's other devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity_key: Option<String>,
}

#[derive(Serialize, Deserialize, Clone)]
struct BundleRoom {
    room_id: String,
    relay_id: String,
    space_id: String,
    internal: bool,
    /// `(epoch, hex key)`.
    keys: Vec<(u64, String)>,
    documents: Vec<(String, u64)>,
    /// The next free message index in this room after the restored messages.
    #[serde(default)]
    next_index: u64,
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for (_, value) in &mut self.files {
            value.zeroize();
        }
        for m in &mut self.messages {
            m.body.zeroize();
        }
        if let Some(k) = &mut self.identity_key {
            k.zeroize();
        }
    }
}

impl Drop for BundleRoom {
    fn drop(&mut self) {
        for (_, key) in &mut self.keys {
            key.zeroize();
        }
    }
}

impl BundleRoom {
    fn history(&self) -> Result<RoomHistory, ClientError> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for (epoch, hex_key) in &self.keys {
            let mut key = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hex_key, key.as_mut()).map_err(|_| corrupt())?;
            keys.push((*epoch, key));
        }
        Ok(RoomHistory {
            keys,
            documents: self.documents.clone(),
        })
    }
}

fn corrupt() -> ClientError {
    ClientError::Protocol("the recovery backup is malformed".into())
}

/// The client's errors for the container's: a wrong passphrase (or another user's, or a
/// modified, backup) is [`ClientError::WrongPassphrase`]; a backup this client cannot read is a
/// protocol error; sealing failures are invalid input.
fn container_error(e: RecoveryError) -> ClientError {
    match e {
        RecoveryError::Decrypt => ClientError::WrongPassphrase,
        RecoveryError::UnsupportedVersion(v) => {
            ClientError::Protocol(format!("unsupported recovery backup version {v}"))
        }
        RecoveryError::ExcessiveCost => ClientError::Protocol(
            "the recovery backup asks for excessive key-derivation cost".into(),
        ),
        RecoveryError::TooLarge => ClientError::InvalidInput("recovery backup too large".into()),
        RecoveryError::Random => ClientError::Format(crate::format::FormatError::Random),
        _ => corrupt(),
    }
}

/// Seals `plaintext` for `user_id` under `passphrase`.
fn seal(passphrase: &str, user_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, ClientError> {
    container::seal(passphrase, user_id, plaintext).map_err(container_error)
}

/// Opens a sealed backup of `user_id`.
fn open(passphrase: &str, user_id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, ClientError> {
    container::open(passphrase, user_id, sealed).map_err(container_error)
}

fn check_passphrase(passphrase: &str) -> Result<(), ClientError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(ClientError::InvalidInput(format!(
            "a recovery passphrase has at least {MIN_PASSPHRASE_CHARS} characters"
        )));
    }
    Ok(())
}

fn message_order_key(m: &Message) -> (bool, u64) {
    (m.internal, m.index)
}

impl SealroomClient {
    /// Seals this device's room content keys, file index and messages under `passphrase`
    /// (Argon2id) and stores the ciphertext on the relay, replacing an earlier backup. Opt-in;
    /// see the module documentation for the trade-off. Takes about a second (64 MiB Argon2id):
    /// call it off the UI thread.
    pub async fn create_recovery_backup(
        &self,
        passphrase: &str,
    ) -> Result<RecoveryReport, ClientError> {
        check_passphrase(passphrase)?;
        let now = self.api.now();
        let identity_key = self
            .identity_key()?
            .map(|k| hex::encode(k.expose_secret().as_ref()));
        let (bundle, user_id) = self.with(|r| {
            let mut rooms = Vec::new();
            for key in r.rooms.app_keys(ROOM_RECORD_PREFIX)? {
                let Some(bytes) = r.rooms.app_get(&key)? else {
                    continue;
                };
                let record: RoomRecord = from_json(&bytes)?;
                if record.removed {
                    continue;
                }
                let history = r.rooms.export_history(&record.core_id()?)?;
                rooms.push(BundleRoom {
                    room_id: record.room_id.clone(),
                    relay_id: record.relay_id.clone(),
                    space_id: record.space_id.clone(),
                    internal: record.internal,
                    keys: history
                        .keys
                        .iter()
                        .map(|(e, k)| (*e, hex::encode(k.as_ref())))
                        .collect(),
                    documents: history.documents.clone(),
                    next_index: record.next_index,
                });
            }
            let mut files = Vec::new();
            for prefix in FILE_PREFIXES {
                for key in r.rooms.app_keys(prefix)? {
                    if let Some(bytes) = r.rooms.app_get(&key)? {
                        let value = String::from_utf8(bytes.to_vec())
                            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))?;
                        files.push((key, value));
                    }
                }
            }
            let mut messages = Vec::new();
            for key in r.rooms.app_keys(MESSAGE_PREFIX)? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    messages.push(from_json::<Message>(&bytes)?);
                }
            }
            Ok((
                Bundle {
                    v: 1,
                    user_id: r.account.user_id.clone(),
                    created_at: now,
                    rooms,
                    files,
                    messages,
                    identity_key,
                },
                r.account.user_id.clone(),
            ))
        })?;
        let plain = Zeroizing::new(to_json(&bundle)?);
        let sealed = seal(passphrase, &user_id, &plain)?;
        let info: RecoveryInfo = self
            .signed_json(Call::raw("PUT", "/v1/me/recovery", sealed))
            .await?;
        Ok(RecoveryReport {
            rooms: bundle.rooms.len() as u64,
            keys: bundle.rooms.iter().map(|r| r.keys.len() as u64).sum(),
            files: bundle.files.len() as u64,
            messages: bundle.messages.len() as u64,
            sealed_bytes: info.length,
        })
    }

    /// Whether the relay holds a recovery backup for this user.
    pub async fn has_recovery_backup(&self) -> Result<bool, ClientError> {
        let response = self.signed_raw(Call::get("/v1/me/recovery")).await?;
        match response.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(relay_error(&response)),
        }
    }

    /// Deletes this user's recovery backup from the relay (opting out again).
    pub async fn delete_recovery_backup(&self) -> Result<(), ClientError> {
        self.signed(Call::delete("/v1/me/recovery")).await?;
        Ok(())
    }

    /// On a new device of the same user: fetches the recovery backup, opens it with
    /// `passphrase` and restores the file index, file keys and messages at once. Room content
    /// keys go into the rooms this device is already in, and wait for the others until a
    /// member re-adds this device (the next `sync` that joins the room applies them). A wrong
    /// passphrase is [`ClientError::WrongPassphrase`] and changes nothing.
    pub async fn restore_recovery_backup(
        &self,
        passphrase: &str,
    ) -> Result<RecoveryReport, ClientError> {
        let user_id = self.account()?.user_id;
        let response = self.signed(Call::get("/v1/me/recovery")).await?;
        let plain = open(passphrase, &user_id, &response.body)?;
        let bundle: Bundle = serde_json::from_slice(&plain).map_err(|_| corrupt())?;
        if bundle.v != 1 || bundle.user_id != user_id {
            return Err(corrupt());
        }
        let mut report = RecoveryReport {
            rooms: bundle.rooms.len() as u64,
            keys: bundle.rooms.iter().map(|r| r.keys.len() as u64).sum(),
            sealed_bytes: response.body.len() as u64,
            ..RecoveryReport::default()
        };
        self.with(|r| {
            let mut writes: Vec<AppWrite> = Vec::new();
            for (key, value) in &bundle.files {
                if !FILE_PREFIXES.iter().any(|p| key.starts_with(p)) {
                    return Err(corrupt());
                }
                if r.rooms.app_get(key)?.is_none() {
                    writes.push((key.clone(), Some(value.as_bytes().to_vec())));
                    report.files += 1;
                }
            }
            // Messages: the restored ones come first in each room (they are older than
            // anything this device received), then this device's own, renumbered.
            let mut by_room: BTreeMap<(String, bool), Vec<Message>> = BTreeMap::new();
            for m in &bundle.messages {
                by_room
                    .entry((m.space_id.clone(), m.internal))
                    .or_default()
                    .push(m.clone());
            }
            let mut next_index: BTreeMap<(String, bool), u64> = BTreeMap::new();
            for ((space_id, internal), mut restored) in by_room {
                let prefix = format!(
                    "{MESSAGE_PREFIX}{space_id}/{}",
                    if internal { 'i' } else { 'c' }
                );
                let mut local = Vec::new();
                for key in r.rooms.app_keys(&prefix)? {
                    if let Some(bytes) = r.rooms.app_get(&key)? {
                        local.push(from_json::<Message>(&bytes)?);
                    }
                    writes.push((key, None));
                }
                let known: BTreeSet<String> = local.iter().map(|m| m.message_id.clone()).collect();
                restored.retain(|m| !known.contains(&m.message_id));
                restored.sort_by_key(message_order_key);
                local.sort_by_key(message_order_key);
                report.messages += restored.len() as u64;
                let mut index = 0u64;
                for mut m in restored.into_iter().chain(local) {
                    m.index = index;
                    index += 1;
                    writes.push(message_write(&m)?);
                }
                next_index.insert((space_id, internal), index);
            }
            // Room keys: now for joined rooms, later for the others.
            let mut joined = Vec::new();
            for room in &bundle.rooms {
                let next = next_index
                    .get(&(room.space_id.clone(), room.internal))
                    .copied()
                    .unwrap_or(0);
                match load_record(&r.rooms, &room.relay_id) {
                    Ok(mut record) if !record.removed => {
                        record.next_index = record.next_index.max(next);
                        joined.push((record, room.history()?));
                    }
                    _ => {
                        let mut pending = room.clone();
                        pending.next_index = next;
                        writes.push((
                            format!("{PENDING_PREFIX}{}", room.relay_id),
                            Some(to_json(&pending)?),
                        ));
                    }
                }
            }
            if joined.is_empty() {
                r.rooms.app_commit(writes)?;
            } else {
                let last = joined.len() - 1;
                for (i, (record, history)) in joined.into_iter().enumerate() {
                    let mut batch = if i == last {
                        std::mem::take(&mut writes)
                    } else {
                        Vec::new()
                    };
                    batch.push(record.write()?);
                    r.rooms
                        .import_history(&record.core_id()?, &history, batch)?;
                }
            }
            Ok(())
        })?;
        // The identity key: this device now vouches for itself (it was linked by a TOTP code
        // alone, or lost its key), and from now on for the user's other devices.
        if let Some(hex_key) = &bundle.identity_key {
            let mut secret = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hex_key, secret.as_mut()).map_err(|_| corrupt())?;
            let key = crate::certificate::UserIdentityKey::from_secret_bytes(&secret);
            if self.identity_key()?.is_none() {
                self.keep_identity_key(&key)?;
            }
            self.certify_self(&key).await?;
        }
        Ok(report)
    }

    /// Applies restored room history that waited for this device to join `record`'s room.
    pub(super) fn apply_pending_recovery(&self, record: &RoomRecord) -> Result<(), ClientError> {
        let key = format!("{PENDING_PREFIX}{}", record.relay_id);
        self.with(|r| {
            let Some(bytes) = r.rooms.app_get(&key)? else {
                return Ok(());
            };
            let pending: BundleRoom = from_json(&bytes)?;
            let mut current = load_record(&r.rooms, &record.relay_id)?;
            current.next_index = current.next_index.max(pending.next_index);
            let writes = vec![(key, None), current.write()?];
            r.rooms
                .import_history(&current.core_id()?, &pending.history()?, writes)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_errors_map_to_client_errors() {
        let sealed = seal("correct horse battery", "u1", b"history").unwrap();
        assert_eq!(
            open("correct horse battery", "u1", &sealed)
                .unwrap()
                .as_slice(),
            b"history"
        );
        assert!(matches!(
            open("wrong horse battery!", "u1", &sealed),
            Err(ClientError::WrongPassphrase)
        ));
        assert!(matches!(
            open("correct horse battery", "u2", &sealed),
            Err(ClientError::WrongPassphrase)
        ));
        let mut costly = sealed.clone();
        costly[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            open("correct horse battery", "u1", &costly),
            Err(ClientError::Protocol(_))
        ));
        assert!(matches!(
            open("correct horse battery", "u1", &sealed[..40]),
            Err(ClientError::Protocol(_))
        ));
    }

    #[test]
    fn short_passphrases_are_refused() {
        assert!(check_passphrase("short").is_err());
        assert!(check_passphrase("twelve chars").is_ok());
    }
}
