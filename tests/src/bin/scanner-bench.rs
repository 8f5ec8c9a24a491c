//! `sealroom-scanner-bench`: the malware scanner's throughput against ClamAV scanning the same
//! plaintext directly (issue 23, `docs/benchmarks.md`).
//!
//! It starts the real `sealroom-server` binary built next to it (same cargo profile), sets up a
//! provider with a staff member, a customer and a space whose policy requires a scan, registers
//! the real `sealroom-scanner` binary (also built next to it) as the space's scanner and runs
//! it against a running clamd. For each size in `--mib` it writes that many bytes of
//! `/dev/urandom` to a plaintext file on disk, then, `--rounds` times each, interleaved:
//!
//! - the baseline: `clamdscan --stream` of that file (clamd's `INSTREAM`, the whole file sent
//!   over the socket by ClamAV's own client), timed from start to exit;
//! - the scanner: the customer uploads the same file through the relay (the relay holds it for
//!   the scan); timed from the upload's completion to the scanner's `verdict ... clean` line,
//!   which it prints after its signed verdict is in the room and its release on the relay: its
//!   wake-up (live events), the download, opening and streaming into clamd, and both posts.
//!
//! The scanner's peak RSS (`VmHWM` of its process) is read after it is ready and after each size,
//! so that growth with the file size would show. Medians over the rounds are reported; nothing
//! is asserted except that every verdict is clean. `--markdown FILE` writes the tables for
//! `scripts/bench.sh`.
//!
//! clamd: `SEALROOM_TEST_CLAMD` (`host:port`) and `SEALROOM_TEST_CLAMD_CONF` (its configuration,
//! for `clamdscan --config-file`), as `scripts/services/clamav.sh` exports them.

use std::error::Error;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sealroom_core::client::{Classification, LabelRule, NewFile, Role, SpacePolicy};
use sealroom_tests::relay::{binary_path, Relay};
use sealroom_tests::sdk::SdkDevice;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const MIB: u64 = 1024 * 1024;

const USAGE: &str = "\
sealroom-scanner-bench: upload-to-verdict time of sealroom-scanner vs clamdscan --stream

Usage: sealroom-scanner-bench [--mib LIST] [--rounds N] [--markdown FILE]
  --mib LIST        plaintext sizes in MiB, comma-separated, ascending (default 64,256)
  --rounds N        measurements of each kind per size; medians are reported (default 3)
  --markdown FILE   also write the result tables as Markdown
Environment: SEALROOM_TEST_CLAMD (host:port), SEALROOM_TEST_CLAMD_CONF (clamd.conf)";

/// How long one verdict may take before the bench gives up (a stuck scanner, not a figure).
const VERDICT_LIMIT: Duration = Duration::from_secs(1800);

/// A running `sealroom-scanner run`: its stdout lines, each with the moment it was read.
struct Scanner {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
}

impl Scanner {
    fn start(bin: &Path, relay: &str, state: &Path, clamd: &str) -> Res<Self> {
        let mut child = Command::new(bin)
            .args(["run", "--relay", relay, "--clamd", clamd, "--state"])
            .arg(state)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// Reads lines until one satisfies `until`; returns when it was read, and the line.
    fn wait_for(&self, until: impl Fn(&str) -> bool) -> Res<(Instant, String)> {
        loop {
            let (at, line) = self
                .lines
                .recv_timeout(VERDICT_LIMIT)
                .map_err(|e| format!("the scanner said nothing more ({e})"))?;
            if until(&line) {
                return Ok((at, line));
            }
        }
    }

    /// The process's peak resident set (`VmHWM`), KiB.
    fn peak_rss_kib(&self) -> Res<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sealroom-scanner register`: the scanner's user id.
fn register(bin: &Path, relay: &str, state: &Path, token: &str) -> Res<String> {
    let out = Command::new(bin)
        .args(["register", "--relay", relay, "--token", token, "--state"])
        .arg(state)
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["registered", user_id, ..] if out.status.success() => Ok((*user_id).to_owned()),
        _ => Err(format!("scanner registration failed: {text}").into()),
    }
}

/// The baseline: `clamdscan --stream` of `path`, seconds.
fn clamdscan(conf: &str, path: &Path) -> Res<f64> {
    let t = Instant::now();
    let out = Command::new("clamdscan")
        .args(["--stream", "--no-summary", "--config-file", conf])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "clamdscan: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
        .into());
    }
    Ok(secs)
}

/// Writes `len` bytes of `/dev/urandom` to `path`.
fn random_file(path: &Path, len: u64) -> Res<()> {
    let mut out = std::fs::File::create(path)?;
    let copied = std::io::copy(
        &mut std::fs::File::open("/dev/urandom")?.take(len),
        &mut out,
    )?;
    out.sync_all()?;
    if copied == len {
        Ok(())
    } else {
        Err("short read from /dev/urandom".into())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One size's figures (seconds; medians over the rounds).
struct Row {
    mib: u64,
    clamdscan: f64,
    to_verdict: f64,
    wake: f64,
    upload: f64,
    peak_rss_kib: u64,
}

struct Setup {
    relay: Relay,
    customer: SdkDevice,
    space_id: String,
    scanner_state: tempfile::TempDir,
}

/// Provider, staff, customer, a scanning space and the registered scanner, named in the policy.
async fn setup(scanner_bin: &Path) -> Res<Setup> {
    let relay = Relay::start_with(&[("SEALROOM_MAX_SPACE_BYTES", "68719476736")]);
    let url = relay.base_url();
    let admin = SdkDevice::new(&url);
    admin
        .client
        .bootstrap(&relay.setup_token(), "Provider", "Ada", None, "laptop")
        .await?;
    let org = admin.client.create_customer_org("Bench Ltd").await?;
    let staff = SdkDevice::new(&url);
    let invite = admin.client.invite(Role::Staff, None).await?;
    staff
        .client
        .register(&invite.token, "Sam", None, "laptop")
        .await?;
    let space_id = staff
        .client
        .create_space(&org.org_id, false)
        .await?
        .space_id;
    let customer = SdkDevice::new(&url);
    let invite = staff.client.invite(Role::Customer, Some(&space_id)).await?;
    let account = customer
        .client
        .register(&invite.token, "Cleo", None, "phone")
        .await?;
    staff.client.add_member(&space_id, &account.user_id).await?;
    let scanner_state = tempfile::tempdir()?;
    let invite = admin.client.invite(Role::Staff, None).await?;
    let scanner_user = register(scanner_bin, &url, scanner_state.path(), &invite.token)?;
    staff.client.add_member(&space_id, &scanner_user).await?;
    let policy = SpacePolicy {
        labels: vec![LabelRule {
            classification: Classification::Confidential,
            customer_download: true,
            scan_required: true,
            four_eyes: false,
        }],
        default: Classification::Confidential,
        scanner: None,
    };
    staff.client.set_space_policy(&space_id, &policy).await?;
    staff
        .client
        .set_space_scanner(&space_id, Some(&scanner_user))
        .await?;
    customer.client.sync().await?;
    Ok(Setup {
        relay,
        customer,
        space_id,
        scanner_state,
    })
}

fn run(sizes: &[u64], rounds: usize, clamd: &str, conf: &str) -> Res<(u64, Vec<Row>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let scanner_bin: PathBuf =
        binary_path()?.with_file_name(format!("sealroom-scanner{}", std::env::consts::EXE_SUFFIX));
    let s = rt.block_on(setup(&scanner_bin))?;
    let scanner = Scanner::start(
        &scanner_bin,
        &s.relay.base_url(),
        s.scanner_state.path(),
        clamd,
    )?;
    scanner.wait_for(|l| l == "idle")?;
    let rss_ready = scanner.peak_rss_kib()?;
    let work = tempfile::tempdir()?;
    let mut rows = Vec::new();
    for &mib in sizes {
        let len = mib * MIB;
        let path = work.path().join(format!("plain-{mib}.bin"));
        random_file(&path, len)?;
        let (mut base, mut to_verdict, mut wake, mut upload) = (vec![], vec![], vec![], vec![]);
        for round in 0..rounds {
            base.push(clamdscan(conf, &path)?);
            let t = Instant::now();
            let file = rt.block_on(s.customer.client.upload_file(
                &s.space_id,
                &NewFile {
                    name: format!("bench-{mib}-{round}.bin"),
                    ..NewFile::default()
                },
                len,
                std::fs::File::open(&path)?,
                |_, _| {},
            ))?;
            let uploaded = Instant::now();
            upload.push((uploaded - t).as_secs_f64());
            let id = file.file_id.clone();
            let (scanning, _) =
                scanner.wait_for(|l| l.starts_with("scanning ") && l.ends_with(&id))?;
            let (done, line) =
                scanner.wait_for(|l| l.starts_with("verdict ") && l.contains(&id))?;
            if !line.ends_with(" clean") {
                return Err(format!("expected a clean verdict: {line}").into());
            }
            wake.push((scanning - uploaded).as_secs_f64());
            to_verdict.push((done - uploaded).as_secs_f64());
            eprintln!(
                "{mib} MiB round {}: clamdscan {:.2} s, upload {:.2} s, upload done -> verdict {:.2} s (wake-up {:.3} s)",
                round + 1,
                base[round],
                upload[round],
                to_verdict[round],
                wake[round]
            );
        }
        std::fs::remove_file(&path)?;
        rows.push(Row {
            mib,
            clamdscan: median(base),
            to_verdict: median(to_verdict),
            wake: median(wake),
            upload: median(upload),
            peak_rss_kib: scanner.peak_rss_kib()?,
        });
    }
    drop(scanner);
    Ok((rss_ready, rows))
}

fn markdown(rss_ready: u64, rows: &[Row]) -> Res<String> {
    let rate = |mib: u64, secs: f64| mib as f64 / secs.max(1e-9);
    let mut md = String::new();
    writeln!(
        md,
        "| Plaintext | `clamdscan --stream` (baseline) | Scanner: upload done → verdict | Scanner / baseline | of which wake-up | Customer upload (for scale) |"
    )?;
    writeln!(md, "|---:|---:|---:|---:|---:|---:|")?;
    for r in rows {
        writeln!(
            md,
            "| {} MiB | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2}x the time | {:.3} s | {:.2} s ({:.0} MiB/s) |",
            r.mib,
            r.clamdscan,
            rate(r.mib, r.clamdscan),
            r.to_verdict,
            rate(r.mib, r.to_verdict),
            r.to_verdict / r.clamdscan,
            r.wake,
            r.upload,
            rate(r.mib, r.upload),
        )?;
    }
    writeln!(md)?;
    writeln!(md, "| Scanner process peak RSS (`VmHWM`) | MiB |")?;
    writeln!(md, "|---|---:|")?;
    writeln!(
        md,
        "| ready (registered, synced, first pass done) | {:.1} |",
        rss_ready as f64 / 1024.0
    )?;
    for r in rows {
        writeln!(
            md,
            "| after scanning {} MiB files | {:.1} |",
            r.mib,
            r.peak_rss_kib as f64 / 1024.0
        )?;
    }
    Ok(md)
}

fn main() -> Res<()> {
    let mut sizes = vec![64, 256];
    let mut rounds = 3;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mib" => {
                sizes = args
                    .next()
                    .ok_or(USAGE)?
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => rounds = args.next().ok_or(USAGE)?.parse()?,
            "--markdown" => out = Some(args.next().ok_or(USAGE)?),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    if rounds == 0 {
        return Err(USAGE.into());
    }
    let clamd = std::env::var("SEALROOM_TEST_CLAMD")
        .map_err(|_| "SEALROOM_TEST_CLAMD is not set: source scripts/services/clamav.sh")?;
    let conf = std::env::var("SEALROOM_TEST_CLAMD_CONF")
        .map_err(|_| "SEALROOM_TEST_CLAMD_CONF is not set: source scripts/services/clamav.sh")?;
    let (rss_ready, rows) = run(&sizes, rounds, &clamd, &conf)?;
    let md = markdown(rss_ready, &rows)?;
    print!("{md}");
    if let Some(path) = out {
        std::fs::write(path, md)?;
    }
    Ok(())
}
