//! Opening a version 2 payload as it streams in: padded chunks, then the end chunk.

use zeroize::Zeroize;

use super::pad::{all_zero, padded_len, Plan, END_CHUNK_LEN};
use super::{
    open_chunk, FormatError, CHUNK_SIZE, KIND_DATA, KIND_END, KIND_PAD, SEALED_CHUNK_SIZE,
};
use crate::primitives::{Aead, AEAD_TAG_LEN};

/// Streaming state of a v2 payload.
///
/// With a declared length the whole layout (chunk sizes and kinds) is known from the header,
/// and each data chunk's data bytes are released as soon as it verifies. Without one, a chunk
/// is taken as a full padded chunk once more than a full chunk plus the end chunk is
/// buffered; its kind is tried as data first and, once data chunks may have ended, as padding
/// (the kinds differ only in the nonce, so the wrong guess fails authentication). The newest
/// data chunk is held back until the next chunk shows it was all data, or the end chunk gives
/// the length: at most one chunk of plaintext is ever held.
pub(super) struct PayloadV2 {
    aead: Aead,
    plan: Option<Plan>,
    buf: Vec<u8>,
    counter: u64,
    padded_seen: u64,
    data_chunks: u64,
    in_padding: bool,
    held: Vec<u8>,
    done: bool,
}

impl PayloadV2 {
    pub(super) fn new(aead: Aead, declared: Option<u64>) -> Result<Self, FormatError> {
        // A declared length whose padded size overflows cannot have been sealed.
        let plan = declared
            .map(Plan::new)
            .transpose()
            .map_err(|_| FormatError::InvalidHeader)?;
        Ok(Self {
            aead,
            plan,
            buf: Vec::new(),
            counter: 0,
            padded_seen: 0,
            data_chunks: 0,
            in_padding: false,
            held: Vec::new(),
            done: false,
        })
    }

    /// Consumes sealed payload bytes, appending released plaintext to `out`.
    pub(super) fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        while let Some(size) = self.next_size(self.buf.len() + input.len()) {
            if self.buf.is_empty() {
                let (chunk, rest) = input.split_at(size);
                self.chunk(chunk, out)?;
                input = rest;
            } else if self.buf.len() >= size {
                // Undeclared length: up to a chunk plus the end chunk stays buffered.
                let mut chunk = self.buf.split_off(size);
                std::mem::swap(&mut chunk, &mut self.buf);
                let result = self.chunk(&chunk, out);
                chunk.zeroize();
                result?;
            } else {
                let (head, rest) = input.split_at(size - self.buf.len());
                self.buf.extend_from_slice(head);
                input = rest;
                let chunk = std::mem::take(&mut self.buf);
                let result = self.chunk(&chunk, out);
                self.buf = chunk;
                self.buf.clear();
                result?;
            }
        }
        if self.done && !input.is_empty() {
            // Trailing data after the end chunk.
            return Err(FormatError::Decrypt);
        }
        self.buf.extend_from_slice(input);
        Ok(())
    }

    /// Size of the next chunk, if `available` bytes are enough to know and hold it.
    fn next_size(&self, available: usize) -> Option<usize> {
        if self.done {
            return None;
        }
        let size = match self.plan {
            Some(plan) if self.counter < plan.chunks => plan.chunk_len(self.counter) + AEAD_TAG_LEN,
            Some(_) => END_CHUNK_LEN,
            // Undeclared: a full chunk is known to be a padded chunk (not the last one, not
            // the end chunk) once more than a full chunk plus the end chunk is buffered.
            None => {
                return (available > SEALED_CHUNK_SIZE + END_CHUNK_LEN).then_some(SEALED_CHUNK_SIZE)
            }
        };
        (available >= size).then_some(size)
    }

    /// Authenticates one chunk at the current position and releases what it may.
    fn chunk(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        match self.plan {
            Some(plan) if self.counter < plan.chunks => {
                let data = self.counter < plan.data_chunks;
                let kind = if data { KIND_DATA } else { KIND_PAD };
                let start = out.len();
                open_chunk(&self.aead, self.counter, kind, sealed, out)?;
                let keep = plan.data_in_chunk(self.counter);
                if !all_zero(&out[start + keep..]) {
                    out[start..].zeroize();
                    out.truncate(start);
                    return Err(FormatError::InvalidPayload);
                }
                out.truncate(start + keep);
                self.counter += 1;
                Ok(())
            }
            Some(plan) => {
                let len = self.end_chunk(sealed)?;
                if len != plan.len {
                    return Err(FormatError::InvalidPayload);
                }
                self.done = true;
                Ok(())
            }
            None => self.undeclared_chunk(sealed, out),
        }
    }

    fn undeclared_chunk(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), FormatError> {
        let mut plain = Vec::with_capacity(CHUNK_SIZE);
        let mut is_data = false;
        if !self.in_padding {
            is_data = open_chunk(&self.aead, self.counter, KIND_DATA, sealed, &mut plain).is_ok();
        }
        if !is_data {
            // Chunk 0 is always a data chunk.
            if self.counter == 0 {
                return Err(FormatError::Decrypt);
            }
            open_chunk(&self.aead, self.counter, KIND_PAD, sealed, &mut plain)?;
            if !all_zero(&plain) {
                return Err(FormatError::InvalidPayload);
            }
            self.in_padding = true;
        } else {
            // A data chunk follows: the one held back was all data (and full).
            out.extend_from_slice(&self.held);
            self.held.zeroize();
            self.held = plain;
            self.data_chunks += 1;
        }
        self.padded_seen += (sealed.len() - AEAD_TAG_LEN) as u64;
        self.counter = self.counter.checked_add(1).ok_or(FormatError::TooLarge)?;
        Ok(())
    }

    /// Authenticates the end chunk (index `counter`) and returns the sealed plaintext length.
    fn end_chunk(&self, sealed: &[u8]) -> Result<u64, FormatError> {
        if sealed.len() != END_CHUNK_LEN {
            return Err(FormatError::Decrypt);
        }
        let mut plain = Vec::with_capacity(8);
        open_chunk(&self.aead, self.counter, KIND_END, sealed, &mut plain)?;
        let mut len = [0u8; 8];
        len.copy_from_slice(&plain);
        Ok(u64::from_be_bytes(len))
    }

    /// Ends the stream: with an undeclared length, opens the last padded chunk and the end
    /// chunk from the bytes still buffered and releases the held data.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        if self.done {
            return Ok(());
        }
        if self.plan.is_some() {
            return Err(FormatError::Truncated);
        }
        let buffered = std::mem::take(&mut self.buf);
        if buffered.len() < AEAD_TAG_LEN + 1 + END_CHUNK_LEN {
            return Err(FormatError::Truncated);
        }
        let (last, end) = buffered.split_at(buffered.len() - END_CHUNK_LEN);
        // The payload size must be one an encryptor writes (as in the size method) before
        // anything more is decrypted.
        let padded = self.padded_seen + (last.len() - AEAD_TAG_LEN) as u64;
        if padded_len(padded) != Some(padded) {
            return Err(FormatError::InvalidPayload);
        }
        let mut scratch = Vec::new();
        self.undeclared_chunk(last, &mut scratch)?;
        let len = self.end_chunk(end)?;
        // The padded size, the number of data chunks and the held chunk must be exactly what
        // an encryptor writes for this length.
        let plan = Plan::new(len).map_err(|_| FormatError::InvalidPayload)?;
        if padded_len(len) != Some(self.padded_seen) || plan.data_chunks != self.data_chunks {
            return Err(FormatError::InvalidPayload);
        }
        let keep = plan.data_in_chunk(plan.data_chunks - 1);
        if self.held.len() < keep || !all_zero(&self.held[keep..]) {
            return Err(FormatError::InvalidPayload);
        }
        out.extend_from_slice(&scratch);
        out.extend_from_slice(&self.held[..keep]);
        self.held.zeroize();
        self.held.clear();
        self.done = true;
        Ok(())
    }

    /// Wipes everything held (after an error).
    pub(super) fn wipe(&mut self) {
        self.buf.zeroize();
        self.buf.clear();
        self.held.zeroize();
        self.held.clear();
    }
}

impl Drop for PayloadV2 {
    fn drop(&mut self) {
        self.wipe();
    }
}
