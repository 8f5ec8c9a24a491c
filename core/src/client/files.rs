//! Files: documents with versions, sealed on the device (`crate::format`) and stored on the
//! relay through its tus-like blob API (`POST` with the length, `PATCH` at an offset with a
//! SHA-256 checksum, `HEAD` for the offset, ranged `GET`, `DELETE`).
//!
//! * **Upload** reads the caller's stream once, seals it chunk by chunk and sends sealed chunks
//!   of [`UPLOAD_CHUNK`] bytes; memory stays at a few chunks whatever the file size. The sealed
//!   length follows from the plaintext length, so the blob is created with its final length.
//! * **Resume**: the upload state (blob id, file key, salt, metadata, source length and a
//!   checkpoint digest of what the relay acknowledged, `checkpoint.rs`) is committed to the
//!   encrypted store before the first byte leaves. After a dropped connection the client asks the relay for its
//!   offset and continues; after an app restart [`SealroomClient::pending_uploads`] lists the
//!   unfinished uploads and [`SealroomClient::resume_upload`] takes the source again, re-seals
//!   it deterministically (same key and salt, so the same bytes) and sends only what the relay
//!   lacks. If the re-sealed bytes differ from the checkpoint (the source changed), the upload
//!   stops before anything new is sent.
//! * **Announce**: a finished upload is posted into the room as a [`Content::File`] (file key)
//!   and a [`Content::Document`] (document id, strictly increasing version, content digest),
//!   both inside MLS application messages. The room layer signs and checks versions.
//! * **History**: beside each file a small *manifest* blob holds the file key wrapped under the
//!   room's content key ([`crate::room::Client::wrap_file_key`]) and the sealed manifest
//!   (document id, version, name, media type, size, digest). A member added later lists the
//!   room's blobs ([`SealroomClient::refresh_files`]) and opens the manifests with the history
//!   keys it received, so earlier documents open for them too.
//! * Names and media types exist only inside sealed data and MLS messages.
//! * **Policy**: [`SealroomClient::set_file_policy`] restricts a space's media types; the type
//!   sniffed from the content ([`sniff`]) decides, before anything is encrypted.

mod announce;
mod checkpoint;
mod digest;
mod download;
mod manifests;
#[cfg(test)]
mod retry_tests;
mod upload;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::format;
use crate::room::{self, Content};

use super::api::{relay_error, Call};
use super::labels::{Classification, FileAccess};
use super::scan::ScanState;
#[cfg(doc)]
use super::sniff::sniff;
use super::{from_json, to_json, ClientError, ClientEvent, RoomRecord, SealroomClient};

pub use digest::{pieces_digest, sealed_pieces_digest, PIECE as DIGEST_PIECE};
pub use download::Download;
pub use upload::FileUpload;

/// Sealed bytes sent per `PATCH` (and fetched per ranged `GET`).
pub const UPLOAD_CHUNK: usize = 4 * 1024 * 1024;
/// Plaintext bytes read from the caller's stream at a time.
const READ_PIECE: usize = 1024 * 1024;
/// Attempts per chunk after transport failures or offset conflicts.
const ATTEMPTS: u32 = 8;
/// Blobs at most this long are candidates for manifests.
const MANIFEST_MAX: u64 = 16 * 1024;
const MANIFEST_MAGIC: &[u8; 4] = b"SRMF";

const UPLOAD_PREFIX: &str = "upl/";
const INDEX_PREFIX: &str = "fidx/";
const KEY_PREFIX: &str = "fkey/";
const MANIFEST_SEEN_PREFIX: &str = "fman/";
const POLICY_PREFIX: &str = "fpol/";

/// A file to upload. Deserialize: the WASM package reads it from JS (unknown keys refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct NewFile {
    /// File name (sealed; never visible to the relay). The media type is sniffed from the
    /// content.
    pub name: String,
    /// The document this is a new version of; `None` starts a new document (version 1).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub document_id: Option<String>,
    /// Post into the internal (staff-only) room.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub internal: bool,
    /// Thread the file belongs to.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub thread_id: Option<String>,
    /// Classification label; `None` takes the space policy's default
    /// ([`SealroomClient::space_policy`]).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub classification: Option<Classification>,
}

/// One version of a document as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FileVersion {
    /// Space.
    pub space_id: String,
    /// Whether it is in the internal room.
    pub internal: bool,
    /// Document id.
    pub document_id: String,
    /// Version (1, 2, ...).
    pub version: u64,
    /// The relay's blob id of the sealed file.
    pub file_id: String,
    /// File name (empty until the manifest was read, see [`SealroomClient::refresh_files`]).
    pub name: String,
    /// Sniffed media type (empty until the manifest was read).
    pub media_type: String,
    /// Plaintext size in bytes (0 until the manifest was read).
    pub size: u64,
    /// The content digest (hex), as announced by the author: for versions uploaded by this
    /// SDK the sealed piece digest of `docs/format.md` ("Content digest",
    /// [`sealed_pieces_digest`]: over the sealed bytes, so it names this upload, not the
    /// plaintext across uploads); for versions of earlier SDKs the piece digest
    /// ([`pieces_digest`]) or SHA-256 of the plaintext. Downloads check it.
    pub digest: String,
    /// The author's user id.
    pub sender_user_id: String,
    /// Whether this is the document's latest version (set by listings).
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(type = "boolean /* present */"))]
    pub latest: bool,
    /// The classification label the author signed (`None`: a version of an earlier SDK).
    pub classification: Option<Classification>,
    /// What this device may do with it under the space's policy (set by listings).
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(type = "FileAccess /* present */"))]
    pub access: FileAccess,
    /// Staff users (not the uploader) who approved this version (set by listings).
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(type = "string[] /* present */"))]
    pub released_by: Vec<String>,
    /// The space scanner's verdict on this version (set by listings).
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(type = "ScanState /* present */"))]
    pub scan: ScanState,
    /// Unix time (s) at which the relay accepted the version's announcement; for this device's
    /// own uploads, this device's clock when it announced the version. `None` for versions
    /// indexed by an earlier SDK.
    pub received_at: Option<u64>,
}

/// A document: all its versions known here, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Document {
    /// Document id.
    pub document_id: String,
    /// The latest version.
    pub latest: FileVersion,
    /// Every version, oldest first.
    pub versions: Vec<FileVersion>,
}

/// An upload that has not finished (see [`SealroomClient::resume_upload`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PendingUpload {
    /// Upload id (the relay's blob id).
    pub upload_id: String,
    /// Space.
    pub space_id: String,
    /// File name.
    pub name: String,
    /// Document id.
    pub document_id: String,
    /// Plaintext length the source must have.
    pub source_len: u64,
    /// Sealed bytes the relay acknowledged at the last checkpoint.
    pub uploaded: u64,
    /// Total sealed length.
    pub sealed_len: u64,
}

/// A space's file policy, kept on this device and checked before encryption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(default, deny_unknown_fields)]
pub struct FilePolicy {
    /// Allowed media types (as [`sniff`] names them); empty allows every type.
    pub allowed_media_types: Vec<String>,
    /// Largest plaintext size in bytes; `None` for no limit (the relay's quota still applies).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_size: Option<u64>,
}

/// A file key this device holds, with where the file lives.
#[derive(Serialize, Deserialize)]
struct KeyRecord {
    /// File key (hex).
    key: String,
    relay_id: String,
    space_id: String,
    manifest_id: String,
    /// How the version's content digest is computed ([`digest::DigestKind::wire`]), from the
    /// signed manifest or this device's own upload; `None` while only the announcement is
    /// known (a download then checks both kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest_kind: Option<String>,
}

impl KeyRecord {
    /// The digest kind, when known.
    fn digest_kind(&self) -> Option<digest::DigestKind> {
        self.digest_kind
            .as_deref()
            .and_then(digest::DigestKind::from_wire)
    }
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

fn hex32(text: &str) -> Result<[u8; 32], ClientError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))?;
    Ok(out)
}

fn index_key(space_id: &str, document_id: &str, version: u64) -> String {
    format!("{INDEX_PREFIX}{space_id}/{document_id}/{version:020}")
}

fn key_key(file_id: &str) -> String {
    format!("{KEY_PREFIX}{file_id}")
}

/// Sealed length of a file of `len` plaintext bytes whose header is `header_len` bytes.
fn sealed_len(header_len: usize, len: u64) -> u64 {
    (header_len as u64).saturating_add(format::payload_len(len))
}

fn blob_path(relay_id: &str, blob_id: &str) -> String {
    format!("/v1/rooms/{relay_id}/blobs/{blob_id}")
}

/// The pause before retry number `attempt` (1, 2, ...): 20 ms more each time.
fn back_off_delay(attempt: u32) -> Duration {
    Duration::from_millis(20 * u64::from(attempt))
}

/// A relay refusal (403) of a call into a room this device joined means the device was
/// removed from the space (sync reports it as [`ClientEvent::RemovedFromSpace`]): every call
/// says so with one error, [`ClientError::RemovedFromSpace`] (`removed_from_space`).
pub(super) fn removal(error: ClientError, space_id: &str) -> ClientError {
    match error {
        ClientError::Relay { status: 403, .. } => {
            ClientError::RemovedFromSpace(space_id.to_owned())
        }
        e => e,
    }
}

/// Turns a File or Document content from the room into index entries (called from `sync`).
pub(super) fn translate_content(
    content: &Content,
    (sender_user_id, received_at): (&str, Option<u64>),
    record: &RoomRecord,
    writes: &mut Vec<room::AppWrite>,
    out: &mut Vec<ClientEvent>,
) {
    match content {
        Content::File(f) => {
            let rec = KeyRecord {
                key: hex::encode(f.file_key.expose_bytes()),
                relay_id: record.relay_id.clone(),
                space_id: record.space_id.clone(),
                manifest_id: f.metadata_ref.clone(),
                digest_kind: None,
            };
            if let Ok(bytes) = to_json(&rec) {
                writes.push((key_key(&f.file_id), Some(bytes)));
            }
        }
        Content::Document(d) => {
            let Some(file_id) = d.file_id.clone() else {
                return;
            };
            let entry = FileVersion {
                space_id: record.space_id.clone(),
                internal: record.internal,
                document_id: d.document_id.clone(),
                version: d.version,
                file_id: file_id.clone(),
                name: String::new(),
                media_type: String::new(),
                size: 0,
                digest: hex::encode(d.content_digest),
                sender_user_id: sender_user_id.to_owned(),
                latest: false,
                classification: d.classification.clone(),
                access: FileAccess::Open,
                released_by: Vec::new(),
                scan: ScanState::default(),
                received_at,
            };
            if let Ok(bytes) = to_json(&entry) {
                writes.push((
                    index_key(&record.space_id, &d.document_id, d.version),
                    Some(bytes),
                ));
            }
            out.push(ClientEvent::file(
                &record.space_id,
                file_id,
                d.document_id.clone(),
                d.version,
            ));
        }
        _ => {}
    }
}

impl SealroomClient {
    /// A short pause before retry number `attempt`, on the host's timer
    /// ([`Transport::sleep`](super::Transport::sleep)): the thread is never blocked.
    async fn back_off(&self, attempt: u32) {
        self.api.sleep(back_off_delay(attempt)).await;
    }

    // ----- policy ------------------------------------------------------------------------

    /// Sets the file policy of a space on this device (checked before encryption).
    pub fn set_file_policy(&self, space_id: &str, policy: &FilePolicy) -> Result<(), ClientError> {
        let bytes = to_json(policy)?;
        self.with(|r| {
            Ok(r.rooms
                .app_commit(vec![(format!("{POLICY_PREFIX}{space_id}"), Some(bytes))])?)
        })
    }

    /// The file policy of a space on this device (default: everything allowed).
    pub fn file_policy(&self, space_id: &str) -> Result<FilePolicy, ClientError> {
        self.with(
            |r| match r.rooms.app_get(&format!("{POLICY_PREFIX}{space_id}"))? {
                Some(bytes) => from_json(&bytes),
                None => Ok(FilePolicy::default()),
            },
        )
    }

    // ----- listing -----------------------------------------------------------------------

    /// Every file version of a space known on this device, by document then version, with
    /// `latest` set on each document's highest version. Local only: call `sync` and
    /// [`SealroomClient::refresh_files`] first to learn about new ones.
    pub fn files(&self, space_id: &str) -> Result<Vec<FileVersion>, ClientError> {
        let mut out: Vec<FileVersion> = self.with(|r| {
            let mut out = Vec::new();
            for key in r.rooms.app_keys(&format!("{INDEX_PREFIX}{space_id}/"))? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    out.push(from_json::<FileVersion>(&bytes)?);
                }
            }
            Ok(out)
        })?;
        out.sort_by(|a, b| (&a.document_id, a.version).cmp(&(&b.document_id, b.version)));
        let mut latest: BTreeMap<String, u64> = BTreeMap::new();
        for f in &out {
            let v = latest.entry(f.document_id.clone()).or_insert(0);
            *v = (*v).max(f.version);
        }
        for f in &mut out {
            f.latest = latest.get(&f.document_id) == Some(&f.version);
        }
        self.annotate_labels(space_id, &mut out)?;
        Ok(out)
    }

    /// The documents of a space with their versions (see [`SealroomClient::files`]), the
    /// document whose latest version arrived last first (by
    /// [`received_at`](FileVersion::received_at), in seconds; within the same second the
    /// higher version first, then by document id; versions without a time, from earlier SDKs,
    /// after those with one).
    pub fn documents(&self, space_id: &str) -> Result<Vec<Document>, ClientError> {
        let mut docs: BTreeMap<String, Vec<FileVersion>> = BTreeMap::new();
        for f in self.files(space_id)? {
            docs.entry(f.document_id.clone()).or_default().push(f);
        }
        let mut out: Vec<Document> = docs
            .into_iter()
            .filter_map(|(document_id, versions)| {
                let latest = versions.last()?.clone();
                Some(Document {
                    document_id,
                    latest,
                    versions,
                })
            })
            .collect();
        // Within one second, the document with more versions was most likely updated last.
        out.sort_by(|a, b| {
            (b.latest.received_at, b.latest.version)
                .cmp(&(a.latest.received_at, a.latest.version))
                .then_with(|| a.document_id.cmp(&b.document_id))
        });
        Ok(out)
    }

    // ----- download ----------------------------------------------------------------------

    /// Whether the room `relay_id` is one this device was removed from.
    fn room_removed(&self, relay_id: &str) -> Result<bool, ClientError> {
        self.with(|r| match super::load_record(&r.rooms, relay_id) {
            Ok(rec) => Ok(rec.removed),
            Err(ClientError::Unknown { .. }) => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// The key record of `file_id`, which must belong to `space_id`.
    fn key_record(&self, space_id: &str, file_id: &str) -> Result<KeyRecord, ClientError> {
        let rec: Option<KeyRecord> =
            self.with(|r| match r.rooms.app_get(&key_key(file_id))? {
                Some(bytes) => from_json(&bytes).map(Some),
                None => Ok(None),
            })?;
        rec.filter(|rec| rec.space_id == space_id)
            .ok_or_else(|| ClientError::Unknown {
                what: "file",
                id: file_id.to_owned(),
            })
    }

    fn version_of(
        &self,
        space_id: &str,
        file_id: &str,
    ) -> Result<Option<FileVersion>, ClientError> {
        Ok(self
            .files(space_id)?
            .into_iter()
            .find(|f| f.file_id == file_id))
    }

    // ----- delete ------------------------------------------------------------------------

    /// Deletes a file version: its blob and its manifest on the relay (the bytes are gone),
    /// and its index entry here. Other devices drop it at their next
    /// [`SealroomClient::refresh_files`].
    pub async fn delete_file(&self, space_id: &str, file_id: &str) -> Result<(), ClientError> {
        let rec = self.key_record(space_id, file_id)?;
        for blob in [file_id, rec.manifest_id.as_str()] {
            if blob.is_empty() {
                continue;
            }
            let response = self
                .signed_raw(Call::delete(blob_path(&rec.relay_id, blob)))
                .await?;
            if !(200..300).contains(&response.status) && response.status != 404 {
                return Err(relay_error(&response));
            }
        }
        let mut writes = vec![(key_key(file_id), None)];
        if let Some(f) = self.version_of(space_id, file_id)? {
            writes.push((index_key(space_id, &f.document_id, f.version), None));
        }
        self.with(|r| Ok(r.rooms.app_commit(writes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Metadata, Sealer, SALT_LEN};

    #[test]
    fn sealed_length_matches_the_sealer() {
        let key = format::FileKey::from_bytes([7u8; 32]);
        for len in [0u64, 1, 65535, 65536, 65537, 3 * 65536 + 5] {
            let meta = Metadata {
                name: "n".into(),
                length: Some(len),
                ..Metadata::default()
            };
            let data = vec![1u8; len as usize];
            let sealed = format::seal(&key, &meta, &data).unwrap();
            let (_, header) = Sealer::new_with_salt(&key, &meta, &[0u8; SALT_LEN]).unwrap();
            assert_eq!(sealed_len(header.len(), len), sealed.len() as u64, "{len}");
        }
    }
}
