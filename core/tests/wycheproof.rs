//! Wycheproof test vectors against the primitive code paths core uses
//! (`sealroom_core::primitives`): ChaCha20-Poly1305, X25519 (rejecting all-zero shared
//! secrets), strict Ed25519 verification and HKDF-SHA256.
//!
//! The vectors are read from `../shared/vectors/wycheproof/` beside the checkout. If that
//! folder is absent the tests print a skip message and pass without checking anything
//! (CONVENTIONS: external material beside the checkout, a clear skip where absent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use sealroom_core::primitives::{
    ed25519_verify, hkdf_sha256, Aead, PrimitiveError, SecretKey, X25519Secret,
};
use serde_json::Value;

fn load(file: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/vectors/wycheproof")
        .join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(e) => {
            let why = format!("Wycheproof file {} not readable: {e}", path.display());
            // External material beside the checkout (CONVENTIONS): a clear skip where absent.
            println!("SKIP: {why}");
            None
        }
    }
}

fn hex_of(test: &Value, field: &str) -> Vec<u8> {
    hex::decode(test[field].as_str().unwrap()).unwrap()
}

/// Iterates over every test case; returns (cases seen, numberOfTests declared).
fn for_each_test(suite: &Value, mut f: impl FnMut(&Value, &Value)) -> (u64, u64) {
    let mut seen = 0;
    for group in suite["testGroups"].as_array().unwrap() {
        for test in group["tests"].as_array().unwrap() {
            f(group, test);
            seen += 1;
        }
    }
    (seen, suite["numberOfTests"].as_u64().unwrap())
}

#[derive(Default, Debug)]
struct Counts {
    valid: u64,
    invalid: u64,
    acceptable: u64,
}

impl Counts {
    fn add(&mut self, result: &str) {
        match result {
            "valid" => self.valid += 1,
            "invalid" => self.invalid += 1,
            "acceptable" => self.acceptable += 1,
            other => panic!("unknown result {other}"),
        }
    }
    fn total(&self) -> u64 {
        self.valid + self.invalid + self.acceptable
    }
}

#[test]
fn chacha20_poly1305() {
    let Some(suite) = load("chacha20_poly1305_test.json") else {
        return;
    };
    let mut counts = Counts::default();
    let (seen, declared) = for_each_test(&suite, |_, t| {
        let id = t["tcId"].as_u64().unwrap();
        let result = t["result"].as_str().unwrap();
        let key: [u8; 32] = hex_of(t, "key").try_into().unwrap();
        let (iv, aad, msg) = (hex_of(t, "iv"), hex_of(t, "aad"), hex_of(t, "msg"));
        let mut sealed = hex_of(t, "ct");
        sealed.extend(hex_of(t, "tag"));
        let aead = Aead::new(&SecretKey::from_bytes(key));
        match <[u8; 12]>::try_from(iv.as_slice()) {
            // Our API only takes 96-bit nonces: other sizes cannot reach the cipher.
            Err(_) => assert_eq!(
                result, "invalid",
                "tc {id}: non-96-bit nonce must be invalid"
            ),
            Ok(nonce) => match result {
                "valid" => {
                    assert_eq!(
                        aead.seal(&nonce, &aad, &msg).unwrap(),
                        sealed,
                        "tc {id} seal"
                    );
                    assert_eq!(
                        aead.open(&nonce, &aad, &sealed).unwrap(),
                        msg,
                        "tc {id} open"
                    );
                    // The in-place path (used by the file format) agrees.
                    let mut buf = msg.clone();
                    let tag = aead.seal_in_place(&nonce, &aad, &mut buf).unwrap();
                    assert_eq!([buf.as_slice(), &tag].concat(), sealed, "tc {id} in place");
                    let (ct, tag) = sealed.split_at(sealed.len() - 16);
                    let mut buf = ct.to_vec();
                    aead.open_in_place(&nonce, &aad, &mut buf, tag.try_into().unwrap())
                        .unwrap();
                    assert_eq!(buf, msg, "tc {id} open in place");
                }
                _ => assert_eq!(
                    aead.open(&nonce, &aad, &sealed),
                    Err(PrimitiveError::Decrypt),
                    "tc {id}: invalid ciphertext accepted"
                ),
            },
        }
        counts.add(result);
    });
    println!("chacha20_poly1305: {counts:?}");
    assert_eq!(seen, declared, "every case checked");
    assert_eq!(counts.total(), declared);
}

#[test]
fn x25519() {
    let Some(suite) = load("x25519_test.json") else {
        return;
    };
    let mut counts = Counts::default();
    let mut zero_rejected = 0;
    let (seen, declared) = for_each_test(&suite, |group, t| {
        assert_eq!(group["curve"], "curve25519");
        let id = t["tcId"].as_u64().unwrap();
        let result = t["result"].as_str().unwrap();
        let secret = X25519Secret::from_bytes(hex_of(t, "private").try_into().unwrap());
        let public: [u8; 32] = hex_of(t, "public").try_into().unwrap();
        let shared = hex_of(t, "shared");
        let got = secret.diffie_hellman(&public);
        if shared.iter().all(|b| *b == 0) {
            // Wycheproof marks these "acceptable"; core MUST reject them.
            assert!(
                matches!(got, Err(PrimitiveError::NonContributory)),
                "tc {id}: zero secret accepted"
            );
            zero_rejected += 1;
        } else {
            match result {
                // Valid and acceptable (twist points, non-canonical encodings) must compute the
                // RFC 7748 result.
                "valid" | "acceptable" => {
                    let got = got.unwrap_or_else(|e| panic!("tc {id}: {e:?}"));
                    assert_eq!(got.expose_bytes().as_slice(), shared.as_slice(), "tc {id}");
                }
                _ => assert!(got.is_err(), "tc {id}: invalid accepted"),
            }
        }
        counts.add(result);
    });
    println!("x25519: {counts:?}, all-zero shared secrets rejected: {zero_rejected}");
    assert_eq!(seen, declared, "every case checked");
    assert!(zero_rejected > 0, "the suite exercises the all-zero check");
}

#[test]
fn ed25519_strict() {
    let Some(suite) = load("ed25519_test.json") else {
        return;
    };
    let mut counts = Counts::default();
    let (seen, declared) = for_each_test(&suite, |group, t| {
        let id = t["tcId"].as_u64().unwrap();
        let result = t["result"].as_str().unwrap();
        let public: [u8; 32] = hex::decode(group["publicKey"]["pk"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let verdict = ed25519_verify(&public, &hex_of(t, "msg"), &hex_of(t, "sig"));
        match result {
            "valid" => assert_eq!(verdict, Ok(()), "tc {id}: valid signature rejected"),
            "invalid" => assert_eq!(verdict, Err(PrimitiveError::BadSignature), "tc {id}"),
            // Strict verification may reject what Wycheproof only tolerates.
            _ => {}
        }
        counts.add(result);
    });
    println!("ed25519: {counts:?}");
    assert_eq!(seen, declared, "every case checked");
}

#[test]
fn hkdf_sha256_suite() {
    let Some(suite) = load("hkdf_sha256_test.json") else {
        return;
    };
    let mut counts = Counts::default();
    let (seen, declared) = for_each_test(&suite, |_, t| {
        let id = t["tcId"].as_u64().unwrap();
        let result = t["result"].as_str().unwrap();
        let size = usize::try_from(t["size"].as_u64().unwrap()).unwrap();
        let mut okm = vec![0u8; size];
        let got = hkdf_sha256(
            &hex_of(t, "salt"),
            &hex_of(t, "ikm"),
            &hex_of(t, "info"),
            &mut okm,
        );
        match result {
            "valid" => {
                got.unwrap();
                assert_eq!(okm, hex_of(t, "okm"), "tc {id}");
            }
            _ => assert_eq!(got, Err(PrimitiveError::InvalidLength), "tc {id}: accepted"),
        }
        counts.add(result);
    });
    println!("hkdf_sha256: {counts:?}");
    assert_eq!(seen, declared, "every case checked");
}
