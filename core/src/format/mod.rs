//! The sealed-file format (specified in `docs/format.md`): version 2 is written, versions 1
//! and 2 are read.
//!
//! A sealed file is a short header (magic, version, a random 256-bit salt, in v2 a 256-bit key
//! commitment, and an encrypted, padded, authenticated metadata block) followed by the
//! payload: the plaintext cut into 64 KiB chunks, each sealed with ChaCha20-Poly1305 under a
//! STREAM nonce (chunk counter and a chunk-kind flag). In v2 the plaintext is zero-padded to a
//! Padmé size and its true length travels sealed in a 24-byte end chunk. Every file has its
//! own random 256-bit [`FileKey`]; the commitment, metadata and payload keys are derived from
//! it with HKDF-SHA256 and the header salt.
//!
//! Entry points:
//! - push API for bindings: [`Sealer`] (plaintext in, sealed bytes out) and [`Opener`]
//!   (sealed bytes in, authenticated plaintext out);
//! - `std::io` adaptors for Rust: [`SealWriter`] and [`OpenReader`];
//! - random access: [`open_range`]; whole buffers: [`seal`], [`open`], [`seal_parallel`],
//!   [`open_parallel`].
//!
//! ```
//! use sealroom_core::format::{FileKey, Metadata, Opener, Sealer};
//!
//! let key = FileKey::generate()?;
//! let metadata = Metadata {
//!     name: "contract.pdf".into(),
//!     media_type: "application/pdf".into(),
//!     classification: "confidential".into(),
//!     created: 1_767_225_600,
//!     length: Some(11),
//! };
//!
//! // Seal: the header first, then whatever each push returns, then finish().
//! let (mut sealer, mut sealed) = Sealer::new(&key, &metadata)?;
//! sealed.extend(sealer.push(b"hello ")?);
//! sealed.extend(sealer.push(b"world")?);
//! sealed.extend(sealer.finish()?);
//!
//! // Open: push any slicing of the sealed bytes; plaintext comes out only once authenticated.
//! let mut opener = Opener::new(&key);
//! let mut plaintext = opener.push(&sealed[..10])?;
//! plaintext.extend(opener.push(&sealed[10..])?);
//! assert_eq!(opener.metadata(), Some(&metadata));
//! plaintext.extend(opener.finish()?); // fails if the stream was cut short
//! assert_eq!(plaintext, b"hello world");
//! # Ok::<(), sealroom_core::format::FormatError>(())
//! ```

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::primitives::{self, hkdf_sha256, hkdf_sha256_key, Aead, AEAD_TAG_LEN};

mod io;
mod open;
mod open_v2;
mod pad;
pub mod recovery;
mod seal;

pub use io::{OpenReader, SealWriter};
pub use open::{open, open_parallel, open_range, plaintext_len, tail_start, Opener};
pub use pad::{padded_len, payload_len, END_CHUNK_LEN, MIN_PADDED_LEN};
pub use seal::{seal, seal_parallel, SealTail, Sealer};
#[cfg(feature = "test-vectors")]
pub use seal::{seal_parallel_with_salt, seal_v1_with_salt};

/// The eight magic bytes every sealed file starts with (ASCII `SEALROOM`).
pub const MAGIC: [u8; 8] = *b"SEALROOM";
/// The format version this module writes (version 1 files are still read).
pub const VERSION: u8 = 2;
/// Length of the per-file random salt in the header.
pub const SALT_LEN: usize = 32;
/// Length of the version 2 key commitment in the header.
pub const COMMITMENT_LEN: usize = 32;
/// Length of the fixed part of a v1 header: magic, version, salt, metadata length.
pub const HEADER_FIXED_LEN: usize = MAGIC.len() + 1 + SALT_LEN + 2;
/// Length of the fixed part of a v2 header: magic, version, salt, commitment, metadata length.
pub const HEADER_FIXED_LEN_V2: usize = MAGIC.len() + 1 + SALT_LEN + COMMITMENT_LEN + 2;
/// Bytes that always suffice for [`header_len`] to know the whole header's length.
pub const MAX_HEADER_FIXED_LEN: usize = HEADER_FIXED_LEN_V2;
/// Plaintext bytes per chunk (every chunk but the last holds exactly this many).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Sealed size of a full chunk: plaintext plus the 16-byte tag.
pub const SEALED_CHUNK_SIZE: usize = CHUNK_SIZE + AEAD_TAG_LEN;
/// Allowed sizes of the padded metadata plaintext (before its 16-byte tag).
pub const METADATA_BUCKETS: [usize; 3] = [512, 1024, 2048];
/// Longest file name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Longest media type, in UTF-8 bytes.
pub const MAX_MEDIA_TYPE_LEN: usize = 255;
/// Longest classification label, in UTF-8 bytes.
pub const MAX_CLASSIFICATION_LEN: usize = 255;

/// HKDF `info` label deriving the v1 metadata key.
pub const LABEL_METADATA: &[u8] = b"sealroom/file/v1/metadata-key";
/// HKDF `info` label deriving the v1 payload key.
pub const LABEL_PAYLOAD: &[u8] = b"sealroom/file/v1/payload-key";
/// HKDF `info` label deriving the v2 key commitment.
pub const LABEL_V2_COMMITMENT: &[u8] = b"sealroom/file/v2/key-commitment";
/// HKDF `info` label deriving the v2 metadata key.
pub const LABEL_V2_METADATA: &[u8] = b"sealroom/file/v2/metadata-key";
/// HKDF `info` label deriving the v2 payload key.
pub const LABEL_V2_PAYLOAD: &[u8] = b"sealroom/file/v2/payload-key";

/// Fixed part of the encoded metadata: flags (1), length (8), created (8), 3 string lengths (2 each).
const METADATA_FIXED_LEN: usize = 1 + 8 + 8 + 3 * 2;
/// Metadata flag bit: the plaintext length is declared.
const FLAG_LENGTH_DECLARED: u8 = 0x01;

/// A sealed-file format version this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// Version 1: no key commitment, no padding.
    V1,
    /// Version 2: key commitment in the header, payload padded (Padmé) with the length sealed
    /// in an end chunk.
    V2,
}

impl Version {
    fn from_byte(byte: u8) -> Result<Self, FormatError> {
        match byte {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            other => Err(FormatError::UnsupportedVersion(other)),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    fn fixed_len(self) -> usize {
        match self {
            Self::V1 => HEADER_FIXED_LEN,
            Self::V2 => HEADER_FIXED_LEN_V2,
        }
    }
}

/// Errors of the sealed-file format.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The input does not start with [`MAGIC`]: it is not a sealed file.
    #[error("not a sealed file")]
    NotSealed,
    /// The file has a format version this implementation does not know.
    #[error("unsupported sealed-file version {0}")]
    UnsupportedVersion(u8),
    /// A plaintext header field is out of range (for example an absurd metadata length), or the
    /// authenticated metadata is not well formed. Checked before anything is allocated.
    #[error("invalid sealed-file header")]
    InvalidHeader,
    /// The input ended inside the header, or before the final chunk. The caller may retry
    /// with the complete file.
    #[error("sealed file is truncated")]
    Truncated,
    /// Version 2: the payload authenticated but is not the one encoding the format allows
    /// (a non-zero padding byte, a sealed length that disagrees with the padded size, the
    /// declared length or the number of data chunks, or a payload size no encryptor writes).
    /// Only a holder of the file key can produce such a file.
    #[error("invalid sealed payload")]
    InvalidPayload,
    /// Decryption failed: wrong key (in v2 also: the key commitment does not match), or the sealed bytes were modified, reordered, duplicated,
    /// swapped in from another file or followed by trailing data. Deliberately says nothing
    /// about which check failed.
    #[error("decryption failed")]
    Decrypt,
    /// Sealing: a metadata string is longer than its documented limit
    /// ([`MAX_NAME_LEN`], [`MAX_MEDIA_TYPE_LEN`], [`MAX_CLASSIFICATION_LEN`]).
    #[error("metadata too large")]
    MetadataTooLarge,
    /// Sealing: the plaintext pushed differs from the length declared in [`Metadata::length`].
    #[error("plaintext length differs from the declared length")]
    LengthMismatch,
    /// The requested byte range lies outside the plaintext.
    #[error("range outside the plaintext")]
    RangeOutOfBounds,
    /// The plaintext is too large for the format (more than 2^64 chunks), or a length does not
    /// fit this platform's address space.
    #[error("file too large")]
    TooLarge,
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable")]
    Random,
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An internal invariant was violated (a bug in this crate, never caused by input).
    #[error("internal error")]
    Internal,
}

/// The random 256-bit key of one sealed file.
///
/// Zeroized on drop; implements neither `Debug`, `Display`, `Clone` nor `Serialize`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FileKey([u8; 32]);

impl FileKey {
    /// Draws a fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, FormatError> {
        let mut bytes = [0u8; 32];
        primitives::fill_random(&mut bytes).map_err(|_| FormatError::Random)?;
        let key = Self(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// Wraps 32 key bytes (for example unwrapped from a room message).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies the key bytes out, for wrapping under a room key. Handle with care.
    pub fn expose_bytes(&self) -> [u8; 32] {
        self.0
    }

    fn duplicate(&self) -> Self {
        Self(self.0)
    }
}

/// The encrypted, authenticated metadata of a sealed file (Kotlin/Swift/TypeScript:
/// `FileMetadata`). Its serde form exists for the TypeScript binding only (feature `ts`); the
/// sealed file encodes it with [`Metadata::encode`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "uniffi",
    derive(uniffi::Record),
    uniffi(name = "FileMetadata")
)]
#[cfg_attr(
    feature = "ts",
    derive(serde::Serialize, tsify::Tsify),
    tsify(type_prefix = "File")
)]
pub struct Metadata {
    /// File name (UTF-8, at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
    /// Media type, e.g. `application/pdf` (UTF-8, at most [`MAX_MEDIA_TYPE_LEN`] bytes).
    pub media_type: String,
    /// Classification label, e.g. `confidential` (UTF-8, at most [`MAX_CLASSIFICATION_LEN`]).
    pub classification: String,
    /// Creation time in seconds since the Unix epoch (UTC).
    pub created: u64,
    /// Plaintext length in bytes, if declared up front. A declared length is enforced: the
    /// sealer refuses to write more or to finish with fewer bytes, and the chunk layout (and
    /// so the final-chunk flag) follows from it, so an opener can never release a different
    /// length. `None` for streams whose length is unknown when sealing starts.
    #[cfg_attr(feature = "ts", serde(skip_serializing_if = "Option::is_none"))]
    pub length: Option<u64>,
}

impl Metadata {
    /// Encodes and zero-pads the metadata to its bucket size.
    fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let name = self.name.as_bytes();
        let media_type = self.media_type.as_bytes();
        let classification = self.classification.as_bytes();
        if name.len() > MAX_NAME_LEN
            || media_type.len() > MAX_MEDIA_TYPE_LEN
            || classification.len() > MAX_CLASSIFICATION_LEN
        {
            return Err(FormatError::MetadataTooLarge);
        }
        let used = METADATA_FIXED_LEN + name.len() + media_type.len() + classification.len();
        let bucket = METADATA_BUCKETS
            .iter()
            .copied()
            .find(|b| *b >= used)
            .ok_or(FormatError::MetadataTooLarge)?;
        let mut out = Vec::with_capacity(bucket + AEAD_TAG_LEN);
        out.push(if self.length.is_some() {
            FLAG_LENGTH_DECLARED
        } else {
            0
        });
        out.extend_from_slice(&self.length.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&self.created.to_be_bytes());
        for field in [name, media_type, classification] {
            // Lengths were bounded above (<= 1024), so they fit in a u16.
            out.extend_from_slice(&(field.len() as u16).to_be_bytes());
            out.extend_from_slice(field);
        }
        out.resize(bucket, 0);
        Ok(out)
    }

    /// Decodes authenticated, padded metadata. Rejects anything the encoder would not produce.
    fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut reader = Reader(bytes);
        let flags = reader.take(1)?[0];
        if flags & !FLAG_LENGTH_DECLARED != 0 {
            return Err(FormatError::InvalidHeader);
        }
        let length = reader.u64()?;
        if flags & FLAG_LENGTH_DECLARED == 0 && length != 0 {
            return Err(FormatError::InvalidHeader);
        }
        let created = reader.u64()?;
        let name = reader.string(MAX_NAME_LEN)?;
        let media_type = reader.string(MAX_MEDIA_TYPE_LEN)?;
        let classification = reader.string(MAX_CLASSIFICATION_LEN)?;
        if reader.0.iter().any(|b| *b != 0) {
            return Err(FormatError::InvalidHeader);
        }
        // One encoding per metadata: the block must be the smallest bucket that fits.
        let used = bytes.len() - reader.0.len();
        if METADATA_BUCKETS.iter().find(|b| **b >= used) != Some(&bytes.len()) {
            return Err(FormatError::InvalidHeader);
        }
        Ok(Self {
            name,
            media_type,
            classification,
            created,
            length: (flags & FLAG_LENGTH_DECLARED != 0).then_some(length),
        })
    }
}

/// A bounds-checked cursor over authenticated metadata.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.0.len() < n {
            return Err(FormatError::InvalidHeader);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(bytes))
    }

    fn string(&mut self, max: usize) -> Result<String, FormatError> {
        let len = usize::from(u16::from_be_bytes([self.take(1)?[0], self.take(1)?[0]]));
        if len > max {
            return Err(FormatError::InvalidHeader);
        }
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| FormatError::InvalidHeader)
    }
}

/// Validates as much of a header prefix as is present and returns the total header length
/// once the fixed part is complete (`None`: more bytes are needed). Never allocates; rejects
/// absurd lengths. [`MAX_HEADER_FIXED_LEN`] bytes always suffice for an answer.
pub fn header_len(prefix: &[u8]) -> Result<Option<usize>, FormatError> {
    let magic_part = prefix.len().min(MAGIC.len());
    if prefix[..magic_part] != MAGIC[..magic_part] {
        return Err(FormatError::NotSealed);
    }
    let version = match prefix.get(MAGIC.len()) {
        None => return Ok(None),
        Some(&byte) => Version::from_byte(byte)?,
    };
    let fixed = version.fixed_len();
    if prefix.len() < fixed {
        return Ok(None);
    }
    let block_len = usize::from(u16::from_be_bytes([prefix[fixed - 2], prefix[fixed - 1]]));
    if !METADATA_BUCKETS
        .iter()
        .any(|b| b + AEAD_TAG_LEN == block_len)
    {
        return Err(FormatError::InvalidHeader);
    }
    Ok(Some(fixed + block_len))
}

/// The version of a header prefix that [`header_len`] accepted.
fn header_version(header: &[u8]) -> Result<Version, FormatError> {
    Version::from_byte(*header.get(MAGIC.len()).ok_or(FormatError::Internal)?)
}

/// Keys of one file, derived from the file key and the header salt.
struct FileKeys {
    metadata: Aead,
    payload: Aead,
}

impl FileKeys {
    fn derive(version: Version, key: &FileKey, salt: &[u8]) -> Self {
        let (metadata, payload) = match version {
            Version::V1 => (LABEL_METADATA, LABEL_PAYLOAD),
            Version::V2 => (LABEL_V2_METADATA, LABEL_V2_PAYLOAD),
        };
        Self {
            metadata: Aead::new(&hkdf_sha256_key(salt, &key.0, metadata)),
            payload: Aead::new(&hkdf_sha256_key(salt, &key.0, payload)),
        }
    }
}

/// The v2 key commitment: HKDF-SHA256 of the file key under the header salt and its own label.
fn commitment(key: &FileKey, salt: &[u8]) -> Result<[u8; COMMITMENT_LEN], FormatError> {
    let mut out = [0u8; COMMITMENT_LEN];
    hkdf_sha256(salt, &key.0, LABEL_V2_COMMITMENT, &mut out).map_err(|_| FormatError::Internal)?;
    Ok(out)
}

/// Builds the complete header for `metadata` with the given salt; returns it and the payload key.
fn build_header(
    version: Version,
    key: &FileKey,
    metadata: &Metadata,
    salt: &[u8; SALT_LEN],
) -> Result<(Vec<u8>, Aead), FormatError> {
    let mut block = metadata.encode()?;
    let keys = FileKeys::derive(version, key, salt);
    let block_len = u16::try_from(block.len() + AEAD_TAG_LEN).map_err(|_| FormatError::Internal)?;
    let mut header = Vec::with_capacity(version.fixed_len() + block.len() + AEAD_TAG_LEN);
    header.extend_from_slice(&MAGIC);
    header.push(version.byte());
    header.extend_from_slice(salt);
    if version == Version::V2 {
        header.extend_from_slice(&commitment(key, salt)?);
    }
    header.extend_from_slice(&block_len.to_be_bytes());
    let tag = keys
        .metadata
        .seal_in_place(&[0u8; 12], &header, &mut block)
        .map_err(|_| FormatError::Internal)?;
    header.extend_from_slice(&block);
    header.extend_from_slice(&tag);
    block.zeroize();
    Ok((header, keys.payload))
}

/// Authenticates and decodes a complete header (`header_len` already validated it).
///
/// For v2 the key commitment is compared (in constant time) before anything is decrypted.
fn read_header(key: &FileKey, header: &[u8]) -> Result<(Version, Metadata, Aead), FormatError> {
    if header_len(header)? != Some(header.len()) {
        return Err(FormatError::Internal);
    }
    let version = header_version(header)?;
    let (fixed, block) = header.split_at(version.fixed_len());
    let salt = &fixed[MAGIC.len() + 1..MAGIC.len() + 1 + SALT_LEN];
    if version == Version::V2 {
        let stored =
            &fixed[MAGIC.len() + 1 + SALT_LEN..MAGIC.len() + 1 + SALT_LEN + COMMITMENT_LEN];
        let expected = commitment(key, salt)?;
        if !bool::from(expected.as_slice().ct_eq(stored)) {
            return Err(FormatError::Decrypt);
        }
    }
    let keys = FileKeys::derive(version, key, salt);
    let (ciphertext, tag) = block.split_at(block.len() - AEAD_TAG_LEN);
    let mut plaintext = ciphertext.to_vec();
    let mut tag_bytes = [0u8; AEAD_TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    keys.metadata
        .open_in_place(&[0u8; 12], fixed, &mut plaintext, &tag_bytes)
        .map_err(|_| FormatError::Decrypt)?;
    let metadata = Metadata::decode(&plaintext);
    plaintext.zeroize();
    Ok((version, metadata?, keys.payload))
}

/// Chunk-kind flag of the nonce: a non-final v1 chunk, or a v2 chunk holding plaintext.
const KIND_DATA: u8 = 0x00;
/// Chunk-kind flag of the nonce: the v1 final chunk, or the v2 end chunk.
const KIND_END: u8 = 0x01;
/// Chunk-kind flag of the nonce: a v2 chunk holding only padding.
const KIND_PAD: u8 = 0x02;

/// The STREAM nonce of chunk `counter`: 3 zero bytes, the counter as 64-bit big-endian, then
/// the kind flag (v1: 0x01 on the final chunk, 0x00 otherwise; v2: [`KIND_DATA`],
/// [`KIND_PAD`] or [`KIND_END`]).
fn chunk_nonce(counter: u64, kind: u8) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = kind;
    nonce
}

/// The v1 kind flag of a chunk.
fn v1_kind(last: bool) -> u8 {
    if last {
        KIND_END
    } else {
        KIND_DATA
    }
}

/// Number of chunks and plaintext length of the final chunk for a plaintext of `len` bytes.
fn layout(len: u64) -> (u64, usize) {
    let chunk = CHUNK_SIZE as u64;
    if len == 0 {
        return (1, 0);
    }
    let count = len.div_ceil(chunk);
    // The remainder is in 1..=CHUNK_SIZE, so it fits in usize.
    (count, (len - (count - 1) * chunk) as usize)
}

/// Chunk count and plaintext length for a payload of `sealed_len` bytes, enforcing the
/// canonical layout (only the final chunk is short; it is empty only if it is the only one).
fn layout_from_sealed(sealed_len: u64) -> Result<(u64, u64), FormatError> {
    let tag = AEAD_TAG_LEN as u64;
    if sealed_len < tag {
        return Err(FormatError::Truncated);
    }
    let count = sealed_len.div_ceil(SEALED_CHUNK_SIZE as u64);
    let last = sealed_len - (count - 1) * SEALED_CHUNK_SIZE as u64;
    if last < tag {
        return Err(FormatError::Truncated);
    }
    if last == tag && count > 1 {
        return Err(FormatError::Decrypt);
    }
    Ok((count, sealed_len - count * tag))
}

/// Seals one chunk whose plaintext sits in `buf[..buf.len() - 16]`; writes the tag into the
/// last 16 bytes.
fn seal_chunk_in_place(
    payload: &Aead,
    counter: u64,
    kind: u8,
    buf: &mut [u8],
) -> Result<(), FormatError> {
    let split = buf
        .len()
        .checked_sub(AEAD_TAG_LEN)
        .ok_or(FormatError::Internal)?;
    let (data, tag_out) = buf.split_at_mut(split);
    let tag = payload
        .seal_in_place(&chunk_nonce(counter, kind), &[], data)
        .map_err(|_| FormatError::Internal)?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Appends the sealed form of one chunk to `out`.
fn seal_chunk(
    payload: &Aead,
    counter: u64,
    kind: u8,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    out.resize(start + plaintext.len() + AEAD_TAG_LEN, 0);
    let result = seal_chunk_in_place(payload, counter, kind, &mut out[start..]);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Authenticates one sealed chunk and, only if it verifies, appends its plaintext to `out`.
fn open_chunk(
    payload: &Aead,
    counter: u64,
    kind: u8,
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let split = sealed
        .len()
        .checked_sub(AEAD_TAG_LEN)
        .ok_or(FormatError::Decrypt)?;
    let (ciphertext, tag) = sealed.split_at(split);
    let mut tag_bytes = [0u8; AEAD_TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    let start = out.len();
    out.extend_from_slice(ciphertext);
    if payload
        .open_in_place(
            &chunk_nonce(counter, kind),
            &[],
            &mut out[start..],
            &tag_bytes,
        )
        .is_err()
    {
        out.truncate(start);
        return Err(FormatError::Decrypt);
    }
    Ok(())
}

/// Decrypts one sealed chunk into `dst` (`dst.len() == sealed.len() - 16`).
fn open_chunk_into(
    payload: &Aead,
    counter: u64,
    kind: u8,
    sealed: &[u8],
    dst: &mut [u8],
) -> Result<(), FormatError> {
    let split = sealed
        .len()
        .checked_sub(AEAD_TAG_LEN)
        .ok_or(FormatError::Decrypt)?;
    let (ciphertext, tag) = sealed.split_at(split);
    if dst.len() != ciphertext.len() {
        return Err(FormatError::Internal);
    }
    let mut tag_bytes = [0u8; AEAD_TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    dst.copy_from_slice(ciphertext);
    payload
        .open_in_place(&chunk_nonce(counter, kind), &[], dst, &tag_bytes)
        .map_err(|_| {
            dst.zeroize();
            FormatError::Decrypt
        })
}

/// A progress callback: receives the total plaintext bytes processed so far.
pub type Progress = Box<dyn FnMut(u64) + Send>;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            name: "Quartalsbericht Ä.pdf".into(),
            media_type: "application/pdf".into(),
            classification: "internal".into(),
            created: 1_700_000_000,
            length: Some(42),
        }
    }

    #[test]
    fn metadata_round_trips_and_pads_to_buckets() {
        let encoded = sample().encode().unwrap();
        assert_eq!(encoded.len(), 512);
        assert_eq!(Metadata::decode(&encoded).unwrap(), sample());

        let mut long = sample();
        long.name = "n".repeat(MAX_NAME_LEN);
        long.media_type = "m".repeat(MAX_MEDIA_TYPE_LEN);
        long.classification = "c".repeat(MAX_CLASSIFICATION_LEN);
        long.length = None;
        let encoded = long.encode().unwrap();
        assert_eq!(encoded.len(), 2048);
        assert_eq!(Metadata::decode(&encoded).unwrap(), long);

        long.name.push('n');
        assert!(matches!(long.encode(), Err(FormatError::MetadataTooLarge)));
    }

    #[test]
    fn metadata_decode_rejects_non_canonical() {
        let mut encoded = sample().encode().unwrap();
        *encoded.last_mut().unwrap() = 1;
        assert!(matches!(
            Metadata::decode(&encoded),
            Err(FormatError::InvalidHeader)
        ));
        let mut encoded = sample().encode().unwrap();
        encoded[0] = 0x02;
        assert!(matches!(
            Metadata::decode(&encoded),
            Err(FormatError::InvalidHeader)
        ));
        let encoded = sample().encode().unwrap();
        assert!(matches!(
            Metadata::decode(&encoded[..20]),
            Err(FormatError::InvalidHeader)
        ));
    }

    #[test]
    fn header_len_checks_prefixes() {
        assert_eq!(header_len(b"").unwrap(), None);
        assert_eq!(header_len(b"SEAL").unwrap(), None);
        assert!(matches!(header_len(b"SEAX"), Err(FormatError::NotSealed)));
        assert!(matches!(
            header_len(b"SEALROOM\x03"),
            Err(FormatError::UnsupportedVersion(3))
        ));
        let mut fixed = b"SEALROOM\x01".to_vec();
        fixed.extend_from_slice(&[0u8; SALT_LEN]);
        fixed.extend_from_slice(&0xffffu16.to_be_bytes());
        assert!(matches!(
            header_len(&fixed),
            Err(FormatError::InvalidHeader)
        ));
        let n = fixed.len();
        fixed[n - 2..].copy_from_slice(&528u16.to_be_bytes());
        assert_eq!(header_len(&fixed).unwrap(), Some(HEADER_FIXED_LEN + 528));
    }

    #[test]
    fn layouts_agree() {
        for len in [0u64, 1, 65535, 65536, 65537, 131072, 131077, 10 * 65536 + 3] {
            let (count, last) = layout(len);
            let sealed = (count - 1) * SEALED_CHUNK_SIZE as u64 + last as u64 + 16;
            assert_eq!(
                layout_from_sealed(sealed).unwrap(),
                (count, len),
                "len {len}"
            );
        }
        assert!(matches!(
            layout_from_sealed(15),
            Err(FormatError::Truncated)
        ));
        // A full chunk followed by an empty final chunk is not canonical.
        assert!(layout_from_sealed(SEALED_CHUNK_SIZE as u64 + 16).is_err());
        assert!(layout_from_sealed(SEALED_CHUNK_SIZE as u64 + 5).is_err());
    }

    #[test]
    fn nonce_layout() {
        let n = chunk_nonce(0x0102_0304_0506_0708, KIND_END);
        assert_eq!(n, [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1]);
        assert_eq!(chunk_nonce(0, KIND_DATA), [0u8; 12]);
        assert_eq!(chunk_nonce(1, KIND_PAD)[11], 2);
    }
}
