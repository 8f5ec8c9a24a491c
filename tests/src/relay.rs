//! The relay under test: process control, a minimal HTTP/1.1 client over `std::net`, signed
//! requests and account helpers.
//!
//! The HTTP client is deliberately small and dependency-free so tests can also send raw,
//! malformed or truncated requests ([`http_raw`], [`send_partial`]).
//!
//! ```no_run
//! use sealroom_tests::relay::Relay;
//! let relay = Relay::start();
//! let admin = relay.bootstrap_admin();
//! let me = relay.client(&admin).get("/v1/me");
//! assert_eq!(me.status, 200);
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use rand_core::OsRng;
use serde_json::{json, Value};

use sealroom_wire::auth::{nonce_from_bytes, sign_request, RequestParts};

/// The body of `POST /v1/register` for the user `name` with the invitation `token` and the public
/// half of the first device's key (e-mail `<name>@example.test`, device "device-1").
pub fn registration(token: &str, name: &str, key: &SigningKey) -> Value {
    json!({
        "token": token,
        "user_name": name,
        "email": format!("{}@example.test", name.to_lowercase()),
        "device_name": "device-1",
        "public_key": hex::encode(key.verifying_key().to_bytes()),
    })
}

/// Path of the `sealroom-server` binary built next to the running test executable
/// (`target/<profile>/deps/<test>` -> `target/<profile>/sealroom-server`).
pub fn binary_path() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("sealroom-server{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "relay binary not found at {}: run `cargo build -p sealroom-server` first",
            bin.display()
        ))
    }
}

/// Decodes RFC 4648 base32 (upper case, optional padding), as TOTP secrets are shown.
pub fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The store of a relay whose temporary directory is `dir`: with
/// `SEALROOM_TEST_BACKEND=postgres` the test PostgreSQL ([`test_database_url`]; a test panics
/// when it cannot be had) in a schema of that relay's own, named after `dir` so that it survives
/// restarts and no two relays share it; otherwise the embedded store in the data directory. A
/// relay's own environment overrides it (the scale-out test gives three relays one schema).
pub fn store_backend_env(dir: &Path) -> Vec<(String, String)> {
    match std::env::var("SEALROOM_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let url = test_database_url()
                .unwrap_or_else(|e| panic!("SEALROOM_TEST_BACKEND=postgres: {e}"));
            let name = dir.file_name().map(|n| n.as_encoded_bytes().to_vec());
            let schema = format!("relay_{}", hex::encode(name.unwrap_or_default()));
            vec![
                ("SEALROOM_DATABASE_URL".to_owned(), url),
                ("SEALROOM_DATABASE_SCHEMA".to_owned(), schema),
            ]
        }
        _ => Vec::new(),
    }
}

/// The test PostgreSQL's URL: `SEALROOM_TEST_DATABASE_URL` (exported by
/// `scripts/services/postgres.sh`, which `scripts/test.sh` sources); when unset, the script is
/// run once per test process to start the cluster.
pub fn test_database_url() -> Result<String, String> {
    static STARTED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    STARTED
        .get_or_init(|| {
            if let Ok(url) = std::env::var("SEALROOM_TEST_DATABASE_URL") {
                if !url.is_empty() {
                    return Ok(url);
                }
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = Command::new("bash")
                .current_dir(&root)
                .args([
                    "-c",
                    "source scripts/services/postgres.sh >&2 && printf %s \"$SEALROOM_TEST_DATABASE_URL\"",
                ])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running scripts/services/postgres.sh: {e}"))?;
            let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.status.success() || url.is_empty() {
                return Err("scripts/services/postgres.sh could not start PostgreSQL".to_owned());
            }
            Ok(url)
        })
        .clone()
}

/// The blob storage of every relay these tests start: with `SEALROOM_TEST_BLOBS=s3` the test
/// S3 bucket ([`s3_relay_env`]; a test panics when it cannot be had), otherwise the relay's
/// data directory. A relay's own environment (e.g. [`Relay::start_with`]) overrides it.
pub fn blob_backend_env() -> Vec<(String, String)> {
    match std::env::var("SEALROOM_TEST_BLOBS").as_deref() {
        Ok("s3") => s3_relay_env().unwrap_or_else(|e| panic!("SEALROOM_TEST_BLOBS=s3: {e}")),
        _ => Vec::new(),
    }
}

/// The test S3 service as the relay's `SEALROOM_S3_*` variables, plus `SEALROOM_TEST_S3_FILER`
/// (SeaweedFS's filer API, for tests that look at unfinished multipart uploads). Taken from
/// `SEALROOM_TEST_S3_*` (exported by `scripts/services/seaweedfs.sh`, which `scripts/test.sh`
/// sources); when those are unset, the script is run once per test process to start SeaweedFS.
pub fn s3_relay_env() -> Result<Vec<(String, String)>, String> {
    static STARTED: std::sync::OnceLock<Result<Vec<(String, String)>, String>> =
        std::sync::OnceLock::new();
    STARTED
        .get_or_init(|| {
            let from_env = |vars: &dyn Fn(&str) -> Option<String>| {
                let get = |name: &str| {
                    vars(&format!("SEALROOM_TEST_S3_{name}"))
                        .ok_or_else(|| format!("SEALROOM_TEST_S3_{name} is not set"))
                };
                Ok::<_, String>(vec![
                    ("SEALROOM_S3_ENDPOINT".to_owned(), get("ENDPOINT")?),
                    ("SEALROOM_S3_BUCKET".to_owned(), get("BUCKET")?),
                    ("SEALROOM_S3_REGION".to_owned(), get("REGION")?),
                    ("SEALROOM_S3_ACCESS_KEY_ID".to_owned(), get("ACCESS_KEY")?),
                    (
                        "SEALROOM_S3_SECRET_ACCESS_KEY".to_owned(),
                        get("SECRET_KEY")?,
                    ),
                    ("SEALROOM_TEST_S3_FILER".to_owned(), get("FILER")?),
                ])
            };
            if let Ok(vars) = from_env(&|k| std::env::var(k).ok()) {
                return Ok(vars);
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = Command::new("bash")
                .current_dir(&root)
                .args([
                    "-c",
                    "source scripts/services/seaweedfs.sh >&2 && env | grep '^SEALROOM_TEST_S3_'",
                ])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running scripts/services/seaweedfs.sh: {e}"))?;
            if !out.status.success() {
                return Err("scripts/services/seaweedfs.sh could not start SeaweedFS".to_owned());
            }
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let vars: std::collections::HashMap<String, String> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            from_env(&|k| vars.get(k).cloned())
        })
        .clone()
}

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
    /// plaintext, file names and titles). Files are streamed in overlapping windows, so
    /// gigabyte blobs need no more memory than one window.
    pub fn assert_no_plaintext(&self, needles: &[&str]) {
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
        for (k, v) in store_backend_env(self.dir.path()) {
            cmd.env(k, v);
        }
        for (k, v) in blob_backend_env() {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
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

    /// Runs the relay binary with a subcommand (e.g. `backup`), with this relay's environment.
    pub fn run_command(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path())
            .env("SEALROOM_DATA_DIR", self.data_dir())
            .env("SEALROOM_LISTEN", self.addr.to_string())
            .args(args);
        for (k, v) in store_backend_env(self.dir.path()) {
            cmd.env(k, v);
        }
        for (k, v) in blob_backend_env() {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
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

    /// Bootstraps the first administrator of the provider organisation "Provider".
    pub fn bootstrap_admin(&self) -> Device {
        let key = SigningKey::generate(&mut OsRng);
        let r = self.anon().post_json(
            "/v1/bootstrap",
            &json!({
                "setup_token": self.setup_token(),
                "org_name": "Provider",
                "user_name": "Admin",
                "email": "admin@provider.example",
                "device_name": "admin-laptop",
                "public_key": hex::encode(key.verifying_key().to_bytes()),
            }),
        );
        assert_eq!(r.status, 201, "bootstrap: {}", r.text());
        Device::from_response(&r.json(), key)
    }

    /// Registers a new user with an invitation token; returns their first device.
    pub fn register(&self, token: &str, name: &str) -> Device {
        let key = SigningKey::generate(&mut OsRng);
        let r = self
            .anon()
            .post_json("/v1/register", &registration(token, name, &key));
        assert_eq!(r.status, 201, "register: {}", r.text());
        Device::from_response(&r.json(), key)
    }

    /// Gives `device`'s user a new identity key (published with `PUT /v1/me/identity`) that
    /// certifies `device`, as the SDK does for a user's first device; returns the key. Raw
    /// devices need this to count as verified (e.g. to be added to an internal room).
    pub fn certify_with_new_identity(&self, device: &Device) -> SigningKey {
        let identity = SigningKey::generate(&mut OsRng);
        let message = sealroom_wire::accounts::device_certificate_message(
            &device.user_id,
            &device.device_id,
            &device.key.verifying_key().to_bytes(),
        );
        let r = self.client(device).put_json(
            "/v1/me/identity",
            &json!({
                "public_key": hex::encode(identity.verifying_key().to_bytes()),
                "certificate": hex::encode(identity.sign(&message).to_bytes()),
            }),
        );
        assert!(r.status / 100 == 2, "publish identity: {}", r.text());
        identity
    }

    /// Admin creates a customer organisation; returns its id.
    pub fn create_customer_org(&self, admin: &Device, name: &str) -> String {
        let r = self
            .client(admin)
            .post_json("/v1/orgs", &json!({ "name": name }));
        assert_eq!(r.status, 201, "create org: {}", r.text());
        r.json()["org_id"].as_str().unwrap().to_owned()
    }

    /// Admin invites and registers a staff user.
    pub fn add_staff(&self, admin: &Device, name: &str) -> Device {
        let r = self
            .client(admin)
            .post_json("/v1/invitations", &json!({ "role": "staff" }));
        assert_eq!(r.status, 201, "invite staff: {}", r.text());
        let token = r.json()["token"].as_str().unwrap().to_owned();
        self.register(&token, name)
    }

    /// Staff creates a space with a customer organisation; returns the space id.
    pub fn create_space(&self, staff: &Device, customer_org_id: &str) -> String {
        let r = self
            .client(staff)
            .post_json("/v1/spaces", &json!({ "customer_org_id": customer_org_id }));
        assert_eq!(r.status, 201, "create space: {}", r.text());
        r.json()["space_id"].as_str().unwrap().to_owned()
    }

    /// The usual set-up of a test: the bootstrap admin, a customer organisation `org_name`, a staff
    /// member `staff_name` and a space of that organisation created by the staff member. Returns
    /// the staff device and the space id.
    pub fn staffed_space(&self, org_name: &str, staff_name: &str) -> (Device, String) {
        let admin = self.bootstrap_admin();
        let org = self.create_customer_org(&admin, org_name);
        let staff = self.add_staff(&admin, staff_name);
        let space_id = self.create_space(&staff, &org);
        (staff, space_id)
    }

    /// Staff invites a customer member into a space, who registers.
    pub fn add_customer(&self, staff: &Device, space_id: &str, name: &str) -> Device {
        let r = self.client(staff).post_json(
            "/v1/invitations",
            &json!({ "role": "customer", "space_id": space_id }),
        );
        assert_eq!(r.status, 201, "invite customer: {}", r.text());
        let token = r.json()["token"].as_str().unwrap().to_owned();
        self.register(&token, name)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A registered device and its signing key (test material only).
#[derive(Clone)]
pub struct Device {
    /// Organisation id.
    pub org_id: String,
    /// User id.
    pub user_id: String,
    /// Device id.
    pub device_id: String,
    /// The device's Ed25519 key.
    pub key: SigningKey,
    /// Last signing timestamp used (kept so tests can reason about what was signed; every
    /// request also carries a fresh random nonce, so identical requests never collide).
    pub last_ts: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Builds a device from a registration answer (`org_id`, `user_id`, `device_id`).
    pub fn from_response(v: &Value, key: SigningKey) -> Self {
        Self {
            org_id: v["org_id"].as_str().expect("org_id").to_owned(),
            user_id: v["user_id"].as_str().expect("user_id").to_owned(),
            device_id: v["device_id"].as_str().expect("device_id").to_owned(),
            key,
            last_ts: Default::default(),
        }
    }

    /// Hex of the public key.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The four signature headers for a request to `authority` (`host:port` as in the `Host`
    /// header). Of `headers`, those the signature covers (`Content-Type`, `Range`,
    /// `Upload-Offset`, `Upload-Checksum`) are signed; send them unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        method: &str,
        authority: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let mut nonce_bytes = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce_bytes);
        let nonce = nonce_from_bytes(&nonce_bytes);
        let parts = RequestParts {
            method,
            authority,
            path,
            query,
            headers,
            timestamp,
            nonce: &nonce,
            body,
        };
        let h = sign_request(&self.device_id, &parts, |m| self.key.sign(m).to_bytes());
        h.pairs()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

/// An HTTP client for one relay, optionally signing with a device.
#[derive(Clone, Debug)]
pub struct Client {
    /// Relay address.
    pub addr: SocketAddr,
    /// Signing device; `None` sends unsigned requests.
    pub device: Option<Device>,
}

impl Client {
    /// Sends a request (signed when the client has a device) and returns the response.
    /// `path_and_query` may contain `?query`.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.request_at(
            method,
            path_and_query,
            headers,
            body,
            self.fresh_timestamp(),
        )
    }

    /// The signing timestamp for the next request: the current time, never earlier than the
    /// previous one this device used.
    pub fn fresh_timestamp(&self) -> i64 {
        use std::sync::atomic::Ordering;
        match &self.device {
            Some(d) => {
                let mut last = d.last_ts.load(Ordering::SeqCst);
                loop {
                    let ts = now().max(last);
                    match d
                        .last_ts
                        .compare_exchange(last, ts, Ordering::SeqCst, Ordering::SeqCst)
                    {
                        Ok(_) => return ts,
                        Err(actual) => last = actual,
                    }
                }
            }
            None => now(),
        }
    }

    /// Like [`Client::request`], but a request that gets no complete answer (the relay died,
    /// refused the connection or cut it) is an `Err` instead of a panic: fault-injection tests
    /// count those as "not acknowledged".
    pub fn try_request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let signed = self.signed_headers(
            method,
            path_and_query,
            headers,
            body,
            self.fresh_timestamp(),
        );
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let response = http(self.addr, method, path_and_query, &all, body)?;
        let declared = response
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if method != "HEAD" && declared.is_some_and(|n| n != response.body.len()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "response body cut short",
            ));
        }
        Ok(response)
    }

    /// Like [`Client::request`] with an explicit signing timestamp.
    pub fn request_at(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timestamp: i64,
    ) -> Response {
        let signed = self.signed_headers(method, path_and_query, headers, body, timestamp);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        http(self.addr, method, path_and_query, &all, body).expect("http request")
    }

    /// The signature headers this client would send (empty without device), for a request
    /// to this client's relay address (the signed authority) carrying `headers`.
    pub fn signed_headers(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timestamp: i64,
    ) -> Vec<(String, String)> {
        match &self.device {
            Some(d) => {
                let (path, query) = path_and_query
                    .split_once('?')
                    .unwrap_or((path_and_query, ""));
                let authority = self.addr.to_string();
                d.sign(method, &authority, path, query, headers, timestamp, body)
            }
            None => Vec::new(),
        }
    }

    /// `GET`.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `DELETE`.
    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], b"")
    }

    /// `POST` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            &bytes,
        )
    }

    /// `PUT` with a JSON body.
    pub fn put_json(&self, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("json");
        self.request("PUT", path, &[("content-type", "application/json")], &bytes)
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes (chunked encoding decoded).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `code` of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// Sends one request with `Content-Length` and `Connection: close` and reads the response.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    http_raw(
        addr,
        &request_bytes(addr, method, path_and_query, headers, body),
    )
}

/// Like [`http`], from the local address `source` (any address of `127.0.0.0/8` works on
/// Linux loopback): the relay sees a different client address.
pub fn http_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let request = request_bytes(addr, method, path_and_query, headers, body);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let mut stream = runtime.block_on(async {
        let socket = if source.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(addr).await?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        Ok::<_, std::io::Error>(stream)
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.write_all(&request)?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// The bytes of a request to `addr` (its `Host`) with `Content-Length` (unless `headers` has
/// one) and `Connection: close`.
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut raw =
        format!("{method} {path_and_query} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    let mut has_length = false;
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
            has_length = true;
        }
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length {
        raw.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes as a request and reads the response until the server closes.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.write_all(request)?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// Sends the head and only the first `sent` bytes of a body, then drops the connection
/// (a connection cut mid-request).
pub fn send_partial(addr: SocketAddr, head: &str, body: &[u8], sent: usize) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body[..sent.min(body.len())])?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

fn parse_response(buf: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
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
