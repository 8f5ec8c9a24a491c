//! `sealroom-server migrate`: moves a data directory's sled database (releases before the redb
//! store) into the redb store file, once.
//!
//! Steps, each safe to interrupt:
//! 1. the sled database is opened (its lock refuses while an old relay runs on it);
//! 2. every tree is copied into a new file `<store>.migrating` in batches, then counted and
//!    digested (SHA-256 over length-prefixed keys and values, in key order) on both sides; any
//!    difference in tree names, counts or digests stops the migration and leaves the sled
//!    database as it was;
//! 3. the id generator is moved past sled's, and a migration record (time, counts, where the
//!    sled database goes) is written into the new store's metadata;
//! 4. the new file is renamed into place, then the sled directory is renamed aside
//!    (`db.sled-migrated-<unix time>`), never deleted.
//!
//! A second run finds the migration record and refuses. A run interrupted between the two
//! renames of step 4 is completed by the next run (the record is there, the sled directory
//! still in place).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Kv, RedbStore, SledStore, Store, StoreError};

/// Key of the migration record in the store's metadata.
const MIGRATION_KEY: &[u8] = b"migrated_from_sled";
/// Pairs per write transaction while copying.
const BATCH: usize = 5_000;

/// Why a migration did not run or did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The data directory has no sled database.
    #[error("no sled database at {0}: nothing to migrate")]
    NothingToMigrate(PathBuf),
    /// The migration ran before.
    #[error(
        "this data directory was already migrated (at unix time {}); the old sled database was moved to {}",
        .0.migrated_at, .0.sled_moved_to
    )]
    AlreadyMigrated(Box<MigrationRecord>),
    /// A store file that migrate did not write is in the way.
    #[error("a store already exists at {0} and was not written by migrate; it is left alone (move it away to migrate the sled database)")]
    StoreExists(PathBuf),
    /// A relay (old or new) has the database open.
    #[error("{0} is in use by another process: stop the relay before migrating")]
    Locked(PathBuf),
    /// The copy does not match the original: nothing was switched over.
    #[error("verification failed, the sled database is left in place: {0}")]
    Mismatch(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> MigrateError {
    move |source| MigrateError::Io { context, source }
}

/// What a migration copied, stored in the new store and printed by the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// When it ran, Unix seconds.
    pub migrated_at: i64,
    /// Where the sled database was moved.
    pub sled_moved_to: String,
    /// Per tree: name, records, SHA-256 (hex) of its content.
    pub trees: Vec<TreeDigest>,
    /// Records copied in total.
    pub records: u64,
    /// The id generator of the new store starts at or above this.
    pub next_id: u64,
}

/// Count and digest of one tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeDigest {
    /// Tree name.
    pub tree: String,
    /// Number of records.
    pub records: u64,
    /// SHA-256 over `len(key) || key || len(value) || value` (u32 big-endian lengths) of every
    /// record in key order, hex.
    pub sha256: String,
}

/// The outcome of [`migrate`].
#[derive(Debug, Clone)]
pub struct Migrated {
    /// The record written into the new store.
    pub record: MigrationRecord,
    /// `true` when this run only completed an earlier, interrupted run (the rename of the
    /// sled directory).
    pub completed_earlier_run: bool,
}

/// Whether `data_dir`'s sled database still waits for [`migrate`].
pub fn needs_migration(sled_dir: &Path) -> bool {
    sled_dir.exists()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn open_redb(path: &Path, cache_bytes: u64) -> Result<RedbStore, MigrateError> {
    RedbStore::open(path, cache_bytes).map_err(|e| match e {
        super::OpenError::Locked(p) => MigrateError::Locked(p),
        other => MigrateError::Store(other.into()),
    })
}

/// Count and digest of every tree of `store`, by name.
pub fn digest_trees(store: &dyn Store) -> Result<Vec<TreeDigest>, StoreError> {
    let mut out = Vec::new();
    for tree in store.tree_names()? {
        let mut h = Sha256::new();
        let mut records = 0u64;
        for kv in store.scan_prefix(&tree, b"")? {
            let (k, v) = kv?;
            for part in [&k, &v] {
                let len = u32::try_from(part.len())
                    .map_err(|_| StoreError::Backend("record too large".to_owned()))?;
                h.update(len.to_be_bytes());
                h.update(part);
            }
            records += 1;
        }
        out.push(TreeDigest {
            tree,
            records,
            sha256: hex::encode(h.finalize()),
        });
    }
    Ok(out)
}

/// Moves the sled database `sled_dir` into a new redb store at `store_path` (see the module
/// documentation). `cache_bytes` is the page cache of the new store while copying.
pub fn migrate(
    sled_dir: &Path,
    store_path: &Path,
    cache_bytes: u64,
) -> Result<Migrated, MigrateError> {
    let data_dir = store_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if store_path.exists() {
        let store = open_redb(store_path, cache_bytes)?;
        let Some(raw) = store.meta(MIGRATION_KEY)? else {
            return Err(MigrateError::StoreExists(store_path.to_owned()));
        };
        let record: MigrationRecord = super::decode_json("migration record", &raw)?;
        if needs_migration(sled_dir) {
            // Interrupted between the two renames: finish the earlier run.
            drop(store);
            let moved = PathBuf::from(&record.sled_moved_to);
            std::fs::rename(sled_dir, &moved)
                .map_err(io(format!("moving {} aside", sled_dir.display())))?;
            sync_dir(&data_dir);
            return Ok(Migrated {
                record,
                completed_earlier_run: true,
            });
        }
        return Err(MigrateError::AlreadyMigrated(Box::new(record)));
    }
    if !needs_migration(sled_dir) {
        return Err(MigrateError::NothingToMigrate(sled_dir.to_owned()));
    }
    let sled = SledStore::open(sled_dir).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") || text.contains("Resource temporarily") {
            MigrateError::Locked(sled_dir.to_owned())
        } else {
            MigrateError::Store(e)
        }
    })?;
    let mut staging = store_path.as_os_str().to_owned();
    staging.push(".migrating");
    let staging = PathBuf::from(staging);
    // A file left by an interrupted copy holds nothing that is not still in sled.
    if staging.exists() {
        std::fs::remove_file(&staging)
            .map_err(io(format!("removing the stale {}", staging.display())))?;
    }
    let result = copy_and_verify(&sled, sled_dir, &staging, &data_dir, cache_bytes);
    let record = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
    };
    drop(sled);
    std::fs::rename(&staging, store_path).map_err(io(format!(
        "moving the new store to {}",
        store_path.display()
    )))?;
    sync_dir(&data_dir);
    std::fs::rename(sled_dir, &record.sled_moved_to)
        .map_err(io(format!("moving {} aside", sled_dir.display())))?;
    sync_dir(&data_dir);
    Ok(Migrated {
        record,
        completed_earlier_run: false,
    })
}

fn copy_and_verify(
    sled: &SledStore,
    sled_dir: &Path,
    staging: &Path,
    data_dir: &Path,
    cache_bytes: u64,
) -> Result<MigrationRecord, MigrateError> {
    let redb = open_redb(staging, cache_bytes)?;
    let mut records = 0u64;
    for tree in sled.tree_names()? {
        if tree.starts_with(super::RESERVED_PREFIX) {
            return Err(MigrateError::Mismatch(format!(
                "the sled database has a tree named {tree:?}, which the new store reserves"
            )));
        }
        // Creates the tree even when it is empty, so both list the same names.
        redb.put_many(&tree, &[])?;
        let mut batch: Vec<Kv> = Vec::with_capacity(BATCH);
        for kv in sled.scan_prefix(&tree, b"")? {
            batch.push(kv?);
            if batch.len() == BATCH {
                redb.put_many(&tree, &batch)?;
                records += batch.len() as u64;
                batch.clear();
            }
        }
        redb.put_many(&tree, &batch)?;
        records += batch.len() as u64;
    }
    let before = digest_trees(sled)?;
    let after = digest_trees(&redb)?;
    if before != after {
        let first = before
            .iter()
            .zip(after.iter())
            .find(|(a, b)| a != b)
            .map(|(a, b)| {
                format!(
                    "tree {}: {} records in sled, {} copied",
                    a.tree, a.records, b.records
                )
            })
            .unwrap_or_else(|| format!("{} trees in sled, {} copied", before.len(), after.len()));
        return Err(MigrateError::Mismatch(first));
    }
    let counted: u64 = before.iter().map(|t| t.records).sum();
    if counted != records {
        return Err(MigrateError::Mismatch(format!(
            "{records} records copied, {counted} counted"
        )));
    }
    // Every id sled handed out is below this one.
    let next_id = sled.next_id()?.saturating_add(1);
    redb.advance_next_id(next_id)?;
    let migrated_at = now_secs();
    let moved_to = data_dir.join(format!(
        "{}.sled-migrated-{migrated_at}",
        sled_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "db".to_owned())
    ));
    let record = MigrationRecord {
        migrated_at,
        sled_moved_to: moved_to.display().to_string(),
        trees: after,
        records,
        next_id,
    };
    let raw = super::encode_json("migration record", &record)?;
    redb.set_meta(MIGRATION_KEY, &raw)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Txn;

    #[test]
    fn migrates_every_tree_once_and_keeps_ids_increasing() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("db");
        let store_path = dir.path().join("store.redb");
        let last_id = {
            let s = SledStore::open(&sled_dir).unwrap();
            for i in 0..12_000u32 {
                s.put("big", &i.to_be_bytes(), &[i as u8; 40]).unwrap();
            }
            let mut t = Txn::new();
            t.put("rooms", b"r1", b"{}")
                .put("epochs", b"r1", b"\x00\x01");
            s.commit(&t).unwrap();
            s.put("empty-key", b"", b"v").unwrap();
            let mut id = 0;
            for _ in 0..10 {
                id = s.next_id().unwrap();
            }
            s.flush().unwrap();
            id
        };
        let done = migrate(&sled_dir, &store_path, 1 << 20).unwrap();
        assert!(!done.completed_earlier_run);
        assert_eq!(done.record.records, 12_003);
        assert!(!sled_dir.exists());
        assert!(Path::new(&done.record.sled_moved_to).is_dir());
        {
            let s = RedbStore::open(&store_path, 1 << 20).unwrap();
            assert_eq!(s.get("rooms", b"r1").unwrap(), Some(b"{}".to_vec()));
            assert_eq!(s.get("empty-key", b"").unwrap(), Some(b"v".to_vec()));
            assert_eq!(s.scan_prefix("big", b"").unwrap().count(), 12_000);
            assert!(s.next_id().unwrap() > last_id);
            assert_eq!(digest_trees(&s).unwrap(), done.record.trees);
        }
        // Again: refused, nothing changed.
        assert!(matches!(
            migrate(&sled_dir, &store_path, 1 << 20),
            Err(MigrateError::AlreadyMigrated(_))
        ));
        // A sled directory reappearing (a run interrupted before the second rename) is moved
        // aside by the next run, not copied again.
        std::fs::rename(&done.record.sled_moved_to, &sled_dir).unwrap();
        let again = migrate(&sled_dir, &store_path, 1 << 20).unwrap();
        assert!(again.completed_earlier_run);
        assert!(!sled_dir.exists());
    }

    #[test]
    fn refuses_without_sled_and_beside_a_foreign_store() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("db");
        let store_path = dir.path().join("store.redb");
        assert!(matches!(
            migrate(&sled_dir, &store_path, 1 << 20),
            Err(MigrateError::NothingToMigrate(_))
        ));
        SledStore::open(&sled_dir)
            .unwrap()
            .put("t", b"k", b"v")
            .unwrap();
        RedbStore::open(&store_path, 1 << 20)
            .unwrap()
            .put("t", b"other", b"x")
            .unwrap();
        assert!(matches!(
            migrate(&sled_dir, &store_path, 1 << 20),
            Err(MigrateError::StoreExists(_))
        ));
        assert!(sled_dir.exists());
    }
}
