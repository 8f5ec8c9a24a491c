//! Throughput of the sealed-file format on 256 MiB, next to its baselines measured in the same
//! run: raw ChaCha20-Poly1305 over the same 64 KiB chunks, the format on one and two threads,
//! and the `age` crate (X25519 recipient) through the same kind of `std::io` pipeline.
//!
//! Run: `cargo bench -p sealroom-core --bench format` (set `SEALROOM_BENCH_MIB` to change the
//! size). Results and their reading are in `docs/benchmarks.md`. Measures only; asserts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::{self, Write};
use std::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use sealroom_core::format::{
    open_parallel, seal_parallel, FileKey, Metadata, OpenReader, Opener, SealWriter, Sealer,
    CHUNK_SIZE, SEALED_CHUNK_SIZE,
};

/// Bytes pushed per call in the streaming benches (a typical read size of a host).
const PUSH: usize = 1024 * 1024;

fn size() -> usize {
    let mib = std::env::var("SEALROOM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256usize);
    mib * 1024 * 1024
}

fn data(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn metadata(len: usize) -> Metadata {
    Metadata {
        name: "bench.bin".into(),
        media_type: "application/octet-stream".into(),
        classification: "internal".into(),
        created: 0,
        length: Some(len as u64),
    }
}

fn bench(c: &mut Criterion) {
    let len = size();
    let plaintext = data(len);
    let key = FileKey::from_bytes([7u8; 32]);
    let sealed = seal_parallel(&key, &metadata(len), &plaintext, 2).unwrap();
    let raw = ChaCha20Poly1305::new(Key::from_slice(&[9u8; 32]));
    let raw_sealed: Vec<u8> = {
        let mut out = Vec::with_capacity(len + len / CHUNK_SIZE * 16 + 16);
        let count = plaintext.chunks(CHUNK_SIZE).count();
        for (i, chunk) in plaintext.chunks(CHUNK_SIZE).enumerate() {
            let start = out.len();
            out.extend_from_slice(chunk);
            let tag = raw
                .encrypt_in_place_detached(
                    Nonce::from_slice(&nonce(i as u64, i + 1 == count)),
                    b"",
                    &mut out[start..],
                )
                .unwrap();
            out.extend_from_slice(&tag);
        }
        out
    };
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let age_sealed = {
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::with_capacity(len + len / 4096);
        let mut writer = encryptor.wrap_output(&mut out).unwrap();
        writer.write_all(&plaintext).unwrap();
        writer.finish().unwrap();
        out
    };

    let mut group = c.benchmark_group("seal_256MiB");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("raw_chacha20poly1305_chunks", |b| {
        let mut buf = Vec::with_capacity(SEALED_CHUNK_SIZE);
        b.iter(|| {
            let count = plaintext.chunks(CHUNK_SIZE).count();
            for (i, chunk) in plaintext.chunks(CHUNK_SIZE).enumerate() {
                buf.clear();
                buf.extend_from_slice(chunk);
                let tag = raw
                    .encrypt_in_place_detached(
                        Nonce::from_slice(&nonce(i as u64, i + 1 == count)),
                        b"",
                        &mut buf,
                    )
                    .unwrap();
                buf.extend_from_slice(&tag);
                black_box(&buf);
            }
        })
    });
    group.bench_function("format_push_1MiB", |b| {
        let mut out = Vec::with_capacity(PUSH + 32 * SEALED_CHUNK_SIZE);
        b.iter(|| {
            let (mut sealer, header) = Sealer::new(&key, &metadata(len)).unwrap();
            black_box(header);
            for piece in plaintext.chunks(PUSH) {
                out.clear();
                sealer.push_into(piece, &mut out).unwrap();
                black_box(&out);
            }
            black_box(sealer.finish().unwrap());
        })
    });
    group.bench_function("format_seal_writer_to_sink", |b| {
        b.iter(|| {
            let mut writer = SealWriter::new(&key, &metadata(len), io::sink()).unwrap();
            for piece in plaintext.chunks(PUSH) {
                writer.write_all(piece).unwrap();
            }
            writer.finish().unwrap();
        })
    });
    group.bench_function("age_x25519_writer_to_sink", |b| {
        b.iter(|| {
            let encryptor =
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .unwrap();
            let mut writer = encryptor.wrap_output(io::sink()).unwrap();
            for piece in plaintext.chunks(PUSH) {
                writer.write_all(piece).unwrap();
            }
            writer.finish().unwrap();
        })
    });
    for threads in [1, 2] {
        group.bench_function(format!("format_seal_parallel_{threads}_threads"), |b| {
            b.iter(|| black_box(seal_parallel(&key, &metadata(len), &plaintext, threads).unwrap()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("open_256MiB");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("raw_chacha20poly1305_chunks", |b| {
        let mut buf = Vec::with_capacity(SEALED_CHUNK_SIZE);
        b.iter(|| {
            let count = raw_sealed.chunks(SEALED_CHUNK_SIZE).count();
            for (i, chunk) in raw_sealed.chunks(SEALED_CHUNK_SIZE).enumerate() {
                let (ct, tag) = chunk.split_at(chunk.len() - 16);
                buf.clear();
                buf.extend_from_slice(ct);
                raw.decrypt_in_place_detached(
                    Nonce::from_slice(&nonce(i as u64, i + 1 == count)),
                    b"",
                    &mut buf,
                    Tag::from_slice(tag),
                )
                .unwrap();
                black_box(&buf);
            }
        })
    });
    group.bench_function("format_push_1MiB", |b| {
        let mut out = Vec::with_capacity(PUSH + 32 * SEALED_CHUNK_SIZE);
        b.iter(|| {
            let mut opener = Opener::new(&key);
            for piece in sealed.chunks(PUSH) {
                out.clear();
                opener.push_into(piece, &mut out).unwrap();
                black_box(&out);
            }
            black_box(opener.finish().unwrap());
        })
    });
    group.bench_function("format_open_reader_to_sink", |b| {
        b.iter(|| {
            let mut reader = OpenReader::new(&key, sealed.as_slice()).unwrap();
            io::copy(&mut reader, &mut io::sink()).unwrap();
        })
    });
    group.bench_function("age_x25519_reader_to_sink", |b| {
        b.iter(|| {
            let decryptor = age::Decryptor::new(age_sealed.as_slice()).unwrap();
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .unwrap();
            io::copy(&mut reader, &mut io::sink()).unwrap();
        })
    });
    for threads in [1, 2] {
        group.bench_function(format!("format_open_parallel_{threads}_threads"), |b| {
            b.iter(|| black_box(open_parallel(&key, &sealed, threads).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
