//! Start-up recovery of upload offsets: an append whose offset its backend recorded durably
//! ([`crate::store::blobs::Appended::offset_durable`]) commits its record without a sync of
//! the store, so a crash may lose that commit; before requests are served, every unfinished
//! upload takes the offset its backend holds durably.

use super::data::{BlobError, BlobRecord, BLOBS};
use crate::store::blobs::BlobStore;
use crate::store::{decode_json, Store, StoreError, Txn, TxnError};

/// Brings the offset of every unfinished upload up to what its backend holds durably
/// ([`BlobStore::recover_offset`]): appends acknowledged after a record commit that a crash
/// lost (see [`super::data::append_checked`]). Run at start-up, before requests are served.
/// An upload is never completed here. Returns how many records moved.
pub fn recover_offsets(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    ttl_secs: i64,
    now: i64,
) -> Result<usize, BlobError> {
    let mut moved = 0;
    for (key, raw) in store
        .scan_prefix(BLOBS, b"")?
        .collect::<Result<Vec<_>, _>>()?
    {
        let record: BlobRecord = decode_json(BLOBS, &raw)?;
        if record.expires_at.is_none() {
            continue;
        }
        let offset = match blobs.recover_offset(&record.upload()) {
            Ok(Some(offset)) => offset,
            Ok(None) => continue,
            Err(e) => {
                // A damaged file keeps its record's offset (its next append reports the
                // damage); it does not keep the relay from starting.
                tracing::warn!(blob_id = %record.blob_id, error = %e, "blob offset not recovered");
                continue;
            }
        };
        if offset <= record.offset || offset >= record.length {
            continue;
        }
        let updated = BlobRecord {
            offset,
            expires_at: Some(now.saturating_add(ttl_secs)),
            ..record
        };
        let mut txn = Txn::new();
        txn.check(BLOBS, &key, Some(&raw));
        txn.put_json(BLOBS, &key, &updated)?;
        store.commit(&txn).map_err(txn_store_error)?;
        moved += 1;
    }
    Ok(moved)
}

fn txn_store_error(e: TxnError) -> BlobError {
    match e {
        TxnError::Store(e) => BlobError::Store(e),
        other => BlobError::Store(StoreError::Backend(other.to_string())),
    }
}
