//! Version 1 files (still read through the version dispatch; sealed here with the test-only
//! `seal_v1_with_salt`). Every tamper class of the sealed-file format: bit flips anywhere, truncation, reordered,
//! duplicated, dropped and swapped chunks, trailing data, forged last-chunk flags, wrong keys,
//! unknown versions, garbage and absurd header lengths. Each must give a typed error, never a
//! panic, and never release plaintext of a chunk that did not authenticate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Read};

use proptest::prelude::*;
use sealroom_core::format::{
    open, open_range, seal_v1_with_salt, FileKey, FormatError, Metadata, OpenReader, Opener,
    CHUNK_SIZE, HEADER_FIXED_LEN, LABEL_PAYLOAD, SEALED_CHUNK_SIZE,
};
use sealroom_core::primitives::{hkdf_sha256_key, Aead};

const C: usize = CHUNK_SIZE;
const S: usize = SEALED_CHUNK_SIZE;
const KEY: [u8; 32] = [0x42; 32];
const SALT: [u8; 32] = [0x24; 32];

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8).collect()
}

fn meta(length: Option<u64>) -> Metadata {
    Metadata {
        name: "t.bin".into(),
        media_type: "application/octet-stream".into(),
        classification: "internal".into(),
        created: 7,
        length,
    }
}

/// A 3-chunk file: header, two full chunks, a 100-byte final chunk.
fn sample(declared: bool) -> (Vec<u8>, Vec<u8>, usize) {
    let plaintext = data(2 * C + 100);
    let m = meta(declared.then_some(plaintext.len() as u64));
    let sealed = seal_v1_with_salt(&FileKey::from_bytes(KEY), &m, &plaintext, &SALT).unwrap();
    let header = sealed.len() - (plaintext.len() + 3 * 16);
    (sealed, plaintext, header)
}

/// Opens through the push API in 1000-byte steps; returns the error and what was released.
fn open_push(key: &[u8; 32], sealed: &[u8]) -> (Result<(), FormatError>, Vec<u8>) {
    let mut opener = Opener::new(&FileKey::from_bytes(*key));
    let mut released = Vec::new();
    for piece in sealed.chunks(1000) {
        if let Err(e) = opener.push_into(piece, &mut released) {
            return (Err(e), released);
        }
    }
    match opener.finish() {
        Ok(last) => {
            released.extend(last);
            (Ok(()), released)
        }
        Err(e) => (Err(e), released),
    }
}

/// Opens through every API and checks they all fail, and that the push API released only
/// whole, authentic chunks that precede `bad_chunk` (the first chunk that must not verify).
fn assert_rejected(sealed: &[u8], plaintext: &[u8], bad_chunk: usize, what: &str) -> FormatError {
    let key = FileKey::from_bytes(KEY);
    assert!(open(&key, sealed).is_err(), "{what}: open accepted");
    let mut reader_out = Vec::new();
    let reader = OpenReader::new(&key, sealed)
        .and_then(|mut r| r.read_to_end(&mut reader_out).map_err(FormatError::from));
    assert!(reader.is_err(), "{what}: OpenReader accepted");
    assert!(
        plaintext.starts_with(&reader_out),
        "{what}: reader released wrong bytes"
    );
    assert!(
        reader_out.len() <= bad_chunk * C,
        "{what}: reader released a bad chunk"
    );
    let (result, released) = open_push(&KEY, sealed);
    let err = result.expect_err(what);
    assert!(
        plaintext.starts_with(&released),
        "{what}: released bytes not authentic"
    );
    assert!(
        released.len() <= bad_chunk * C,
        "{what}: released a bad chunk"
    );
    assert_eq!(released.len() % C, 0, "{what}: released a partial chunk");
    err
}

fn payload_key() -> Aead {
    Aead::new(&hkdf_sha256_key(&SALT, &KEY, LABEL_PAYLOAD))
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

#[test]
fn untampered_sample_opens() {
    for declared in [false, true] {
        let (sealed, plaintext, _) = sample(declared);
        let (result, released) = open_push(&KEY, &sealed);
        result.unwrap();
        assert_eq!(released, plaintext);
    }
}

#[test]
fn every_bit_flip_region_is_detected() {
    for declared in [false, true] {
        let (sealed, plaintext, header) = sample(declared);
        let mut positions: Vec<usize> = (0..HEADER_FIXED_LEN).collect();
        positions.extend([header - 1, header - 16, HEADER_FIXED_LEN + 3]);
        for chunk in 0..3 {
            let start = header + chunk * S;
            let end = (start + S).min(sealed.len());
            positions.extend([
                start,
                start + 1,
                start + 777 % (end - start),
                end - 17,
                end - 1,
            ]);
        }
        for pos in positions {
            for bit in [0u8, 7] {
                let mut bad = sealed.clone();
                bad[pos] ^= 1 << bit;
                let bad_chunk = if pos < header { 0 } else { (pos - header) / S };
                let err =
                    assert_rejected(&bad, &plaintext, bad_chunk, &format!("flip {pos}.{bit}"));
                let expected_kind = match pos {
                    0..=7 => matches!(err, FormatError::NotSealed),
                    8 => matches!(err, FormatError::UnsupportedVersion(_)),
                    41 | 42 => matches!(err, FormatError::InvalidHeader | FormatError::Decrypt),
                    _ => matches!(err, FormatError::Decrypt),
                };
                assert!(expected_kind, "flip at {pos}: unexpected {err:?}");
            }
        }
    }
}

#[test]
fn truncation_anywhere_is_detected() {
    for declared in [false, true] {
        let (sealed, plaintext, header) = sample(declared);
        let mut cuts = vec![
            0,
            5,
            8,
            9,
            40,
            43,
            header - 1,
            header,
            header + 1,
            header + 15,
        ];
        for chunk in 1..=2 {
            let boundary = header + chunk * S;
            cuts.extend([boundary - 1, boundary, boundary + 1, boundary + 16]);
        }
        cuts.push(sealed.len() - 1);
        for cut in cuts {
            let err = assert_rejected(&sealed[..cut], &plaintext, 3, &format!("cut {cut}"));
            assert!(
                matches!(err, FormatError::Truncated | FormatError::Decrypt),
                "cut {cut}: {err:?}"
            );
        }
        // Cut exactly at a chunk boundary: the reader cannot miss it.
        let err = assert_rejected(&sealed[..header + 2 * S], &plaintext, 3, "boundary");
        assert!(matches!(err, FormatError::Truncated | FormatError::Decrypt));
    }
}

fn chunks(sealed: &[u8], header: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let head = sealed[..header].to_vec();
    let body = sealed[header..].chunks(S).map(<[u8]>::to_vec).collect();
    (head, body)
}

fn assemble(head: &[u8], body: &[&Vec<u8>]) -> Vec<u8> {
    let mut out = head.to_vec();
    for chunk in body {
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn reordered_duplicated_dropped_chunks_fail() {
    for declared in [false, true] {
        let (sealed, plaintext, header) = sample(declared);
        let (head, c) = chunks(&sealed, header);
        let cases: Vec<(&str, Vec<&Vec<u8>>, usize)> = vec![
            ("swap 0 and 1", vec![&c[1], &c[0], &c[2]], 0),
            ("duplicate 0", vec![&c[0], &c[0], &c[1], &c[2]], 1),
            ("duplicate 1", vec![&c[0], &c[1], &c[1], &c[2]], 2),
            ("drop 1", vec![&c[0], &c[2]], 1),
            ("drop 0", vec![&c[1], &c[2]], 0),
            ("final moved first", vec![&c[2], &c[0], &c[1]], 0),
        ];
        for (what, body, bad) in cases {
            let err = assert_rejected(&assemble(&head, &body), &plaintext, bad, what);
            assert!(
                matches!(err, FormatError::Decrypt | FormatError::Truncated),
                "{what}: {err:?}"
            );
        }
    }
}

#[test]
fn chunks_from_another_file_fail() {
    // Same key, same plaintext, different salt: every chunk is sealed under another payload key.
    let (sealed, plaintext, header) = sample(false);
    let other = seal_v1_with_salt(
        &FileKey::from_bytes(KEY),
        &meta(None),
        &plaintext,
        &[0x99; 32],
    )
    .unwrap();
    let (head, mine) = chunks(&sealed, header);
    let (other_head, theirs) = chunks(&other, header);
    for i in 0..3 {
        let mut body: Vec<&Vec<u8>> = mine.iter().collect();
        body[i] = &theirs[i];
        let err = assert_rejected(&assemble(&head, &body), &plaintext, i, &format!("swap {i}"));
        assert!(matches!(err, FormatError::Decrypt));
    }
    // Header of one file with the payload of the other.
    let body: Vec<&Vec<u8>> = mine.iter().collect();
    let err = assert_rejected(&assemble(&other_head, &body), &plaintext, 0, "header swap");
    assert!(matches!(err, FormatError::Decrypt));
}

#[test]
fn trailing_data_fails() {
    for declared in [false, true] {
        let (sealed, plaintext, header) = sample(declared);
        let (_, c) = chunks(&sealed, header);
        for extra in [vec![0u8], vec![0u8; 16], c[0].clone(), c[2].clone()] {
            let mut bad = sealed.clone();
            bad.extend_from_slice(&extra);
            let err = assert_rejected(&bad, &plaintext, 2, "trailing");
            assert!(
                matches!(err, FormatError::Decrypt | FormatError::Truncated),
                "{err:?}"
            );
        }
    }
}

#[test]
fn forged_last_flags_fail() {
    let aead = payload_key();
    let (sealed, plaintext, header) = sample(false);
    let (head, c) = chunks(&sealed, header);

    // Chunk 1 re-sealed as final: a valid-looking stream that stops early.
    let early_final = aead
        .seal(&nonce(1, true), b"", &plaintext[C..2 * C])
        .unwrap();
    let bad = assemble(&head, &[&c[0], &early_final]);
    // This is the exact encoding of a 2-chunk file with the same prefix: only the declared
    // length (here absent) or the key holder's intent distinguishes it. It must decrypt to the
    // 2-chunk plaintext, proving the flag is what ends the stream.
    let key = FileKey::from_bytes(KEY);
    assert_eq!(open(&key, &bad).unwrap().1, plaintext[..2 * C]);

    // The real final chunk re-sealed as non-final: the stream has no end.
    let not_final = aead
        .seal(&nonce(2, false), b"", &plaintext[2 * C..])
        .unwrap();
    assert_rejected(
        &assemble(&head, &[&c[0], &c[1], &not_final]),
        &plaintext,
        2,
        "no final",
    );

    // An empty final chunk appended after a full chunk is not canonical.
    let two_full = data(2 * C);
    let full = seal_v1_with_salt(&key, &meta(None), &two_full, &SALT).unwrap();
    let (head2, c2) = chunks(&full, header);
    let c1_nonfinal = aead.seal(&nonce(1, false), b"", &two_full[C..]).unwrap();
    let empty_final = aead.seal(&nonce(2, true), b"", b"").unwrap();
    let bad = assemble(&head2, &[&c2[0], &c1_nonfinal, &empty_final]);
    assert!(matches!(open(&key, &bad), Err(FormatError::Decrypt)));
    let (result, _) = open_push(&KEY, &bad);
    assert!(matches!(result, Err(FormatError::Decrypt)));
}

#[test]
fn declared_length_mismatch_fails() {
    // A file declaring 2C+100 bytes whose stream carries a valid 2-chunk (early-final) encoding.
    let aead = payload_key();
    let (sealed, plaintext, header) = sample(true);
    let (head, c) = chunks(&sealed, header);
    let early_final = aead
        .seal(&nonce(1, true), b"", &plaintext[C..2 * C])
        .unwrap();
    let err = assert_rejected(
        &assemble(&head, &[&c[0], &early_final]),
        &plaintext,
        1,
        "short",
    );
    assert!(matches!(err, FormatError::Decrypt | FormatError::Truncated));
}

#[test]
fn wrong_key_fails_opaquely() {
    let (sealed, _, _) = sample(true);
    let (result, released) = open_push(&[0x43; 32], &sealed);
    assert!(matches!(result, Err(FormatError::Decrypt)));
    assert!(released.is_empty());
    let mut cursor = Cursor::new(sealed);
    assert!(matches!(
        open_range(&FileKey::from_bytes([0x43; 32]), &mut cursor, 0, 10),
        Err(FormatError::Decrypt)
    ));
}

#[test]
fn header_level_errors_are_typed() {
    let key = FileKey::from_bytes(KEY);
    let (sealed, _, _) = sample(false);
    assert!(matches!(open(&key, b""), Err(FormatError::Truncated)));
    assert!(matches!(open(&key, b"SEAL"), Err(FormatError::Truncated)));
    assert!(matches!(
        open(&key, b"%PDF-1.7 garbage"),
        Err(FormatError::NotSealed)
    ));
    let mut v3 = sealed.clone();
    v3[8] = 3;
    assert!(matches!(
        open(&key, &v3),
        Err(FormatError::UnsupportedVersion(3))
    ));
    // A v1 file relabelled as v2 (to skip the v2 checks) does not open.
    let mut relabelled = sealed.clone();
    relabelled[8] = 2;
    assert!(open(&key, &relabelled).is_err());
    let mut absurd = sealed.clone();
    absurd[41] = 0xff;
    absurd[42] = 0xff;
    assert!(matches!(
        open(&key, &absurd),
        Err(FormatError::InvalidHeader)
    ));
    // Push API: absurd length is rejected as soon as the fixed header is in, before the block.
    let mut opener = Opener::new(&key);
    assert!(matches!(
        opener.push(&absurd[..HEADER_FIXED_LEN]),
        Err(FormatError::InvalidHeader)
    ));
    let mut opener = Opener::new(&key);
    assert!(matches!(opener.push(b"X"), Err(FormatError::NotSealed)));
    let mut cursor = Cursor::new(absurd);
    assert!(matches!(
        open_range(&key, &mut cursor, 0, 1),
        Err(FormatError::InvalidHeader)
    ));
    // Stream ends inside the header: finish says truncated.
    let mut opener = Opener::new(&key);
    opener.push(&sealed[..100]).unwrap();
    assert!(matches!(opener.finish(), Err(FormatError::Truncated)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics_nor_releases(garbage in proptest::collection::vec(any::<u8>(), 0..4096), magic in any::<bool>()) {
        let mut input = garbage;
        if magic {
            let mut prefixed = b"SEALROOM\x01".to_vec();
            prefixed.extend_from_slice(&input);
            input = prefixed;
        }
        let (result, released) = open_push(&KEY, &input);
        prop_assert!(result.is_err());
        prop_assert!(released.is_empty());
        let mut cursor = Cursor::new(input);
        prop_assert!(open_range(&FileKey::from_bytes(KEY), &mut cursor, 0, 0).is_err());
    }

    #[test]
    fn random_single_byte_changes_fail(pos in 0usize..(2 * SEALED_CHUNK_SIZE + 700), xor in 1u8..=255) {
        let (sealed, plaintext, _) = sample(false);
        let mut bad = sealed;
        let pos = pos % bad.len();
        bad[pos] ^= xor;
        let (result, released) = open_push(&KEY, &bad);
        prop_assert!(result.is_err());
        prop_assert!(plaintext.starts_with(&released));
    }
}
