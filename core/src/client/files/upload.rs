//! Upload: sealing the caller's stream chunk by chunk and resumable sends (the announce at
//! the end: `announce.rs`; the resume checkpoint: `checkpoint.rs`).

use std::collections::VecDeque;
use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use sealroom_wire::blobs::{BlobStatus, CreateBlobRequest};

use crate::format::{self, Metadata, Sealer, CHUNK_SIZE, SALT_LEN};

use super::checkpoint::{chain_next, chain_start, CHECKPOINT_CHAIN, CHECKPOINT_SHA256, WINDOW};
use super::digest::{PieceRoot, PIECE};
use super::{
    blob_path, hex32, sealed_len, ClientError, FileVersion, NewFile, PendingUpload, SealroomClient,
    ATTEMPTS, READ_PIECE, UPLOAD_PREFIX,
};
use crate::client::api::{relay_error, Call, Started};
use crate::client::labels::Classification;
use crate::client::sniff::{sniff, SNIFF_LEN};
use crate::client::transport::MaybeSend;
use crate::client::HttpResponse;
use crate::client::{from_json, random_id, to_json};

/// An upload in progress (push API: [`SealroomClient::start_upload`],
/// [`SealroomClient::upload_push`], [`SealroomClient::upload_finish`]).
pub struct FileUpload {
    state: UploadState,
    key: format::FileKey,
    sealer: Option<Sealer>,
    /// The content digest ([`DigestKind::SealedPieces`](super::digest::DigestKind)) over the
    /// windows before `pending_start`: their SHA-256 are the ones the appends are signed with.
    sealed_digest: PieceRoot,
    /// Only when resuming a checkpoint of encoding 0 ([`CHECKPOINT_SHA256`]): the SHA-256 of
    /// the re-sealed bytes below `acked`, until it was compared.
    sealed_hash: Option<Sha256>,
    /// The checkpoint chain over the windows before `pending_start` ([`chain_next`]).
    chain: [u8; 32],
    /// Sealed bytes produced so far, and those of the current window (starting at
    /// `pending_start`, a window boundary).
    produced: u64,
    pending: Vec<u8>,
    pending_start: u64,
    read_total: u64,
    relay_offset: u64,
    /// The appends on their way to the relay, not yet acknowledged, oldest first: at most
    /// [`IN_FLIGHT`]. Each names its offset; the relay holds one that arrives before the
    /// previous one was stored until it was (`docs/relay.md`, "Appends ahead of the stored
    /// offset wait briefly"), and the next window is sealed meanwhile.
    in_flight: VecDeque<Append>,
    /// [`IN_FLIGHT`], or 1 once the relay refused an append for being ahead of its offset.
    in_flight_max: usize,
    /// A chunk buffer of an acknowledged append, reused for the next chunk.
    spare: Vec<u8>,
}

/// Appends of one upload in flight at once: while the relay stores one, the next one's body
/// is on its way (the relay lets one append wait per blob, at most one chunk ahead).
const IN_FLIGHT: usize = 2;

// A window is a piece of the sealed content digest: the digest is built from the windows'
// SHA-256, computed once for the appends' signatures.
const _: () = assert!(WINDOW == PIECE);

/// One started append: the sealed bytes `start..end` of one window (kept for retries), the
/// checkpoint chain up to `end`, and the request.
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

impl FileUpload {
    /// Takes the next window of `len` sealed bytes, whose SHA-256 is `digest`, into both the
    /// checkpoint chain and the content digest (the same digest feeds both).
    fn window_done(&mut self, digest: &[u8; 32], len: usize) {
        self.chain = chain_next(&self.chain, digest);
        self.sealed_digest.add(digest, len);
    }
}

impl Drop for FileUpload {
    fn drop(&mut self) {
        self.pending.zeroize();
        self.spare.zeroize();
        for append in &mut self.in_flight {
            append.bytes.zeroize();
        }
    }
}

/// Persisted state of one upload. Holds the file key: it only lives in the encrypted store.
#[derive(Serialize, Deserialize)]
pub(super) struct UploadState {
    pub(super) blob_id: String,
    pub(super) space_id: String,
    pub(super) internal: bool,
    pub(super) relay_id: String,
    /// File key (hex).
    pub(super) key: String,
    /// Header salt (hex).
    pub(super) salt: String,
    pub(super) document_id: String,
    pub(super) name: String,
    pub(super) media_type: String,
    pub(super) created: u64,
    pub(super) thread_id: Option<String>,
    pub(super) source_len: u64,
    pub(super) sealed_len: u64,
    /// Sealed bytes acknowledged at the last checkpoint, and their digest (hex) in the
    /// encoding `checkpoint` names.
    pub(super) acked: u64,
    pub(super) acked_digest: String,
    /// Classification label (sealed, signed; empty in uploads of earlier SDKs).
    #[serde(default)]
    pub(super) classification: String,
    /// The checkpoint encoding (`checkpoint.rs`): 0, absent in states of earlier SDKs,
    /// SHA-256 of the sealed bytes; 1, the chain over windows.
    #[serde(default)]
    pub(super) checkpoint: u32,
    /// The checkpoint chain (hex, [`chain_next`]) at the end of each window sent but not
    /// acknowledged when the state was written, recorded before the window is sent (absent
    /// in states of earlier SDKs). A resumed upload compares the windows it re-seals with
    /// these, so a changed source is refused even where the relay holds bytes beyond `acked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) sent: Vec<(u64, String)>,
}

impl Drop for UploadState {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl UploadState {
    pub(super) fn storage_key(&self) -> String {
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
    pub(super) fn label(&self) -> Option<Classification> {
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

/// A resumed upload re-sealed other bytes than the relay acknowledged.
fn source_changed() -> ClientError {
    ClientError::InvalidInput("the source differs from the one this upload started with".into())
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
            acked_digest: hex::encode(chain_start()),
            classification: classification.as_str().to_owned(),
            checkpoint: CHECKPOINT_CHAIN,
            sent: Vec::new(),
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
    /// `bytes` sent earlier ([`SealroomClient::start_append`]), if there was one. `sent`
    /// is the end of the last append started: a relay offset past these bytes but not past
    /// `sent` means a later append was stored, so these bytes were too.
    pub(super) async fn send_chunk(
        &self,
        state: &UploadState,
        start: u64,
        bytes: &[u8],
        mut first: Option<Result<HttpResponse, ClientError>>,
        sent: u64,
    ) -> Result<u64, ClientError> {
        let end = start + bytes.len() as u64;
        let mut from = start;
        let mut attempt = 0;
        while from < end {
            let answer = match first.take() {
                Some(answer) => answer,
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
            if offset < start || offset > end.max(sent) {
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

    /// Waits for the oldest append in flight, if any (retrying it from the relay's offset
    /// after a failure), then checkpoints: only an acknowledged append advances the resume
    /// state, in order. A later append in flight that the relay refused because this one
    /// failed (409 once its wait ended) is retried the same way when its turn comes.
    async fn settle<P: FnMut(u64, u64) + ?Sized>(
        &self,
        up: &mut FileUpload,
        progress: &mut P,
    ) -> Result<(), ClientError> {
        let Some(mut append) = up.in_flight.pop_front() else {
            return Ok(());
        };
        let from = append.start + append.skip as u64;
        let answer = append.request.response().await;
        if let Ok(response) = &answer {
            let behind = response
                .header("upload-offset")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .is_some_and(|offset| offset < from);
            if response.status == 409 && behind {
                // Refused for being ahead: a relay that does not hold such appends (an
                // earlier version), or the one before it was lost. One at a time from here.
                up.in_flight_max = 1;
            }
        }
        let sent = self
            .send_chunk(
                &up.state,
                from,
                &append.bytes[append.skip..],
                Some(answer),
                up.relay_offset,
            )
            .await;
        let end = append.start + append.bytes.len() as u64;
        // Sealed bytes only (ciphertext): cleared, not wiped.
        append.bytes.clear();
        if up.spare.capacity() < append.bytes.capacity() {
            up.spare = std::mem::take(&mut append.bytes);
        }
        sent?;
        // Checkpoint (written by the caller): the relay holds `end` bytes whose digest is
        // known.
        up.state.acked = end;
        up.state.acked_digest = append.digest;
        up.state.checkpoint = CHECKPOINT_CHAIN;
        up.state.sent.retain(|(e, _)| *e > end);
        progress(end, up.state.sealed_len);
        Ok(())
    }

    /// Writes the upload's state (its checkpoint) to the store.
    fn save_upload(&self, state: &UploadState) -> Result<(), ClientError> {
        let write = (state.storage_key(), Some(to_json(state)?));
        self.with(|r| Ok(r.rooms.app_commit(vec![write])?))
    }

    /// A window re-sealed on resume against the chain recorded when it was first sent.
    fn check_sent(state: &UploadState, end: u64, chain: &[u8; 32]) -> Result<(), ClientError> {
        match state.sent.iter().find(|(e, _)| *e == end) {
            Some((_, recorded)) if *recorded != hex::encode(chain) => Err(source_changed()),
            _ => Ok(()),
        }
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
        let sealed_hash = match state.checkpoint {
            _ if state.acked == 0 => None,
            CHECKPOINT_SHA256 => Some(Sha256::new()),
            CHECKPOINT_CHAIN => None,
            other => {
                return Err(ClientError::InvalidInput(format!(
                    "this upload was started by a newer SDK (checkpoint encoding {other})"
                )))
            }
        };
        let mut upload = FileUpload {
            state,
            key,
            sealer: Some(sealer),
            sealed_digest: PieceRoot::sealed(),
            sealed_hash,
            chain: chain_start(),
            produced: 0,
            pending: Vec::with_capacity(WINDOW + READ_PIECE + 1024),
            pending_start: 0,
            read_total: 0,
            relay_offset,
            in_flight: VecDeque::with_capacity(IN_FLIGHT),
            in_flight_max: IN_FLIGHT,
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
        while !upload.in_flight.is_empty() {
            self.settle(&mut upload, progress).await?;
            self.save_upload(&upload.state)?;
        }
        if upload.produced != upload.state.sealed_len {
            return Err(ClientError::Protocol(
                "sealed length differs from the announced length".into(),
            ));
        }
        let digest = upload.sealed_digest.finish();
        self.announce(&upload.state, &upload.key, digest).await
    }

    /// Accounts newly sealed bytes and starts the append of each full window ([`WINDOW`]
    /// bytes at a fixed offset), or of the last one when `finished`, once fewer than
    /// [`IN_FLIGHT`] appends are unacknowledged (the oldest is acknowledged and checkpointed
    /// in the store first): the caller seals the next window while appends are on their way.
    /// [`SealroomClient::upload_finish`] waits for the last ones.
    ///
    /// A resumed upload first re-seals what the relay acknowledged: those windows are hashed
    /// (by the host) into the checkpoint chain, not sent, and the chain (or, for a checkpoint
    /// of an earlier SDK, the SHA-256 of the sealed bytes) must match the stored one.
    async fn absorb<P: FnMut(u64, u64) + ?Sized>(
        &self,
        up: &mut FileUpload,
        emit: Vec<u8>,
        finished: bool,
        progress: &mut P,
    ) -> Result<(), ClientError> {
        if let Some(hash) = &mut up.sealed_hash {
            let below = up.state.acked.saturating_sub(up.produced) as usize;
            hash.update(&emit[..below.min(emit.len())]);
            if up.produced + emit.len() as u64 >= up.state.acked {
                let digest = hex::encode(std::mem::take(hash).finalize());
                up.sealed_hash = None;
                if digest != up.state.acked_digest {
                    return Err(source_changed());
                }
            }
        }
        up.pending.extend_from_slice(&emit);
        up.produced += emit.len() as u64;
        // Sealed bytes (ciphertext) are dropped, not wiped: a byte-wise wipe of every sealed
        // byte cost several percent of an upload in WASM.
        drop(emit);
        while up.pending.len() >= WINDOW || (finished && !up.pending.is_empty()) {
            let n = up.pending.len().min(WINDOW);
            let start = up.pending_start;
            let end = start + n as u64;
            if end <= up.state.acked || end <= up.relay_offset {
                // The relay holds this window: hashed, not sent.
                let digest = self.api.sha256(&up.pending[..n]).await;
                up.window_done(&digest, n);
                if end == up.state.acked
                    && up.state.checkpoint == CHECKPOINT_CHAIN
                    && hex::encode(up.chain) != up.state.acked_digest
                {
                    return Err(source_changed());
                }
                Self::check_sent(&up.state, end, &up.chain)?;
                up.pending.drain(..n);
                up.pending_start = end;
                continue;
            }
            let skip = up.relay_offset.saturating_sub(start) as usize;
            let mut next = std::mem::take(&mut up.spare);
            next.reserve(WINDOW + READ_PIECE + 1024);
            next.extend_from_slice(&up.pending[n..]);
            up.pending.truncate(n);
            let bytes = std::mem::replace(&mut up.pending, next);
            up.pending_start = end;
            // In order: with [`IN_FLIGHT`] appends unacknowledged, the oldest is acknowledged
            // first; the signature's digest of these bytes is computed meanwhile.
            let digest = if up.in_flight.len() >= up.in_flight_max {
                let (settled, digest) =
                    join(self.settle(up, progress), self.api.sha256(&bytes[skip..])).await;
                settled?;
                while up.in_flight.len() >= up.in_flight_max {
                    self.settle(up, progress).await?;
                }
                digest
            } else {
                self.api.sha256(&bytes[skip..]).await
            };
            let window = if skip == 0 {
                digest
            } else {
                self.api.sha256(&bytes).await
            };
            up.window_done(&window, n);
            // Recorded before it is sent (with the acknowledgement above, one write per
            // window): a resume re-seals and compares it even if the relay stored it unseen.
            Self::check_sent(&up.state, end, &up.chain)?;
            let chain = hex::encode(up.chain);
            let acked = up.state.acked;
            up.state.sent.retain(|(e, _)| *e > acked && *e != end);
            up.state.sent.push((end, chain));
            self.save_upload(&up.state)?;
            let request = self
                .start_append(
                    &up.state,
                    start + skip as u64,
                    &bytes[skip..],
                    hex::encode(digest),
                )
                .await?;
            up.in_flight.push_back(Append {
                start,
                bytes,
                skip,
                digest: hex::encode(up.chain),
                request,
            });
            up.relay_offset = end;
        }
        Ok(())
    }
}
