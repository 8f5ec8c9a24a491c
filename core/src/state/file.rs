//! Crash-safe file store: an append-only log of checksummed batches.
//!
//! File layout: the 8-byte magic `SRKVLOG1`, then records
//! `u32 BE payload length || SHA-256(payload) || payload`, where the payload is a sequence of
//! entries `u8 op (1 = put, 0 = delete) || u32 BE key length || key || [u32 BE value length || value]`.
//!
//! A batch is one record, written with one `write_all` and made durable with `sync_data` before
//! `commit` returns. On open the log is replayed; the first record that is truncated or fails its
//! checksum marks a torn tail (a crash during append) and is cut off, so a reader sees every
//! acknowledged batch and never part of one. When the log grows to more than twice its live size
//! it is compacted: the live entries are written to a temporary file, synced, and renamed over the
//! log (rename is atomic), then the directory is synced.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{BatchEntry, KvStore, StateError};

const MAGIC: &[u8; 8] = b"SRKVLOG1";
const LOG_NAME: &str = "state.log";
const TMP_NAME: &str = "state.log.tmp";
const COMPACT_MIN: u64 = 1 << 20;

/// The crash-safe native store (one directory, one log file).
pub struct FileKv {
    dir: PathBuf,
    file: File,
    map: BTreeMap<String, Vec<u8>>,
    file_len: u64,
    live_len: u64,
}

impl std::fmt::Debug for FileKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKv")
            .field("entries", &self.map.len())
            .finish_non_exhaustive()
    }
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    // Directory fsync makes a create/rename durable; not supported on every platform.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn encode(batch: &[BatchEntry]) -> Vec<u8> {
    let mut p = Vec::new();
    for (k, v) in batch {
        p.push(u8::from(v.is_some()));
        p.extend_from_slice(&(k.len() as u32).to_be_bytes());
        p.extend_from_slice(k.as_bytes());
        if let Some(v) = v {
            p.extend_from_slice(&(v.len() as u32).to_be_bytes());
            p.extend_from_slice(v);
        }
    }
    let mut rec = Vec::with_capacity(p.len() + 36);
    rec.extend_from_slice(&(p.len() as u32).to_be_bytes());
    rec.extend_from_slice(&Sha256::digest(&p));
    rec.extend_from_slice(&p);
    rec
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Some(a)
}

fn take_u32(buf: &mut &[u8]) -> Option<usize> {
    let b = take(buf, 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Decodes a payload whose checksum already matched; `None` means structural damage.
fn decode(mut p: &[u8]) -> Option<Vec<BatchEntry>> {
    let mut out = Vec::new();
    while !p.is_empty() {
        let op = take(&mut p, 1)?[0];
        let klen = take_u32(&mut p)?;
        let key = String::from_utf8(take(&mut p, klen)?.to_vec()).ok()?;
        let value = match op {
            1 => {
                let vlen = take_u32(&mut p)?;
                Some(take(&mut p, vlen)?.to_vec())
            }
            0 => None,
            _ => return None,
        };
        out.push((key, value));
    }
    Some(out)
}

fn apply(map: &mut BTreeMap<String, Vec<u8>>, batch: Vec<BatchEntry>) {
    for (k, v) in batch {
        match v {
            Some(v) => map.insert(k, v),
            None => map.remove(&k),
        };
    }
}

impl FileKv {
    /// Opens (or creates) the store in directory `dir`, repairing a torn tail.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StateError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        // A leftover temporary file is an unfinished compaction: the log is still authoritative.
        let tmp = dir.join(TMP_NAME);
        if tmp.exists() {
            fs::remove_file(&tmp)?;
        }
        let path = dir.join(LOG_NAME);
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut bytes)?;
        }
        if bytes.len() < MAGIC.len() {
            if !MAGIC.starts_with(&bytes) {
                return Err(StateError::Corrupt);
            }
            // Missing or torn during creation: start a fresh log.
            let mut f = File::create(&path)?;
            f.write_all(MAGIC)?;
            f.sync_all()?;
            sync_dir(&dir)?;
            bytes = MAGIC.to_vec();
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(StateError::Corrupt);
        }
        let mut map = BTreeMap::new();
        let mut rest = &bytes[MAGIC.len()..];
        let mut good = MAGIC.len();
        loop {
            let mut cur = rest;
            let Some(len) = take_u32(&mut cur) else { break };
            let Some(sum) = take(&mut cur, 32) else { break };
            let Some(payload) = take(&mut cur, len) else {
                break;
            };
            if Sha256::digest(payload).as_slice() != sum {
                break;
            }
            let batch = decode(payload).ok_or(StateError::Corrupt)?;
            apply(&mut map, batch);
            good += 36 + len;
            rest = cur;
        }
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        if good < bytes.len() {
            // Torn tail from a crash during append: cut it off durably.
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        let mut s = Self {
            dir,
            file,
            map,
            file_len: good as u64,
            live_len: 0,
        };
        s.live_len = s.live_size();
        Ok(s)
    }

    fn live_size(&self) -> u64 {
        self.map
            .iter()
            .map(|(k, v)| (9 + k.len() + v.len()) as u64)
            .sum::<u64>()
            + 36
            + MAGIC.len() as u64
    }

    fn compact(&mut self) -> Result<(), StateError> {
        let batch: Vec<BatchEntry> = self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        let rec = encode(&batch);
        let tmp = self.dir.join(TMP_NAME);
        let mut f = File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&rec)?;
        f.sync_all()?;
        drop(f);
        let path = self.dir.join(LOG_NAME);
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new().read(true).write(true).open(&path)?;
        self.file_len = (MAGIC.len() + rec.len()) as u64;
        Ok(())
    }
}

impl KvStore for FileKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.map.get(key).cloned())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        Ok(self
            .map
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn commit(&mut self, batch: Vec<BatchEntry>) -> Result<(), StateError> {
        if batch.is_empty() {
            return Ok(());
        }
        let rec = encode(&batch);
        // Always append at the last good offset (a failed earlier write may have left bytes).
        self.file.set_len(self.file_len)?;
        use std::io::Seek;
        self.file.seek(std::io::SeekFrom::Start(self.file_len))?;
        self.file.write_all(&rec)?;
        self.file.sync_data()?;
        self.file_len += rec.len() as u64;
        apply(&mut self.map, batch);
        self.live_len = self.live_size();
        if self.file_len > COMPACT_MIN && self.file_len > 2 * self.live_len {
            self.compact()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_at_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut kv = FileKv::open(dir.path()).unwrap();
            kv.commit(vec![("a".into(), Some(b"1".to_vec()))]).unwrap();
        }
        let before = fs::read(dir.path().join(LOG_NAME)).unwrap();
        {
            let mut kv = FileKv::open(dir.path()).unwrap();
            kv.commit(vec![
                ("a".into(), None),
                ("b".into(), Some(b"2".to_vec())),
                ("c".into(), Some(vec![9; 100])),
            ])
            .unwrap();
        }
        let after = fs::read(dir.path().join(LOG_NAME)).unwrap();
        for cut in before.len()..=after.len() {
            fs::write(dir.path().join(LOG_NAME), &after[..cut]).unwrap();
            let mut kv = FileKv::open(dir.path()).unwrap();
            if cut == after.len() {
                assert_eq!(kv.get("a").unwrap(), None);
                assert_eq!(kv.get("b").unwrap(), Some(b"2".to_vec()));
                assert_eq!(kv.keys("").unwrap().len(), 2);
            } else {
                assert_eq!(kv.get("a").unwrap(), Some(b"1".to_vec()));
                assert_eq!(kv.keys("").unwrap(), vec!["a".to_string()]);
            }
            // The store stays writable after repair.
            kv.commit(vec![("z".into(), Some(vec![1]))]).unwrap();
            drop(kv);
            let kv = FileKv::open(dir.path()).unwrap();
            assert_eq!(kv.get("z").unwrap(), Some(vec![1]));
        }
    }

    #[test]
    fn compaction_keeps_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv = FileKv::open(dir.path()).unwrap();
        for i in 0..300u32 {
            kv.commit(vec![("big".into(), Some(vec![i as u8; 8192]))])
                .unwrap();
            kv.commit(vec![(format!("k{i}"), Some(i.to_be_bytes().to_vec()))])
                .unwrap();
        }
        let len = fs::metadata(dir.path().join(LOG_NAME)).unwrap().len();
        assert!(len < 2 * COMPACT_MIN, "log was compacted ({len} bytes)");
        drop(kv);
        let kv = FileKv::open(dir.path()).unwrap();
        assert_eq!(kv.get("big").unwrap(), Some(vec![43u8; 8192]));
        assert_eq!(kv.get("k299").unwrap(), Some(299u32.to_be_bytes().to_vec()));
        assert_eq!(kv.keys("k").unwrap().len(), 300);
    }

    #[test]
    fn garbage_header_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOG_NAME), b"NOTALOG!rest").unwrap();
        assert!(matches!(FileKv::open(dir.path()), Err(StateError::Corrupt)));
    }
}
