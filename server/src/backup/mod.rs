//! Backup and restore of a relay's data directory: `sealroom-server backup --out FILE` and
//! `sealroom-server restore --from FILE [--force]`.
//!
//! # Taking a backup while the relay runs
//!
//! The store file is locked by the process that has it open, so a second process cannot open
//! a running relay's store. The running relay therefore serves a local admin socket,
//! `<data_dir>/admin.sock` (mode 0600, and a connecting peer must run as the user owning the
//! data directory). The `backup` command connects to it; the relay takes a
//! [`Store::snapshot`] (one point in time, while requests go on) and streams the backup back.
//! When no relay runs, the command opens the store directly.
//!
//! # The scale-out deployment
//!
//! With PostgreSQL (`SEALROOM_DATABASE_URL`) `backup` writes the same file format: through the
//! admin socket of a running relay, or by opening the database directly when none answers
//! (PostgreSQL is shared, there is no lock to wait for); the snapshot is one `REPEATABLE READ`
//! transaction. With blobs in S3 the file holds the records only. `restore` rebuilds the
//! embedded deployment only and refuses, before touching anything, when the relay it runs for
//! is configured with PostgreSQL ([`BackupError::RestoreIntoPostgres`]): it would otherwise
//! write a store that relay never reads and report success.
//!
//! Blob bytes live in files next to the store. While the snapshot is read (a redb read
//! transaction: one point in time, writers carry on), every blob file named by a snapshot
//! record is hard-linked into a staging directory (or, where hard links fail, its first
//! `offset` bytes are copied). A blob deleted after the snapshot's point in time but before its
//! link makes the snapshot be taken again. A blob's bytes below its recorded
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
use crate::store::{decode_json, OpenError, RedbStore, Store, StoreError};

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
/// Largest `next_id` restore will advance the store's id generator to.
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
    /// A blob named by the snapshot was deleted before its bytes were staged (the backup is
    /// taken again).
    #[error("blob {0} was deleted while the backup was taken")]
    BlobDeletedMeanwhile(String),
    /// The running relay reported an error.
    #[error("the relay refused the backup: {0}")]
    Relay(String),
    /// `restore` builds an embedded store, but this relay keeps its records in PostgreSQL
    /// (`SEALROOM_DATABASE_URL`): a restored data directory would be ignored by it.
    #[error(
        "this relay keeps its records in PostgreSQL (SEALROOM_DATABASE_URL), and restore only \
         rebuilds the embedded store, which the relay would ignore; restore the relay's \
         PostgreSQL schema with PostgreSQL's own tools (pg_dump / pg_restore) and the blobs with \
         the bucket's versioning or replication"
    )]
    RestoreIntoPostgres,
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

mod admin_socket;
mod command;
mod read;
mod restore;
mod rotate;
#[cfg(test)]
mod tests;
mod write;

pub use admin_socket::*;
pub use command::*;
pub use read::*;
pub use restore::*;
pub use rotate::rotate_key;
pub use write::*;
