//! Reading and verifying a backup file record by record.

use super::*;

pub(super) struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BackupError::Corrupt(format!("the file ends early (after {} bytes)", self.count))
            } else {
                BackupError::Io {
                    context: "reading the backup".to_owned(),
                    source: e,
                }
            }
        })?;
        self.hasher.update(&*buf);
        self.count += buf.len() as u64;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, BackupError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, BackupError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    fn bytes(&mut self, max: u32, what: &str) -> Result<Vec<u8>, BackupError> {
        let len = self.u32()?;
        if len > max {
            return Err(BackupError::Corrupt(format!(
                "{what} length {len} exceeds {max}"
            )));
        }
        // Grows with the bytes actually present: a damaged length cannot force a huge allocation.
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(u64::from(len))
            .read_to_end(&mut buf)
            .map_err(io("reading the backup"))?;
        if buf.len() as u64 != u64::from(len) {
            return Err(BackupError::Corrupt(format!(
                "the file ends early (inside a {what})"
            )));
        }
        self.hasher.update(&buf);
        self.count += u64::from(len);
        Ok(buf)
    }
}

/// Where [`read_backup`] puts the records it reads.
pub(super) trait Apply {
    fn kv(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError>;
    fn blob(
        &mut self,
        blob_id: &str,
        length: u64,
        bytes: &mut dyn FnMut(&mut dyn Write) -> Result<(), BackupError>,
    ) -> Result<(), BackupError>;
}

pub(super) struct VerifyOnly;

impl Apply for VerifyOnly {
    fn kv(&mut self, _: &str, _: &[u8], _: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    fn blob(
        &mut self,
        _: &str,
        _: u64,
        bytes: &mut dyn FnMut(&mut dyn Write) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        bytes(&mut std::io::sink())
    }
}

pub(super) fn read_backup(
    path: &Path,
    apply: &mut dyn Apply,
) -> Result<BackupSummary, BackupError> {
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut r = HashingReader {
        inner: BufReader::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let mut magic = [0u8; 16];
    r.exact(&mut magic)
        .map_err(|_| BackupError::Corrupt("not a Sealroom backup (file too short)".to_owned()))?;
    if &magic != MAGIC {
        return Err(BackupError::Corrupt(
            "not a Sealroom backup (bad magic)".to_owned(),
        ));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(BackupError::UnsupportedVersion(version));
    }
    if r.u8()? != TAG_META {
        return Err(BackupError::Corrupt(
            "the meta record is missing".to_owned(),
        ));
    }
    let meta_bytes = r.bytes(MAX_META, "meta record")?;
    let meta: BackupMeta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| BackupError::Corrupt(format!("meta record: {e}")))?;
    let mut kv_records = 0u64;
    let mut blobs = 0u64;
    let mut blob_bytes = 0u64;
    let mut trees: Vec<String> = Vec::new();
    loop {
        match r.u8()? {
            TAG_KV => {
                if blobs > 0 {
                    return Err(BackupError::Corrupt("key-value record after blobs".into()));
                }
                let tree = String::from_utf8(r.bytes(MAX_TREE_NAME, "tree name")?)
                    .map_err(|_| BackupError::Corrupt("tree name is not UTF-8".into()))?;
                if tree.is_empty()
                    || tree.starts_with("__sled__")
                    || tree.starts_with(crate::store::RESERVED_PREFIX)
                {
                    return Err(BackupError::Corrupt(format!("invalid tree name {tree:?}")));
                }
                let key = r.bytes(MAX_KEY, "key")?;
                let value = r.bytes(MAX_VALUE, "value")?;
                apply.kv(&tree, &key, &value)?;
                kv_records += 1;
                if trees.last() != Some(&tree) {
                    trees.push(tree);
                }
            }
            TAG_BLOB => {
                let id = String::from_utf8(r.bytes(64, "blob id")?)
                    .map_err(|_| BackupError::Corrupt("blob id is not UTF-8".into()))?;
                if !valid_blob_id(&id) {
                    return Err(BackupError::Corrupt(format!("invalid blob id {id:?}")));
                }
                let length = r.u64()?;
                let reader = &mut r;
                apply.blob(&id, length, &mut |out: &mut dyn Write| {
                    let mut left = length;
                    let mut buf = vec![0u8; 64 * 1024];
                    while left > 0 {
                        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                        let chunk = buf.get_mut(..n).unwrap_or_default();
                        reader.exact(chunk)?;
                        out.write_all(chunk).map_err(io("writing blob bytes"))?;
                        left -= n as u64;
                    }
                    Ok(())
                })?;
                blobs += 1;
                blob_bytes = blob_bytes.saturating_add(length);
            }
            TAG_END => {
                let expected: [u8; 32] = r.hasher.clone().finalize().into();
                let mut digest = [0u8; 32];
                r.inner.read_exact(&mut digest).map_err(|_| {
                    BackupError::Corrupt("the file ends inside the final checksum".into())
                })?;
                if digest != expected {
                    return Err(BackupError::Corrupt("SHA-256 checksum mismatch".into()));
                }
                let mut extra = [0u8; 1];
                let more = r.inner.read(&mut extra).map_err(io("reading the backup"))?;
                if more != 0 {
                    return Err(BackupError::Corrupt(
                        "unexpected bytes after the end record".into(),
                    ));
                }
                if kv_records != meta.kv_records || blobs != meta.blobs {
                    return Err(BackupError::Corrupt(format!(
                        "record counts ({kv_records} records, {blobs} blobs) do not match the meta record ({}, {})",
                        meta.kv_records, meta.blobs
                    )));
                }
                trees.sort();
                trees.dedup();
                return Ok(BackupSummary {
                    meta,
                    trees,
                    blob_bytes,
                    file_bytes: r.count + 32,
                    sha256: hex::encode(digest),
                });
            }
            other => {
                return Err(BackupError::Corrupt(format!(
                    "unknown record tag {other:#04x} at byte {}",
                    r.count - 1
                )))
            }
        }
    }
}

/// Reads a whole backup file and checks its structure, counts and SHA-256 without writing
/// anything.
pub fn verify_file(path: &Path) -> Result<BackupSummary, BackupError> {
    read_backup(path, &mut VerifyOnly)
}
