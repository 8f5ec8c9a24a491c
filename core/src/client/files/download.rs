//! Download: ranged GETs, opened chunk by chunk as they arrive.

use std::io::{Read, Seek, SeekFrom, Write};

use zeroize::Zeroizing;

use sealroom_wire::blobs::BlobStatus;

use crate::format::{self, Opener, CHUNK_SIZE, MAX_HEADER_FIXED_LEN, SEALED_CHUNK_SIZE};

use super::digest::ContentHasher;
use super::{
    blob_path, hex32, removal, ClientError, FileVersion, SealroomClient, ATTEMPTS, UPLOAD_CHUNK,
};
use crate::client::api::{relay_error, Call, Started};
use crate::client::labels::sealed_label_matches;
use crate::client::transport::MaybeSend;

/// A download in progress (see [`SealroomClient::start_download`]). Holds the file key; it
/// is wiped when the download is dropped.
pub struct Download {
    relay_id: String,
    file_id: String,
    key: format::FileKey,
    sealed_len: u64,
    total: Option<u64>,
    done: u64,
    finished: bool,
    entry: FileVersion,
    mode: Mode,
}

enum Mode {
    Whole {
        opener: Box<Opener>,
        /// The content digest of the plaintext opened so far: of the kind the signed
        /// manifest names, or of both kinds when only the announcement is known.
        content: Box<ContentHasher>,
        fetched: u64,
        /// The next range, requested while the current one is opened: `(start, end)` and
        /// the request.
        ahead: Option<(u64, u64, Started)>,
    },
    Range {
        header: Vec<u8>,
        header_len: u64,
        last_start: u64,
        last: Vec<u8>,
        pos: u64,
        end: u64,
    },
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("file_id", &self.file_id)
            .field("done", &self.done)
            .field("total", &self.total)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Plaintext bytes delivered so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Plaintext bytes this download delivers: the range length, or the file's length once
    /// the sealed metadata was read (`None` before the first piece for whole files).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Whether every byte was delivered and checked.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The file version being downloaded; after a whole-file download finished, with the
    /// name and media type from the sealed metadata and the exact size.
    pub fn version(&self) -> &FileVersion {
        &self.entry
    }
}

/// Reads the sealed metadata from `header` and compares its label with the announced one.
fn check_sealed_label(
    key: &format::FileKey,
    header: &[u8],
    entry: &FileVersion,
) -> Result<(), ClientError> {
    let mut opener = Opener::new(key);
    opener.push_into(header, &mut Vec::new())?;
    let meta = opener
        .metadata()
        .ok_or(ClientError::Format(format::FormatError::Truncated))?;
    sealed_label_matches(entry, &meta.classification)
}

/// A `Read + Seek` view of a sealed file of which only some byte ranges were fetched; reading
/// elsewhere fails. Lets [`format::open_range`] work on ranges fetched over HTTP.
struct Sparse {
    len: u64,
    pos: u64,
    parts: Vec<(u64, Vec<u8>)>,
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        for (start, bytes) in &self.parts {
            let end = start + bytes.len() as u64;
            if self.pos >= *start && self.pos < end {
                let from = (self.pos - start) as usize;
                let n = buf.len().min(bytes.len() - from);
                buf[..n].copy_from_slice(&bytes[from..from + n]);
                self.pos += n as u64;
                return Ok(n);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "range not fetched",
        ))
    }
}

impl Seek for Sparse {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        Ok(self.pos)
    }
}

impl Drop for Sparse {
    fn drop(&mut self) {
        // Only ciphertext, but cheap to clear.
        self.parts.clear();
    }
}

/// A signed GET of a blob, of `start..end` when given.
fn range_call(relay_id: &str, blob_id: &str, range: Option<(u64, u64)>) -> Call {
    let mut call = Call::get(blob_path(relay_id, blob_id));
    if let Some((start, end)) = range {
        call.headers
            .push(("range".into(), format!("bytes={start}-{}", end - 1)));
    }
    call
}

impl SealroomClient {
    pub(super) async fn get_range(
        &self,
        relay_id: &str,
        blob_id: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, ClientError> {
        self.get_range_after(relay_id, blob_id, range, None).await
    }

    /// Starts the ranged GET of `start..end` without waiting for it (see
    /// [`SealroomClient::get_range_after`]).
    async fn start_range(
        &self,
        relay_id: &str,
        blob_id: &str,
        start: u64,
        end: u64,
    ) -> Result<Started, ClientError> {
        self.signed_start(range_call(relay_id, blob_id, Some((start, end))))
            .await
    }

    /// [`SealroomClient::get_range`] whose first attempt may have been started earlier
    /// (`first`, a request for the same range); failures are retried as usual.
    async fn get_range_after(
        &self,
        relay_id: &str,
        blob_id: &str,
        range: Option<(u64, u64)>,
        mut first: Option<Started>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut attempt = 0;
        loop {
            let answer = match first.take() {
                Some(started) => started.response().await,
                None => self.signed_raw(range_call(relay_id, blob_id, range)).await,
            };
            match answer {
                Ok(response) if (200..300).contains(&response.status) => {
                    if let Some((start, end)) = range {
                        if response.body.len() as u64 != end - start {
                            return Err(ClientError::Protocol("short range from the relay".into()));
                        }
                    }
                    return Ok(response.body);
                }
                Ok(response) => return Err(relay_error(&response)),
                Err(ClientError::Transport(_)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    self.back_off(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a pull-style download of a file version: the whole file (`range: None`) or
    /// `len` plaintext bytes from `offset` (`range: Some((offset, len))`). Then call
    /// [`SealroomClient::download_next`] until it returns `None`. Hosts that hand out chunks
    /// (a browser `ReadableStream`, a mobile byte sink) use this; Rust callers with a
    /// [`Write`] use [`SealroomClient::download_file`] or [`SealroomClient::download_range`].
    ///
    /// Whole files are fetched in ranged requests of [`UPLOAD_CHUNK`] sealed bytes and their
    /// announced content digest is checked at the end: the last `download_next` call fails if
    /// it does not match. The pieces of a piece digest are hashed by the host when it can
    /// ([`Transport::sha256`](crate::client::Transport::sha256)). For a range only the sealed header, the final chunk (which proves the file
    /// complete) and the chunks holding the range are fetched.
    pub async fn start_download(
        &self,
        space_id: &str,
        file_id: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Download, ClientError> {
        let rec = self.key_record(space_id, file_id)?;
        if self.room_removed(&rec.relay_id)? {
            return Err(ClientError::RemovedFromSpace(space_id.to_owned()));
        }
        let key = format::FileKey::from_bytes(hex32(&rec.key)?);
        let entry = self
            .version_of(space_id, file_id)?
            .ok_or_else(|| ClientError::Unknown {
                what: "file",
                id: file_id.to_owned(),
            })?;
        self.check_open(&entry)?;
        let total = self
            .blob_length(&rec.relay_id, file_id)
            .await
            .map_err(|e| removal(e, space_id))?;
        let mode = match range {
            None => Mode::Whole {
                opener: Box::new(Opener::new(&key)),
                content: Box::new(ContentHasher::new(rec.digest_kind())),
                fetched: 0,
                ahead: None,
            },
            Some((offset, len)) => {
                let fixed = self
                    .get_range(
                        &rec.relay_id,
                        file_id,
                        Some((0, (MAX_HEADER_FIXED_LEN as u64).min(total))),
                    )
                    .await?;
                let header_len = format::header_len(&fixed)?
                    .ok_or(ClientError::Format(format::FormatError::Truncated))?
                    as u64;
                let header = self
                    .get_range(&rec.relay_id, file_id, Some((0, header_len.min(total))))
                    .await?;
                check_sealed_label(&key, &header, &entry)?;
                // The plaintext length is sealed (v2): read it from the authenticated tail.
                let last_start = format::tail_start(&header, total)?;
                let last = self
                    .get_range(&rec.relay_id, file_id, Some((last_start, total)))
                    .await?;
                let plain_len = format::plaintext_len(
                    &key,
                    &mut Sparse {
                        len: total,
                        pos: 0,
                        parts: vec![(0, header.clone()), (last_start, last.clone())],
                    },
                )?;
                let end = offset
                    .checked_add(len)
                    .filter(|e| *e <= plain_len)
                    .ok_or(ClientError::Format(format::FormatError::RangeOutOfBounds))?;
                Mode::Range {
                    header,
                    header_len,
                    last_start,
                    last,
                    pos: offset,
                    end,
                }
            }
        };
        Ok(Download {
            relay_id: rec.relay_id.clone(),
            file_id: file_id.to_owned(),
            key,
            sealed_len: total,
            total: range.map(|(_, len)| len),
            done: 0,
            finished: false,
            entry,
            mode,
        })
    }

    /// The next plaintext piece of a download started with [`SealroomClient::start_download`]
    /// (at most [`UPLOAD_CHUNK`] bytes), or `None` once everything was delivered and checked.
    /// Every piece is authenticated before it is returned; a whole-file download fails on its
    /// last call if the file's content digest differs from the announced one.
    pub async fn download_next(
        &self,
        download: &mut Download,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        if download.finished {
            return Ok(None);
        }
        let d = download;
        let piece = match &mut d.mode {
            Mode::Whole {
                opener,
                content,
                fetched,
                ahead,
            } => {
                let mut plain = Vec::new();
                if *fetched < d.sealed_len {
                    let end = (*fetched + UPLOAD_CHUNK as u64).min(d.sealed_len);
                    let first = match ahead.take() {
                        Some((s, e, started)) if (s, e) == (*fetched, end) => Some(started),
                        _ => None,
                    };
                    let sealed = self
                        .get_range_after(&d.relay_id, &d.file_id, Some((*fetched, end)), first)
                        .await?;
                    *fetched = end;
                    // The next range travels while this one is opened (one range ahead:
                    // memory stays at two ranges).
                    if *fetched < d.sealed_len {
                        let next = (*fetched + UPLOAD_CHUNK as u64).min(d.sealed_len);
                        let started = self
                            .start_range(&d.relay_id, &d.file_id, *fetched, next)
                            .await?;
                        *ahead = Some((*fetched, next, started));
                    }
                    // The range is a whole piece of the sealed digest (4 MiB at a multiple of
                    // 4 MiB, the last one shorter): hashed where it is.
                    content.update_sealed(&self.api, &sealed).await;
                    plain.reserve(sealed.len());
                    opener.push_into(&sealed, &mut plain)?;
                    // No plaintext leaves before the header (and its label) was read.
                    if let Some(m) = opener.metadata() {
                        sealed_label_matches(&d.entry, &m.classification)?;
                    }
                    if d.total.is_none() {
                        d.total = opener.metadata().and_then(|m| m.length);
                    }
                }
                if *fetched >= d.sealed_len {
                    let meta = opener.metadata().cloned();
                    let opener = std::mem::replace(opener, Box::new(Opener::new(&d.key)));
                    plain.extend_from_slice(&Zeroizing::new(opener.finish()?));
                    content.update(&self.api, &plain).await;
                    let content = std::mem::replace(content, Box::new(ContentHasher::new(None)));
                    let digests = content.finish(&self.api).await;
                    if !d.entry.digest.is_empty() && !digests.matches(&hex32(&d.entry.digest)?) {
                        return Err(ClientError::Format(format::FormatError::Decrypt));
                    }
                    if let Some(m) = meta {
                        d.entry.name = m.name;
                        d.entry.media_type = m.media_type;
                    }
                    d.finished = true;
                } else {
                    content.update(&self.api, &plain).await;
                }
                plain
            }
            Mode::Range {
                header,
                header_len,
                last_start,
                last,
                pos,
                end,
            } => {
                if *pos >= *end {
                    d.finished = true;
                    return Ok(None);
                }
                let chunk = CHUNK_SIZE as u64;
                let per_window = (UPLOAD_CHUNK / SEALED_CHUNK_SIZE).max(1) as u64;
                let first = *pos / chunk;
                let window_end = ((first + per_window) * chunk).min(*end);
                let last_index = (window_end - 1) / chunk;
                let from = *header_len + first * SEALED_CHUNK_SIZE as u64;
                let to =
                    (*header_len + (last_index + 1) * SEALED_CHUNK_SIZE as u64).min(d.sealed_len);
                let body = self
                    .get_range(&d.relay_id, &d.file_id, Some((from, to)))
                    .await?;
                let mut sparse = Sparse {
                    len: d.sealed_len,
                    pos: 0,
                    parts: vec![
                        (0, header.clone()),
                        (from, body),
                        (*last_start, last.clone()),
                    ],
                };
                let plain = format::open_range(&d.key, &mut sparse, *pos, window_end - *pos)?;
                *pos = window_end;
                if *pos >= *end {
                    d.finished = true;
                }
                plain
            }
        };
        d.done += piece.len() as u64;
        if d.finished {
            d.total = Some(d.total.unwrap_or(d.done));
            if matches!(d.mode, Mode::Whole { .. }) {
                d.entry.size = d.done;
            }
        }
        if piece.is_empty() && d.finished {
            return Ok(None);
        }
        Ok(Some(piece))
    }

    /// Downloads a whole file into `out` (see [`SealroomClient::start_download`]).
    /// `progress(done, total)` counts plaintext bytes. Returns the index entry with the sealed
    /// metadata's name and media type.
    pub async fn download_file<W, P>(
        &self,
        space_id: &str,
        file_id: &str,
        out: W,
        progress: P,
    ) -> Result<FileVersion, ClientError>
    where
        W: Write + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        let download = self.start_download(space_id, file_id, None).await?;
        Ok(self.pump_download(download, out, progress).await?.entry)
    }

    /// Downloads `len` plaintext bytes starting at `offset` into `out` (see
    /// [`SealroomClient::start_download`]).
    pub async fn download_range<W, P>(
        &self,
        space_id: &str,
        file_id: &str,
        offset: u64,
        len: u64,
        out: W,
        progress: P,
    ) -> Result<(), ClientError>
    where
        W: Write + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        let download = self
            .start_download(space_id, file_id, Some((offset, len)))
            .await?;
        self.pump_download(download, out, progress).await?;
        Ok(())
    }

    async fn pump_download<W, P>(
        &self,
        mut download: Download,
        mut out: W,
        mut progress: P,
    ) -> Result<Download, ClientError>
    where
        W: Write + MaybeSend,
        P: FnMut(u64, u64) + MaybeSend,
    {
        progress(0, download.total().unwrap_or(0));
        while let Some(piece) = self.download_next(&mut download).await? {
            let piece = Zeroizing::new(piece);
            out.write_all(&piece)?;
            progress(download.done(), download.total().unwrap_or(0));
        }
        out.flush()?;
        progress(download.done(), download.total().unwrap_or(download.done()));
        Ok(download)
    }

    async fn blob_length(&self, relay_id: &str, blob_id: &str) -> Result<u64, ClientError> {
        let status: BlobStatus = self
            .signed_json(Call::get(format!(
                "{}/status",
                blob_path(relay_id, blob_id)
            )))
            .await?;
        if !status.complete {
            return Err(ClientError::Unknown {
                what: "complete file",
                id: blob_id.to_owned(),
            });
        }
        Ok(status.length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_reader_serves_only_fetched_ranges() {
        let mut s = Sparse {
            len: 100,
            pos: 0,
            parts: vec![(0, vec![1, 2, 3]), (90, vec![9; 10])],
        };
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
        assert!(s.read(&mut buf).is_err());
        s.seek(SeekFrom::End(-2)).unwrap();
        let mut two = [0u8; 2];
        s.read_exact(&mut two).unwrap();
        assert_eq!(two, [9, 9]);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
}
