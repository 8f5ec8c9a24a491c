//! Test-only: `sealroom-chacha`'s checks compiled into a WebAssembly module, so that they run on
//! the code browsers run (the `simd128` lanes), not only on the native plain-array lanes.
//!
//! `scripts/build-wasm.sh` builds this crate with the same target, profile and `RUSTFLAGS`
//! (`+simd128`) as the SDK's module; `tests/node/chacha-wasm.test.mjs` loads it in Node and calls
//! each export, which returns a summary or throws a message naming the first mismatch:
//!
//! - [`lanes`]: which lane type the module's ChaCha20 was compiled with (`"wasm32-simd128"`);
//! - [`rfc8439`]: the RFC 8439 examples (§2.4.2, §2.8.2, A.2 #1, A.5), byte for byte;
//! - [`wycheproof`]: every 96-bit-nonce, 256-bit-key Wycheproof ChaCha20-Poly1305 case;
//! - [`equality`]: seeded random property tests against the `chacha20` and `chacha20poly1305`
//!   crates compiled into the same module (keystream at random counters including the end of
//!   the 32-bit counter, AEAD output, and refusal of every flipped bit).
//!
//! Natively the same functions run as this crate's unit tests (on the portable lanes).

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use sealroom_chacha::{chacha20_xor, ChaCha20Poly1305, Error};
use serde_json::Value;
use wasm_bindgen::prelude::wasm_bindgen;

/// The lane type the module's ChaCha20 runs on (`sealroom_chacha::LANES`).
#[wasm_bindgen]
pub fn lanes() -> String {
    sealroom_chacha::LANES.into()
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex length: {s}"));
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn array<const N: usize>(v: &[u8]) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("want {N} bytes, got {}", v.len()))
}

const SUNSCREEN: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

/// The RFC 8439 examples, compared in full. Returns how many were checked.
#[wasm_bindgen]
pub fn rfc8439() -> Result<u32, String> {
    // §2.4.2: ChaCha20 encryption, counter 1.
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
    let mut buf = SUNSCREEN.to_vec();
    chacha20_xor(&key, &nonce, 1, &mut buf).map_err(|e| e.to_string())?;
    let want = unhex(concat!(
        "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b",
        "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8",
        "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736",
        "5af90bbf74a35be6b40b8eedf2785e42874d",
    ))?;
    ensure(buf == want, || "§2.4.2 ciphertext differs".into())?;

    // §2.8.2: the AEAD example.
    let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
    let nonce = [
        0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
    ];
    let aad = unhex("50515253c0c1c2c3c4c5c6c7")?;
    let mut buf = SUNSCREEN.to_vec();
    let aead = ChaCha20Poly1305::new(&key);
    let tag = aead
        .encrypt_in_place_detached(&nonce, &aad, &mut buf)
        .map_err(|e| e.to_string())?;
    let want = unhex(concat!(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6",
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36",
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc",
        "3ff4def08e4b7a9de576d26586cec64b6116",
    ))?;
    ensure(buf == want, || "§2.8.2 ciphertext differs".into())?;
    ensure(
        tag.to_vec() == unhex("1ae10b594f09e26a7e902ecbd0600691")?,
        || "§2.8.2 tag differs".into(),
    )?;
    aead.decrypt_in_place_detached(&nonce, &aad, &mut buf, &tag)
        .map_err(|e| format!("§2.8.2 does not open: {e}"))?;
    ensure(buf == SUNSCREEN, || "§2.8.2 does not round-trip".into())?;

    // A.2 test vector #1: all-zero key and nonce, counter 0, 64 zero bytes.
    let mut buf = [0u8; 64];
    chacha20_xor(&[0; 32], &[0; 12], 0, &mut buf).map_err(|e| e.to_string())?;
    let want = unhex(concat!(
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7",
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586",
    ))?;
    ensure(buf.to_vec() == want, || "A.2 #1 keystream differs".into())?;

    // A.5: AEAD decryption.
    let key = array::<32>(&unhex(
        "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
    )?)?;
    let nonce = array::<12>(&unhex("000000000102030405060708")?)?;
    let aad = unhex("f33388860000000000004e91")?;
    let mut ct = unhex(concat!(
        "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2",
        "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf",
        "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855",
        "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4",
        "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e",
        "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a",
        "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10",
        "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29",
        "a6ad5cb4022b02709b",
    ))?;
    let tag = array::<16>(&unhex("eead9d67890cbb22392336fea1851f38")?)?;
    ChaCha20Poly1305::new(&key)
        .decrypt_in_place_detached(&nonce, &aad, &mut ct, &tag)
        .map_err(|e| format!("A.5 does not open: {e}"))?;
    let text = String::from_utf8(ct).map_err(|_| "A.5 plaintext is not UTF-8".to_string())?;
    ensure(
        text.starts_with("Internet-Drafts are draft documents valid for a maximum of six months")
            && text.ends_with("/\u{201c}work in progress./\u{201d}"),
        || format!("A.5 plaintext differs: {text}"),
    )?;
    Ok(4)
}

/// Every 96-bit-nonce, 256-bit-key case of Wycheproof's `chacha20_poly1305_test.json` (its
/// text): valid cases open to `msg` and seal to `ct` and `tag`; invalid ones are refused and
/// leave the ciphertext as it was. Returns `"<valid> valid, <invalid> invalid"`.
#[wasm_bindgen]
pub fn wycheproof(json: &str) -> Result<String, String> {
    let suite: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let field = |t: &Value, f: &str| unhex(t[f].as_str().unwrap_or("?"));
    let (mut valid, mut invalid) = (0u32, 0u32);
    let groups = suite["testGroups"]
        .as_array()
        .ok_or_else(|| "no testGroups".to_string())?;
    for group in groups {
        if group["ivSize"].as_u64() != Some(96) || group["keySize"].as_u64() != Some(256) {
            continue;
        }
        for t in group["tests"].as_array().into_iter().flatten() {
            let id = &t["tcId"];
            let key = array::<32>(&field(t, "key")?)?;
            let nonce = array::<12>(&field(t, "iv")?)?;
            let (aad, msg, ct, tag) = (
                field(t, "aad")?,
                field(t, "msg")?,
                field(t, "ct")?,
                field(t, "tag")?,
            );
            let aead = ChaCha20Poly1305::new(&key);
            let mut opened = ct.clone();
            let result = match <[u8; 16]>::try_from(tag.as_slice()) {
                Ok(tag) => aead.decrypt_in_place_detached(&nonce, &aad, &mut opened, &tag),
                Err(_) => Err(Error::Tag),
            };
            if t["result"].as_str() == Some("valid") {
                result.map_err(|e| format!("tcId {id}: {e}"))?;
                ensure(opened == msg, || format!("tcId {id}: plaintext differs"))?;
                let mut sealed = msg.clone();
                let ours = aead
                    .encrypt_in_place_detached(&nonce, &aad, &mut sealed)
                    .map_err(|e| format!("tcId {id}: {e}"))?;
                ensure(sealed == ct && ours[..] == tag[..], || {
                    format!("tcId {id}: sealed output differs")
                })?;
                valid += 1;
            } else {
                ensure(result.is_err(), || format!("tcId {id}: must not open"))?;
                ensure(opened == ct, || format!("tcId {id}: refused input changed"))?;
                invalid += 1;
            }
        }
    }
    ensure(valid > 100 && invalid > 50, || {
        format!("too few cases: {valid} valid, {invalid} invalid")
    })?;
    Ok(format!("{valid} valid, {invalid} invalid"))
}

/// SplitMix64: a small deterministic generator, so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.next() as u8)
    }
    fn vec(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    /// A length around the four-block (256-byte) and one-block boundaries, or anywhere below
    /// `max`.
    fn length(&mut self, max: u64) -> usize {
        match self.below(3) {
            0 => (256 * self.below(6) + 64 * self.below(4)) as usize + self.below(3) as usize,
            1 => (256 * self.below(6)) as usize,
            _ => self.below(max) as usize,
        }
    }
}

/// `cases` random cases from `seed`: the keystream equals the `chacha20` crate's (random key,
/// nonce, length up to 1500 and counter, half of them within 40 blocks of the counter's end),
/// the AEAD equals the `chacha20poly1305` crate's (ciphertext, tag, and opening the crate's
/// output), and a random flipped bit of ciphertext, tag or associated data is refused with the
/// buffer left as it was. Returns the number of cases run.
#[wasm_bindgen]
pub fn equality(seed: u32, cases: u32) -> Result<u32, String> {
    let mut rng = Rng(u64::from(seed));
    for case in 0..cases {
        let at = |what: &str| format!("seed {seed} case {case}: {what}");
        // Keystream against the chacha20 crate.
        let key: [u8; 32] = rng.bytes();
        let nonce: [u8; 12] = rng.bytes();
        let data = {
            let len = rng.length(1500);
            rng.vec(len)
        };
        let counter = if rng.below(2) == 0 {
            rng.below(10_000) as u32
        } else {
            u32::MAX - rng.below(41) as u32
        };
        let mut ours = data.clone();
        let result = chacha20_xor(&key, &nonce, counter, &mut ours);
        let blocks = (data.len() as u64).div_ceil(64);
        let past_the_end = blocks > 0 && u64::from(counter) + blocks - 1 > u64::from(u32::MAX);
        if past_the_end {
            ensure(result == Err(Error::TooLong), || {
                at("not refused past the counter")
            })?;
            ensure(ours == data, || at("changed on refusal"))?;
        } else {
            ensure(result.is_ok(), || at("refused within the counter"))?;
        }
        // The crate stops one block before its counter wraps; compare what it produces.
        let comparable = if past_the_end {
            0
        } else if blocks > 0 && u64::from(counter) + blocks - 1 == u64::from(u32::MAX) {
            (blocks as usize - 1) * 64
        } else {
            data.len()
        };
        if comparable > 0 {
            let mut theirs = data[..comparable].to_vec();
            let mut c = chacha20::ChaCha20::new(&key.into(), &nonce.into());
            c.seek(u64::from(counter) * 64);
            c.apply_keystream(&mut theirs);
            ensure(ours[..comparable] == theirs[..], || {
                at(&format!(
                    "keystream differs (len {}, counter {counter})",
                    data.len()
                ))
            })?;
        }

        // AEAD against the chacha20poly1305 crate.
        let msg = {
            let len = rng.length(3000);
            rng.vec(len)
        };
        let aad = {
            let len = rng.below(40) as usize;
            rng.vec(len)
        };
        let aead = ChaCha20Poly1305::new(&key);
        let mut ours = msg.clone();
        let tag = aead
            .encrypt_in_place_detached(&nonce, &aad, &mut ours)
            .map_err(|e| at(&e.to_string()))?;
        let reference = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let mut theirs = msg.clone();
        let their_tag = reference
            .encrypt_in_place_detached(&nonce.into(), &aad, &mut theirs)
            .map_err(|_| at("crate refused to seal"))?;
        ensure(ours == theirs && tag[..] == their_tag[..], || {
            at(&format!(
                "AEAD differs (len {}, aad {})",
                msg.len(),
                aad.len()
            ))
        })?;
        let mut opened = theirs.clone();
        aead.decrypt_in_place_detached(&nonce, &aad, &mut opened, &tag)
            .map_err(|e| at(&format!("crate's output does not open: {e}")))?;
        ensure(opened == msg, || at("round trip differs"))?;

        // One flipped bit anywhere is refused and leaves the buffer alone.
        let (mut ct, mut tag_bad, mut aad_bad) = (ours.clone(), tag, aad.clone());
        let total = ct.len() + 16 + aad_bad.len();
        let bit = rng.below(8 * total as u64) as usize;
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        if byte < ct.len() {
            ct[byte] ^= mask;
        } else if byte < ct.len() + 16 {
            tag_bad[byte - ct.len()] ^= mask;
        } else {
            aad_bad[byte - ct.len() - 16] ^= mask;
        }
        let before = ct.clone();
        ensure(
            aead.decrypt_in_place_detached(&nonce, &aad_bad, &mut ct, &tag_bad) == Err(Error::Tag),
            || at(&format!("flipped bit {bit} accepted")),
        )?;
        ensure(ct == before, || at("refused ciphertext changed"))?;
    }
    Ok(cases)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The same checks natively (portable lanes); the WASM run is tests/node/chacha-wasm.test.mjs.
    use super::*;

    #[test]
    fn rfc8439_examples() {
        assert_eq!(rfc8439().unwrap(), 4);
    }

    #[test]
    fn equality_with_the_crates() {
        assert_eq!(equality(1, 200).unwrap(), 200);
    }

    #[test]
    fn lanes_are_portable_natively() {
        assert_eq!(lanes(), "portable");
    }

    #[test]
    fn a_wrong_wycheproof_expectation_is_reported() {
        // The harness itself fails when a case disagrees: a valid case whose ct was altered.
        let json = r#"{"testGroups":[{"ivSize":96,"keySize":256,"tests":[{"tcId":1,
            "key":"0000000000000000000000000000000000000000000000000000000000000000",
            "iv":"000000000000000000000000","aad":"","msg":"00","ct":"00",
            "tag":"00000000000000000000000000000000","result":"valid"}]}]}"#;
        assert!(wycheproof(json).unwrap_err().starts_with("tcId 1"));
    }
}
