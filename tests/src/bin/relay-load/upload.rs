//! Scenario a: upload throughput.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use sealroom_tests::relay::{Device, Relay};

use crate::*;

/// The bytes of the stream: a pseudo-random buffer of the largest chunk size whose first
/// 8 bytes carry the chunk's index, so no two appends of a stream have the same body (a
/// signature over an identical body in the same second would be a replay).
pub(crate) struct Stream {
    pub(crate) buf: Vec<u8>,
}

impl Stream {
    pub(crate) fn new(max_chunk: usize) -> Self {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut buf = vec![0u8; max_chunk];
        for word in buf.chunks_mut(8) {
            let b = next_random(&mut state).to_le_bytes();
            word.copy_from_slice(&b[..word.len()]);
        }
        Self { buf }
    }

    /// Chunk `index` of `len` bytes.
    pub(crate) fn chunk(&mut self, index: u64, len: usize) -> &[u8] {
        self.buf[..8].copy_from_slice(&index.to_be_bytes());
        &self.buf[..len]
    }
}

/// Chunk lengths of a `total`-byte stream in `chunk`-byte appends.
pub(crate) fn chunk_lengths(total: usize, chunk: usize) -> impl Iterator<Item = usize> {
    (0..total.div_ceil(chunk)).map(move |i| chunk.min(total - i * chunk))
}

pub(crate) struct UploadRow {
    pub(crate) chunk_mib: usize,
    pub(crate) relay_mbs: f64,
    pub(crate) loopback_mbs: f64,
    pub(crate) disk_mbs: f64,
    pub(crate) sha_mbs: f64,
    pub(crate) relay_cpu: f64,
    pub(crate) me_cpu: f64,
    pub(crate) wall: f64,
    pub(crate) errors: String,
    pub(crate) rss_after: u64,
}

pub(crate) async fn upload_scenario(
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
        let key = format!("upload.{chunk_mib}MiB");
        let figures: Vec<(String, String)> = [
            ("relay_mbs", format!("{:.0}", row.relay_mbs)),
            ("loopback_mbs", format!("{:.0}", row.loopback_mbs)),
            ("disk_mbs", format!("{:.0}", row.disk_mbs)),
            ("sha_mbs", format!("{:.0}", row.sha_mbs)),
            ("relay_cpu_s", format!("{:.1}", row.relay_cpu)),
            ("errors", row.errors.clone()),
        ]
        .into_iter()
        .map(|(name, value)| (format!("{key}.{name}"), value))
        .collect();
        write_figures(opts.figures.as_deref(), &figures)?;
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

pub(crate) fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

/// Registers a staff member with a room of their own (blobs belong to a room).
pub(crate) fn uploader_room(relay: &Relay, admin: &Device) -> Res<(Device, String)> {
    let org = relay.create_customer_org(admin, "Upload Ltd");
    let staff = relay.add_staff(admin, "Uploader");
    let space = relay.create_space(&staff, &org);
    let mls = MlsDevice::new(&staff)?;
    let (_group, room) = mls.create_room(&relay.client(&staff), &space)?;
    Ok((staff, room))
}

/// Uploads `total` bytes as one blob; returns the seconds from the first append until the last
/// was acknowledged, and a description of errors ("0" when none).
pub(crate) async fn relay_upload(
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
pub(crate) struct Prepared {
    pub(crate) buf: Vec<u8>,
    pub(crate) headers: Vec<(String, String)>,
}

pub(crate) fn prepare_append(
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
pub(crate) async fn loopback_transfer(stream: &mut Stream, total: usize, chunk: usize) -> Res<f64> {
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
pub(crate) fn disk_write(dir: &Path, stream: &mut Stream, total: usize, chunk: usize) -> Res<f64> {
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
pub(crate) fn sha_rate(stream: &mut Stream, total: usize, chunk: usize) -> f64 {
    let start = Instant::now();
    let mut acc = 0u8;
    for (index, len) in chunk_lengths(total, chunk).enumerate() {
        acc ^= Sha256::digest(stream.chunk(index as u64, len))[0];
    }
    std::hint::black_box(acc);
    start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
