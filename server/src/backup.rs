//! Backup and restore of a relay's data directory: `sealroom-server backup --out FILE` and
//! `sealroom-server restore --from FILE [--force]`.
//!
//! # Taking a backup while the relay runs
//!
//! sled locks its directory, so a second process cannot open a running relay's store. The
//! running relay therefore serves a local admin socket, `<data_dir>/admin.sock` (mode 0600,
//! and a connecting peer must run as the user owning the data directory). The `backup` command
//! connects to it; the relay takes a [`Store::snapshot`] (writes wait while it runs, so the
//! records are one point in time) and streams the backup back. When no relay runs, the command
//! opens the store directly.
//!
//! Blob bytes live in files next to the store. While the snapshot holds the store's write gate,
//! every blob file named by a snapshot record is hard-linked into a staging directory (or, where
//! hard links fail, its first `offset` bytes are copied). A blob's bytes below its recorded
//! offset never change afterwards (appends only write past the stored offset, deletion unlinks
//! the name but not the linked inode), so the backup holds exactly the bytes the snapshot's
//! records describe: complete blobs, and unfinished uploads up to their acknowledged offset.
//!
//! # File format, version 1
//!
//! All integers are big-endian. The file is a sequence of records after a header:
//!
//! ```text
//! header   = "SEALROOM-BACKUP\0" (16 bytes) || version u32 (= 1)
//! record   = tag u8 || body
//! meta     = 'M' || len u32 || JSON {created_at, relay_version, next_id, kv_records, blobs}
//! kv       = 'K' || tree_len u32 || tree (UTF-8) || key_len u32 || key || value_len u32 || value
//! blob     = 'B' || id_len u32 || id (32 hex) || length u64 || bytes
//! end      = 'E' || SHA-256 (32 bytes) of every byte before it, tag 'E' included
//! file     = header || meta || kv* || blob* || end      (nothing may follow `end`)
//! ```
//!
//! `next_id` is a value above every store-generated id in the snapshot; restore advances the new
//! store's id generator past it. A file whose digest, structure or counts do not match is
//! refused before anything is written. Backups are written to a temporary file in the target's
//! directory, synced, verified and then renamed into place, so `FILE` is either the old file or
//! a complete new backup. Restore builds the new data directory beside the target and swaps it
//! in with renames only after everything was written and the digest checked again.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blobs::data::{blob_path, valid_blob_id, BlobRecord, BLOBS};
use crate::config::Config;
use crate::store::{decode_json, SledStore, Store, StoreError};

/// Name of the admin socket in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// First bytes of every backup file.
pub const MAGIC: &[u8; 16] = b"SEALROOM-BACKUP\0";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

const TAG_META: u8 = b'M';
const TAG_KV: u8 = b'K';
const TAG_BLOB: u8 = b'B';
const TAG_END: u8 = b'E';
const MAX_TREE_NAME: u32 = 1024;
const MAX_KEY: u32 = 1024 * 1024;
const MAX_VALUE: u32 = 256 * 1024 * 1024;
const MAX_META: u32 = 64 * 1024;
/// Largest `next_id` restore will advance sled's generator to (one increment per id).
const MAX_NEXT_ID: u64 = 1 << 32;
/// Request line of the admin protocol.
const BACKUP_REQUEST: &[u8] = b"BACKUP 1\n";

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backup file is damaged, truncated or not a backup.
    #[error("the backup file is corrupt or truncated: {0}")]
    Corrupt(String),
    /// The backup file was written by a newer format version.
    #[error("unsupported backup format version {0} (this relay reads version {VERSION})")]
    UnsupportedVersion(u32),
    /// The restore target holds data and `--force` was not given.
    #[error("data directory {0} is not empty; stop the relay and pass --force to replace it")]
    TargetNotEmpty(PathBuf),
    /// A relay is running on the restore target.
    #[error("a relay is running on data directory {0}; stop it before restoring")]
    RelayRunning(PathBuf),
    /// The store is locked by another process but no admin socket answers.
    #[error("the store in {0} is locked by another process and no relay admin socket answers")]
    Locked(PathBuf),
    /// The running relay reported an error.
    #[error("the relay refused the backup: {0}")]
    Relay(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

/// The meta record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMeta {
    /// When the snapshot was taken, Unix seconds.
    pub created_at: i64,
    /// Version of the relay that wrote it.
    pub relay_version: String,
    /// A value above every store-generated id in the snapshot.
    pub next_id: u64,
    /// Number of key-value records.
    pub kv_records: u64,
    /// Number of blob records.
    pub blobs: u64,
}

/// What a verified or written backup contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    /// The meta record.
    pub meta: BackupMeta,
    /// Names of the trees present.
    pub trees: Vec<String>,
    /// Total blob bytes.
    pub blob_bytes: u64,
    /// File size in bytes.
    pub file_bytes: u64,
    /// The final SHA-256, hex.
    pub sha256: String,
}

// ---------------------------------------------------------------- writing

struct HashingWriter<W: Write> {
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

fn len_u32(len: usize, what: &str, max: u32) -> Result<u32, BackupError> {
    u32::try_from(len)
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| BackupError::Store(StoreError::Backend(format!("{what} too large"))))
}

fn write_kv(out: &mut impl Write, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
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

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Takes a consistent snapshot of `store` and the blob files in `blob_dir`, staged in a new
/// directory under `data_dir` (removed when the result is dropped).
pub fn prepare(
    store: &dyn Store,
    data_dir: &Path,
    blob_dir: &Path,
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
            if tree == BLOBS {
                let record: BlobRecord = decode_json(BLOBS, value)?;
                stage_blob(blob_dir, &staged_blobs, &record)?;
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

/// Called with the store's write gate held: makes the blob's bytes below its recorded offset
/// immune to later deletion.
fn stage_blob(blob_dir: &Path, staged: &Path, record: &BlobRecord) -> Result<(), BackupError> {
    if !valid_blob_id(&record.blob_id) {
        return Err(BackupError::Store(StoreError::Backend(format!(
            "stored blob id {:?} is malformed",
            record.blob_id
        ))));
    }
    let src = blob_path(blob_dir, &record.blob_id);
    let dst = blob_path(staged, &record.blob_id);
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
            std::io::copy(&mut file.take(record.offset), &mut out)
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
            let path = blob_path(&self.staging.join("blobs"), blob_id);
            let file = File::open(&path).map_err(io(format!("opening {}", path.display())))?;
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

// ---------------------------------------------------------------- reading

struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BackupError::Corrupt(format!("the file ends early (after {} bytes)", self.count))
            } else {
                BackupError::Io {
                    context: "reading the backup".to_owned(),
                    source: e,
                }
            }
        })?;
        self.hasher.update(&*buf);
        self.count += buf.len() as u64;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, BackupError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, BackupError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    fn bytes(&mut self, max: u32, what: &str) -> Result<Vec<u8>, BackupError> {
        let len = self.u32()?;
        if len > max {
            return Err(BackupError::Corrupt(format!(
                "{what} length {len} exceeds {max}"
            )));
        }
        // Grows with the bytes actually present: a damaged length cannot force a huge allocation.
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(u64::from(len))
            .read_to_end(&mut buf)
            .map_err(io("reading the backup"))?;
        if buf.len() as u64 != u64::from(len) {
            return Err(BackupError::Corrupt(format!(
                "the file ends early (inside a {what})"
            )));
        }
        self.hasher.update(&buf);
        self.count += u64::from(len);
        Ok(buf)
    }
}

/// Where [`read_backup`] puts the records it reads.
trait Apply {
    fn kv(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError>;
    fn blob(
        &mut self,
        blob_id: &str,
        length: u64,
        bytes: &mut dyn FnMut(&mut dyn Write) -> Result<(), BackupError>,
    ) -> Result<(), BackupError>;
}

struct VerifyOnly;

impl Apply for VerifyOnly {
    fn kv(&mut self, _: &str, _: &[u8], _: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    fn blob(
        &mut self,
        _: &str,
        _: u64,
        bytes: &mut dyn FnMut(&mut dyn Write) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        bytes(&mut std::io::sink())
    }
}

fn read_backup(path: &Path, apply: &mut dyn Apply) -> Result<BackupSummary, BackupError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut r = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let mut magic = [0u8; 16];
    r.exact(&mut magic)
        .map_err(|_| BackupError::Corrupt("not a Sealroom backup (file too short)".to_owned()))?;
    if &magic != MAGIC {
        return Err(BackupError::Corrupt(
            "not a Sealroom backup (bad magic)".to_owned(),
        ));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(BackupError::UnsupportedVersion(version));
    }
    if r.u8()? != TAG_META {
        return Err(BackupError::Corrupt(
            "the meta record is missing".to_owned(),
        ));
    }
    let meta_bytes = r.bytes(MAX_META, "meta record")?;
    let meta: BackupMeta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| BackupError::Corrupt(format!("meta record: {e}")))?;
    let mut kv_records = 0u64;
    let mut blobs = 0u64;
    let mut blob_bytes = 0u64;
    let mut trees: Vec<String> = Vec::new();
    loop {
        match r.u8()? {
            TAG_KV => {
                if blobs > 0 {
                    return Err(BackupError::Corrupt("key-value record after blobs".into()));
                }
                let tree = String::from_utf8(r.bytes(MAX_TREE_NAME, "tree name")?)
                    .map_err(|_| BackupError::Corrupt("tree name is not UTF-8".into()))?;
                if tree.is_empty() || tree.starts_with("__sled__") {
                    return Err(BackupError::Corrupt(format!("invalid tree name {tree:?}")));
                }
                let key = r.bytes(MAX_KEY, "key")?;
                let value = r.bytes(MAX_VALUE, "value")?;
                apply.kv(&tree, &key, &value)?;
                kv_records += 1;
                if trees.last() != Some(&tree) {
                    trees.push(tree);
                }
            }
            TAG_BLOB => {
                let id = String::from_utf8(r.bytes(64, "blob id")?)
                    .map_err(|_| BackupError::Corrupt("blob id is not UTF-8".into()))?;
                if !valid_blob_id(&id) {
                    return Err(BackupError::Corrupt(format!("invalid blob id {id:?}")));
                }
                let length = r.u64()?;
                let reader = &mut r;
                apply.blob(&id, length, &mut |out: &mut dyn Write| {
                    let mut left = length;
                    let mut buf = vec![0u8; 64 * 1024];
                    while left > 0 {
                        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                        let chunk = buf.get_mut(..n).unwrap_or_default();
                        reader.exact(chunk)?;
                        out.write_all(chunk).map_err(io("writing blob bytes"))?;
                        left -= n as u64;
                    }
                    Ok(())
                })?;
                blobs += 1;
                blob_bytes = blob_bytes.saturating_add(length);
            }
            TAG_END => {
                let expected: [u8; 32] = r.hasher.clone().finalize().into();
                let mut digest = [0u8; 32];
                r.inner.read_exact(&mut digest).map_err(|_| {
                    BackupError::Corrupt("the file ends inside the final checksum".into())
                })?;
                if digest != expected {
                    return Err(BackupError::Corrupt("SHA-256 checksum mismatch".into()));
                }
                let mut extra = [0u8; 1];
                let more = r.inner.read(&mut extra).map_err(io("reading the backup"))?;
                if more != 0 {
                    return Err(BackupError::Corrupt(
                        "unexpected bytes after the end record".into(),
                    ));
                }
                if kv_records != meta.kv_records || blobs != meta.blobs {
                    return Err(BackupError::Corrupt(format!(
                        "record counts ({kv_records} records, {blobs} blobs) do not match the meta record ({}, {})",
                        meta.kv_records, meta.blobs
                    )));
                }
                trees.sort();
                trees.dedup();
                return Ok(BackupSummary {
                    meta,
                    trees,
                    blob_bytes,
                    file_bytes: r.count + 32,
                    sha256: hex::encode(digest),
                });
            }
            other => {
                return Err(BackupError::Corrupt(format!(
                    "unknown record tag {other:#04x} at byte {}",
                    r.count - 1
                )))
            }
        }
    }
}

/// Reads a whole backup file and checks its structure, counts and SHA-256 without writing
/// anything.
pub fn verify_file(path: &Path) -> Result<BackupSummary, BackupError> {
    read_backup(path, &mut VerifyOnly)
}

// ---------------------------------------------------------------- backup command

/// Writes `prepared` to `out` atomically: a temporary file in the same directory (mode 0600),
/// synced, verified, then renamed.
fn write_file(
    out: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".to_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", crate::ids::random_id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options
            .open(&tmp)
            .map_err(io(format!("creating {}", tmp.display())))?;
        fill(&mut file)?;
        file.sync_all()
            .map_err(io(format!("syncing {}", tmp.display())))?;
        drop(file);
        let summary = verify_file(&tmp)?;
        std::fs::rename(&tmp, out).map_err(io(format!("renaming to {}", out.display())))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `sealroom-server backup --out FILE`: through the running relay's admin socket if one
/// answers, else by opening the store directly.
pub fn backup_command(config: &Config, out: &Path) -> Result<BackupSummary, BackupError> {
    let socket = config.data_dir.join(ADMIN_SOCKET);
    #[cfg(unix)]
    {
        match std::os::unix::net::UnixStream::connect(&socket) {
            Ok(stream) => return write_file(out, |file| backup_via_socket(stream, file)),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => {
                return Err(BackupError::Io {
                    context: format!("connecting to {}", socket.display()),
                    source: e,
                })
            }
        }
    }
    let db_dir = config.db_dir();
    if !db_dir.is_dir() {
        return Err(BackupError::Io {
            context: format!("no store in {}", config.data_dir.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let store = open_unlocked(&db_dir, &config.data_dir)?;
    let prepared = prepare(&store, &config.data_dir, &config.blob_dir())?;
    write_file(out, |file| prepared.stream(file).map(|_| ()))
}

fn open_unlocked(db_dir: &Path, data_dir: &Path) -> Result<SledStore, BackupError> {
    SledStore::open(db_dir).map_err(|e| {
        if e.to_string().contains("lock") || e.to_string().contains("Resource temporarily") {
            BackupError::Locked(data_dir.to_path_buf())
        } else {
            BackupError::Store(e)
        }
    })
}

#[cfg(unix)]
fn backup_via_socket(
    mut stream: std::os::unix::net::UnixStream,
    file: &mut File,
) -> Result<(), BackupError> {
    let ctx = "talking to the relay's admin socket";
    stream.write_all(BACKUP_REQUEST).map_err(io(ctx))?;
    let mut status = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = stream.read(&mut byte).map_err(io(ctx))?;
        if n == 0 {
            return Err(BackupError::Relay("the relay closed the connection".into()));
        }
        if byte[0] == b'\n' || status.len() > 4096 {
            break;
        }
        status.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&status).into_owned();
    if let Some(message) = status.strip_prefix("ERR ") {
        return Err(BackupError::Relay(message.to_owned()));
    }
    if status != "OK" {
        return Err(BackupError::Relay(format!("unexpected answer {status:?}")));
    }
    std::io::copy(&mut stream, file).map_err(io(ctx))?;
    Ok(())
}

// ---------------------------------------------------------------- admin socket (relay side)

/// Creates the admin socket `<data_dir>/admin.sock` with mode 0600. `None` (logged) when it
/// cannot be created: the relay keeps running, and backups then need it stopped. Must be called
/// inside the runtime, after the store was opened (its lock proves a socket file left in the
/// directory is stale).
#[cfg(unix)]
pub fn bind_admin_socket(config: &Config) -> Option<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;

    let path = config.data_dir.join(ADMIN_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "admin socket unavailable; online backups are disabled");
            return None;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(error = %e, "cannot restrict the admin socket; closing it");
        let _ = std::fs::remove_file(&path);
        return None;
    }
    Some(listener)
}

/// Serves the admin socket made by [`bind_admin_socket`] until `shutdown` turns `true`, then
/// removes it. Only peers running as the socket's owner are served.
#[cfg(unix)]
pub async fn serve_admin_socket(
    listener: tokio::net::UnixListener,
    store: crate::store::SharedStore,
    config: std::sync::Arc<Config>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use std::os::unix::fs::MetadataExt;

    let path = config.data_dir.join(ADMIN_SOCKET);
    let owner = std::fs::metadata(&path).map(|m| m.uid()).ok();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin socket accept failed");
                continue;
            }
        };
        let peer = stream.peer_cred().map(|c| c.uid()).ok();
        if peer.is_none() || peer != owner {
            tracing::warn!("admin socket: peer is not the data directory's owner; refused");
            continue;
        }
        let store = store.clone();
        let config = config.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_admin(stream, store, config).await {
                tracing::warn!(error = %e, "admin socket request failed");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(unix)]
async fn handle_admin(
    mut stream: tokio::net::UnixStream,
    store: crate::store::SharedStore,
    config: std::sync::Arc<Config>,
) -> Result<(), BackupError> {
    use tokio::io::AsyncReadExt;

    let mut request = vec![0u8; BACKUP_REQUEST.len()];
    stream
        .read_exact(&mut request)
        .await
        .map_err(io("reading the admin request"))?;
    let mut std_stream = stream.into_std().map_err(io("admin socket"))?;
    std_stream
        .set_nonblocking(false)
        .map_err(io("admin socket"))?;
    tokio::task::spawn_blocking(move || {
        if request != BACKUP_REQUEST {
            let _ = std_stream.write_all(b"ERR unknown request\n");
            return Err(BackupError::Relay("unknown admin request".into()));
        }
        let prepared = match prepare(store.as_ref(), &config.data_dir, &config.blob_dir()) {
            Ok(p) => p,
            Err(e) => {
                let _ = std_stream.write_all(format!("ERR {e}\n").as_bytes());
                return Err(e);
            }
        };
        std_stream.write_all(b"OK\n").map_err(io("admin socket"))?;
        let (bytes, digest) = prepared.stream(&mut std_stream)?;
        tracing::info!(
            bytes,
            records = prepared.meta.kv_records,
            blobs = prepared.meta.blobs,
            sha256 = %hex::encode(digest),
            "online backup streamed"
        );
        Ok(())
    })
    .await
    .map_err(|e| BackupError::Relay(format!("backup task failed: {e}")))?
}

// ---------------------------------------------------------------- restore

struct SledApply {
    db: sled::Db,
    blob_dir: PathBuf,
    trees: std::collections::HashMap<String, sled::Tree>,
}

impl Apply for SledApply {
    fn kv(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        let t = match self.trees.get(tree) {
            Some(t) => t.clone(),
            None => {
                let t = self.db.open_tree(tree).map_err(StoreError::from)?;
                self.trees.insert(tree.to_owned(), t.clone());
                t
            }
        };
        t.insert(key, value).map_err(StoreError::from)?;
        Ok(())
    }

    fn blob(
        &mut self,
        blob_id: &str,
        _length: u64,
        bytes: &mut dyn FnMut(&mut dyn Write) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        let path = blob_path(&self.blob_dir, blob_id);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(format!("creating {}", path.display())))?;
        bytes(&mut file)?;
        file.sync_all()
            .map_err(io(format!("syncing {}", path.display())))?;
        Ok(())
    }
}

fn dir_is_empty(dir: &Path) -> Result<bool, BackupError> {
    let mut entries = std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))?;
    Ok(entries.next().is_none())
}

/// `sealroom-server restore --from FILE [--force]` into `config.data_dir`.
///
/// The file is verified completely first; a corrupt or truncated file is refused before the
/// target is touched. The target must not exist or be empty, unless `force` (then no relay may
/// be running on it).
pub fn restore_command(
    config: &Config,
    from: &Path,
    force: bool,
) -> Result<BackupSummary, BackupError> {
    let summary = verify_file(from)?;
    if summary.meta.next_id > MAX_NEXT_ID {
        return Err(BackupError::Corrupt(format!(
            "next_id {} is implausibly large",
            summary.meta.next_id
        )));
    }
    let target = config.data_dir.clone();
    let exists = target.exists();
    if exists && !dir_is_empty(&target)? {
        if !force {
            return Err(BackupError::TargetNotEmpty(target));
        }
        #[cfg(unix)]
        if std::os::unix::net::UnixStream::connect(target.join(ADMIN_SOCKET)).is_ok() {
            return Err(BackupError::RelayRunning(target));
        }
        if config.db_dir().is_dir() {
            // Opening takes sled's lock: this fails while a relay holds it.
            match SledStore::open(&config.db_dir()) {
                Ok(store) => drop(store),
                Err(_) => return Err(BackupError::RelayRunning(target)),
            }
        }
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(format!("creating {}", parent.display())))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_owned());
    let staging = parent.join(format!(".{name}.restore-{}", crate::ids::random_id()));
    let result = build_restored(&staging, from, &summary);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    // Swap in: the old directory is moved aside first and removed only after the rename.
    let old = parent.join(format!(".{name}.old-{}", crate::ids::random_id()));
    if exists {
        std::fs::rename(&target, &old).map_err(io(format!("moving {} aside", target.display())))?;
    }
    if let Err(e) = std::fs::rename(&staging, &target) {
        if exists {
            let _ = std::fs::rename(&old, &target);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(BackupError::Io {
            context: format!("moving the restored data to {}", target.display()),
            source: e,
        });
    }
    if exists {
        let _ = std::fs::remove_dir_all(&old);
    }
    if let Ok(d) = File::open(&parent) {
        let _ = d.sync_all();
    }
    Ok(summary)
}

fn build_restored(staging: &Path, from: &Path, summary: &BackupSummary) -> Result<(), BackupError> {
    let blob_dir = staging.join("blobs");
    std::fs::create_dir_all(&blob_dir).map_err(io(format!("creating {}", blob_dir.display())))?;
    let db = sled::Config::new()
        .path(staging.join("db"))
        .open()
        .map_err(StoreError::from)?;
    let mut apply = SledApply {
        db,
        blob_dir,
        trees: std::collections::HashMap::new(),
    };
    // Read again (the file may not change between the two passes: the digest is checked again).
    let second = read_backup(from, &mut apply)?;
    if second.sha256 != summary.sha256 {
        return Err(BackupError::Corrupt(
            "the file changed while it was restored".into(),
        ));
    }
    while apply.db.generate_id().map_err(StoreError::from)? < summary.meta.next_id {}
    apply.db.flush().map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreExt;

    fn blob_record(id: &str, length: u64, offset: u64) -> BlobRecord {
        BlobRecord {
            blob_id: id.to_owned(),
            room_id: "r".into(),
            space_id: "s".into(),
            length,
            offset,
            created_at: 1,
            expires_at: None,
            uploader_user: "u".into(),
            uploader_device: "d".into(),
        }
    }

    #[test]
    fn round_trip_and_corruption_is_refused() {
        let src = tempfile::tempdir().unwrap();
        let data = src.path().join("data");
        let config = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        std::fs::create_dir_all(config.blob_dir()).unwrap();
        let id_done = "a".repeat(32);
        let id_part = "b".repeat(32);
        {
            let store = SledStore::open(&config.db_dir()).unwrap();
            store.put("t1", b"k", b"v").unwrap();
            store.put("t2", b"", b"empty key").unwrap();
            store
                .put_json(BLOBS, id_done.as_bytes(), &blob_record(&id_done, 5, 5))
                .unwrap();
            store
                .put_json(BLOBS, id_part.as_bytes(), &blob_record(&id_part, 10, 3))
                .unwrap();
            // The partial upload's file holds unacknowledged bytes past its offset.
            std::fs::write(blob_path(&config.blob_dir(), &id_done), b"hello").unwrap();
            std::fs::write(blob_path(&config.blob_dir(), &id_part), b"abcXYZ").unwrap();
            for _ in 0..10 {
                store.next_id().unwrap();
            }
            store.flush().unwrap();
        }
        let out = src.path().join("snap.backup");
        let summary = backup_command(&config, &out).unwrap();
        assert_eq!(summary.meta.kv_records, 4);
        assert_eq!(summary.meta.blobs, 2);
        assert_eq!(summary.blob_bytes, 8);
        assert!(summary.meta.next_id > 10);
        // No staging directory is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".backup"))
            .collect();
        assert!(leftovers.is_empty());

        let dst = tempfile::tempdir().unwrap();
        let restored = Config {
            data_dir: dst.path().join("data"),
            ..Config::default()
        };
        restore_command(&restored, &out, false).unwrap();
        {
            let store = SledStore::open(&restored.db_dir()).unwrap();
            assert_eq!(store.get("t1", b"k").unwrap().unwrap(), b"v");
            assert_eq!(store.get("t2", b"").unwrap().unwrap(), b"empty key");
            assert!(store.next_id().unwrap() >= summary.meta.next_id);
        }
        assert_eq!(
            std::fs::read(blob_path(&restored.blob_dir(), &id_done)).unwrap(),
            b"hello"
        );
        assert_eq!(
            std::fs::read(blob_path(&restored.blob_dir(), &id_part)).unwrap(),
            b"abc"
        );
        // Not empty now: refused without --force, accepted with it.
        assert!(matches!(
            restore_command(&restored, &out, false),
            Err(BackupError::TargetNotEmpty(_))
        ));
        restore_command(&restored, &out, true).unwrap();

        // Every single-byte flip and every truncation is refused, and the target is untouched.
        let bytes = std::fs::read(&out).unwrap();
        let bad = src.path().join("bad.backup");
        let fresh = Config {
            data_dir: dst.path().join("never"),
            ..Config::default()
        };
        for i in (0..bytes.len()).step_by(7) {
            let mut copy = bytes.clone();
            copy[i] ^= 0x40;
            std::fs::write(&bad, &copy).unwrap();
            assert!(restore_command(&fresh, &bad, false).is_err(), "flip at {i}");
            std::fs::write(&bad, &bytes[..i]).unwrap();
            assert!(
                matches!(
                    restore_command(&fresh, &bad, false),
                    Err(BackupError::Corrupt(_))
                ),
                "truncated at {i}"
            );
        }
        assert!(!fresh.data_dir.exists());
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&bad, &longer).unwrap();
        assert!(matches!(verify_file(&bad), Err(BackupError::Corrupt(_))));
    }
}
