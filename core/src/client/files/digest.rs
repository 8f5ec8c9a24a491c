//! The content digest a document version announces, and its computation piece by piece.
//!
//! Three kinds exist (`docs/format.md`, "Content digest"):
//!
//! * [`DigestKind::Sha256`]: SHA-256 of the whole plaintext, written by earlier SDKs. Hashing it
//!   needs one incremental pass over every byte in this process, which in WASM is the
//!   slowest part of a download.
//! * [`DigestKind::Pieces`]: SHA-256 of each [`PIECE`] of the plaintext, each computed by the
//!   host in one call when it can ([`Transport::sha256`](crate::client::Transport::sha256):
//!   WebCrypto in the browser), and SHA-512/256 over those digests and the length. Written by
//!   earlier SDKs.
//! * [`DigestKind::SealedPieces`]: the same construction over the *sealed* bytes (the blob the
//!   relay stores), under its own label. Written by this SDK: its pieces are the upload's
//!   windows, whose SHA-256 the appends' signatures already need, so an upload hashes every
//!   byte once instead of twice (plaintext pieces, then sealed windows); a download hashes the
//!   4 MiB ranges it fetches, without gathering plaintext into pieces. It binds the plaintext
//!   too: the sealed header commits to the file key (format v2), and opening is deterministic.
//!
//! The kind travels in the signed manifest (version 4). A reader that does not know the kind
//! (it saw the announcement, not the manifest) checks all three: a file is accepted when one
//! matches. That is as strong as one kind, because no two kinds hash the same input with the
//! same function: SHA-256 for one, SHA-512/256 with two different labels for the others, so
//! one announced value fitting two kinds is a collision of SHA-256 with SHA-512/256, or of
//! SHA-512/256 on two inputs that differ in their label.

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
/// Domain separation of the [`DigestKind::SealedPieces`] root.
const SEALED_LABEL: &[u8] = b"sealroom/content-digest/v1/sha256-4mib-sealed-pieces";
/// The wire name of [`DigestKind::SealedPieces`] in a manifest.
pub(super) const SEALED_WIRE: &str = "sha256-4mib-sealed-pieces";

/// How a version's 32-byte content digest is computed from its plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DigestKind {
    /// SHA-256 of the whole plaintext (earlier SDKs).
    Sha256,
    /// SHA-512/256 over the SHA-256 of every 4 MiB piece and the length.
    Pieces,
    /// As [`DigestKind::Pieces`], over the sealed bytes, under its own label.
    SealedPieces,
}

impl DigestKind {
    /// The manifest's `digest_kind` (empty for SHA-256, as earlier manifests have it).
    pub(super) fn wire(self) -> &'static str {
        match self {
            Self::Sha256 => "",
            Self::Pieces => PIECES_WIRE,
            Self::SealedPieces => SEALED_WIRE,
        }
    }

    /// The kind a manifest names; `None` for one this SDK does not know.
    pub(super) fn from_wire(text: &str) -> Option<Self> {
        match text {
            "" => Some(Self::Sha256),
            PIECES_WIRE => Some(Self::Pieces),
            SEALED_WIRE => Some(Self::SealedPieces),
            _ => None,
        }
    }
}

/// The [`DigestKind::Pieces`] digest of `plaintext`, computed here (tests, vectors, and the
/// reference for `docs/format.md`).
pub fn pieces_digest(plaintext: &[u8]) -> [u8; 32] {
    root_over(PIECES_LABEL, plaintext)
}

/// The [`DigestKind::SealedPieces`] digest of a sealed file (the bytes the relay stores),
/// computed here (tests, vectors, and the reference for `docs/format.md`).
pub fn sealed_pieces_digest(sealed: &[u8]) -> [u8; 32] {
    root_over(SEALED_LABEL, sealed)
}

fn root_over(label: &[u8], bytes: &[u8]) -> [u8; 32] {
    let mut root = PieceRoot::new(label);
    for piece in bytes.chunks(PIECE) {
        root.add(&Sha256::digest(piece).into(), piece.len());
    }
    root.finish()
}

/// The running root of a piece digest, fed with the SHA-256 of each piece in order (only the
/// last one may be shorter than [`PIECE`]).
pub(super) struct PieceRoot {
    root: Sha512_256,
    len: u64,
}

impl PieceRoot {
    fn new(label: &[u8]) -> Self {
        let mut root = Sha512_256::new();
        root.update(label);
        Self { root, len: 0 }
    }

    /// The root of a [`DigestKind::SealedPieces`] digest.
    pub(super) fn sealed() -> Self {
        Self::new(SEALED_LABEL)
    }

    /// Takes the next piece: its SHA-256 and its length.
    pub(super) fn add(&mut self, digest: &[u8; 32], len: usize) {
        self.root.update(digest);
        self.len += len as u64;
    }

    /// The digest over every piece taken.
    pub(super) fn finish(&self) -> [u8; 32] {
        let mut root = self.root.clone();
        root.update(self.len.to_be_bytes());
        root.finalize().into()
    }
}

/// Computes the content digest of a file fed in order (plaintext, and for
/// [`DigestKind::SealedPieces`] the sealed bytes), of one kind or, when the kind is unknown, of
/// all.
pub(super) struct ContentHasher {
    whole: Option<Sha256>,
    pieces: Option<Pieces>,
    sealed: Option<Pieces>,
}

/// A piece digest's state: the unfinished piece, and the root over finished ones.
struct Pieces {
    piece: Zeroizing<Vec<u8>>,
    root: PieceRoot,
}

impl Pieces {
    fn new(label: &[u8]) -> Self {
        Self {
            piece: Zeroizing::new(Vec::new()),
            root: PieceRoot::new(label),
        }
    }

    async fn update(&mut self, api: &RelayApi, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // A whole piece in the caller's buffer is hashed there, without a copy.
            if self.piece.is_empty() && bytes.len() >= PIECE {
                self.root.add(&api.sha256(&bytes[..PIECE]).await, PIECE);
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
                self.root.add(&api.sha256(&self.piece).await, PIECE);
                // Overwritten by the next piece; wiped when the hasher is dropped.
                self.piece.clear();
            }
        }
    }

    /// [`Pieces::finish`] of a state that may not exist (a kind not computed).
    async fn finish_some(pieces: Option<Self>, api: &RelayApi) -> Option<[u8; 32]> {
        match pieces {
            Some(p) => Some(p.finish(api).await),
            None => None,
        }
    }

    async fn finish(mut self, api: &RelayApi) -> [u8; 32] {
        if !self.piece.is_empty() {
            let len = self.piece.len();
            self.root.add(&api.sha256(&self.piece).await, len);
        }
        self.root.finish()
    }
}

/// The digests a [`ContentHasher`] computed.
pub(super) struct Digests {
    whole: Option<[u8; 32]>,
    pieces: Option<[u8; 32]>,
    sealed: Option<[u8; 32]>,
}

impl Digests {
    /// Whether one of the computed digests is `announced`.
    pub(super) fn matches(&self, announced: &[u8; 32]) -> bool {
        [self.whole, self.pieces, self.sealed]
            .iter()
            .flatten()
            .any(|d| bool::from(d.ct_eq(announced)))
    }
}

impl ContentHasher {
    /// A hasher of `kind`, or of every kind when it is `None` (unknown).
    pub(super) fn new(kind: Option<DigestKind>) -> Self {
        let of = |k| kind.is_none() || kind == Some(k);
        Self {
            whole: of(DigestKind::Sha256).then(Sha256::new),
            pieces: of(DigestKind::Pieces).then(|| Pieces::new(PIECES_LABEL)),
            sealed: of(DigestKind::SealedPieces).then(|| Pieces::new(SEALED_LABEL)),
        }
    }

    /// Feeds the next sealed bytes (from the file's first byte on, in order; pieces arrive
    /// whole without a copy when the caller hands over [`PIECE`]-aligned ranges).
    pub(super) async fn update_sealed(&mut self, api: &RelayApi, bytes: &[u8]) {
        if let Some(sealed) = &mut self.sealed {
            sealed.update(api, bytes).await;
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
        Digests {
            whole: self.whole.map(|h| h.finalize().into()),
            pieces: Pieces::finish_some(self.pieces, api).await,
            sealed: Pieces::finish_some(self.sealed, api).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_on_the_wire() {
        for kind in [
            DigestKind::Sha256,
            DigestKind::Pieces,
            DigestKind::SealedPieces,
        ] {
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
        // The two piece kinds hash the same bytes to different values.
        assert_ne!(sealed_pieces_digest(&data), d);
        assert_ne!(sealed_pieces_digest(&[]), pieces_digest(&[]));
    }

    #[test]
    fn a_root_fed_piece_digests_equals_the_whole_computation() {
        let data: Vec<u8> = (0..PIECE + 5).map(|i| (i % 13) as u8).collect();
        let mut root = PieceRoot::sealed();
        for piece in data.chunks(PIECE) {
            root.add(&Sha256::digest(piece).into(), piece.len());
        }
        assert_eq!(root.finish(), sealed_pieces_digest(&data));
    }

    /// A transport that never answers: the hasher only needs core's own SHA-256.
    struct Offline;

    impl crate::client::Transport for Offline {
        fn send(&self, _request: crate::client::HttpRequest) -> crate::client::TransportFuture<'_> {
            Box::pin(std::future::ready(Err(
                crate::client::TransportError::Connect("offline".into()),
            )))
        }

        fn now_secs(&self) -> i64 {
            0
        }
    }

    /// Runs a future that never waits (core hashes in place here).
    fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the hasher waited"),
        }
    }

    /// Feeds `plain` and `sealed` in uneven pieces (as downloads do) to a hasher of `kind`.
    fn digests(kind: Option<DigestKind>, plain: &[u8], sealed: &[u8]) -> Digests {
        let api = RelayApi::new("http://127.0.0.1:9", std::sync::Arc::new(Offline)).unwrap();
        let mut hasher = ContentHasher::new(kind);
        for part in plain.chunks(PIECE / 3 + 11) {
            ready(hasher.update(&api, part));
        }
        for part in sealed.chunks(PIECE) {
            ready(hasher.update_sealed(&api, part));
        }
        ready(hasher.finish(&api))
    }

    #[test]
    fn a_reader_checks_the_kind_it_knows_or_every_kind() {
        let plain: Vec<u8> = (0..PIECE + 77).map(|i| (i % 7) as u8).collect();
        let sealed: Vec<u8> = (0..PIECE + 99).map(|i| (i % 5) as u8).collect();
        let whole: [u8; 32] = Sha256::digest(&plain).into();
        let pieces = pieces_digest(&plain);
        let sealed_d = sealed_pieces_digest(&sealed);
        // The kind unknown (only the announcement read): any of the three is accepted.
        let all = digests(None, &plain, &sealed);
        for d in [whole, pieces, sealed_d] {
            assert!(all.matches(&d));
        }
        assert!(!all.matches(&sealed_pieces_digest(&plain)));
        assert!(!all.matches(&pieces_digest(&sealed)));
        // A known kind: only its own digest.
        let only = |kind| digests(Some(kind), &plain, &sealed);
        let sealed_only = only(DigestKind::SealedPieces);
        assert!(sealed_only.matches(&sealed_d));
        assert!(!sealed_only.matches(&pieces) && !sealed_only.matches(&whole));
        let pieces_only = only(DigestKind::Pieces);
        assert!(pieces_only.matches(&pieces));
        assert!(!pieces_only.matches(&sealed_d) && !pieces_only.matches(&whole));
        let whole_only = only(DigestKind::Sha256);
        assert!(whole_only.matches(&whole) && !whole_only.matches(&sealed_d));
    }
}
