//! Replays every committed fuzz input on stable: each file under `fuzz/corpus/<target>/`
//! (seeds, inputs the fuzzer found, and regression inputs of fixed crashes, named
//! `regression-*`) goes through the same target body libFuzzer runs, whose assertions are the
//! target's invariants (see each module of `sealroom-fuzz-targets`). The built-in seeds run
//! too, so a target whose corpus directory is missing still gets exercised.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
}

/// Runs every committed input of `target`; returns how many ran.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let result = std::panic::catch_unwind(|| body(&data));
        assert!(
            result.is_ok(),
            "{target}: input {} violates an invariant (see the panic above)",
            file.display()
        );
    }
    files.len()
}

fn target(name: &str) -> fn(&[u8]) {
    sealroom_fuzz_targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap()
}

fn replay_with_seeds(name: &str) {
    let body = target(name);
    let ran = replay(name, body);
    assert!(ran > 0, "{name}: the committed corpus is empty");
    let seeds: Vec<_> = sealroom_fuzz_targets::seeds()
        .into_iter()
        .filter(|(t, _, _)| *t == name)
        .collect();
    assert!(!seeds.is_empty(), "{name}: no built-in seeds");
    for (_, seed, data) in seeds {
        let result = std::panic::catch_unwind(|| body(&data));
        assert!(
            result.is_ok(),
            "{name}: built-in seed {seed} violates an invariant"
        );
    }
}

#[test]
fn sealed_file_corpus() {
    replay_with_seeds("sealed_file");
}

#[test]
fn wire_decode_corpus() {
    replay_with_seeds("wire_decode");
}

#[test]
fn mls_incoming_corpus() {
    replay_with_seeds("mls_incoming");
}

#[test]
fn relay_request_corpus() {
    replay_with_seeds("relay_request");
}

#[test]
fn client_response_corpus() {
    replay_with_seeds("client_response");
}

/// The seeds really reach deep: a valid sealed file opens, the recorded relay responses let
/// the customer sync and download, signed SDK requests are answered 2xx by the relay.
#[test]
fn seeds_exercise_the_happy_paths() {
    use sealroom_core::format::{open, FileKey};
    for (_, plaintext, sealed) in sealroom_fuzz_targets::sealed::originals() {
        let (_, opened) = open(
            &FileKey::from_bytes(sealroom_fuzz_targets::sealed::KEY),
            sealed,
        )
        .unwrap();
        assert_eq!(&opened, plaintext);
    }
    let w = sealroom_fuzz_targets::world::world();
    assert!(
        w.client_responses.iter().all(|r| r.status < 300),
        "the recorded client script met an error status"
    );
    assert!(w.client_responses.len() >= 5);
    assert!(sealroom_fuzz_targets::world::world()
        .ids
        .get("room")
        .is_some_and(|r| !r.is_empty()));
}
