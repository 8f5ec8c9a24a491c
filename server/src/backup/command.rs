//! `sealroom-server backup`: through the running relay's admin socket, or the store directly.

use super::*;

/// Writes `prepared` to `out` atomically: a temporary file in the same directory (mode 0600),
/// synced, verified, then renamed.
pub(super) fn write_file(
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
/// answers, else by opening the store directly (the embedded store of a stopped relay, or the
/// configured PostgreSQL database).
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
    if config.store.database_url.is_some() {
        // PostgreSQL has no lock to wait for: its snapshot is one REPEATABLE READ transaction.
        let store = crate::startup::open_store(config)
            .map_err(|e| BackupError::Store(StoreError::Backend(e.to_string())))?;
        let prepared = prepare(
            store.as_ref(),
            &config.data_dir,
            crate::blobs::local_blob_dir(config).as_deref(),
        )?;
        return write_file(out, |file| prepared.stream(file).map(|_| ()));
    }
    let store_path = config.store_path();
    if !store_path.is_file() {
        return Err(BackupError::Io {
            context: format!("no store in {}", config.data_dir.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let store = open_unlocked(config)?;
    let prepared = prepare(
        &store,
        &config.data_dir,
        crate::blobs::local_blob_dir(config).as_deref(),
    )?;
    write_file(out, |file| prepared.stream(file).map(|_| ()))
}

/// Opens the store of a stopped relay; [`BackupError::Locked`] while a process has it open.
pub(super) fn open_unlocked(config: &Config) -> Result<RedbStore, BackupError> {
    RedbStore::open(&config.store_path(), config.limits.store_cache_bytes).map_err(|e| match e {
        OpenError::Locked(_) => BackupError::Locked(config.data_dir.clone()),
        other => BackupError::Store(other.into()),
    })
}

#[cfg(unix)]
pub(super) fn backup_via_socket(
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
