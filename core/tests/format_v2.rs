//! Version 2 of the sealed-file format: the key commitment, Padmé padding with the length
//! sealed in the end chunk (sizes hidden inside a bucket, streaming and random access still
//! working, including padding-only chunks), and version 1 files still readable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Read, Write};

use sealroom_core::format::{
    header_len, open, open_parallel, open_range, padded_len, payload_len, plaintext_len, seal,
    seal_parallel_with_salt, seal_v1_with_salt, tail_start, FileKey, FormatError, Metadata,
    OpenReader, Opener, SealWriter, Sealer, CHUNK_SIZE, LABEL_V2_COMMITMENT, LABEL_V2_METADATA,
    LABEL_V2_PAYLOAD,
};
use sealroom_core::primitives::{hkdf_sha256, hkdf_sha256_key, Aead};

const C: usize = CHUNK_SIZE;

fn meta(length: Option<u64>) -> Metadata {
    Metadata {
        name: "v2.bin".into(),
        media_type: "application/octet-stream".into(),
        classification: "internal".into(),
        created: 9,
        length,
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 241) as u8 ^ 0x5a).collect()
}

fn open_steps(key: &FileKey, sealed: &[u8], step: usize) -> Result<Vec<u8>, FormatError> {
    let mut opener = Opener::new(key);
    let mut out = Vec::new();
    for piece in sealed.chunks(step) {
        let before = out.len();
        opener.push_into(piece, &mut out)?;
        // Memory stays bounded: one push releases at most what it brought plus one held chunk.
        assert!(
            out.len() - before <= piece.len() + C,
            "push released too much"
        );
    }
    out.extend(opener.finish()?);
    Ok(out)
}

/// The relay sees only the bucket: every length that pads to the same size gives the same
/// sealed size, declared or not; the exact length is nowhere in the public bytes.
#[test]
fn sizes_inside_a_bucket_are_indistinguishable() {
    let key = FileKey::generate().unwrap();
    for (low, high) in [(0usize, 256usize), (65_537, 67_584), (1_000_001, 1_015_808)] {
        assert_eq!(padded_len(low as u64), padded_len(high as u64));
        let mut sizes = std::collections::BTreeSet::new();
        for len in [low, low + 1, (low + high) / 2, high] {
            for declared in [false, true] {
                let m = meta(declared.then_some(len as u64));
                let sealed = seal(&key, &m, &data(len)).unwrap();
                sizes.insert(sealed.len());
                assert_eq!(open(&key, &sealed).unwrap().1.len(), len);
            }
        }
        assert_eq!(sizes.len(), 1, "bucket {low}..={high}: {sizes:?}");
    }
    // The next bucket is bigger.
    let a = seal(&key, &meta(None), &data(67_584)).unwrap();
    let b = seal(&key, &meta(None), &data(67_585)).unwrap();
    assert!(b.len() > a.len());
}

/// Files with padding-only chunks (4 MiB + 1 pads to 4 MiB + 128 KiB: two padding chunks),
/// declared and undeclared, through every API; ranges never run into the padding.
#[test]
fn padding_chunks_stream_and_range() {
    let key = FileKey::generate().unwrap();
    let len = (4 << 20) + 1;
    assert_eq!(padded_len(len as u64), Some((4 << 20) + (128 << 10)));
    let plaintext = data(len);
    for declared in [false, true] {
        let m = meta(declared.then_some(len as u64));
        let sealed = seal_parallel_with_salt(&key, &m, &plaintext, 3, &[7; 32]).unwrap();
        assert_eq!(
            sealed.len() as u64,
            header_len(&sealed).unwrap().unwrap() as u64 + payload_len(len as u64)
        );
        // Streaming sealer gives the same bytes in any step size.
        let (mut sealer, mut streamed) = Sealer::new_with_salt(&key, &m, &[7; 32]).unwrap();
        for piece in plaintext.chunks(C - 3) {
            sealer.push_into(piece, &mut streamed).unwrap();
        }
        streamed.extend(sealer.finish().unwrap());
        assert_eq!(streamed, sealed);
        for step in [4096, C + 24, sealed.len()] {
            assert_eq!(open_steps(&key, &sealed, step).unwrap(), plaintext);
        }
        assert_eq!(open_parallel(&key, &sealed, 4).unwrap().1, plaintext);
        let mut reader = OpenReader::new(&key, sealed.as_slice()).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, plaintext);
        let mut cursor = Cursor::new(&sealed);
        assert_eq!(plaintext_len(&key, &mut cursor).unwrap(), len as u64);
        let got = open_range(&key, &mut Cursor::new(&sealed), len as u64 - 5, 5).unwrap();
        assert_eq!(got, &plaintext[len - 5..]);
        let err = open_range(&key, &mut Cursor::new(&sealed), len as u64 - 5, 6).unwrap_err();
        assert!(matches!(err, FormatError::RangeOutOfBounds));
        // Range downloads fetch header + tail (the 24-byte end chunk) first.
        let header = &sealed[..header_len(&sealed).unwrap().unwrap()];
        assert_eq!(
            tail_start(header, sealed.len() as u64).unwrap(),
            sealed.len() as u64 - 24
        );
    }
}

/// SealWriter hands out the padding one chunk at a time and the result opens.
#[test]
fn writer_pads_and_reader_opens() {
    let key = FileKey::generate().unwrap();
    for len in [0, 1, 300, C, C + 1, 3 * C + 17] {
        let plaintext = data(len);
        let mut w = SealWriter::new(&key, &meta(None), Vec::new()).unwrap();
        w.write_all(&plaintext).unwrap();
        let sealed = w.finish().unwrap();
        assert_eq!(open(&key, &sealed).unwrap().1, plaintext, "{len}");
    }
}

/// The attack key commitment stops: a file whose metadata and payload authenticate under key
/// B, carrying the commitment of key A (what a sender who wants one file to open under two
/// keys must ship), is refused under B before anything is decrypted, and under A too.
#[test]
fn commitment_of_another_key_is_refused() {
    let a = [0x11u8; 32];
    let b = [0x22u8; 32];
    let salt = [0x33u8; 32];
    let honest_b =
        seal_parallel_with_salt(&FileKey::from_bytes(b), &meta(Some(5)), b"hello", 1, &salt)
            .unwrap();
    // Sanity: B's own file opens under B.
    assert_eq!(
        open(&FileKey::from_bytes(b), &honest_b).unwrap().1,
        b"hello"
    );
    // Swap in A's commitment and re-seal the metadata block (its associated data is the
    // header prefix, commitment included) under B's metadata key.
    let mut forged = honest_b.clone();
    let mut commit_a = [0u8; 32];
    hkdf_sha256(&salt, &a, LABEL_V2_COMMITMENT, &mut commit_a).unwrap();
    forged[41..73].copy_from_slice(&commit_a);
    let h = header_len(&forged).unwrap().unwrap();
    let meta_b = Aead::new(&hkdf_sha256_key(&salt, &b, LABEL_V2_METADATA));
    let mut block = meta_b
        .open(&[0; 12], &honest_b[..75], &honest_b[75..h])
        .unwrap();
    let resealed = meta_b.seal(&[0; 12], &forged[..75], &block).unwrap();
    block.fill(0);
    forged[75..h].copy_from_slice(&resealed);
    // Everything but the commitment is valid under B...
    let payload_b = Aead::new(&hkdf_sha256_key(&salt, &b, LABEL_V2_PAYLOAD));
    let mut n0 = [0u8; 12];
    n0[11] = 0;
    assert!(payload_b.open(&n0, b"", &forged[h..h + 256 + 16]).is_ok());
    // ...and still neither key opens it, and no plaintext is released.
    for key in [a, b] {
        let key = FileKey::from_bytes(key);
        assert!(matches!(open(&key, &forged), Err(FormatError::Decrypt)));
        let mut opener = Opener::new(&key);
        assert!(matches!(opener.push(&forged), Err(FormatError::Decrypt)));
    }
}

/// Version 1 files stay readable through every API; a v2 file relabelled v1 (a downgrade to
/// skip the commitment) and a v1 file relabelled v2 both fail.
#[test]
fn version_1_still_opens_and_no_downgrade() {
    let key = FileKey::generate().unwrap();
    let plaintext = data(2 * C + 9);
    for length in [None, Some(plaintext.len() as u64)] {
        let v1 = seal_v1_with_salt(&key, &meta(length), &plaintext, &[1; 32]).unwrap();
        assert_eq!(v1[8], 1);
        assert_eq!(open(&key, &v1).unwrap().1, plaintext);
        assert_eq!(open_steps(&key, &v1, 1000).unwrap(), plaintext);
        let got = open_range(&key, &mut Cursor::new(&v1), C as u64 - 1, 3).unwrap();
        assert_eq!(got, &plaintext[C - 1..C + 2]);
        assert_eq!(
            plaintext_len(&key, &mut Cursor::new(&v1)).unwrap(),
            plaintext.len() as u64
        );
        let mut up = v1.clone();
        up[8] = 2;
        assert!(open(&key, &up).is_err());

        let v2 = seal(&key, &meta(length), &plaintext).unwrap();
        assert_eq!(v2[8], 2);
        let mut down = v2.clone();
        down[8] = 1;
        assert!(open(&key, &down).is_err());
        assert!(open_steps(&key, &down, 4096).is_err());
    }
}
