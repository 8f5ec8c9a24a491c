//! What the relay opens before it serves: the store of the configured deployment, and the
//! errors that stop start-up. Below the domain services, so that the offline commands
//! (`backup`, `audit verify`, `rotate-key`) open the store the same way [`crate::run`] does.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::store::{self, OpenError, RedbStore, SharedStore, StoreError};

/// Why the relay could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The data directory could not be created or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store could not be opened (another relay may hold its lock).
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The data directory still holds the sled database of an earlier release.
    #[error(
        "{} holds the sled database of an earlier release; stop here and run \
         `sealroom-server migrate --data-dir {}` to move it into the new store",
        .sled_dir.display(), .data_dir.display()
    )]
    Unmigrated {
        /// The sled database directory.
        sled_dir: std::path::PathBuf,
        /// The data directory.
        data_dir: std::path::PathBuf,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// Start-up step failed.
    #[error("{0}")]
    Startup(String),
}

/// Opens (or creates) the store in the configured data directory: the redb file
/// [`Config::store_path`]. Refuses while the directory still holds an unmigrated sled
/// database of an earlier release (see `sealroom-server migrate`).
pub fn open_store(config: &Config) -> Result<SharedStore, RunError> {
    if let Some(url) = &config.store.database_url {
        let store =
            store::PgStore::connect(url.expose_secret(), config.store.database_schema.as_deref())
                .map_err(|e| RunError::Store(e.into()))?;
        return Ok(Arc::new(store));
    }
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| RunError::DataDir {
        path: dir.clone(),
        source,
    })?;
    let sled_dir = config.legacy_sled_dir();
    if store::migrate::needs_migration(&sled_dir) {
        return Err(RunError::Unmigrated {
            sled_dir,
            data_dir: dir.clone(),
        });
    }
    let store = RedbStore::open(&config.store_path(), config.limits.store_cache_bytes).map_err(
        |e| match e {
            OpenError::Locked(path) => RunError::Store(StoreError::Backend(format!(
                "{} is locked by another process (is a relay already running on this data \
                 directory?)",
                path.display()
            ))),
            other => RunError::Store(other.into()),
        },
    )?;
    Ok(Arc::new(store))
}
