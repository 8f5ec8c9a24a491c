//! Generates the version 1 sealed-file test vectors in `core/tests/vectors/` (one JSON file
//! per case, schema in `docs/format.md`; the version 2 vectors come from `gen_vectors_v2`).
//! Version 1 files are sealed through the test-only `seal_v1_with_salt` (feature `test-vectors`).
//!
//! Run: `cargo run -p sealroom-core --example gen_vectors`
//!
//! Deterministic. Every case has its own file key and salt, derived from its name, so no two
//! vectors share a key or a nonce. Valid cases are sealed by the reference implementation;
//! failing cases are built from valid files by tampering, or sealed with the raw primitives and
//! the labels of `docs/format.md` (files only a holder of the key can make: one per MUST rule
//! of the metadata and the declared length). Before writing a case the generator checks that
//! the reference implementation gives the expected result, whole and pushed one byte at a time,
//! and records the plaintext that streaming decryptor releases before the error (`released`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use sealroom_core::format::{
    open, seal_v1_with_salt, FileKey, FormatError, Metadata, Opener, CHUNK_SIZE, LABEL_METADATA,
    LABEL_PAYLOAD, SEALED_CHUNK_SIZE,
};
use sealroom_core::primitives::{hkdf_sha256, hkdf_sha256_key, Aead};
use serde_json::json;

const C: usize = CHUNK_SIZE;
const S: usize = SEALED_CHUNK_SIZE;
const FIXED: usize = 43;

fn derive(name: &str, what: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf_sha256(
        b"sealroom/file/v1/test-vectors",
        name.as_bytes(),
        what,
        &mut out,
    )
    .unwrap();
    out
}

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

/// Raw metadata encoding with every knob a forger has.
struct RawMeta {
    flags: u8,
    length: u64,
    created: u64,
    strings: [Vec<u8>; 3],
    bucket: usize,
    pad_byte: u8,
}

impl RawMeta {
    fn of(m: &Metadata) -> Self {
        let strings = [
            m.name.as_bytes().to_vec(),
            m.media_type.as_bytes().to_vec(),
            m.classification.as_bytes().to_vec(),
        ];
        let used = 23 + strings.iter().map(Vec::len).sum::<usize>();
        Self {
            flags: u8::from(m.length.is_some()),
            length: m.length.unwrap_or(0),
            created: m.created,
            strings,
            bucket: [512, 1024, 2048].into_iter().find(|b| *b >= used).unwrap(),
            pad_byte: 0,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.flags];
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.created.to_be_bytes());
        for s in &self.strings {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s);
        }
        let used = out.len();
        out.resize(self.bucket, 0);
        if self.pad_byte != 0 {
            out[used] = self.pad_byte;
        }
        out
    }
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn header_len(sealed: &[u8]) -> usize {
    FIXED + usize::from(u16::from_be_bytes([sealed[41], sealed[42]]))
}

/// A version 1 file built from raw parts with the primitives: metadata `raw`, and `plaintext`
/// cut into chunks as the format says (the layout of a file of `plaintext.len()` bytes).
fn forge(key: &[u8; 32], salt: &[u8; 32], raw: &RawMeta, plaintext: &[u8]) -> Vec<u8> {
    let mut out = b"SEALROOM\x01".to_vec();
    out.extend_from_slice(salt);
    out.extend_from_slice(&((raw.bucket + 16) as u16).to_be_bytes());
    let metadata = Aead::new(&hkdf_sha256_key(salt, key, LABEL_METADATA));
    let block = metadata.seal(&[0; 12], &out, &raw.encode()).unwrap();
    out.extend(block);
    let payload = Aead::new(&hkdf_sha256_key(salt, key, LABEL_PAYLOAD));
    let n = plaintext.len().div_ceil(C).max(1);
    for i in 0..n {
        let piece = &plaintext[(i * C).min(plaintext.len())..((i + 1) * C).min(plaintext.len())];
        out.extend(
            payload
                .seal(&nonce(i as u64, i == n - 1), b"", piece)
                .unwrap(),
        );
    }
    out
}

fn error_name(e: &FormatError) -> &'static str {
    match e {
        FormatError::NotSealed => "not_sealed",
        FormatError::UnsupportedVersion(_) => "unsupported_version",
        FormatError::InvalidHeader => "invalid_header",
        FormatError::Truncated => "truncated",
        FormatError::Decrypt => "decrypt",
        FormatError::InvalidPayload => "invalid_payload",
        other => panic!("unexpected error in a vector: {other:?}"),
    }
}

struct Case {
    name: &'static str,
    description: &'static str,
    key: [u8; 32],
    salt: [u8; 32],
    sealed: Vec<u8>,
    expected: &'static str,
    metadata: Option<Metadata>,
    plaintext: Vec<u8>,
}

/// The case's own key and salt.
fn keys(name: &str) -> ([u8; 32], [u8; 32]) {
    (derive(name, b"file-key"), derive(name, b"salt"))
}

fn seal(name: &str, m: &Metadata, plaintext: &[u8]) -> Vec<u8> {
    let (key, salt) = keys(name);
    seal_v1_with_salt(&FileKey::from_bytes(key), m, plaintext, &salt).unwrap()
}

fn ok(name: &'static str, description: &'static str, m: Metadata, plaintext: Vec<u8>) -> Case {
    let (key, salt) = keys(name);
    Case {
        name,
        description,
        key,
        salt,
        sealed: seal(name, &m, &plaintext),
        expected: "ok",
        metadata: Some(m),
        plaintext,
    }
}

fn bad(
    name: &'static str,
    description: &'static str,
    sealed: Vec<u8>,
    expected: &'static str,
) -> Case {
    let (key, salt) = keys(name);
    Case {
        name,
        description,
        key,
        salt,
        sealed,
        expected,
        metadata: None,
        plaintext: Vec::new(),
    }
}

/// Pushes one byte at a time, then finishes: the most plaintext a spec-following streaming
/// decryptor releases before it reports the error.
fn released(key: &[u8; 32], sealed: &[u8]) -> (Result<(), FormatError>, Vec<u8>) {
    let mut opener = Opener::new(&FileKey::from_bytes(*key));
    let mut out = Vec::new();
    for byte in sealed {
        if let Err(e) = opener.push_into(std::slice::from_ref(byte), &mut out) {
            return (Err(e), out);
        }
    }
    match opener.finish() {
        Ok(rest) => {
            out.extend(rest);
            (Ok(()), out)
        }
        Err(e) => (Err(e), out),
    }
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir).unwrap();

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
            "Longest allowed name, media type and label, created = 2^64 - 1 (a string in the JSON): 2048-byte bucket.",
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

    // Tampered files: each case seals its own valid file first (under its own key and salt).
    let three = pattern(C + 5);
    let three_meta = meta("two-chunks.bin", None);
    let chunked = |name: &str| {
        let sealed = seal(name, &three_meta, &three);
        let h = header_len(&sealed);
        let chunks = [sealed[h..h + S].to_vec(), sealed[h + S..].to_vec()];
        (sealed[..h].to_vec(), chunks, sealed)
    };
    let small_meta = meta("note.txt", Some(13));
    let small = |name: &str| seal(name, &small_meta, b"short message");

    let name = "fail_wrong_key";
    let mut case = bad(
        name,
        "A valid file opened with another file key.",
        small(name),
        "decrypt",
    );
    case.key = derive(name, b"other-key");
    cases.push(case);

    let name = "fail_bit_flip_payload";
    let (header, _, mut flip) = chunked(name);
    flip[header.len() + 100] ^= 0x01;
    cases.push(bad(
        name,
        "One bit flipped in the ciphertext of chunk 0.",
        flip,
        "decrypt",
    ));
    let name = "fail_bit_flip_final_tag";
    let mut flip = small(name);
    let n = flip.len();
    flip[n - 1] ^= 0x80;
    cases.push(bad(
        name,
        "One bit flipped in the tag of the final chunk.",
        flip,
        "decrypt",
    ));
    let name = "fail_bit_flip_metadata";
    let mut flip = small(name);
    let hs = header_len(&flip);
    flip[hs - 1] ^= 0x01;
    cases.push(bad(
        name,
        "One bit flipped in the metadata block's tag.",
        flip,
        "decrypt",
    ));
    let name = "fail_salt_modified";
    let mut flip = small(name);
    flip[20] ^= 0x01;
    cases.push(bad(
        name,
        "One bit flipped in the header salt: every derived key changes.",
        flip,
        "decrypt",
    ));
    let name = "fail_truncated_at_chunk_boundary";
    let (header, [c0, _], _) = chunked(name);
    cases.push(bad(
        name,
        "Undeclared length; the final chunk is missing: the stream ends after chunk 0 (sealed as non-final), which fails as a final chunk.",
        [header, c0].concat(),
        "decrypt",
    ));
    let name = "fail_truncated_inside_final_tag";
    let (header, _, sealed) = chunked(name);
    cases.push(bad(
        name,
        "Undeclared length; the stream ends 5 bytes into the final chunk (shorter than a tag).",
        sealed[..header.len() + S + 5].to_vec(),
        "truncated",
    ));
    let name = "fail_truncated_mid_chunk";
    let (_, _, sealed) = chunked(name);
    cases.push(bad(
        name,
        "Undeclared length; the stream ends 3 bytes before the end of the final chunk: the held-back bytes fail as a final chunk.",
        sealed[..sealed.len() - 3].to_vec(),
        "decrypt",
    ));
    let name = "fail_cut_declared";
    let declared = meta("declared.bin", Some(C as u64 + 5));
    let sealed = seal(name, &declared, &three);
    cases.push(bad(
        name,
        "Declared length 65541; the stream ends 3 bytes before the end of the final chunk. The declared layout says bytes are missing: truncated (a decryptor that ignores the declared length says decrypt).",
        sealed[..sealed.len() - 3].to_vec(),
        "truncated",
    ));
    let name = "fail_truncated_header";
    cases.push(bad(
        name,
        "The stream ends inside the metadata block.",
        small(name)[..100].to_vec(),
        "truncated",
    ));
    let name = "fail_chunks_reordered";
    let (header, [c0, c1], _) = chunked(name);
    cases.push(bad(
        name,
        "Chunks 0 and 1 swapped.",
        [header, c1, c0].concat(),
        "decrypt",
    ));
    let name = "fail_chunk_duplicated";
    let (header, [c0, c1], _) = chunked(name);
    cases.push(bad(
        name,
        "Chunk 0 repeated.",
        [header, c0.clone(), c0, c1].concat(),
        "decrypt",
    ));
    let name = "fail_chunk_dropped";
    let (header, [_, c1], _) = chunked(name);
    cases.push(bad(
        name,
        "Chunk 0 removed: the final chunk is presented at position 0.",
        [header, c1].concat(),
        "decrypt",
    ));
    let name = "fail_chunk_from_other_file";
    let (header, [_, c1], _) = chunked(name);
    let (key, _) = keys(name);
    let other = seal_v1_with_salt(
        &FileKey::from_bytes(key),
        &three_meta,
        &three,
        &derive(name, b"other-salt"),
    )
    .unwrap();
    let ho = header_len(&other);
    cases.push(bad(
        name,
        "Chunk 0 taken from another file sealed under the same file key and plaintext (different salt).",
        [header, other[ho..ho + S].to_vec(), c1].concat(),
        "decrypt",
    ));
    let name = "fail_trailing_byte";
    let (_, _, mut trailing) = chunked(name);
    trailing.push(0x00);
    cases.push(bad(
        name,
        "Undeclared length; one zero byte after the final chunk: the last 65552 bytes are then a non-final chunk presented as final.",
        trailing,
        "decrypt",
    ));
    let name = "fail_trailing_byte_declared";
    let mut trailing = small(name);
    trailing.push(0x00);
    cases.push(bad(
        name,
        "Declared length 13; one zero byte after the final chunk (trailing data). The 13 plaintext bytes may be released before the error.",
        trailing,
        "decrypt",
    ));
    let name = "fail_unknown_version";
    let mut v3 = small(name);
    v3[8] = 0x03;
    cases.push(bad(
        name,
        "Version byte 0x03 (0x01 and 0x02 are defined).",
        v3,
        "unsupported_version",
    ));
    let name = "fail_bad_magic";
    let mut magic = small(name);
    magic[0] = b's';
    cases.push(bad(
        name,
        "First magic byte changed: not a sealed file.",
        magic,
        "not_sealed",
    ));
    cases.push(bad(
        "fail_empty_input",
        "No bytes at all.",
        Vec::new(),
        "truncated",
    ));
    cases.push(bad(
        "fail_short_magic_prefix",
        "The 4 bytes SEAL: a prefix of the magic, then the input ends.",
        b"SEAL".to_vec(),
        "truncated",
    ));
    cases.push(bad(
        "fail_short_not_magic_prefix",
        "The 4 bytes SEAX: shorter than the magic and not a prefix of it.",
        b"SEAX".to_vec(),
        "not_sealed",
    ));
    cases.push(bad(
        "fail_ends_after_magic",
        "The magic and nothing else: the input ends before the version byte.",
        b"SEALROOM".to_vec(),
        "truncated",
    ));
    let name = "fail_absurd_metadata_length";
    let mut absurd = small(name);
    absurd[41] = 0xff;
    absurd[42] = 0xff;
    cases.push(bad(
        name,
        "metadata_len = 65535, not an allowed bucket; must be rejected before allocating.",
        absurd,
        "invalid_header",
    ));
    let name = "fail_final_flag_missing";
    let (header, [c0, _], _) = chunked(name);
    let (key, salt) = keys(name);
    let payload = Aead::new(&hkdf_sha256_key(&salt, &key, LABEL_PAYLOAD));
    let not_final = payload.seal(&nonce(1, false), b"", &three[C..]).unwrap();
    cases.push(bad(
        name,
        "The final chunk re-sealed with last flag 0x00: the stream never ends.",
        [header, c0, not_final].concat(),
        "decrypt",
    ));
    let name = "fail_empty_final_after_full";
    let (key, salt) = keys(name);
    let full = pattern(C);
    let full_sealed = seal(name, &meta("one-full.bin", None), &full);
    let payload = Aead::new(&hkdf_sha256_key(&salt, &key, LABEL_PAYLOAD));
    let mut empty_final = full_sealed[..header_len(&full_sealed)].to_vec();
    empty_final.extend(payload.seal(&nonce(0, false), b"", &full).unwrap());
    empty_final.extend(payload.seal(&nonce(1, true), b"", b"").unwrap());
    cases.push(bad(
        name,
        "A full non-final chunk followed by an empty final chunk: not the canonical encoding.",
        empty_final,
        "decrypt",
    ));

    // Key-holder forgeries: authentic metadata that breaks one MUST rule each.
    let forged = |name: &'static str,
                  description: &'static str,
                  edit: &dyn Fn(&mut RawMeta),
                  plaintext: &[u8],
                  expected: &'static str| {
        let (key, salt) = keys(name);
        let mut raw = RawMeta::of(&meta("forged.bin", Some(plaintext.len() as u64)));
        edit(&mut raw);
        bad(
            name,
            description,
            forge(&key, &salt, &raw, plaintext),
            expected,
        )
    };
    let hello: &[u8] = b"hello";
    for (name, description, edit) in [
        (
            "fail_metadata_padding_nonzero",
            "A metadata padding byte is 0x01.",
            &(|r: &mut RawMeta| r.pad_byte = 0x01) as &dyn Fn(&mut RawMeta),
        ),
        (
            "fail_metadata_reserved_flag",
            "flags = 0x03: a reserved bit is set.",
            &|r: &mut RawMeta| r.flags = 0x03,
        ),
        (
            "fail_metadata_length_without_flag",
            "flags = 0 but length = 5 (length MUST be 0 when not declared).",
            &|r: &mut RawMeta| r.flags = 0,
        ),
        (
            "fail_metadata_name_too_long",
            "name_len 1025 (limit 1024), in the 2048 bucket.",
            &|r: &mut RawMeta| {
                r.strings[0] = vec![b'n'; 1025];
                r.bucket = 2048;
            },
        ),
        (
            "fail_metadata_media_type_too_long",
            "media_type_len 256 (limit 255).",
            &|r: &mut RawMeta| r.strings[1] = vec![b'm'; 256],
        ),
        (
            "fail_metadata_classification_too_long",
            "classification_len 256 (limit 255).",
            &|r: &mut RawMeta| r.strings[2] = vec![b'c'; 256],
        ),
        (
            "fail_metadata_bad_utf8",
            "The name is the byte 0xff: not UTF-8.",
            &|r: &mut RawMeta| r.strings[0] = vec![0xff],
        ),
        (
            "fail_metadata_larger_bucket",
            "Small metadata padded to 1024 although 512 fits: not the one encoding.",
            &|r: &mut RawMeta| r.bucket = 1024,
        ),
    ] {
        cases.push(forged(name, description, edit, hello, "invalid_header"));
    }
    // name_len 600 in the 512 bucket: the encoding is cut at the bucket, so the string's length
    // field points past the padded metadata.
    let name = "fail_metadata_string_past_block";
    let (key, salt) = keys(name);
    let mut raw = RawMeta::of(&meta("x", Some(5)));
    raw.strings = [Vec::new(), Vec::new(), Vec::new()];
    let mut encoded = raw.encode();
    encoded[17..19].copy_from_slice(&600u16.to_be_bytes());
    let mut prefix = b"SEALROOM\x01".to_vec();
    prefix.extend_from_slice(&salt);
    prefix.extend_from_slice(&528u16.to_be_bytes());
    let metadata = Aead::new(&hkdf_sha256_key(&salt, &key, LABEL_METADATA));
    let mut sealed = prefix.clone();
    sealed.extend(metadata.seal(&[0; 12], &prefix, &encoded).unwrap());
    let payload = Aead::new(&hkdf_sha256_key(&salt, &key, LABEL_PAYLOAD));
    sealed.extend(payload.seal(&nonce(0, true), b"", hello).unwrap());
    cases.push(bad(
        name,
        "name_len 600 in the 512-byte bucket: the string runs past the padded metadata.",
        sealed,
        "invalid_header",
    ));
    // The declared length drives the layout.
    let long = pattern(70_000);
    cases.push(forged(
        "fail_declared_longer_than_payload",
        "Metadata declares 70000 bytes; the payload is laid out for 5 (one 21-byte final chunk): the declared layout needs more bytes.",
        &|r| r.length = 70_000,
        hello,
        "truncated",
    ));
    cases.push(forged(
        "fail_declared_shorter_than_payload",
        "Metadata declares 10 bytes; the payload is laid out for 70000: the first 26 bytes do not verify as the declared final chunk.",
        &|r| r.length = 10,
        &long,
        "decrypt",
    ));

    let mut seen = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(
            seen.insert(case.key) && seen.insert(case.salt),
            "{}: key and salt unique",
            case.name
        );
        let key = FileKey::from_bytes(case.key);
        let whole = open(&key, &case.sealed);
        let (streamed, out) = released(&case.key, &case.sealed);
        let value = if case.expected == "ok" {
            let (m, p) = whole.unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
            assert_eq!(Some(&m), case.metadata.as_ref(), "{}", case.name);
            assert_eq!(p, case.plaintext, "{}", case.name);
            streamed.unwrap();
            assert_eq!(out, case.plaintext, "{}", case.name);
            json!({
                "version": 1,
                "name": case.name,
                "description": case.description,
                "file_key": hex::encode(case.key),
                "salt": hex::encode(case.salt),
                "sealed": hex::encode(&case.sealed),
                "expected": "ok",
                "metadata": {
                    "name": m.name,
                    "media_type": m.media_type,
                    "classification": m.classification,
                    "created": m.created.to_string(),
                    "length": m.length.map(|l| l.to_string()),
                },
                "plaintext": hex::encode(&p),
                "max_released": p.len().to_string(),
            })
        } else {
            let e = whole.expect_err(case.name);
            assert_eq!(error_name(&e), case.expected, "{}: open", case.name);
            let e = streamed.expect_err(case.name);
            assert_eq!(error_name(&e), case.expected, "{}: push", case.name);
            json!({
                "version": 1,
                "name": case.name,
                "description": case.description,
                "file_key": hex::encode(case.key),
                "salt": hex::encode(case.salt),
                "sealed": hex::encode(&case.sealed),
                "expected": case.expected,
                "released": hex::encode(&out),
                "max_released": out.len().to_string(),
            })
        };
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        std::fs::write(dir.join(format!("{}.json", case.name)), text).unwrap();
    }
    println!(
        "wrote {} version 1 vectors to {}",
        cases.len(),
        dir.display()
    );
}
