//! Generates the version 1 sealed-file test vectors in `core/tests/vectors/` (one JSON file
//! per case; the version 2 vectors come from `gen_vectors_v2`). Version 1 files are sealed
//! through the test-only `seal_v1_with_salt` (feature `test-utils`).
//!
//! Run: `cargo run -p sealroom-core --example gen_vectors`
//!
//! Deterministic: every key, salt, timestamp and plaintext is fixed, so re-running produces
//! byte-identical files. Valid cases are sealed with the reference implementation (through its
//! hidden explicit-salt constructor); failing cases are derived from valid files by tampering,
//! some re-sealed with the raw primitives and the HKDF labels of `docs/format.md`. Before it
//! writes a case, the generator checks that the reference implementation gives the expected
//! result, so a vector never records a bug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use sealroom_core::format::{
    open, seal_v1_with_salt, FileKey, FormatError, Metadata, CHUNK_SIZE, LABEL_METADATA,
    LABEL_PAYLOAD, SEALED_CHUNK_SIZE,
};
use sealroom_core::primitives::{hkdf_sha256_key, Aead};
use serde_json::json;

const C: usize = CHUNK_SIZE;
const S: usize = SEALED_CHUNK_SIZE;
const KEY: [u8; 32] = [
    0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, 0x00,
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
];
const SALT: [u8; 32] = [0xa5; 32];

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + 3) % 256) as u8).collect()
}

fn meta(name: &str, length: Option<u64>) -> Metadata {
    Metadata {
        name: name.into(),
        media_type: "application/octet-stream".into(),
        classification: "confidential".into(),
        created: 1_767_225_600,
        length,
    }
}

fn seal_with(metadata: &Metadata, plaintext: &[u8], salt: &[u8; 32]) -> Vec<u8> {
    seal_v1_with_salt(&FileKey::from_bytes(KEY), metadata, plaintext, salt).unwrap()
}

fn header_len(sealed: &[u8]) -> usize {
    43 + usize::from(u16::from_be_bytes([sealed[41], sealed[42]]))
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn payload_aead(salt: &[u8; 32]) -> Aead {
    Aead::new(&hkdf_sha256_key(salt, &KEY, LABEL_PAYLOAD))
}

fn error_name(e: &FormatError) -> &'static str {
    match e {
        FormatError::NotSealed => "not_sealed",
        FormatError::UnsupportedVersion(_) => "unsupported_version",
        FormatError::InvalidHeader => "invalid_header",
        FormatError::Truncated => "truncated",
        FormatError::Decrypt => "decrypt",
        other => panic!("unexpected error in a vector: {other:?}"),
    }
}

struct Case {
    name: &'static str,
    description: &'static str,
    key: [u8; 32],
    sealed: Vec<u8>,
    expected: &'static str,
    metadata: Option<Metadata>,
    plaintext: Option<Vec<u8>>,
}

fn ok(name: &'static str, description: &'static str, m: Metadata, plaintext: Vec<u8>) -> Case {
    Case {
        name,
        description,
        key: KEY,
        sealed: seal_with(&m, &plaintext, &SALT),
        expected: "ok",
        metadata: Some(m),
        plaintext: Some(plaintext),
    }
}

fn bad(
    name: &'static str,
    description: &'static str,
    sealed: Vec<u8>,
    expected: &'static str,
) -> Case {
    Case {
        name,
        description,
        key: KEY,
        sealed,
        expected,
        metadata: None,
        plaintext: None,
    }
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir).unwrap();

    let three = pattern(C + 5);
    let three_meta = meta("two-chunks.bin", None);
    let base = seal_with(&three_meta, &three, &SALT);
    let h = header_len(&base);
    let chunk = |i: usize| base[h + i * S..(h + (i + 1) * S).min(base.len())].to_vec();
    let with_body = |parts: &[Vec<u8>]| {
        let mut out = base[..h].to_vec();
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    };
    let aead = payload_aead(&SALT);
    let small_meta = meta("note.txt", Some(13));
    let small = seal_with(&small_meta, b"short message", &SALT);
    let hs = header_len(&small);

    let mut cases = vec![
        ok(
            "ok_empty",
            "Empty plaintext, declared length 0: one empty final chunk.",
            meta("empty.txt", Some(0)),
            Vec::new(),
        ),
        ok(
            "ok_one_byte",
            "One byte, declared length.",
            meta("one.bin", Some(1)),
            vec![0x42],
        ),
        ok(
            "ok_text_undeclared",
            "Short text, length not declared.",
            Metadata {
                media_type: "text/plain; charset=utf-8".into(),
                ..meta("hello.txt", None)
            },
            b"hello, sealroom".to_vec(),
        ),
        ok(
            "ok_chunk_minus_one",
            "65535 bytes: a single short final chunk.",
            meta("c-1.bin", Some(C as u64 - 1)),
            pattern(C - 1),
        ),
        ok(
            "ok_exactly_one_chunk",
            "65536 bytes: a single full final chunk.",
            meta("c.bin", Some(C as u64)),
            pattern(C),
        ),
        ok(
            "ok_chunk_plus_one",
            "65537 bytes: a full chunk and a 1-byte final chunk.",
            meta("c+1.bin", None),
            pattern(C + 1),
        ),
        ok(
            "ok_unicode_name_bucket_1024",
            "A 600-byte UTF-8 name moves the metadata to the 1024-byte bucket.",
            Metadata {
                name: "Ä".repeat(300),
                classification: String::new(),
                ..meta("", Some(3))
            },
            b"abc".to_vec(),
        ),
        ok(
            "ok_max_metadata_bucket_2048",
            "Longest allowed name, media type and label: 2048-byte bucket.",
            Metadata {
                name: "n".repeat(1024),
                media_type: "m".repeat(255),
                classification: "c".repeat(255),
                created: u64::MAX,
                length: Some(4),
            },
            b"data".to_vec(),
        ),
    ];

    let wrong_key = Case {
        key: [0x77; 32],
        ..bad(
            "fail_wrong_key",
            "A valid file opened with another file key.",
            small.clone(),
            "decrypt",
        )
    };
    cases.push(wrong_key);
    let mut flip = base.clone();
    flip[h + 100] ^= 0x01;
    cases.push(bad(
        "fail_bit_flip_payload",
        "One bit flipped in the ciphertext of chunk 0.",
        flip,
        "decrypt",
    ));
    let mut flip = small.clone();
    let n = flip.len();
    flip[n - 1] ^= 0x80;
    cases.push(bad(
        "fail_bit_flip_final_tag",
        "One bit flipped in the tag of the final chunk.",
        flip,
        "decrypt",
    ));
    let mut flip = small.clone();
    flip[hs - 1] ^= 0x01;
    cases.push(bad(
        "fail_bit_flip_metadata",
        "One bit flipped in the metadata block's tag.",
        flip,
        "decrypt",
    ));
    let mut salt = small.clone();
    salt[20] ^= 0x01;
    cases.push(bad(
        "fail_salt_modified",
        "One bit flipped in the header salt: every derived key changes.",
        salt,
        "decrypt",
    ));
    cases.push(bad(
        "fail_truncated_at_chunk_boundary",
        "The final chunk is missing; the stream ends after chunk 0 (sealed as non-final).",
        with_body(&[chunk(0)]),
        "decrypt",
    ));
    cases.push(bad(
        "fail_truncated_inside_final_tag",
        "The stream ends 5 bytes into the final chunk (shorter than a tag).",
        base[..h + S + 5].to_vec(),
        "truncated",
    ));
    cases.push(bad(
        "fail_truncated_mid_chunk",
        "The stream ends in the middle of the final chunk.",
        base[..base.len() - 3].to_vec(),
        "decrypt",
    ));
    cases.push(bad(
        "fail_truncated_header",
        "The stream ends inside the metadata block.",
        small[..100].to_vec(),
        "truncated",
    ));
    cases.push(bad(
        "fail_chunks_reordered",
        "Chunks 0 and 1 swapped.",
        with_body(&[chunk(1), chunk(0)]),
        "decrypt",
    ));
    cases.push(bad(
        "fail_chunk_duplicated",
        "Chunk 0 repeated.",
        with_body(&[chunk(0), chunk(0), chunk(1)]),
        "decrypt",
    ));
    cases.push(bad(
        "fail_chunk_dropped",
        "Chunk 0 removed: the final chunk is presented at position 0.",
        with_body(&[chunk(1)]),
        "decrypt",
    ));
    let other = seal_with(&three_meta, &three, &[0x5a; 32]);
    let other_chunk0 = other[h..h + S].to_vec();
    cases.push(bad(
        "fail_chunk_from_other_file",
        "Chunk 0 taken from another file sealed under the same file key and plaintext (different salt).",
        with_body(&[other_chunk0, chunk(1)]),
        "decrypt",
    ));
    let mut trailing = base.clone();
    trailing.push(0x00);
    cases.push(bad(
        "fail_trailing_byte",
        "One zero byte after the final chunk.",
        trailing,
        "decrypt",
    ));
    let mut v2 = small.clone();
    v2[8] = 0x03;
    cases.push(bad(
        "fail_unknown_version",
        "Version byte 0x03 (0x01 and 0x02 are defined).",
        v2,
        "unsupported_version",
    ));
    let mut magic = small.clone();
    magic[0] = b's';
    cases.push(bad(
        "fail_bad_magic",
        "First magic byte changed: not a sealed file.",
        magic,
        "not_sealed",
    ));
    let mut absurd = small.clone();
    absurd[41] = 0xff;
    absurd[42] = 0xff;
    cases.push(bad(
        "fail_absurd_metadata_length",
        "metadata_len = 65535, not an allowed bucket; must be rejected before allocating.",
        absurd,
        "invalid_header",
    ));
    let not_final = aead.seal(&nonce(1, false), b"", &three[C..]).unwrap();
    cases.push(bad(
        "fail_final_flag_missing",
        "The final chunk re-sealed with last flag 0x00: the stream never ends.",
        with_body(&[chunk(0), not_final]),
        "decrypt",
    ));
    let full = pattern(C);
    let full_sealed = seal_with(&meta("one-full.bin", None), &full, &SALT);
    let hf = header_len(&full_sealed);
    let mut empty_final = full_sealed[..hf].to_vec();
    empty_final.extend(aead.seal(&nonce(0, false), b"", &full).unwrap());
    empty_final.extend(aead.seal(&nonce(1, true), b"", b"").unwrap());
    cases.push(bad(
        "fail_empty_final_after_full",
        "A full non-final chunk followed by an empty final chunk: not the canonical encoding.",
        empty_final,
        "decrypt",
    ));
    // Authenticated but malformed metadata: non-zero padding, re-sealed with the metadata key.
    let meta_aead = Aead::new(&hkdf_sha256_key(&SALT, &KEY, LABEL_METADATA));
    let mut block = meta_aead
        .open(&[0u8; 12], &small[..43], &small[43..hs])
        .unwrap();
    let last = block.len() - 1;
    block[last] = 0x01;
    let mut padded = small[..43].to_vec();
    padded.extend(meta_aead.seal(&[0u8; 12], &small[..43], &block).unwrap());
    padded.extend_from_slice(&small[hs..]);
    cases.push(bad(
        "fail_metadata_padding_nonzero",
        "Authentic metadata whose padding is not all zero.",
        padded,
        "invalid_header",
    ));

    let mut written = 0;
    let mut failing = 0;
    for case in &cases {
        let got = open(&FileKey::from_bytes(case.key), &case.sealed);
        match (&got, case.expected) {
            (Ok((m, p)), "ok") => {
                assert_eq!(Some(m), case.metadata.as_ref(), "{}", case.name);
                assert_eq!(Some(p), case.plaintext.as_ref(), "{}", case.name);
            }
            (Err(e), expected) => {
                assert_eq!(error_name(e), expected, "{}", case.name);
                failing += 1;
            }
            (Ok(_), expected) => panic!("{}: opened, expected {expected}", case.name),
        }
        let metadata = case.metadata.as_ref().map(|m| {
            json!({
                "name": m.name,
                "media_type": m.media_type,
                "classification": m.classification,
                "created": m.created,
                "length": m.length,
            })
        });
        let value = json!({
            "name": case.name,
            "description": case.description,
            "file_key": hex::encode(case.key),
            "sealed": hex::encode(&case.sealed),
            "expected": case.expected,
            "metadata": metadata,
            "plaintext": case.plaintext.as_ref().map(hex::encode),
        });
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        std::fs::write(dir.join(format!("{}.json", case.name)), text).unwrap();
        written += 1;
    }
    println!(
        "wrote {written} vectors ({failing} failing) to {}",
        dir.display()
    );
}
