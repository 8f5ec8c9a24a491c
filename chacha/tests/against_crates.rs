//! `sealroom_chacha` (natively: the four-lane algorithm on plain arrays, the same code path as
//! WASM `simd128` but for the lane type) against the `chacha20` and `chacha20poly1305` crates and
//! Wycheproof: equal keystreams for random keys, nonces, lengths and counters (including the end
//! of the 32-bit block counter), equal AEAD output, tamper refusal, and every 96-bit-nonce
//! ChaCha20-Poly1305 Wycheproof case with its expected result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use proptest::prelude::*;
use sealroom_chacha::{chacha20_xor, ChaCha20Poly1305, Error};
use serde_json::Value;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn keystream_equals_the_crate(
        key in prop::array::uniform32(any::<u8>()),
        nonce in prop::array::uniform12(any::<u8>()),
        data in prop::collection::vec(any::<u8>(), 0..1500),
        counter in prop_oneof![0u32..10_000, (u32::MAX - 40)..=u32::MAX],
    ) {
        let mut ours = data.clone();
        let result = chacha20_xor(&key, &nonce, counter, &mut ours);
        let blocks = (data.len() as u64).div_ceil(64);
        let past_the_end = blocks > 0 && u64::from(counter) + blocks - 1 > u64::from(u32::MAX);
        if past_the_end {
            prop_assert_eq!(result, Err(Error::TooLong));
            prop_assert_eq!(&ours, &data, "untouched on refusal");
        } else {
            prop_assert!(result.is_ok());
        }
        // The crate never produces block 2^32 − 1 (it stops one block before its counter would
        // wrap); RFC 8439 allows it. Compare everything the crate does produce.
        let comparable = if past_the_end {
            0
        } else if blocks > 0 && u64::from(counter) + blocks - 1 == u64::from(u32::MAX) {
            (blocks as usize - 1) * 64
        } else {
            data.len()
        };
        let mut theirs = data[..comparable].to_vec();
        let mut c = chacha20::ChaCha20::new(&key.into(), &nonce.into());
        if comparable > 0 {
            c.seek(u64::from(counter) * 64);
            c.apply_keystream(&mut theirs);
        }
        prop_assert_eq!(&ours[..comparable], &theirs[..]);
    }

    #[test]
    fn aead_equals_the_crate(
        key in prop::array::uniform32(any::<u8>()),
        nonce in prop::array::uniform12(any::<u8>()),
        msg in prop::collection::vec(any::<u8>(), 0..3000),
        aad in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let ours = ChaCha20Poly1305::new(&key);
        let theirs = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let mut a = msg.clone();
        let tag = ours.encrypt_in_place_detached(&nonce, &aad, &mut a).unwrap();
        let mut b = msg.clone();
        let their_tag = theirs.encrypt_in_place_detached(&nonce.into(), &aad, &mut b).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&tag[..], &their_tag[..]);
        ours.decrypt_in_place_detached(&nonce, &aad, &mut a, &tag).unwrap();
        prop_assert_eq!(a, msg);
    }

    #[test]
    fn any_flipped_bit_is_refused_and_leaves_the_ciphertext(
        key in prop::array::uniform32(any::<u8>()),
        msg in prop::collection::vec(any::<u8>(), 1..600),
        aad in prop::collection::vec(any::<u8>(), 0..20),
        which in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let aead = ChaCha20Poly1305::new(&key);
        let nonce = [5u8; 12];
        let mut ct = msg.clone();
        let mut tag = aead.encrypt_in_place_detached(&nonce, &aad, &mut ct).unwrap();
        let mut bad = ct.clone();
        let i = which.index(ct.len() + 16);
        if i < ct.len() { bad[i] ^= 1 << bit } else { tag[i - ct.len()] ^= 1 << bit }
        let before = bad.clone();
        prop_assert_eq!(aead.decrypt_in_place_detached(&nonce, &aad, &mut bad, &tag), Err(Error::Tag));
        prop_assert_eq!(bad, before);
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

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let Some(suite) = wycheproof() else { return };
    let h = |t: &Value, f: &str| unhex(t[f].as_str().unwrap());
    let (mut valid, mut invalid) = (0, 0);
    for group in suite["testGroups"].as_array().unwrap() {
        if group["ivSize"].as_u64() != Some(96) || group["keySize"].as_u64() != Some(256) {
            continue;
        }
        for t in group["tests"].as_array().unwrap() {
            let key: [u8; 32] = h(t, "key").try_into().unwrap();
            let nonce: [u8; 12] = h(t, "iv").try_into().unwrap();
            let aad = h(t, "aad");
            let msg = h(t, "msg");
            let ct = h(t, "ct");
            let tag = h(t, "tag");
            let aead = ChaCha20Poly1305::new(&key);
            let mut opened = ct.clone();
            let result = match <[u8; 16]>::try_from(tag.as_slice()) {
                Ok(tag) => aead.decrypt_in_place_detached(&nonce, &aad, &mut opened, &tag),
                Err(_) => Err(Error::Tag),
            };
            match t["result"].as_str().unwrap() {
                "valid" => {
                    result.unwrap_or_else(|e| panic!("tcId {}: {e}", t["tcId"]));
                    assert_eq!(opened, msg, "tcId {}", t["tcId"]);
                    let mut sealed = msg.clone();
                    let our_tag = aead
                        .encrypt_in_place_detached(&nonce, &aad, &mut sealed)
                        .unwrap();
                    assert_eq!(sealed, ct, "tcId {}", t["tcId"]);
                    assert_eq!(&our_tag[..], &tag[..], "tcId {}", t["tcId"]);
                    valid += 1;
                }
                _ => {
                    assert!(result.is_err(), "tcId {} must not open", t["tcId"]);
                    assert_eq!(
                        opened, ct,
                        "tcId {}: refused input left as it was",
                        t["tcId"]
                    );
                    invalid += 1;
                }
            }
        }
    }
    println!("wycheproof chacha20-poly1305 (sealroom-chacha): {valid} valid, {invalid} invalid");
    assert!(valid > 100 && invalid > 50, "{valid} / {invalid}");
}

#[test]
fn the_last_block_counter_matches_the_crate_up_to_where_the_crate_stops() {
    let (key, nonce) = ([9u8; 32], [3u8; 12]);
    // The crate's keystream for blocks 2^32 − 5 ..= 2^32 − 2 against ours (which also covers
    // block 2^32 − 1, the RFC's last).
    let mut theirs = vec![0u8; 4 * 64];
    let mut c = chacha20::ChaCha20::new(&key.into(), &nonce.into());
    c.seek(64 * (u64::from(u32::MAX) - 4));
    c.apply_keystream(&mut theirs);
    let mut ours = vec![0u8; 5 * 64];
    chacha20_xor(&key, &nonce, u32::MAX - 4, &mut ours).unwrap();
    assert_eq!(&ours[..4 * 64], &theirs[..]);
    // One byte more is refused and leaves the buffer alone.
    let mut over = vec![0u8; 5 * 64 + 1];
    assert_eq!(
        chacha20_xor(&key, &nonce, u32::MAX - 4, &mut over),
        Err(Error::TooLong)
    );
    assert!(over.iter().all(|b| *b == 0));
}
