//! Benchmark helpers for `tests/node/bench-client.mjs`: the same work as the native rows of
//! `cargo bench -p sealroom-core` (benches `format` and `rooms`), run inside WASM so that the
//! JS side can time it. Not part of the SDK's API.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use sealroom_core::format::{FileKey, Metadata, Sealer, CHUNK_SIZE, SEALED_CHUNK_SIZE};
use sealroom_core::room::{Client as RoomClient, RoomKind};
use sealroom_core::state::{MemoryKv, StorageKey};
use sealroom_wire::CredentialIdentity;

fn fail(what: &str, e: impl std::fmt::Display) -> JsValue {
    crate::error::coded("internal", "internal", &format!("{what}: {e}"))
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Benchmark: encrypts `mib` MiB of 64 KiB chunks with the chacha20poly1305 crate directly
/// (the `raw_chacha20poly1305_chunks` row of the native bench). Returns the bytes produced.
#[wasm_bindgen(js_name = benchRawAead)]
pub fn bench_raw_aead(mib: u32) -> Result<f64, JsValue> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&[7u8; 32]));
    let plaintext = vec![0x5a_u8; CHUNK_SIZE];
    let mut buf = Vec::with_capacity(SEALED_CHUNK_SIZE);
    let count = u64::from(mib) * 16;
    let mut produced = 0u64;
    for i in 0..count {
        buf.clear();
        buf.extend_from_slice(&plaintext);
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce(i, i + 1 == count)), b"", &mut buf)
            .map_err(|e| fail("aead", e))?;
        buf.extend_from_slice(&tag);
        produced += buf.len() as u64;
    }
    Ok(produced as f64)
}

/// Benchmark: the ChaCha20 keystream alone (the `chacha20` crate the AEAD is built on) over `mib`
/// MiB in 64 KiB buffers, to see which half of the AEAD limits WASM. Returns a checksum byte.
#[wasm_bindgen(js_name = benchChaCha20)]
pub fn bench_chacha20(mib: u32) -> f64 {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let mut cipher = chacha20::ChaCha20::new(&[7u8; 32].into(), &[1u8; 12].into());
    let mut buf = vec![0x5a_u8; CHUNK_SIZE];
    let mut check = 0u8;
    for _ in 0..u64::from(mib) * 16 {
        cipher.apply_keystream(&mut buf);
        check ^= buf[0];
    }
    f64::from(check)
}

/// Benchmark: the SDK's own ChaCha20 keystream (`sealroom_chacha`, four blocks per step in
/// `simd128`) over `mib` MiB in 64 KiB buffers. Returns a checksum byte.
#[wasm_bindgen(js_name = benchSdkChaCha20)]
pub fn bench_sdk_chacha20(mib: u32) -> Result<f64, JsValue> {
    let mut buf = vec![0x5a_u8; CHUNK_SIZE];
    let mut check = 0u8;
    let blocks_per_buf = (CHUNK_SIZE / 64) as u32;
    for i in 0..mib * 16 {
        sealroom_chacha::chacha20_xor(&[7u8; 32], &[1u8; 12], i * blocks_per_buf, &mut buf)
            .map_err(|e| fail("chacha20", e))?;
        check ^= buf[0];
    }
    Ok(f64::from(check))
}

/// Benchmark: the SDK's AEAD (`sealroom_core::primitives::Aead`, what the sealed-file format
/// uses) over `mib` MiB of 64 KiB chunks, same nonces as [`bench_raw_aead`]. Returns the bytes
/// produced.
#[wasm_bindgen(js_name = benchSdkAead)]
pub fn bench_sdk_aead(mib: u32) -> Result<f64, JsValue> {
    use sealroom_core::primitives::{Aead, SecretKey};
    let aead = Aead::new(&SecretKey::from_bytes([7u8; 32]));
    let plaintext = vec![0x5a_u8; CHUNK_SIZE];
    let mut buf = Vec::with_capacity(SEALED_CHUNK_SIZE);
    let count = u64::from(mib) * 16;
    let mut produced = 0u64;
    for i in 0..count {
        buf.clear();
        buf.extend_from_slice(&plaintext);
        let tag = aead
            .seal_in_place(&nonce(i, i + 1 == count), b"", &mut buf)
            .map_err(|e| fail("aead", e))?;
        buf.extend_from_slice(&tag);
        produced += buf.len() as u64;
    }
    Ok(produced as f64)
}

/// Benchmark: Poly1305 alone (the `poly1305` crate) over `mib` MiB in 64 KiB messages. Returns a
/// checksum byte.
#[wasm_bindgen(js_name = benchPoly1305)]
pub fn bench_poly1305(mib: u32) -> f64 {
    use poly1305::universal_hash::KeyInit as _;
    let buf = vec![0x5a_u8; CHUNK_SIZE];
    let mut check = 0u8;
    for i in 0..u64::from(mib) * 16 {
        let mut key = [7u8; 32];
        key[0] = i as u8;
        let tag = poly1305::Poly1305::new(&key.into()).compute_unpadded(&buf);
        check ^= tag[0];
    }
    f64::from(check)
}

/// Benchmark: seals `mib` MiB with the sealed-file push API in 1 MiB pieces inside WASM (the
/// `format_push_1MiB` row of the native bench). Returns the sealed bytes produced.
#[wasm_bindgen(js_name = benchSealInWasm)]
pub fn bench_seal_in_wasm(mib: u32) -> Result<f64, JsValue> {
    let len = u64::from(mib) * 1024 * 1024;
    let key = FileKey::from_bytes([7u8; 32]);
    let metadata = Metadata {
        name: "bench.bin".into(),
        media_type: "application/octet-stream".into(),
        classification: "internal".into(),
        created: 0,
        length: Some(len),
    };
    let piece = vec![0x5a_u8; 1024 * 1024];
    let (mut sealer, header) = Sealer::new(&key, &metadata).map_err(|e| fail("seal", e))?;
    let mut produced = header.len() as u64;
    let mut out = Vec::with_capacity(piece.len() + 32 * SEALED_CHUNK_SIZE);
    for _ in 0..mib {
        out.clear();
        sealer
            .push_into(&piece, &mut out)
            .map_err(|e| fail("seal", e))?;
        produced += out.len() as u64;
    }
    produced += sealer.finish().map_err(|e| fail("seal", e))?.len() as u64;
    Ok(produced as f64)
}

fn identity(i: u32) -> Result<CredentialIdentity, JsValue> {
    CredentialIdentity::new("bench", &format!("user{i}"), &format!("dev{i}"))
        .map_err(|e| fail("identity", e))
}

fn room_client(i: u32) -> Result<RoomClient, JsValue> {
    RoomClient::create(
        Box::new(MemoryKv::new()),
        &StorageKey::from_bytes([9u8; 32]),
        identity(i)?,
    )
    .map_err(|e| fail("room client", e))
}

/// Benchmark: the committer of the `create_and_add/sdk` row of the native rooms bench (an SDK
/// room client with its encrypted persistence over an in-memory store).
#[wasm_bindgen]
pub struct BenchCommitter {
    client: RoomClient,
}

#[wasm_bindgen]
impl BenchCommitter {
    /// A fresh device (not timed by the benchmark).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<BenchCommitter, JsValue> {
        Ok(Self {
            client: room_client(0)?,
        })
    }

    /// One key package from each of `n` fresh devices (not timed by the benchmark).
    #[wasm_bindgen(js_name = keyPackages, unchecked_return_type = "Uint8Array[]")]
    pub fn key_packages(n: u32) -> Result<Array, JsValue> {
        let out = Array::new();
        for i in 0..n {
            let mut c = room_client(i + 10)?;
            let kp = c
                .generate_key_packages(1)
                .map_err(|e| fail("key package", e))?;
            for k in kp {
                out.push(&Uint8Array::from(k.as_slice()));
            }
        }
        Ok(out)
    }

    /// Creates a room and adds every key package in one commit, then merges it.
    #[wasm_bindgen(js_name = createRoomAndAdd)]
    pub fn create_room_and_add(
        &mut self,
        #[wasm_bindgen(js_name = keyPackages, unchecked_param_type = "Uint8Array[]")]
        key_packages: Array,
    ) -> Result<(), JsValue> {
        let kps: Vec<Vec<u8>> = key_packages
            .iter()
            .map(|k| Uint8Array::new(&k).to_vec())
            .collect();
        let room = self
            .client
            .create_room("bench", RoomKind::Customer)
            .map_err(|e| fail("create room", e))?
            .room_id;
        self.client
            .add_members(&room, &kps)
            .map_err(|e| fail("add members", e))?;
        self.client
            .confirm_commit(&room)
            .map_err(|e| fail("confirm commit", e))?;
        Ok(())
    }
}
