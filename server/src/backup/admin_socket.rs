//! The relay side of the local admin socket that serves backups while it runs.

use super::*;

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
pub(super) async fn handle_admin(
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
        let prepared = match prepare(
            store.as_ref(),
            &config.data_dir,
            crate::blobs::local_blob_dir(&config).as_deref(),
        ) {
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
            records = prepared.meta().kv_records,
            blobs = prepared.meta().blobs,
            sha256 = %hex::encode(digest),
            "online backup streamed"
        );
        Ok(())
    })
    .await
    .map_err(|e| BackupError::Relay(format!("backup task failed: {e}")))?
}
