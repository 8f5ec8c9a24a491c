//! Scenario c: mixed workload (posts, SDK-style syncs and resumable uploads): the operations and
//! their tally. The closed loop and its report are in `mixed_run.rs`, the portal-shaped set-up
//! (many small rooms) in `portal.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// Per-client state of the mixed workload: the load client, the room it posts, syncs and
/// uploads in, and its handshake cursor.
pub(crate) struct MixedClient {
    pub(crate) load: LoadClient,
    pub(crate) room_id: Arc<str>,
    pub(crate) hs_after: u64,
}

/// Log-uniform file size between `min` and `max` bytes.
pub(crate) fn file_size(rng: &mut u64, min: usize, max: usize) -> usize {
    let u = (next_random(rng) >> 11) as f64 / (1u64 << 53) as f64;
    let (lo, hi) = (min.max(1) as f64, max.max(min).max(1) as f64);
    ((lo.ln() + u * (hi.ln() - lo.ln())).exp() as usize).clamp(min.max(1), max.max(min).max(1))
}

/// One SDK-style sync of the client's room. Returns `Err(description)` on the first failure.
pub(crate) async fn mixed_sync(
    conn: &mut Conn,
    c: &mut MixedClient,
    tally: &mut MixedTally,
) -> Result<(), String> {
    let room_id = Arc::clone(&c.room_id);
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
    let base = 2u64 << attempt.min(5);
    let ms = base + next_random(rng) % base;
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
    let ms = secs * 1000 + next_random(rng) % 250;
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
    let mut checksum: Option<(usize, String)> = None;
    while offset < size {
        let len = (size - offset).min(4 * MIB);
        let (device2, path2, data2) = (device.clone(), path.clone(), Arc::clone(data));
        let from = start + offset;
        // The chunk's checksum is computed once; an append sent again (after a 503 or 409) is
        // only signed again (a fresh nonce and timestamp).
        let known = checksum
            .take()
            .filter(|(at, _)| *at == offset)
            .map(|(_, c)| c);
        // Hash and sign off the async workers (as the SDK does in its own task).
        let (headers, sum) = tokio::task::spawn_blocking(move || {
            let body = &data2[from..from + len];
            let sum = known.unwrap_or_else(|| format!("sha256 {}", b64(&Sha256::digest(body))));
            let mut h = vec![
                (
                    "content-type".to_owned(),
                    "application/offset+octet-stream".to_owned(),
                ),
                ("upload-offset".to_owned(), offset.to_string()),
                ("upload-checksum".to_owned(), sum.clone()),
            ];
            let auth = sign(&device2, "PATCH", &path2, "", &h, body);
            h.extend(auth);
            (h, sum)
        })
        .await
        .map_err(|e| format!("sign task: {e}"))?;
        checksum = Some((offset, sum));
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

/// The one-room mixed workload: every client a member of `room_id`, their syncs starting where
/// the room is now.
pub(crate) async fn mixed_scenario(
    deploy: &Deployment,
    room_id: String,
    clients: Vec<LoadClient>,
    opts: &Options,
    healthz_rate: Option<f64>,
    setup_secs: f64,
) -> Res<(String, Vec<LoadClient>)> {
    let relay = deploy.first()?;
    set_notify(relay.addr(), &clients, &opts.mixed_notify).await?;
    let first = clients.first().ok_or("no clients")?.device.clone();
    let latest = latest_seq(relay.addr(), &first, &room_id).await?;
    println!("mixed: syncs start after seq {latest}");
    let room: Arc<str> = Arc::from(room_id.as_str());
    let clients = clients
        .into_iter()
        .map(|mut load| {
            load.cursor = latest;
            MixedClient {
                load,
                room_id: Arc::clone(&room),
                hs_after: 0,
            }
        })
        .collect();
    let work = Workload {
        name: "mixed",
        title: "Mixed workload",
        devices: "all members of the MLS room above".to_owned(),
        setup_secs,
    };
    let (md, back) = run_mixed(deploy, clients, opts, healthz_rate, &work).await?;
    Ok((md, back.into_iter().map(|c| c.load).collect()))
}
