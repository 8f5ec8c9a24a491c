//! Upload: sealing the caller's stream chunk by chunk, resumable sends, and the announce.

use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use sealroom_wire::blobs::{BlobStatus, CreateBlobRequest};

use crate::format::{self, Metadata, Sealer, CHUNK_SIZE, SALT_LEN};
use crate::room::{self, Content, DocumentVersion, FileAnnouncement, Label};

use super::manifests::{Manifest, MANIFEST_VERSION};
use super::{
    blob_path, hex32, index_key, key_key, sealed_len, ClientError, FileVersion, KeyRecord, NewFile,
    PendingUpload, SealroomClient, ATTEMPTS, MANIFEST_MAGIC, MANIFEST_SEEN_PREFIX, READ_PIECE,
    UPLOAD_CHUNK, UPLOAD_PREFIX,
};
use crate::client::api::{relay_error, Call, Started};
use crate::client::labels::{Classification, FileAccess};
use crate::client::scan::ScanState;
use crate::client::sniff::{sniff, SNIFF_LEN};
use crate::client::transport::MaybeSend;
use crate::client::{from_json, load_record, random_id, to_json, Account};

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
    /// The append on its way to the relay, not yet acknowledged. At most one: appends reach
    /// the relay in order (each names its offset), and the next chunk is sealed meanwhile.
    in_flight: Option<Append>,
    /// A chunk buffer of an acknowledged append, reused for the next chunk.
    spare: Vec<u8>,
}

/// One started append: the sealed bytes `start..end` (kept for retries), the checkpoint
/// digest of the sealed bytes up to `end`, and the request.
struct Append {
    start: u64,
    bytes: Vec<u8>,
    /// Bytes at the front of `bytes` the relay already held (not sent).
    skip: usize,
    digest: String,
    request: Started,
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

    /// The plaintext length announced at the start.
    pub fn source_len(&self) -> u64 {
        self.state.source_len
    }
}

impl Drop for FileUpload {
    fn drop(&mut self) {
        self.pending.zeroize();
        self.spare.zeroize();
        if let Some(append) = &mut self.in_flight {
            append.bytes.zeroize();
        }
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
    /// Classification label (sealed, signed; empty in uploads of earlier SDKs).
    #[serde(default)]
    classification: String,
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
            classification: self.classification.clone(),
            created: self.created,
            length: Some(self.source_len),
        }
    }

    /// The signed label (`None` for uploads started by earlier SDKs).
    fn label(&self) -> Option<Classification> {
        (!self.classification.is_empty()).then(|| Classification::from_wire(&self.classification))
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

/// The append of `bytes` at sealed offset `from`. No `Upload-Checksum`: the request signature
/// already covers the SHA-256 of these exact bytes (`docs/api/signing.md`), which the relay
/// checks; a second digest of every chunk cost a quarter of the hashing of an upload in WASM.
fn append_call(state: &UploadState, from: u64, bytes: &[u8]) -> Call {
    let mut call = Call::raw(
        "PATCH",
        blob_path(&state.relay_id, &state.blob_id),
        bytes.to_vec(),
    );
    call.headers.extend([
        (
            "content-type".to_owned(),
            "application/offset+octet-stream".to_owned(),
        ),
        ("upload-offset".to_owned(), from.to_string()),
    ]);
    call
}

/// Runs two futures at once; both outputs once both are done.
async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(a), Some(b)) => std::task::Poll::Ready((a, b)),
            (a, b) => {
                (out_a, out_b) = (a, b);
                std::task::Poll::Pending
            }
        }
    })
    .await
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

impl SealroomClient {
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

        let (classification, holds) = self.upload_label(space_id, file)?;
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
            classification: classification.as_str().to_owned(),
        };
        let (_, header) = Sealer::new_with_salt(&key, &state.metadata(), &salt)?;
        state.sealed_len = sealed_len(header.len(), len);
        let created: BlobStatus = self
            .signed_json(Call::json(
                "POST",
                format!("/v1/rooms/{}/blobs", record.relay_id),
                &CreateBlobRequest {
                    length: state.sealed_len,
                    hold: holds.first().cloned(),
                    holds: holds.iter().skip(1).cloned().collect(),
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
    pub(super) async fn blob_offset(
        &self,
        relay_id: &str,
        blob_id: &str,
    ) -> Result<u64, ClientError> {
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
                    self.back_off(attempt).await;
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `bytes` (sealed offset `start`) to the relay, retrying from the relay's offset
    /// after failures. Returns the new offset. `first` is the answer to an append of all of
    /// `bytes` started earlier ([`SealroomClient::start_append`]), if there was one.
    async fn send_chunk(
        &self,
        state: &UploadState,
        start: u64,
        bytes: &[u8],
        mut first: Option<Started>,
    ) -> Result<u64, ClientError> {
        let end = start + bytes.len() as u64;
        let mut from = start;
        let mut attempt = 0;
        while from < end {
            let answer = match first.take() {
                Some(started) => started.response().await,
                None => {
                    let call = append_call(state, from, &bytes[(from - start) as usize..]);
                    self.signed_raw(call).await
                }
            };
            let failure = match answer {
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
            self.back_off(attempt).await;
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

    /// Starts the append of `bytes` (whose SHA-256 is `digest`) at sealed offset `from`
    /// without waiting for the answer.
    async fn start_append(
        &self,
        state: &UploadState,
        from: u64,
        bytes: &[u8],
        digest: String,
    ) -> Result<Started, ClientError> {
        let mut call = append_call(state, from, bytes);
        call.body_digest = Some(digest);
        self.signed_start(call).await
    }

    /// Waits for the append in flight, if any (retrying it from the relay's offset after a
    /// failure), then checkpoints: only an acknowledged append advances the resume state.
    async fn settle<P: FnMut(u64, u64) + ?Sized>(
        &self,
        up: &mut FileUpload,
        progress: &mut P,
    ) -> Result<(), ClientError> {
        let Some(mut append) = up.in_flight.take() else {
            return Ok(());
        };
        let from = append.start + append.skip as u64;
        let sent = self
            .send_chunk(
                &up.state,
                from,
                &append.bytes[append.skip..],
                Some(append.request),
            )
            .await;
        let end = append.start + append.bytes.len() as u64;
        // Sealed bytes only (ciphertext): cleared, not wiped.
        append.bytes.clear();
        if up.spare.capacity() < append.bytes.capacity() {
            up.spare = std::mem::take(&mut append.bytes);
        }
        sent?;
        // Checkpoint: the relay holds `end` bytes whose digest is known.
        up.state.acked = end;
        up.state.acked_digest = append.digest;
        let write = (up.state.storage_key(), Some(to_json(&up.state)?));
        self.with(|r| Ok(r.rooms.app_commit(vec![write])?))?;
        progress(end, up.state.sealed_len);
        Ok(())
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
            in_flight: None,
            spare: Vec::new(),
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
        let mut tail = match upload.sealer.take() {
            Some(s) => s.finish_steps()?,
            None => return Err(ClientError::Format(format::FormatError::Internal)),
        };
        // One sealed chunk at a time: the padding (up to 6.25 % of the file) is never held
        // whole. Full upload chunks are sent as they fill; the rest with the last piece.
        let mut next = tail.next_piece()?;
        while let Some(piece) = next {
            next = tail.next_piece()?;
            self.absorb(&mut upload, piece, next.is_none(), progress)
                .await?;
        }
        self.settle(&mut upload, progress).await?;
        if upload.produced != upload.state.sealed_len {
            return Err(ClientError::Protocol(
                "sealed length differs from the announced length".into(),
            ));
        }
        let digest: [u8; 32] = std::mem::take(&mut upload.plain_hash).finalize().into();
        self.announce(&upload.state, &upload.key, digest).await
    }

    /// Accounts newly sealed bytes (hash, checkpoint check, buffer) and starts the append of
    /// full chunks, or of everything when `finished`, once the previous append is
    /// acknowledged (and checkpointed in the store): the caller seals the next chunk while an
    /// append is on its way. [`SealroomClient::upload_finish`] waits for the last one.
    async fn absorb<P: FnMut(u64, u64) + ?Sized>(
        &self,
        up: &mut FileUpload,
        emit: Vec<u8>,
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
        // Sealed bytes (ciphertext) are dropped, not wiped: a byte-wise wipe of every sealed
        // byte cost several percent of an upload in WASM.
        drop(emit);
        if up.pending.len() >= UPLOAD_CHUNK || (finished && !up.pending.is_empty()) {
            let end = up.pending_start + up.pending.len() as u64;
            if end > up.relay_offset {
                let skip = up.relay_offset.saturating_sub(up.pending_start) as usize;
                let start = up.pending_start;
                let checkpoint = hex::encode(up.sealed_hash.clone().finalize());
                let mut next = std::mem::take(&mut up.spare);
                next.reserve(UPLOAD_CHUNK + READ_PIECE + 1024);
                let bytes = std::mem::replace(&mut up.pending, next);
                // In order: the previous append is acknowledged first (its bytes end where
                // these start); the signature's digest of these is computed meanwhile.
                let (settled, digest) = join(
                    self.settle(up, progress),
                    self.api.body_digest(&bytes[skip..]),
                )
                .await;
                settled?;
                let request = self
                    .start_append(&up.state, start + skip as u64, &bytes[skip..], digest)
                    .await?;
                up.in_flight = Some(Append {
                    start,
                    bytes,
                    skip,
                    digest: checkpoint,
                    request,
                });
                up.relay_offset = end;
            } else {
                up.pending.clear();
            }
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
        let mut manifest = Manifest {
            v: MANIFEST_VERSION,
            document_id: state.document_id.clone(),
            version,
            name: state.name.clone(),
            media_type: state.media_type.clone(),
            size: state.source_len,
            digest: hex::encode(digest),
            sender_user_id: account.user_id.clone(),
            org_id: account.org_id.clone(),
            device_id: account.device_id.clone(),
            signature: String::new(),
            classification: state.classification.clone(),
        };
        let signed = manifest.signed_bytes(room_id.as_str(), &state.blob_id);
        manifest.signature = hex::encode(self.with(|r| Ok(r.rooms.device().sign(&signed)))?);
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
            classification: state.label(),
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
            classification: state.label(),
            access: FileAccess::Open,
            released_by: Vec::new(),
            scan: ScanState::default(),
            received_at: Some(self.api.now().max(0) as u64),
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
                    hold: None,
                    holds: Vec::new(),
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
            classification: String::new(),
        };
        self.send_chunk(&state_like, 0, &bytes, None).await?;
        Ok(created.blob_id)
    }
}
