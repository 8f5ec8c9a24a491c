//! The relay process: start it on a free port with a temporary data directory, stop it, kill it
//! with SIGKILL, restart it, run its subcommands.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::backends::{binary_path, blob_backend_env, store_backend_env};
use super::client::Client;
use super::device::Device;
use super::http::http;

/// A running relay process with its own temporary data directory.
pub struct Relay {
    bin: PathBuf,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    child: Option<Child>,
    addr: SocketAddr,
}

impl Relay {
    /// Starts a relay with default settings (and a high auth-failure limit so authorization
    /// tests are not rate limited).
    pub fn start() -> Self {
        Self::start_with(&[("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000")])
    }

    /// Starts a relay with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let bin = binary_path().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut relay = Self {
            bin,
            dir,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        relay.spawn();
        relay
    }

    /// A relay with its own (not yet created) data directory that is not started, e.g. to
    /// restore a backup into it first with [`Relay::run_command`]; start it with
    /// [`Relay::launch`].
    pub fn unstarted(env: &[(&str, &str)]) -> Self {
        Self {
            bin: binary_path().unwrap_or_else(|e| panic!("{e}")),
            dir: tempfile::tempdir().expect("temp dir"),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// Starts a relay made by [`Relay::unstarted`] (or stopped with [`Relay::stop`]) on its data
    /// directory and waits until it is healthy.
    pub fn launch(&mut self) {
        self.spawn();
    }

    /// The data directory (`SEALROOM_DATA_DIR`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file collecting the relay's stdout and stderr, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("relay.log")
    }

    /// Everything the relay logged so far.
    pub fn log_contents(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Panics if the relay's data directory or its log contains any of `needles` (the test's
    /// plaintext, file names and titles), nor its PostgreSQL records or S3 objects when it
    /// uses them ([`Relay::assert_no_plaintext_in_services`]). Files are streamed in
    /// overlapping windows, so gigabyte blobs need no more memory than one window.
    pub fn assert_no_plaintext(&self, needles: &[&str]) {
        self.assert_no_plaintext_in_services(needles);
        let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(0);
        let mut files = files_under(&self.data_dir());
        files.push(self.log_path());
        for file in files {
            let Ok(mut f) = std::fs::File::open(&file) else {
                continue;
            };
            let mut window: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 8 << 20];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                window.extend_from_slice(&buf[..n]);
                for needle in needles {
                    assert!(
                        !window.windows(needle.len()).any(|w| w == needle.as_bytes()),
                        "{} contains {needle:?}",
                        file.display()
                    );
                }
                let keep = window.len().min(overlap);
                window.drain(..window.len() - keep);
            }
        }
    }

    /// The value of `name` in the relay's environment: the relay's own settings (given to
    /// [`Relay::start_with`]), else the test backends' ([`store_backend_env`],
    /// [`blob_backend_env`]), else the test process's own environment, which the relay inherits.
    pub fn env_value(&self, name: &str) -> Option<String> {
        let find = |vars: &[(String, String)]| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        find(&self.env)
            .or_else(|| find(&store_backend_env(self.dir.path())))
            .or_else(|| find(&blob_backend_env()))
            .or_else(|| std::env::var(name).ok())
    }

    /// The address the relay listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spawn(&mut self) {
        let data = self.data_dir();
        std::fs::create_dir_all(&data).expect("data dir");
        let addr_file = data.join("listen-addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let log2 = log.try_clone().expect("log file");
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path())
            .env("SEALROOM_LISTEN", self.addr.to_string())
            .env("SEALROOM_DATA_DIR", &data)
            .env("SEALROOM_LOG", "info")
            .env_remove("SEALROOM_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        self.backend_env(&mut cmd);
        let child = cmd.spawn().expect("spawn relay");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                    self.addr = addr;
                    if let Ok(r) = http(addr, "GET", "/healthz", &[], b"") {
                        if r.status == 200 {
                            return;
                        }
                    }
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "relay exited early ({status}); log:\n{}",
                        self.log_contents()
                    );
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "relay did not become healthy; log:\n{}",
                    self.log_contents()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the relay with SIGKILL (no chance to flush).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the relay again on the same address and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The store and blob backends of this test run, then this relay's own environment.
    fn backend_env(&self, cmd: &mut Command) {
        for (k, v) in store_backend_env(self.dir.path()) {
            cmd.env(k, v);
        }
        for (k, v) in blob_backend_env() {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
    }

    /// Runs the relay binary with a subcommand (e.g. `backup`), with this relay's environment.
    pub fn run_command(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path())
            .env("SEALROOM_DATA_DIR", self.data_dir())
            .env("SEALROOM_LISTEN", self.addr.to_string())
            .args(args);
        self.backend_env(&mut cmd);
        cmd.output().expect("run relay command")
    }

    /// The one-time setup token the relay wrote at first start.
    pub fn setup_token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("setup-token"))
            .expect("setup-token file")
            .trim()
            .to_owned()
    }

    /// A client without device (unsigned requests).
    pub fn anon(&self) -> Client {
        Client {
            addr: self.addr,
            device: None,
        }
    }

    /// A client signing with `device`.
    pub fn client(&self, device: &Device) -> Client {
        Client {
            addr: self.addr,
            device: Some(device.clone()),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Reads a whole file (helper for log scans).
pub fn read_file(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut v);
    }
    v
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
