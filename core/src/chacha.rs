//! ChaCha20 (RFC 8439, 96-bit nonce, 32-bit block counter) computing four blocks at a time in
//! 4-lane vectors, for WebAssembly `simd128`.
//!
//! The `chacha20` crate has SIMD backends for x86 and ARM only, so in WASM it runs its portable
//! one-block backend, which was measured at about a tenth of Poly1305's speed there: the
//! keystream was what limited file encryption in browsers. This core plugs into
//! `chacha20poly1305::ChaChaPoly1305<C>` through the `cipher` traits, so the AEAD construction,
//! Poly1305 and the tag check stay the crate's.
//!
//! Each lane holds one block: lane `i` of word `w` is word `w` of block `counter + i`, so the
//! rounds need no shuffles, only the final transposition. [`Lanes`] is a 4 × u32 vector: wasm32
//! `v128` when the build has `simd128`, a plain array otherwise (the same algorithm, so native
//! tests check it against the `chacha20` crate; natively the SDK uses the crate's AVX2/NEON code).

use chacha20::cipher::consts::{U12, U32, U4, U64};
use chacha20::cipher::{
    Block, BlockSizeUser, IvSizeUser, KeyIvInit, KeySizeUser, ParBlocks, ParBlocksSizeUser,
    StreamBackend, StreamCipherCore, StreamCipherCoreWrapper, StreamCipherSeekCore, StreamClosure,
};
use zeroize::Zeroize;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::{
        u32x4, u32x4_add, u32x4_extract_lane, u32x4_shl, u32x4_shr, v128, v128_or, v128_xor,
    };

    /// Four u32 lanes in one `v128`.
    #[derive(Clone, Copy)]
    pub(super) struct Lanes(v128);

    impl Lanes {
        #[inline(always)]
        pub(super) fn splat(x: u32) -> Self {
            Self(u32x4(x, x, x, x))
        }
        #[inline(always)]
        pub(super) fn new(a: u32, b: u32, c: u32, d: u32) -> Self {
            Self(u32x4(a, b, c, d))
        }
        #[inline(always)]
        pub(super) fn add(self, o: Self) -> Self {
            Self(u32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub(super) fn xor(self, o: Self) -> Self {
            Self(v128_xor(self.0, o.0))
        }
        #[inline(always)]
        pub(super) fn rotl<const N: u32>(self) -> Self {
            Self(v128_or(u32x4_shl(self.0, N), u32x4_shr(self.0, 32 - N)))
        }
        #[inline(always)]
        pub(super) fn to_array(self) -> [u32; 4] {
            [
                u32x4_extract_lane::<0>(self.0),
                u32x4_extract_lane::<1>(self.0),
                u32x4_extract_lane::<2>(self.0),
                u32x4_extract_lane::<3>(self.0),
            ]
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    /// Four u32 lanes (portable stand-in for the `v128` of the WASM build).
    #[derive(Clone, Copy)]
    pub(super) struct Lanes([u32; 4]);

    impl Lanes {
        #[inline(always)]
        pub(super) fn splat(x: u32) -> Self {
            Self([x; 4])
        }
        #[inline(always)]
        pub(super) fn new(a: u32, b: u32, c: u32, d: u32) -> Self {
            Self([a, b, c, d])
        }
        #[inline(always)]
        pub(super) fn add(self, o: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i].wrapping_add(o.0[i])))
        }
        #[inline(always)]
        pub(super) fn xor(self, o: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] ^ o.0[i]))
        }
        #[inline(always)]
        pub(super) fn rotl<const N: u32>(self) -> Self {
            Self(self.0.map(|x| x.rotate_left(N)))
        }
        #[inline(always)]
        pub(super) fn to_array(self) -> [u32; 4] {
            self.0
        }
    }
}

use lanes::Lanes;

const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

#[inline(always)]
fn quarter(x: &mut [Lanes; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].add(x[b]);
    x[d] = x[d].xor(x[a]).rotl::<16>();
    x[c] = x[c].add(x[d]);
    x[b] = x[b].xor(x[c]).rotl::<12>();
    x[a] = x[a].add(x[b]);
    x[d] = x[d].xor(x[a]).rotl::<8>();
    x[c] = x[c].add(x[d]);
    x[b] = x[b].xor(x[c]).rotl::<7>();
}

/// The ChaCha20 block function for the blocks `counter .. counter + 4` (counters wrap as u32; the
/// caller never asks past the last block). Returns the four 64-byte keystream blocks.
fn four_blocks(state: &[u32; 16], counter: u32) -> [[u8; 64]; 4] {
    let mut init = [Lanes::splat(0); 16];
    for (w, lane) in init.iter_mut().enumerate() {
        *lane = Lanes::splat(state[w]);
    }
    init[12] = Lanes::new(
        counter,
        counter.wrapping_add(1),
        counter.wrapping_add(2),
        counter.wrapping_add(3),
    );
    let mut x = init;
    for _ in 0..10 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 1, 5, 9, 13);
        quarter(&mut x, 2, 6, 10, 14);
        quarter(&mut x, 3, 7, 11, 15);
        quarter(&mut x, 0, 5, 10, 15);
        quarter(&mut x, 1, 6, 11, 12);
        quarter(&mut x, 2, 7, 8, 13);
        quarter(&mut x, 3, 4, 9, 14);
    }
    let mut out = [[0u8; 64]; 4];
    for (w, (xw, iw)) in x.iter().zip(init.iter()).enumerate() {
        let words = xw.add(*iw).to_array();
        for (block, word) in out.iter_mut().zip(words) {
            block[4 * w..4 * w + 4].copy_from_slice(&word.to_le_bytes());
        }
    }
    out
}

/// The keystream core: key, nonce and the block counter.
pub struct ChaCha20Core {
    /// Words 0..16 of the ChaCha state; word 12 is the block counter.
    state: [u32; 16],
}

/// ChaCha20 with the four-block core, as a `cipher` stream cipher.
pub type ChaCha20x4 = StreamCipherCoreWrapper<ChaCha20Core>;

/// ChaCha20-Poly1305 (RFC 8439) over [`ChaCha20x4`]: the same AEAD as
/// `chacha20poly1305::ChaCha20Poly1305`, byte for byte.
pub type ChaCha20Poly1305x4 = chacha20poly1305::ChaChaPoly1305<ChaCha20x4, U12>;

impl Drop for ChaCha20Core {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl KeySizeUser for ChaCha20Core {
    type KeySize = U32;
}

impl IvSizeUser for ChaCha20Core {
    type IvSize = U12;
}

impl BlockSizeUser for ChaCha20Core {
    type BlockSize = U64;
}

impl KeyIvInit for ChaCha20Core {
    fn new(key: &chacha20::cipher::Key<Self>, iv: &chacha20::cipher::Iv<Self>) -> Self {
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&CONSTANTS);
        for (word, chunk) in state[4..12].iter_mut().zip(key.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        for (word, chunk) in state[13..16].iter_mut().zip(iv.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Self { state }
    }
}

impl StreamCipherCore for ChaCha20Core {
    fn remaining_blocks(&self) -> Option<usize> {
        usize::try_from(u32::MAX - self.state[12]).ok()
    }

    fn process_with_backend(&mut self, f: impl StreamClosure<BlockSize = Self::BlockSize>) {
        f.call(&mut Backend(self));
    }
}

impl StreamCipherSeekCore for ChaCha20Core {
    type Counter = u32;

    fn get_block_pos(&self) -> u32 {
        self.state[12]
    }

    fn set_block_pos(&mut self, pos: u32) {
        self.state[12] = pos;
    }
}

struct Backend<'a>(&'a mut ChaCha20Core);

impl BlockSizeUser for Backend<'_> {
    type BlockSize = U64;
}

impl ParBlocksSizeUser for Backend<'_> {
    type ParBlocksSize = U4;
}

impl StreamBackend for Backend<'_> {
    fn gen_ks_block(&mut self, block: &mut Block<Self>) {
        // A single block (the tail of a message): the first of four.
        let counter = self.0.state[12];
        let blocks = four_blocks(&self.0.state, counter);
        block.copy_from_slice(&blocks[0]);
        self.0.state[12] = counter.wrapping_add(1);
    }

    fn gen_par_ks_blocks(&mut self, out: &mut ParBlocks<Self>) {
        let counter = self.0.state[12];
        let blocks = four_blocks(&self.0.state, counter);
        for (dst, src) in out.iter_mut().zip(blocks.iter()) {
            dst.copy_from_slice(src);
        }
        self.0.state[12] = counter.wrapping_add(4);
    }
}
