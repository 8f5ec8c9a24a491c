//! `std::io` adaptors over the push API.

use std::io::{self, Read, Write};

use zeroize::{Zeroize, Zeroizing};

use super::{FileKey, FormatError, Metadata, Opener, Progress, Sealer, SEALED_CHUNK_SIZE};

/// Largest slice one `write` call consumes, bounding the adaptor's memory.
const MAX_WRITE: usize = 4 * super::CHUNK_SIZE;

impl From<FormatError> for io::Error {
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::Io(inner) => inner,
            FormatError::Truncated => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Seals everything written to it into an inner writer.
///
/// [`SealWriter::finish`] MUST be called: it writes the final chunk. A writer dropped without
/// `finish` leaves a stream without its final chunk, which every opener rejects.
pub struct SealWriter<W: Write> {
    inner: W,
    sealer: Sealer,
    out: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    /// Writes the header to `inner` and returns the adaptor.
    pub fn new(key: &FileKey, metadata: &Metadata, mut inner: W) -> Result<Self, FormatError> {
        let (sealer, header) = Sealer::new(key, metadata)?;
        inner.write_all(&header)?;
        Ok(Self {
            inner,
            sealer,
            out: Vec::with_capacity(MAX_WRITE + 4 * SEALED_CHUNK_SIZE),
        })
    }

    /// Installs a progress callback (total plaintext bytes consumed).
    pub fn set_progress(&mut self, progress: Progress) {
        self.sealer.set_progress(progress);
    }

    /// Seals and writes the rest of the file (the last data chunk, the padding and the end
    /// chunk), flushes, and returns the inner writer.
    pub fn finish(self) -> Result<W, FormatError> {
        let Self {
            mut inner, sealer, ..
        } = self;
        // The padding is written one sealed chunk at a time: memory stays bounded.
        sealer.finish_with(&mut |bytes| Ok(inner.write_all(bytes)?))?;
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(MAX_WRITE);
        self.out.clear();
        self.sealer.push_into(&buf[..take], &mut self.out)?;
        self.inner.write_all(&self.out)?;
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a sealed file from an inner reader and yields its authenticated plaintext.
///
/// Reaching the end of the inner reader without a valid final chunk is an error
/// (`UnexpectedEof` wrapping [`FormatError::Truncated`], or `InvalidData` wrapping
/// [`FormatError::Decrypt`]), never a silent short read. Errors carry the [`FormatError`] as
/// their inner error.
pub struct OpenReader<R: Read> {
    inner: R,
    opener: Option<Opener>,
    metadata: Metadata,
    scratch: Vec<u8>,
    out: Zeroizing<Vec<u8>>,
    pos: usize,
    failed: bool,
}

impl<R: Read> OpenReader<R> {
    /// Reads and authenticates the header, so [`OpenReader::metadata`] is available at once.
    pub fn new(key: &FileKey, mut inner: R) -> Result<Self, FormatError> {
        let mut opener = Opener::new(key);
        let mut scratch = vec![0u8; SEALED_CHUNK_SIZE];
        let mut out = Vec::new();
        let metadata = loop {
            if let Some(metadata) = opener.metadata() {
                break metadata.clone();
            }
            let n = read_some(&mut inner, &mut scratch)?;
            if n == 0 {
                return Err(FormatError::Truncated);
            }
            opener.push_into(&scratch[..n], &mut out)?;
        };
        Ok(Self {
            inner,
            opener: Some(opener),
            metadata,
            scratch,
            out: Zeroizing::new(out),
            pos: 0,
            failed: false,
        })
    }

    /// The authenticated metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Installs a progress callback (total plaintext bytes released).
    pub fn set_progress(&mut self, progress: Progress) {
        if let Some(opener) = self.opener.as_mut() {
            opener.set_progress(progress);
        }
    }

    /// Returns the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn refill(&mut self) -> Result<(), FormatError> {
        self.out.zeroize();
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() {
            let Some(opener) = self.opener.as_mut() else {
                return Ok(());
            };
            let n = read_some(&mut self.inner, &mut self.scratch)?;
            if n == 0 {
                let opener = self.opener.take().ok_or(FormatError::Internal)?;
                self.out = Zeroizing::new(opener.finish()?);
                return Ok(());
            }
            opener.push_into(&self.scratch[..n], &mut self.out)?;
        }
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(FormatError::Decrypt.into());
        }
        if self.pos == self.out.len() {
            if let Err(e) = self.refill() {
                self.failed = true;
                self.opener = None;
                return Err(e.into());
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// One `read`, retrying on `Interrupted`.
fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, FormatError> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FormatError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_reader_round_trip() {
        let key = FileKey::from_bytes([4u8; 32]);
        let metadata = Metadata {
            name: "x".into(),
            length: Some(200_000),
            ..Metadata::default()
        };
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
        let mut writer = SealWriter::new(&key, &metadata, Vec::new()).unwrap();
        writer.write_all(&data).unwrap();
        let sealed = writer.finish().unwrap();
        let mut reader = OpenReader::new(&key, sealed.as_slice()).unwrap();
        assert_eq!(reader.metadata(), &metadata);
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        assert_eq!(plain, data);
    }

    #[test]
    fn reader_errors_on_missing_final_chunk() {
        let key = FileKey::from_bytes([4u8; 32]);
        let data = vec![9u8; 3 * super::super::CHUNK_SIZE];
        let mut writer = SealWriter::new(&key, &Metadata::default(), Vec::new()).unwrap();
        writer.write_all(&data).unwrap();
        // Dropped without finish: the final chunk is never written.
        let SealWriter { inner: sealed, .. } = writer;
        let mut reader = OpenReader::new(&key, sealed.as_slice()).unwrap();
        let mut plain = Vec::new();
        let err = reader.read_to_end(&mut plain).unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<FormatError>());
        assert!(
            matches!(
                inner,
                Some(FormatError::Truncated | FormatError::Decrypt | FormatError::InvalidPayload)
            ),
            "{err:?}"
        );
    }
}
