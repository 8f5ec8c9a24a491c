//! The four-block ChaCha20 of `sealroom_core::chacha` (the WASM `simd128` keystream; natively the
//! same algorithm on plain arrays) against the `chacha20` crate and the AEAD over it against
//! Wycheproof: equal keystreams for random keys, nonces, lengths, split points and seek positions
//! (including the end of the 32-bit block counter), and every ChaCha20-Poly1305 Wycheproof case
//! (96-bit nonces) with the expected result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use proptest::prelude::*;
use sealroom_core::chacha::{ChaCha20Poly1305x4, ChaCha20x4};
use serde_json::Value;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn keystream_equals_the_crate(
        key in prop::array::uniform32(any::<u8>()),
        nonce in prop::array::uniform12(any::<u8>()),
        data in prop::collection::vec(any::<u8>(), 0..1500),
        split in 0usize..1500,
        start in prop_oneof![0u64..10_000, Just(64 * (u64::from(u32::MAX) - 40))],
    ) {
        let mut ours = ChaCha20x4::new(&key.into(), &nonce.into());
        let mut theirs = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        ours.seek(start);
        theirs.seek(start);
        let mut a = data.clone();
        let mut b = data.clone();
        // Applied in two pieces on our side, one on theirs: buffering across calls must match.
        let split = split.min(a.len());
        let (a1, a2) = a.split_at_mut(split);
        ours.apply_keystream(a1);
        ours.apply_keystream(a2);
        theirs.apply_keystream(&mut b);
        prop_assert_eq!(a, b);
        prop_assert_eq!(ours.current_pos::<u64>(), theirs.current_pos::<u64>());
    }

    #[test]
    fn aead_equals_the_crate(
        key in prop::array::uniform32(any::<u8>()),
        nonce in prop::array::uniform12(any::<u8>()),
        msg in prop::collection::vec(any::<u8>(), 0..3000),
        aad in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let ours = ChaCha20Poly1305x4::new(&key.into());
        let theirs = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let sealed = ours.encrypt(&nonce.into(), Payload { msg: &msg, aad: &aad }).unwrap();
        prop_assert_eq!(
            &sealed,
            &theirs.encrypt(&nonce.into(), Payload { msg: &msg, aad: &aad }).unwrap()
        );
        prop_assert_eq!(
            ours.decrypt(&nonce.into(), Payload { msg: &sealed, aad: &aad }).unwrap(),
            msg
        );
    }
}

#[test]
fn the_end_of_the_block_counter_behaves_like_the_crate() {
    let key = [9u8; 32];
    let nonce = [3u8; 12];
    for (blocks_before_end, len) in [
        (1u64, 64usize),
        (1, 65),
        (3, 200),
        (4, 256),
        (4, 257),
        (0, 1),
    ] {
        let pos = 64 * (u64::from(u32::MAX) + 1 - blocks_before_end);
        let mut ours = ChaCha20x4::new(&key.into(), &nonce.into());
        let mut theirs = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        let seek_ours = ours.try_seek(pos).is_ok();
        let seek_theirs = theirs.try_seek(pos).is_ok();
        assert_eq!(
            seek_ours, seek_theirs,
            "seek to block end - {blocks_before_end}"
        );
        if !seek_ours {
            continue;
        }
        let mut a = vec![0u8; len];
        let mut b = vec![0u8; len];
        let ra = ours.try_apply_keystream(&mut a).is_ok();
        let rb = theirs.try_apply_keystream(&mut b).is_ok();
        assert_eq!(ra, rb, "{blocks_before_end} blocks left, {len} bytes");
        if ra {
            assert_eq!(a, b);
        }
    }
}

fn wycheproof() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors/wycheproof/chacha20_poly1305_test.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(_) => {
            println!("SKIP: {} not found", path.display());
            None
        }
    }
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let Some(suite) = wycheproof() else { return };
    let h = |t: &Value, f: &str| hex::decode(t[f].as_str().unwrap()).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in suite["testGroups"].as_array().unwrap() {
        if group["ivSize"].as_u64() != Some(96) || group["keySize"].as_u64() != Some(256) {
            continue;
        }
        for t in group["tests"].as_array().unwrap() {
            let key = h(t, "key");
            let nonce = h(t, "iv");
            let aad = h(t, "aad");
            let msg = h(t, "msg");
            let mut ct = h(t, "ct");
            ct.extend_from_slice(&h(t, "tag"));
            let cipher = ChaCha20Poly1305x4::new_from_slice(&key).unwrap();
            let opened = cipher.decrypt(
                nonce.as_slice().into(),
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            );
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(opened.unwrap(), msg, "tcId {}", t["tcId"]);
                    let sealed = cipher
                        .encrypt(
                            nonce.as_slice().into(),
                            Payload {
                                msg: &msg,
                                aad: &aad,
                            },
                        )
                        .unwrap();
                    assert_eq!(sealed, ct, "tcId {}", t["tcId"]);
                    valid += 1;
                }
                _ => {
                    assert!(opened.is_err(), "tcId {} must not open", t["tcId"]);
                    invalid += 1;
                }
            }
        }
    }
    println!("wycheproof chacha20-poly1305 (x4): {valid} valid, {invalid} invalid");
    assert!(valid > 100 && invalid > 50, "{valid} / {invalid}");
}
