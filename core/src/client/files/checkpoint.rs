//! The resume checkpoint of an upload: what the relay acknowledged, and a digest that lets a
//! resumed upload check that it re-sealed the same bytes before it sends anything new.
//!
//! Two encodings of [`UploadState`](super::upload) exist, told apart by its `checkpoint`
//! field:
//!
//! * **0** (absent; written by earlier SDKs): `acked_digest` is SHA-256 of the sealed bytes
//!   `0..acked`, hashed incrementally in this process, a second pass over every sealed byte
//!   (in WASM, a third of an upload's time). Still resumed: the resumed upload hashes the
//!   re-sealed bytes up to `acked` once more and compares, then writes encoding 1.
//! * **1**: the sealed stream is cut into windows of [`WINDOW`] bytes at fixed offsets (`k ·
//!   WINDOW`; the last one shorter), each sent as one append, and `acked_digest` is the chain
//!   `c_0 = SHA-256("sealroom/upload-checkpoint/v1")`, `c_{k+1} = SHA-256(c_k || SHA-256(window_k))`
//!   over the windows `0..acked` (`acked` is a window boundary, or the sealed length). The
//!   SHA-256 of a window is the digest its append's signature covers, computed by the host
//!   ([`Transport::sha256`](crate::client::Transport::sha256)), so the chain costs 64 bytes of
//!   hashing per 4 MiB here.

use sha2::{Digest, Sha256};

use super::UPLOAD_CHUNK;

/// The checkpoint encoding this SDK writes.
pub(super) const CHECKPOINT_CHAIN: u32 = 1;
/// The earlier encoding: SHA-256 of the acknowledged sealed bytes.
pub(super) const CHECKPOINT_SHA256: u32 = 0;
/// Sealed bytes per window (and per append).
pub(super) const WINDOW: usize = UPLOAD_CHUNK;
const CHAIN_LABEL: &[u8] = b"sealroom/upload-checkpoint/v1";

/// The chain over no window.
pub(super) fn chain_start() -> [u8; 32] {
    Sha256::digest(CHAIN_LABEL).into()
}

/// The chain after one more window whose SHA-256 is `window`.
pub(super) fn chain_next(chain: &[u8; 32], window: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(chain);
    h.update(window);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_depends_on_every_window_and_their_order() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let ab = chain_next(&chain_next(&chain_start(), &a), &b);
        let ba = chain_next(&chain_next(&chain_start(), &b), &a);
        assert_ne!(ab, ba);
        assert_ne!(chain_next(&chain_start(), &a), chain_start());
        assert_eq!(ab, chain_next(&chain_next(&chain_start(), &a), &b));
    }
}
