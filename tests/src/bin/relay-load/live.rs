//! Scenario `live`: how long a post takes to reach the other devices as a live event.
//!
//! Every one of `--clients` devices (members of one MLS room) keeps a long poll open on
//! `GET /v1/events?after=<cursor>&wait=30`, on the instance `Deployment::addr_for` gives it
//! (round robin with `--instances`). A poster (the first device, on its own connection to
//! the first instance) posts `--live-posts` real MLS messages, one every `--live-gap-ms`.
//! The latency of one (post, device) pair runs from just before the post's request is written
//! to the moment that device's poll answer naming the post's seq was read; p50, p99 and max
//! over every pair, and the pairs not seen within 5 s of the last post.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use sealroom_tests::relay::Device;

use crate::*;

/// Posts to send, and the pause between them.
const POSTS: usize = 100;
const GAP: Duration = Duration::from_millis(200);

type Arrivals = Vec<(u64, Instant)>;

async fn poll(
    conn: &mut Conn,
    device: &Device,
    after: Option<u64>,
) -> Result<(u64, Vec<u64>), String> {
    let target = match after {
        Some(c) => format!("/v1/events?after={c}&wait=30"),
        None => "/v1/events".to_owned(),
    };
    let a = signed(conn, device, "GET", &target, &[], b"")
        .await
        .map_err(|e| e.to_string())?;
    if a.status != 200 {
        return Err(format!(
            "events: {} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        ));
    }
    let v: Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    let cursor = v["cursor"].as_u64().ok_or("no cursor")?;
    let seqs = v["events"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|e| e["kind"] == "message")
                .filter_map(|e| e["seq"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    Ok((cursor, seqs))
}

/// One waiting device: polls until `stop` and returns when it saw each message seq.
async fn waiter(
    addr: std::net::SocketAddr,
    device: Device,
    ready: Arc<tokio::sync::Barrier>,
    stop: Arc<AtomicBool>,
) -> (Arrivals, u64) {
    let mut conn = Conn::new(addr);
    let mut seen = Vec::with_capacity(POSTS);
    let mut errors = 0u64;
    let mut cursor = loop {
        match poll(&mut conn, &device, None).await {
            Ok((c, _)) => break c,
            Err(_) => {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    ready.wait().await;
    while !stop.load(Ordering::SeqCst) {
        match poll(&mut conn, &device, Some(cursor)).await {
            Ok((c, seqs)) => {
                let now = Instant::now();
                cursor = c;
                seen.extend(seqs.into_iter().map(|s| (s, now)));
            }
            Err(_) => {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    (seen, errors)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the scenario; returns one markdown table row.
pub(crate) async fn live_scenario(
    deploy: &Deployment,
    room_id: String,
    clients: &mut [LoadClient],
) -> Res<String> {
    let n = clients.len();
    let ready = Arc::new(tokio::sync::Barrier::new(n + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(n);
    for (i, c) in clients.iter().enumerate() {
        tasks.push(tokio::spawn(waiter(
            deploy.addr_for(i),
            c.device.clone(),
            ready.clone(),
            stop.clone(),
        )));
    }
    ready.wait().await;
    // Let every poll reach the relay and wait there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut conn = Conn::new(deploy.addr_for(0));
    let messages = format!("/v1/rooms/{room_id}/messages");
    let json_type = [("content-type", "application/json")];
    let poster = &mut clients[0];
    let mut post_failures = 0u64;
    for _ in 0..POSTS {
        let body = poster.post_body().to_vec();
        let at = Instant::now();
        match signed(
            &mut conn,
            &poster.device,
            "POST",
            &messages,
            &json_type,
            &body,
        )
        .await
        {
            Ok(a) if a.status == 201 || a.status == 200 => {
                let v: Value = serde_json::from_slice(&a.body)?;
                let seq = v["seq"].as_u64().ok_or("no seq")?;
                sent.lock().map_err(|_| "lock")?.insert(seq, at);
            }
            _ => post_failures += 1,
        }
        tokio::time::sleep(GAP).await;
    }
    // Late arrivals get 5 s; then every waiter stops at its next answer, which one more post
    // (not counted) brings at once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::SeqCst);
    let body = poster.post_body().to_vec();
    let _ = signed(
        &mut conn,
        &poster.device,
        "POST",
        &messages,
        &json_type,
        &body,
    )
    .await;
    let sent = sent.lock().map_err(|_| "lock")?.clone();
    let mut latencies_ms = Vec::with_capacity(n * POSTS);
    let mut poll_errors = 0;
    let mut missed = 0usize;
    for t in tasks {
        let (seen, errors) = t.await?;
        poll_errors += errors;
        let mut got: HashMap<u64, Instant> = HashMap::new();
        for (seq, at) in seen {
            got.entry(seq).or_insert(at);
        }
        for (seq, at) in &sent {
            match got.get(seq) {
                Some(arrived) => {
                    latencies_ms.push(arrived.saturating_duration_since(*at).as_secs_f64() * 1e3)
                }
                None => missed += 1,
            }
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies_ms, 0.50);
    let p99 = percentile(&latencies_ms, 0.99);
    let max = latencies_ms.last().copied().unwrap_or(f64::NAN);
    println!(
        "live: {} devices, {} instance(s): {} pairs, p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, {missed} missed, {post_failures} failed posts, {poll_errors} poll errors",
        n,
        deploy.relays.len(),
        latencies_ms.len()
    );
    let mut row = String::new();
    let _ = writeln!(
        row,
        "| Devices | Deployment | Instances | Posts | Pairs | p50 | p99 | max | Missed | Poll errors |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        row,
        "| {} | {} | {} | {} | {} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms | {missed} | {poll_errors} |",
        n,
        deploy.backend.label(),
        deploy.relays.len(),
        sent.len(),
        latencies_ms.len(),
    );
    Ok(row)
}
