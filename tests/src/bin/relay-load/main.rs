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
//!   4 MiB, sizes log-uniform in `--mixed-kib`, deleted again afterwards), closed loop, or
//!   paced with `--mixed-interval-ms` (each device starts its operations at Poisson-random
//!   times, latency counted from the scheduled start, so a relay that falls behind is charged
//!   for the wait: no coordinated omission). Per
//!   operation type: count, rate, p50/p90/p99/max and failures (each printed with its status
//!   and body); the relay's RSS is sampled every second (start, after the warm-up, end, max and
//!   the least-squares slope after the warm-up).
//!
//! - **portal**: the mixed workload shaped like a portal (issue 21): `--portal-devices`
//!   devices in `--portal-spaces` spaces, each space its own MLS room of 2 to 8 members (sizes
//!   from `--portal-seed`), every device in the closed loop of `mixed` in its own space's room;
//!   the spaces are set up in parallel and the set-up is timed.
//!
//! Nothing is asserted: the tool measures and prints, and with `--markdown FILE` writes the
//! result tables for `scripts/bench-relay.sh`. Run `sealroom-load --help` for the flags.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use sealroom_tests::relay::{now, Device};

mod deploy;
mod http;
mod live;
mod mixed;
mod mixed_run;
mod mls;
mod portal;
mod requests;
mod setup;
mod stats;
mod upload;

use deploy::*;
use http::*;
use live::*;
use mixed::*;
use mixed_run::*;
use mls::*;
use portal::*;
use requests::*;
use setup::*;
use stats::*;
use upload::*;

pub(crate) type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

pub(crate) const MIB: usize = 1024 * 1024;

pub(crate) const USAGE: &str = "\
sealroom-load: relay benchmarks (upload throughput, small signed requests under load)

Usage: sealroom-load [options]
  --scenario LIST                  comma-separated from upload, requests, mixed, portal, live, or
                                   all (default all; all is without portal and live)
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
  --mixed-interval-ms N            paced instead of closed loop: each device starts operations at
                                   Poisson-random times, N ms apart on average, latency counted
                                   from the scheduled start (default 0: closed loop)
  --mixed-percent P,S,U            mixed shares of posts, syncs, uploads (default 45,45,10)
  --mixed-kib MIN,MAX              mixed file sizes in KiB, log-uniform (default 64,4096)
  --mixed-notify MODE              members' notification preference during the mixed workload
                                   (default immediate, the relay's default)
  --markdown FILE                  write the result tables (markdown) to FILE
  --backend B                      embedded (redb, default) or scale-out (PostgreSQL + S3 of the
                                   tests: scripts/services/postgres.sh and seaweedfs.sh)
  --instances N                    scale-out instances sharing the store (default 1); the mixed
                                   clients spread over them, round robin per device
  --summary FILE                   append one tab-separated line of the mixed figures to FILE
  --portal-devices N               devices of the portal scenario (default 1000)
  --portal-spaces N                spaces (rooms of 2 to 8 members) of the portal scenario
                                   (default 200)
  --portal-seed S                  seed of the portal's space sizes (default 1)
  --figures FILE                   append `name<TAB>value` lines of the requests and upload
                                   figures to FILE
";

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) upload: bool,
    pub(crate) requests: bool,
    pub(crate) mixed: bool,
    pub(crate) live: bool,
    pub(crate) portal: bool,
    pub(crate) portal_devices: usize,
    pub(crate) portal_spaces: usize,
    pub(crate) portal_seed: u64,
    pub(crate) mixed_duration: Duration,
    pub(crate) mixed_warmup: Duration,
    /// Mean interval between a device's operation starts in the mixed workloads (zero: closed
    /// loop, the next operation right after the last one).
    pub(crate) mixed_interval: Duration,
    pub(crate) mixed_percent: [u32; 3],
    pub(crate) mixed_min_kib: usize,
    pub(crate) mixed_max_kib: usize,
    pub(crate) mixed_notify: String,
    pub(crate) upload_mib: usize,
    pub(crate) chunks_mib: Vec<usize>,
    pub(crate) checksum: bool,
    pub(crate) clients: usize,
    pub(crate) duration: Duration,
    pub(crate) post_percent: u32,
    pub(crate) fetch_limit: u32,
    pub(crate) pool: usize,
    pub(crate) threads: usize,
    pub(crate) relay_log: String,
    pub(crate) notify: Vec<String>,
    pub(crate) markdown: Option<PathBuf>,
    pub(crate) backend: Backend,
    pub(crate) instances: usize,
    pub(crate) summary: Option<PathBuf>,
    pub(crate) figures: Option<PathBuf>,
}

impl Options {
    pub(crate) fn parse() -> Res<Self> {
        let mut o = Self {
            upload: true,
            requests: true,
            mixed: true,
            live: false,
            portal: false,
            portal_devices: 1000,
            portal_spaces: 200,
            portal_seed: 1,
            mixed_duration: Duration::ZERO,
            mixed_warmup: Duration::from_secs(10),
            mixed_interval: Duration::ZERO,
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
            backend: Backend::Embedded,
            instances: 1,
            summary: None,
            figures: None,
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
                            "live" => o.live = true,
                            "portal" => o.portal = true,
                            other => return Err(format!("unknown scenario {other}").into()),
                        }
                    }
                }
                "--mixed-duration" => {
                    o.mixed_duration = Duration::from_secs(num(&value)?.max(2) as u64)
                }
                "--mixed-warmup" => o.mixed_warmup = Duration::from_secs(num(&value)? as u64),
                "--mixed-interval-ms" => {
                    o.mixed_interval = Duration::from_millis(num(&value)? as u64)
                }
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
                "--backend" => o.backend = Backend::parse(&value)?,
                "--instances" => o.instances = num(&value)?.clamp(1, 16),
                "--summary" => o.summary = Some(PathBuf::from(value)),
                "--figures" => o.figures = Some(PathBuf::from(value)),
                "--portal-devices" => o.portal_devices = num(&value)?.max(1),
                "--portal-spaces" => o.portal_spaces = num(&value)?.max(1),
                "--portal-seed" => o.portal_seed = num(&value)? as u64,
                other => return Err(format!("unknown flag {other}\n{USAGE}").into()),
            }
        }
        if o.backend == Backend::Embedded && o.instances > 1 {
            return Err("--instances above 1 needs --backend scale-out".into());
        }
        if o.mixed_duration.is_zero() {
            o.mixed_duration = o.duration;
        }
        Ok(o)
    }
}

/// The authority (`host:port`) of the relay under load: the `Host` of every request, which
/// signatures cover.
pub(crate) static AUTHORITY: OnceLock<String> = OnceLock::new();

/// Signs a request to the relay under load with `device`, covering `headers`.
pub(crate) fn sign(
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

pub(crate) fn main() {
    if let Err(e) = run() {
        eprintln!("sealroom-load: {e}");
        std::process::exit(1);
    }
}

pub(crate) fn run() -> Res<()> {
    let opts = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?;
    let max_chunk = opts.chunks_mib.iter().copied().max().unwrap_or(1) * MIB;
    let chunk_limit = (max_chunk + MIB).to_string();
    // Room for the upload stream, and for the mixed workload's concurrent files (each deleted
    // after its upload): all clients in one space, or at most a portal space's members.
    let space_limit = (4 * opts.upload_mib * MIB)
        .max(16 * MIB)
        .max(if opts.mixed {
            4 * opts.clients * opts.mixed_max_kib * 1024
        } else {
            0
        })
        .max(if opts.portal {
            4 * SPACE_MAX * opts.mixed_max_kib * 1024
        } else {
            0
        })
        .to_string();
    // The one commit adding every client to the room, with its welcome: about 1.6 KiB per
    // client, above the relay's default 1 MiB from about 600 clients.
    let message_limit = (4 * 1024 * opts.clients).max(MIB).to_string();
    let mut deploy = Deployment::start(
        opts.backend,
        &[
            ("SEALROOM_MAX_CHUNK", chunk_limit.as_str()),
            ("SEALROOM_MAX_SPACE_BYTES", space_limit.as_str()),
            ("SEALROOM_MAX_MESSAGE_BODY", message_limit.as_str()),
            ("SEALROOM_LOG", opts.relay_log.as_str()),
            // A load run posts far more than a user's hourly message quota.
            ("SEALROOM_USER_MESSAGES_PER_HOUR", "1000000000000"),
            ("SEALROOM_USER_MESSAGE_BYTES_PER_HOUR", "1000000000000000"),
            ("SEALROOM_SPACE_MESSAGES_PER_HOUR", "1000000000000"),
            ("SEALROOM_SPACE_MESSAGE_BYTES_PER_HOUR", "1000000000000000"),
        ],
    )?;
    let relay = deploy.first()?;
    // Every instance is reached with the first one's authority as `Host` (a load balancer in
    // front of them keeps the client's `Host`), which the signatures cover.
    let _ = AUTHORITY.set(relay.addr().to_string());
    let pid = deploy.pids[0];
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
    for _ in 1..opts.instances {
        deploy.add_instance()?;
    }
    if opts.instances > 1 {
        println!("{} started (pids {:?})", deploy.describe(), deploy.pids);
    }
    let relay = deploy.first()?;
    if opts.upload {
        let uploader = uploader_room(relay, &admin)?;
        let table = runtime.block_on(upload_scenario(relay, pid, uploader, &opts))?;
        report.push_str(&table);
    }
    let mut portal_healthz = None;
    if opts.requests || opts.mixed || opts.live {
        let setup = std::time::Instant::now();
        let (room_id, mut clients) = load_setup(relay, &admin, &opts)?;
        let setup_secs = setup.elapsed().as_secs_f64();
        let mut healthz = None;
        if opts.requests {
            let (table, back, rate) = runtime.block_on(requests_scenario(
                relay,
                pid,
                room_id.clone(),
                clients,
                &opts,
            ))?;
            report.push_str(&table);
            clients = back;
            healthz = rate;
        }
        if opts.live {
            let table = runtime.block_on(live_scenario(&deploy, room_id.clone(), &mut clients))?;
            report.push_str(&table);
        }
        if opts.mixed {
            let (table, _) = runtime.block_on(mixed_scenario(
                &deploy, room_id, clients, &opts, healthz, setup_secs,
            ))?;
            report.push_str(&table);
        }
        portal_healthz = healthz;
    }
    if opts.portal {
        let table = portal_scenario(&runtime, &deploy, &admin, &opts, portal_healthz)?;
        report.push_str(&table);
    }
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &report)?;
        println!("tables written to {}", path.display());
    } else {
        println!("\n{report}");
    }
    Ok(())
}
