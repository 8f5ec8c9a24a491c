//! Files: documents with versions, sealed on the device (`crate::format`) and stored on the
//! relay through its tus-like blob API (`POST` with the length, `PATCH` at an offset with a
//! SHA-256 checksum, `HEAD` for the offset, ranged `GET`, `DELETE`).
//!
//! * **Upload** reads the caller's stream once, seals it chunk by chunk and sends sealed chunks
//!   of [`UPLOAD_CHUNK`] bytes; memory stays at a few chunks whatever the file size. The sealed
//!   length follows from the plaintext length, so the blob is created with its final length.
//! * **Resume**: the upload state (blob id, file key, salt, metadata, source length and a
//!   checkpoint digest of what the relay acknowledged) is committed to the encrypted store
//!   before the first byte leaves. After a dropped connection the client asks the relay for its
//!   offset and continues; after an app restart [`SealroomClient::pending_uploads`] lists the
//!   unfinished uploads and [`SealroomClient::resume_upload`] takes the source again, re-seals
//!   it deterministically (same key and salt, so the same bytes) and sends only what the relay
//!   lacks. If the re-sealed bytes differ from the checkpoint (the source changed), the upload
//!   stops before anything new is sent.
//! * **Announce**: a finished upload is posted into the room as a [`Content::File`] (file key)
//!   and a [`Content::Document`] (document id, strictly increasing version, plaintext SHA-256),
//!   both inside MLS application messages. The room layer signs and checks versions.
//! * **History**: beside each file a small *manifest* blob holds the file key wrapped under the
//!   room's content key ([`crate::room::Client::wrap_file_key`]) and the sealed manifest
//!   (document id, version, name, media type, size, digest). A member added later lists the
//!   room's blobs ([`SealroomClient::refresh_files`]) and opens the manifests with the history
//!   keys it received, so earlier documents open for them too.
//! * Names and media types exist only inside sealed data and MLS messages.
//! * **Policy**: [`SealroomClient::set_file_policy`] restricts a space's media types; the type
//!   sniffed from the content ([`sniff`]) decides, before anything is encrypted.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use sealroom_wire::blobs::{BlobList, BlobStatus, CreateBlobRequest};

use crate::format::{
    self, Metadata, Opener, Sealer, CHUNK_SIZE, HEADER_FIXED_LEN, SALT_LEN, SEALED_CHUNK_SIZE,
};
use crate::room::{self, Content, DocumentVersion, FileAnnouncement, Label, RoomError};

use super::api::{relay_error, Call};
use super::sniff::{sniff, SNIFF_LEN};
use super::transport::MaybeSend;
use super::{
    from_json, load_record, random_id, to_json, Account, ClientError, ClientEvent, RoomRecord,
    SealroomClient,
};

/// Sealed bytes sent per `PATCH` (and fetched per ranged `GET`).
pub const UPLOAD_CHUNK: usize = 4 * 1024 * 1024;
/// Plaintext bytes read from the caller's stream at a time.
const READ_PIECE: usize = 1024 * 1024;
/// Attempts per chunk after transport failures or offset conflicts.
const ATTEMPTS: u32 = 8;
/// Blobs at most this long are candidates for manifests.
const MANIFEST_MAX: u64 = 16 * 1024;
const MANIFEST_MAGIC: &[u8; 4] = b"SRMF";
const AEAD_TAG: u64 = 16;

const UPLOAD_PREFIX: &str = "upl/";
const INDEX_PREFIX: &str = "fidx/";
const KEY_PREFIX: &str = "fkey/";
const MANIFEST_SEEN_PREFIX: &str = "fman/";
const POLICY_PREFIX: &str = "fpol/";

/// A file to upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewFile {
    /// File name (sealed; never visible to the relay).
    pub name: String,
    /// The document this is a new version of; `None` starts a new document (version 1).
    pub document_id: Option<String>,
    /// Post into the internal (staff-only) room.
    pub internal: bool,
    /// Thread the file belongs to.
    pub thread_id: Option<String>,
}

/// One version of a document as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// SHA-256 of the plaintext (hex), as announced by the author.
    pub digest: String,
    /// The author's user id.
    pub sender_user_id: String,
    /// Whether this is the document's latest version (set by listings).
    #[serde(default)]
    pub latest: bool,
}

/// A document: all its versions known here, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Document id.
    pub document_id: String,
    /// The latest version.
    pub latest: FileVersion,
    /// Every version, oldest first.
    pub versions: Vec<FileVersion>,
}

/// An upload that has not finished (see [`SealroomClient::resume_upload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub struct FilePolicy {
    /// Allowed media types (as [`sniff`] names them); empty allows every type.
    pub allowed_media_types: Vec<String>,
    /// Largest plaintext size in bytes; `None` for no limit (the relay's quota still applies).
    pub max_size: Option<u64>,
}

/// An upload in progress (push API: [`SealroomClient::start_upload`],
/// [`SealroomClient::upload_push`], [`SealroomClient::upload_finish`]).
pub struct FileUpload {
    state: UploadState,
    key: format::FileKey,
    sealer: Option<Sealer>,
    plain_hash: Sha256,
    sealed_hash: Sha256,
    /// Sealed bytes produced so far, and the unsent ones (starting at `pending_start`).
    produced: u64,
    pending: Vec<u8>,
    pending_start: u64,
    checkpoint_checked: bool,
    read_total: u64,
    relay_offset: u64,
}

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileUpload")
            .field("upload_id", &self.state.blob_id)
            .field("pushed", &self.read_total)
            .field("source_len", &self.state.source_len)
            .finish_non_exhaustive()
    }
}

impl FileUpload {
    /// The upload id (for [`SealroomClient::resume_upload_session`] after a restart).
    pub fn upload_id(&self) -> &str {
        &self.state.blob_id
    }
}

impl Drop for FileUpload {
    fn drop(&mut self) {
        self.pending.zeroize();
    }
}

/// Persisted state of one upload. Holds the file key: it only lives in the encrypted store.
#[derive(Serialize, Deserialize)]
struct UploadState {
    blob_id: String,
    space_id: String,
    internal: bool,
    relay_id: String,
    /// File key (hex).
    key: String,
    /// Header salt (hex).
    salt: String,
    document_id: String,
    name: String,
    media_type: String,
    created: u64,
    thread_id: Option<String>,
    source_len: u64,
    sealed_len: u64,
    /// Sealed bytes acknowledged at the last checkpoint, and SHA-256 (hex) of them.
    acked: u64,
    acked_digest: String,
}

impl Drop for UploadState {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl UploadState {
    fn storage_key(&self) -> String {
        format!("{UPLOAD_PREFIX}{}", self.blob_id)
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            name: self.name.clone(),
            media_type: self.media_type.clone(),
            classification: String::new(),
            created: self.created,
            length: Some(self.source_len),
        }
    }

    fn file_key(&self) -> Result<format::FileKey, ClientError> {
        Ok(format::FileKey::from_bytes(hex32(&self.key)?))
    }

    fn salt(&self) -> Result<[u8; SALT_LEN], ClientError> {
        let mut salt = [0u8; SALT_LEN];
        hex::decode_to_slice(&self.salt, &mut salt)
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))?;
        Ok(salt)
    }
}

/// A file key this device holds, with where the file lives.
#[derive(Serialize, Deserialize)]
struct KeyRecord {
    /// File key (hex).
    key: String,
    relay_id: String,
    space_id: String,
    manifest_id: String,
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The sealed part of a manifest blob.
#[derive(Serialize, Deserialize)]
struct Manifest {
    document_id: String,
    version: u64,
    name: String,
    media_type: String,
    size: u64,
    digest: String,
    sender_user_id: String,
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
    let chunk = CHUNK_SIZE as u64;
    let count = if len == 0 { 1 } else { len.div_ceil(chunk) };
    header_len as u64 + len + count * AEAD_TAG
}

/// Plaintext length and chunk count of a sealed body of `body_len` bytes.
fn plain_layout(body_len: u64) -> Result<(u64, u64), ClientError> {
    let count = body_len.div_ceil(SEALED_CHUNK_SIZE as u64).max(1);
    let plain = body_len
        .checked_sub(count * AEAD_TAG)
        .ok_or(ClientError::Format(format::FormatError::Truncated))?;
    Ok((plain, count))
}

fn blob_path(relay_id: &str, blob_id: &str) -> String {
    format!("/v1/rooms/{relay_id}/blobs/{blob_id}")
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> Result<usize, ClientError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

/// A short pause between retries (native only; the browser's fetch has its own back-off).
fn back_off(attempt: u32) {
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::sleep(std::time::Duration::from_millis(20 * u64::from(attempt)));
    #[cfg(target_arch = "wasm32")]
    let _ = attempt;
}

/// Turns a File or Document content from the room into index entries (called from `sync`).
pub(super) fn translate_content(
    content: &Content,
    sender_user_id: &str,
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

/// Splits a manifest blob into target file id, wrapped key and sealed manifest.
fn parse_manifest(bytes: &[u8]) -> Option<(String, &[u8], &[u8])> {
    if bytes.len() < 4 + 32 + 2 || &bytes[..4] != MANIFEST_MAGIC {
        return None;
    }
    let file_id = std::str::from_utf8(&bytes[4..36]).ok()?.to_owned();
    let wlen = u16::from_be_bytes([bytes[36], bytes[37]]) as usize;
    let wrapped = bytes.get(38..38 + wlen)?;
    let sealed = bytes.get(38 + wlen..)?;
    Some((file_id, wrapped, sealed))
}

/// A download in progress (see [`SealroomClient::start_download`]). Holds the file key; it
/// is wiped when the download is dropped.
pub struct Download {
    relay_id: String,
    file_id: String,
    key: format::FileKey,
    sealed_len: u64,
    total: Option<u64>,
    done: u64,
    finished: bool,
    entry: FileVersion,
    mode: Mode,
}

enum Mode {
    Whole {
        opener: Box<Opener>,
        hash: Sha256,
        fetched: u64,
    },
    Range {
        header: Vec<u8>,
        header_len: u64,
        last_start: u64,
        last: Vec<u8>,
        pos: u64,
        end: u64,
    },
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("file_id", &self.file_id)
            .field("done", &self.done)
            .field("total", &self.total)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Plaintext bytes delivered so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Plaintext bytes this download delivers: the range length, or the file's length once
    /// the sealed metadata was read (`None` before the first piece for whole files).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Whether every byte was delivered and checked.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The file version being downloaded; after a whole-file download finished, with the
    /// name and media type from the sealed metadata and the exact size.
    pub fn version(&self) -> &FileVersion {
        &self.entry
    }
}

/// A `Read + Seek` view of a sealed file of which only some byte ranges were fetched; reading
/// elsewhere fails. Lets [`format::open_range`] work on ranges fetched over HTTP.
struct Sparse {
    len: u64,
    pos: u64,
    parts: Vec<(u64, Vec<u8>)>,
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        for (start, bytes) in &self.parts {
            let end = start + bytes.len() as u64;
            if self.pos >= *start && self.pos < end {
                let from = (self.pos - start) as usize;
                let n = buf.len().min(bytes.len() - from);
                buf[..n].copy_from_slice(&bytes[from..from + n]);
                self.pos += n as u64;
                return Ok(n);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "range not fetched",
        ))
    }
}

impl Seek for Sparse {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        Ok(self.pos)
    }
}

impl Drop for Sparse {
    fn drop(&mut self) {
        // Only ciphertext, but cheap to clear.
        self.parts.clear();
    }
}

impl SealroomClient {
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

    // ----- upload ------------------------------------------------------------------------

    /// Uploads `source` (exactly `len` bytes) as a new document or as a new version of
    /// `file.document_id`, then announces it in the space's room. `progress(done, total)` is
    /// called with sealed bytes the relay has acknowledged.
    ///
    /// The media type is sniffed from the content and checked against the space's policy
    /// before anything is encrypted ([`ClientError::Policy`]). On a network failure that
    /// retries do not overcome, the upload stays pending: see
    /// [`SealroomClient::resume_upload`]. The stream is read with blocking reads.
    pub async fn upload_file<R, P>(
        &self,
        space_id: &str,
        file: &NewFile,
        len: u64,
        mut source: R,
        mut progress: P,
    ) -> Result<FileVersion, ClientError>
    where
        R: Read + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        let mut prefix = Zeroizing::new(vec![
            0u8;
            SNIFF_LEN
                .min(usize::try_from(len).unwrap_or(SNIFF_LEN))
        ]);
        let got = read_full(&mut source, &mut prefix)?;
        prefix.truncate(got);
        let mut upload = self.start_upload(space_id, file, len, &prefix).await?;
        self.upload_push(&mut upload, &prefix, &mut progress)
            .await?;
        self.pump(&mut upload, &mut source, &mut progress).await?;
        self.upload_finish(upload, &mut progress).await
    }

    /// Push API, step 1 (for hosts that hand over chunks, e.g. the WASM and native bindings):
    /// checks the policy on `prefix` (the file's first `min(len, SNIFF_LEN)` bytes, which the
    /// caller then passes to [`SealroomClient::upload_push`] like every other byte), creates the
    /// blob and persists the upload state. Then push the whole file in order with
    /// [`SealroomClient::upload_push`] and end with [`SealroomClient::upload_finish`].
    pub async fn start_upload(
        &self,
        space_id: &str,
        file: &NewFile,
        len: u64,
        prefix: &[u8],
    ) -> Result<FileUpload, ClientError> {
        if file.name.is_empty() {
            return Err(ClientError::InvalidInput("a file needs a name".into()));
        }
        let record = self.space_room(space_id, file.internal)?;
        if record.removed {
            return Err(ClientError::RemovedFromSpace(space_id.to_owned()));
        }
        // Policy first, on the sniffed type.
        let want = SNIFF_LEN.min(usize::try_from(len).unwrap_or(SNIFF_LEN));
        if prefix.len() < want {
            return Err(ClientError::InvalidInput(format!(
                "start an upload with the first {want} bytes of the file"
            )));
        }
        let media_type = sniff(prefix, prefix.len() as u64 == len);
        let policy = self.file_policy(space_id)?;
        if !policy.allowed_media_types.is_empty()
            && !policy.allowed_media_types.iter().any(|t| t == media_type)
        {
            return Err(ClientError::Policy(format!(
                "media type {media_type} is not allowed in this space"
            )));
        }
        if policy.max_size.is_some_and(|max| len > max) {
            return Err(ClientError::Policy(format!(
                "{len} bytes exceed the space's limit"
            )));
        }
        if let Some(doc) = &file.document_id {
            let known =
                self.with(|r| Ok(r.rooms.document_version(&record.core_id()?, doc)?.is_some()))?;
            if !known {
                return Err(ClientError::Unknown {
                    what: "document",
                    id: doc.clone(),
                });
            }
        }

        let key = format::FileKey::generate()?;
        let mut salt = [0u8; SALT_LEN];
        crate::primitives::fill_random(&mut salt).map_err(|_| format::FormatError::Random)?;
        let created = self.api.now().max(0) as u64;
        let mut state = UploadState {
            blob_id: String::new(),
            space_id: space_id.to_owned(),
            internal: file.internal,
            relay_id: record.relay_id.clone(),
            key: hex::encode(key.expose_bytes()),
            salt: hex::encode(salt),
            document_id: file.document_id.clone().unwrap_or_else(random_id),
            name: file.name.clone(),
            media_type: media_type.to_owned(),
            created,
            thread_id: file.thread_id.clone(),
            source_len: len,
            sealed_len: 0,
            acked: 0,
            acked_digest: hex::encode(Sha256::digest([])),
        };
        let (_, header) = Sealer::new_with_salt(&key, &state.metadata(), &salt)?;
        state.sealed_len = sealed_len(header.len(), len);
        let created: BlobStatus = self
            .signed_json(Call::json(
                "POST",
                format!("/v1/rooms/{}/blobs", record.relay_id),
                &CreateBlobRequest {
                    length: state.sealed_len,
                },
            )?)
            .await?;
        state.blob_id = created.blob_id;
        let write = (state.storage_key(), Some(to_json(&state)?));
        self.with(|r| Ok(r.rooms.app_commit(vec![write])?))?;
        self.open_session(state).await
    }

    /// Uploads that have not finished (for example after an app restart).
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>, ClientError> {
        self.with(|r| {
            let mut out = Vec::new();
            for key in r.rooms.app_keys(UPLOAD_PREFIX)? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    let s: UploadState = from_json(&bytes)?;
                    out.push(PendingUpload {
                        upload_id: s.blob_id.clone(),
                        space_id: s.space_id.clone(),
                        name: s.name.clone(),
                        document_id: s.document_id.clone(),
                        source_len: s.source_len,
                        uploaded: s.acked,
                        sealed_len: s.sealed_len,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Continues a pending upload with the same source from its beginning (it is re-sealed
    /// identically and only what the relay lacks is sent), then announces the file.
    pub async fn resume_upload<R, P>(
        &self,
        upload_id: &str,
        mut source: R,
        mut progress: P,
    ) -> Result<FileVersion, ClientError>
    where
        R: Read + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        let mut upload = self.resume_upload_session(upload_id).await?;
        progress(upload.relay_offset, upload.state.sealed_len);
        self.pump(&mut upload, &mut source, &mut progress).await?;
        self.upload_finish(upload, &mut progress).await
    }

    /// Push API after a restart: reopens a pending upload; push the source again from its
    /// first byte ([`SealroomClient::upload_push`]) and finish. Bytes the relay already holds
    /// are re-sealed identically and checked against the checkpoint, not sent again.
    pub async fn resume_upload_session(&self, upload_id: &str) -> Result<FileUpload, ClientError> {
        let state = self.load_upload(upload_id)?;
        self.open_session(state).await
    }

    /// Abandons a pending upload: the relay's partial blob and the local state are deleted.
    pub async fn cancel_upload(&self, upload_id: &str) -> Result<(), ClientError> {
        let state = self.load_upload(upload_id)?;
        let response = self
            .signed_raw(Call::delete(blob_path(&state.relay_id, &state.blob_id)))
            .await?;
        if !(200..300).contains(&response.status) && response.status != 404 {
            return Err(relay_error(&response));
        }
        let key = state.storage_key();
        self.with(|r| Ok(r.rooms.app_commit(vec![(key, None)])?))
    }

    fn load_upload(&self, upload_id: &str) -> Result<UploadState, ClientError> {
        self.with(
            |r| match r.rooms.app_get(&format!("{UPLOAD_PREFIX}{upload_id}"))? {
                Some(bytes) => from_json(&bytes),
                None => Err(ClientError::Unknown {
                    what: "upload",
                    id: upload_id.to_owned(),
                }),
            },
        )
    }

    /// The relay's offset of a blob (retrying transport failures).
    async fn blob_offset(&self, relay_id: &str, blob_id: &str) -> Result<u64, ClientError> {
        let mut attempt = 0;
        loop {
            let call = Call {
                method: "HEAD",
                ..Call::get(blob_path(relay_id, blob_id))
            };
            match self.signed_raw(call).await {
                Ok(response) if response.status == 200 => {
                    return response
                        .header("upload-offset")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| ClientError::Protocol("HEAD without Upload-Offset".into()));
                }
                Ok(response) => return Err(relay_error(&response)),
                Err(ClientError::Transport(e)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    back_off(attempt);
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `bytes` (sealed offset `start`) to the relay, retrying from the relay's offset
    /// after failures. Returns the new offset.
    async fn send_chunk(
        &self,
        state: &UploadState,
        start: u64,
        bytes: &[u8],
    ) -> Result<u64, ClientError> {
        let end = start + bytes.len() as u64;
        let mut from = start;
        let mut attempt = 0;
        while from < end {
            let body = bytes[(from - start) as usize..].to_vec();
            let checksum = format!("sha256 {}", super::b64(&Sha256::digest(&body)));
            let mut call = Call::raw("PATCH", blob_path(&state.relay_id, &state.blob_id), body);
            call.headers.extend([
                (
                    "content-type".to_owned(),
                    "application/offset+octet-stream".to_owned(),
                ),
                ("upload-offset".to_owned(), from.to_string()),
                ("upload-checksum".to_owned(), checksum),
            ]);
            let failure = match self.signed_raw(call).await {
                Ok(response) if (200..300).contains(&response.status) => {
                    from = response
                        .header("upload-offset")
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(end);
                    attempt = 0;
                    continue;
                }
                Ok(response) if response.status == 409 => relay_error(&response),
                Ok(response) => return Err(relay_error(&response)),
                Err(e @ ClientError::Transport(_)) => e,
                Err(e) => return Err(e),
            };
            attempt += 1;
            if attempt > ATTEMPTS {
                return Err(failure);
            }
            back_off(attempt);
            let offset = self.blob_offset(&state.relay_id, &state.blob_id).await?;
            if offset < start || offset > end {
                return Err(ClientError::Protocol(format!(
                    "the relay's offset {offset} is outside the chunk {start}..{end}"
                )));
            }
            from = offset;
        }
        Ok(end)
    }

    async fn open_session(&self, state: UploadState) -> Result<FileUpload, ClientError> {
        let key = state.file_key()?;
        let (sealer, header) = Sealer::new_with_salt(&key, &state.metadata(), &state.salt()?)?;
        let relay_offset = self.blob_offset(&state.relay_id, &state.blob_id).await?;
        if relay_offset < state.acked {
            return Err(ClientError::Protocol(
                "the relay lost acknowledged upload bytes".into(),
            ));
        }
        let mut upload = FileUpload {
            checkpoint_checked: state.acked == 0,
            state,
            key,
            sealer: Some(sealer),
            plain_hash: Sha256::new(),
            sealed_hash: Sha256::new(),
            produced: 0,
            pending: Vec::with_capacity(UPLOAD_CHUNK + READ_PIECE + 1024),
            pending_start: 0,
            read_total: 0,
            relay_offset,
        };
        let mut none = |_: u64, _: u64| {};
        self.absorb(&mut upload, header, false, &mut none).await?;
        Ok(upload)
    }

    /// Reads `source` to its end and pushes it.
    async fn pump<R: Read + ?Sized, P: FnMut(u64, u64) + ?Sized>(
        &self,
        upload: &mut FileUpload,
        source: &mut R,
        progress: &mut P,
    ) -> Result<(), ClientError> {
        let mut piece = Zeroizing::new(vec![0u8; READ_PIECE]);
        loop {
            let n = read_full(source, &mut piece[..])?;
            if n == 0 {
                return Ok(());
            }
            self.upload_push(upload, &piece[..n], progress).await?;
        }
    }

    /// Push API, step 2: the next plaintext bytes of the file, in order (any size; memory stays
    /// at a few chunks). `progress(done, total)` counts sealed bytes the relay acknowledged.
    pub async fn upload_push<P: FnMut(u64, u64) + ?Sized>(
        &self,
        upload: &mut FileUpload,
        data: &[u8],
        progress: &mut P,
    ) -> Result<(), ClientError> {
        for piece in data.chunks(READ_PIECE) {
            upload.read_total += piece.len() as u64;
            if upload.read_total > upload.state.source_len {
                return Err(ClientError::InvalidInput(
                    "the source is longer than announced".into(),
                ));
            }
            upload.plain_hash.update(piece);
            let mut emit = Vec::with_capacity(piece.len() + piece.len() / CHUNK_SIZE * 16 + 16);
            match upload.sealer.as_mut() {
                Some(s) => s.push_into(piece, &mut emit)?,
                None => return Err(ClientError::Format(format::FormatError::Internal)),
            }
            self.absorb(upload, emit, false, progress).await?;
        }
        Ok(())
    }

    /// Push API, step 3: seals the final chunk, sends the rest, then writes the manifest,
    /// announces the file in the room and indexes it.
    pub async fn upload_finish<P: FnMut(u64, u64) + ?Sized>(
        &self,
        mut upload: FileUpload,
        progress: &mut P,
    ) -> Result<FileVersion, ClientError> {
        if upload.read_total != upload.state.source_len {
            return Err(ClientError::InvalidInput(
                "the source is shorter than announced".into(),
            ));
        }
        let emit = match upload.sealer.take() {
            Some(s) => s.finish()?,
            None => return Err(ClientError::Format(format::FormatError::Internal)),
        };
        self.absorb(&mut upload, emit, true, progress).await?;
        if upload.produced != upload.state.sealed_len {
            return Err(ClientError::Protocol(
                "sealed length differs from the announced length".into(),
            ));
        }
        let digest: [u8; 32] = std::mem::take(&mut upload.plain_hash).finalize().into();
        self.announce(&upload.state, &upload.key, digest).await
    }

    /// Accounts newly sealed bytes (hash, checkpoint check, buffer) and sends full chunks, or
    /// everything when `finished`; checkpoints each acknowledged chunk in the store.
    async fn absorb<P: FnMut(u64, u64) + ?Sized>(
        &self,
        up: &mut FileUpload,
        mut emit: Vec<u8>,
        finished: bool,
        progress: &mut P,
    ) -> Result<(), ClientError> {
        let mut bytes: &[u8] = &emit;
        while !bytes.is_empty() {
            if !up.checkpoint_checked {
                let need = (up.state.acked - up.produced) as usize;
                let take = need.min(bytes.len());
                up.sealed_hash.update(&bytes[..take]);
                up.produced += take as u64;
                bytes = &bytes[take..];
                if up.produced == up.state.acked {
                    let digest = hex::encode(up.sealed_hash.clone().finalize());
                    if digest != up.state.acked_digest {
                        return Err(ClientError::InvalidInput(
                            "the source differs from the one this upload started with".into(),
                        ));
                    }
                    up.checkpoint_checked = true;
                }
                continue;
            }
            up.sealed_hash.update(bytes);
            if up.pending.is_empty() {
                up.pending_start = up.produced;
            }
            up.pending.extend_from_slice(bytes);
            up.produced += bytes.len() as u64;
            bytes = &[];
        }
        emit.zeroize();
        if up.pending.len() >= UPLOAD_CHUNK || (finished && !up.pending.is_empty()) {
            let end = up.pending_start + up.pending.len() as u64;
            if end > up.relay_offset {
                let skip = up.relay_offset.saturating_sub(up.pending_start) as usize;
                self.send_chunk(
                    &up.state,
                    up.pending_start + skip as u64,
                    &up.pending[skip..],
                )
                .await?;
                up.relay_offset = end;
                // Checkpoint: the relay holds `end` bytes whose digest is known.
                up.state.acked = end;
                up.state.acked_digest = hex::encode(up.sealed_hash.clone().finalize());
                let write = (up.state.storage_key(), Some(to_json(&up.state)?));
                self.with(|r| Ok(r.rooms.app_commit(vec![write])?))?;
                progress(end, up.state.sealed_len);
            }
            up.pending.clear();
        }
        Ok(())
    }

    /// Writes the manifest blob, posts the File and Document contents, indexes the version
    /// and forgets the upload state.
    async fn announce(
        &self,
        state: &UploadState,
        key: &format::FileKey,
        digest: [u8; 32],
    ) -> Result<FileVersion, ClientError> {
        let record = self.with(|r| load_record(&r.rooms, &state.relay_id))?;
        let room_id = record.core_id()?;
        let account: Account = self.account()?;
        let room_key = room::FileKey::from_bytes(key.expose_bytes());
        let version = self.with(|r| {
            Ok(r.rooms
                .document_version(&room_id, &state.document_id)?
                .unwrap_or(0)
                + 1)
        })?;
        let manifest = Manifest {
            document_id: state.document_id.clone(),
            version,
            name: state.name.clone(),
            media_type: state.media_type.clone(),
            size: state.source_len,
            digest: hex::encode(digest),
            sender_user_id: account.user_id.clone(),
        };
        let wrapped =
            self.with(|r| Ok(r.rooms.wrap_file_key(&room_id, &state.blob_id, &room_key)?))?;
        let manifest_json = Zeroizing::new(to_json(&manifest)?);
        let sealed_manifest = format::seal(key, &Metadata::default(), &manifest_json)?;
        let mut blob = MANIFEST_MAGIC.to_vec();
        blob.extend_from_slice(state.blob_id.as_bytes());
        blob.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
        blob.extend_from_slice(&wrapped);
        blob.extend_from_slice(&sealed_manifest);
        let manifest_id = self.put_small_blob(&state.relay_id, blob).await?;

        let label = if state.internal {
            Label::Internal
        } else {
            Label::Customer
        };
        let file = Content::File(FileAnnouncement {
            file_id: state.blob_id.clone(),
            file_key: room_key.clone(),
            metadata_ref: manifest_id.clone(),
            thread_id: state.thread_id.clone(),
        });
        let document = Content::Document(DocumentVersion {
            document_id: state.document_id.clone(),
            version,
            content_digest: digest,
            file_id: Some(state.blob_id.clone()),
            author_signature: Vec::new(),
        });
        let file_msg = self.with(|r| Ok(r.rooms.post(&room_id, label, file)?))?;
        self.send_message_bytes(&state.relay_id, &file_msg, None)
            .await?;
        let doc_msg = self.with(|r| Ok(r.rooms.post(&room_id, label, document)?))?;
        self.send_message_bytes(&state.relay_id, &doc_msg, None)
            .await?;

        let entry = FileVersion {
            space_id: state.space_id.clone(),
            internal: state.internal,
            document_id: state.document_id.clone(),
            version,
            file_id: state.blob_id.clone(),
            name: state.name.clone(),
            media_type: state.media_type.clone(),
            size: state.source_len,
            digest: hex::encode(digest),
            sender_user_id: account.user_id,
            latest: true,
        };
        let key_record = KeyRecord {
            key: state.key.clone(),
            relay_id: state.relay_id.clone(),
            space_id: state.space_id.clone(),
            manifest_id: manifest_id.clone(),
        };
        let writes = vec![
            (
                index_key(&state.space_id, &state.document_id, version),
                Some(to_json(&entry)?),
            ),
            (key_key(&state.blob_id), Some(to_json(&key_record)?)),
            (
                format!("{MANIFEST_SEEN_PREFIX}{manifest_id}"),
                Some(Vec::new()),
            ),
            (state.storage_key(), None),
        ];
        self.with(|r| Ok(r.rooms.app_commit(writes)?))?;
        Ok(entry)
    }

    /// Creates and fills a small blob in one request; returns its id.
    async fn put_small_blob(&self, relay_id: &str, bytes: Vec<u8>) -> Result<String, ClientError> {
        let created: BlobStatus = self
            .signed_json(Call::json(
                "POST",
                format!("/v1/rooms/{relay_id}/blobs"),
                &CreateBlobRequest {
                    length: bytes.len() as u64,
                },
            )?)
            .await?;
        let state_like = UploadState {
            blob_id: created.blob_id.clone(),
            space_id: String::new(),
            internal: false,
            relay_id: relay_id.to_owned(),
            key: String::new(),
            salt: String::new(),
            document_id: String::new(),
            name: String::new(),
            media_type: String::new(),
            created: 0,
            thread_id: None,
            source_len: 0,
            sealed_len: bytes.len() as u64,
            acked: 0,
            acked_digest: String::new(),
        };
        self.send_chunk(&state_like, 0, &bytes).await?;
        Ok(created.blob_id)
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
        Ok(out)
    }

    /// The documents of a space with their versions (see [`SealroomClient::files`]).
    pub fn documents(&self, space_id: &str) -> Result<Vec<Document>, ClientError> {
        let mut docs: BTreeMap<String, Vec<FileVersion>> = BTreeMap::new();
        for f in self.files(space_id)? {
            docs.entry(f.document_id.clone()).or_default().push(f);
        }
        Ok(docs
            .into_iter()
            .filter_map(|(document_id, versions)| {
                let latest = versions.last()?.clone();
                Some(Document {
                    document_id,
                    latest,
                    versions,
                })
            })
            .collect())
    }

    /// Brings the space's file index up to date with the relay: reads the manifests of files
    /// this device does not know yet (documents posted before it joined, opened with the
    /// room's history keys) or knows without a name, and drops files whose blobs are gone.
    /// Returns the events for files that became known.
    pub async fn refresh_files(&self, space_id: &str) -> Result<Vec<ClientEvent>, ClientError> {
        let mut events = Vec::new();
        let records: Vec<RoomRecord> = self
            .room_records()?
            .into_iter()
            .filter(|r| r.space_id == space_id && !r.removed)
            .collect();
        for record in records {
            let list: BlobList = self
                .signed_json(Call::get(format!("/v1/rooms/{}/blobs", record.relay_id)))
                .await?;
            let present: std::collections::BTreeSet<&str> =
                list.blobs.iter().map(|b| b.blob_id.as_str()).collect();
            // Drop index entries of deleted files.
            let stale = self.with(|r| {
                let mut writes = Vec::new();
                for key in r.rooms.app_keys(&format!("{INDEX_PREFIX}{space_id}/"))? {
                    let Some(bytes) = r.rooms.app_get(&key)? else {
                        continue;
                    };
                    let f: FileVersion = from_json(&bytes)?;
                    if f.internal == record.internal && !present.contains(f.file_id.as_str()) {
                        writes.push((key, None));
                        writes.push((key_key(&f.file_id), None));
                    }
                }
                Ok(writes)
            })?;
            if !stale.is_empty() {
                self.with(|r| Ok(r.rooms.app_commit(stale)?))?;
            }
            for blob in &list.blobs {
                if !blob.complete || blob.length > MANIFEST_MAX {
                    continue;
                }
                let seen = self.with(|r| {
                    Ok(r.rooms
                        .app_get(&format!("{MANIFEST_SEEN_PREFIX}{}", blob.blob_id))?
                        .is_some())
                })?;
                if seen {
                    continue;
                }
                let bytes = self
                    .get_range(&record.relay_id, &blob.blob_id, None)
                    .await?;
                if let Some(ev) = self.import_manifest(&record, &blob.blob_id, &bytes)? {
                    events.push(ev);
                }
            }
        }
        Ok(events)
    }

    /// Reads one manifest blob; unusable blobs (not a manifest, key not available to this
    /// device) are remembered as seen and skipped.
    fn import_manifest(
        &self,
        record: &RoomRecord,
        manifest_id: &str,
        bytes: &[u8],
    ) -> Result<Option<ClientEvent>, ClientError> {
        let seen = (
            format!("{MANIFEST_SEEN_PREFIX}{manifest_id}"),
            Some(Vec::new()),
        );
        let Some((file_id, wrapped, sealed)) = parse_manifest(bytes) else {
            self.with(|r| Ok(r.rooms.app_commit(vec![seen])?))?;
            return Ok(None);
        };
        let room_id = record.core_id()?;
        let unwrapped =
            self.with(
                |r| match r.rooms.unwrap_file_key(&room_id, &file_id, wrapped) {
                    Ok(k) => Ok(Some(k)),
                    Err(RoomError::KeyUnavailable | RoomError::Decrypt) => Ok(None),
                    Err(e) => Err(e.into()),
                },
            )?;
        let Some(room_key) = unwrapped else {
            // Not for this device (removed before the key existed) or not yet: leave unseen
            // only when history keys may still arrive.
            return Ok(None);
        };
        let key = format::FileKey::from_bytes(room_key.expose_bytes());
        let manifest: Manifest = match format::open(&key, sealed) {
            Ok((_, json)) => {
                let json = Zeroizing::new(json);
                from_json(&json)?
            }
            Err(_) => {
                self.with(|r| Ok(r.rooms.app_commit(vec![seen])?))?;
                return Ok(None);
            }
        };
        let existing = index_key(&record.space_id, &manifest.document_id, manifest.version);
        let known = self.with(|r| Ok(r.rooms.app_get(&existing)?))?;
        let is_new = known.is_none();
        if let Some(bytes) = &known {
            let f: FileVersion = from_json(bytes)?;
            if f.file_id != file_id {
                // The room's announcement wins over a manifest naming another file.
                self.with(|r| Ok(r.rooms.app_commit(vec![seen])?))?;
                return Ok(None);
            }
        }
        let entry = FileVersion {
            space_id: record.space_id.clone(),
            internal: record.internal,
            document_id: manifest.document_id.clone(),
            version: manifest.version,
            file_id: file_id.clone(),
            name: manifest.name.clone(),
            media_type: manifest.media_type.clone(),
            size: manifest.size,
            digest: manifest.digest.clone(),
            sender_user_id: manifest.sender_user_id.clone(),
            latest: false,
        };
        let key_record = KeyRecord {
            key: hex::encode(key.expose_bytes()),
            relay_id: record.relay_id.clone(),
            space_id: record.space_id.clone(),
            manifest_id: manifest_id.to_owned(),
        };
        let writes = vec![
            (existing, Some(to_json(&entry)?)),
            (key_key(&file_id), Some(to_json(&key_record)?)),
            seen,
        ];
        self.with(|r| Ok(r.rooms.app_commit(writes)?))?;
        Ok(is_new.then(|| {
            ClientEvent::file(
                &record.space_id,
                file_id,
                manifest.document_id,
                manifest.version,
            )
        }))
    }

    // ----- download ----------------------------------------------------------------------

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

    /// GETs a blob, or `range` (`start..end`, exclusive) of it.
    async fn get_range(
        &self,
        relay_id: &str,
        blob_id: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut attempt = 0;
        loop {
            let mut call = Call::get(blob_path(relay_id, blob_id));
            if let Some((start, end)) = range {
                call.headers
                    .push(("range".into(), format!("bytes={start}-{}", end - 1)));
            }
            match self.signed_raw(call).await {
                Ok(response) if (200..300).contains(&response.status) => {
                    if let Some((start, end)) = range {
                        if response.body.len() as u64 != end - start {
                            return Err(ClientError::Protocol("short range from the relay".into()));
                        }
                    }
                    return Ok(response.body);
                }
                Ok(response) => return Err(relay_error(&response)),
                Err(ClientError::Transport(_)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    back_off(attempt);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a pull-style download of a file version: the whole file (`range: None`) or
    /// `len` plaintext bytes from `offset` (`range: Some((offset, len))`). Then call
    /// [`SealroomClient::download_next`] until it returns `None`. Hosts that hand out chunks
    /// (a browser `ReadableStream`, a mobile byte sink) use this; Rust callers with a
    /// [`Write`] use [`SealroomClient::download_file`] or [`SealroomClient::download_range`].
    ///
    /// Whole files are fetched in ranged requests of [`UPLOAD_CHUNK`] sealed bytes and their
    /// announced SHA-256 is checked at the end: the last `download_next` call fails if it does
    /// not match. For a range only the sealed header, the final chunk (which proves the file
    /// complete) and the chunks holding the range are fetched.
    pub async fn start_download(
        &self,
        space_id: &str,
        file_id: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Download, ClientError> {
        let rec = self.key_record(space_id, file_id)?;
        let key = format::FileKey::from_bytes(hex32(&rec.key)?);
        let entry = self
            .version_of(space_id, file_id)?
            .ok_or_else(|| ClientError::Unknown {
                what: "file",
                id: file_id.to_owned(),
            })?;
        let total = self.blob_length(&rec.relay_id, file_id).await?;
        let mode = match range {
            None => Mode::Whole {
                opener: Box::new(Opener::new(&key)),
                hash: Sha256::new(),
                fetched: 0,
            },
            Some((offset, len)) => {
                let fixed = self
                    .get_range(&rec.relay_id, file_id, Some((0, HEADER_FIXED_LEN as u64)))
                    .await?;
                let block =
                    u16::from_be_bytes([fixed[HEADER_FIXED_LEN - 2], fixed[HEADER_FIXED_LEN - 1]]);
                let header_len = HEADER_FIXED_LEN as u64 + u64::from(block);
                let header = self
                    .get_range(&rec.relay_id, file_id, Some((0, header_len.min(total))))
                    .await?;
                let body_len = total
                    .checked_sub(header_len)
                    .ok_or(ClientError::Format(format::FormatError::Truncated))?;
                let (plain_len, count) = plain_layout(body_len)?;
                let end = offset
                    .checked_add(len)
                    .filter(|e| *e <= plain_len)
                    .ok_or(ClientError::Format(format::FormatError::RangeOutOfBounds))?;
                let last_start = header_len + (count - 1) * SEALED_CHUNK_SIZE as u64;
                let last = self
                    .get_range(&rec.relay_id, file_id, Some((last_start, total)))
                    .await?;
                Mode::Range {
                    header,
                    header_len,
                    last_start,
                    last,
                    pos: offset,
                    end,
                }
            }
        };
        Ok(Download {
            relay_id: rec.relay_id.clone(),
            file_id: file_id.to_owned(),
            key,
            sealed_len: total,
            total: range.map(|(_, len)| len),
            done: 0,
            finished: false,
            entry,
            mode,
        })
    }

    /// The next plaintext piece of a download started with [`SealroomClient::start_download`]
    /// (at most [`UPLOAD_CHUNK`] bytes), or `None` once everything was delivered and checked.
    /// Every piece is authenticated before it is returned; a whole-file download fails on its
    /// last call if the file's SHA-256 differs from the announced one.
    pub async fn download_next(
        &self,
        download: &mut Download,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        if download.finished {
            return Ok(None);
        }
        let d = download;
        let piece = match &mut d.mode {
            Mode::Whole {
                opener,
                hash,
                fetched,
            } => {
                let mut plain = Vec::new();
                if *fetched < d.sealed_len {
                    let end = (*fetched + UPLOAD_CHUNK as u64).min(d.sealed_len);
                    let sealed = self
                        .get_range(&d.relay_id, &d.file_id, Some((*fetched, end)))
                        .await?;
                    *fetched = end;
                    plain.reserve(sealed.len());
                    opener.push_into(&sealed, &mut plain)?;
                    if d.total.is_none() {
                        d.total = opener.metadata().and_then(|m| m.length);
                    }
                }
                if *fetched >= d.sealed_len {
                    let meta = opener.metadata().cloned();
                    let opener = std::mem::replace(opener, Box::new(Opener::new(&d.key)));
                    plain.extend_from_slice(&Zeroizing::new(opener.finish()?));
                    hash.update(&plain);
                    let digest = hex::encode(std::mem::take(hash).finalize());
                    if !d.entry.digest.is_empty() && d.entry.digest != digest {
                        return Err(ClientError::Format(format::FormatError::Decrypt));
                    }
                    if let Some(m) = meta {
                        d.entry.name = m.name;
                        d.entry.media_type = m.media_type;
                    }
                    d.finished = true;
                } else {
                    hash.update(&plain);
                }
                plain
            }
            Mode::Range {
                header,
                header_len,
                last_start,
                last,
                pos,
                end,
            } => {
                if *pos >= *end {
                    d.finished = true;
                    return Ok(None);
                }
                let chunk = CHUNK_SIZE as u64;
                let per_window = (UPLOAD_CHUNK / SEALED_CHUNK_SIZE).max(1) as u64;
                let first = *pos / chunk;
                let window_end = ((first + per_window) * chunk).min(*end);
                let last_index = (window_end - 1) / chunk;
                let from = *header_len + first * SEALED_CHUNK_SIZE as u64;
                let to =
                    (*header_len + (last_index + 1) * SEALED_CHUNK_SIZE as u64).min(d.sealed_len);
                let body = self
                    .get_range(&d.relay_id, &d.file_id, Some((from, to)))
                    .await?;
                let mut sparse = Sparse {
                    len: d.sealed_len,
                    pos: 0,
                    parts: vec![
                        (0, header.clone()),
                        (from, body),
                        (*last_start, last.clone()),
                    ],
                };
                let plain = format::open_range(&d.key, &mut sparse, *pos, window_end - *pos)?;
                *pos = window_end;
                if *pos >= *end {
                    d.finished = true;
                }
                plain
            }
        };
        d.done += piece.len() as u64;
        if d.finished {
            d.total = Some(d.total.unwrap_or(d.done));
            if matches!(d.mode, Mode::Whole { .. }) {
                d.entry.size = d.done;
            }
        }
        if piece.is_empty() && d.finished {
            return Ok(None);
        }
        Ok(Some(piece))
    }

    /// Downloads a whole file into `out` (see [`SealroomClient::start_download`]).
    /// `progress(done, total)` counts plaintext bytes. Returns the index entry with the sealed
    /// metadata's name and media type.
    pub async fn download_file<W, P>(
        &self,
        space_id: &str,
        file_id: &str,
        out: W,
        progress: P,
    ) -> Result<FileVersion, ClientError>
    where
        W: Write + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        let download = self.start_download(space_id, file_id, None).await?;
        Ok(self.pump_download(download, out, progress).await?.entry)
    }

    /// Downloads `len` plaintext bytes starting at `offset` into `out` (see
    /// [`SealroomClient::start_download`]).
    pub async fn download_range<W, P>(
        &self,
        space_id: &str,
        file_id: &str,
        offset: u64,
        len: u64,
        out: W,
        progress: P,
    ) -> Result<(), ClientError>
    where
        W: Write + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        let download = self
            .start_download(space_id, file_id, Some((offset, len)))
            .await?;
        self.pump_download(download, out, progress).await?;
        Ok(())
    }

    async fn pump_download<W, P>(
        &self,
        mut download: Download,
        mut out: W,
        mut progress: P,
    ) -> Result<Download, ClientError>
    where
        W: Write + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        progress(0, download.total().unwrap_or(0));
        while let Some(piece) = self.download_next(&mut download).await? {
            let piece = Zeroizing::new(piece);
            out.write_all(&piece)?;
            progress(download.done(), download.total().unwrap_or(0));
        }
        out.flush()?;
        progress(download.done(), download.total().unwrap_or(download.done()));
        Ok(download)
    }

    async fn blob_length(&self, relay_id: &str, blob_id: &str) -> Result<u64, ClientError> {
        let status: BlobStatus = self
            .signed_json(Call::get(format!(
                "{}/status",
                blob_path(relay_id, blob_id)
            )))
            .await?;
        if !status.complete {
            return Err(ClientError::Unknown {
                what: "complete file",
                id: blob_id.to_owned(),
            });
        }
        Ok(status.length)
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
            let body = sealed.len() as u64 - header.len() as u64;
            assert_eq!(plain_layout(body).unwrap().0, len);
        }
    }

    #[test]
    fn sparse_reader_serves_only_fetched_ranges() {
        let mut s = Sparse {
            len: 100,
            pos: 0,
            parts: vec![(0, vec![1, 2, 3]), (90, vec![9; 10])],
        };
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
        assert!(s.read(&mut buf).is_err());
        s.seek(SeekFrom::End(-2)).unwrap();
        let mut two = [0u8; 2];
        s.read_exact(&mut two).unwrap();
        assert_eq!(two, [9, 9]);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
}
