//! The mixed workload's closed loop and its report, for the one-room scenario (`mixed`) and
//! the portal-shaped one (`portal`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::*;

/// Mixed-workload parameters shared by the clients.
pub(crate) struct MixedPlan {
    pub(crate) data: Arc<Vec<u8>>,
    pub(crate) percent: [u32; 3],
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    pub(crate) warmup_end: Instant,
    pub(crate) deadline: Instant,
    /// Mean interval between a device's operation starts; zero for the closed loop.
    pub(crate) interval: Duration,
}

/// An exponentially distributed wait with mean `mean` (the gaps of a Poisson process).
fn exponential(r: &mut u64, mean: Duration) -> Duration {
    // Uniform in (0, 1]: never ln(0).
    let u = ((next_random(r) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    mean.mul_f64(-u.ln()).min(mean * 20)
}

pub(crate) async fn mixed_loop(
    addr: SocketAddr,
    mut c: MixedClient,
    plan: Arc<MixedPlan>,
) -> (MixedClient, MixedTally) {
    let mut conn = Conn::new(addr);
    let mut tally = MixedTally::default();
    let messages = format!("/v1/rooms/{}/messages", c.room_id);
    let json_type = [("content-type", "application/json")];
    let [post, sync, _upload] = plan.percent;
    let paced = !plan.interval.is_zero();
    // Paced: the next scheduled start (a random phase first, so devices do not start together).
    let mut next_at = Instant::now() + exponential(&mut c.load.rng, plan.interval);
    loop {
        // Closed loop: now. Paced: the scheduled start, even when the last operation overran it
        // (then at once, and the latency includes the lag).
        let started = if paced {
            // A device behind schedule stops at the deadline too: its backlog is not drained
            // after the run (the lag is already in the latencies measured so far).
            if next_at >= plan.deadline || Instant::now() >= plan.deadline {
                break;
            }
            tokio::time::sleep_until(next_at.into()).await;
            let at = next_at;
            next_at += exponential(&mut c.load.rng, plan.interval);
            at
        } else {
            let now = Instant::now();
            if now >= plan.deadline {
                break;
            }
            now
        };
        let roll = (next_random(&mut c.load.rng) % 100) as u32;
        let op = if roll < post {
            Op::Post
        } else if roll < post + sync {
            Op::Sync
        } else {
            Op::Upload
        };
        let result: Result<Option<String>, String> = match op {
            Op::Post => {
                let body = c.load.post_body().to_vec();
                let a = signed_retrying(
                    &mut conn,
                    &c.load.device,
                    &mut c.load.rng,
                    "POST",
                    &messages,
                    &json_type,
                    &body,
                    &mut tally,
                )
                .await;
                match &a {
                    Ok(a) if (200..300).contains(&a.status) => Ok(None),
                    _ => Err(failure("POST /messages", a.as_ref().map_err(clone_io))),
                }
            }
            Op::Sync => mixed_sync(&mut conn, &mut c, &mut tally)
                .await
                .map(|()| None),
            Op::Upload | Op::Delete => {
                let size = file_size(&mut c.load.rng, plan.min_size, plan.max_size);
                let start = (c.load.rng as usize) % (plan.data.len() - size + 1);
                mixed_upload(
                    &mut conn,
                    &c.load.device,
                    &c.room_id,
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
                    let target = format!("/v1/rooms/{}/blobs/{blob_id}", c.room_id);
                    let a = signed_retrying(
                        &mut conn,
                        &c.load.device,
                        &mut c.load.rng,
                        "DELETE",
                        &target,
                        &[],
                        b"",
                        &mut tally,
                    )
                    .await;
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

/// What a mixed run is of: its name (the prefix of its console lines, the last but one column
/// of `--summary`), the title of its report, who its devices are, and how long their set-up
/// took.
pub(crate) struct Workload {
    pub(crate) name: &'static str,
    pub(crate) title: &'static str,
    /// Inserted after "each its own registered device with real Ed25519 request signatures, ".
    pub(crate) devices: String,
    pub(crate) setup_secs: f64,
}

/// Runs `clients` in the closed loop of the mixed workload for `--mixed-duration` seconds and
/// reports per operation type (markdown, console, `--summary` line). Returns the report and the
/// clients.
pub(crate) async fn run_mixed(
    deploy: &Deployment,
    clients: Vec<MixedClient>,
    opts: &Options,
    healthz_rate: Option<f64>,
    work: &Workload,
) -> Res<(String, Vec<MixedClient>)> {
    let name = work.name;
    // Shared random bytes the files are sliced from (pseudo-random, so nothing compresses).
    let mut stream = Stream::new(opts.mixed_max_kib * 1024 * 2);
    let data = Arc::new(std::mem::take(&mut stream.buf));
    let n = clients.len();
    let duration = opts.mixed_duration;
    let warmup = opts.mixed_warmup.min(duration / 2);
    println!(
        "{name}: {n} clients for {} s (warm-up {} s), post/sync/upload {:?} %, files {}–{} KiB, \
         notifications `{}`",
        duration.as_secs(),
        warmup.as_secs(),
        opts.mixed_percent,
        opts.mixed_min_kib,
        opts.mixed_max_kib,
        opts.mixed_notify
    );
    let start = Instant::now();
    let plan = Arc::new(MixedPlan {
        data,
        percent: opts.mixed_percent,
        min_size: opts.mixed_min_kib * 1024,
        max_size: opts.mixed_max_kib * 1024,
        warmup_end: start + warmup,
        deadline: start + duration,
        interval: opts.mixed_interval,
    });
    let cpu = CpuMeter::start_all(&deploy.pids);
    let probe = deploy.store_probe();
    let sampler = tokio::spawn(sample_rss(
        deploy.pids.clone(),
        probe.clone(),
        start,
        start + warmup,
        start + duration,
    ));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(mixed_loop(deploy.addr_for(i), c, Arc::clone(&plan))))
        .collect();
    let mut back = Vec::with_capacity(n);
    let mut tally = MixedTally::default();
    for t in tasks {
        let (c, t) = t.await?;
        back.push(c);
        tally.merge(t);
    }
    let wall = start.elapsed().as_secs_f64();
    let (relay_cpu, me_cpu, _) = cpu.read();
    let RssTrace { samples, store } = sampler.await?;
    let [disk_start, disk_warm, disk_end] = store;
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
    // The first and the last minute after the warm-up, each as its mean (a single sample is
    // noise: see rss_mean).
    let window = 60f64.min(measured / 2.0);
    let rss_first_min = rss_mean(
        &samples,
        warmup.as_secs_f64(),
        warmup.as_secs_f64() + window,
    );
    let rss_last_min = rss_mean(&samples, wall - window, f64::INFINITY);
    let total_failed: u64 = tally.failed.values().sum();

    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} on the {} deployment: {n} simulated devices{} (each its own registered device with real \
         Ed25519 request signatures, {}, members' notifications `{}`; their set-up took {:.1} s), \
         {} for {} s, each picking its next operation at random: {}% posts, \
         {}% syncs, {}% file uploads (log-uniform {} KiB–{} MiB, each deleted again after its \
         upload). Figures after a {} s warm-up ({:.0} s measured, {} operations during the \
         warm-up not counted); load average at the end: {}:\n",
        work.title,
        deploy.describe(),
        if deploy.relays.len() > 1 {
            " spread over the instances round robin"
        } else {
            ""
        },
        work.devices,
        opts.mixed_notify,
        work.setup_secs,
        pacing(opts.mixed_interval, n),
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
    println!("{name}: results after warm-up ({measured:.0} s):");
    let mut op_ms = Vec::new();
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
        op_ms.push(format!("{:.1}\t{:.1}", pct(50.0), pct(99.0)));
    }
    let req_rate = tally.http_requests as f64 / wall;
    let _ = writeln!(
        md,
        "\nAll operations: {} HTTP requests in {:.0} s = {:.0} req/s{}; {:.1} MB/s of file bytes \
         uploaded ({:.0} MiB); {} messages fetched by syncs; {} failed operations{}; {} requests \
         answered `409` (a lost race) and {} answered `503` (the relay busy) sent again, as a \
         client does. Relay CPU {:.1} s, load \
         generator CPU {:.1} s.\n",
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
        tally.retried_409,
        tally.retried_503,
        relay_cpu,
        me_cpu
    );
    let _ = writeln!(
        md,
        "Relay RSS{}, sampled every second ({} samples): start {:.1} MiB, after the warm-up \
         {:.1} MiB, end {:.1} MiB, max {:.1} MiB; slope after the warm-up (least squares) \
         **{:+.1} MiB/min** ({:+.1} % from the end of the warm-up to the end; mean of the \
         first minute after the warm-up {:.1} MiB, of the last minute {:.1} MiB: **{:+.1} %**). \
         Trace (every 10 s, MiB): {}. The {} grew from {:.1} MiB (start) to {:.1} MiB (end of the warm-up) \
         and {:.1} MiB (end).\n",
        if deploy.relays.len() > 1 {
            " (sum of the instances)"
        } else {
            ""
        },
        samples.len(),
        mib(rss_start),
        mib(rss_warm),
        mib(rss_end),
        mib(rss_max),
        slope,
        pct_change(rss_warm, rss_end),
        mib(rss_first_min),
        mib(rss_last_min),
        pct_change(rss_first_min, rss_last_min),
        samples
            .iter()
            .step_by(10)
            .map(|s| format!("{:.0}", mib(s.1)))
            .collect::<Vec<_>>()
            .join(", "),
        probe.what(),
        disk_start as f64 / MIB as f64,
        disk_warm as f64 / MIB as f64,
        disk_end as f64 / MIB as f64
    );
    println!(
        "{name}: {} requests ({req_rate:.0} req/s), RSS start {:.1} warm {:.1} end {:.1} max {:.1} \
         MiB, slope {slope:+.1} MiB/min, failed {total_failed}, 409s retried {}, 503s retried {}",
        tally.http_requests,
        mib(rss_start),
        mib(rss_warm),
        mib(rss_end),
        mib(rss_max),
        tally.retried_409,
        tally.retried_503
    );
    if let Some(path) = &opts.summary {
        // Columns (see scripts/bench.sh): backend, instances, devices, seconds, warm-up s,
        // requests, req/s, failed, relay CPU s, p50 and p99 (ms) of post, sync, upload and
        // delete, RSS MiB at start, warm-up end, end and max, % warm->end, slope MiB/min, store
        // MiB at start, warm-up end and end, requests answered 409 and sent again, requests
        // answered 503 and sent again, mean RSS MiB of the first and of the last minute after
        // the warm-up, % first -> last minute, workload (mixed, portal), set-up seconds,
        // load generator CPU s, mean interval between a device's operations in ms (0: closed
        // loop).
        let line = format!(
            "{}\t{}\t{n}\t{}\t{}\t{}\t{req_rate:.0}\t{total_failed}\t{relay_cpu:.1}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:+.1}\t{slope:+.1}\t{:.1}\t{:.1}\t{:.1}\t{}\t{}\t{:.1}\t{:.1}\t{:+.1}\t{name}\t{:.1}\t{me_cpu:.1}\t{}\n",
            deploy.backend.label(),
            deploy.relays.len(),
            duration.as_secs(),
            warmup.as_secs(),
            tally.http_requests,
            op_ms.join("\t"),
            mib(rss_start),
            mib(rss_warm),
            mib(rss_end),
            mib(rss_max),
            pct_change(rss_warm, rss_end),
            disk_start as f64 / MIB as f64,
            disk_warm as f64 / MIB as f64,
            disk_end as f64 / MIB as f64,
            tally.retried_409,
            tally.retried_503,
            mib(rss_first_min),
            mib(rss_last_min),
            pct_change(rss_first_min, rss_last_min),
            work.setup_secs,
            opts.mixed_interval.as_millis()
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        std::io::Write::write_all(&mut f, line.as_bytes())?;
    }
    Ok((md, back))
}

/// How the devices issue operations, for the report.
fn pacing(interval: Duration, devices: usize) -> String {
    if interval.is_zero() {
        "closed loop (each device starts its next operation as soon as the last one is answered)"
            .to_owned()
    } else {
        format!(
            "paced (each device starts operations at Poisson-random times, {} ms apart on \
             average: {:.0} operations/s offered; a latency counts from the scheduled start, so \
             time spent behind schedule is included)",
            interval.as_millis(),
            devices as f64 / interval.as_secs_f64()
        )
    }
}

/// Change from `from` to `to` in percent (0 when `from` is 0).
fn pct_change(from: u64, to: u64) -> f64 {
    if from == 0 {
        0.0
    } else {
        (to as f64 - from as f64) / from as f64 * 100.0
    }
}
