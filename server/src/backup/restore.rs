//! `sealroom-server restore`: build a new data directory beside the target and swap it in.

use super::*;

/// Pairs per write transaction while restoring.
const RESTORE_BATCH: usize = 5_000;

pub(super) struct StoreApply {
    store: RedbStore,
    blob_dir: PathBuf,
    /// Records of `tree` not yet written (records arrive tree by tree).
    tree: String,
    pending: Vec<crate::store::Kv>,
}

impl StoreApply {
    fn write_pending(&mut self) -> Result<(), BackupError> {
        if !self.tree.is_empty() {
            self.store.put_many(&self.tree, &self.pending)?;
        }
        self.pending.clear();
        Ok(())
    }
}

impl Apply for StoreApply {
    fn kv(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        if tree != self.tree || self.pending.len() >= RESTORE_BATCH {
            self.write_pending()?;
            tree.clone_into(&mut self.tree);
        }
        self.pending.push((key.to_vec(), value.to_vec()));
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

pub(super) fn dir_is_empty(dir: &Path) -> Result<bool, BackupError> {
    let mut entries = std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))?;
    Ok(entries.next().is_none())
}

/// `sealroom-server restore --from FILE [--force]` into `config.data_dir`.
///
/// The file is verified completely first; a corrupt or truncated file is refused before the
/// target is touched. A relay configured with PostgreSQL is refused
/// ([`BackupError::RestoreIntoPostgres`]): restore rebuilds the embedded store only. The target must not exist or be empty, unless `force` (then no relay may
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
    if config.store.database_url.is_some() {
        return Err(BackupError::RestoreIntoPostgres);
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
        if config.store_path().is_file() {
            // Opening takes the store file's lock: this fails while a relay holds it.
            match RedbStore::open(&config.store_path(), 1 << 20) {
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

pub(super) fn build_restored(
    staging: &Path,
    from: &Path,
    summary: &BackupSummary,
) -> Result<(), BackupError> {
    let blob_dir = staging.join("blobs");
    std::fs::create_dir_all(&blob_dir).map_err(io(format!("creating {}", blob_dir.display())))?;
    let store = RedbStore::open(&staging.join(crate::config::STORE_FILE), 16 << 20)
        .map_err(StoreError::from)?;
    let mut apply = StoreApply {
        store,
        blob_dir,
        tree: String::new(),
        pending: Vec::new(),
    };
    // Read again (the file may not change between the two passes: the digest is checked again).
    let second = read_backup(from, &mut apply)?;
    if second.sha256 != summary.sha256 {
        return Err(BackupError::Corrupt(
            "the file changed while it was restored".into(),
        ));
    }
    apply.write_pending()?;
    apply.store.advance_next_id(summary.meta.next_id)?;
    Ok(())
}
