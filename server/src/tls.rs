//! TLS terminated by the relay itself (rustls with the ring provider), as an alternative to a
//! reverse proxy in front. With `tls.cert` and `tls.key` configured the relay speaks HTTPS only
//! (HTTP/1.1 over TLS 1.2 or 1.3) on its listen address.
//!
//! warp 0.4 has no TLS of its own, so the relay serves its warp filter through hyper over a
//! `tokio-rustls` stream, with the same graceful shutdown as the plain server: stop accepting,
//! let connections in flight finish. warp's own remote-address filter only sees connections it
//! accepted itself, so this server puts the peer address into each request as a [`PeerAddr`]
//! extension; [`remote_addr`] reads either.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("certificate {path}: {message}")]
    Cert {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("private key {path}: {message}")]
    Key {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the certificate and key (e.g. they do not match).
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The peer address of a connection accepted by [`serve`], as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The connection's remote address, whether warp or [`serve`] accepted it.
pub fn remote_addr(
) -> impl Filter<Extract = (Option<SocketAddr>,), Error = std::convert::Infallible> + Clone {
    warp::addr::remote()
        .and(warp::ext::optional::<PeerAddr>())
        .map(|warp_addr: Option<SocketAddr>, peer: Option<PeerAddr>| {
            warp_addr.or(peer.map(|p| p.0))
        })
}

/// Loads a PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1) into a rustls server
/// configuration with the ring provider, safe default protocol versions and ALPN `http/1.1`.
pub fn load_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_err = |message: String| TlsError::Cert {
        path: cert.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no PEM certificate found".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `filter` over TLS on `listener` until `shutdown` resolves, then stops accepting and
/// waits for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    filter: BoxedFilter<(Response,)>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let acceptor = TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Typically out of file descriptors: give connections time to close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let warp_service = warp::service(filter.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, peer = %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    let mut svc = warp_service.clone();
                    tower_service::Service::call(&mut svc, req)
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, peer = %peer, "connection error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
