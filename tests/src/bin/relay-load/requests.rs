//! Scenario b: small signed requests under load.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use sealroom_tests::relay::Relay;

use crate::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Signed,
    Healthz,
}

pub(crate) async fn client_loop(
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
pub(crate) async fn run_load(
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

pub(crate) struct LoadRow {
    pub(crate) label: String,
    pub(crate) requests: u64,
    pub(crate) rate: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    pub(crate) max: f64,
    pub(crate) errors: String,
    pub(crate) relay_cpu: f64,
    pub(crate) me_cpu: f64,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
}

pub(crate) fn summarize(
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

pub(crate) fn describe_errors(by_status: &BTreeMap<u16, u64>, io: u64) -> String {
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

pub(crate) async fn requests_scenario(
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
    let mut figures = Vec::new();
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
        let key = notify.map_or("requests.healthz".to_owned(), |m| {
            format!("requests.signed.{m}")
        });
        for (name, value) in [
            ("count", row.requests.to_string()),
            ("rate", format!("{:.0}", row.rate)),
            ("p50_ms", format!("{:.2}", row.p50)),
            ("p99_ms", format!("{:.2}", row.p99)),
            ("max_ms", format!("{:.1}", row.max)),
            ("errors", row.errors.clone()),
            ("relay_cpu_s", format!("{:.1}", row.relay_cpu)),
        ] {
            figures.push((format!("{key}.{name}"), value));
        }
        rows.push(row);
    }
    let ceiling = signature_ceiling(Duration::from_secs(3));
    println!(
        "requests: Ed25519 ceiling: {:.0} sign+verify pairs/s on {} threads",
        ceiling.0, ceiling.1
    );
    figures.push((
        "requests.ed25519_ceiling.rate".to_owned(),
        format!("{:.0}", ceiling.0),
    ));
    write_figures(opts.figures.as_deref(), &figures)?;
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
    let _ = writeln!(
        md,
        "\nCeiling of any signed request on this machine, measured right after the rows: the \
         client's signature and the relay's strict verification of the same request (SHA-256 of \
         a {CEILING_BODY}-byte body, the signing string, Ed25519 sign + `verify_strict`), nothing \
         else, on {} threads: **{:.0} requests/s**. A signed request can go no faster while the \
         client signing it shares the cores with the relay.",
        ceiling.1, ceiling.0
    );
    md.push('\n');
    let healthz = rows.first().map(|r| r.rate);
    Ok((md, clients, healthz))
}

// ---------------------------------------------------------------------------------------------

/// Body size of the signature ceiling's requests (about a posted MLS message in JSON).
const CEILING_BODY: usize = 512;

/// Requests per second that the two signature steps of a signed request alone allow on every
/// core of this machine: per request the client's signing (body digest, signing string,
/// Ed25519 sign) and the relay's check (the same digest and string, strict verification).
/// Returns the rate and the thread count.
pub(crate) fn signature_ceiling(run: Duration) -> (f64, usize) {
    use ed25519_dalek::{Signer as _, SigningKey};
    use sealroom_wire::auth::{
        body_digest_hex, decode_signature, sign_request_with_digest, verify_request_with_digest,
        RequestParts,
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let key = SigningKey::from_bytes(&[t as u8 + 1; 32]);
                let public = key.verifying_key().to_bytes();
                let body = vec![0x5a_u8; CEILING_BODY];
                let mut done = 0u64;
                while started.elapsed() < run {
                    let nonce = format!("{:032x}", done);
                    let parts = RequestParts {
                        method: "POST",
                        authority: "127.0.0.1:8080",
                        path: "/v1/rooms/0123456789abcdef/messages",
                        query: "",
                        headers: &[("content-type", "application/json")],
                        timestamp: 1_800_000_000,
                        nonce: &nonce,
                        body: &body,
                    };
                    let signed =
                        sign_request_with_digest("device", &parts, &body_digest_hex(&body), |m| {
                            key.sign(m).to_bytes()
                        });
                    let ok = decode_signature(&signed.signature).is_ok_and(|signature| {
                        verify_request_with_digest(
                            &public,
                            &parts,
                            &body_digest_hex(&body),
                            &signature,
                        )
                        .is_ok()
                    });
                    assert!(ok, "the ceiling's own signature does not verify");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    (total as f64 / started.elapsed().as_secs_f64(), threads)
}
