//! Opening: the push API ([`Opener`]), random access ([`open_range`]) and whole buffers.
//! Both versions are read; the version byte picks the payload rules.

use std::io::{Read, Seek, SeekFrom};

use zeroize::Zeroize;

use super::open_v2::PayloadV2;
use super::pad::{self, all_zero, Plan, END_CHUNK_LEN};
use super::{
    header_len, header_version, layout, layout_from_sealed, open_chunk, open_chunk_into,
    read_header, v1_kind, FileKey, FormatError, Metadata, Progress, Version, CHUNK_SIZE,
    HEADER_FIXED_LEN, KIND_DATA, KIND_END, KIND_PAD, MAX_HEADER_FIXED_LEN, SEALED_CHUNK_SIZE,
};
use crate::primitives::{Aead, AEAD_TAG_LEN};

/// Payload state of an [`Opener`] once the header verified.
enum Payload {
    V1(Aead),
    V2(Box<PayloadV2>),
}

/// Push-style opener: feed sealed bytes in pieces of any size, get authenticated plaintext out.
///
/// Plaintext of a chunk is released only after that chunk's tag verifies. Because the end of a
/// stream cannot be seen from its bytes alone, the caller MUST call [`Opener::finish`]: it
/// authenticates the final chunk (returning its plaintext if it was still held back) and fails
/// with [`FormatError::Truncated`] or [`FormatError::Decrypt`] if the stream was cut short.
/// Until `finish` succeeds, the plaintext released so far is authentic but may be incomplete.
///
/// After any error the opener is poisoned: every later call fails with [`FormatError::Decrypt`].
pub struct Opener {
    key: Option<FileKey>,
    header: Vec<u8>,
    payload: Option<Payload>,
    metadata: Option<Metadata>,
    buf: Vec<u8>,
    counter: u64,
    released: u64,
    final_seen: bool,
    failed: bool,
    progress: Option<Progress>,
}

impl Opener {
    /// Starts opening a sealed file with `key`.
    pub fn new(key: &FileKey) -> Self {
        Self {
            key: Some(key.duplicate()),
            header: Vec::new(),
            payload: None,
            metadata: None,
            buf: Vec::new(),
            counter: 0,
            released: 0,
            final_seen: false,
            failed: false,
            progress: None,
        }
    }

    /// The authenticated metadata, once the header has been read and verified.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// Installs a callback called with the total plaintext bytes released so far.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// Total plaintext bytes released so far.
    pub fn bytes_done(&self) -> u64 {
        self.released
    }

    /// Consumes sealed bytes and returns the plaintext of every chunk they completed and that
    /// authenticated (possibly nothing).
    pub fn push(&mut self, sealed: &[u8]) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::new();
        self.push_into(sealed, &mut out)?;
        Ok(out)
    }

    /// Like [`Opener::push`], appending plaintext to `out`. On error nothing is appended.
    pub fn push_into(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        if self.failed {
            return Err(FormatError::Decrypt);
        }
        // Plaintext is never longer than the sealed bytes held plus those pushed: one allocation.
        out.reserve(self.buf.len() + sealed.len());
        let start = out.len();
        match self.push_inner(sealed, out) {
            Ok(()) => {
                self.report(out.len() - start);
                Ok(())
            }
            Err(e) => {
                out[start..].zeroize();
                out.truncate(start);
                self.poison();
                Err(e)
            }
        }
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        if self.payload.is_none() {
            input = self.push_header(input)?;
            if self.payload.is_none() {
                return Ok(());
            }
        }
        let mut payload = self.payload.take().ok_or(FormatError::Internal)?;
        let result = match &mut payload {
            Payload::V1(aead) => self.push_payload(aead, input, out),
            Payload::V2(v2) => v2.push(input, out),
        };
        self.payload = Some(payload);
        result
    }

    /// Collects header bytes (validating each prefix, so garbage fails early and absurd lengths
    /// never allocate); returns the input left after the header.
    fn push_header<'a>(&mut self, mut input: &'a [u8]) -> Result<&'a [u8], FormatError> {
        loop {
            let known = header_len(&self.header)?;
            // Grow the prefix a byte at a time up to the version byte, then to the fixed part.
            let target = known.unwrap_or(match self.header.get(super::MAGIC.len()) {
                None => super::MAGIC.len() + 1,
                Some(_) => header_version(&self.header)?.fixed_len(),
            });
            if known.is_some() && self.header.len() == target {
                let key = self.key.take().ok_or(FormatError::Internal)?;
                let (version, metadata, aead) = read_header(&key, &self.header)?;
                self.payload = Some(match version {
                    Version::V1 => Payload::V1(aead),
                    Version::V2 => Payload::V2(Box::new(PayloadV2::new(aead, metadata.length)?)),
                });
                self.metadata = Some(metadata);
                self.header = Vec::new();
                return Ok(input);
            }
            if input.is_empty() {
                return Ok(input);
            }
            let take = (target - self.header.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.header.extend_from_slice(head);
            input = rest;
        }
    }

    /// Size and final flag of the next chunk, if `available` bytes are enough to know it.
    fn next_chunk(&self, available: usize) -> Option<(usize, bool)> {
        if self.final_seen {
            return None;
        }
        match self.metadata.as_ref().and_then(|m| m.length) {
            Some(declared) => {
                let (count, last_len) = layout(declared);
                let last = self.counter + 1 >= count;
                let size = if last {
                    last_len + AEAD_TAG_LEN
                } else {
                    SEALED_CHUNK_SIZE
                };
                (available >= size).then_some((size, last))
            }
            // Without a declared length a full chunk is known to be non-final only once at
            // least one more byte follows it; the final chunk is handled by `finish`.
            None => (available > SEALED_CHUNK_SIZE).then_some((SEALED_CHUNK_SIZE, false)),
        }
    }

    fn push_payload(
        &mut self,
        payload: &Aead,
        mut input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), FormatError> {
        while let Some((size, last)) = self.next_chunk(self.buf.len() + input.len()) {
            if self.buf.is_empty() {
                let (chunk, rest) = input.split_at(size);
                open_chunk(payload, self.counter, v1_kind(last), chunk, out)?;
                input = rest;
            } else {
                let (head, rest) = input.split_at(size - self.buf.len());
                self.buf.extend_from_slice(head);
                input = rest;
                open_chunk(payload, self.counter, v1_kind(last), &self.buf, out)?;
                self.buf.clear();
            }
            self.counter = self.counter.checked_add(1).ok_or(FormatError::TooLarge)?;
            self.final_seen = last;
        }
        if self.final_seen && !input.is_empty() {
            // Trailing data after the final chunk.
            return Err(FormatError::Decrypt);
        }
        // Fewer bytes than the next chunk needs: at most one sealed chunk is ever buffered.
        self.buf.extend_from_slice(input);
        Ok(())
    }

    /// Ends the stream: authenticates the final chunk and returns any plaintext still held.
    ///
    /// Fails with [`FormatError::Truncated`] if the stream ended inside the header or before
    /// the final chunk, and with [`FormatError::Decrypt`] if the final chunk does not verify.
    pub fn finish(mut self) -> Result<Vec<u8>, FormatError> {
        if self.failed {
            return Err(FormatError::Decrypt);
        }
        let mut out = Vec::new();
        let result = self.finish_inner(&mut out);
        match result {
            Ok(()) => {
                self.report(out.len());
                Ok(out)
            }
            Err(e) => {
                out.zeroize();
                self.poison();
                Err(e)
            }
        }
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let payload = match self.payload.take().ok_or(FormatError::Truncated)? {
            Payload::V1(aead) => aead,
            Payload::V2(mut v2) => return v2.finish(out),
        };
        if self.final_seen {
            return Ok(());
        }
        if self.metadata.as_ref().and_then(|m| m.length).is_some() || self.buf.len() < AEAD_TAG_LEN
        {
            // With a declared length, a final chunk not yet complete means missing bytes.
            return Err(FormatError::Truncated);
        }
        if self.buf.len() == AEAD_TAG_LEN && self.counter > 0 {
            // An empty final chunk is only valid as the only chunk of an empty file.
            return Err(FormatError::Decrypt);
        }
        open_chunk(&payload, self.counter, v1_kind(true), &self.buf, out)?;
        self.final_seen = true;
        Ok(())
    }

    fn report(&mut self, newly: usize) {
        if newly == 0 {
            return;
        }
        self.released = self.released.saturating_add(newly as u64);
        let released = self.released;
        if let Some(progress) = self.progress.as_mut() {
            progress(released);
        }
    }

    fn poison(&mut self) {
        self.failed = true;
        self.buf.zeroize();
        self.buf.clear();
        if let Some(Payload::V2(v2)) = self.payload.as_mut() {
            v2.wipe();
        }
        self.payload = None;
        self.key = None;
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Opens a whole sealed buffer (one thread): returns the metadata and the plaintext.
pub fn open(key: &FileKey, sealed: &[u8]) -> Result<(Metadata, Vec<u8>), FormatError> {
    open_parallel(key, sealed, 1)
}

/// The chunk layout of a complete sealed file, from its size, its header and (v2) its end
/// chunk.
struct Layout {
    version: Version,
    /// Chunks before the end chunk (v1: all chunks, the last one final).
    count: u64,
    /// Plaintext bytes the chunks cover (v2: the padded length).
    covered: u64,
    /// The plaintext length.
    len: u64,
    /// Number of data chunks (v2; equal to `count` in v1).
    data_chunks: u64,
}

impl Layout {
    /// Layout of a payload of `body_len` bytes; `end` reads the v2 end chunk (its sealed
    /// bytes) when called.
    fn new(
        version: Version,
        metadata: &Metadata,
        payload: &Aead,
        body_len: u64,
        end: impl FnOnce(u64) -> Result<[u8; END_CHUNK_LEN], FormatError>,
    ) -> Result<Self, FormatError> {
        match version {
            Version::V1 => {
                let (count, len) = layout_from_sealed(body_len)?;
                check_declared(metadata, len)?;
                Ok(Self {
                    version,
                    count,
                    covered: len,
                    len,
                    data_chunks: count,
                })
            }
            Version::V2 => {
                if let Some(declared) = metadata.length {
                    // The declared length fixes the size: short is truncated, long is trailing.
                    let expected = Plan::new(declared)
                        .ok()
                        .and_then(|p| p.sealed_len())
                        .ok_or(FormatError::InvalidHeader)?;
                    if body_len < expected {
                        return Err(FormatError::Truncated);
                    }
                    if body_len > expected {
                        return Err(FormatError::Decrypt);
                    }
                }
                let (count, padded) = pad::layout_from_sealed(body_len)?;
                let sealed_end = end(body_len - END_CHUNK_LEN as u64)?;
                let mut plain = Vec::with_capacity(8);
                open_chunk(payload, count, KIND_END, &sealed_end, &mut plain)?;
                let mut len = [0u8; 8];
                len.copy_from_slice(&plain);
                let len = u64::from_be_bytes(len);
                let plan = Plan::new(len).map_err(|_| FormatError::InvalidPayload)?;
                if plan.padded != padded || metadata.length.is_some_and(|d| d != len) {
                    return Err(FormatError::InvalidPayload);
                }
                Ok(Self {
                    version,
                    count,
                    covered: padded,
                    len,
                    data_chunks: plan.data_chunks,
                })
            }
        }
    }

    fn kind(&self, index: u64) -> u8 {
        match self.version {
            Version::V1 => v1_kind(index + 1 == self.count),
            Version::V2 if index < self.data_chunks => KIND_DATA,
            Version::V2 => KIND_PAD,
        }
    }

    /// Plaintext length of chunk `index` (< `count`).
    fn chunk_len(&self, index: u64) -> u64 {
        let chunk = CHUNK_SIZE as u64;
        self.covered.saturating_sub(index * chunk).min(chunk)
    }

    /// Bytes after the header the layout needs read first: v1 the final chunk, v2 the end
    /// chunk.
    fn tail_len(&self) -> u64 {
        match self.version {
            Version::V1 => self.chunk_len(self.count - 1) + AEAD_TAG_LEN as u64,
            Version::V2 => END_CHUNK_LEN as u64,
        }
    }
}

/// Opens a whole sealed buffer using up to `threads` threads (chunks are independent).
pub fn open_parallel(
    key: &FileKey,
    sealed: &[u8],
    threads: usize,
) -> Result<(Metadata, Vec<u8>), FormatError> {
    let fixed = &sealed[..MAX_HEADER_FIXED_LEN.min(sealed.len())];
    let header_total = header_len(fixed)?.ok_or(FormatError::Truncated)?;
    let header = sealed.get(..header_total).ok_or(FormatError::Truncated)?;
    let (version, metadata, payload) = read_header(key, header)?;
    let body = &sealed[header_total..];
    let layout = Layout::new(version, &metadata, &payload, body.len() as u64, |at| {
        let mut end = [0u8; END_CHUNK_LEN];
        end.copy_from_slice(&body[at as usize..]);
        Ok(end)
    })?;
    let count = usize::try_from(layout.count).map_err(|_| FormatError::TooLarge)?;
    let covered = usize::try_from(layout.covered).map_err(|_| FormatError::TooLarge)?;
    let len = usize::try_from(layout.len).map_err(|_| FormatError::TooLarge)?;
    let mut out = vec![0u8; covered];
    let threads = threads.clamp(1, count);
    let per_thread = count.div_ceil(threads);
    let work = |first: usize, dst: &mut [u8]| -> Result<(), FormatError> {
        for (i, dst) in dst.chunks_mut(CHUNK_SIZE).enumerate() {
            let index = first + i;
            let start = index * SEALED_CHUNK_SIZE;
            let src = body
                .get(start..start + dst.len() + AEAD_TAG_LEN)
                .ok_or(FormatError::Internal)?;
            open_chunk_into(&payload, index as u64, layout.kind(index as u64), src, dst)?;
        }
        Ok(())
    };
    let result = if count == 1 || threads == 1 {
        if out.is_empty() {
            // The single empty final chunk (v1) still has to authenticate.
            let mut scratch = Vec::new();
            open_chunk(
                &payload,
                0,
                layout.kind(0),
                &body[..AEAD_TAG_LEN],
                &mut scratch,
            )
        } else {
            work(0, &mut out)
        }
    } else {
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(threads);
            let mut rest = out.as_mut_slice();
            let mut first = 0;
            while !rest.is_empty() {
                let take = (per_thread * CHUNK_SIZE).min(rest.len());
                let (part, tail) = rest.split_at_mut(take);
                rest = tail;
                let work = &work;
                let start = first;
                handles.push(scope.spawn(move || work(start, part)));
                first += per_thread;
            }
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| FormatError::Internal)?)
        })
    };
    let result = result.and_then(|()| {
        if all_zero(&out[len..]) {
            Ok(())
        } else {
            Err(FormatError::InvalidPayload)
        }
    });
    match result {
        Ok(()) => {
            out.truncate(len);
            Ok((metadata, out))
        }
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

/// A verified header and layout of a seekable sealed file.
struct Located {
    payload: Aead,
    layout: Layout,
    body_start: u64,
}

/// Reads and verifies the header, the layout and the tail (v1 final chunk, v2 end chunk) of
/// the sealed file starting at the reader's position. Returns the opened tail chunk (v1).
fn locate<R: Read + Seek>(
    key: &FileKey,
    reader: &mut R,
) -> Result<(Located, Vec<u8>), FormatError> {
    let base = reader.stream_position()?;
    let mut fixed = [0u8; MAX_HEADER_FIXED_LEN];
    // A v1 header's fixed part is shorter, but every header is longer than both.
    read_exact(reader, &mut fixed[..HEADER_FIXED_LEN])?;
    let (header_total, have) = match header_len(&fixed[..HEADER_FIXED_LEN])? {
        Some(total) => (total, HEADER_FIXED_LEN),
        None => {
            read_exact(reader, &mut fixed[HEADER_FIXED_LEN..])?;
            let total = header_len(&fixed)?.ok_or(FormatError::Internal)?;
            (total, MAX_HEADER_FIXED_LEN)
        }
    };
    let mut header = vec![0u8; header_total];
    header[..have].copy_from_slice(&fixed[..have]);
    read_exact(reader, &mut header[have..])?;
    let (version, metadata, payload) = read_header(key, &header)?;

    let end = reader.seek(SeekFrom::End(0))?;
    let body_start = base + header_total as u64;
    let body_len = end.checked_sub(body_start).ok_or(FormatError::Truncated)?;
    let layout = Layout::new(version, &metadata, &payload, body_len, |at| {
        let mut sealed = [0u8; END_CHUNK_LEN];
        reader.seek(SeekFrom::Start(body_start + at))?;
        read_exact(reader, &mut sealed)?;
        Ok(sealed)
    })?;
    let mut last = Vec::new();
    if version == Version::V1 {
        // Authenticate the final chunk first: it proves the file is complete.
        let index = layout.count - 1;
        let mut sealed =
            vec![0u8; usize::try_from(layout.tail_len()).map_err(|_| FormatError::Internal)?];
        reader.seek(SeekFrom::Start(
            body_start + index * SEALED_CHUNK_SIZE as u64,
        ))?;
        read_exact(reader, &mut sealed)?;
        open_chunk(&payload, index, layout.kind(index), &sealed, &mut last)?;
    }
    Ok((
        Located {
            payload,
            layout,
            body_start,
        },
        last,
    ))
}

/// Offset of the tail a reader of a sealed file of `sealed_len` bytes must fetch (besides the
/// `header` and the chunks of a range) before [`open_range`] or [`plaintext_len`] can work:
/// the final chunk in v1, the 24-byte end chunk in v2. For range downloads over HTTP.
pub fn tail_start(header: &[u8], sealed_len: u64) -> Result<u64, FormatError> {
    let header_total = header_len(header)?.ok_or(FormatError::Truncated)? as u64;
    let body_len = sealed_len
        .checked_sub(header_total)
        .ok_or(FormatError::Truncated)?;
    let tail = match header_version(header)? {
        Version::V1 => {
            let (count, len) = layout_from_sealed(body_len)?;
            len - (count - 1) * CHUNK_SIZE as u64 + AEAD_TAG_LEN as u64
        }
        Version::V2 => {
            pad::layout_from_sealed(body_len)?;
            END_CHUNK_LEN as u64
        }
    };
    Ok(sealed_len - tail)
}

/// The authenticated plaintext length of the sealed file starting at the reader's position,
/// reading only the header and the tail ([`tail_start`]). In v2 the length is known only to
/// holders of the file key: the sealed size reveals just its padded bucket.
pub fn plaintext_len<R: Read + Seek>(key: &FileKey, reader: &mut R) -> Result<u64, FormatError> {
    Ok(locate(key, reader)?.0.layout.len)
}

/// Decrypts `len` plaintext bytes starting at plaintext offset `offset`, reading only the
/// header, the chunks that hold the range, and the tail (v1: the final chunk; v2: the end
/// chunk).
///
/// The sealed file starts at the reader's current position. The tail is always authenticated,
/// so a file truncated at a chunk boundary is detected even when the range does not reach the
/// end. Memory: `len` plus one chunk.
pub fn open_range<R: Read + Seek>(
    key: &FileKey,
    reader: &mut R,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, FormatError> {
    let (located, mut plain) = locate(key, reader)?;
    let Located {
        payload,
        layout,
        body_start,
        ..
    } = located;
    let range_end = offset
        .checked_add(len)
        .ok_or(FormatError::RangeOutOfBounds)?;
    if range_end > layout.len {
        return Err(FormatError::RangeOutOfBounds);
    }
    let capacity = usize::try_from(len).map_err(|_| FormatError::TooLarge)?;

    let chunk = CHUNK_SIZE as u64;
    let mut sealed = Vec::with_capacity(SEALED_CHUNK_SIZE);
    let mut read_chunk = |index: u64, plain: &mut Vec<u8>| -> Result<(), FormatError> {
        let pt_len = layout.chunk_len(index);
        sealed.resize(pt_len as usize + AEAD_TAG_LEN, 0);
        reader.seek(SeekFrom::Start(
            body_start + index * SEALED_CHUNK_SIZE as u64,
        ))?;
        read_exact(reader, &mut sealed)?;
        plain.zeroize();
        plain.clear();
        open_chunk(&payload, index, layout.kind(index), &sealed, plain)?;
        // v2: the part of a chunk after the plaintext length is padding and must be zero.
        let data = layout.len.saturating_sub(index * chunk).min(pt_len) as usize;
        if !all_zero(&plain[data..]) {
            return Err(FormatError::InvalidPayload);
        }
        Ok(())
    };

    // v1: the final chunk (already read) may hold the range.
    let mut held = if plain.is_empty() && layout.version == Version::V2 {
        u64::MAX
    } else {
        layout.count - 1
    };
    let mut out = Vec::with_capacity(capacity);
    if len > 0 {
        let first = offset / chunk;
        let last = (range_end - 1) / chunk;
        for index in first..=last {
            if index != held {
                read_chunk(index, &mut plain)?;
                held = index;
            }
            let chunk_start = index * chunk;
            let from = offset.max(chunk_start) - chunk_start;
            let to = range_end.min(chunk_start + plain.len() as u64) - chunk_start;
            let slice = plain
                .get(from as usize..to as usize)
                .ok_or(FormatError::Internal)?;
            out.extend_from_slice(slice);
        }
    }
    plain.zeroize();
    Ok(out)
}

/// Compares the layout's plaintext length with a declared length: too few bytes is a
/// truncation, too many is trailing data.
fn check_declared(metadata: &Metadata, plaintext_len: u64) -> Result<(), FormatError> {
    match metadata.length {
        Some(declared) if declared > plaintext_len => Err(FormatError::Truncated),
        Some(declared) if declared < plaintext_len => Err(FormatError::Decrypt),
        _ => Ok(()),
    }
}

/// `read_exact` mapping a short read to [`FormatError::Truncated`].
fn read_exact<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<(), FormatError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FormatError::Truncated,
        _ => FormatError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::format::{seal, Sealer};

    fn meta(length: Option<u64>) -> Metadata {
        Metadata {
            name: "r.bin".into(),
            media_type: "application/octet-stream".into(),
            classification: "secret".into(),
            created: 2,
            length,
        }
    }

    #[test]
    fn opener_handles_byte_by_byte_input() {
        let key = FileKey::from_bytes([1u8; 32]);
        let data: Vec<u8> = (0..CHUNK_SIZE + 3).map(|i| i as u8).collect();
        for length in [None, Some(data.len() as u64)] {
            let sealed = seal(&key, &meta(length), &data).unwrap();
            let mut opener = Opener::new(&key);
            let mut out = Vec::new();
            for b in &sealed {
                opener.push_into(std::slice::from_ref(b), &mut out).unwrap();
            }
            assert_eq!(opener.metadata(), Some(&meta(length)));
            out.extend(opener.finish().unwrap());
            assert_eq!(out, data);
        }
    }

    #[test]
    fn declared_length_releases_final_chunk_on_push() {
        let key = FileKey::from_bytes([1u8; 32]);
        let sealed = seal(&key, &meta(Some(5)), b"hello").unwrap();
        let mut opener = Opener::new(&key);
        assert_eq!(opener.push(&sealed).unwrap(), b"hello");
        assert!(opener.finish().unwrap().is_empty());
    }

    #[test]
    fn poisoned_after_error() {
        let key = FileKey::from_bytes([1u8; 32]);
        let mut sealed = seal(&key, &meta(None), b"hello").unwrap();
        let n = sealed.len();
        sealed[n - 1] ^= 1;
        let mut opener = Opener::new(&key);
        assert!(opener.push(&sealed).unwrap().is_empty());
        assert!(matches!(opener.finish(), Err(FormatError::Decrypt)));
        let mut opener = Opener::new(&key);
        sealed.extend_from_slice(&[0u8; SEALED_CHUNK_SIZE]);
        assert!(matches!(opener.push(&sealed), Err(FormatError::Decrypt)));
        assert!(matches!(opener.push(b""), Err(FormatError::Decrypt)));
    }

    #[test]
    fn range_reads_from_current_position() {
        let key = FileKey::from_bytes([1u8; 32]);
        let data: Vec<u8> = (0..2 * CHUNK_SIZE + 9).map(|i| (i * 7) as u8).collect();
        let (mut sealer, mut sealed) = Sealer::new(&key, &meta(None)).unwrap();
        sealed.extend(sealer.push(&data).unwrap());
        sealed.extend(sealer.finish().unwrap());
        let mut prefixed = b"prefix".to_vec();
        prefixed.extend_from_slice(&sealed);
        let mut cursor = Cursor::new(prefixed);
        cursor.set_position(6);
        let got = open_range(&key, &mut cursor, CHUNK_SIZE as u64 - 2, 4).unwrap();
        assert_eq!(got, &data[CHUNK_SIZE - 2..CHUNK_SIZE + 2]);
    }
}
