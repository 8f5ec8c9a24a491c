//! Generates the version 2 sealed-file test vectors in `core/tests/vectors/v2/` (one JSON file
//! per case, schema in `docs/format.md`).
//!
//! Run: `cargo run -p sealroom-core --example gen_vectors_v2`
//!
//! Deterministic. Every case has its own file key and salt, derived from its name, so no two
//! vectors share a key or a nonce. Valid cases are sealed by the reference implementation;
//! failing cases are built from valid files by tampering, or sealed with the raw primitives and
//! the labels of `docs/format.md` (files only a holder of the key can make). Before writing a
//! case the generator checks that the reference implementation gives the expected result and
//! records the plaintext a streaming decryptor releases before the error (`released`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use sealroom_core::format::{
    open, padded_len, seal_parallel_with_salt, FileKey, FormatError, Metadata, Opener, CHUNK_SIZE,
    LABEL_METADATA, LABEL_PAYLOAD, LABEL_V2_COMMITMENT, LABEL_V2_METADATA, LABEL_V2_PAYLOAD,
    SEALED_CHUNK_SIZE,
};
use sealroom_core::primitives::{hkdf_sha256, hkdf_sha256_key, Aead};
use serde_json::json;

const C: usize = CHUNK_SIZE;
const S: usize = SEALED_CHUNK_SIZE;
const FIXED: usize = 75;

fn derive(name: &str, what: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf_sha256(
        b"sealroom/file/v2/test-vectors",
        name.as_bytes(),
        what,
        &mut out,
    )
    .unwrap();
    out
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251 + 1) as u8).collect()
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

fn nonce(counter: u64, kind: u8) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = kind;
    n
}

/// Labels a forger may pick.
#[derive(Clone, Copy)]
struct Labels {
    metadata: &'static [u8],
    payload: &'static [u8],
}

const V2: Labels = Labels {
    metadata: LABEL_V2_METADATA,
    payload: LABEL_V2_PAYLOAD,
};

/// A v2 file built from raw parts with the primitives: header (commitment of `commit_key`),
/// metadata and chunks sealed under `key`.
fn assemble(
    key: &[u8; 32],
    commit_key: &[u8; 32],
    salt: &[u8; 32],
    raw: &RawMeta,
    chunks: &[(Vec<u8>, u8)],
    labels: Labels,
) -> Vec<u8> {
    let mut header = b"SEALROOM\x02".to_vec();
    header.extend_from_slice(salt);
    let mut commitment = [0u8; 32];
    hkdf_sha256(salt, commit_key, LABEL_V2_COMMITMENT, &mut commitment).unwrap();
    header.extend_from_slice(&commitment);
    let block = raw.encode();
    header.extend_from_slice(&((block.len() + 16) as u16).to_be_bytes());
    let meta_aead = Aead::new(&hkdf_sha256_key(salt, key, labels.metadata));
    let sealed_block = meta_aead.seal(&[0u8; 12], &header, &block).unwrap();
    header.extend_from_slice(&sealed_block);
    let payload = Aead::new(&hkdf_sha256_key(salt, key, labels.payload));
    for (i, (plain, kind)) in chunks.iter().enumerate() {
        header.extend_from_slice(&payload.seal(&nonce(i as u64, *kind), b"", plain).unwrap());
    }
    header
}

/// The padded chunks and end chunk an honest encryptor writes for `data`.
fn honest_chunks(data: &[u8]) -> Vec<(Vec<u8>, u8)> {
    let len = data.len() as u64;
    let padded = padded_len(len).unwrap() as usize;
    let mut f = data.to_vec();
    f.resize(padded, 0);
    let data_chunks = data.len().div_ceil(C).max(1);
    let mut out: Vec<(Vec<u8>, u8)> = f
        .chunks(C)
        .enumerate()
        .map(|(i, c)| (c.to_vec(), if i < data_chunks { 0 } else { 2 }))
        .collect();
    out.push((len.to_be_bytes().to_vec(), 1));
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

fn keys(name: &str) -> ([u8; 32], [u8; 32]) {
    (derive(name, b"file-key"), derive(name, b"salt"))
}

fn ok(name: &'static str, description: &'static str, m: Metadata, plaintext: Vec<u8>) -> Case {
    let (key, salt) = keys(name);
    let sealed =
        seal_parallel_with_salt(&FileKey::from_bytes(key), &m, &plaintext, 1, &salt).unwrap();
    Case {
        name,
        description,
        key,
        salt,
        sealed,
        expected: "ok",
        metadata: Some(m),
        plaintext,
    }
}

/// An honest file for case `name` (its own key and salt), to be tampered with.
fn honest(name: &'static str, m: &Metadata, plaintext: &[u8]) -> Case {
    let mut case = ok(name, "", m.clone(), plaintext.to_vec());
    case.metadata = None;
    case.plaintext = Vec::new();
    case
}

fn bad(mut case: Case, description: &'static str, sealed: Vec<u8>, expected: &'static str) -> Case {
    case.description = description;
    case.sealed = sealed;
    case.expected = expected;
    case.metadata = None;
    case.plaintext = Vec::new();
    case
}

/// Pushes one byte at a time, then finishes: the most plaintext a spec-following streaming
/// decryptor releases before it reports the error (every chunk as soon as it verifies).
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
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v2");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = vec![
        ok("ok_empty", "Empty plaintext, declared length 0: one data chunk of 256 zero bytes (the padding floor), end chunk says 0.", meta("empty.txt", Some(0)), Vec::new()),
        ok("ok_empty_undeclared", "Empty plaintext, length not declared.", meta("empty.txt", None), Vec::new()),
        ok("ok_one_byte", "One byte, declared: padded to 256.", meta("one.bin", Some(1)), vec![0x42]),
        ok("ok_256", "256 bytes: exactly the padding floor, no padding.", meta("256.bin", Some(256)), pattern(256, 1)),
        ok("ok_257_padded_to_272", "257 bytes: Padmé pads to 272 (E = 8, S = 4, low 4 bits rounded up).", meta("257.bin", Some(257)), pattern(257, 2)),
        ok("ok_chunk_minus_one", "65535 bytes: padded to 65536, one data chunk.", meta("c-1.bin", Some(C as u64 - 1)), pattern(C - 1, 3)),
        ok("ok_exactly_one_chunk", "65536 bytes: a Padmé size, no padding; one full data chunk.", meta("c.bin", Some(C as u64)), pattern(C, 4)),
        ok("ok_chunk_plus_one", "65537 bytes, declared: padded to 67584; chunk 1 holds 1 data byte and 2047 zero bytes.", meta("c+1.bin", Some(C as u64 + 1)), pattern(C + 1, 5)),
        ok("ok_chunk_plus_one_undeclared", "65537 bytes, length not declared.", meta("c+1.bin", None), pattern(C + 1, 6)),
        ok("ok_two_chunks_plus_undeclared", "2·65536 + 7 bytes, undeclared: padded to 135168.", meta("2c+7.bin", None), pattern(2 * C + 7, 7)),
        ok("ok_data_ends_in_zeros_undeclared", "300 bytes ending in 40 zero bytes, undeclared: the end chunk, not the zeros, says where the data ends.", meta("zeros.bin", None), { let mut v = pattern(260, 8); v.resize(300, 0); v }),
        ok("ok_unicode_name_bucket_1024", "A 600-byte UTF-8 name: the 1024-byte metadata bucket.", meta(&"Ä".repeat(300), Some(3)), b"abc".to_vec()),
        ok("ok_max_metadata_bucket_2048", "Every string at its limit and created = 2^64 - 1 (a string in the JSON): the 2048-byte bucket.", Metadata { name: "n".repeat(1024), media_type: "m".repeat(255), classification: "c".repeat(255), created: u64::MAX, length: Some(5) }, b"hello".to_vec()),
    ];

    // Header-level failures.
    let m = meta("h.bin", Some(5));
    let base = honest("fail_bad_magic", &m, b"hello");
    let mut s = base.sealed.clone();
    s[0] = b's';
    cases.push(bad(base, "First magic byte changed.", s, "not_sealed"));
    let base = honest("fail_short_not_magic_prefix", &m, b"hello");
    cases.push(bad(
        base,
        "The 4 bytes SEAX: shorter than the magic and not a prefix of it.",
        b"SEAX".to_vec(),
        "not_sealed",
    ));
    let base = honest("fail_short_magic_prefix", &m, b"hello");
    cases.push(bad(
        base,
        "The 4 bytes SEAL: a prefix of the magic, then the input ends.",
        b"SEAL".to_vec(),
        "truncated",
    ));
    let base = honest("fail_ends_after_magic", &m, b"hello");
    cases.push(bad(
        base,
        "The magic and nothing else: the input ends before the version byte.",
        b"SEALROOM".to_vec(),
        "truncated",
    ));
    let base = honest("fail_empty_input", &m, b"hello");
    cases.push(bad(base, "No bytes at all.", Vec::new(), "truncated"));
    let base = honest("fail_unknown_version", &m, b"hello");
    let mut s = base.sealed.clone();
    s[8] = 3;
    cases.push(bad(base, "Version byte 0x03.", s, "unsupported_version"));
    let base = honest("fail_bad_metadata_len", &m, b"hello");
    let mut s = base.sealed.clone();
    s[73..75].copy_from_slice(&600u16.to_be_bytes());
    cases.push(bad(
        base,
        "metadata_len 600 is not 528, 1040 or 2064.",
        s,
        "invalid_header",
    ));
    let base = honest("fail_truncated_header", &m, b"hello");
    let s = base.sealed[..FIXED + 100].to_vec();
    cases.push(bad(
        base,
        "Input ends inside the metadata block.",
        s,
        "truncated",
    ));
    let base = honest("fail_wrong_key", &m, b"hello");
    let s = base.sealed.clone();
    let mut case = bad(
        base,
        "Sealed under another key: the commitment does not match.",
        s,
        "decrypt",
    );
    case.key = derive("fail_wrong_key", b"other-key");
    cases.push(case);
    let base = honest("fail_commitment_flipped", &m, b"hello");
    let mut s = base.sealed.clone();
    s[41] ^= 0x01;
    cases.push(bad(
        base,
        "One bit of the key commitment flipped; everything else valid.",
        s,
        "decrypt",
    ));

    // The key-commitment attack: metadata and payload valid under this case's key, but the
    // commitment is another key's. Without the commitment check this would open.
    let name = "fail_commitment_of_other_key";
    let (key, salt) = keys(name);
    let other = derive(name, b"other-key");
    let s = assemble(
        &key,
        &other,
        &salt,
        &RawMeta::of(&m),
        &honest_chunks(b"hello"),
        V2,
    );
    let mut case = honest(name, &m, b"hello");
    case = bad(case, "Metadata and chunks authenticate under file_key, but the commitment is of another key: a decryptor MUST check the commitment before decrypting.", s, "decrypt");
    cases.push(case);

    let name = "fail_v1_labels_in_v2";
    let (key, salt) = keys(name);
    let s = assemble(
        &key,
        &key,
        &salt,
        &RawMeta::of(&m),
        &honest_chunks(b"hello"),
        Labels {
            metadata: LABEL_METADATA,
            payload: LABEL_PAYLOAD,
        },
    );
    cases.push(bad(
        honest(name, &m, b"hello"),
        "A v2 header whose blocks were sealed with the v1 HKDF labels.",
        s,
        "decrypt",
    ));

    // Metadata rules (files only a key holder can make).
    let forged = |name: &'static str, desc: &'static str, edit: &dyn Fn(&mut RawMeta)| {
        let (key, salt) = keys(name);
        let mut raw = RawMeta::of(&m);
        edit(&mut raw);
        let s = assemble(&key, &key, &salt, &raw, &honest_chunks(b"hello"), V2);
        bad(honest(name, &m, b"hello"), desc, s, "invalid_header")
    };
    cases.push(forged(
        "fail_metadata_reserved_flag",
        "flags = 0x03: a reserved bit is set.",
        &|r| r.flags = 0x03,
    ));
    cases.push(forged(
        "fail_metadata_length_without_flag",
        "flags = 0 but length = 5.",
        &|r| r.flags = 0,
    ));
    cases.push(forged(
        "fail_metadata_name_too_long",
        "name_len 1025 (limit 1024), in the 2048 bucket.",
        &|r| {
            r.strings[0] = vec![b'n'; 1025];
            r.bucket = 2048;
        },
    ));
    cases.push(forged(
        "fail_metadata_media_type_too_long",
        "media_type_len 256 (limit 255).",
        &|r| {
            r.strings[1] = vec![b'm'; 256];
            r.bucket = 1024;
        },
    ));
    cases.push(forged(
        "fail_metadata_classification_too_long",
        "classification_len 256 (limit 255).",
        &|r| {
            r.strings[2] = vec![b'c'; 256];
            r.bucket = 1024;
        },
    ));
    cases.push(forged(
        "fail_metadata_bad_utf8",
        "The name is the byte 0xff: not UTF-8.",
        &|r| r.strings[0] = vec![0xff],
    ));
    cases.push(forged(
        "fail_metadata_string_past_block",
        "name_len 600 in the 512-byte bucket: the string runs past the padded metadata.",
        &|r| {
            r.strings[0] = vec![b'n'; 600];
            r.bucket = 512;
            r.strings[1].clear();
            r.strings[2].clear();
        },
    ));
    cases.push(forged(
        "fail_metadata_larger_bucket",
        "Small metadata padded to 1024 although 512 fits: not the one encoding.",
        &|r| r.bucket = 1024,
    ));
    cases.push(forged(
        "fail_metadata_padding_nonzero",
        "A metadata padding byte is 0x01.",
        &|r| r.pad_byte = 1,
    ));

    // Payload: tampering by anyone.
    let big = pattern(C + 100, 9);
    let md = meta("p.bin", Some(big.len() as u64));
    let mu = meta("p.bin", None);
    for (declared, suffix) in [(true, "declared"), (false, "undeclared")] {
        let mm = if declared { &md } else { &mu };
        let tag = |n: &str| -> &'static str { Box::leak(format!("{n}_{suffix}").into_boxed_str()) };
        let base = honest(tag("fail_bit_flip_chunk_1"), mm, &big);
        let h = base.sealed.len() - (padded_len(big.len() as u64).unwrap() as usize + 2 * 16 + 24);
        let mut s = base.sealed.clone();
        s[h + S + 10] ^= 0x20;
        cases.push(bad(
            base,
            "One bit of chunk 1 flipped: chunk 0 may have been released.",
            s,
            "decrypt",
        ));
        let base = honest(tag("fail_bit_flip_end_chunk"), mm, &big);
        let mut s = base.sealed.clone();
        let n = s.len();
        s[n - 20] ^= 0x01;
        cases.push(bad(base, "One bit of the end chunk flipped.", s, "decrypt"));
        let base = honest(tag("fail_end_chunk_cut"), mm, &big);
        let s = base.sealed[..base.sealed.len() - 1].to_vec();
        let expected = if declared {
            "truncated"
        } else {
            "invalid_payload"
        };
        cases.push(bad(base, "The last byte is missing. With a declared length the layout is fixed: truncated. Without, the size is not one an encryptor writes: invalid_payload.", s, expected));
        let base = honest(tag("fail_cut_at_chunk_boundary"), mm, &big);
        let s = base.sealed[..h + S].to_vec();
        cases.push(bad(
            base,
            "Cut after chunk 0 (a chunk boundary).",
            s,
            expected,
        ));
        let base = honest(tag("fail_trailing_byte"), mm, &big);
        let mut s = base.sealed.clone();
        s.push(0);
        let expected = if declared {
            "decrypt"
        } else {
            "invalid_payload"
        };
        cases.push(bad(
            base,
            "One zero byte after the end chunk (trailing data).",
            s,
            expected,
        ));
        let base = honest(tag("fail_chunks_swapped"), mm, &big);
        let n = base.sealed.len();
        let mut s = base.sealed[..h].to_vec();
        s.extend_from_slice(&base.sealed[h + S..n - 24]);
        s.extend_from_slice(&base.sealed[h..h + S]);
        s.extend_from_slice(&base.sealed[n - 24..]);
        cases.push(bad(
            base,
            "Chunks 0 and 1 swapped (the short chunk 1 first).",
            s,
            "decrypt",
        ));
    }
    let base = honest("fail_chunk_from_other_file", &mu, &big);
    let mut other_salt = base.salt;
    other_salt[0] ^= 1;
    let other =
        seal_parallel_with_salt(&FileKey::from_bytes(base.key), &mu, &big, 1, &other_salt).unwrap();
    let h = base.sealed.len() - (padded_len(big.len() as u64).unwrap() as usize + 2 * 16 + 24);
    let mut s = base.sealed.clone();
    let n = s.len();
    s[h + S..n - 24].copy_from_slice(&other[h + S..n - 24]);
    cases.push(bad(
        base,
        "Chunk 1 taken from a file with the same key and another salt.",
        s,
        "decrypt",
    ));

    // Payload rules (files only a key holder can make).
    let pm = meta("k.bin", Some(300));
    let pu = meta("k.bin", None);
    let data = pattern(300, 10);
    for (mm, suffix) in [(&pm, "declared"), (&pu, "undeclared")] {
        let name: &'static str =
            Box::leak(format!("fail_padding_nonzero_{suffix}").into_boxed_str());
        let (key, salt) = keys(name);
        let mut chunks = honest_chunks(&data);
        chunks[0].0[302] = 1;
        let s = assemble(&key, &key, &salt, &RawMeta::of(mm), &chunks, V2);
        cases.push(bad(
            honest(name, mm, &data),
            "A padding byte after the data is 0x01.",
            s,
            "invalid_payload",
        ));
        let name: &'static str =
            Box::leak(format!("fail_end_length_mismatch_{suffix}").into_boxed_str());
        let (key, salt) = keys(name);
        let mut chunks = honest_chunks(&data);
        let last = chunks.len() - 1;
        let (claimed, desc) = if mm.length.is_some() {
            (
                301u64,
                "The end chunk says 301, the metadata declares 300 (same padded size).",
            )
        } else {
            (
                1000u64,
                "The end chunk says 1000 for a payload padded to 304 (Padmé of 1000 is 1024).",
            )
        };
        chunks[last].0 = claimed.to_be_bytes().to_vec();
        let s = assemble(&key, &key, &salt, &RawMeta::of(mm), &chunks, V2);
        cases.push(bad(honest(name, mm, &data), desc, s, "invalid_payload"));
        let name: &'static str =
            Box::leak(format!("fail_data_chunk_sealed_as_padding_{suffix}").into_boxed_str());
        let (key, salt) = keys(name);
        let mut chunks = honest_chunks(&data);
        chunks[0].1 = 2;
        let s = assemble(&key, &key, &salt, &RawMeta::of(mm), &chunks, V2);
        cases.push(bad(
            honest(name, mm, &data),
            "Chunk 0 sealed with the padding kind 0x02.",
            s,
            "decrypt",
        ));
        let name: &'static str =
            Box::leak(format!("fail_end_chunk_data_kind_{suffix}").into_boxed_str());
        let (key, salt) = keys(name);
        let mut chunks = honest_chunks(&data);
        let last = chunks.len() - 1;
        chunks[last].1 = 0;
        let s = assemble(&key, &key, &salt, &RawMeta::of(mm), &chunks, V2);
        cases.push(bad(
            honest(name, mm, &data),
            "The end chunk sealed with the data kind 0x00.",
            s,
            "decrypt",
        ));
    }
    let name = "fail_not_padme_size";
    let (key, salt) = keys(name);
    let mut chunks = honest_chunks(&data);
    chunks[0].0.truncate(300);
    let s = assemble(&key, &key, &salt, &RawMeta::of(&pu), &chunks, V2);
    cases.push(bad(
        honest(name, &pu, &data),
        "Undeclared length, no padding: 300 data bytes, and 300 is not a Padmé size.",
        s,
        "invalid_payload",
    ));
    let name = "fail_declared_longer_than_payload";
    let (key, salt) = keys(name);
    let s = assemble(
        &key,
        &key,
        &salt,
        &RawMeta::of(&meta("d.bin", Some(70_000))),
        &honest_chunks(&pattern(300, 11)),
        V2,
    );
    cases.push(bad(
        honest(name, &pm, &data),
        "Metadata declares 70000 bytes; the payload is laid out for 300.",
        s,
        "truncated",
    ));
    let name = "fail_declared_shorter_than_payload";
    let (key, salt) = keys(name);
    let s = assemble(
        &key,
        &key,
        &salt,
        &RawMeta::of(&meta("d.bin", Some(10))),
        &honest_chunks(&pattern(70_000, 12)),
        V2,
    );
    cases.push(bad(honest(name, &pm, &data), "Metadata declares 10 bytes; the payload is laid out for 70000 (trailing data after the declared layout).", s, "decrypt"));

    let mut seen = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(
            seen.insert((case.key, case.salt)),
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
                "version": 2,
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
                "version": 2,
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
        "wrote {} version 2 vectors to {}",
        cases.len(),
        dir.display()
    );
}
