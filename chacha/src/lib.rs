//! ChaCha20-Poly1305 (RFC 8439, 96-bit nonce) whose ChaCha20 computes four blocks at a time in
//! 4-lane vectors: WebAssembly `v128` when the build has `simd128`, plain arrays otherwise (the
//! same algorithm, so native tests check it against the `chacha20` and `chacha20poly1305` crates).
//!
//! Why it exists: the `chacha20` crate has SIMD backends for x86 and ARM only, so in WASM it runs
//! its portable one-block backend, about a tenth of Poly1305's speed there. The SDK's file
//! encryption in browsers was limited by that keystream. Natively the SDK keeps the crates (their
//! AVX2/NEON code is faster than four lanes).
//!
//! Why the AEAD is here and not the crate's construction over a `cipher` core: the size-optimised
//! WASM build (`opt-level = "z"`, fat LTO) turns generic byte loops such as the `cipher` crate's
//! keystream XOR into byte-at-a-time code whatever a dependency's own opt-level says. Here the
//! keystream is XORed into the data as whole vectors (one 16-byte load, XOR and store per vector),
//! which keeps its speed at any opt-level. Poly1305 is the `poly1305` crate's.
//!
//! Each lane holds one block: lane `i` of word `w` is word `w` of block `counter + i`, so the
//! rounds need no shuffles, only a 4 × 4 transposition at the end.

use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::{Key as MacKey, Poly1305};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;
/// The longest message one key and nonce can encrypt: the AEAD's keystream starts at block 1 and
/// the block counter is 32 bits, so (2^32 − 1) blocks of 64 bytes (RFC 8439 §2.8).
pub const MAX_MESSAGE_LEN: u64 = u32::MAX as u64 * 64;

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The message needs keystream past the last 32-bit block counter.
    TooLong,
    /// The tag does not verify: wrong key, nonce or associated data, or altered bytes.
    Tag,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "message too long for one ChaCha20 nonce",
            Self::Tag => "authentication tag does not verify",
        })
    }
}

impl std::error::Error for Error {}

/// Which lane type this build's ChaCha20 runs on: `"wasm32-simd128"` (WebAssembly `v128`) or
/// `"portable"` (plain arrays). Set by the same `cfg` that selects the code, so a test inside a
/// module can tell which path it exercises.
pub const LANES: &str = lanes::NAME;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    pub(crate) const NAME: &str = "wasm32-simd128";

    use core::arch::wasm32::{
        i32x4_shuffle, i64x2_shuffle, i8x16_shuffle, u32x4, u32x4_add, u32x4_shl, u32x4_shr,
        u32x4_splat, v128, v128_load, v128_or, v128_store, v128_xor,
    };

    /// Four u32 lanes in one `v128`.
    #[derive(Clone, Copy)]
    pub(crate) struct Lanes(v128);

    impl Lanes {
        #[inline(always)]
        pub(crate) fn splat(x: u32) -> Self {
            Self(u32x4_splat(x))
        }
        #[inline(always)]
        pub(crate) fn counters(c: u32) -> Self {
            Self(u32x4(
                c,
                c.wrapping_add(1),
                c.wrapping_add(2),
                c.wrapping_add(3),
            ))
        }
        #[inline(always)]
        pub(crate) fn add(self, o: Self) -> Self {
            Self(u32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub(crate) fn xor(self, o: Self) -> Self {
            Self(v128_xor(self.0, o.0))
        }
        #[inline(always)]
        pub(crate) fn rotl16(self) -> Self {
            Self(i8x16_shuffle::<
                2,
                3,
                0,
                1,
                6,
                7,
                4,
                5,
                10,
                11,
                8,
                9,
                14,
                15,
                12,
                13,
            >(self.0, self.0))
        }
        #[inline(always)]
        pub(crate) fn rotl12(self) -> Self {
            Self(v128_or(u32x4_shl(self.0, 12), u32x4_shr(self.0, 20)))
        }
        #[inline(always)]
        pub(crate) fn rotl8(self) -> Self {
            Self(i8x16_shuffle::<
                3,
                0,
                1,
                2,
                7,
                4,
                5,
                6,
                11,
                8,
                9,
                10,
                15,
                12,
                13,
                14,
            >(self.0, self.0))
        }
        #[inline(always)]
        pub(crate) fn rotl7(self) -> Self {
            Self(v128_or(u32x4_shl(self.0, 7), u32x4_shr(self.0, 25)))
        }
        /// Rows `a..d` (word `w` of four blocks each) to columns (words `w..w + 4` of one block).
        #[inline(always)]
        pub(crate) fn transpose(a: Self, b: Self, c: Self, d: Self) -> [Self; 4] {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(a.0, b.0);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(a.0, b.0);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(c.0, d.0);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(c.0, d.0);
            [
                Self(i64x2_shuffle::<0, 2>(t0, t2)),
                Self(i64x2_shuffle::<1, 3>(t0, t2)),
                Self(i64x2_shuffle::<0, 2>(t1, t3)),
                Self(i64x2_shuffle::<1, 3>(t1, t3)),
            ]
        }
        /// `bytes ^= self`, lanes in little-endian order.
        #[inline(always)]
        #[allow(unsafe_code)]
        pub(crate) fn xor_into(self, bytes: &mut [u8; 16]) {
            let p = bytes.as_mut_ptr().cast::<v128>();
            // SAFETY: `p` points at 16 bytes that `bytes` lets us read and write. WebAssembly's
            // v128.load/v128.store have no alignment requirement (`v128_load`/`v128_store` are
            // unaligned accesses), and any 16 bytes are a valid `v128`.
            unsafe { v128_store(p, v128_xor(v128_load(p), self.0)) }
        }
        /// The lanes as 16 little-endian bytes.
        #[inline(always)]
        #[allow(unsafe_code)]
        pub(crate) fn to_bytes(self) -> [u8; 16] {
            let mut out = [0u8; 16];
            // SAFETY: `out` is 16 writable bytes; v128.store has no alignment requirement.
            unsafe { v128_store(out.as_mut_ptr().cast::<v128>(), self.0) }
            out
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    pub(crate) const NAME: &str = "portable";

    /// Four u32 lanes (the portable stand-in for the `v128` of the WASM build).
    #[derive(Clone, Copy)]
    pub(crate) struct Lanes([u32; 4]);

    impl Lanes {
        #[inline(always)]
        pub(crate) fn splat(x: u32) -> Self {
            Self([x; 4])
        }
        #[inline(always)]
        pub(crate) fn counters(c: u32) -> Self {
            Self([c, c.wrapping_add(1), c.wrapping_add(2), c.wrapping_add(3)])
        }
        #[inline(always)]
        pub(crate) fn add(self, o: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i].wrapping_add(o.0[i])))
        }
        #[inline(always)]
        pub(crate) fn xor(self, o: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] ^ o.0[i]))
        }
        #[inline(always)]
        pub(crate) fn rotl16(self) -> Self {
            Self(self.0.map(|x| x.rotate_left(16)))
        }
        #[inline(always)]
        pub(crate) fn rotl12(self) -> Self {
            Self(self.0.map(|x| x.rotate_left(12)))
        }
        #[inline(always)]
        pub(crate) fn rotl8(self) -> Self {
            Self(self.0.map(|x| x.rotate_left(8)))
        }
        #[inline(always)]
        pub(crate) fn rotl7(self) -> Self {
            Self(self.0.map(|x| x.rotate_left(7)))
        }
        /// Rows `a..d` (word `w` of four blocks each) to columns (words `w..w + 4` of one block).
        #[inline(always)]
        pub(crate) fn transpose(a: Self, b: Self, c: Self, d: Self) -> [Self; 4] {
            std::array::from_fn(|i| Self([a.0[i], b.0[i], c.0[i], d.0[i]]))
        }
        /// `bytes ^= self`, lanes in little-endian order.
        #[inline(always)]
        pub(crate) fn xor_into(self, bytes: &mut [u8; 16]) {
            let ks = self.to_bytes();
            for (b, k) in bytes.iter_mut().zip(ks) {
                *b ^= k;
            }
        }
        /// The lanes as 16 little-endian bytes.
        #[inline(always)]
        pub(crate) fn to_bytes(self) -> [u8; 16] {
            let mut out = [0u8; 16];
            for (dst, word) in out.chunks_exact_mut(4).zip(self.0) {
                dst.copy_from_slice(&word.to_le_bytes());
            }
            out
        }
    }
}

use lanes::Lanes;

const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// ChaCha20's state for a key and nonce, word 12 (the counter) left at zero.
fn initial_state(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN]) -> [u32; 16] {
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&CONSTANTS);
    for (word, chunk) in state[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    for (word, chunk) in state[13..16].iter_mut().zip(nonce.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    state
}

/// The state words splatted across the lanes: what every four-block step starts from.
struct State([Lanes; 16]);

impl State {
    fn new(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN]) -> Self {
        let mut words = initial_state(key, nonce);
        let lanes = words.map(Lanes::splat);
        words.zeroize();
        Self(lanes)
    }

    /// Runs the block function for blocks `counter .. counter + 4` (wrapping as u32) and hands
    /// each 4 × 4 group of the result to `out(group, [block 0 .. block 3])`, where group `g`
    /// holds words `4g .. 4g + 4` of each block.
    #[inline(always)]
    fn four_blocks(&self, counter: u32, mut out: impl FnMut(usize, [Lanes; 4])) {
        let [i0, i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11, _, i13, i14, i15] = self.0;
        let i12 = Lanes::counters(counter);
        let (mut x0, mut x1, mut x2, mut x3) = (i0, i1, i2, i3);
        let (mut x4, mut x5, mut x6, mut x7) = (i4, i5, i6, i7);
        let (mut x8, mut x9, mut x10, mut x11) = (i8, i9, i10, i11);
        let (mut x12, mut x13, mut x14, mut x15) = (i12, i13, i14, i15);
        macro_rules! quarter {
            ($a:ident, $b:ident, $c:ident, $d:ident) => {
                $a = $a.add($b);
                $d = $d.xor($a).rotl16();
                $c = $c.add($d);
                $b = $b.xor($c).rotl12();
                $a = $a.add($b);
                $d = $d.xor($a).rotl8();
                $c = $c.add($d);
                $b = $b.xor($c).rotl7();
            };
        }
        for _ in 0..10 {
            quarter!(x0, x4, x8, x12);
            quarter!(x1, x5, x9, x13);
            quarter!(x2, x6, x10, x14);
            quarter!(x3, x7, x11, x15);
            quarter!(x0, x5, x10, x15);
            quarter!(x1, x6, x11, x12);
            quarter!(x2, x7, x8, x13);
            quarter!(x3, x4, x9, x14);
        }
        out(
            0,
            Lanes::transpose(x0.add(i0), x1.add(i1), x2.add(i2), x3.add(i3)),
        );
        out(
            1,
            Lanes::transpose(x4.add(i4), x5.add(i5), x6.add(i6), x7.add(i7)),
        );
        out(
            2,
            Lanes::transpose(x8.add(i8), x9.add(i9), x10.add(i10), x11.add(i11)),
        );
        out(
            3,
            Lanes::transpose(x12.add(i12), x13.add(i13), x14.add(i14), x15.add(i15)),
        );
    }

    /// Four keystream blocks as bytes (for a message's tail and the Poly1305 key), zeroized on
    /// drop.
    fn keystream(&self, counter: u32) -> Zeroizing<[u8; 256]> {
        let mut ks = Zeroizing::new([0u8; 256]);
        self.four_blocks(counter, |g, blocks| {
            for (b, lanes) in blocks.into_iter().enumerate() {
                let at = 64 * b + 16 * g;
                ks[at..at + 16].copy_from_slice(&lanes.to_bytes());
            }
        });
        ks
    }

    /// XORs the keystream starting at block `counter` into `buf`. The caller has checked that it
    /// does not run past block 2^32 − 1.
    fn xor_keystream(&self, mut counter: u32, buf: &mut [u8]) {
        let (groups, tail) = buf.as_chunks_mut::<256>();
        for group in groups {
            self.four_blocks(counter, |g, blocks| {
                for (b, lanes) in blocks.into_iter().enumerate() {
                    let at = 64 * b + 16 * g;
                    if let Some((bytes, _)) = group[at..].split_first_chunk_mut::<16>() {
                        lanes.xor_into(bytes);
                    }
                }
            });
            counter = counter.wrapping_add(4);
        }
        if !tail.is_empty() {
            let ks = self.keystream(counter);
            for (b, k) in tail.iter_mut().zip(ks.iter()) {
                *b ^= k;
            }
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // Overwrite the key-bearing lanes (a `Lanes` is plain data: no Zeroize impl for v128).
        self.0 = [Lanes::splat(0); 16];
        std::hint::black_box(&self.0);
    }
}

/// Checks that `len` bytes of keystream from block `counter` stay within the 32-bit counter.
fn check_len(counter: u32, len: usize) -> Result<(), Error> {
    let blocks = (len as u64).div_ceil(64);
    if blocks == 0 || u64::from(counter) + blocks - 1 <= u64::from(u32::MAX) {
        Ok(())
    } else {
        Err(Error::TooLong)
    }
}

/// XORs the ChaCha20 keystream for `key` and `nonce`, from block `counter` on, into `buf`.
///
/// Fails with [`Error::TooLong`] (leaving `buf` untouched) if the keystream would need a block
/// past 2^32 − 1.
pub fn chacha20_xor(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    counter: u32,
    buf: &mut [u8],
) -> Result<(), Error> {
    check_len(counter, buf.len())?;
    State::new(key, nonce).xor_keystream(counter, buf);
    Ok(())
}

/// ChaCha20-Poly1305 (RFC 8439) under one key; byte for byte the AEAD of the
/// `chacha20poly1305` crate. The key is zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChaCha20Poly1305 {
    key: [u8; KEY_LEN],
}

impl ChaCha20Poly1305 {
    /// The AEAD under `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self { key: *key }
    }

    /// The cipher state for `nonce` and the one-time Poly1305 key (block 0's first 32 bytes).
    ///
    /// Every copy of key material is wiped: block 0 on drop (`Zeroizing`), the one-time key
    /// here (filled in place, no by-value conversion that would leave a temporary), and the
    /// Poly1305 state when the returned MAC is dropped (the `poly1305` crate's `zeroize`
    /// feature, see `tests::poly1305_state_is_wiped_on_drop`).
    fn start(&self, nonce: &[u8; NONCE_LEN]) -> (State, Poly1305) {
        let state = State::new(&self.key, nonce);
        let block0 = state.keystream(0);
        let mut mac_key = MacKey::default();
        mac_key.copy_from_slice(&block0[..32]);
        let mac = Poly1305::new(&mac_key);
        mac_key.as_mut_slice().zeroize();
        (state, mac)
    }

    /// Encrypts `buf` in place and returns the tag over `aad` and the ciphertext.
    ///
    /// Fails with [`Error::TooLong`] (leaving `buf` untouched) past [`MAX_MESSAGE_LEN`].
    pub fn encrypt_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        check_len(1, buf.len())?;
        let (state, mac) = self.start(nonce);
        state.xor_keystream(1, buf);
        Ok(tag(mac, aad, buf))
    }

    /// Verifies `tag` over `aad` and the ciphertext in `buf` and, only if it verifies, decrypts
    /// `buf` in place. On failure `buf` still holds the ciphertext.
    pub fn decrypt_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag_in: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        check_len(1, buf.len())?;
        let (state, mac) = self.start(nonce);
        let expected = tag(mac, aad, buf);
        if !bool::from(expected.ct_eq(tag_in)) {
            return Err(Error::Tag);
        }
        state.xor_keystream(1, buf);
        Ok(())
    }
}

/// Poly1305 over `aad`, the ciphertext and their lengths (RFC 8439 §2.8).
fn tag(mut mac: Poly1305, aad: &[u8], ciphertext: &[u8]) -> [u8; TAG_LEN] {
    mac.update_padded(aad);
    mac.update_padded(ciphertext);
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&(aad.len() as u64).to_le_bytes());
    lengths[8..].copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    mac.update(&[lengths.into()]);
    mac.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 8439 §2.8.2: the AEAD example.
    #[test]
    fn rfc8439_aead_example() {
        let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        let aad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let mut buf = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        let tag = ChaCha20Poly1305::new(&key)
            .encrypt_in_place_detached(&nonce, &aad, &mut buf)
            .unwrap();
        assert_eq!(tag, hex16("1ae10b594f09e26a7e902ecbd0600691"));
        assert_eq!(&buf[..16], &hex16("d31a8d34648e60db7b86afbc53ef7ec2"));
        assert_eq!(&buf[buf.len() - 2..], &[0x61, 0x16]);
    }

    /// RFC 8439 §2.4.2: the keystream example (counter 1).
    #[test]
    fn rfc8439_chacha20_example() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let mut buf = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
        chacha20_xor(&key, &nonce, 1, &mut buf).unwrap();
        assert_eq!(&buf[..16], &hex16("6e2e359a2568f98041ba0728dd0d6981"));
        assert_eq!(&buf[buf.len() - 2..], &[0x87, 0x4d]);
    }

    #[test]
    fn counter_limit() {
        let mut two_blocks = [0u8; 65];
        assert_eq!(
            chacha20_xor(&[0; 32], &[0; 12], u32::MAX, &mut two_blocks),
            Err(Error::TooLong)
        );
        assert_eq!(two_blocks, [0u8; 65], "untouched on refusal");
        assert!(chacha20_xor(&[0; 32], &[0; 12], u32::MAX, &mut two_blocks[..64]).is_ok());
        assert!(chacha20_xor(&[0; 32], &[0; 12], u32::MAX, &mut []).is_ok());
        assert!(check_len(1, (MAX_MESSAGE_LEN) as usize).is_ok() || usize::BITS < 64);
        if usize::BITS == 64 {
            assert_eq!(
                check_len(1, MAX_MESSAGE_LEN as usize + 1),
                Err(Error::TooLong)
            );
        }
    }

    /// The `poly1305` crate wipes its state (the one-time key `r`, `s` and the accumulator) in a
    /// `Drop` impl that exists only with its `zeroize` feature: without the feature the type
    /// needs no drop at all. This fails if the feature is ever lost from the dependency.
    #[test]
    fn poly1305_state_is_wiped_on_drop() {
        assert!(std::mem::needs_drop::<Poly1305>());
    }

    /// The key and the keystream buffers are wiped on drop.
    #[test]
    fn key_and_keystream_buffers_zeroize() {
        assert!(std::mem::needs_drop::<ChaCha20Poly1305>());
        assert!(std::mem::needs_drop::<State>());
        let mut aead = ChaCha20Poly1305::new(&[7; 32]);
        aead.zeroize();
        assert_eq!(aead.key, [0; 32]);
        let ks = State::new(&[7; 32], &[1; 12]).keystream(0);
        assert!(ks.iter().any(|b| *b != 0));
        let mut ks = ks;
        ks.zeroize();
        assert!(ks.iter().all(|b| *b == 0));
    }

    #[test]
    fn lanes_name_matches_the_build() {
        let want = if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            "wasm32-simd128"
        } else {
            "portable"
        };
        assert_eq!(LANES, want);
    }

    fn hex16(s: &str) -> [u8; 16] {
        std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
    }
}
