//! Checks the content-digest vectors (`core/tests/vectors/content_digest/pieces.json` and
//! `sealed_pieces.json`, described in `docs/format.md`, "Content digest"; written by the
//! independent Python implementation `tests/python/content_digest.py`) against the SDK's
//! [`pieces_digest`] and [`sealed_pieces_digest`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealroom_core::client::{pieces_digest, sealed_pieces_digest, DIGEST_PIECE};
use serde_json::Value;

fn u64_of(value: &Value) -> u64 {
    value.as_str().unwrap().parse().unwrap()
}

/// Bytes `from..from + len` of the stream whose byte `i` is `i mod 251`.
fn pattern(from: u64, len: u64) -> Vec<u8> {
    (from..from + len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn piece_digest_vectors() {
    check(
        "pieces.json",
        "sha256-4mib-pieces",
        pieces_digest as fn(&[u8]) -> [u8; 32],
    );
}

#[test]
fn sealed_piece_digest_vectors() {
    check(
        "sealed_pieces.json",
        "sha256-4mib-sealed-pieces",
        sealed_pieces_digest,
    );
}

fn check(file: &str, kind: &str, digest: fn(&[u8]) -> [u8; 32]) {
    let path = format!(
        "{}/tests/vectors/content_digest/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(suite["kind"].as_str(), Some(kind));
    assert_eq!(u64_of(&suite["piece_size"]), DIGEST_PIECE as u64);
    let cases = suite["cases"].as_array().unwrap();
    let (mut ok, mut mismatch) = (0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut plaintext = Vec::new();
        for segment in case["plaintext"].as_array().unwrap() {
            plaintext.extend(pattern(
                u64_of(&segment["from"]),
                u64_of(&segment["length"]),
            ));
        }
        let got = hex::encode(digest(&plaintext));
        let same = got == case["announced"].as_str().unwrap();
        match case["expected"].as_str().unwrap() {
            "ok" => {
                assert!(same, "{name}: {got}");
                ok += 1;
            }
            "mismatch" => {
                assert!(!same, "{name}");
                mismatch += 1;
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
    assert!(ok >= 6 && mismatch >= 8, "{ok} ok, {mismatch} mismatch");
}
