//! Writing a backup file: the snapshot, staged blobs and the digest.

use std::io::{Seek, SeekFrom};

use super::*;
use crate::blobs::data::blob_file;

pub(super) struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(done) = buf.get(..n) {
            self.hasher.update(done);
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub(super) fn len_u32(len: usize, what: &str, max: u32) -> Result<u32, BackupError> {
    u32::try_from(len)
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| BackupError::Store(StoreError::Backend(format!("{what} too large"))))
}

pub(super) fn write_kv(
    out: &mut impl Write,
    tree: &str,
    key: &[u8],
    value: &[u8],
) -> Result<(), BackupError> {
    let t = len_u32(tree.len(), "tree name", MAX_TREE_NAME)?;
    let k = len_u32(key.len(), "key", MAX_KEY)?;
    let v = len_u32(value.len(), "value", MAX_VALUE)?;
    let ctx = "writing the snapshot spool";
    out.write_all(&[TAG_KV]).map_err(io(ctx))?;
    out.write_all(&t.to_be_bytes()).map_err(io(ctx))?;
    out.write_all(tree.as_bytes()).map_err(io(ctx))?;
    out.write_all(&k.to_be_bytes()).map_err(io(ctx))?;
    out.write_all(key).map_err(io(ctx))?;
    out.write_all(&v.to_be_bytes()).map_err(io(ctx))?;
    out.write_all(value).map_err(io(ctx))?;
    Ok(())
}

/// A snapshot taken and staged on disk, ready to be streamed as a backup file. Its staging
/// directory is removed when it is dropped.
#[derive(Debug)]
pub struct PreparedBackup {
    staging: PathBuf,
    meta: BackupMeta,
    /// (blob id, bytes to include)
    blobs: Vec<(String, u64)>,
}

impl Drop for PreparedBackup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Takes a consistent snapshot of `store` and the blob files in `blob_dir`, staged in a new
/// directory under `data_dir` (removed when the result is dropped). Without a blob directory
/// (blobs in S3, see [`crate::blobs::local_blob_dir`]) the backup holds the records only: the
/// bucket's own versioning or replication keeps the bytes (`docs/relay.md`).
///
/// The store's snapshot is a point in time while the relay keeps writing (redb's MVCC), so a
/// blob the snapshot names can be deleted before its file is staged; the snapshot is then
/// taken again, up to [`SNAPSHOT_ATTEMPTS`] times. A file missing while its record still
/// exists is an error at once.
pub fn prepare(
    store: &dyn Store,
    data_dir: &Path,
    blob_dir: Option<&Path>,
) -> Result<PreparedBackup, BackupError> {
    let mut attempt = 1;
    loop {
        match prepare_once(store, data_dir, blob_dir) {
            Err(BackupError::BlobDeletedMeanwhile(blob_id)) if attempt < SNAPSHOT_ATTEMPTS => {
                tracing::info!(%blob_id, attempt, "blob deleted during the backup snapshot; taking it again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Snapshots taken by [`prepare`] before it gives up on blobs deleted meanwhile.
pub const SNAPSHOT_ATTEMPTS: u32 = 5;

fn prepare_once(
    store: &dyn Store,
    data_dir: &Path,
    blob_dir: Option<&Path>,
) -> Result<PreparedBackup, BackupError> {
    let staging = data_dir.join(format!(".backup-staging-{}", crate::ids::random_id()));
    std::fs::create_dir_all(staging.join("blobs")).map_err(io(format!(
        "creating staging directory {}",
        staging.display()
    )))?;
    let mut prepared = PreparedBackup {
        staging,
        meta: BackupMeta {
            created_at: now_secs(),
            relay_version: env!("CARGO_PKG_VERSION").to_owned(),
            next_id: 0,
            kv_records: 0,
            blobs: 0,
        },
        blobs: Vec::new(),
    };
    let spool_path = prepared.staging.join("records");
    let spool = File::create(&spool_path).map_err(io("creating the snapshot spool"))?;
    let mut spool = BufWriter::new(spool);
    let mut failure: Option<BackupError> = None;
    let mut kv_records = 0u64;
    let mut blobs = Vec::new();
    let staged_blobs = prepared.staging.join("blobs");
    let result = store.snapshot(&mut |tree, key, value| {
        let step = (|| {
            write_kv(&mut spool, tree, key, value)?;
            kv_records += 1;
            if let (BLOBS, Some(blob_dir)) = (tree, blob_dir) {
                let record: BlobRecord = decode_json(BLOBS, value)?;
                if let Err(e) = stage_blob(blob_dir, &staged_blobs, &record) {
                    // Deleted after the snapshot's point in time: not an error of the store.
                    if store.get(BLOBS, key)?.as_deref() != Some(value) {
                        return Err(BackupError::BlobDeletedMeanwhile(record.blob_id));
                    }
                    return Err(e);
                }
                blobs.push((record.blob_id, record.offset));
            }
            Ok::<(), BackupError>(())
        })();
        step.map_err(|e| {
            let message = e.to_string();
            failure = Some(e);
            StoreError::Backend(message)
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result?;
    spool
        .into_inner()
        .map_err(|e| BackupError::Io {
            context: "writing the snapshot spool".to_owned(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io("syncing the snapshot spool"))?;
    // Taken after the snapshot: every id stored in it was generated before this one.
    prepared.meta.next_id = store.next_id()?.saturating_add(1);
    prepared.meta.kv_records = kv_records;
    prepared.meta.blobs = blobs.len() as u64;
    prepared.blobs = blobs;
    Ok(prepared)
}

/// Makes the blob's bytes below its recorded offset immune to later deletion (a hard link, or
/// a copy where links fail). Fails when the file is gone ([`prepare`] tells a deletion after
/// the snapshot from a missing file).
pub(super) fn stage_blob(
    blob_dir: &Path,
    staged: &Path,
    record: &BlobRecord,
) -> Result<(), BackupError> {
    if !valid_blob_id(&record.blob_id) {
        return Err(BackupError::Store(StoreError::Backend(format!(
            "stored blob id {:?} is malformed",
            record.blob_id
        ))));
    }
    // Staged under the same name: the writer tells the layout (header or not) by it.
    let (src, skip) = blob_file(blob_dir, &record.blob_id);
    let dst = staged.join(src.file_name().unwrap_or_default());
    match std::fs::hard_link(&src, &dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && record.offset == 0 => {
            File::create(&dst).map_err(io(format!("staging {}", dst.display())))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BackupError::Io {
            context: format!(
                "blob file {} is missing ({} bytes recorded)",
                src.display(),
                record.offset
            ),
            source: e,
        }),
        Err(_) => {
            // No hard links on this file system: copy the recorded bytes now.
            let file = File::open(&src).map_err(io(format!("opening {}", src.display())))?;
            let mut out = File::create(&dst).map_err(io(format!("staging {}", dst.display())))?;
            std::io::copy(&mut file.take(skip + record.offset), &mut out)
                .map_err(io(format!("copying {}", src.display())))?;
            Ok(())
        }
    }
}

impl PreparedBackup {
    /// The meta record of this backup.
    pub fn meta(&self) -> &BackupMeta {
        &self.meta
    }

    /// Writes the backup file format to `out`; returns the number of bytes and the digest.
    pub fn stream(&self, out: impl Write) -> Result<(u64, [u8; 32]), BackupError> {
        let ctx = "writing the backup";
        let mut w = HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, out),
            hasher: Sha256::new(),
            count: 0,
        };
        w.write_all(MAGIC).map_err(io(ctx))?;
        w.write_all(&VERSION.to_be_bytes()).map_err(io(ctx))?;
        let meta = serde_json::to_vec(&self.meta)
            .map_err(|e| BackupError::Store(StoreError::Backend(e.to_string())))?;
        let meta_len = len_u32(meta.len(), "meta record", MAX_META)?;
        w.write_all(&[TAG_META]).map_err(io(ctx))?;
        w.write_all(&meta_len.to_be_bytes()).map_err(io(ctx))?;
        w.write_all(&meta).map_err(io(ctx))?;
        let mut spool =
            File::open(self.staging.join("records")).map_err(io("reading the snapshot spool"))?;
        std::io::copy(&mut spool, &mut w).map_err(io(ctx))?;
        for (blob_id, length) in &self.blobs {
            let (path, skip) = blob_file(&self.staging.join("blobs"), blob_id);
            let mut file = File::open(&path).map_err(io(format!("opening {}", path.display())))?;
            file.seek(SeekFrom::Start(skip))
                .map_err(io(format!("reading {}", path.display())))?;
            let id_len = len_u32(blob_id.len(), "blob id", MAX_TREE_NAME)?;
            w.write_all(&[TAG_BLOB]).map_err(io(ctx))?;
            w.write_all(&id_len.to_be_bytes()).map_err(io(ctx))?;
            w.write_all(blob_id.as_bytes()).map_err(io(ctx))?;
            w.write_all(&length.to_be_bytes()).map_err(io(ctx))?;
            let copied = std::io::copy(&mut file.take(*length), &mut w).map_err(io(ctx))?;
            if copied != *length {
                return Err(BackupError::Io {
                    context: format!("blob file {}", path.display()),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("holds {copied} of {length} recorded bytes"),
                    ),
                });
            }
        }
        w.write_all(&[TAG_END]).map_err(io(ctx))?;
        let digest: [u8; 32] = w.hasher.clone().finalize().into();
        w.inner.write_all(&digest).map_err(io(ctx))?;
        w.inner.flush().map_err(io(ctx))?;
        Ok((w.count + 32, digest))
    }
}
