//! `sealroom-load`: load generator for the relay benchmarks of `docs/benchmarks.md`.
//!
//! It starts the real `sealroom-server` binary built next to it (same cargo profile) on a
//! temporary data directory, bootstraps accounts through the real HTTP API and measures two
//! scenarios, each next to a baseline taken in the same run:
//!
//! - **upload**: one stream of `--upload-mib` MiB appended to a blob (tus-like `PATCH` at
//!   offsets, every append device-signed and checksummed) for each `--chunks` size, next to a raw
//!   loopback TCP transfer of the same bytes in the same chunks, plus two component figures
//!   (SHA-256 of the bytes, file write + fsync per chunk on the relay's disk) to show where the
//!   time goes;
//! - **requests**: `--clients` concurrent clients, each its own registered device and member of
//!   one MLS room, for `--duration` seconds, mixing signed message posts (real MLS
//!   `PrivateMessage`s) and cursor-based message fetches over keep-alive HTTP/1.1 connections,
//!   closed loop (each client sends its next request when the previous answer arrived); then
//!   the same clients against the unauthenticated `GET /healthz` as the baseline;
//! - **mixed**: the same `--clients` devices for `--mixed-duration` seconds, each picking at
//!   random its next operation: a message post, an SDK-style sync (welcomes, handshake and
//!   message pages until empty, key-package count, as `SealroomClient::sync` does) or a file
//!   upload through the resumable blob API (create + signed, checksummed appends of at most
//!   4 MiB, sizes log-uniform in `--mixed-kib`, deleted again afterwards), closed loop. Per
//!   operation type: count, rate, p50/p90/p99/max and failures (each printed with its status
//!   and body); the relay's RSS is sampled every second (start, after the warm-up, end, max and
//!   the least-squares slope after the warm-up).
//!
//! Nothing is asserted: the tool measures and prints, and with `--markdown FILE` writes the
//! result tables for `scripts/bench-relay.sh`. Run `sealroom-load --help` for the flags.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Ciphersuite, CredentialWithKey, KeyPackage, MlsGroup, MlsGroupCreateConfig,
    MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, OpenMlsProvider as _, ProtocolVersion,
    SignatureScheme, StagedWelcome, MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use sealroom_tests::relay::{now, Client, Device, Relay};
use sealroom_wire::CredentialIdentity;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const MIB: usize = 1024 * 1024;

const USAGE: &str = "\
sealroom-load: relay benchmarks (upload throughput, small signed requests under load)

Usage: sealroom-load [options]
  --scenario LIST                  comma-separated from upload, requests, mixed, or all (default all)
  --upload-mib N                   bytes per upload stream, MiB (default 1024)
  --chunks LIST                    append sizes in MiB, comma-separated (default 1,8,32)
  --no-checksum                    send appends without Upload-Checksum
  --clients N                      concurrent clients (default 200)
  --duration S                     seconds of signed load, and of the /healthz baseline (default 60)
  --post-percent P                 share of posts among signed requests (default 50)
  --fetch-limit N                  page size of message fetches (default 20)
  --pool N                         pre-built MLS messages per client (default 64)
  --threads N                      load generator worker threads (default 2)
  --relay-log LEVEL                relay SEALROOM_LOG (default info, as deployed)
  --notify LIST                    one signed-load row per members' notification preference, in
                                   order (default off,immediate; immediate is the relay's default)
  --mixed-duration S               seconds of the mixed workload (default: --duration)
  --mixed-warmup S                 leading seconds of the mixed workload not counted (default 10)
  --mixed-percent P,S,U            mixed shares of posts, syncs, uploads (default 45,45,10)
  --mixed-kib MIN,MAX              mixed file sizes in KiB, log-uniform (default 64,4096)
  --mixed-notify MODE              members' notification preference during the mixed workload
                                   (default immediate, the relay's default)
  --markdown FILE                  write the result tables (markdown) to FILE
";

#[derive(Debug, Clone)]
struct Options {
    upload: bool,
    requests: bool,
    mixed: bool,
    mixed_duration: Duration,
    mixed_warmup: Duration,
    mixed_percent: [u32; 3],
    mixed_min_kib: usize,
    mixed_max_kib: usize,
    mixed_notify: String,
    upload_mib: usize,
    chunks_mib: Vec<usize>,
    checksum: bool,
    clients: usize,
    duration: Duration,
    post_percent: u32,
    fetch_limit: u32,
    pool: usize,
    threads: usize,
    relay_log: String,
    notify: Vec<String>,
    markdown: Option<PathBuf>,
}

impl Options {
    fn parse() -> Res<Self> {
        let mut o = Self {
            upload: true,
            requests: true,
            mixed: true,
            mixed_duration: Duration::ZERO,
            mixed_warmup: Duration::from_secs(10),
            mixed_percent: [45, 45, 10],
            mixed_min_kib: 64,
            mixed_max_kib: 4096,
            mixed_notify: "immediate".to_owned(),
            upload_mib: 1024,
            chunks_mib: vec![1, 8, 32],
            checksum: true,
            clients: 200,
            duration: Duration::from_secs(60),
            post_percent: 50,
            fetch_limit: 20,
            pool: 64,
            threads: 2,
            relay_log: "info".to_owned(),
            notify: vec!["off".to_owned(), "immediate".to_owned()],
            markdown: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            if flag == "--no-checksum" {
                o.checksum = false;
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = |v: &str| -> Res<usize> {
                v.parse::<usize>()
                    .map_err(|_| format!("{flag}: not a number: {v}").into())
            };
            match flag.as_str() {
                "--scenario" => {
                    (o.upload, o.requests, o.mixed) = (false, false, false);
                    for s in value.split(',') {
                        match s.trim() {
                            "all" => (o.upload, o.requests, o.mixed) = (true, true, true),
                            "upload" => o.upload = true,
                            "requests" => o.requests = true,
                            "mixed" => o.mixed = true,
                            other => return Err(format!("unknown scenario {other}").into()),
                        }
                    }
                }
                "--mixed-duration" => {
                    o.mixed_duration = Duration::from_secs(num(&value)?.max(2) as u64)
                }
                "--mixed-warmup" => o.mixed_warmup = Duration::from_secs(num(&value)? as u64),
                "--mixed-percent" => {
                    let v: Vec<u32> = value
                        .split(',')
                        .map(|c| num(c.trim()).map(|n| n.min(100) as u32))
                        .collect::<Res<_>>()?;
                    if v.len() != 3 || v.iter().sum::<u32>() != 100 {
                        return Err("--mixed-percent: three shares adding up to 100".into());
                    }
                    o.mixed_percent = [v[0], v[1], v[2]];
                }
                "--mixed-kib" => {
                    let v: Vec<usize> = value
                        .split(',')
                        .map(|c| num(c.trim()).map(|n| n.max(1)))
                        .collect::<Res<_>>()?;
                    let [min, max] = v[..] else {
                        return Err("--mixed-kib: MIN,MAX".into());
                    };
                    (o.mixed_min_kib, o.mixed_max_kib) = (min.min(max), max.max(min));
                }
                "--mixed-notify" => {
                    if !["immediate", "hourly", "daily", "off"].contains(&value.as_str()) {
                        return Err(format!("--mixed-notify: unknown mode {value}").into());
                    }
                    o.mixed_notify = value;
                }
                "--upload-mib" => o.upload_mib = num(&value)?.max(1),
                "--chunks" => {
                    o.chunks_mib = value
                        .split(',')
                        .map(|c| num(c.trim()).map(|n| n.max(1)))
                        .collect::<Res<_>>()?
                }
                "--clients" => o.clients = num(&value)?.max(1),
                "--duration" => o.duration = Duration::from_secs(num(&value)?.max(1) as u64),
                "--post-percent" => o.post_percent = num(&value)?.min(100) as u32,
                "--fetch-limit" => o.fetch_limit = num(&value)?.clamp(1, 500) as u32,
                "--pool" => o.pool = num(&value)?.max(1),
                "--threads" => o.threads = num(&value)?.max(1),
                "--relay-log" => o.relay_log = value,
                "--notify" => {
                    o.notify = value.split(',').map(|m| m.trim().to_owned()).collect();
                    if let Some(bad) = o
                        .notify
                        .iter()
                        .find(|m| !["immediate", "hourly", "daily", "off"].contains(&m.as_str()))
                    {
                        return Err(format!("--notify: unknown mode {bad}").into());
                    }
                }
                "--markdown" => o.markdown = Some(PathBuf::from(value)),
                other => return Err(format!("unknown flag {other}\n{USAGE}").into()),
            }
        }
        if o.mixed_duration.is_zero() {
            o.mixed_duration = o.duration;
        }
        Ok(o)
    }
}

/// The authority (`host:port`) of the relay under load: the `Host` of every request, which
/// signatures cover.
static AUTHORITY: OnceLock<String> = OnceLock::new();

/// Signs a request to the relay under load with `device`, covering `headers`.
fn sign(
    device: &Device,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<(String, String)> {
    let covered: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let authority = AUTHORITY.get().map_or("", String::as_str);
    device.sign(method, authority, path, query, &covered, now(), body)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("sealroom-load: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let opts = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?;
    let max_chunk = opts.chunks_mib.iter().copied().max().unwrap_or(1) * MIB;
    let chunk_limit = (max_chunk + MIB).to_string();
    // Room for the upload stream, and for the mixed workload's concurrent files (each deleted
    // after its upload).
    let space_limit = (4 * opts.upload_mib * MIB)
        .max(16 * MIB)
        .max(if opts.mixed {
            4 * opts.clients * opts.mixed_max_kib * 1024
        } else {
            0
        })
        .to_string();
    let relay = Relay::start_with(&[
        ("SEALROOM_MAX_CHUNK", chunk_limit.as_str()),
        ("SEALROOM_MAX_SPACE_BYTES", space_limit.as_str()),
        ("SEALROOM_LOG", opts.relay_log.as_str()),
        // A load run posts far more than a user's hourly message quota.
        ("SEALROOM_USER_MESSAGES_PER_HOUR", "1000000000000"),
        ("SEALROOM_USER_MESSAGE_BYTES_PER_HOUR", "1000000000000000"),
        ("SEALROOM_SPACE_MESSAGES_PER_HOUR", "1000000000000"),
        ("SEALROOM_SPACE_MESSAGE_BYTES_PER_HOUR", "1000000000000000"),
    ]);
    let _ = AUTHORITY.set(relay.addr().to_string());
    let pid = relay_pid(&relay).ok_or("could not find the relay's process id")?;
    let mut report = String::new();
    let started_rss = rss_kib(pid);
    println!(
        "relay pid {pid} at {} (RSS {} KiB), data dir on the same disk as {}",
        relay.addr(),
        started_rss,
        relay.data_dir().display()
    );
    let _ = writeln!(
        report,
        "Relay RSS right after start: {:.1} MiB.\n",
        started_rss as f64 / 1024.0
    );
    let admin = relay.bootstrap_admin();
    if opts.upload {
        let uploader = uploader_room(&relay, &admin)?;
        let table = runtime.block_on(upload_scenario(&relay, pid, uploader, &opts))?;
        report.push_str(&table);
    }
    if opts.requests || opts.mixed {
        let (room_id, mut clients) = load_setup(&relay, &admin, &opts)?;
        let mut healthz = None;
        if opts.requests {
            let (table, back, rate) = runtime.block_on(requests_scenario(
                &relay,
                pid,
                room_id.clone(),
                clients,
                &opts,
            ))?;
            report.push_str(&table);
            clients = back;
            healthz = rate;
        }
        if opts.mixed {
            let (table, _) = runtime.block_on(mixed_scenario(
                &relay, pid, room_id, clients, &opts, healthz,
            ))?;
            report.push_str(&table);
        }
    }
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &report)?;
        println!("tables written to {}", path.display());
    } else {
        println!("\n{report}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// MLS side of a registered device (its MLS signature key is the device's registered key)

struct MlsDevice {
    device: Device,
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

/// The relay's ciphersuite.
fn suite() -> Ciphersuite {
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
}

/// Commits as PublicMessages (the relay reads them), application messages encrypted.
fn group_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(suite())
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

fn bytes(message: &MlsMessageOut) -> Res<Vec<u8>> {
    Ok(message.tls_serialize_detached()?)
}

fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

fn unb64(text: &str) -> Res<Vec<u8>> {
    Ok(B64.decode(text)?)
}

impl MlsDevice {
    fn new(device: &Device) -> Res<Self> {
        let provider = OpenMlsRustCrypto::default();
        let public = device.key.verifying_key().to_bytes().to_vec();
        let signer = SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            device.key.to_bytes().to_vec(),
            public.clone(),
        );
        signer.store(provider.storage())?;
        let id = CredentialIdentity::new(&device.org_id, &device.user_id, &device.device_id)
            .map_err(|e| format!("credential identity: {e:?}"))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(id.to_bytes()).into(),
            signature_key: public.into(),
        };
        Ok(Self {
            device: device.clone(),
            provider,
            signer,
            credential,
        })
    }

    /// `POST /v1/keypackages` with one fresh key package.
    fn upload_key_package(&self, client: &Client) -> Res<()> {
        let bundle = KeyPackage::builder().build(
            suite(),
            &self.provider,
            &self.signer,
            self.credential.clone(),
        )?;
        let kp = bytes(&MlsMessageOut::from(bundle.key_package().clone()))?;
        let r = client.post_json("/v1/keypackages", &json!({ "key_packages": [b64(&kp)] }));
        if r.status != 200 {
            return Err(format!("upload key package: {} {}", r.status, r.text()).into());
        }
        Ok(())
    }

    /// Creates a group and registers it as a room in `space_id`; returns the room id.
    fn create_room(&self, client: &Client, space_id: &str) -> Res<(MlsGroup, String)> {
        let group = MlsGroup::new(
            &self.provider,
            &self.signer,
            &group_config(),
            self.credential.clone(),
        )?;
        let info = group.export_group_info(self.provider.crypto(), &self.signer, false)?;
        let tree = group.export_ratchet_tree().tls_serialize_detached()?;
        let body = json!({
            "space_id": space_id,
            "group_info": b64(&bytes(&info)?),
            "ratchet_tree": b64(&tree),
        });
        let r = client.post_json("/v1/rooms", &body);
        if r.status != 201 {
            return Err(format!("create room: {} {}", r.status, r.text()).into());
        }
        let room = r.json()["room_id"].as_str().ok_or("no room_id")?.to_owned();
        Ok((group, room))
    }

    /// Joins from a base64 welcome fetched from the mailbox.
    fn join(&self, welcome_b64: &str) -> Res<MlsGroup> {
        let welcome = match MlsMessageIn::tls_deserialize_exact(unb64(welcome_b64)?)?.extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => return Err("not a welcome".into()),
        };
        let staged = StagedWelcome::new_from_welcome(
            &self.provider,
            group_config().join_config(),
            welcome,
            None,
        )?;
        Ok(staged.into_group(&self.provider)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Process measurements

/// The relay process: the `sealroom-server` whose working directory is the relay's temp dir.
fn relay_pid(relay: &Relay) -> Option<u32> {
    let dir = relay.data_dir().parent()?.canonicalize().ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        let is_relay = exe
            .as_ref()
            .and_then(|e| e.file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("sealroom-server"));
        if is_relay && cwd.as_deref() == Some(dir.as_path()) {
            return Some(pid);
        }
    }
    None
}

/// `VmRSS` of a process in KiB (0 when unreadable).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of a process in seconds (`/proc/<pid>/stat`, 100 ticks/s).
fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// CPU seconds of the relay and of this load generator between two points.
struct CpuMeter {
    pid: u32,
    relay: f64,
    me: f64,
    at: Instant,
}

impl CpuMeter {
    fn start(pid: u32) -> Self {
        Self {
            pid,
            relay: cpu_secs(&pid.to_string()),
            me: cpu_secs("self"),
            at: Instant::now(),
        }
    }

    /// (relay CPU s, load generator CPU s, wall s).
    fn read(&self) -> (f64, f64, f64) {
        (
            cpu_secs(&self.pid.to_string()) - self.relay,
            cpu_secs("self") - self.me,
            self.at.elapsed().as_secs_f64(),
        )
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A small keep-alive HTTP/1.1 client over a Tokio socket

struct Conn {
    addr: SocketAddr,
    io: Option<BufReader<TcpStream>>,
    out: Vec<u8>,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            io: None,
            out: Vec::with_capacity(4096),
        }
    }

    /// Sends one request on the kept-alive connection (reconnecting when needed) and reads the
    /// answer. On an I/O error the connection is dropped, to be reopened by the next request.
    async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let result = self.send_inner(method, target, headers, body).await;
        if result.is_err() {
            self.io = None;
        }
        result
    }

    async fn send_inner(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        if self.io.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.io = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let Some(io) = self.io.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        self.out.clear();
        let _ = write!(
            self.out,
            "{method} {target} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            let _ = write!(self.out, "{k}: {v}\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if body.len() <= 16 * 1024 {
            self.out.extend_from_slice(body);
            io.get_mut().write_all(&self.out).await?;
        } else {
            io.get_mut().write_all(&self.out).await?;
            io.get_mut().write_all(body).await?;
        }
        read_answer(io, method == "HEAD").await
    }
}

async fn read_answer(io: &mut BufReader<TcpStream>, head_only: bool) -> std::io::Result<Answer> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut line = String::new();
    if io.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut headers = Vec::new();
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Err(bad("truncated head"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(bad("bad header line"));
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim().to_owned();
        match k.as_str() {
            "content-length" => length = v.parse().ok(),
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            "connection" => close = v.eq_ignore_ascii_case("close"),
            _ => {}
        }
        headers.push((k, v));
    }
    let mut body = Vec::new();
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
    } else if chunked {
        loop {
            line.clear();
            io.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                line.clear();
                io.read_line(&mut line).await?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            io.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            io.read_exact(&mut crlf).await?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        io.read_exact(&mut body).await?;
    } else {
        io.read_to_end(&mut body).await?;
        close = true;
    }
    if close {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!("server closed the connection after status {status}"),
        ));
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Signs with the library's signing function (through the harness's [`Device::sign`]) and
/// sends. `target` may carry a `?query`.
async fn signed(
    conn: &mut Conn,
    device: &Device,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let covered: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let auth = sign(device, method, path, query, &covered, body);
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    headers.extend(auth.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    conn.send(method, target, &headers, body).await
}

// ---------------------------------------------------------------------------------------------
// Scenario a: upload throughput

/// The bytes of the stream: a pseudo-random buffer of the largest chunk size whose first
/// 8 bytes carry the chunk's index, so no two appends of a stream have the same body (a
/// signature over an identical body in the same second would be a replay).
struct Stream {
    buf: Vec<u8>,
}

impl Stream {
    fn new(max_chunk: usize) -> Self {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut buf = vec![0u8; max_chunk];
        for word in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let b = state.to_le_bytes();
            word.copy_from_slice(&b[..word.len()]);
        }
        Self { buf }
    }

    /// Chunk `index` of `len` bytes.
    fn chunk(&mut self, index: u64, len: usize) -> &[u8] {
        self.buf[..8].copy_from_slice(&index.to_be_bytes());
        &self.buf[..len]
    }
}

/// Chunk lengths of a `total`-byte stream in `chunk`-byte appends.
fn chunk_lengths(total: usize, chunk: usize) -> impl Iterator<Item = usize> {
    (0..total.div_ceil(chunk)).map(move |i| chunk.min(total - i * chunk))
}

struct UploadRow {
    chunk_mib: usize,
    relay_mbs: f64,
    loopback_mbs: f64,
    disk_mbs: f64,
    sha_mbs: f64,
    relay_cpu: f64,
    me_cpu: f64,
    wall: f64,
    errors: String,
    rss_after: u64,
}

async fn upload_scenario(
    relay: &Relay,
    pid: u32,
    (staff, room_id): (Device, String),
    opts: &Options,
) -> Res<String> {
    let total = opts.upload_mib * MIB;
    let max_chunk = opts.chunks_mib.iter().copied().max().unwrap_or(1) * MIB;
    let mut stream = Stream::new(max_chunk);
    let mut rows = Vec::new();
    for &chunk_mib in &opts.chunks_mib {
        let chunk = chunk_mib * MIB;
        println!("upload: {} MiB in {chunk_mib} MiB appends", opts.upload_mib);
        let loopback = loopback_transfer(&mut stream, total, chunk).await?;
        let disk = disk_write(&relay.data_dir(), &mut stream, total, chunk)?;
        let sha = sha_rate(&mut stream, total, chunk);
        let cpu = CpuMeter::start(pid);
        let (relay_secs, errors) = relay_upload(
            relay,
            &staff,
            &room_id,
            &mut stream,
            total,
            chunk,
            opts.checksum,
        )
        .await?;
        let (relay_cpu, me_cpu, wall) = cpu.read();
        let row = UploadRow {
            chunk_mib,
            relay_mbs: mb_per_s(total, relay_secs),
            loopback_mbs: mb_per_s(total, loopback),
            disk_mbs: mb_per_s(total, disk),
            sha_mbs: mb_per_s(total, sha),
            relay_cpu,
            me_cpu,
            wall,
            errors,
            rss_after: rss_kib(pid),
        };
        println!(
            "  relay {:.0} MB/s, loopback {:.0} MB/s ({:.2}x), disk write+fsync {:.0} MB/s, \
             SHA-256 {:.0} MB/s; relay CPU {:.1} s, generator CPU {:.1} s over {:.1} s; errors: {}",
            row.relay_mbs,
            row.loopback_mbs,
            row.relay_mbs / row.loopback_mbs,
            row.disk_mbs,
            row.sha_mbs,
            row.relay_cpu,
            row.me_cpu,
            row.wall,
            row.errors
        );
        rows.push(row);
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Upload of one {} MiB stream (1 MB = 10^6 bytes; {}; load average at the end: {}):\n",
        opts.upload_mib,
        if opts.checksum {
            "every append signed and carrying `Upload-Checksum: sha256`"
        } else {
            "every append signed, no `Upload-Checksum`"
        },
        load_average()
    );
    md.push_str(
        "| Append size | Relay (signed PATCH, redb, fsync) | Raw loopback TCP (baseline) | Ratio | \
         File write + fsync per chunk (component) | SHA-256, one pass (component) | Relay CPU | \
         Generator CPU | Wall | Errors | Relay RSS after |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n",
    );
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} MiB | {:.0} MB/s | {:.0} MB/s | {:.2}x | {:.0} MB/s | {:.0} MB/s | {:.1} s | \
             {:.1} s | {:.1} s | {} | {:.1} MiB |",
            r.chunk_mib,
            r.relay_mbs,
            r.loopback_mbs,
            r.relay_mbs / r.loopback_mbs,
            r.disk_mbs,
            r.sha_mbs,
            r.relay_cpu,
            r.me_cpu,
            r.wall,
            r.errors,
            r.rss_after as f64 / 1024.0
        );
    }
    md.push('\n');
    Ok(md)
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

/// Registers a staff member with a room of their own (blobs belong to a room).
fn uploader_room(relay: &Relay, admin: &Device) -> Res<(Device, String)> {
    let org = relay.create_customer_org(admin, "Upload Ltd");
    let staff = relay.add_staff(admin, "Uploader");
    let space = relay.create_space(&staff, &org);
    let mls = MlsDevice::new(&staff)?;
    let (_group, room) = mls.create_room(&relay.client(&staff), &space)?;
    Ok((staff, room))
}

/// Uploads `total` bytes as one blob; returns the seconds from the first append until the last
/// was acknowledged, and a description of errors ("0" when none).
async fn relay_upload(
    relay: &Relay,
    device: &Device,
    room_id: &str,
    stream: &mut Stream,
    total: usize,
    chunk: usize,
    checksum: bool,
) -> Res<(f64, String)> {
    let mut conn = Conn::new(relay.addr());
    let create = serde_json::to_vec(&json!({ "length": total }))?;
    let r = signed(
        &mut conn,
        device,
        "POST",
        &format!("/v1/rooms/{room_id}/blobs"),
        &[("content-type", "application/json")],
        &create,
    )
    .await?;
    if r.status != 201 {
        return Err(format!(
            "create blob: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
        .into());
    }
    let created: Value = serde_json::from_slice(&r.body)?;
    let blob_id = created["blob_id"].as_str().ok_or("no blob_id")?.to_owned();
    let path = format!("/v1/rooms/{room_id}/blobs/{blob_id}");
    let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
    let lengths: Vec<usize> = chunk_lengths(total, chunk).collect();
    // Two buffers: while one append is in flight, the client hashes and signs the next chunk
    // in the other (as an SDK would), so the measured time is the relay's, not the client's.
    let mut spare = stream.buf.clone();
    let start = Instant::now();
    let mut offset = 0usize;
    let mut prepared = prepare_append(
        device.clone(),
        path.clone(),
        std::mem::take(&mut stream.buf),
        0,
        lengths[0],
        0,
        checksum,
    );
    for (index, &len) in lengths.iter().enumerate() {
        let current = prepared;
        let next = lengths.get(index + 1).map(|&next_len| {
            let (device, path, buf) = (device.clone(), path.clone(), std::mem::take(&mut spare));
            let next_offset = offset + len;
            tokio::task::spawn_blocking(move || {
                prepare_append(
                    device,
                    path,
                    buf,
                    index + 1,
                    next_len,
                    next_offset,
                    checksum,
                )
            })
        });
        let headers: Vec<(&str, &str)> = current
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sent = conn
            .send("PATCH", &path, &headers, &current.buf[..len])
            .await;
        spare = current.buf;
        let r = sent?;
        if r.status != 204 {
            *errors.entry(r.status).or_default() += 1;
            return Err(format!(
                "append at {offset}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )
            .into());
        }
        let acknowledged: Option<usize> = r
            .headers
            .iter()
            .find(|(k, _)| k == "upload-offset")
            .and_then(|(_, v)| v.parse().ok());
        offset += len;
        if acknowledged != Some(offset) {
            return Err(format!("append acknowledged {acknowledged:?}, expected {offset}").into());
        }
        prepared = match next {
            Some(task) => task.await?,
            None => Prepared {
                buf: Vec::new(),
                headers: Vec::new(),
            },
        };
    }
    stream.buf = if prepared.buf.is_empty() {
        spare
    } else {
        prepared.buf
    };
    let secs = start.elapsed().as_secs_f64();
    // Frees the disk for the next size (not timed).
    let r = signed(&mut conn, device, "DELETE", &path, &[], b"").await?;
    if r.status != 204 {
        *errors.entry(r.status).or_default() += 1;
    }
    Ok((secs, describe_errors(&errors, 0)))
}

/// A chunk ready to send: its buffer (the stream's bytes with the chunk index stamped in) and
/// its headers (offset, checksum, signature).
struct Prepared {
    buf: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn prepare_append(
    device: Device,
    path: String,
    mut buf: Vec<u8>,
    index: usize,
    len: usize,
    offset: usize,
    checksum: bool,
) -> Prepared {
    buf[..8].copy_from_slice(&(index as u64).to_be_bytes());
    let body = &buf[..len];
    let mut headers = vec![
        (
            "content-type".to_owned(),
            "application/offset+octet-stream".to_owned(),
        ),
        ("upload-offset".to_owned(), offset.to_string()),
    ];
    if checksum {
        headers.push((
            "upload-checksum".to_owned(),
            format!("sha256 {}", b64(&Sha256::digest(body))),
        ));
    }
    let auth = sign(&device, "PATCH", &path, "", &headers, body);
    headers.extend(auth);
    Prepared { buf, headers }
}

/// The same bytes in the same chunks over a raw loopback TCP connection (tokio socket pair);
/// seconds until the receiver has read the last byte.
async fn loopback_transfer(stream: &mut Stream, total: usize, chunk: usize) -> Res<f64> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let receiver = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0usize;
        while got < total {
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok::<_, std::io::Error>((got, Instant::now()))
    });
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let start = Instant::now();
    for (index, len) in chunk_lengths(total, chunk).enumerate() {
        sock.write_all(stream.chunk(index as u64, len)).await?;
    }
    sock.flush().await?;
    let (got, end) = receiver.await??;
    if got != total {
        return Err(format!("loopback received {got} of {total} bytes").into());
    }
    Ok(end.duration_since(start).as_secs_f64())
}

/// Component: the same chunks written to a file in the relay's data directory, fsync after
/// each (what the relay does per append, without HTTP, hashing or the store).
fn disk_write(dir: &Path, stream: &mut Stream, total: usize, chunk: usize) -> Res<f64> {
    use std::io::Write as _;
    let path = dir.join("bench-disk-baseline.bin");
    let start = Instant::now();
    {
        let mut file = std::fs::File::create(&path)?;
        for (index, len) in chunk_lengths(total, chunk).enumerate() {
            file.write_all(stream.chunk(index as u64, len))?;
            file.sync_all()?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(secs)
}

/// Component: one SHA-256 pass over the same chunks (the relay hashes each append twice: the
/// signature's body digest and the `Upload-Checksum`; the client twice as well).
fn sha_rate(stream: &mut Stream, total: usize, chunk: usize) -> f64 {
    let start = Instant::now();
    let mut acc = 0u8;
    for (index, len) in chunk_lengths(total, chunk).enumerate() {
        acc ^= Sha256::digest(stream.chunk(index as u64, len))[0];
    }
    std::hint::black_box(acc);
    start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Scenario b: small signed requests under load

/// One load client: its device and pre-built message bodies. Every request carries a fresh
/// random nonce (see `sealroom_wire::auth`), so reposting a pooled body or repeating a fetch
/// within one second is legitimate and not a replay.
struct LoadClient {
    device: Device,
    pool: Vec<Vec<u8>>,
    next: usize,
    cursor: u64,
    rng: u64,
}

impl LoadClient {
    /// The next `{"message": ...}` body of the pool (round robin).
    fn post_body(&mut self) -> &[u8] {
        let i = self.next;
        self.next = (self.next + 1) % self.pool.len();
        &self.pool[i]
    }

    fn coin(&mut self, percent: u32) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 100) < u64::from(percent)
    }
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    posts: u64,
    fetches: u64,
    first_io_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.io_errors += other.io_errors;
        self.posts += other.posts;
        self.fetches += other.fetches;
        if self.first_io_error.is_none() {
            self.first_io_error = other.first_io_error;
        }
    }
}

/// Sets every client's notification preference (`PUT /v1/me/notifications`).
async fn set_notify(addr: SocketAddr, clients: &[LoadClient], mode: &str) -> Res<()> {
    let body = serde_json::to_vec(&json!({ "mode": mode }))?;
    let mut conn = Conn::new(addr);
    for c in clients {
        let r = signed(
            &mut conn,
            &c.device,
            "PUT",
            "/v1/me/notifications",
            &[("content-type", "application/json")],
            &body,
        )
        .await?;
        if !(200..300).contains(&r.status) {
            return Err(format!(
                "set notification preference: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )
            .into());
        }
    }
    Ok(())
}

/// Registers `n` customers in one space, adds them all to one MLS room with a single commit,
/// joins each from its welcome and builds each client's message pool.
fn load_setup(relay: &Relay, admin: &Device, opts: &Options) -> Res<(String, Vec<LoadClient>)> {
    let t = Instant::now();
    let org = relay.create_customer_org(admin, "Load Ltd");
    let staff = relay.add_staff(admin, "Host");
    let space = relay.create_space(&staff, &org);
    let host = MlsDevice::new(&staff)?;
    let host_http = relay.client(&staff);
    let (mut group, room_id) = host.create_room(&host_http, &space)?;
    let mut members = Vec::with_capacity(opts.clients);
    let mut key_packages = Vec::with_capacity(opts.clients);
    for i in 0..opts.clients {
        let device = relay.add_customer(&staff, &space, &format!("Client{i}"));
        let mls = MlsDevice::new(&device)?;
        mls.upload_key_package(&relay.client(&device))?;
        let claimed = host_http.post_json(
            &format!("/v1/users/{}/keypackages/claim", device.user_id),
            &json!({}),
        );
        if claimed.status != 200 {
            return Err(format!("claim: {} {}", claimed.status, claimed.text()).into());
        }
        let kp_b64 = claimed.json()["key_packages"][0]["key_package"]
            .as_str()
            .ok_or("no key package")?
            .to_owned();
        let kp = match MlsMessageIn::tls_deserialize_exact(unb64(&kp_b64)?)?.extract() {
            MlsMessageBodyIn::KeyPackage(kp) => kp,
            _ => return Err("claimed bytes are not a key package".into()),
        };
        let kp = kp.validate(host.provider.crypto(), ProtocolVersion::Mls10)?;
        key_packages.push(kp);
        members.push(mls);
    }
    println!(
        "requests: {} devices registered in {:.1} s",
        opts.clients,
        t.elapsed().as_secs_f64()
    );
    let (commit, welcome, _) = group.add_members(&host.provider, &host.signer, &key_packages)?;
    let body = json!({ "message": b64(&bytes(&commit)?), "welcome": b64(&bytes(&welcome)?) });
    let r = host_http.post_json(&format!("/v1/rooms/{room_id}/handshakes"), &body);
    if r.status != 201 {
        return Err(format!("add commit: {} {}", r.status, r.text()).into());
    }
    group.merge_pending_commit(&host.provider)?;
    let mut clients = Vec::with_capacity(opts.clients);
    for (i, mls) in members.into_iter().enumerate() {
        let http = relay.client(&mls.device);
        let welcomes = http.get("/v1/welcomes");
        if welcomes.status != 200 {
            return Err(format!("welcomes: {} {}", welcomes.status, welcomes.text()).into());
        }
        let w = welcomes.json()["entries"][0]["welcome"]
            .as_str()
            .ok_or("no welcome")?
            .to_owned();
        let mut group = mls.join(&w)?;
        let mut pool = Vec::with_capacity(opts.pool);
        for j in 0..opts.pool {
            let m = group.create_message(
                &mls.provider,
                &mls.signer,
                format!("load message {j} from client {i}").as_bytes(),
            )?;
            pool.push(serde_json::to_vec(&json!({ "message": b64(&bytes(&m)?) }))?);
        }
        clients.push(LoadClient {
            device: mls.device.clone(),
            pool,
            next: 0,
            cursor: 0,
            rng: 0x2545_f491_4f6c_dd1d ^ ((i as u64 + 1) << 17),
        });
    }
    println!(
        "requests: room of {} members joined, {} messages pre-built per client ({:.1} s total setup)",
        opts.clients + 1,
        opts.pool,
        t.elapsed().as_secs_f64()
    );
    Ok((room_id, clients))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Signed,
    Healthz,
}

async fn client_loop(
    addr: SocketAddr,
    mut client: LoadClient,
    room_id: Arc<String>,
    mode: Mode,
    opts: Arc<Options>,
    deadline: Instant,
) -> (LoadClient, Tally) {
    let mut conn = Conn::new(addr);
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(16 * 1024),
        ..Tally::default()
    };
    let messages = format!("/v1/rooms/{room_id}/messages");
    let json_type = [("content-type", "application/json")];
    let limit = opts.fetch_limit;
    while Instant::now() < deadline {
        let started = Instant::now();
        let result = match mode {
            Mode::Healthz => conn
                .send("GET", "/healthz", &[], b"")
                .await
                .map(|a| (a, false)),
            Mode::Signed => {
                if client.coin(opts.post_percent) {
                    tally.posts += 1;
                    let body = client.post_body().to_vec();
                    signed(
                        &mut conn,
                        &client.device,
                        "POST",
                        &messages,
                        &json_type,
                        &body,
                    )
                    .await
                    .map(|a| (a, false))
                } else {
                    tally.fetches += 1;
                    let target = format!("{messages}?after={}&limit={limit}", client.cursor);
                    signed(&mut conn, &client.device, "GET", &target, &[], b"")
                        .await
                        .map(|a| (a, true))
                }
            }
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match result {
            Ok((answer, fetch)) => {
                tally.latencies_us.push(micros);
                *tally.statuses.entry(answer.status).or_default() += 1;
                if fetch && answer.status == 200 {
                    if let Some(next) = serde_json::from_slice::<Value>(&answer.body)
                        .ok()
                        .and_then(|v| v["next_after"].as_u64())
                    {
                        client.cursor = next;
                    }
                }
            }
            Err(e) => {
                tally.io_errors += 1;
                if tally.first_io_error.is_none() {
                    tally.first_io_error = Some(e.to_string());
                }
            }
        }
    }
    (client, tally)
}

/// Runs the clients until the deadline; returns them and the merged tally with the wall time.
async fn run_load(
    addr: SocketAddr,
    clients: Vec<LoadClient>,
    room_id: &str,
    mode: Mode,
    opts: &Options,
) -> Res<(Vec<LoadClient>, Tally, f64)> {
    let room_id = Arc::new(room_id.to_owned());
    let opts = Arc::new(opts.clone());
    let start = Instant::now();
    let deadline = start + opts.duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            tokio::spawn(client_loop(
                addr,
                c,
                room_id.clone(),
                mode,
                opts.clone(),
                deadline,
            ))
        })
        .collect();
    let mut back = Vec::with_capacity(tasks.len());
    let mut tally = Tally::default();
    for t in tasks {
        let (c, t) = t.await?;
        back.push(c);
        tally.merge(t);
    }
    let wall = start.elapsed().as_secs_f64();
    Ok((back, tally, wall))
}

struct LoadRow {
    label: String,
    requests: u64,
    rate: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    errors: String,
    relay_cpu: f64,
    me_cpu: f64,
    rss_before: u64,
    rss_after: u64,
}

fn summarize(
    label: String,
    mut tally: Tally,
    wall: f64,
    cpu: (f64, f64, f64),
    rss: (u64, u64),
) -> LoadRow {
    tally.latencies_us.sort_unstable();
    let n = tally.latencies_us.len();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let idx = ((p / 100.0) * n as f64).ceil() as usize;
        f64::from(tally.latencies_us[idx.clamp(1, n) - 1]) / 1000.0
    };
    let ok: u64 = tally
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, c)| c)
        .sum();
    let errors: BTreeMap<u16, u64> = tally
        .statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(s, c)| (*s, *c))
        .collect();
    if let Some(e) = &tally.first_io_error {
        println!("  first transport error: {e}");
    }
    LoadRow {
        label,
        requests: n as u64,
        rate: ok as f64 / wall,
        p50: pct(50.0),
        p90: pct(90.0),
        p99: pct(99.0),
        max: pct(100.0),
        errors: describe_errors(&errors, tally.io_errors),
        relay_cpu: cpu.0,
        me_cpu: cpu.1,
        rss_before: rss.0,
        rss_after: rss.1,
    }
}

fn describe_errors(by_status: &BTreeMap<u16, u64>, io: u64) -> String {
    let mut parts: Vec<String> = by_status.iter().map(|(s, c)| format!("{c}x {s}")).collect();
    if io > 0 {
        parts.push(format!("{io}x transport"));
    }
    if parts.is_empty() {
        "0".to_owned()
    } else {
        parts.join(", ")
    }
}

async fn requests_scenario(
    relay: &Relay,
    pid: u32,
    room_id: String,
    mut clients: Vec<LoadClient>,
    opts: &Options,
) -> Res<(String, Vec<LoadClient>, Option<f64>)> {
    let mut plan: Vec<(String, Mode, Option<&str>)> = vec![(
        "`GET /healthz`, unsigned (baseline)".to_owned(),
        Mode::Healthz,
        None,
    )];
    for m in &opts.notify {
        plan.push((
            format!("signed posts + cursor fetches, members' notifications `{m}`"),
            Mode::Signed,
            Some(m.as_str()),
        ));
    }
    let mut rows = Vec::new();
    for (label, mode, notify) in plan {
        if let Some(m) = notify {
            set_notify(relay.addr(), &clients, m).await?;
        }
        println!(
            "requests: {label}, {} clients for {} s",
            opts.clients,
            opts.duration.as_secs()
        );
        let rss_before = rss_kib(pid);
        let cpu = CpuMeter::start(pid);
        let (back, tally, wall) = run_load(relay.addr(), clients, &room_id, mode, opts).await?;
        clients = back;
        let (posts, fetches) = (tally.posts, tally.fetches);
        let row = summarize(label, tally, wall, cpu.read(), (rss_before, rss_kib(pid)));
        println!(
            "  {} requests ({posts} posts, {fetches} fetches), {:.0} req/s, p50 {:.2} ms, p90 \
             {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {}, relay CPU {:.1} s, generator CPU \
             {:.1} s, RSS {} -> {} KiB",
            row.requests,
            row.rate,
            row.p50,
            row.p90,
            row.p99,
            row.max,
            row.errors,
            row.relay_cpu,
            row.me_cpu,
            row.rss_before,
            row.rss_after
        );
        rows.push(row);
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} concurrent clients (each its own registered device, all members of one MLS room of \
         {} members), closed loop over keep-alive HTTP/1.1, {} s per row; signed mix: {}% \
         `POST /v1/rooms/{{room}}/messages` (real MLS PrivateMessages) and the rest `GET \
         /v1/rooms/{{room}}/messages?after=cursor&limit={}`; load average at the end: {}:\n",
        opts.clients,
        opts.clients + 1,
        opts.duration.as_secs(),
        opts.post_percent,
        opts.fetch_limit,
        load_average()
    );
    md.push_str(
        "| Requests | Count | Successful req/s | p50 | p90 | p99 | max | Errors | Relay CPU | \
         Generator CPU | Relay RSS before -> after |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} ms | {} | {:.1} s | \
             {:.1} s | {:.1} -> {:.1} MiB |",
            r.label,
            r.requests,
            r.rate,
            r.p50,
            r.p90,
            r.p99,
            r.max,
            r.errors,
            r.relay_cpu,
            r.me_cpu,
            r.rss_before as f64 / 1024.0,
            r.rss_after as f64 / 1024.0
        );
    }
    md.push('\n');
    let healthz = rows.first().map(|r| r.rate);
    Ok((md, clients, healthz))
}

// ---------------------------------------------------------------------------------------------
// Scenario c: mixed workload (posts, SDK-style syncs and resumable uploads)

/// One operation type of the mixed workload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Post,
    Sync,
    Upload,
    Delete,
}

impl Op {
    const ALL: [Op; 4] = [Op::Post, Op::Sync, Op::Upload, Op::Delete];

    fn label(self) -> &'static str {
        match self {
            Op::Post => "post: signed `POST /messages` (MLS PrivateMessage)",
            Op::Sync => {
                "sync: `GET /welcomes`, handshakes and messages pages (`limit=200`) until empty, \
                 `GET /keypackages`"
            }
            Op::Upload => {
                "upload: `POST /blobs` + signed, checksummed `PATCH` appends (≤ 4 MiB each)"
            }
            Op::Delete => "delete the uploaded blob (`DELETE /blobs/{id}`)",
        }
    }
}

/// What one mixed-workload client measured, per operation type.
#[derive(Default)]
struct MixedTally {
    latencies_us: BTreeMap<Op, Vec<u32>>,
    /// Failed operations per type (any non-2xx answer or transport error).
    failed: BTreeMap<Op, u64>,
    /// The first failures in full (status and body).
    failures: Vec<String>,
    http_requests: u64,
    uploaded_bytes: u64,
    synced_messages: u64,
    /// Latencies recorded before the end of the warm-up are kept apart.
    warmup_ops: u64,
}

impl MixedTally {
    fn merge(&mut self, other: MixedTally) {
        for (op, l) in other.latencies_us {
            self.latencies_us.entry(op).or_default().extend(l);
        }
        for (op, n) in other.failed {
            *self.failed.entry(op).or_default() += n;
        }
        for f in other.failures {
            if self.failures.len() < 50 {
                self.failures.push(f);
            }
        }
        self.http_requests += other.http_requests;
        self.uploaded_bytes += other.uploaded_bytes;
        self.synced_messages += other.synced_messages;
        self.warmup_ops += other.warmup_ops;
    }

    fn fail(&mut self, op: Op, what: String) {
        *self.failed.entry(op).or_default() += 1;
        if self.failures.len() < 50 {
            eprintln!("  mixed: {what}");
            self.failures.push(what);
        }
    }
}

/// An HTTP failure of one request, with its status and body (or the transport error).
fn failure(what: &str, answer: std::io::Result<&Answer>) -> String {
    match answer {
        Ok(a) => format!(
            "{what}: HTTP {} {}",
            a.status,
            String::from_utf8_lossy(&a.body[..a.body.len().min(400)])
        ),
        Err(e) => format!("{what}: transport error: {e}"),
    }
}

/// Per-client state of the mixed workload: the load client plus its handshake cursor.
struct MixedClient {
    load: LoadClient,
    hs_after: u64,
}

/// Log-uniform file size between `min` and `max` bytes.
fn file_size(rng: &mut u64, min: usize, max: usize) -> usize {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let u = (*rng >> 11) as f64 / (1u64 << 53) as f64;
    let (lo, hi) = (min.max(1) as f64, max.max(min).max(1) as f64);
    ((lo.ln() + u * (hi.ln() - lo.ln())).exp() as usize).clamp(min.max(1), max.max(min).max(1))
}

/// One SDK-style sync of the client's room. Returns `Err(description)` on the first failure.
async fn mixed_sync(
    conn: &mut Conn,
    c: &mut MixedClient,
    room_id: &str,
    tally: &mut MixedTally,
) -> Result<(), String> {
    let a = signed(conn, &c.load.device, "GET", "/v1/welcomes", &[], b"").await;
    tally.http_requests += 1;
    match &a {
        Ok(a) if a.status == 200 => {}
        _ => return Err(failure("GET /v1/welcomes", a.as_ref().map_err(clone_io))),
    }
    for kind in ["handshakes", "messages"] {
        loop {
            let after = if kind == "handshakes" {
                c.hs_after
            } else {
                c.load.cursor
            };
            let target = format!("/v1/rooms/{room_id}/{kind}?after={after}&limit=200");
            let a = signed(conn, &c.load.device, "GET", &target, &[], b"").await;
            tally.http_requests += 1;
            let a = match a {
                Ok(a) if a.status == 200 => a,
                other => {
                    return Err(failure(
                        &format!("GET {kind}"),
                        other.as_ref().map_err(clone_io),
                    ))
                }
            };
            let page: Value = serde_json::from_slice(&a.body)
                .map_err(|e| format!("GET {kind}: not JSON: {e}"))?;
            let entries = page["entries"].as_array().map_or(0, Vec::len);
            let next = page["next_after"].as_u64().unwrap_or(after);
            if kind == "handshakes" {
                c.hs_after = next;
            } else {
                c.load.cursor = next;
                tally.synced_messages += entries as u64;
            }
            if entries == 0 {
                break;
            }
        }
    }
    let a = signed(conn, &c.load.device, "GET", "/v1/keypackages", &[], b"").await;
    tally.http_requests += 1;
    match &a {
        Ok(a) if a.status == 200 => Ok(()),
        _ => Err(failure("GET /v1/keypackages", a.as_ref().map_err(clone_io))),
    }
}

fn clone_io(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

/// Uploads one file of `size` bytes (sliced from the shared random bytes) through the
/// resumable blob API. Returns the blob id.
async fn mixed_upload(
    conn: &mut Conn,
    device: &Device,
    room_id: &str,
    data: &Arc<Vec<u8>>,
    size: usize,
    start: usize,
    tally: &mut MixedTally,
) -> Result<String, String> {
    let create = format!("{{\"length\":{size}}}");
    let a = signed(
        conn,
        device,
        "POST",
        &format!("/v1/rooms/{room_id}/blobs"),
        &[("content-type", "application/json")],
        create.as_bytes(),
    )
    .await;
    tally.http_requests += 1;
    let a = match a {
        Ok(a) if a.status == 201 => a,
        other => return Err(failure("POST /blobs", other.as_ref().map_err(clone_io))),
    };
    let created: Value =
        serde_json::from_slice(&a.body).map_err(|e| format!("POST /blobs: not JSON: {e}"))?;
    let blob_id = created["blob_id"]
        .as_str()
        .ok_or("POST /blobs: no blob_id")?
        .to_owned();
    let path = format!("/v1/rooms/{room_id}/blobs/{blob_id}");
    let mut offset = 0usize;
    while offset < size {
        let len = (size - offset).min(4 * MIB);
        let (device2, path2, data2) = (device.clone(), path.clone(), Arc::clone(data));
        let from = start + offset;
        // Hash and sign off the async workers (as the SDK does in its own task).
        let headers = tokio::task::spawn_blocking(move || {
            let body = &data2[from..from + len];
            let mut h = vec![
                (
                    "content-type".to_owned(),
                    "application/offset+octet-stream".to_owned(),
                ),
                ("upload-offset".to_owned(), offset.to_string()),
                (
                    "upload-checksum".to_owned(),
                    format!("sha256 {}", b64(&Sha256::digest(body))),
                ),
            ];
            let auth = sign(&device2, "PATCH", &path2, "", &h, body);
            h.extend(auth);
            h
        })
        .await
        .map_err(|e| format!("sign task: {e}"))?;
        let hv: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let a = conn
            .send("PATCH", &path, &hv, &data[from..from + len])
            .await;
        tally.http_requests += 1;
        match &a {
            Ok(a) if a.status == 204 => {}
            _ => {
                return Err(failure(
                    &format!("PATCH at {offset} of {size}"),
                    a.as_ref().map_err(clone_io),
                ))
            }
        }
        offset += len;
    }
    tally.uploaded_bytes += size as u64;
    Ok(blob_id)
}

/// Mixed-workload parameters shared by the clients.
struct MixedPlan {
    room_id: String,
    data: Arc<Vec<u8>>,
    percent: [u32; 3],
    min_size: usize,
    max_size: usize,
    warmup_end: Instant,
    deadline: Instant,
}

async fn mixed_loop(
    addr: SocketAddr,
    mut c: MixedClient,
    plan: Arc<MixedPlan>,
) -> (MixedClient, MixedTally) {
    let mut conn = Conn::new(addr);
    let mut tally = MixedTally::default();
    let messages = format!("/v1/rooms/{}/messages", plan.room_id);
    let json_type = [("content-type", "application/json")];
    let [post, sync, _upload] = plan.percent;
    while Instant::now() < plan.deadline {
        let roll = {
            let r = &mut c.load.rng;
            *r ^= *r << 13;
            *r ^= *r >> 7;
            *r ^= *r << 17;
            (*r % 100) as u32
        };
        let op = if roll < post {
            Op::Post
        } else if roll < post + sync {
            Op::Sync
        } else {
            Op::Upload
        };
        let started = Instant::now();
        let result: Result<Option<String>, String> = match op {
            Op::Post => {
                let body = c.load.post_body().to_vec();
                let a = signed(
                    &mut conn,
                    &c.load.device,
                    "POST",
                    &messages,
                    &json_type,
                    &body,
                )
                .await;
                tally.http_requests += 1;
                match &a {
                    Ok(a) if (200..300).contains(&a.status) => Ok(None),
                    _ => Err(failure("POST /messages", a.as_ref().map_err(clone_io))),
                }
            }
            Op::Sync => mixed_sync(&mut conn, &mut c, &plan.room_id, &mut tally)
                .await
                .map(|()| None),
            Op::Upload | Op::Delete => {
                let size = file_size(&mut c.load.rng, plan.min_size, plan.max_size);
                let start = (c.load.rng as usize) % (plan.data.len() - size + 1);
                mixed_upload(
                    &mut conn,
                    &c.load.device,
                    &plan.room_id,
                    &plan.data,
                    size,
                    start,
                    &mut tally,
                )
                .await
                .map(Some)
            }
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let warm = started >= plan.warmup_end;
        match result {
            Ok(blob) => {
                if warm {
                    tally.latencies_us.entry(op).or_default().push(micros);
                } else {
                    tally.warmup_ops += 1;
                }
                // Removes the file again so the disk and the space quota stay bounded.
                if let Some(blob_id) = blob {
                    let started = Instant::now();
                    let target = format!("/v1/rooms/{}/blobs/{blob_id}", plan.room_id);
                    let a = signed(&mut conn, &c.load.device, "DELETE", &target, &[], b"").await;
                    tally.http_requests += 1;
                    let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                    match &a {
                        Ok(a) if (200..300).contains(&a.status) => {
                            if warm {
                                tally
                                    .latencies_us
                                    .entry(Op::Delete)
                                    .or_default()
                                    .push(micros);
                            }
                        }
                        _ => tally.fail(
                            Op::Delete,
                            failure("DELETE /blobs", a.as_ref().map_err(clone_io)),
                        ),
                    }
                }
            }
            Err(what) => tally.fail(op, what),
        }
    }
    (c, tally)
}

/// The highest message sequence number of the room (exponential then binary search with
/// `limit=1` pages), so the mixed clients' syncs start where the room is now.
async fn latest_seq(addr: SocketAddr, device: &Device, room_id: &str) -> Res<u64> {
    let mut conn = Conn::new(addr);
    let mut hi = 1u64;
    while has_after(&mut conn, device, room_id, hi).await? {
        hi *= 2;
    }
    if !has_after(&mut conn, device, room_id, 0).await? {
        return Ok(0);
    }
    let mut lo = 0u64;
    // Invariant: nothing after `hi`; something after `lo` unless `lo` is 0.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if has_after(&mut conn, device, room_id, mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// Whether the room has a message with a sequence number above `after`.
async fn has_after(conn: &mut Conn, device: &Device, room_id: &str, after: u64) -> Res<bool> {
    let target = format!("/v1/rooms/{room_id}/messages?after={after}&limit=1");
    let a = signed(conn, device, "GET", &target, &[], b"").await?;
    if a.status != 200 {
        return Err(format!("probe: {} {}", a.status, String::from_utf8_lossy(&a.body)).into());
    }
    let v: Value = serde_json::from_slice(&a.body)?;
    Ok(v["entries"].as_array().is_some_and(|e| !e.is_empty()))
}

/// Bytes of the files under `dir` (the relay's data directory: store and blobs).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// RSS samples (seconds since the start, KiB), one per second until `deadline`, and the size
/// of the relay's data directory at the first and the last sample.
async fn sample_rss(
    pid: u32,
    data_dir: PathBuf,
    start: Instant,
    deadline: Instant,
) -> (Vec<(f64, u64)>, u64, u64) {
    let mut samples = Vec::new();
    let first_bytes = dir_bytes(&data_dir);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        samples.push((start.elapsed().as_secs_f64(), rss_kib(pid)));
        if Instant::now() >= deadline {
            break;
        }
    }
    (samples, first_bytes, dir_bytes(&data_dir))
}

/// Least-squares slope of RSS (MiB per minute) over samples at or after `from` seconds.
fn rss_slope(samples: &[(f64, u64)], from: f64) -> f64 {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t >= from)
        .map(|(t, k)| (*t, *k as f64 / 1024.0))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return 0.0;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx * 60.0
    }
}

async fn mixed_scenario(
    relay: &Relay,
    pid: u32,
    room_id: String,
    clients: Vec<LoadClient>,
    opts: &Options,
    healthz_rate: Option<f64>,
) -> Res<(String, Vec<LoadClient>)> {
    set_notify(relay.addr(), &clients, &opts.mixed_notify).await?;
    let first = clients.first().ok_or("no clients")?.device.clone();
    let latest = latest_seq(relay.addr(), &first, &room_id).await?;
    // Shared random bytes the files are sliced from (pseudo-random, so nothing compresses).
    let mut stream = Stream::new(opts.mixed_max_kib * 1024 * 2);
    let data = Arc::new(std::mem::take(&mut stream.buf));
    let n = clients.len();
    let duration = opts.mixed_duration;
    let warmup = opts.mixed_warmup.min(duration / 2);
    println!(
        "mixed: {n} clients for {} s (warm-up {} s), post/sync/upload {:?} %, files {}–{} KiB, \
         notifications `{}`, syncs start after seq {latest}",
        duration.as_secs(),
        warmup.as_secs(),
        opts.mixed_percent,
        opts.mixed_min_kib,
        opts.mixed_max_kib,
        opts.mixed_notify
    );
    let start = Instant::now();
    let plan = Arc::new(MixedPlan {
        room_id: room_id.clone(),
        data,
        percent: opts.mixed_percent,
        min_size: opts.mixed_min_kib * 1024,
        max_size: opts.mixed_max_kib * 1024,
        warmup_end: start + warmup,
        deadline: start + duration,
    });
    let cpu = CpuMeter::start(pid);
    let sampler = tokio::spawn(sample_rss(pid, relay.data_dir(), start, start + duration));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut load| {
            load.cursor = latest;
            tokio::spawn(mixed_loop(
                relay.addr(),
                MixedClient { load, hs_after: 0 },
                Arc::clone(&plan),
            ))
        })
        .collect();
    let mut back = Vec::with_capacity(n);
    let mut tally = MixedTally::default();
    for t in tasks {
        let (c, t) = t.await?;
        back.push(c.load);
        tally.merge(t);
    }
    let wall = start.elapsed().as_secs_f64();
    let (relay_cpu, me_cpu, _) = cpu.read();
    let (samples, disk_start, disk_end) = sampler.await?;
    let measured = (wall - warmup.as_secs_f64()).max(1e-9);
    let kib_at = |t: f64| {
        samples
            .iter()
            .find(|(s, _)| *s >= t)
            .or(samples.last())
            .map_or(0, |s| s.1)
    };
    let mib = |k: u64| k as f64 / 1024.0;
    let rss_start = samples.first().map_or(0, |s| s.1);
    let rss_warm = kib_at(warmup.as_secs_f64());
    let rss_end = samples.last().map_or(0, |s| s.1);
    let rss_max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let slope = rss_slope(&samples, warmup.as_secs_f64());
    let total_failed: u64 = tally.failed.values().sum();

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Mixed workload: {n} simulated devices (each its own registered device with real \
         Ed25519 request signatures, all members of the MLS room above, members' notifications \
         `{}`), closed loop for {} s, each picking its next operation at random: {}% posts, \
         {}% syncs, {}% file uploads (log-uniform {} KiB–{} MiB, each deleted again after its \
         upload). Figures after a {} s warm-up ({:.0} s measured, {} operations during the \
         warm-up not counted); load average at the end: {}:\n",
        opts.mixed_notify,
        duration.as_secs(),
        opts.mixed_percent[0],
        opts.mixed_percent[1],
        opts.mixed_percent[2],
        opts.mixed_min_kib,
        opts.mixed_max_kib / 1024,
        warmup.as_secs(),
        measured,
        tally.warmup_ops,
        load_average()
    );
    md.push_str(
        "| Operation | Count | Per second | p50 | p90 | p99 | max | Errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    println!("mixed: results after warm-up ({measured:.0} s):");
    for op in Op::ALL {
        let mut l = tally.latencies_us.remove(&op).unwrap_or_default();
        l.sort_unstable();
        let count = l.len();
        let pct = |p: f64| -> f64 {
            if count == 0 {
                return 0.0;
            }
            let idx = ((p / 100.0) * count as f64).ceil() as usize;
            f64::from(l[idx.clamp(1, count) - 1]) / 1000.0
        };
        let failed = tally.failed.get(&op).copied().unwrap_or(0);
        let line = format!(
            "| {} | {count} | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {failed} |",
            op.label(),
            count as f64 / measured,
            pct(50.0),
            pct(90.0),
            pct(99.0),
            pct(100.0)
        );
        println!("  {line}");
        let _ = writeln!(md, "{line}");
    }
    let req_rate = tally.http_requests as f64 / wall;
    let _ = writeln!(
        md,
        "\nAll operations: {} HTTP requests in {:.0} s = {:.0} req/s{}; {:.1} MB/s of file bytes \
         uploaded ({:.0} MiB); {} messages fetched by syncs; {} failed operations{}. Relay CPU \
         {:.1} s, load generator CPU {:.1} s.\n",
        tally.http_requests,
        wall,
        req_rate,
        healthz_rate.map_or(String::new(), |h| format!(
            " ({:.3}x of the unsigned `/healthz` baseline above, {h:.0} req/s)",
            req_rate / h
        )),
        tally.uploaded_bytes as f64 / 1e6 / wall,
        tally.uploaded_bytes as f64 / MIB as f64,
        tally.synced_messages,
        total_failed,
        if tally.failures.is_empty() {
            String::new()
        } else {
            format!(
                " (first: `{}`)",
                tally.failures[0].replace('`', "'").replace('|', "/")
            )
        },
        relay_cpu,
        me_cpu
    );
    let _ = writeln!(
        md,
        "Relay RSS, sampled every second ({} samples): start {:.1} MiB, after the warm-up \
         {:.1} MiB, end {:.1} MiB, max {:.1} MiB; slope after the warm-up (least squares) \
         **{:+.1} MiB/min**. Trace (every 10 s, MiB): {}. The relay's data directory (store \
         store, blobs) grew from {:.1} to {:.1} MiB meanwhile.\n",
        samples.len(),
        mib(rss_start),
        mib(rss_warm),
        mib(rss_end),
        mib(rss_max),
        slope,
        samples
            .iter()
            .step_by(10)
            .map(|s| format!("{:.0}", mib(s.1)))
            .collect::<Vec<_>>()
            .join(", "),
        disk_start as f64 / MIB as f64,
        disk_end as f64 / MIB as f64
    );
    println!(
        "mixed: {} requests ({req_rate:.0} req/s), RSS start {:.1} warm {:.1} end {:.1} max {:.1} \
         MiB, slope {slope:+.1} MiB/min, failed {total_failed}",
        tally.http_requests,
        mib(rss_start),
        mib(rss_warm),
        mib(rss_end),
        mib(rss_max)
    );
    Ok((md, back))
}
