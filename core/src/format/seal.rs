//! Sealing: the push API ([`Sealer`]) and whole-buffer helpers. New files are version 2.

use zeroize::Zeroize;

use super::pad::{Plan, END_CHUNK_LEN};
use super::{
    build_header, layout, seal_chunk, seal_chunk_in_place, v1_kind, FileKey, FormatError, Metadata,
    Progress, Version, CHUNK_SIZE, KIND_DATA, KIND_END, KIND_PAD, SALT_LEN, SEALED_CHUNK_SIZE,
};
use crate::primitives::{self, Aead, AEAD_TAG_LEN};

/// Push-style sealer: feed plaintext in pieces of any size, get sealed bytes out.
///
/// The sealed file is the header returned by [`Sealer::new`], followed by the output of every
/// [`Sealer::push`] in order, followed by the output of [`Sealer::finish`] (the last data
/// chunk, the padding and the end chunk). A stream that is not finished lacks its end chunk
/// and will not open. Memory use is bounded by one chunk plus what a single push returns;
/// [`Sealer::finish_with`] hands the padding out one chunk at a time.
pub struct Sealer {
    version: Version,
    payload: Aead,
    buf: Vec<u8>,
    counter: u64,
    done: u64,
    declared: Option<u64>,
    progress: Option<Progress>,
}

impl Sealer {
    /// Starts sealing a file under `key`; returns the sealer and the header bytes to emit first.
    ///
    /// Draws the header salt from the operating system's CSPRNG.
    pub fn new(key: &FileKey, metadata: &Metadata) -> Result<(Self, Vec<u8>), FormatError> {
        let mut salt = [0u8; SALT_LEN];
        primitives::fill_random(&mut salt).map_err(|_| FormatError::Random)?;
        Self::new_with_salt(key, metadata, &salt)
    }

    /// Starts sealing with a caller-chosen salt: for resuming an upload (the same key and salt
    /// reproduce the same bytes) and for deterministic test vectors. Sealing two different
    /// plaintexts or metadata under one key and salt reuses nonces: never do that.
    pub fn new_with_salt(
        key: &FileKey,
        metadata: &Metadata,
        salt: &[u8; SALT_LEN],
    ) -> Result<(Self, Vec<u8>), FormatError> {
        Self::with_version(Version::V2, key, metadata, salt)
    }

    fn with_version(
        version: Version,
        key: &FileKey,
        metadata: &Metadata,
        salt: &[u8; SALT_LEN],
    ) -> Result<(Self, Vec<u8>), FormatError> {
        if let Some(declared) = metadata.length {
            // A declared length must be sealable (its padded size fits in a u64).
            Plan::new(declared)?;
        }
        let (header, payload) = build_header(version, key, metadata, salt)?;
        let sealer = Self {
            version,
            payload,
            buf: Vec::with_capacity(CHUNK_SIZE),
            counter: 0,
            done: 0,
            declared: metadata.length,
            progress: None,
        };
        Ok((sealer, header))
    }

    /// Installs a callback called with the total plaintext bytes consumed after each push.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = Some(progress);
    }

    /// Total plaintext bytes consumed so far.
    pub fn bytes_done(&self) -> u64 {
        self.done
    }

    /// Consumes `plaintext` and returns the sealed chunks completed by it (possibly none).
    pub fn push(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::new();
        self.push_into(plaintext, &mut out)?;
        Ok(out)
    }

    /// Like [`Sealer::push`], appending the sealed chunks to `out`.
    ///
    /// Fails with [`FormatError::LengthMismatch`] (consuming nothing) if the push would exceed
    /// the declared length.
    pub fn push_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        let len = u64::try_from(plaintext.len()).map_err(|_| FormatError::TooLarge)?;
        let total = self.done.checked_add(len).ok_or(FormatError::TooLarge)?;
        if self.declared.is_some_and(|declared| total > declared) {
            return Err(FormatError::LengthMismatch);
        }
        // Every chunk this push completes, sealed, in one allocation (a 1 MiB push used to
        // reallocate and copy its output five times as the vector doubled).
        out.reserve((self.buf.len() + plaintext.len()) / CHUNK_SIZE * SEALED_CHUNK_SIZE);
        let start = out.len();
        if let Err(e) = self.push_chunks(plaintext, out) {
            out.truncate(start);
            return Err(e);
        }
        self.done = total;
        if let Some(progress) = self.progress.as_mut() {
            progress(total);
        }
        Ok(())
    }

    fn push_chunks(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        // v1: a full buffered chunk is sealed (as non-final) only once more input exists, so
        // the last chunk of the stream is always sealed by `finish` with the final flag.
        // v2: a full chunk is always a data chunk (the end chunk closes the stream), so it is
        // sealed at once.
        let eager = self.version == Version::V2;
        while !input.is_empty() {
            if self.buf.len() == CHUNK_SIZE {
                self.seal_buffered(KIND_DATA, out)?;
            }
            if self.buf.is_empty()
                && (input.len() > CHUNK_SIZE || (eager && input.len() == CHUNK_SIZE))
            {
                let (chunk, rest) = input.split_at(CHUNK_SIZE);
                seal_chunk(&self.payload, self.counter, KIND_DATA, chunk, out)?;
                self.advance()?;
                input = rest;
                continue;
            }
            let take = (CHUNK_SIZE - self.buf.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.buf.extend_from_slice(head);
            input = rest;
        }
        if eager && self.buf.len() == CHUNK_SIZE {
            self.seal_buffered(KIND_DATA, out)?;
        }
        Ok(())
    }

    fn seal_buffered(&mut self, kind: u8, out: &mut Vec<u8>) -> Result<(), FormatError> {
        seal_chunk(&self.payload, self.counter, kind, &self.buf, out)?;
        self.buf.zeroize();
        self.buf.clear();
        self.advance()
    }

    fn advance(&mut self) -> Result<(), FormatError> {
        self.counter = self.counter.checked_add(1).ok_or(FormatError::TooLarge)?;
        Ok(())
    }

    /// Seals the rest of the file (v2: the last data chunk, the padding chunks and the end
    /// chunk) and returns it. Fails with [`FormatError::LengthMismatch`] if a declared length
    /// was not reached. The padding is under 6.25 % of the plaintext (256 bytes for tiny
    /// files); use [`Sealer::finish_with`] to receive it one chunk at a time.
    pub fn finish(self) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::new();
        self.finish_with(&mut |bytes| {
            out.extend_from_slice(bytes);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Sealer::finish`], passing the remaining sealed bytes to `sink` in pieces of at
    /// most one sealed chunk, so memory stays bounded however much padding a file needs.
    pub fn finish_with(
        self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        let mut tail = self.finish_steps()?;
        while let Some(piece) = tail.next_piece()? {
            sink(&piece)?;
        }
        Ok(())
    }

    /// Like [`Sealer::finish_with`] for callers that cannot take a callback (an async
    /// uploader): the rest of the file one sealed chunk at a time from
    /// [`SealTail::next_piece`]. Fails at once with [`FormatError::LengthMismatch`] if a
    /// declared length was not reached.
    pub fn finish_steps(self) -> Result<SealTail, FormatError> {
        if self.declared.is_some_and(|declared| declared != self.done) {
            return Err(FormatError::LengthMismatch);
        }
        let plan = if self.version == Version::V1 {
            None
        } else {
            Some(Plan::new(self.done)?)
        };
        Ok(SealTail {
            sealer: self,
            plan,
            stage: TailStage::LastData,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TailStage {
    LastData,
    Padding,
    End,
    Done,
}

/// The end of a sealed stream, produced one sealed chunk at a time
/// ([`Sealer::finish_steps`]): v1 the final chunk; v2 the chunk holding the end of the data,
/// the padding chunks and the end chunk.
pub struct SealTail {
    sealer: Sealer,
    plan: Option<Plan>,
    stage: TailStage,
}

impl SealTail {
    /// The next piece of sealed bytes (at most one sealed chunk), or `None` when the stream is
    /// complete.
    pub fn next_piece(&mut self) -> Result<Option<Vec<u8>>, FormatError> {
        let mut out = Vec::new();
        let s = &mut self.sealer;
        let Some(plan) = self.plan.as_ref() else {
            // Version 1: only the final chunk remains.
            if self.stage == TailStage::Done {
                return Ok(None);
            }
            self.stage = TailStage::Done;
            s.seal_buffered(v1_kind(true), &mut out)?;
            return Ok(Some(out));
        };
        loop {
            match self.stage {
                TailStage::LastData => {
                    self.stage = TailStage::Padding;
                    // The chunk holding the end of the data (or chunk 0 of an empty file),
                    // zero-filled.
                    if !s.buf.is_empty() || s.counter == 0 {
                        let len = plan.chunk_len(s.counter);
                        s.buf.resize(len, 0);
                        s.seal_buffered(KIND_DATA, &mut out)?;
                        return Ok(Some(out));
                    }
                }
                TailStage::Padding => {
                    if s.counter >= plan.chunks {
                        self.stage = TailStage::End;
                        continue;
                    }
                    let zeros = vec![0u8; plan.chunk_len(s.counter)];
                    seal_chunk(&s.payload, s.counter, KIND_PAD, &zeros, &mut out)?;
                    s.advance()?;
                    return Ok(Some(out));
                }
                TailStage::End => {
                    self.stage = TailStage::Done;
                    seal_chunk(
                        &s.payload,
                        s.counter,
                        KIND_END,
                        &plan.len.to_be_bytes(),
                        &mut out,
                    )?;
                    return Ok(Some(out));
                }
                TailStage::Done => return Ok(None),
            }
        }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Seals a whole buffer (one thread). `metadata.length` must be `None` or `plaintext.len()`.
pub fn seal(key: &FileKey, metadata: &Metadata, plaintext: &[u8]) -> Result<Vec<u8>, FormatError> {
    seal_parallel(key, metadata, plaintext, 1)
}

/// Seals a whole buffer using up to `threads` threads (chunks are independent).
///
/// Produces exactly the bytes [`Sealer`] would for the same salt. `metadata.length` must be
/// `None` or `plaintext.len()`. Memory: the output buffer only.
pub fn seal_parallel(
    key: &FileKey,
    metadata: &Metadata,
    plaintext: &[u8],
    threads: usize,
) -> Result<Vec<u8>, FormatError> {
    let mut salt = [0u8; SALT_LEN];
    primitives::fill_random(&mut salt).map_err(|_| FormatError::Random)?;
    seal_versioned(Version::V2, key, metadata, plaintext, threads, &salt)
}

/// [`seal_parallel`] with a caller-chosen salt. Test-only (feature `test-vectors`):
/// deterministic tests and vectors.
#[cfg(any(test, feature = "test-vectors"))]
pub fn seal_parallel_with_salt(
    key: &FileKey,
    metadata: &Metadata,
    plaintext: &[u8],
    threads: usize,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, FormatError> {
    seal_versioned(Version::V2, key, metadata, plaintext, threads, salt)
}

/// Seals a whole buffer as a version 1 file, to test that v1 files stay readable. Test-only
/// (feature `test-vectors`): new files are always version 2.
#[cfg(feature = "test-vectors")]
pub fn seal_v1_with_salt(
    key: &FileKey,
    metadata: &Metadata,
    plaintext: &[u8],
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, FormatError> {
    seal_versioned(Version::V1, key, metadata, plaintext, 1, salt)
}

fn seal_versioned(
    version: Version,
    key: &FileKey,
    metadata: &Metadata,
    plaintext: &[u8],
    threads: usize,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, FormatError> {
    let len = u64::try_from(plaintext.len()).map_err(|_| FormatError::TooLarge)?;
    if metadata.length.is_some_and(|declared| declared != len) {
        return Err(FormatError::LengthMismatch);
    }
    let (header, payload) = build_header(version, key, metadata, salt)?;
    // Chunk count, sealed payload size, and the plaintext length the chunks cover.
    let (count, body_len, covered, plan) = match version {
        Version::V1 => {
            let (count, _) = layout(len);
            let tags = count.checked_mul(AEAD_TAG_LEN as u64);
            let body = tags.and_then(|t| t.checked_add(len));
            (count, body, len, None)
        }
        Version::V2 => {
            let plan = Plan::new(len)?;
            (plan.chunks, plan.sealed_len(), plan.padded, Some(plan))
        }
    };
    let count = usize::try_from(count).map_err(|_| FormatError::TooLarge)?;
    let body_len = body_len
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(FormatError::TooLarge)?;
    let sealed_len = body_len
        .checked_add(header.len())
        .ok_or(FormatError::TooLarge)?;
    let covered = usize::try_from(covered).map_err(|_| FormatError::TooLarge)?;
    let chunks_len = covered + count * AEAD_TAG_LEN;
    let mut out = Vec::with_capacity(sealed_len);
    out.extend_from_slice(&header);
    out.resize(sealed_len, 0);
    let (body, end) = out[header.len()..].split_at_mut(chunks_len);

    let threads = threads.clamp(1, count);
    let per_thread = count.div_ceil(threads);
    let data_chunks = plan.map_or(count as u64, |p| p.data_chunks);
    let work = |first: usize, body: &mut [u8]| -> Result<(), FormatError> {
        for (i, dst) in body.chunks_mut(SEALED_CHUNK_SIZE).enumerate() {
            let index = first + i;
            let start = index * CHUNK_SIZE;
            let pt_len = dst.len() - AEAD_TAG_LEN;
            // Data bytes of this chunk; the rest (v2 padding) stays zero.
            let data_len = plaintext.len().saturating_sub(start).min(pt_len);
            if data_len > 0 {
                let src = plaintext
                    .get(start..start + data_len)
                    .ok_or(FormatError::Internal)?;
                dst[..data_len].copy_from_slice(src);
            }
            let kind = match version {
                Version::V1 => v1_kind(index + 1 == count),
                Version::V2 if (index as u64) < data_chunks => KIND_DATA,
                Version::V2 => KIND_PAD,
            };
            seal_chunk_in_place(&payload, index as u64, kind, dst)?;
        }
        Ok(())
    };
    if threads == 1 {
        work(0, body)?;
    } else {
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(threads);
            let mut rest = body;
            let mut first = 0;
            while !rest.is_empty() {
                let take = (per_thread * SEALED_CHUNK_SIZE).min(rest.len());
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
        })?;
    }
    if let Some(plan) = plan {
        if end.len() != END_CHUNK_LEN {
            return Err(FormatError::Internal);
        }
        end[..8].copy_from_slice(&plan.len.to_be_bytes());
        seal_chunk_in_place(&payload, plan.chunks, KIND_END, end)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{open, Opener};

    fn meta(length: Option<u64>) -> Metadata {
        Metadata {
            name: "a.txt".into(),
            media_type: "text/plain".into(),
            classification: String::new(),
            created: 1,
            length,
        }
    }

    #[test]
    fn push_and_parallel_agree() {
        let key = FileKey::from_bytes([3u8; 32]);
        let data: Vec<u8> = (0..3 * CHUNK_SIZE + 17).map(|i| (i % 251) as u8).collect();
        let salt = [5u8; SALT_LEN];
        let (mut sealer, mut pushed) = Sealer::new_with_salt(&key, &meta(None), &salt).unwrap();
        for piece in data.chunks(1000) {
            sealer.push_into(piece, &mut pushed).unwrap();
        }
        pushed.extend(sealer.finish().unwrap());
        for threads in [1, 2, 3, 8] {
            let par = seal_parallel_with_salt(&key, &meta(None), &data, threads, &salt).unwrap();
            assert_eq!(par, pushed, "threads {threads}");
        }
        let (m, pt) = open(&key, &pushed).unwrap();
        assert_eq!(m, meta(None));
        assert_eq!(pt, data);
    }

    #[test]
    fn declared_length_is_enforced_when_sealing() {
        let key = FileKey::from_bytes([3u8; 32]);
        let (mut sealer, _) = Sealer::new(&key, &meta(Some(4))).unwrap();
        sealer.push(b"abc").unwrap();
        assert!(matches!(
            sealer.push(b"de"),
            Err(FormatError::LengthMismatch)
        ));
        assert_eq!(sealer.bytes_done(), 3);
        assert!(matches!(sealer.finish(), Err(FormatError::LengthMismatch)));
        assert!(matches!(
            seal(&key, &meta(Some(4)), b"abc"),
            Err(FormatError::LengthMismatch)
        ));
    }

    #[test]
    fn progress_reports_bytes_done() {
        use std::sync::{Arc, Mutex};
        let key = FileKey::from_bytes([3u8; 32]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut sealer, header) = Sealer::new(&key, &meta(None)).unwrap();
        let sink = Arc::clone(&seen);
        sealer.set_progress(Box::new(move |n| sink.lock().unwrap().push(n)));
        let mut sealed = header;
        sealed.extend(sealer.push(&[1u8; 10]).unwrap());
        sealed.extend(sealer.push(&[2u8; 5]).unwrap());
        sealed.extend(sealer.finish().unwrap());
        assert_eq!(*seen.lock().unwrap(), vec![10, 15]);
        let mut opener = Opener::new(&key);
        let mut pt = opener.push(&sealed).unwrap();
        pt.extend(opener.finish().unwrap());
        assert_eq!(pt.len(), 15);
    }
}
