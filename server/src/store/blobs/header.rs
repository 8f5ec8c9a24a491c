//! The header of a blob file in layout 1 of the local backend (`{blob_id}.v1.blob`): the file
//! itself says how many of its bytes are durable, so that an append costs one fsync.
//!
//! ```text
//! 0      8-byte magic and version: "SRBLOB" 0x00 0x01
//! 512    slot 0 (64 bytes)
//! 1024   slot 1 (64 bytes)
//! 4096   the blob's bytes
//! ```
//!
//! A slot describes one append: `end` (u64 LE, the offset after it), `start` (u64 LE, where it
//! began), the SHA-256 of the bytes `[start, end)` (the digest the request signature was
//! checked with: no second pass), and 16 bytes of SHA-256 over the domain label and the 48
//! bytes before (a torn or zeroed slot does not verify). An append writes its bytes and its
//! slot, alternating between the two so that the slot of the last acknowledged append is
//! never overwritten, and syncs the file once. After a crash the durable offset is the
//! largest `end` of a slot that verifies and whose bytes hash to its digest (the other slot's,
//! when the newest append's bytes or slot did not reach the disk). The slots sit in different
//! sectors, so a torn write damages one at most.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

/// Where the blob's bytes begin.
pub const HEADER_LEN: u64 = 4096;
/// Magic and layout version.
const MAGIC: &[u8; 8] = b"SRBLOB\x00\x01";
/// Where the two slots are.
pub const SLOT_AT: [u64; 2] = [512, 1024];
const SLOT_LEN: usize = 64;
const SLOT_LABEL: &[u8] = b"sealroom blob offset slot v1";

/// One append as recorded in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The offset after the append.
    pub end: u64,
    /// The offset it began at.
    pub start: u64,
    /// SHA-256 of the bytes `[start, end)`.
    pub digest: [u8; 32],
}

impl Slot {
    fn encode(&self) -> [u8; SLOT_LEN] {
        let mut out = [0u8; SLOT_LEN];
        out[..8].copy_from_slice(&self.end.to_le_bytes());
        out[8..16].copy_from_slice(&self.start.to_le_bytes());
        out[16..48].copy_from_slice(&self.digest);
        let check = slot_check(&out[..48]);
        out[48..].copy_from_slice(&check);
        out
    }

    fn decode(raw: &[u8; SLOT_LEN]) -> Option<Self> {
        if slot_check(&raw[..48]) != raw[48..] {
            return None;
        }
        let end = u64::from_le_bytes(raw[..8].try_into().ok()?);
        let start = u64::from_le_bytes(raw[8..16].try_into().ok()?);
        let digest: [u8; 32] = raw[16..48].try_into().ok()?;
        (start <= end).then_some(Self { end, start, digest })
    }
}

fn slot_check(fields: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(SLOT_LABEL);
    h.update(fields);
    let full: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The header of a new file: the magic, both slots empty (they do not verify).
pub fn new_header() -> Vec<u8> {
    let mut header = vec![0u8; HEADER_LEN as usize];
    header[..MAGIC.len()].copy_from_slice(MAGIC);
    header
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Reads the magic and both slots of `file` (`None` for a slot that does not verify).
pub fn read_slots(mut file: &File) -> std::io::Result<[Option<Slot>; 2]> {
    let mut magic = [0u8; 8];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut magic)
        .map_err(|_| invalid("blob file shorter than its header"))?;
    match &magic {
        m if m == MAGIC => {}
        _ => return Err(invalid("blob file with an unknown header")),
    }
    let mut slots = [None, None];
    for (slot, at) in slots.iter_mut().zip(SLOT_AT) {
        let mut raw = [0u8; SLOT_LEN];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut raw)?;
        *slot = Slot::decode(&raw);
    }
    Ok(slots)
}

/// Which slot the append after `offset` writes: not the one recording `offset` (the last
/// acknowledged append's, which must survive a torn write of the new one).
pub fn next_slot(slots: &[Option<Slot>; 2], offset: u64) -> usize {
    match slots {
        [Some(s), _] if s.end == offset => 1,
        _ => 0,
    }
}

/// Writes `slot` into slot `index` of `file` (not synced).
pub fn write_slot(mut file: &File, index: usize, slot: &Slot) -> std::io::Result<()> {
    let at = SLOT_AT
        .get(index)
        .copied()
        .ok_or_else(|| invalid("no such slot"))?;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(&slot.encode())
}

/// The largest offset below `limit` that `file` holds durably beyond `known`: the `end` of a
/// verifying slot whose bytes hash to its digest, or `None` when no slot says more than
/// `known`. Offsets at or past `limit` are not taken (an upload is completed only by an append
/// whose record was committed durably).
pub fn durable_end(file: &File, known: u64, limit: u64) -> std::io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    let mut slots: Vec<Slot> = read_slots(file)?.into_iter().flatten().collect();
    slots.sort_by_key(|s| std::cmp::Reverse(s.end));
    for slot in slots {
        if slot.end <= known {
            return Ok(None);
        }
        if slot.end >= limit || HEADER_LEN.saturating_add(slot.end) > len {
            continue;
        }
        if hash_range(file, slot.start, slot.end)? == slot.digest {
            return Ok(Some(slot.end));
        }
    }
    Ok(None)
}

fn hash_range(mut file: &File, start: u64, end: u64) -> std::io::Result<[u8; 32]> {
    file.seek(SeekFrom::Start(HEADER_LEN + start))?;
    let mut h = Sha256::new();
    let mut left = end - start;
    let mut buf = vec![0u8; 256 * 1024];
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        file.read_exact(&mut buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(h.finalize().into())
}
