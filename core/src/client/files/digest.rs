//! The content digest a document version announces, and its computation piece by piece.
//!
//! Two kinds exist (`docs/format.md`, "Content digest"):
//!
//! * [`DigestKind::Sha256`]: SHA-256 of the whole plaintext, written by earlier SDKs. Hashing it
//!   needs one incremental pass over every byte in this process, which in WASM is the
//!   slowest part of a download.
//! * [`DigestKind::Pieces`]: SHA-256 of each [`PIECE`] of the plaintext, each computed by the
//!   host in one call when it can ([`Transport::sha256`](crate::client::Transport::sha256):
//!   WebCrypto in the browser), and SHA-512/256 over those digests and the length. Written by
//!   this SDK.
//!
//! The kind travels in the signed manifest (version 4). A reader that does not know the kind
//! (it saw the announcement, not the manifest) checks both: a plaintext is accepted when either
//! matches. That is as strong as one kind, because the two functions end in different hash
//! functions (SHA-256 and SHA-512/256): one announced value fitting a plaintext under one kind
//! and another plaintext under the other is a collision across the two, as hard as a
//! SHA-256 collision.

use sha2::{Digest, Sha256, Sha512_256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::client::api::RelayApi;

/// Plaintext bytes per piece of [`DigestKind::Pieces`] (4 MiB).
pub const PIECE: usize = 4 * 1024 * 1024;
/// Domain separation of the [`DigestKind::Pieces`] root.
const PIECES_LABEL: &[u8] = b"sealroom/content-digest/v1/sha256-4mib-pieces";
/// The wire name of [`DigestKind::Pieces`] in a manifest.
pub(super) const PIECES_WIRE: &str = "sha256-4mib-pieces";

/// How a version's 32-byte content digest is computed from its plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DigestKind {
    /// SHA-256 of the whole plaintext (earlier SDKs).
    Sha256,
    /// SHA-512/256 over the SHA-256 of every 4 MiB piece and the length.
    Pieces,
}

impl DigestKind {
    /// The manifest's `digest_kind` (empty for SHA-256, as earlier manifests have it).
    pub(super) fn wire(self) -> &'static str {
        match self {
            Self::Sha256 => "",
            Self::Pieces => PIECES_WIRE,
        }
    }

    /// The kind a manifest names; `None` for one this SDK does not know.
    pub(super) fn from_wire(text: &str) -> Option<Self> {
        match text {
            "" => Some(Self::Sha256),
            PIECES_WIRE => Some(Self::Pieces),
            _ => None,
        }
    }
}

/// The [`DigestKind::Pieces`] digest of `plaintext`, computed here (tests, vectors, and the
/// reference for `docs/format.md`).
pub fn pieces_digest(plaintext: &[u8]) -> [u8; 32] {
    let mut root = Sha512_256::new();
    root.update(PIECES_LABEL);
    for piece in plaintext.chunks(PIECE) {
        root.update(Sha256::digest(piece));
    }
    root.update((plaintext.len() as u64).to_be_bytes());
    root.finalize().into()
}

/// Computes the content digest of a plaintext fed in order, of one kind or, when the kind is
/// unknown, of both.
pub(super) struct ContentHasher {
    whole: Option<Sha256>,
    pieces: Option<Pieces>,
}

/// The [`DigestKind::Pieces`] state: the unfinished piece, and the root over finished ones.
struct Pieces {
    piece: Zeroizing<Vec<u8>>,
    root: Sha512_256,
    len: u64,
}

impl Pieces {
    fn new() -> Self {
        let mut root = Sha512_256::new();
        root.update(PIECES_LABEL);
        Self {
            piece: Zeroizing::new(Vec::new()),
            root,
            len: 0,
        }
    }

    async fn update(&mut self, api: &RelayApi, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        while !bytes.is_empty() {
            // A whole piece in the caller's buffer is hashed there, without a copy.
            if self.piece.is_empty() && bytes.len() >= PIECE {
                self.root.update(api.sha256(&bytes[..PIECE]).await);
                bytes = &bytes[PIECE..];
                continue;
            }
            if self.piece.capacity() < PIECE {
                self.piece.reserve_exact(PIECE);
            }
            let take = (PIECE - self.piece.len()).min(bytes.len());
            self.piece.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.piece.len() == PIECE {
                self.root.update(api.sha256(&self.piece).await);
                // Overwritten by the next piece; wiped when the hasher is dropped.
                self.piece.clear();
            }
        }
    }

    async fn finish(mut self, api: &RelayApi) -> [u8; 32] {
        if !self.piece.is_empty() {
            self.root.update(api.sha256(&self.piece).await);
        }
        self.root.update(self.len.to_be_bytes());
        std::mem::take(&mut self.root).finalize().into()
    }
}

/// The digests a [`ContentHasher`] computed.
pub(super) struct Digests {
    whole: Option<[u8; 32]>,
    pieces: Option<[u8; 32]>,
}

impl Digests {
    /// The digest of `kind`, if it was computed.
    pub(super) fn of(&self, kind: DigestKind) -> Option<[u8; 32]> {
        match kind {
            DigestKind::Sha256 => self.whole,
            DigestKind::Pieces => self.pieces,
        }
    }

    /// Whether one of the computed digests is `announced`.
    pub(super) fn matches(&self, announced: &[u8; 32]) -> bool {
        [self.whole, self.pieces]
            .iter()
            .flatten()
            .any(|d| bool::from(d.ct_eq(announced)))
    }
}

impl ContentHasher {
    /// A hasher of `kind`, or of both kinds when it is `None` (unknown).
    pub(super) fn new(kind: Option<DigestKind>) -> Self {
        Self {
            whole: (kind != Some(DigestKind::Pieces)).then(Sha256::new),
            pieces: (kind != Some(DigestKind::Sha256)).then(Pieces::new),
        }
    }

    /// Feeds the next plaintext bytes.
    pub(super) async fn update(&mut self, api: &RelayApi, bytes: &[u8]) {
        if let Some(whole) = &mut self.whole {
            whole.update(bytes);
        }
        if let Some(pieces) = &mut self.pieces {
            pieces.update(api, bytes).await;
        }
    }

    /// The digests of everything fed.
    pub(super) async fn finish(self, api: &RelayApi) -> Digests {
        let pieces = match self.pieces {
            Some(p) => Some(p.finish(api).await),
            None => None,
        };
        Digests {
            whole: self.whole.map(|h| h.finalize().into()),
            pieces,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_on_the_wire() {
        for kind in [DigestKind::Sha256, DigestKind::Pieces] {
            assert_eq!(DigestKind::from_wire(kind.wire()), Some(kind));
        }
        assert_eq!(DigestKind::from_wire("sha3"), None);
    }

    #[test]
    fn pieces_digest_depends_on_order_length_and_every_piece() {
        let mut data = vec![0u8; 2 * PIECE + 7];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let d = pieces_digest(&data);
        let mut swapped = data[PIECE..2 * PIECE].to_vec();
        swapped.extend_from_slice(&data[..PIECE]);
        swapped.extend_from_slice(&data[2 * PIECE..]);
        assert_ne!(pieces_digest(&swapped), d);
        assert_ne!(pieces_digest(&data[..2 * PIECE]), d);
        assert_ne!(pieces_digest(&data[..data.len() - 1]), d);
        let mut flipped = data.clone();
        flipped[PIECE + 3] ^= 1;
        assert_ne!(pieces_digest(&flipped), d);
        // Not the whole-file SHA-256, and the empty plaintext has one too.
        assert_ne!(d, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_ne!(pieces_digest(&[]), pieces_digest(&[0]));
    }
}
