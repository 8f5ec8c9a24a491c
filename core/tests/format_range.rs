//! Random access into sealed files: byte ranges at and around chunk boundaries, reading only
//! the needed chunks (counted through an instrumented reader), and typed errors for ranges out
//! of bounds, truncated files and tampered chunks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Cursor, Read, Seek, SeekFrom};

use sealroom_core::format::{
    header_len, open_range, seal, FileKey, FormatError, Metadata, CHUNK_SIZE, SEALED_CHUNK_SIZE,
};

const C: u64 = CHUNK_SIZE as u64;

/// A reader that counts the bytes actually read.
struct Counting {
    inner: Cursor<Vec<u8>>,
    read: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Seek for Counting {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn file(len: usize, declared: bool) -> (FileKey, Vec<u8>, Vec<u8>) {
    let key = FileKey::generate().unwrap();
    let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
    let meta = Metadata {
        name: "range.bin".into(),
        length: declared.then_some(len as u64),
        ..Metadata::default()
    };
    let sealed = seal(&key, &meta, &plaintext).unwrap();
    (key, plaintext, sealed)
}

#[test]
fn ranges_at_boundaries() {
    for declared in [false, true] {
        let len = 4 * C + 5;
        let (key, plaintext, sealed) = file(len as usize, declared);
        let ranges = [
            (0, 0),
            (0, 1),
            (0, C),
            (C - 1, 1),
            (C - 1, 2),
            (C, C),
            (C + 1, C - 1),
            (2 * C - 3, C + 6),
            (4 * C, 5),
            (4 * C + 4, 1),
            (len, 0),
            (0, len),
            (3, len - 3),
        ];
        for (offset, n) in ranges {
            let mut reader = Counting {
                inner: Cursor::new(sealed.clone()),
                read: 0,
            };
            let got = open_range(&key, &mut reader, offset, n).unwrap();
            assert_eq!(
                got,
                &plaintext[offset as usize..(offset + n) as usize],
                "range {offset}+{n}"
            );
            // Header + chunks of the range + the final chunk, nothing else.
            let chunks_needed = if n == 0 {
                0
            } else {
                (offset + n - 1) / C - offset / C + 1
            };
            let bound = 2107 + (chunks_needed + 1) * SEALED_CHUNK_SIZE as u64;
            assert!(
                reader.read <= bound,
                "range {offset}+{n} read {} bytes",
                reader.read
            );
        }
    }
}

#[test]
fn empty_file_range() {
    let (key, _, sealed) = file(0, true);
    assert!(open_range(&key, &mut Cursor::new(sealed.clone()), 0, 0)
        .unwrap()
        .is_empty());
    assert!(matches!(
        open_range(&key, &mut Cursor::new(sealed), 0, 1),
        Err(FormatError::RangeOutOfBounds)
    ));
}

#[test]
fn out_of_bounds_and_overflow() {
    let (key, _, sealed) = file(100, false);
    for (offset, n) in [(0, 101), (100, 1), (101, 0), (u64::MAX, 1), (1, u64::MAX)] {
        let err = open_range(&key, &mut Cursor::new(sealed.clone()), offset, n).unwrap_err();
        assert!(
            matches!(err, FormatError::RangeOutOfBounds),
            "{offset}+{n}: {err:?}"
        );
    }
}

#[test]
fn truncated_or_tampered_files_fail_even_outside_the_range() {
    for declared in [false, true] {
        let (key, _, sealed) = file((3 * C + 10) as usize, declared);
        let header = header_len(&sealed).unwrap().unwrap();
        // Cut at the boundary after chunk 2: the range [0, 10) is intact but the file is not.
        let cut = &sealed[..header + 3 * SEALED_CHUNK_SIZE];
        let err = open_range(&key, &mut Cursor::new(cut.to_vec()), 0, 10).unwrap_err();
        assert!(
            matches!(
                err,
                FormatError::Decrypt | FormatError::Truncated | FormatError::InvalidPayload
            ),
            "{err:?}"
        );
        // A flipped bit in chunk 1 fails a range that covers chunk 1 only.
        let mut bad = sealed.clone();
        bad[header + SEALED_CHUNK_SIZE + 5] ^= 1;
        let err = open_range(&key, &mut Cursor::new(bad.clone()), C + 1, 3).unwrap_err();
        assert!(matches!(err, FormatError::Decrypt));
        // ...while a range in chunk 0 is still served (chunks are independently authentic).
        assert_eq!(
            open_range(&key, &mut Cursor::new(bad), 0, 3).unwrap().len(),
            3
        );
        // Trailing bytes change the layout: rejected.
        let mut trailing = sealed.clone();
        trailing.push(0);
        assert!(open_range(&key, &mut Cursor::new(trailing), 0, 3).is_err());
        // Truncated inside the header.
        let err = open_range(&key, &mut Cursor::new(sealed[..50].to_vec()), 0, 0).unwrap_err();
        assert!(matches!(err, FormatError::Truncated), "{err:?}");
    }
}
