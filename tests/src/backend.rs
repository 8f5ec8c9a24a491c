//! The storage behind a relay under test, whichever deployment it runs on: records in the
//! embedded store (redb, in the data directory) or in PostgreSQL, blob bytes in the data
//! directory or in an S3 bucket (the test SeaweedFS, read through its filer's HTTP API).
//!
//! Tests that attack or inspect the relay's storage directly (a hostile operator rewriting
//! records, a check that acknowledged bytes are really stored) go through these helpers, so the
//! same attack or check runs on the embedded and on the scale-out deployment.
//!
//! ```no_run
//! use sealroom_tests::relay::Relay;
//! let mut relay = Relay::start();
//! assert!(relay.stop());
//! let store = relay.open_store(); // redb or PostgreSQL, as the relay was started
//! let trees = store.tree_names().unwrap();
//! # drop(trees);
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use sealroom_server::blobs::data::{blob_file, BlobRecord, BLOBS};
use sealroom_server::store::{PgStore, RedbStore, Store, StoreExt as _};

use crate::relay::{files_under, http, Relay};

/// Where a relay keeps its records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// The embedded store file in the data directory (locked while the relay runs).
    Embedded(PathBuf),
    /// PostgreSQL (`SEALROOM_DATABASE_URL`), in the relay's schema when it has one.
    Postgres {
        /// The connection URL.
        url: String,
        /// `SEALROOM_DATABASE_SCHEMA`.
        schema: Option<String>,
    },
}

/// Where a relay keeps blob bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobLocation {
    /// One file per blob, `{blob_id}.blob`, in this directory.
    Local(PathBuf),
    /// An S3 bucket of the test SeaweedFS, read through its filer at `filer`.
    S3 {
        /// SeaweedFS's filer HTTP API (`SEALROOM_TEST_S3_FILER`).
        filer: SocketAddr,
        /// The bucket (`SEALROOM_S3_BUCKET`).
        bucket: String,
    },
}

/// What the blob backend holds of an upload: the bytes from offset `from` on that the test can
/// read back. The local backend keeps everything in one file (`from` is 0); the S3 backend keeps
/// the bytes of full multipart parts where S3 does not let anyone read them before the upload
/// completes, and the rest in its pending tail object, which is what `bytes` holds then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// The offset of `bytes[0]` in the blob.
    pub from: u64,
    /// The stored bytes (possibly more than the recorded offset covers).
    pub bytes: Vec<u8>,
}

/// The bytes of blob `blob_id` in the local blob directory `dir`, from its file of either
/// layout (the relay's header, when it has one, left out); `None` when there is no file.
fn local_blob(dir: &std::path::Path, blob_id: &str) -> Option<Vec<u8>> {
    let (path, skip) = blob_file(dir, blob_id);
    let mut bytes = std::fs::read(path).ok()?;
    bytes.drain(..usize::try_from(skip).unwrap_or(usize::MAX).min(bytes.len()));
    Some(bytes)
}

impl Relay {
    /// Where this relay keeps its records.
    pub fn store_location(&self) -> StoreLocation {
        match self
            .env_value("SEALROOM_DATABASE_URL")
            .filter(|u| !u.is_empty())
        {
            Some(url) => StoreLocation::Postgres {
                url,
                schema: self
                    .env_value("SEALROOM_DATABASE_SCHEMA")
                    .filter(|s| !s.is_empty()),
            },
            None => {
                StoreLocation::Embedded(self.data_dir().join(sealroom_server::config::STORE_FILE))
            }
        }
    }

    /// Where this relay keeps blob bytes.
    pub fn blob_location(&self) -> BlobLocation {
        match self
            .env_value("SEALROOM_S3_BUCKET")
            .filter(|b| !b.is_empty())
        {
            Some(bucket) => {
                let filer = self.env_value("SEALROOM_TEST_S3_FILER").unwrap_or_else(|| {
                    panic!("blobs are in bucket {bucket}, but SEALROOM_TEST_S3_FILER is unset")
                });
                let filer = filer
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .parse()
                    .unwrap_or_else(|e| panic!("SEALROOM_TEST_S3_FILER {filer:?}: {e}"));
                BlobLocation::S3 { filer, bucket }
            }
            None => BlobLocation::Local(self.data_dir().join("blobs")),
        }
    }

    /// Opens this relay's store from the test process, as an operator with access to the
    /// storage (or an attacker who has it) would. The embedded store is locked by a running
    /// relay: stop or kill it first (this panics otherwise). PostgreSQL is shared: it opens
    /// beside running instances.
    pub fn open_store(&self) -> Box<dyn Store> {
        match self.store_location() {
            StoreLocation::Embedded(path) => {
                let store = RedbStore::open(&path, 1 << 20).unwrap_or_else(|e| {
                    panic!(
                        "opening {} (a running relay holds its lock: stop it first): {e}",
                        path.display()
                    )
                });
                Box::new(store)
            }
            StoreLocation::Postgres { url, schema } => {
                let store = PgStore::connect(&url, schema.as_deref())
                    .unwrap_or_else(|e| panic!("connecting to the relay's PostgreSQL: {e}"));
                Box::new(store)
            }
        }
    }

    /// The record of blob `blob_id` in `store` (opened with [`Relay::open_store`]).
    pub fn blob_record(&self, store: &dyn Store, blob_id: &str) -> Option<BlobRecord> {
        store
            .get_json::<BlobRecord>(BLOBS, blob_id.as_bytes())
            .unwrap_or_else(|e| panic!("reading the record of blob {blob_id}: {e}"))
    }

    /// What the blob backend holds of the upload `record` describes (see [`StoredUpload`]).
    /// For a finished blob on S3 that is the whole object.
    pub fn stored_upload(&self, record: &BlobRecord) -> StoredUpload {
        match self.blob_location() {
            BlobLocation::Local(dir) => StoredUpload {
                from: 0,
                bytes: local_blob(&dir, &record.blob_id).unwrap_or_default(),
            },
            BlobLocation::S3 { filer, bucket } => match &record.multipart {
                None => StoredUpload {
                    from: 0,
                    bytes: s3_object(filer, &bucket, &format!("blobs/{}", record.blob_id))
                        .unwrap_or_default(),
                },
                Some(state) => {
                    let from =
                        state.parts.len() as u64 * sealroom_server::store::blobs::s3::PART_SIZE;
                    let bytes = match &state.tail_key {
                        Some(key) => s3_object(filer, &bucket, key).unwrap_or_else(|| {
                            panic!("blob {}: tail object {key} is missing", record.blob_id)
                        }),
                        None => Vec::new(),
                    };
                    StoredUpload { from, bytes }
                }
            },
        }
    }

    /// What the blob backend holds of the upload `blob_id` while the relay runs (see
    /// [`StoredUpload`]). The local backend needs no record; on S3 the upload's multipart state
    /// is read from the relay's record, which needs PostgreSQL (the embedded store is locked by
    /// the running relay: this panics, saying so, for S3 beside the embedded store).
    pub fn stored_upload_of(&self, blob_id: &str) -> StoredUpload {
        match self.blob_location() {
            BlobLocation::Local(dir) => StoredUpload {
                from: 0,
                bytes: local_blob(&dir, blob_id).unwrap_or_default(),
            },
            BlobLocation::S3 { .. } => {
                if let StoreLocation::Embedded(path) = self.store_location() {
                    panic!(
                        "blob {blob_id} is in S3 and its record in {}, which the running relay \
                         locks: run with SEALROOM_TEST_BACKEND=postgres beside \
                         SEALROOM_TEST_BLOBS=s3",
                        path.display()
                    );
                }
                let store = self.open_store();
                let record = self
                    .blob_record(store.as_ref(), blob_id)
                    .unwrap_or_else(|| panic!("blob {blob_id} has no record"));
                self.stored_upload(&record)
            }
        }
    }

    /// The bytes the blob backend holds for the finished blob `blob_id` (`None`: nothing).
    pub fn finished_blob(&self, blob_id: &str) -> Option<Vec<u8>> {
        match self.blob_location() {
            BlobLocation::Local(dir) => local_blob(&dir, blob_id),
            BlobLocation::S3 { filer, bucket } => {
                s3_object(filer, &bucket, &format!("blobs/{blob_id}"))
            }
        }
    }

    /// Every finished blob the blob backend holds for this relay, as (blob id, bytes): what an
    /// operator of the blob storage reads. On S3 the blob ids come from the relay's records
    /// when its store can be read while it runs (PostgreSQL); beside the embedded store they
    /// are every `blobs/` object of the bucket, which other relays of the same test run share
    /// (their blob ids are random, so a caller looking for its own content is not misled).
    pub fn finished_blobs(&self) -> Vec<(String, Vec<u8>)> {
        match self.blob_location() {
            BlobLocation::Local(dir) => files_under(&dir)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "blob"))
                .filter_map(|p| {
                    let stem = p.file_stem()?.to_str()?;
                    let id = stem.strip_suffix(".v1").unwrap_or(stem).to_owned();
                    let bytes = local_blob(&dir, &id)?;
                    Some((id, bytes))
                })
                .collect(),
            BlobLocation::S3 { filer, bucket } => {
                let ids: Vec<String> = match self.store_location() {
                    StoreLocation::Postgres { .. } => {
                        let store = self.open_store();
                        store
                            .scan_json::<BlobRecord>(BLOBS, b"")
                            .unwrap_or_else(|e| panic!("listing blob records: {e}"))
                            .into_iter()
                            .filter(BlobRecord::complete)
                            .map(|r| r.blob_id)
                            .collect()
                    }
                    StoreLocation::Embedded(_) => s3_folder(filer, &bucket, "blobs"),
                };
                ids.into_iter()
                    .filter_map(|id| Some((id.clone(), self.finished_blob(&id)?)))
                    .collect()
            }
        }
    }
}

/// One record of a relay's store: (tree, key, value).
pub type StoreRecord = (String, Vec<u8>, Vec<u8>);

impl Relay {
    /// Every record of this relay's store (one consistent snapshot), as an operator with access
    /// to the storage reads them: redb (stop the relay first, it holds the lock) or PostgreSQL.
    pub fn store_records(&self) -> Vec<StoreRecord> {
        let store = self.open_store();
        let mut out = Vec::new();
        store
            .snapshot(&mut |tree, key, value| {
                out.push((tree.to_owned(), key.to_vec(), value.to_vec()));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("reading the relay's store: {e}"));
        out
    }

    /// Makes this relay's store hold exactly `records` (taken earlier with
    /// [`Relay::store_records`]): what an operator who rolls the storage back to an older copy
    /// does, on either deployment. Records not in `records` are deleted. Stop the relay first
    /// (the embedded store is locked while it runs; a running instance would keep caches).
    pub fn replace_store_records(&self, records: &[StoreRecord]) {
        let keep: std::collections::HashSet<(&str, &[u8])> = records
            .iter()
            .map(|(t, k, _)| (t.as_str(), k.as_slice()))
            .collect();
        let current = self.store_records();
        let store = self.open_store();
        for (tree, key, _) in &current {
            if !keep.contains(&(tree.as_str(), key.as_slice())) {
                store
                    .delete(tree, key)
                    .unwrap_or_else(|e| panic!("deleting a record of {tree}: {e}"));
            }
        }
        for (tree, key, value) in records {
            store
                .put(tree, key, value)
                .unwrap_or_else(|e| panic!("writing a record of {tree}: {e}"));
        }
        store
            .flush()
            .unwrap_or_else(|e| panic!("flushing the relay's store: {e}"));
    }
}

impl Relay {
    /// Panics if the relay's records in PostgreSQL or its finished blobs in S3 hold any of
    /// `needles` ([`Relay::assert_no_plaintext`] calls this beside its scan of the data
    /// directory and the log; on the embedded deployment there is nothing more to scan).
    pub fn assert_no_plaintext_in_services(&self, needles: &[&str]) {
        let check = |what: &dyn Fn() -> String, bytes: &[u8]| {
            for needle in needles.iter().filter(|n| !n.is_empty()) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} contains {needle:?}",
                    what()
                );
            }
        };
        if let StoreLocation::Postgres { .. } = self.store_location() {
            let store = self.open_store();
            store
                .snapshot(&mut |tree, key, value| {
                    let what = || format!("PostgreSQL record {tree}/{}", hex::encode(key));
                    check(&what, key);
                    check(&what, value);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("reading the relay's PostgreSQL records: {e}"));
        }
        if let BlobLocation::S3 { .. } = self.blob_location() {
            for (id, bytes) in self.finished_blobs() {
                check(&|| format!("S3 object blobs/{id}"), &bytes);
            }
        }
    }
}

/// The bucket's object `key` through the SeaweedFS filer (its bytes, or `None` when absent).
pub fn s3_object(filer: SocketAddr, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let r = http(filer, "GET", &format!("/buckets/{bucket}/{key}"), &[], b"")
        .unwrap_or_else(|e| panic!("filer GET {key}: {e}"));
    match r.status {
        200 => Some(r.body),
        404 => None,
        other => panic!("filer GET {key}: {other}"),
    }
}

/// Names in a folder of the bucket through the SeaweedFS filer (empty when it is absent).
pub fn s3_folder(filer: SocketAddr, bucket: &str, dir: &str) -> Vec<String> {
    let r = http(
        filer,
        "GET",
        &format!("/buckets/{bucket}/{dir}/?limit=100000"),
        &[("accept", "application/json")],
        b"",
    )
    .unwrap_or_else(|e| panic!("filer list {dir}: {e}"));
    if r.status == 404 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "filer list {dir}");
    r.json()["Entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["FullPath"].as_str())
                .map(|p| p.rsplit('/').next().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
