//! The openmls crypto and randomness provider of the SDK: exactly one ciphersuite,
//! `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519` ([`super::CIPHERSUITE`]).
//!
//! `openmls_rust_crypto` implements every suite openmls knows (P-256/384/521, secp256k1 via its
//! HPKE backend, ML-KEM, X-Wing, AES-GCM), and all of that code ends up in the WASM module even
//! though Sealroom never negotiates any of it. This provider is built on the primitives the SDK
//! already carries: SHA-256, HKDF/HMAC-SHA-256, ChaCha20-Poly1305, Ed25519 (`ed25519-dalek`,
//! strict verification) and HPKE base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! ChaCha20-Poly1305 (RFC 9180, the `hpke` crate). Every other algorithm answers the matching
//! `Unsupported…` error of [`CryptoError`]; nothing here panics on input.
//!
//! Checked against the MLS working group's test vectors (`core/tests/mls_crypto_provider.rs`) and
//! against `openmls_rust_crypto` method by method, and the relay (which keeps
//! `openmls_rust_crypto`) validates every group this provider builds.

use crate::primitives::{Aead, SecretKey};
use ed25519_dalek::Signer as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use hpke::aead::ChaCha20Poly1305 as HpkeChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use openmls::prelude::Ciphersuite;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::types::{
    AeadType, CryptoError, ExporterSecret, HashType, HpkeAeadType, HpkeCiphertext, HpkeConfig,
    HpkeKdfType, HpkeKemType, HpkeKeyPair, KemOutput, SignatureScheme,
};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use tls_codec::SecretVLBytes;
use zeroize::{Zeroize as _, Zeroizing};

type Kem = X25519HkdfSha256;
type HpkePrivateKey = <Kem as hpke::Kem>::PrivateKey;
type HpkePublicKey = <Kem as hpke::Kem>::PublicKey;
type HpkeEncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// Most bytes HKDF-SHA-256 can expand to (255 blocks of 32 bytes).
const HKDF_SHA256_MAX: usize = 255 * 32;

/// The SDK's crypto and randomness provider (stateless; randomness from the OS generator).
#[derive(Debug, Default, Clone, Copy)]
pub struct SuiteCrypto;

/// The OS random generator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomnessError;

impl std::fmt::Display for RandomnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the operating system's random generator failed")
    }
}

impl std::error::Error for RandomnessError {}

impl OpenMlsRand for SuiteCrypto {
    type Error = RandomnessError;

    fn random_array<const N: usize>(&self) -> Result<[u8; N], Self::Error> {
        let mut out = [0u8; N];
        OsRng
            .try_fill_bytes(&mut out)
            .map_err(|_| RandomnessError)?;
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> Result<Vec<u8>, Self::Error> {
        let mut out = vec![0u8; len];
        OsRng
            .try_fill_bytes(&mut out)
            .map_err(|_| RandomnessError)?;
        Ok(out)
    }
}

fn sha256_only(hash_type: HashType) -> Result<(), CryptoError> {
    match hash_type {
        HashType::Sha2_256 => Ok(()),
        _ => Err(CryptoError::UnsupportedHashAlgorithm),
    }
}

fn chacha_only(alg: AeadType) -> Result<(), CryptoError> {
    match alg {
        AeadType::ChaCha20Poly1305 => Ok(()),
        _ => Err(CryptoError::UnsupportedAeadAlgorithm),
    }
}

fn ed25519_only(alg: SignatureScheme) -> Result<(), CryptoError> {
    match alg {
        SignatureScheme::ED25519 => Ok(()),
        _ => Err(CryptoError::UnsupportedSignatureScheme),
    }
}

fn hpke_suite_only(config: &HpkeConfig) -> Result<(), CryptoError> {
    match (config.0, config.1, config.2) {
        (HpkeKemType::DhKem25519, HpkeKdfType::HkdfSha256, HpkeAeadType::ChaCha20Poly1305) => {
            Ok(())
        }
        (HpkeKemType::DhKem25519, HpkeKdfType::HkdfSha256, _) => {
            Err(CryptoError::UnsupportedAeadAlgorithm)
        }
        (HpkeKemType::DhKem25519, _, _) => Err(CryptoError::UnsupportedKdf),
        _ => Err(CryptoError::UnsupportedCiphersuite),
    }
}

/// The SDK's AEAD (`primitives::Aead`: the chacha20poly1305 crate natively, `sealroom-chacha` in
/// WASM) under a 32-byte key.
fn chacha(key: &[u8]) -> Result<Aead, CryptoError> {
    let key = <[u8; 32]>::try_from(key).map_err(|_| CryptoError::InvalidLength)?;
    Ok(Aead::new(&SecretKey::from_bytes(key)))
}

fn nonce(nonce: &[u8]) -> Result<&[u8; 12], CryptoError> {
    nonce.try_into().map_err(|_| CryptoError::InvalidLength)
}

fn hpke_public(pk: &[u8]) -> Result<HpkePublicKey, CryptoError> {
    HpkePublicKey::from_bytes(pk).map_err(|_| CryptoError::InvalidPublicKey)
}

fn hpke_private(sk: &[u8]) -> Result<HpkePrivateKey, CryptoError> {
    HpkePrivateKey::from_bytes(sk).map_err(|_| CryptoError::InvalidLength)
}

fn exporter_len(len: usize) -> Result<usize, CryptoError> {
    if len <= HKDF_SHA256_MAX {
        Ok(len)
    } else {
        Err(CryptoError::ExporterError)
    }
}

impl OpenMlsCrypto for SuiteCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        if ciphersuite == super::CIPHERSUITE {
            Ok(())
        } else {
            Err(CryptoError::UnsupportedCiphersuite)
        }
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        vec![super::CIPHERSUITE]
    }

    fn hkdf_extract(
        &self,
        hash_type: HashType,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
        Ok(prk.as_slice().into())
    }

    fn hmac(
        &self,
        hash_type: HashType,
        key: &[u8],
        message: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map_err(|_| CryptoError::CryptoLibraryError)?;
        mac.update(message);
        Ok(mac.finalize().into_bytes().as_slice().into())
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        sha256_only(hash_type)?;
        let hkdf =
            Hkdf::<Sha256>::from_prk(prk).map_err(|_| CryptoError::HkdfOutputLengthInvalid)?;
        if okm_len > HKDF_SHA256_MAX {
            return Err(CryptoError::HkdfOutputLengthInvalid);
        }
        let mut okm = Zeroizing::new(vec![0u8; okm_len]);
        hkdf.expand(info, &mut okm)
            .map_err(|_| CryptoError::HkdfOutputLengthInvalid)?;
        Ok(okm.as_slice().into())
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        sha256_only(hash_type)?;
        Ok(Sha256::digest(data).to_vec())
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce_bytes: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        chacha_only(alg)?;
        chacha(key)?
            .seal(nonce(nonce_bytes)?, aad, data)
            .map_err(|_| CryptoError::CryptoLibraryError)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce_bytes: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        chacha_only(alg)?;
        chacha(key)?
            .open(nonce(nonce_bytes)?, aad, ct_tag)
            .map_err(|_| CryptoError::AeadDecryptionError)
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        ed25519_only(alg)?;
        let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
        Ok((
            key.to_bytes().to_vec(),
            key.verifying_key().to_bytes().to_vec(),
        ))
    }

    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        ed25519_only(alg)?;
        let key = ed25519_dalek::VerifyingKey::try_from(pk)
            .map_err(|_| CryptoError::CryptoLibraryError)?;
        let signature = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| CryptoError::InvalidSignature)?;
        key.verify_strict(data, &signature)
            .map_err(|_| CryptoError::InvalidSignature)
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        ed25519_only(alg)?;
        let key =
            ed25519_dalek::SigningKey::try_from(key).map_err(|_| CryptoError::SigningError)?;
        Ok(key.sign(data).to_bytes().to_vec())
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        hpke_suite_only(&config)?;
        let pk = hpke_public(pk_r)?;
        let (enc, ciphertext) = hpke::single_shot_seal::<HpkeChaCha20Poly1305, HkdfSha256, Kem, _>(
            &OpModeS::Base,
            &pk,
            info,
            ptxt,
            aad,
            &mut OsRng,
        )
        .map_err(|_| CryptoError::HpkeEncryptionError)?;
        Ok(HpkeCiphertext {
            kem_output: enc.to_bytes().to_vec().into(),
            ciphertext: ciphertext.into(),
        })
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        hpke_suite_only(&config)?;
        let sk = hpke_private(sk_r)?;
        let enc = HpkeEncappedKey::from_bytes(input.kem_output.as_slice())
            .map_err(|_| CryptoError::HpkeDecryptionError)?;
        hpke::single_shot_open::<HpkeChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            info,
            input.ciphertext.as_slice(),
            aad,
        )
        .map_err(|_| CryptoError::HpkeDecryptionError)
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(KemOutput, ExporterSecret), CryptoError> {
        hpke_suite_only(&config)?;
        let pk = hpke_public(pk_r)?;
        let (enc, context) = hpke::setup_sender::<HpkeChaCha20Poly1305, HkdfSha256, Kem, _>(
            &OpModeS::Base,
            &pk,
            info,
            &mut OsRng,
        )
        .map_err(|_| CryptoError::SenderSetupError)?;
        let mut secret = Zeroizing::new(vec![0u8; exporter_len(exporter_length)?]);
        context
            .export(exporter_context, &mut secret)
            .map_err(|_| CryptoError::ExporterError)?;
        Ok((enc.to_bytes().to_vec(), secret.to_vec().into()))
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        hpke_suite_only(&config)?;
        let sk = hpke_private(sk_r)?;
        let enc = HpkeEncappedKey::from_bytes(enc).map_err(|_| CryptoError::ReceiverSetupError)?;
        let context = hpke::setup_receiver::<HpkeChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            info,
        )
        .map_err(|_| CryptoError::ReceiverSetupError)?;
        let mut secret = Zeroizing::new(vec![0u8; exporter_len(exporter_length)?]);
        context
            .export(exporter_context, &mut secret)
            .map_err(|_| CryptoError::ExporterError)?;
        Ok(secret.to_vec().into())
    }

    fn derive_hpke_keypair(
        &self,
        config: HpkeConfig,
        ikm: &[u8],
    ) -> Result<HpkeKeyPair, CryptoError> {
        // Only the KEM matters for a key pair (openmls derives leaf keys with the suite's KEM).
        if config.0 != HpkeKemType::DhKem25519 {
            return Err(CryptoError::UnsupportedCiphersuite);
        }
        let (sk, pk) = Kem::derive_keypair(ikm);
        let mut sk_bytes = sk.to_bytes();
        let private = sk_bytes.as_slice().into();
        sk_bytes.as_mut_slice().zeroize();
        Ok(HpkeKeyPair {
            private,
            public: pk.to_bytes().to_vec(),
        })
    }
}
