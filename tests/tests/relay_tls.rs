//! TLS terminated by the relay (rustls): a self-signed certificate is generated at test time
//! (with the `openssl` command-line tool; without it the test fails under `CI=true` and skips
//! with a message elsewhere), the real relay binary starts with `SEALROOM_TLS_CERT` /
//! `SEALROOM_TLS_KEY`, a rustls client trusting exactly that certificate gets `200` from
//! `/healthz` over HTTPS, plain HTTP to the same port gets no HTTP answer, and SIGTERM still
//! shuts the relay down gracefully. A certificate without key, an unreadable certificate, or a
//! key that does not match the certificate stops start-up with an error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use sealroom_tests::relay::{binary_path, http};

/// Writes `cert.pem` and `key.pem` (P-256, CN and SAN localhost/127.0.0.1) into `dir`.
fn self_signed(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some((cert, key)),
        _ => None,
    }
}

/// Without `openssl` no certificate can be made: a failure under `CI=true` (the test must never
/// pass unchecked there), a skip with a message elsewhere.
fn no_openssl() {
    let why = "the `openssl` command is not available to make a test certificate";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("SKIPPED: {why}");
}

fn spawn(data: &Path, env: &[(&str, &Path)]) -> Child {
    std::fs::create_dir_all(data).unwrap();
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let mut cmd = Command::new(binary_path().unwrap());
    cmd.env("SEALROOM_LISTEN", "127.0.0.1:0")
        .env("SEALROOM_DATA_DIR", data)
        .env_remove("SEALROOM_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn client_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// `GET path` over HTTPS; returns the status line and the whole response.
fn https_get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<String> {
    let name = ServerName::try_from("localhost").unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // Servers may close without close_notify after `connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn wait_addr(data: &Path, child: &mut Child) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(data.join("listen-addr")) {
            if let Ok(addr) = text.trim().parse() {
                return addr;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("relay exited early ({status})");
        }
        assert!(Instant::now() < deadline, "relay did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn relay_terminates_tls_with_rustls() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed(dir.path()) else {
        return no_openssl();
    };
    let data = dir.path().join("data");
    let mut child = spawn(
        &data,
        &[("SEALROOM_TLS_CERT", &cert), ("SEALROOM_TLS_KEY", &key)],
    );
    let addr = wait_addr(&data, &mut child);
    let config = client_config(&cert);

    // The listen-addr file is written just before serving starts: retry until it answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = loop {
        match https_get(addr, &config, "/healthz") {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "no HTTPS answer: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The rest of the API is served over TLS too (unsigned request: 401, not a TLS error).
    let me = https_get(addr, &config, "/v1/me").unwrap();
    assert!(me.starts_with("HTTP/1.1 401"), "{me}");

    // Plain HTTP to the TLS port gets no HTTP response.
    if let Ok(r) = http(addr, "GET", "/healthz", &[], b"") {
        panic!("plain HTTP answered with status {}", r.status);
    }
    // A client that does not trust the certificate fails the handshake.
    let other = tempfile::tempdir().unwrap();
    let (other_cert, _) = self_signed(other.path()).unwrap();
    assert!(https_get(addr, &client_config(&other_cert), "/healthz").is_err());
    // Still serving after the failed handshakes.
    assert!(https_get(addr, &config, "/healthz")
        .unwrap()
        .starts_with("HTTP/1.1 200"));

    // Graceful shutdown on SIGTERM.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "relay exit: {status}");
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("\"tls\":true"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn incomplete_or_unreadable_tls_settings_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let data = dir.path().join("a");
    let mut child = spawn(&data, &[("SEALROOM_TLS_CERT", &missing)]);
    let status = child.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(
        log.contains("TLS needs both a certificate and a key"),
        "{log}"
    );

    let data = dir.path().join("b");
    let mut child = spawn(
        &data,
        &[
            ("SEALROOM_TLS_CERT", &missing),
            ("SEALROOM_TLS_KEY", &missing),
        ],
    );
    let status = child.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("certificate"), "{log}");
    assert!(!data.join("listen-addr").exists());

    // A certificate with the key of another certificate is refused by rustls at start-up.
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let (Some((cert, _)), Some((_, other_key))) =
        (self_signed(one.path()), self_signed(two.path()))
    else {
        return no_openssl();
    };
    let data = dir.path().join("c");
    let mut child = spawn(
        &data,
        &[
            ("SEALROOM_TLS_CERT", &cert),
            ("SEALROOM_TLS_KEY", &other_key),
        ],
    );
    let status = child.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("TLS"), "{log}");
    assert!(!data.join("listen-addr").exists());
}
