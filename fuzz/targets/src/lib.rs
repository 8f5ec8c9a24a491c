//! Bodies of Sealroom's fuzz targets, shared by the cargo-fuzz binaries in `fuzz/` (nightly,
//! libFuzzer) and the stable corpus replay in `tests/corpus.rs`, so the same code and the same
//! invariants run in both.
//!
//! One function per target, each taking the raw fuzz input:
//! - [`sealed_file`]: the sealed-file decryptor ([`sealed`]);
//! - [`wire_decode`]: decoders of the wire types ([`wire`]);
//! - [`mls_incoming`]: MLS bytes from the network, client and relay side ([`mls`]);
//! - [`relay_request`]: requests through the relay's real routes ([`relay`]);
//! - [`client_response`]: the SDK client's processing of relay responses ([`client`]).
//!
//! A target reports a violated invariant by panicking: that is how libFuzzer and the test
//! harness see it, so this crate allows `unwrap`/`expect`/`panic!`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod client;
pub mod mls;
pub mod relay;
pub mod sealed;
pub mod wire;
pub mod world;

pub use client::client_response;
pub use mls::mls_incoming;
pub use relay::relay_request;
pub use sealed::sealed_file;
pub use wire::wire_decode;

/// The body of a target: takes the raw fuzz input, panics on a violated invariant.
pub type TargetFn = fn(&[u8]);

/// Names of the targets (directories under `fuzz/corpus/`), with their bodies.
pub const TARGETS: [(&str, TargetFn); 5] = [
    ("sealed_file", sealed_file),
    ("wire_decode", wire_decode),
    ("mls_incoming", mls_incoming),
    ("relay_request", relay_request),
    ("client_response", client_response),
];

/// Seed inputs built from valid encodings and real traffic: `(target, name, bytes)`. Written
/// to `fuzz/corpus/` by `cargo run -p sealroom-fuzz-targets --example seed_corpus`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (_, _, file)) in sealed::originals().iter().enumerate() {
        if file.len() < 4096 {
            let mut raw = vec![0u8];
            raw.extend_from_slice(file);
            out.push(("sealed_file", format!("valid-{i}"), raw));
        }
        out.push(("sealed_file", format!("structured-{i}"), vec![1, i as u8]));
        out.push((
            "sealed_file",
            format!("structured-{i}-flip-tag"),
            vec![3, i as u8, 0, 0xff, 0xf0, 1],
        ));
    }
    let w = world::world();
    let mut bodies: Vec<&[u8]> = Vec::new();
    for (i, (method, path, body)) in w.requests.iter().enumerate() {
        if let Some(input) = relay::encode(method, path, body) {
            out.push(("relay_request", format!("sdk-{i:02}"), input));
        }
        bodies.push(body);
    }
    out.push((
        "client_response",
        "sync-download-post".to_owned(),
        client::encode(&w.client_responses),
    ));
    bodies.extend(w.client_responses.iter().map(|r| r.body.as_slice()));
    // Each JSON body once for every decoder that accepts it (at most three per decoder).
    let mut per_decoder = vec![0usize; wire::DECODERS.len()];
    for (i, body) in bodies.iter().enumerate() {
        for (s, decode) in wire::DECODERS.iter().enumerate() {
            if per_decoder[s] < 3 && decode(body) {
                per_decoder[s] += 1;
                let mut input = vec![s as u8];
                input.extend_from_slice(body);
                out.push(("wire_decode", format!("body-{i:03}-decoder-{s:02}"), input));
            }
        }
    }
    let me = w.admin.identity();
    let texts: [Vec<u8>; 5] = [
        sealroom_wire::CredentialIdentity::new(&me.org_id, &me.user_id, &me.device_id)
            .map(|id| id.to_bytes())
            .unwrap_or_default(),
        b"file.uploaded".to_vec(),
        b"0123456789abcdef0123456789abcdef".to_vec(),
        b"ada@example.com".to_vec(),
        hex::encode([0xab; 64]).into_bytes(),
    ];
    for (i, text) in texts.iter().enumerate() {
        for (s, decode) in wire::DECODERS.iter().enumerate() {
            if decode(text) {
                let mut input = vec![s as u8];
                input.extend_from_slice(text);
                out.push(("wire_decode", format!("text-{i}-decoder-{s:02}"), input));
            }
        }
    }
    for (name, selector, bytes) in &mls::fixture().seeds {
        let mut input = vec![*selector];
        input.extend_from_slice(bytes);
        out.push(("mls_incoming", (*name).to_owned(), input));
    }
    out
}
