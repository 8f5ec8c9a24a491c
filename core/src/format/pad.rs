//! Version 2 payload layout: Padmé padding and the end chunk.
//!
//! The plaintext of `L` bytes is followed by zero bytes up to `P = padded_len(L)`; those `P`
//! bytes are cut into 64 KiB chunks (the last one shorter), and a 24-byte end chunk sealing
//! `u64(L)` closes the payload. The sealed size depends on `P` (and the metadata bucket) only.

use super::{FormatError, CHUNK_SIZE, SEALED_CHUNK_SIZE};
use crate::primitives::AEAD_TAG_LEN;

/// Every v2 payload is padded to at least this many plaintext bytes.
pub const MIN_PADDED_LEN: u64 = 256;
/// Sealed size of the v2 end chunk: the 8-byte plaintext length and a 16-byte tag.
pub const END_CHUNK_LEN: usize = 8 + AEAD_TAG_LEN;

/// The padded plaintext size of a v2 file of `len` bytes: Padmé (Nikitin et al., "Reducing
/// Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019,
/// Algorithm 1) of `max(len, 256)`. `None` if it does not fit in a `u64`.
///
/// With `E = floor(log2 n)` and `S = floor(log2 E) + 1`, the low `E - S` bits of `n` are
/// rounded up: at most `2^(E-S) - 1` bytes (less than `n / E`; with the 256-byte floor at most
/// 6.25 %) are added, and a padded size leaks `O(log log n)` bits instead of `log n`.
pub fn padded_len(len: u64) -> Option<u64> {
    let n = len.max(MIN_PADDED_LEN);
    let e = u64::from(n.ilog2());
    let s = u64::from(e.ilog2()) + 1;
    let mask = (1u64 << (e - s)) - 1;
    n.checked_add(mask).map(|v| v & !mask)
}

/// Chunk counts of a v2 payload for a plaintext of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Plaintext length.
    pub(crate) len: u64,
    /// Padded length `P`.
    pub(crate) padded: u64,
    /// Number of padded chunks (the end chunk has index `chunks`).
    pub(crate) chunks: u64,
    /// Number of data chunks: `max(1, ceil(len / C))`; the rest are padding chunks.
    pub(crate) data_chunks: u64,
}

impl Plan {
    pub(crate) fn new(len: u64) -> Result<Self, FormatError> {
        let padded = padded_len(len).ok_or(FormatError::TooLarge)?;
        let chunk = CHUNK_SIZE as u64;
        Ok(Self {
            len,
            padded,
            chunks: padded.div_ceil(chunk),
            data_chunks: len.div_ceil(chunk).max(1),
        })
    }

    /// Sealed payload size: `P + 16·chunks + 24`.
    pub(crate) fn sealed_len(&self) -> Option<u64> {
        self.chunks
            .checked_mul(AEAD_TAG_LEN as u64)?
            .checked_add(self.padded)?
            .checked_add(END_CHUNK_LEN as u64)
    }

    /// Plaintext size of padded chunk `index` (< `chunks`).
    pub(crate) fn chunk_len(&self, index: u64) -> usize {
        let start = index.saturating_mul(CHUNK_SIZE as u64);
        // At most CHUNK_SIZE, so it fits in usize.
        self.padded.saturating_sub(start).min(CHUNK_SIZE as u64) as usize
    }

    /// Data bytes in padded chunk `index`; the rest of the chunk is zero padding.
    pub(crate) fn data_in_chunk(&self, index: u64) -> usize {
        let start = index.saturating_mul(CHUNK_SIZE as u64);
        self.len.saturating_sub(start).min(CHUNK_SIZE as u64) as usize
    }
}

/// Sealed v2 payload size (everything after the header) for a plaintext of `len` bytes;
/// `u64::MAX` if the length is too large to seal.
pub fn payload_len(len: u64) -> u64 {
    Plan::new(len)
        .ok()
        .and_then(|plan| plan.sealed_len())
        .unwrap_or(u64::MAX)
}

/// Number of padded chunks and the padded length `P` of a v2 payload of `sealed_len` bytes,
/// from its size alone. Rejects sizes no encryptor writes.
pub(crate) fn layout_from_sealed(sealed_len: u64) -> Result<(u64, u64), FormatError> {
    let tag = AEAD_TAG_LEN as u64;
    let body = sealed_len
        .checked_sub(END_CHUNK_LEN as u64)
        .filter(|b| *b > tag)
        .ok_or(FormatError::Truncated)?;
    let count = body.div_ceil(SEALED_CHUNK_SIZE as u64);
    let last = body - (count - 1) * SEALED_CHUNK_SIZE as u64;
    if last <= tag {
        return Err(FormatError::InvalidPayload);
    }
    let padded = body - count * tag;
    if padded_len(padded) != Some(padded) {
        return Err(FormatError::InvalidPayload);
    }
    Ok((count, padded))
}

/// Whether every byte is zero (padding check; the bytes are authenticated, so no secret timing).
pub(crate) fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_the_paper() {
        assert_eq!(padded_len(0), Some(256));
        assert_eq!(padded_len(256), Some(256));
        assert_eq!(padded_len(257), Some(272));
        assert_eq!(padded_len(1000), Some(1024));
        assert_eq!(padded_len(65536), Some(65536));
        assert_eq!(padded_len(65537), Some(67584));
        assert_eq!(padded_len(1 << 30), Some(1 << 30));
        assert_eq!(padded_len((1 << 30) + 1), Some((1 << 30) + (1 << 25)));
        assert_eq!(padded_len(u64::MAX), None);
        // Idempotent, monotone, and at most 12 % over.
        let mut prev = 0;
        for len in (0..3_000_000u64).step_by(997) {
            let p = padded_len(len).unwrap();
            assert!(p >= len && p >= prev);
            assert_eq!(padded_len(p), Some(p));
            assert!(len < 256 || (p - len) * 100 <= len * 12, "{len}");
            prev = p;
        }
    }

    #[test]
    fn layout_round_trips() {
        for len in [
            0u64,
            1,
            255,
            256,
            257,
            65535,
            65536,
            65537,
            131072,
            10 * 65536 + 3,
        ] {
            let plan = Plan::new(len).unwrap();
            let sealed = plan.sealed_len().unwrap();
            assert_eq!(payload_len(len), sealed);
            assert_eq!(
                layout_from_sealed(sealed).unwrap(),
                (plan.chunks, plan.padded),
                "{len}"
            );
            let total: u64 = (0..plan.chunks).map(|i| plan.chunk_len(i) as u64).sum();
            assert_eq!(total, plan.padded);
            let data: u64 = (0..plan.chunks).map(|i| plan.data_in_chunk(i) as u64).sum();
            assert_eq!(data, len);
        }
        assert!(matches!(
            layout_from_sealed(40),
            Err(FormatError::Truncated)
        ));
        // 300 padded bytes is not a Padmé size.
        assert!(matches!(
            layout_from_sealed(300 + 16 + 24),
            Err(FormatError::InvalidPayload)
        ));
    }
}
