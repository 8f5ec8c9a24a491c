//! `sealroom-client-bench`: the SDK client's file benchmark of `docs/benchmarks.md`.
//!
//! It starts the real `sealroom-server` binary built next to it (same cargo profile) on a
//! temporary data directory, registers a staff and a customer device (`SealroomClient` with the
//! reqwest transport and an on-disk `FileKv` store, exactly as a Rust app would), and then, for
//! each size in `--mib` (ascending), uploads a generated file through the relay (sealing while
//! uploading, 4 MiB appends) and downloads it on the other device (opening and checking while
//! downloading). Next to it, in the same run, the baseline: generating and sealing, then
//! opening, the same bytes in memory with the format's push API (no network, no relay), so the
//! ratio shows what the network path costs (the upload also generates its bytes). The client's own peak RSS (`VmHWM` of this process; the relay is a
//! separate process) is read after each step, so growth with the file size is visible.
//!
//! Nothing is asserted except that the downloaded bytes hash like the uploaded ones. With
//! `--markdown FILE` it writes the result tables for `scripts/bench-client.sh`.

use std::error::Error;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use sealroom_core::client::{HttpTransport, NewFile, Role, SealroomClient};
use sealroom_core::format::{FileKey, Metadata, Opener, Sealer};
use sealroom_core::state::{FileKv, StorageKey};
use sealroom_tests::relay::Relay;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const MIB: u64 = 1024 * 1024;

const USAGE: &str = "\
sealroom-client-bench: 1 GiB through the SDK client and the relay, with peak client RSS

Usage: sealroom-client-bench [--mib LIST] [--markdown FILE]
  --mib LIST        file sizes in MiB, comma-separated, ascending (default 64,1024)
  --markdown FILE   also write the result tables as Markdown";

/// A deterministic pseudo-random byte stream (byte `i` depends only on the seed and `i`, so
/// any read sizes give the same bytes) that looks like a PDF to the type sniffer.
struct Gen {
    pos: u64,
    len: u64,
    seed: u64,
}

impl Gen {
    fn new(len: u64, seed: u64) -> Self {
        Self { pos: 0, len, seed }
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Read for Gen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const HEAD: &[u8] = b"%PDF-1.4\n";
        let n = buf
            .len()
            .min(usize::try_from(self.len - self.pos).unwrap_or(usize::MAX));
        let mut word = (u64::MAX, [0u8; 8]);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let p = self.pos + i as u64;
            if p < HEAD.len() as u64 {
                *b = HEAD[p as usize];
                continue;
            }
            if word.0 != p / 8 {
                word = (p / 8, splitmix(self.seed ^ (p / 8)).to_le_bytes());
            }
            *b = word.1[(p % 8) as usize];
        }
        self.pos += n as u64;
        Ok(n)
    }
}

struct HashSink(Sha256);

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn digest_of(len: u64, seed: u64) -> Res<Vec<u8>> {
    let mut sink = HashSink(Sha256::new());
    std::io::copy(&mut Gen::new(len, seed), &mut sink)?;
    Ok(sink.0.finalize().to_vec())
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB as f64 / secs.max(1e-9)
}

/// Seals then opens `len` bytes in memory with the push API: the crypto-only baseline.
fn baseline(len: u64) -> Res<(f64, f64)> {
    let key = FileKey::generate()?;
    let meta = Metadata {
        name: "baseline.pdf".into(),
        length: Some(len),
        ..Metadata::default()
    };
    let (mut sealer, header) = Sealer::new(&key, &meta)?;
    let mut source = Gen::new(len, 7);
    let mut buf = vec![0u8; MIB as usize];
    let mut sealed_chunk = Vec::with_capacity(2 * MIB as usize);
    let mut opener = Opener::new(&key);
    let mut plain = Vec::with_capacity(2 * MIB as usize);
    // Seal pass: keep nothing (sealed bytes are dropped), time it alone.
    let t = Instant::now();
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sealed_chunk.clear();
        sealer.push_into(&buf[..n], &mut sealed_chunk)?;
    }
    sealer.finish()?;
    let seal = t.elapsed().as_secs_f64();
    // Open pass over a regenerated sealed stream, sealing outside the timer.
    let (mut sealer, header2) = Sealer::new(&key, &meta)?;
    let mut source = Gen::new(len, 7);
    let mut open_time = 0.0;
    let t = Instant::now();
    opener.push_into(&header2, &mut plain)?;
    open_time += t.elapsed().as_secs_f64();
    drop(header);
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sealed_chunk.clear();
        sealer.push_into(&buf[..n], &mut sealed_chunk)?;
        let t = Instant::now();
        plain.clear();
        opener.push_into(&sealed_chunk, &mut plain)?;
        open_time += t.elapsed().as_secs_f64();
    }
    let last = sealer.finish()?;
    let t = Instant::now();
    plain.clear();
    opener.push_into(&last, &mut plain)?;
    opener.finish()?;
    open_time += t.elapsed().as_secs_f64();
    Ok((mib_s(len, seal), mib_s(len, open_time)))
}

struct Row {
    mib: u64,
    up: f64,
    down: f64,
    seal: f64,
    open: f64,
    hwm_after_up: u64,
    hwm_after_down: u64,
}

fn client(relay: &Relay, dir: &std::path::Path) -> Res<SealroomClient> {
    Ok(SealroomClient::open(
        &relay.base_url(),
        Arc::new(HttpTransport::new()?),
        Box::new(FileKv::open(dir)?),
        StorageKey::generate(),
    )?)
}

async fn run(sizes: &[u64]) -> Res<(u64, Vec<Row>)> {
    let relay = Relay::start_with(&[("SEALROOM_MAX_SPACE_BYTES", "68719476736")]);
    let dirs = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let admin = client(&relay, dirs.0.path())?;
    admin
        .bootstrap(&relay.setup_token(), "Provider", "Ada", None, "laptop")
        .await?;
    let org = admin.create_customer_org("Bench Ltd").await?;
    let staff = client(&relay, dirs.1.path())?;
    let invite = admin.invite(Role::Staff, None).await?;
    staff.register(&invite.token, "Sam", None, "laptop").await?;
    let space = staff.create_space(&org.org_id, false).await?;
    let customer = client(&relay, dirs.2.path())?;
    let invite = staff.invite(Role::Customer, Some(&space.space_id)).await?;
    let account = customer
        .register(&invite.token, "Cleo", None, "phone")
        .await?;
    staff.add_member(&space.space_id, &account.user_id).await?;
    customer.sync().await?;
    let hwm_setup = vm_hwm_kib();
    let mut rows = Vec::new();
    for &mib in sizes {
        let len = mib * MIB;
        let expected = digest_of(len, mib)?;
        let t = Instant::now();
        let file = staff
            .upload_file(
                &space.space_id,
                &NewFile {
                    name: format!("bench-{mib}.pdf"),
                    ..NewFile::default()
                },
                len,
                Gen::new(len, mib),
                |_, _| {},
            )
            .await?;
        let up = mib_s(len, t.elapsed().as_secs_f64());
        let hwm_after_up = vm_hwm_kib();
        customer.sync().await?;
        let mut sink = HashSink(Sha256::new());
        let t = Instant::now();
        customer
            .download_file(&space.space_id, &file.file_id, &mut sink, |_, _| {})
            .await?;
        let down = mib_s(len, t.elapsed().as_secs_f64());
        let hwm_after_down = vm_hwm_kib();
        if sink.0.finalize().to_vec() != expected {
            return Err("downloaded bytes differ from the uploaded ones".into());
        }
        let (seal, open) = baseline(len)?;
        eprintln!(
            "{mib} MiB: upload {up:.1} MiB/s, download {down:.1} MiB/s, seal {seal:.1}, open {open:.1}, hwm {hwm_after_up}/{hwm_after_down} KiB"
        );
        rows.push(Row {
            mib,
            up,
            down,
            seal,
            open,
            hwm_after_up,
            hwm_after_down,
        });
    }
    Ok((hwm_setup, rows))
}

fn main() -> Res<()> {
    let mut sizes = vec![64, 1024];
    let mut markdown = None;
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
            "--markdown" => markdown = Some(args.next().ok_or(USAGE)?),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (hwm_setup, rows) = rt.block_on(run(&sizes))?;
    let mut md = String::new();
    writeln!(
        md,
        "| File | Upload (client → relay) | Download (relay → client) | Generate + seal in memory (baseline) | Open in memory (baseline) | Upload / seal | Download / open |"
    )?;
    writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in &rows {
        writeln!(
            md,
            "| {} MiB | {:.1} MiB/s | {:.1} MiB/s | {:.1} MiB/s | {:.1} MiB/s | {:.2}x | {:.2}x |",
            r.mib,
            r.up,
            r.down,
            r.seal,
            r.open,
            r.up / r.seal,
            r.down / r.open
        )?;
    }
    writeln!(md)?;
    writeln!(md, "| Client process peak RSS (`VmHWM`) | MiB |")?;
    writeln!(md, "|---|---:|")?;
    writeln!(
        md,
        "| after setup (runtime, HTTP client, three registered devices) | {:.1} |",
        hwm_setup as f64 / 1024.0
    )?;
    for r in &rows {
        writeln!(
            md,
            "| after uploading {} MiB | {:.1} |",
            r.mib,
            r.hwm_after_up as f64 / 1024.0
        )?;
        writeln!(
            md,
            "| after downloading {} MiB | {:.1} |",
            r.mib,
            r.hwm_after_down as f64 / 1024.0
        )?;
    }
    print!("{md}");
    if let Some(path) = markdown {
        std::fs::write(path, md)?;
    }
    Ok(())
}
