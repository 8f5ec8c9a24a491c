//! Blob bytes in an S3-compatible bucket (tested on SeaweedFS), through `object_store`.
//!
//! Objects: `blobs/{blob_id}` holds a finished blob; `uploads/{blob_id}/…` holds what an
//! unfinished upload has not yet handed to a multipart part.
//!
//! A resumable upload maps onto an S3 multipart upload of fixed [`PART_SIZE`] parts (S3's
//! minimum; the last part may be shorter, and every part but the last has the same size, as
//! Cloudflare R2 requires). Appends smaller than a part are kept as a *pending tail*: one
//! object `uploads/{blob_id}/tail-{random}` with the bytes after the last full part. An append
//! reads the tail, adds its body, uploads every full part that makes and writes the rest as a
//! new tail object; the relay then stores the multipart id, the part ETags and the tail's key
//! and length in the blob's record together with the new offset (one compare-and-swap), so a
//! relay that dies mid-append loses nothing acknowledged and any instance continues the upload.
//! An upload that never fills a part is written with one plain `PUT` when it completes; a
//! multipart upload is created lazily, by the first full part.
//!
//! Crash windows: a part re-uploaded after a crash has the same part number and replaces the
//! earlier one; a tail object or a multipart upload written but never recorded is removed with
//! the upload's other objects when it completes or is deleted (a multipart upload created just
//! before a crash and never recorded is left to the bucket's "abort incomplete multipart
//! uploads" lifecycle rule, see `docs/relay.md`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use super::{Appended, BackendError, BlobStore, ByteReceiver, Upload};
use crate::config::S3Config;

/// Size of every multipart part but the last: S3's minimum part size, 5 MiB.
pub const PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest number of parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// Largest blob this backend stores ([`MAX_PARTS`] parts of [`PART_SIZE`]).
pub const MAX_BLOB: u64 = PART_SIZE * MAX_PARTS;

/// How one append is written: computed from the pending tail, the body and whether the
/// append completes the upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Write the whole upload (tail and body) as one object with a plain `PUT`.
    pub single_put: bool,
    /// Full [`PART_SIZE`] parts to upload now.
    pub full_parts: u64,
    /// Length of a shorter final part (only when the append completes a multipart upload).
    pub last_part: u64,
    /// Bytes left pending in a new tail object.
    pub pending: u64,
}

/// Maps an append onto parts: `parts_so_far` parts are uploaded, `tail` bytes pending, `body`
/// bytes arrive, and `completes` says whether the upload reaches its announced length.
pub fn plan(parts_so_far: usize, tail: u64, body: u64, completes: bool) -> Plan {
    let total = tail.saturating_add(body);
    if completes && parts_so_far == 0 {
        return Plan {
            single_put: true,
            full_parts: 0,
            last_part: 0,
            pending: 0,
        };
    }
    let full_parts = total / PART_SIZE;
    let rest = total % PART_SIZE;
    if completes {
        Plan {
            single_put: false,
            full_parts,
            last_part: rest,
            pending: 0,
        }
    } else {
        Plan {
            single_put: false,
            full_parts,
            last_part: 0,
            pending: rest,
        }
    }
}

/// The S3 backend.
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    /// Its own runtime, so the blocking callers (request handlers on blocking threads, sweeps,
    /// tests without a runtime) can wait for it; shut down in the background on drop.
    runtime: Option<tokio::runtime::Runtime>,
    bucket: String,
    /// How long one operation ([`S3Blobs::wait`]) may take, retries included.
    timeout: Duration,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Drop for S3Blobs {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn backend(e: impl std::fmt::Display) -> BackendError {
    BackendError::Backend(e.to_string())
}

fn final_key(blob_id: &str) -> ObjectPath {
    ObjectPath::from(format!("blobs/{blob_id}"))
}

fn upload_prefix(blob_id: &str) -> ObjectPath {
    ObjectPath::from(format!("uploads/{blob_id}"))
}

impl S3Blobs {
    /// Connects to the bucket `config` names (no request is made until the first use).
    pub fn open(config: &S3Config) -> Result<Self, BackendError> {
        let bucket = config
            .bucket
            .clone()
            .ok_or_else(|| backend("no S3 bucket configured"))?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = config.secret_access_key().map_err(backend)? {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        let store = builder.build().map_err(backend)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sealroom-s3")
            .enable_all()
            .build()?;
        Ok(Self {
            store: Arc::new(store),
            runtime: Some(runtime),
            bucket,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
        })
    }

    /// Runs `fut` on the backend's runtime and waits for it (from a blocking thread), at most
    /// the configured timeout: then the operation is dropped where it stands (as a crash
    /// would leave it, which the upload layout tolerates) and the caller gets
    /// [`BackendError::Busy`], answered 503.
    fn wait<T, F>(&self, fut: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, BackendError>> + Send + 'static,
    {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| backend("S3 runtime stopped"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let timeout = self.timeout;
        rt.spawn(async move {
            let result = match tokio::time::timeout(timeout, fut).await {
                Ok(result) => result,
                Err(_) => Err(BackendError::Busy(format!(
                    "object storage did not answer within {} s",
                    timeout.as_secs()
                ))),
            };
            let _ = tx.send(result);
        });
        rx.recv().map_err(|_| backend("S3 task ended"))?
    }

    async fn remove_all(store: Arc<AmazonS3>, record: Upload) -> Result<(), BackendError> {
        if let Some(state) = &record.multipart {
            if let Some(id) = &state.upload_id {
                match store.abort_multipart(&final_key(&record.blob_id), id).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(backend(e)),
                }
            }
        }
        let mut keys = vec![final_key(&record.blob_id)];
        let mut listing = store.list(Some(&upload_prefix(&record.blob_id)));
        while let Some(meta) = listing.next().await {
            keys.push(meta.map_err(backend)?.location);
        }
        for key in keys {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(())
    }
}

async fn append_async(
    store: Arc<AmazonS3>,
    record: Upload,
    body: Bytes,
) -> Result<Appended, BackendError> {
    let blob_id = record.blob_id.clone();
    let end = record.offset.saturating_add(body.len() as u64);
    let completes = end == record.length;
    let mut state = record.multipart.clone().unwrap_or_default();
    let tail = match (&state.tail_key, state.tail_len) {
        (Some(key), len) if len > 0 => store
            .get_range(&ObjectPath::from(key.as_str()), 0..len)
            .await
            .map_err(backend)?,
        _ => Bytes::new(),
    };
    let plan = plan(
        state.parts.len(),
        tail.len() as u64,
        body.len() as u64,
        completes,
    );
    let mut data = Vec::with_capacity(tail.len() + body.len());
    data.extend_from_slice(&tail);
    data.extend_from_slice(&body);
    let data = Bytes::from(data);
    let mut obsolete: Vec<String> = state.tail_key.take().into_iter().collect();
    state.tail_len = 0;
    let key = final_key(&blob_id);

    if plan.single_put {
        store
            .put(&key, PutPayload::from(data))
            .await
            .map_err(backend)?;
        return Ok(Appended {
            multipart: None,
            obsolete,
            offset_durable: false,
        });
    }
    let part = usize::try_from(PART_SIZE).map_err(backend)?;
    let mut at = 0usize;
    let mut pieces: Vec<Bytes> = Vec::new();
    for _ in 0..plan.full_parts {
        pieces.push(data.slice(at..at + part));
        at += part;
    }
    if plan.last_part > 0 {
        pieces.push(data.slice(at..));
        at = data.len();
    }
    if !pieces.is_empty() && state.upload_id.is_none() {
        state.upload_id = Some(store.create_multipart(&key).await.map_err(backend)?);
    }
    for piece in pieces {
        if state.parts.len() as u64 >= MAX_PARTS {
            return Err(backend("more than 10,000 parts"));
        }
        let id = state.upload_id.clone().unwrap_or_default();
        let PartId { content_id } = store
            .put_part(&key, &id, state.parts.len(), PutPayload::from(piece))
            .await
            .map_err(backend)?;
        state.parts.push(content_id);
    }
    if completes {
        let id = state.upload_id.clone().unwrap_or_default();
        let parts = state
            .parts
            .iter()
            .map(|p| PartId {
                content_id: p.clone(),
            })
            .collect();
        store
            .complete_multipart(&key, &id, parts)
            .await
            .map_err(backend)?;
        // Leftovers of appends that were never acknowledged (their tails).
        let mut listing = store.list(Some(&upload_prefix(&blob_id)));
        while let Some(meta) = listing.next().await {
            if let Ok(meta) = meta {
                obsolete.push(meta.location.to_string());
            }
        }
        obsolete.sort();
        obsolete.dedup();
        return Ok(Appended {
            multipart: None,
            obsolete,
            offset_durable: false,
        });
    }
    let rest = data.slice(at..);
    if !rest.is_empty() {
        let tail_key = format!("uploads/{blob_id}/tail-{}", crate::ids::random_id());
        store
            .put(
                &ObjectPath::from(tail_key.as_str()),
                PutPayload::from(rest.clone()),
            )
            .await
            .map_err(backend)?;
        state.tail_key = Some(tail_key);
        state.tail_len = rest.len() as u64;
    }
    Ok(Appended {
        multipart: Some(state),
        obsolete,
        offset_durable: false,
    })
}

impl BlobStore for S3Blobs {
    fn create(&self, _blob_id: &str) -> Result<(), BackendError> {
        // Nothing to prepare: objects appear with the first part, tail or the final PUT.
        Ok(())
    }

    fn discard(&self, _blob_id: &str) {}

    fn append(
        &self,
        record: &Upload,
        body: &[u8],
        _body_sha256: &[u8; 32],
    ) -> Result<Appended, BackendError> {
        if record.length > MAX_BLOB {
            return Err(BackendError::TooLarge { limit: MAX_BLOB });
        }
        let store = self.store.clone();
        let record = record.clone();
        let body = Bytes::copy_from_slice(body);
        self.wait(append_async(store, record, body))
    }

    fn forget(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let store = self.store.clone();
        let keys = keys.to_vec();
        let result = self.wait(async move {
            for key in keys {
                match store.delete(&ObjectPath::from(key.as_str())).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(backend(e)),
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "removing obsolete upload objects failed");
        }
    }

    fn read(
        &self,
        blob_id: &str,
        _length: u64,
        start: u64,
        end: u64,
    ) -> Result<ByteReceiver, BackendError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        if start >= end {
            return Ok(rx);
        }
        let store = self.store.clone();
        let key = final_key(blob_id);
        // The request is made before the response starts, so a missing object is an error the
        // client sees as a status code; the body then streams (a bounded channel: constant
        // memory whatever the range).
        let result = self.wait(async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(start..end)),
                ..GetOptions::default()
            };
            store.get_opts(&key, options).await.map_err(backend)
        })?;
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| backend("S3 runtime stopped"))?;
        rt.spawn(async move {
            let mut stream = result.into_stream();
            while let Some(piece) = stream.next().await {
                let item = piece.map_err(std::io::Error::other);
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(rx)
    }

    fn remove(&self, record: &Upload) -> Result<(), BackendError> {
        let store = self.store.clone();
        let record = record.clone();
        self.wait(Self::remove_all(store, record))
    }

    fn local_dir(&self) -> Option<&std::path::Path> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn small_uploads_are_one_put() {
        for len in [0, 1, PART_SIZE - 1, PART_SIZE, 12 * MIB] {
            assert_eq!(
                plan(0, 0, len, true),
                Plan {
                    single_put: true,
                    full_parts: 0,
                    last_part: 0,
                    pending: 0
                },
                "{len}"
            );
        }
        // A tail carried over and a completing body, still no part: one PUT of both.
        assert!(plan(0, PART_SIZE - 1, 3 * MIB, true).single_put);
    }

    #[test]
    fn appends_fill_fixed_parts_and_keep_the_rest_pending() {
        assert_eq!(plan(0, 0, 1, false).pending, 1);
        assert_eq!(plan(0, 0, 1, false).full_parts, 0);
        let p = plan(0, 0, PART_SIZE - 1, false);
        assert_eq!((p.full_parts, p.pending), (0, PART_SIZE - 1));
        let p = plan(0, PART_SIZE - 1, 1, false);
        assert_eq!((p.full_parts, p.pending), (1, 0));
        let p = plan(0, 3 * MIB, 3 * MIB, false);
        assert_eq!((p.full_parts, p.pending), (1, MIB));
        let p = plan(2, 4 * MIB, 16 * MIB, false);
        assert_eq!((p.full_parts, p.pending), (4, 0));
        assert!(!p.single_put);
    }

    #[test]
    fn completing_a_multipart_upload_sends_a_short_last_part() {
        let p = plan(1, 2 * MIB, 1, true);
        assert_eq!((p.full_parts, p.last_part, p.pending), (0, 2 * MIB + 1, 0));
        let p = plan(1, 0, PART_SIZE, true);
        assert_eq!((p.full_parts, p.last_part, p.pending), (1, 0, 0));
        let p = plan(3, MIB, 2 * PART_SIZE, true);
        assert_eq!((p.full_parts, p.last_part, p.pending), (2, MIB, 0));
    }

    #[test]
    fn every_byte_lands_in_exactly_one_place() {
        for parts in [0usize, 1, 7] {
            for tail in [0, 1, PART_SIZE - 1] {
                for body in [0, 1, PART_SIZE - 1, PART_SIZE, PART_SIZE + 1, 16 * MIB] {
                    for completes in [false, true] {
                        let p = plan(parts, tail, body, completes);
                        let placed = if p.single_put {
                            tail + body
                        } else {
                            p.full_parts * PART_SIZE + p.last_part + p.pending
                        };
                        assert_eq!(placed, tail + body);
                        assert!(p.pending < PART_SIZE);
                        assert!(!completes || p.pending == 0);
                    }
                }
            }
        }
    }
}
