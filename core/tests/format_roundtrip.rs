//! Round trips of the sealed-file format at and around every chunk boundary, with several
//! write and read step sizes, through the push API and the `std::io` adaptors, plus property
//! tests on random sizes and steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};

use proptest::prelude::*;
use sealroom_core::format::{
    open, open_parallel, payload_len, seal_parallel_with_salt, FileKey, Metadata, OpenReader,
    Opener, SealWriter, Sealer, CHUNK_SIZE,
};

const C: usize = CHUNK_SIZE;

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn metadata(length: Option<u64>) -> Metadata {
    Metadata {
        name: "Vertrag 2026 – final.pdf".into(),
        media_type: "application/pdf".into(),
        classification: "confidential".into(),
        created: 1_767_225_600,
        length,
    }
}

fn seal_steps(key: &FileKey, meta: &Metadata, plaintext: &[u8], step: usize) -> Vec<u8> {
    let (mut sealer, mut sealed) = Sealer::new_with_salt(key, meta, &[0x5a; 32]).unwrap();
    for piece in plaintext.chunks(step.max(1)) {
        sealer.push_into(piece, &mut sealed).unwrap();
    }
    sealed.extend(sealer.finish().unwrap());
    sealed
}

fn open_steps(key: &FileKey, sealed: &[u8], step: usize) -> (Metadata, Vec<u8>) {
    let mut opener = Opener::new(key);
    let mut plaintext = Vec::new();
    for piece in sealed.chunks(step.max(1)) {
        opener.push_into(piece, &mut plaintext).unwrap();
    }
    let meta = opener.metadata().cloned().unwrap();
    plaintext.extend(opener.finish().unwrap());
    (meta, plaintext)
}

#[test]
fn boundaries_with_every_step_size() {
    let key = FileKey::from_bytes([0x11; 32]);
    let sizes = [0, 1, C - 1, C, C + 1, 2 * C + 7, 3 * 1024 * 1024 + 5];
    for &size in &sizes {
        let plaintext = data(size);
        let steps = [1, 7, 4096, C, C + 3, size.max(1)];
        for length in [None, Some(size as u64)] {
            let meta = metadata(length);
            let reference =
                seal_parallel_with_salt(&key, &meta, &plaintext, 1, &[0x5a; 32]).unwrap();
            for &step in &steps {
                if step == 1 && size > 2 * C + 7 {
                    continue; // byte-by-byte on several MiB adds minutes, not coverage
                }
                let sealed = seal_steps(&key, &meta, &plaintext, step);
                assert_eq!(
                    sealed, reference,
                    "size {size} step {step}: sealing depends on step"
                );
                let (got_meta, got) = open_steps(&key, &sealed, step);
                assert_eq!(got_meta, meta);
                assert_eq!(got, plaintext, "size {size} step {step}");
            }
            // Sealed size: header + the padded payload (Padmé size, 16 per chunk, end chunk).
            assert_eq!(reference.len() as u64, 75 + 528 + payload_len(size as u64));
            let (m, p) = open(&key, &reference).unwrap();
            assert_eq!((m, p), (meta.clone(), plaintext.clone()));
            let (m, p) = open_parallel(&key, &reference, 2).unwrap();
            assert_eq!((m, p), (meta, plaintext.clone()));
        }
    }
}

#[test]
fn io_adaptors_round_trip_with_odd_steps() {
    let key = FileKey::generate().unwrap();
    for size in [0, C - 1, C, C + 1, 2 * C + 7, 2 * 1024 * 1024] {
        let plaintext = data(size);
        for step in [7, 4096, C + 3, size.max(1)] {
            let meta = metadata(if step == 7 { None } else { Some(size as u64) });
            let mut writer = SealWriter::new(&key, &meta, Vec::new()).unwrap();
            for piece in plaintext.chunks(step) {
                writer.write_all(piece).unwrap();
            }
            let sealed = writer.finish().unwrap();
            let mut reader = OpenReader::new(&key, sealed.as_slice()).unwrap();
            assert_eq!(reader.metadata(), &meta);
            let mut got = Vec::new();
            let mut buf = vec![0u8; step];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, plaintext, "size {size} step {step}");
        }
    }
}

#[test]
fn progress_callbacks_count_bytes() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let key = FileKey::generate().unwrap();
    let plaintext = data(3 * C + 11);
    let sealed_progress = Arc::new(AtomicU64::new(0));
    let opened_progress = Arc::new(AtomicU64::new(0));
    let mut writer = SealWriter::new(&key, &metadata(None), Vec::new()).unwrap();
    let sink = Arc::clone(&sealed_progress);
    writer.set_progress(Box::new(move |n| sink.store(n, Ordering::SeqCst)));
    writer.write_all(&plaintext).unwrap();
    let sealed = writer.finish().unwrap();
    assert_eq!(
        sealed_progress.load(Ordering::SeqCst),
        plaintext.len() as u64
    );

    let mut reader = OpenReader::new(&key, sealed.as_slice()).unwrap();
    let sink = Arc::clone(&opened_progress);
    let mut last = 0;
    reader.set_progress(Box::new(move |n| {
        assert!(n > last, "progress must increase");
        last = n;
        sink.store(n, Ordering::SeqCst);
    }));
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(got, plaintext);
    assert_eq!(
        opened_progress.load(Ordering::SeqCst),
        plaintext.len() as u64
    );
}

#[test]
fn fresh_salt_per_file() {
    let key = FileKey::generate().unwrap();
    let (_, a) = Sealer::new(&key, &metadata(None)).unwrap();
    let (_, b) = Sealer::new(&key, &metadata(None)).unwrap();
    assert_ne!(a[9..41], b[9..41], "salt must be random per file");
    assert_ne!(a, b);
}

#[test]
fn sealed_bytes_do_not_contain_name_or_type() {
    let key = FileKey::generate().unwrap();
    let meta = Metadata {
        name: "SECRET-NAME.docx".into(),
        media_type: "application/x-very-specific".into(),
        ..metadata(None)
    };
    let (mut sealer, mut sealed) = Sealer::new(&key, &meta).unwrap();
    sealed.extend(sealer.push(b"SECRET-NAME body").unwrap());
    sealed.extend(sealer.finish().unwrap());
    for needle in [&b"SECRET-NAME"[..], b"x-very-specific", b"docx"] {
        assert!(!sealed.windows(needle.len()).any(|w| w == needle));
    }
    // The metadata block size depends only on the bucket, not on the name length.
    let short = Metadata {
        name: "a".into(),
        ..meta.clone()
    };
    let (_, short_header) = Sealer::new(&key, &short).unwrap();
    let (_, long_header) = Sealer::new(&key, &meta).unwrap();
    assert_eq!(short_header.len(), long_header.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_sizes_and_steps_round_trip(
        size in 0usize..(3 * C + 100),
        seal_step in 1usize..(2 * C),
        open_step in 1usize..(2 * C),
        declared in any::<bool>(),
        key_bytes in any::<[u8; 32]>(),
    ) {
        let key = FileKey::from_bytes(key_bytes);
        let plaintext = data(size);
        let meta = metadata(declared.then_some(size as u64));
        let sealed = seal_steps(&key, &meta, &plaintext, seal_step);
        let (got_meta, got) = open_steps(&key, &sealed, open_step);
        prop_assert_eq!(got_meta, meta);
        prop_assert_eq!(got, plaintext);
    }
}
