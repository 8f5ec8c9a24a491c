//! Opening: the push API ([`Opener`]), random access ([`open_range`]) and whole buffers.

use std::io::{Read, Seek, SeekFrom};

use zeroize::Zeroize;

use super::{
    header_len, layout, layout_from_sealed, open_chunk, open_chunk_into, read_header, FileKey,
    FormatError, Metadata, Progress, CHUNK_SIZE, HEADER_FIXED_LEN, SEALED_CHUNK_SIZE,
};
use crate::primitives::{Aead, AEAD_TAG_LEN};

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
    payload: Option<Aead>,
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
        let payload = self.payload.take().ok_or(FormatError::Internal)?;
        let result = self.push_payload(&payload, input, out);
        self.payload = Some(payload);
        result
    }

    /// Collects header bytes (validating each prefix, so garbage fails early and absurd lengths
    /// never allocate); returns the input left after the header.
    fn push_header<'a>(&mut self, mut input: &'a [u8]) -> Result<&'a [u8], FormatError> {
        loop {
            let known = header_len(&self.header)?;
            let target = known.unwrap_or(HEADER_FIXED_LEN);
            if known.is_some() && self.header.len() == target {
                let key = self.key.take().ok_or(FormatError::Internal)?;
                let (metadata, payload) = read_header(&key, &self.header)?;
                self.metadata = Some(metadata);
                self.payload = Some(payload);
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
                open_chunk(payload, self.counter, last, chunk, out)?;
                input = rest;
            } else {
                let (head, rest) = input.split_at(size - self.buf.len());
                self.buf.extend_from_slice(head);
                input = rest;
                open_chunk(payload, self.counter, last, &self.buf, out)?;
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
        let payload = self.payload.take().ok_or(FormatError::Truncated)?;
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
        open_chunk(&payload, self.counter, true, &self.buf, out)?;
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

/// Opens a whole sealed buffer using up to `threads` threads (chunks are independent).
pub fn open_parallel(
    key: &FileKey,
    sealed: &[u8],
    threads: usize,
) -> Result<(Metadata, Vec<u8>), FormatError> {
    let fixed = sealed
        .get(..HEADER_FIXED_LEN.min(sealed.len()))
        .ok_or(FormatError::Internal)?;
    let header_total = header_len(fixed)?.ok_or(FormatError::Truncated)?;
    let header = sealed.get(..header_total).ok_or(FormatError::Truncated)?;
    let (metadata, payload) = read_header(key, header)?;
    let body = &sealed[header_total..];
    let (count, plaintext_len) = layout_from_sealed(body.len() as u64)?;
    check_declared(&metadata, plaintext_len)?;
    let count = usize::try_from(count).map_err(|_| FormatError::TooLarge)?;
    let mut out = vec![0u8; usize::try_from(plaintext_len).map_err(|_| FormatError::TooLarge)?];
    let threads = threads.clamp(1, count);
    let per_thread = count.div_ceil(threads);
    let work = |first: usize, dst: &mut [u8]| -> Result<(), FormatError> {
        for (i, dst) in dst.chunks_mut(CHUNK_SIZE).enumerate() {
            let index = first + i;
            let start = index * SEALED_CHUNK_SIZE;
            let src = body
                .get(start..start + dst.len() + AEAD_TAG_LEN)
                .ok_or(FormatError::Internal)?;
            open_chunk_into(&payload, index as u64, index + 1 == count, src, dst)?;
        }
        Ok(())
    };
    let result = if count == 1 || threads == 1 {
        if out.is_empty() {
            // The single empty final chunk still has to authenticate.
            let mut scratch = Vec::new();
            open_chunk(&payload, 0, true, body, &mut scratch)
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
    match result {
        Ok(()) => Ok((metadata, out)),
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

/// Decrypts `len` plaintext bytes starting at plaintext offset `offset`, reading only the
/// header, the chunks that hold the range, and the final chunk.
///
/// The sealed file starts at the reader's current position. The final chunk is always
/// authenticated, so a file truncated at a chunk boundary is detected even when the range does
/// not reach the end. Memory: `len` plus one chunk.
pub fn open_range<R: Read + Seek>(
    key: &FileKey,
    reader: &mut R,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, FormatError> {
    let base = reader.stream_position()?;
    let mut fixed = [0u8; HEADER_FIXED_LEN];
    read_exact(reader, &mut fixed)?;
    let header_total = header_len(&fixed)?.ok_or(FormatError::Internal)?;
    let mut header = vec![0u8; header_total];
    header[..HEADER_FIXED_LEN].copy_from_slice(&fixed);
    read_exact(reader, &mut header[HEADER_FIXED_LEN..])?;
    let (metadata, payload) = read_header(key, &header)?;

    let end = reader.seek(SeekFrom::End(0))?;
    let body_start = base + header_total as u64;
    let body_len = end.checked_sub(body_start).ok_or(FormatError::Truncated)?;
    let (count, plaintext_len) = layout_from_sealed(body_len)?;
    check_declared(&metadata, plaintext_len)?;
    let range_end = offset
        .checked_add(len)
        .ok_or(FormatError::RangeOutOfBounds)?;
    if range_end > plaintext_len {
        return Err(FormatError::RangeOutOfBounds);
    }
    let capacity = usize::try_from(len).map_err(|_| FormatError::TooLarge)?;

    let chunk = CHUNK_SIZE as u64;
    let mut sealed = Vec::with_capacity(SEALED_CHUNK_SIZE);
    let mut plain = Vec::with_capacity(CHUNK_SIZE);
    let mut read_chunk = |index: u64, plain: &mut Vec<u8>| -> Result<(), FormatError> {
        let last = index + 1 == count;
        let pt_len = if last {
            plaintext_len - index * chunk
        } else {
            chunk
        };
        sealed.resize(pt_len as usize + AEAD_TAG_LEN, 0);
        reader.seek(SeekFrom::Start(
            body_start + index * SEALED_CHUNK_SIZE as u64,
        ))?;
        read_exact(reader, &mut sealed)?;
        plain.zeroize();
        plain.clear();
        open_chunk(&payload, index, last, &sealed, plain)
    };

    // Authenticate the final chunk first: it proves the file is complete.
    read_chunk(count - 1, &mut plain)?;
    let mut held = count - 1;
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
