//! Measures what format version 2 costs, next to version 1 in the same run, and writes the
//! result into `docs/benchmarks.md` (block `format-v2-bench`, via `scripts/replace-section.py`
//! when run by `scripts/bench.sh`, or printed for manual runs):
//!
//! - padding overhead (bytes and %) of Padmé for a spread of sizes from 1 B to 1 GiB (the
//!   formula; sealed sizes measured for every size up to 64 MiB);
//! - seal and open throughput, v2 vs v1, whole buffer on one thread, and the v2 streaming API.
//!
//! Run: `cargo run --release -p sealroom-core --example bench_format_v2 [OUT_FILE]`.
//! Measures only; asserts nothing beyond the sealed size matching the formula.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::time::Instant;

use sealroom_core::format::{
    open, padded_len, payload_len, seal_parallel_with_salt, seal_v1_with_salt, FileKey, Metadata,
    Opener, Sealer,
};

fn data(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn meta(len: usize) -> Metadata {
    Metadata {
        name: "bench.bin".into(),
        length: Some(len as u64),
        ..Metadata::default()
    }
}

/// Best of `runs` timings of `f`, in MiB/s for `bytes`.
fn mib_s(bytes: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    bytes as f64 / (1024.0 * 1024.0) / best
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

fn main() {
    let key = FileKey::from_bytes([7; 32]);
    let salt = [9u8; 32];
    let mut out = String::new();
    writeln!(out, "<!-- format-v2-bench:begin (written by core/examples/bench_format_v2.rs; rerun it to replace) -->").unwrap();
    writeln!(
        out,
        "### Format version 2: padding overhead and cost (baseline: version 1, same run)\n"
    )
    .unwrap();
    writeln!(out, "Padding of the payload (Padmé of max(L, 256)); v1 payload = L + 16 per chunk, v2 payload = P + 16 per chunk + 24 (end chunk). Header: v1 571 bytes, v2 603 bytes (512-byte metadata bucket). \"Measured\" rows were sealed in this run and their size compared with the formula; the others are the formula.\n").unwrap();
    writeln!(out, "| Plaintext L | Padded P | Padding P − L | Padding % | Sealed v1 | Sealed v2 | v2 over v1 | Source |").unwrap();
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---|").unwrap();
    let sizes: Vec<u64> = vec![
        1,
        100,
        255,
        256,
        257,
        1000,
        4096,
        10_000,
        65_535,
        65_536,
        65_537,
        100_000,
        1 << 20,
        (1 << 20) + 1,
        3_000_000,
        10 << 20,
        (10 << 20) + 1,
        64 << 20,
        (64 << 20) + 1,
        100_000_000,
        1 << 30,
        (1 << 30) + 1,
    ];
    for &len in &sizes {
        let p = padded_len(len).unwrap();
        let chunks_v1 = len.div_ceil(65536).max(1);
        let v1 = 571 + len + 16 * chunks_v1;
        let v2 = 603 + payload_len(len);
        let measured = len <= (64 << 20) + 1;
        if measured {
            let plain = data(len as usize);
            let sealed =
                seal_parallel_with_salt(&key, &meta(len as usize), &plain, 2, &salt).unwrap();
            assert_eq!(sealed.len() as u64, v2, "{len}");
            let sealed1 = seal_v1_with_salt(&key, &meta(len as usize), &plain, &salt).unwrap();
            assert_eq!(sealed1.len() as u64, v1, "{len}");
        }
        writeln!(
            out,
            "| {} | {} | {} | {:.2} % | {} | {} | +{:.2} % | {} |",
            human(len),
            p,
            p - len,
            (p - len) as f64 * 100.0 / len as f64,
            v1,
            v2,
            (v2 - v1) as f64 * 100.0 / v1 as f64,
            if measured { "measured" } else { "formula" }
        )
        .unwrap();
    }
    // Worst case over all lengths ≥ 256 (by the formula): just above a power of two.
    let worst = (8..40)
        .map(|e| {
            let len = (1u64 << e) + 1;
            (
                (padded_len(len).unwrap() - len) as f64 * 100.0 / len as f64,
                len,
            )
        })
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    writeln!(out, "\nWorst padding above the 256-byte floor (lengths 2^E + 1, E = 8..39): {:.2} % at {} bytes.\n", worst.0, worst.1).unwrap();

    writeln!(out, "| Operation (one thread, whole buffer unless noted) | Size | v1 MiB/s | v2 MiB/s | v2 / v1 |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|").unwrap();
    for len in [4096usize, 1 << 20, (64 << 20) + 1] {
        let plain = data(len);
        let m = meta(len);
        let runs = if len > 1 << 20 { 3 } else { 50 };
        let s1 = mib_s(len, runs, || {
            std::hint::black_box(seal_v1_with_salt(&key, &m, &plain, &salt).unwrap());
        });
        let s2 = mib_s(len, runs, || {
            std::hint::black_box(seal_parallel_with_salt(&key, &m, &plain, 1, &salt).unwrap());
        });
        let sealed1 = seal_v1_with_salt(&key, &m, &plain, &salt).unwrap();
        let sealed2 = seal_parallel_with_salt(&key, &m, &plain, 1, &salt).unwrap();
        let o1 = mib_s(len, runs, || {
            std::hint::black_box(open(&key, &sealed1).unwrap());
        });
        let o2 = mib_s(len, runs, || {
            std::hint::black_box(open(&key, &sealed2).unwrap());
        });
        for (op, a, b) in [("seal", s1, s2), ("open", o1, o2)] {
            writeln!(
                out,
                "| {op} | {} | {a:.0} | {b:.0} | {:.2} |",
                human(len as u64),
                b / a
            )
            .unwrap();
        }
    }
    // Streaming v2 (1 MiB pushes), undeclared length: the path with held-back chunks and
    // trial kinds on padding chunks.
    let len = (64 << 20) + 1;
    let plain = data(len);
    let m = Metadata {
        length: None,
        ..meta(len)
    };
    let mut sealed = Vec::new();
    let seal_stream = mib_s(len, 3, || {
        let (mut sealer, header) = Sealer::new_with_salt(&key, &m, &salt).unwrap();
        sealed = header;
        for piece in plain.chunks(1 << 20) {
            sealer.push_into(piece, &mut sealed).unwrap();
        }
        sealed.extend(sealer.finish().unwrap());
    });
    let open_stream = mib_s(len, 3, || {
        let mut opener = Opener::new(&key);
        let mut n = 0;
        let mut buf = Vec::with_capacity(2 << 20);
        for piece in sealed.chunks(1 << 20) {
            buf.clear();
            opener.push_into(piece, &mut buf).unwrap();
            n += buf.len();
        }
        n += opener.finish().unwrap().len();
        assert_eq!(n, len);
    });
    writeln!(
        out,
        "| v2 streaming, undeclared length, 1 MiB pushes: seal | {} | – | {seal_stream:.0} | – |",
        human(len as u64)
    )
    .unwrap();
    writeln!(
        out,
        "| v2 streaming, undeclared length, 1 MiB pushes: open | {} | – | {open_stream:.0} | – |",
        human(len as u64)
    )
    .unwrap();
    writeln!(out, "\nv2 adds, per file, one HKDF for the commitment and its comparison, the padding chunks and the 24-byte end chunk; per chunk nothing. Throughput is plaintext bytes per second (v2 also seals its padding). The numbers are best-of-N wall clock on this machine (shared, 2 cores), release build.").unwrap();
    writeln!(out, "<!-- format-v2-bench:end -->").unwrap();
    match std::env::args().nth(1) {
        Some(path) => std::fs::write(path, &out).unwrap(),
        None => print!("{out}"),
    }
}
