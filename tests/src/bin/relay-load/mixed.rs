//! Scenario c: mixed workload (posts, SDK-style syncs and resumable uploads).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};

use sealroom_tests::relay::Device;

use crate::*;

/// One operation type of the mixed workload.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Op {
    Post,
    Sync,
    Upload,
    Delete,
}

impl Op {
    pub(crate) const ALL: [Op; 4] = [Op::Post, Op::Sync, Op::Upload, Op::Delete];

    pub(crate) fn label(self) -> &'static str {
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
pub(crate) struct MixedTally {
    pub(crate) latencies_us: BTreeMap<Op, Vec<u32>>,
    /// Failed operations per type (any non-2xx answer or transport error).
    pub(crate) failed: BTreeMap<Op, u64>,
    /// The first failures in full (status and body).
    pub(crate) failures: Vec<String>,
    pub(crate) http_requests: u64,
    /// Requests answered `409` (a lost race: the room's sequence counter, a quota or usage
    /// counter taken by another request) and sent again, as a client does.
    pub(crate) retried_409: u64,
    /// Requests answered `503` (the relay busy: its bound on blob appends in flight, a
    /// contended counter, slow object storage) and sent again after `Retry-After`.
    pub(crate) retried_503: u64,
    pub(crate) uploaded_bytes: u64,
    pub(crate) synced_messages: u64,
    /// Latencies recorded before the end of the warm-up are kept apart.
    pub(crate) warmup_ops: u64,
}

impl MixedTally {
    pub(crate) fn merge(&mut self, other: MixedTally) {
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
        self.retried_409 += other.retried_409;
        self.retried_503 += other.retried_503;
        self.uploaded_bytes += other.uploaded_bytes;
        self.synced_messages += other.synced_messages;
        self.warmup_ops += other.warmup_ops;
    }

    pub(crate) fn fail(&mut self, op: Op, what: String) {
        *self.failed.entry(op).or_default() += 1;
        if self.failures.len() < 50 {
            eprintln!("  mixed: {what}");
            self.failures.push(what);
        }
    }
}

/// An HTTP failure of one request, with its status and body (or the transport error).
pub(crate) fn failure(what: &str, answer: std::io::Result<&Answer>) -> String {
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
pub(crate) struct MixedClient {
    pub(crate) load: LoadClient,
    pub(crate) hs_after: u64,
}

/// Log-uniform file size between `min` and `max` bytes.
pub(crate) fn file_size(rng: &mut u64, min: usize, max: usize) -> usize {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let u = (*rng >> 11) as f64 / (1u64 << 53) as f64;
    let (lo, hi) = (min.max(1) as f64, max.max(min).max(1) as f64);
    ((lo.ln() + u * (hi.ln() - lo.ln())).exp() as usize).clamp(min.max(1), max.max(min).max(1))
}

/// One SDK-style sync of the client's room. Returns `Err(description)` on the first failure.
pub(crate) async fn mixed_sync(
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

/// Sends again after a `409 conflict` answer at most this many times.
pub(crate) const RETRIES_409: u32 = 8;

/// Waits before re-sending after a `409` (attempt 0, 1, ...): 2, 4, 8 ... ms up to 64 ms, plus
/// up to as much again at random, so that the racing clients spread out.
pub(crate) async fn backoff_409(rng: &mut u64, attempt: u32) {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let base = 2u64 << attempt.min(5);
    let ms = base + *rng % base;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Sends again after a `503 unavailable` answer at most this many times.
pub(crate) const RETRIES_503: u32 = 60;

/// Waits as a `503` answer's `Retry-After` asks (1 s when absent, at most 5 s), plus up to
/// 250 ms at random so that the refused clients do not come back together.
pub(crate) async fn backoff_503(rng: &mut u64, a: &Answer) {
    let secs = a
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(1)
        .min(5);
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let ms = secs * 1000 + *rng % 250;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// A signed request that is sent again (newly signed) when answered `409`: a lost race with
/// another request, which a client answers by trying again (the SDK re-syncs first where the
/// race was on the room's state; these requests do not depend on it). Only the last answer
/// counts; the re-sends are counted in `tally.retried_409`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn signed_retrying(
    conn: &mut Conn,
    device: &Device,
    rng: &mut u64,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    tally: &mut MixedTally,
) -> std::io::Result<Answer> {
    let mut attempt = 0;
    let mut busy = 0;
    loop {
        let a = signed(conn, device, method, target, extra, body).await;
        tally.http_requests += 1;
        match a {
            Ok(a) if a.status == 409 && attempt < RETRIES_409 => {
                tally.retried_409 += 1;
                backoff_409(rng, attempt).await;
                attempt += 1;
            }
            Ok(a) if a.status == 503 && busy < RETRIES_503 => {
                tally.retried_503 += 1;
                backoff_503(rng, &a).await;
                busy += 1;
            }
            other => return other,
        }
    }
}

pub(crate) fn clone_io(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

/// Uploads one file of `size` bytes (sliced from the shared random bytes) through the
/// resumable blob API. Returns the blob id.
pub(crate) async fn mixed_upload(
    conn: &mut Conn,
    device: &Device,
    room_id: &str,
    data: &Arc<Vec<u8>>,
    size: usize,
    start: usize,
    tally: &mut MixedTally,
) -> Result<String, String> {
    let create = format!("{{\"length\":{size}}}");
    let mut rng = (size as u64) | 1;
    let a = signed_retrying(
        conn,
        device,
        &mut rng,
        "POST",
        &format!("/v1/rooms/{room_id}/blobs"),
        &[("content-type", "application/json")],
        create.as_bytes(),
        tally,
    )
    .await;
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
    let mut attempt = 0;
    let mut busy = 0;
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
            Ok(a) if a.status == 204 => {
                attempt = 0;
                busy = 0;
            }
            // The relay is busy (appends in flight at its bound, slow object storage):
            // nothing was stored, send the same append again when it says.
            Ok(a) if a.status == 503 && busy < RETRIES_503 => {
                tally.retried_503 += 1;
                backoff_503(&mut rng, a).await;
                busy += 1;
                continue;
            }
            // A lost race on the upload's record: the offset did not move, send it again.
            Ok(a) if a.status == 409 && attempt < RETRIES_409 && !offset_moved(a, offset) => {
                tally.retried_409 += 1;
                backoff_409(&mut rng, attempt).await;
                attempt += 1;
                continue;
            }
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

/// Whether a `409` to an append says the upload is at another offset than `offset` (then
/// sending the same append again cannot succeed).
fn offset_moved(a: &Answer, offset: usize) -> bool {
    a.headers
        .iter()
        .find(|(k, _)| k == "upload-offset")
        .is_some_and(|(_, v)| v.parse::<usize>().ok() != Some(offset))
}

/// Mixed-workload parameters shared by the clients.
pub(crate) struct MixedPlan {
    pub(crate) room_id: String,
    pub(crate) data: Arc<Vec<u8>>,
    pub(crate) percent: [u32; 3],
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    pub(crate) warmup_end: Instant,
    pub(crate) deadline: Instant,
}

pub(crate) async fn mixed_loop(
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

/// The highest message sequence number of the room (exponential then binary search with
/// `limit=1` pages), so the mixed clients' syncs start where the room is now.
pub(crate) async fn latest_seq(addr: SocketAddr, device: &Device, room_id: &str) -> Res<u64> {
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
pub(crate) async fn has_after(
    conn: &mut Conn,
    device: &Device,
    room_id: &str,
    after: u64,
) -> Res<bool> {
    let target = format!("/v1/rooms/{room_id}/messages?after={after}&limit=1");
    let a = signed(conn, device, "GET", &target, &[], b"").await?;
    if a.status != 200 {
        return Err(format!("probe: {} {}", a.status, String::from_utf8_lossy(&a.body)).into());
    }
    let v: Value = serde_json::from_slice(&a.body)?;
    Ok(v["entries"].as_array().is_some_and(|e| !e.is_empty()))
}

pub(crate) async fn mixed_scenario(
    deploy: &Deployment,
    room_id: String,
    clients: Vec<LoadClient>,
    opts: &Options,
    healthz_rate: Option<f64>,
) -> Res<(String, Vec<LoadClient>)> {
    let relay = deploy.first()?;
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
        .map(|(i, mut load)| {
            load.cursor = latest;
            tokio::spawn(mixed_loop(
                deploy.addr_for(i),
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
        "Mixed workload on the {} deployment: {n} simulated devices{} (each its own registered device with real \
         Ed25519 request signatures, all members of the MLS room above, members' notifications \
         `{}`), closed loop for {} s, each picking its next operation at random: {}% posts, \
         {}% syncs, {}% file uploads (log-uniform {} KiB–{} MiB, each deleted again after its \
         upload). Figures after a {} s warm-up ({:.0} s measured, {} operations during the \
         warm-up not counted); load average at the end: {}:\n",
        deploy.describe(),
        if deploy.relays.len() > 1 {
            " spread over the instances round robin"
        } else {
            ""
        },
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
        "mixed: {} requests ({req_rate:.0} req/s), RSS start {:.1} warm {:.1} end {:.1} max {:.1} \
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
        // the warm-up, % first -> last minute.
        let line = format!(
            "{}\t{}\t{n}\t{}\t{}\t{}\t{req_rate:.0}\t{total_failed}\t{relay_cpu:.1}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:+.1}\t{slope:+.1}\t{:.1}\t{:.1}\t{:.1}\t{}\t{}\t{:.1}\t{:.1}\t{:+.1}\n",
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
            pct_change(rss_first_min, rss_last_min)
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        std::io::Write::write_all(&mut f, line.as_bytes())?;
    }
    Ok((md, back))
}

/// Change from `from` to `to` in percent (0 when `from` is 0).
fn pct_change(from: u64, to: u64) -> f64 {
    if from == 0 {
        0.0
    } else {
        (to as f64 - from as f64) / from as f64 * 100.0
    }
}
