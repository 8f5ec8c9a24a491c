//! The SDK's one-ciphersuite openmls provider (`room::crypto::SuiteCrypto`) against
//! `openmls_rust_crypto` (the relay's provider), method by method on random inputs: equal
//! outputs for every deterministic function (HKDF, HMAC, SHA-256, ChaCha20-Poly1305, HPKE
//! DeriveKeyPair), and HPKE seal/open, HPKE export and Ed25519 signatures across the two in both
//! directions. Everything outside the suite, and malformed keys and ciphertexts, give errors,
//! never a panic. (The MLS working group's vectors run in `mls_vectors.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use openmls::prelude::{Ciphersuite, OpenMlsCrypto, OpenMlsProvider, OpenMlsRand};
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::types::{
    AeadType, CryptoError, HashType, HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType,
    HpkeKemType, SignatureScheme,
};
use proptest::prelude::*;
use sealroom_core::room::crypto::SuiteCrypto;

const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

fn config() -> HpkeConfig {
    SUITE.hpke_config()
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn deterministic_functions_equal_the_reference(
        salt in bytes(80), ikm in bytes(80), info in bytes(80), msg in bytes(300),
        len in 0usize..200, key in prop::array::uniform32(any::<u8>()),
        nonce in prop::array::uniform12(any::<u8>()), aad in bytes(40),
    ) {
        let ours = SuiteCrypto;
        let reference = OpenMlsRustCrypto::default();
        let theirs = reference.crypto();
        let h = HashType::Sha2_256;
        let prk = ours.hkdf_extract(h, &salt, &ikm).unwrap();
        let prk_ref = theirs.hkdf_extract(h, &salt, &ikm).unwrap();
        prop_assert_eq!(prk.as_slice(), prk_ref.as_slice());
        let okm = ours.hkdf_expand(h, prk.as_slice(), &info, len).unwrap();
        let okm_ref = theirs.hkdf_expand(h, prk.as_slice(), &info, len).unwrap();
        prop_assert_eq!(okm.as_slice(), okm_ref.as_slice());
        let mac = ours.hmac(h, &salt, &msg).unwrap();
        let mac_ref = theirs.hmac(h, &salt, &msg).unwrap();
        prop_assert_eq!(mac.as_slice(), mac_ref.as_slice());
        prop_assert_eq!(ours.hash(h, &msg).unwrap(), theirs.hash(h, &msg).unwrap());

        let a = AeadType::ChaCha20Poly1305;
        let sealed = ours.aead_encrypt(a, &key, &msg, &nonce, &aad).unwrap();
        prop_assert_eq!(&sealed, &theirs.aead_encrypt(a, &key, &msg, &nonce, &aad).unwrap());
        prop_assert_eq!(&theirs.aead_decrypt(a, &key, &sealed, &nonce, &aad).unwrap(), &msg);
        prop_assert_eq!(&ours.aead_decrypt(a, &key, &sealed, &nonce, &aad).unwrap(), &msg);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        prop_assert_eq!(
            ours.aead_decrypt(a, &key, &tampered, &nonce, &aad),
            Err(CryptoError::AeadDecryptionError)
        );
        prop_assert_eq!(
            ours.aead_decrypt(a, &key, &sealed[..15.min(sealed.len())], &nonce, &aad),
            Err(CryptoError::AeadDecryptionError)
        );

        // RFC 9180 DeriveKeyPair (leaf and path keys): identical key pairs.
        let ikm32: Vec<u8> = ikm.iter().chain(key.iter()).copied().collect();
        let kp = ours.derive_hpke_keypair(config(), &ikm32).unwrap();
        let kp_ref = theirs.derive_hpke_keypair(config(), &ikm32).unwrap();
        prop_assert_eq!(&kp.public, &kp_ref.public);
        prop_assert_eq!(&*kp.private, &*kp_ref.private);
    }

    #[test]
    fn hpke_and_signatures_interoperate_both_ways(
        ikm in prop::array::uniform32(any::<u8>()), info in bytes(60), aad in bytes(40),
        msg in bytes(400), ctx in bytes(40), export_len in 1usize..100,
    ) {
        let ours = SuiteCrypto;
        let reference = OpenMlsRustCrypto::default();
        let theirs = reference.crypto();
        let kp = ours.derive_hpke_keypair(config(), &ikm).unwrap();

        let ct = ours.hpke_seal(config(), &kp.public, &info, &aad, &msg).unwrap();
        prop_assert_eq!(&theirs.hpke_open(config(), &ct, &kp.private, &info, &aad).unwrap(), &msg);
        let ct = theirs.hpke_seal(config(), &kp.public, &info, &aad, &msg).unwrap();
        prop_assert_eq!(&ours.hpke_open(config(), &ct, &kp.private, &info, &aad).unwrap(), &msg);
        // Wrong info or a flipped ciphertext bit: a decryption error, not a panic.
        let mut wrong_info = info.clone();
        wrong_info.push(0);
        prop_assert_eq!(
            ours.hpke_open(config(), &ct, &kp.private, &wrong_info, &aad),
            Err(CryptoError::HpkeDecryptionError)
        );

        let (enc, secret) = ours
            .hpke_setup_sender_and_export(config(), &kp.public, &info, &ctx, export_len)
            .unwrap();
        let secret_ref = theirs
            .hpke_setup_receiver_and_export(config(), &enc, &kp.private, &info, &ctx, export_len)
            .unwrap();
        prop_assert_eq!(&secret[..], &secret_ref[..]);
        prop_assert_eq!(secret.len(), export_len);
        let (enc, secret_ref) = theirs
            .hpke_setup_sender_and_export(config(), &kp.public, &info, &ctx, export_len)
            .unwrap();
        let secret = ours
            .hpke_setup_receiver_and_export(config(), &enc, &kp.private, &info, &ctx, export_len)
            .unwrap();
        prop_assert_eq!(&secret[..], &secret_ref[..]);

        let s = SignatureScheme::ED25519;
        let (sk, pk) = ours.signature_key_gen(s).unwrap();
        let sig = ours.sign(s, &msg, &sk).unwrap();
        prop_assert!(theirs.verify_signature(s, &msg, &pk, &sig).is_ok());
        prop_assert!(ours.verify_signature(s, &msg, &pk, &sig).is_ok());
        let (sk_ref, pk_ref) = theirs.signature_key_gen(s).unwrap();
        let sig_ref = theirs.sign(s, &msg, &sk_ref).unwrap();
        prop_assert!(ours.verify_signature(s, &msg, &pk_ref, &sig_ref).is_ok());
        let mut bad = sig_ref.clone();
        bad[0] ^= 0x80;
        prop_assert_eq!(
            ours.verify_signature(s, &msg, &pk_ref, &bad),
            Err(CryptoError::InvalidSignature)
        );
    }
}

#[test]
fn only_the_sdk_suite_is_supported_and_everything_else_is_an_error() {
    let ours = SuiteCrypto;
    assert_eq!(ours.supported_ciphersuites(), vec![SUITE]);
    assert!(ours.supports(SUITE).is_ok());
    for other in [
        Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
        Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
        Ciphersuite::MLS_256_DHKEMP384_AES256GCM_SHA384_P384,
    ] {
        assert_eq!(
            ours.supports(other),
            Err(CryptoError::UnsupportedCiphersuite)
        );
    }
    let k = [7u8; 32];
    let n = [1u8; 12];
    for h in [HashType::Sha2_384, HashType::Sha2_512] {
        assert_eq!(
            ours.hash(h, b"x"),
            Err(CryptoError::UnsupportedHashAlgorithm)
        );
        assert_eq!(
            ours.hkdf_extract(h, b"s", b"i").map(|_| ()),
            Err(CryptoError::UnsupportedHashAlgorithm)
        );
        assert_eq!(
            ours.hmac(h, b"k", b"m").map(|_| ()),
            Err(CryptoError::UnsupportedHashAlgorithm)
        );
    }
    for a in [AeadType::Aes128Gcm, AeadType::Aes256Gcm] {
        assert_eq!(
            ours.aead_encrypt(a, &k, b"m", &n, b""),
            Err(CryptoError::UnsupportedAeadAlgorithm)
        );
    }
    for s in [
        SignatureScheme::ECDSA_SECP256R1_SHA256,
        SignatureScheme::ECDSA_SECP384R1_SHA384,
        SignatureScheme::ED448,
    ] {
        assert_eq!(
            ours.signature_key_gen(s),
            Err(CryptoError::UnsupportedSignatureScheme)
        );
        assert_eq!(
            ours.sign(s, b"m", &k),
            Err(CryptoError::UnsupportedSignatureScheme)
        );
        assert_eq!(
            ours.verify_signature(s, b"m", &k, &[0; 64]),
            Err(CryptoError::UnsupportedSignatureScheme)
        );
    }
    let p256 = || {
        HpkeConfig(
            HpkeKemType::DhKemP256,
            HpkeKdfType::HkdfSha256,
            HpkeAeadType::AesGcm128,
        )
    };
    assert!(ours.hpke_seal(p256(), &k, b"", b"", b"m").is_err());
    assert!(ours.derive_hpke_keypair(p256(), &k).is_err());
    let aes = HpkeConfig(
        HpkeKemType::DhKem25519,
        HpkeKdfType::HkdfSha256,
        HpkeAeadType::AesGcm128,
    );
    assert_eq!(
        ours.hpke_seal(aes, &k, b"", b"", b"m").map(|_| ()),
        Err(CryptoError::UnsupportedAeadAlgorithm)
    );
    let sha384 = HpkeConfig(
        HpkeKemType::DhKem25519,
        HpkeKdfType::HkdfSha384,
        HpkeAeadType::ChaCha20Poly1305,
    );
    assert_eq!(
        ours.hpke_seal(sha384, &k, b"", b"", b"m").map(|_| ()),
        Err(CryptoError::UnsupportedKdf)
    );
}

#[test]
fn malformed_keys_and_lengths_are_errors() {
    let ours = SuiteCrypto;
    let a = AeadType::ChaCha20Poly1305;
    let h = HashType::Sha2_256;
    assert_eq!(
        ours.aead_encrypt(a, &[0; 31], b"m", &[0; 12], b""),
        Err(CryptoError::InvalidLength)
    );
    assert_eq!(
        ours.aead_encrypt(a, &[0; 32], b"m", &[0; 11], b""),
        Err(CryptoError::InvalidLength)
    );
    assert_eq!(
        ours.aead_decrypt(a, &[0; 32], b"", &[0; 13], b""),
        Err(CryptoError::InvalidLength)
    );
    assert_eq!(
        ours.hkdf_expand(h, &[0; 32], b"", 255 * 32 + 1).map(|_| ()),
        Err(CryptoError::HkdfOutputLengthInvalid)
    );
    assert!(ours.hkdf_expand(h, &[0; 32], b"", 255 * 32).is_ok());
    assert_eq!(
        ours.hpke_seal(config(), &[1; 31], b"", b"", b"m")
            .map(|_| ()),
        Err(CryptoError::InvalidPublicKey)
    );
    let kp = ours.derive_hpke_keypair(config(), &[3; 32]).unwrap();
    let ct = ours
        .hpke_seal(config(), &kp.public, b"", b"", b"m")
        .unwrap();
    let short = HpkeCiphertext {
        kem_output: vec![1; 5].into(),
        ciphertext: ct.ciphertext.clone(),
    };
    assert_eq!(
        ours.hpke_open(config(), &short, &kp.private, b"", b""),
        Err(CryptoError::HpkeDecryptionError)
    );
    assert!(ours.hpke_open(config(), &ct, &[1; 7], b"", b"").is_err());
    assert!(ours
        .hpke_setup_receiver_and_export(config(), &[1; 3], &kp.private, b"", b"", 32)
        .is_err());
    assert_eq!(
        ours.hpke_setup_sender_and_export(config(), &kp.public, b"", b"", 255 * 32 + 1)
            .map(|_| ()),
        Err(CryptoError::ExporterError)
    );
    assert!(ours.sign(SignatureScheme::ED25519, b"m", &[1; 5]).is_err());
    assert!(ours
        .verify_signature(SignatureScheme::ED25519, b"m", &[1; 5], &[0; 64])
        .is_err());
    assert_eq!(
        ours.verify_signature(SignatureScheme::ED25519, b"m", &kp.public, &[0; 10]),
        Err(CryptoError::InvalidSignature)
    );
    // Randomness: the requested lengths, and not all zero.
    let v = ours.random_vec(64).unwrap();
    assert_eq!(v.len(), 64);
    assert!(v.iter().any(|&b| b != 0));
    let arr: [u8; 32] = ours.random_array().unwrap();
    assert!(arr.iter().any(|&b| b != 0));
}
