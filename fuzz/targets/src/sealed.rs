//! Target `sealed_file`: the sealed-file decryptor (`format::open`, the streaming
//! [`Opener`], the [`OpenReader`] and ranged [`open_range`]) under one fixed test key.
//!
//! Input, first byte:
//! - even: the rest is a sealed file as is (random bytes, or mutated by libFuzzer from seeds);
//! - odd: structured. A valid sealed file (one of [`originals`], chosen by the second byte) is
//!   edited by the operations encoded in the rest (see [`mutate`]), so that most inputs get past
//!   the header into chunk authentication, truncation and reordering.
//!
//! Invariants: all decoders agree (same success, same metadata, same plaintext); whatever opens
//! is exactly an original file's metadata and plaintext (nothing forged, truncated or reordered
//! is ever released as plaintext); a ranged read that succeeds returns exactly that range.

use std::io::{Cursor, Read};
use std::sync::OnceLock;

use sealroom_core::format::{
    open, open_range, seal_parallel_with_salt, FileKey, Metadata, OpenReader, Opener, CHUNK_SIZE,
    SALT_LEN,
};

/// The fixed key of this target.
pub const KEY: [u8; 32] = [7; 32];

/// A valid sealed file: (metadata, plaintext, sealed bytes).
pub type Original = (Metadata, Vec<u8>, Vec<u8>);

/// Valid sealed files under [`KEY`].
pub fn originals() -> &'static [Original] {
    static ORIGINALS: OnceLock<Vec<Original>> = OnceLock::new();
    ORIGINALS.get_or_init(|| {
        let key = FileKey::from_bytes(KEY);
        let cases: [(usize, bool, &str); 5] = [
            (0, true, "empty.txt"),
            (37, true, "note.txt"),
            (300, false, "stream.bin"),
            (CHUNK_SIZE, true, "one-chunk.bin"),
            (CHUNK_SIZE + 5, false, "two-chunks.bin"),
        ];
        cases
            .iter()
            .enumerate()
            .map(|(i, (len, declared, name))| {
                let plaintext: Vec<u8> = (0..*len).map(|j| (j * 31 + i) as u8).collect();
                let metadata = Metadata {
                    name: (*name).to_owned(),
                    media_type: "application/octet-stream".to_owned(),
                    classification: "confidential".to_owned(),
                    created: 1_700_000_000 + i as u64,
                    length: declared.then_some(*len as u64),
                };
                let sealed =
                    seal_parallel_with_salt(&key, &metadata, &plaintext, 1, &[i as u8; SALT_LEN])
                        .expect("sealing a test file");
                (metadata, plaintext, sealed)
            })
            .collect()
    })
}

/// Applies edit operations to `sealed`. Each operation is 4 bytes: `op | position (2, BE) |
/// value`; the position is scaled to the file's length so edits land everywhere in big files.
pub fn mutate(sealed: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = sealed.to_vec();
    for op in ops.chunks_exact(4).take(8) {
        let pos = |len: usize| {
            if len == 0 {
                0
            } else {
                usize::from(u16::from_be_bytes([op[1], op[2]])) * len / 65_536
            }
        };
        let value = op[3];
        match op[0] % 8 {
            0 => {
                let p = pos(out.len());
                if let Some(b) = out.get_mut(p) {
                    *b ^= value.max(1);
                }
            }
            1 => {
                let p = pos(out.len() + 1);
                out.truncate(p);
            }
            2 => {
                let p = pos(out.len() + 1);
                out.insert(p, value);
            }
            3 => {
                let p = pos(out.len());
                let end = (p + usize::from(value) + 1).min(out.len());
                out.drain(p..end);
            }
            4 => {
                // Append `value` copies of a slice of the file itself.
                let p = pos(out.len());
                let tail: Vec<u8> = out[p..]
                    .iter()
                    .take(usize::from(value) * 64)
                    .copied()
                    .collect();
                out.extend_from_slice(&tail);
            }
            5 => {
                // Swap two 16-byte blocks (reorders tags and chunk pieces).
                let a = pos(out.len());
                let b = usize::from(value) * out.len() / 256;
                if a + 16 <= out.len() && b + 16 <= out.len() && (a + 16 <= b || b + 16 <= a) {
                    for i in 0..16 {
                        out.swap(a + i, b + i);
                    }
                }
            }
            6 => {
                // Splice in the same region of another original (same key, other salt).
                let others = originals();
                let other = &others[usize::from(value) % others.len()].2;
                let p = pos(out.len().min(other.len()));
                let end = (p + 64).min(out.len()).min(other.len());
                if p < end {
                    out[p..end].copy_from_slice(&other[p..end]);
                }
            }
            _ => {
                let p = pos(out.len());
                if let Some(b) = out.get_mut(p) {
                    *b = value;
                }
            }
        }
    }
    out
}

/// Opens `sealed` with the streaming opener, pushing pieces of the sizes `steps` cycles through.
fn open_streaming(key: &FileKey, sealed: &[u8], steps: &[u8]) -> Option<(Metadata, Vec<u8>)> {
    let mut opener = Opener::new(key);
    let mut out = Vec::new();
    let mut rest = sealed;
    let mut i = 0;
    while !rest.is_empty() {
        let step = match steps.get(i % steps.len().max(1)) {
            Some(&s) if s > 0 => usize::from(s) * 97,
            _ => 4096,
        };
        i += 1;
        let (piece, tail) = rest.split_at(step.min(rest.len()));
        rest = tail;
        opener.push_into(piece, &mut out).ok()?;
    }
    let metadata = opener.metadata().cloned();
    out.extend_from_slice(&opener.finish().ok()?);
    Some((metadata?, out))
}

fn open_reader(key: &FileKey, sealed: &[u8]) -> Option<(Metadata, Vec<u8>)> {
    let mut reader = OpenReader::new(key, Cursor::new(sealed)).ok()?;
    let metadata = reader.metadata().clone();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).ok()?;
    Some((metadata, out))
}

/// The target body.
pub fn sealed_file(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (sealed, steps, range) = if mode & 1 == 0 {
        (rest.to_vec(), &[][..], (u64::from(mode), 100))
    } else {
        let Some((&which, ops)) = rest.split_first() else {
            return;
        };
        let all = originals();
        let original = &all[usize::from(which) % all.len()].2;
        let steps = ops.get(32..).unwrap_or(&[]);
        let range = (u64::from(which) * 521, u64::from(mode) * 301);
        (mutate(original, ops.get(..32).unwrap_or(ops)), steps, range)
    };
    check(&sealed, steps, range);
}

/// Opens `sealed` every way there is and checks the invariants.
pub fn check(sealed: &[u8], steps: &[u8], (offset, len): (u64, u64)) {
    let key = FileKey::from_bytes(KEY);
    let whole = open(&key, sealed).ok();
    let streamed = open_streaming(&key, sealed, steps);
    let read = open_reader(&key, sealed);
    assert_eq!(
        whole.is_some(),
        streamed.is_some(),
        "open and the streaming opener disagree"
    );
    assert_eq!(whole, streamed, "open and the streaming opener disagree");
    assert_eq!(whole, read, "open and OpenReader disagree");
    let ranged = open_range(&key, &mut Cursor::new(sealed), offset, len).ok();
    match &whole {
        Some((metadata, plaintext)) => {
            assert!(
                originals()
                    .iter()
                    .any(|(m, p, _)| m == metadata && p == plaintext),
                "a modified sealed file opened to something that is not an original"
            );
            if let Some(bytes) = ranged {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(plaintext.len());
                let end = start
                    .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
                    .min(plaintext.len());
                assert_eq!(
                    bytes,
                    &plaintext[start..end],
                    "open_range returned other bytes"
                );
            }
        }
        None => {
            // A file that does not open as a whole may still hold an authentic range only if
            // it is an original with trailing garbage removed; ranges never release bytes
            // that are not an original's.
            if let Some(bytes) = ranged {
                if !bytes.is_empty() {
                    assert!(
                        originals()
                            .iter()
                            .any(|(_, p, _)| p.windows(bytes.len()).any(|w| w == bytes)),
                        "open_range released bytes of no original"
                    );
                }
            }
        }
    }
}
