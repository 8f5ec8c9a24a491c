//! The Sealroom relay: authenticates devices, orders MLS handshake messages, stores ciphertext
//! blobs and messages, keeps an audit trail and sends content-free notifications.
//!
//! The binary (`sealroom-server`) is a thin wrapper over [`run`]; the routes live in
//! [`http::api`]. Operations (configuration, bootstrap, TLS, backup) are described in
//! `docs/relay.md`.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod blobs;
pub mod config;
pub mod contention;
pub mod directory;
pub mod erasure;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod quota;
pub mod ratelimit;
pub mod recovery;
pub mod reply;
pub mod retention;
pub mod rooms;
pub mod sealing;
pub mod startup;
pub mod state;
pub mod store;
pub mod tls;
pub mod totp;

/// The HTTP layer under its earlier name: `http::api(state)` builds every route.
pub use http as filters;
pub use startup::{open_store, RunError};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::state::{AppState, SystemClock};

/// Name of the file in the data directory to which the relay writes the address it listens on
/// (useful with port 0).
pub const LISTEN_ADDR_FILE: &str = "listen-addr";

/// Runs the relay until SIGINT or SIGTERM, then shuts down gracefully: stops accepting, lets
/// requests in flight finish, stops background tasks and flushes the store (a no-op for the
/// redb store, whose writes are durable when they return).
pub async fn run(config: Config) -> Result<(), RunError> {
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|source| RunError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    // Load TLS first: a bad certificate or key stops start-up before anything is opened.
    let tls_config = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => {
            Some(tls::load_config(cert, key).map_err(|e| RunError::Tls(e.to_string()))?)
        }
        _ => None,
    };
    // The relay key next: a missing, loose or malformed key file stops start-up.
    let relay_key = sealing::load_for(&config).map_err(|e| RunError::Startup(e.to_string()))?;
    let store = open_store(&config)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState::new(config, store, Arc::new(SystemClock), shutdown_rx);
    accounts::seal_legacy_totp(state.store.as_ref(), &relay_key)
        .map_err(|e| RunError::Startup(e.to_string()))?;
    let audit_signer = audit::signing::load_or_create(state.store.as_ref(), &relay_key)
        .map_err(RunError::Startup)?;
    state.insert_extension(audit_signer);
    state.insert_extension(relay_key);
    accounts::init(&state).map_err(|e| RunError::Startup(e.to_string()))?;
    blobs::init_backend(&state).map_err(|e| RunError::Startup(e.to_string()))?;
    blobs::recover_uploads(&state).map_err(|e| RunError::Startup(e.to_string()))?;
    spawn_background(&state);

    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: state.config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| RunError::Bind {
        addr: state.config.listen,
        source,
    })?;
    // The admin socket exists before the listen-addr file announces the relay as started.
    #[cfg(unix)]
    if let Some(admin) = backup::bind_admin_socket(&state.config) {
        tokio::spawn(backup::serve_admin_socket(
            admin,
            state.store.clone(),
            state.config.clone(),
            state.shutdown_signal(),
        ));
    }
    if let Some(metrics_addr) = state.config.metrics_listen {
        let metrics_listener =
            tokio::net::TcpListener::bind(metrics_addr)
                .await
                .map_err(|source| RunError::Bind {
                    addr: metrics_addr,
                    source,
                })?;
        let mut stop = state.shutdown_signal();
        tokio::spawn(
            warp::serve(http::metrics_listener(state.clone()))
                .incoming(metrics_listener)
                .graceful(async move {
                    let _ = stop.changed().await;
                })
                .run(),
        );
    }
    let addr_file = data_dir.join(LISTEN_ADDR_FILE);
    std::fs::write(&addr_file, local.to_string()).map_err(|source| RunError::DataDir {
        path: addr_file.clone(),
        source,
    })?;
    tracing::info!(addr = %local, tls = state.config.tls.cert.is_some(), "sealroom relay listening");

    // On SIGINT/SIGTERM, waiting live-event requests answer at once, so that graceful
    // shutdown does not wait out their long polls.
    let drain = state.clone();
    let stop = async move {
        shutdown_signal().await;
        live::feed::drain(&drain);
    };
    match tls_config {
        Some(tls_config) => {
            tls::serve(listener, tls_config, http::api(state.clone()), stop).await;
        }
        None => {
            warp::serve(http::api(state.clone()))
                .incoming(listener)
                .graceful(stop)
                .run()
                .await;
        }
    }

    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    state.store.flush()?;
    let _ = std::fs::remove_file(&addr_file);
    tracing::info!("stopped");
    Ok(())
}

/// Starts the background tasks. Each stops when [`AppState::shutdown_signal`] turns `true`.
fn spawn_background(state: &AppState) {
    let st = state.clone();
    tokio::spawn(async move {
        let mut shutdown = st.shutdown_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => break,
            }
            // Singleton work: with several instances on one store, one of them prunes.
            let prune = st.clone();
            let result = tokio::task::spawn_blocking(move || {
                if !store::lead(prune.store.as_ref(), "prune_replay_quota") {
                    return;
                }
                if let Err(e) = auth::prune_replay_cache(&prune) {
                    tracing::warn!(error = %e, "replay cache pruning failed");
                }
                if let Err(e) = crate::quota::prune(prune.store.as_ref(), prune.now()) {
                    tracing::warn!(error = %e, "quota window pruning failed");
                }
            })
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "pruning task failed");
            }
        }
    });
    // ---- background tasks of the other relay modules start here, one line each: ----
    crate::retention::spawn(state.clone());
    crate::notify::spawn(state.clone());
    crate::live::spawn(state.clone());
    crate::audit::spawn_linker(state.clone());
    // ---- end of background tasks ----
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
