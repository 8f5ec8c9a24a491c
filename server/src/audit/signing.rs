//! An audit chain a client can check: the relay's Ed25519 audit key signs the chain head
//! (`GET /v1/audit/head`), and `GET /v1/audit/chain` hands out consecutive links (whole entries
//! the caller may read, hashes only for the others) so the client verifies every hash itself.
//!
//! The audit key's seed is stored in [`META_TREE`] under [`SIGNING_KEY`], sealed under the relay
//! key (purpose [`SEAL_PURPOSE`]); it is created at first start and re-sealed by `rotate-key`.

use ed25519_dalek::{Signer as _, SigningKey};
use rand_core::RngCore;
use zeroize::Zeroizing;

use sealroom_wire::audit::{
    head_signing_bytes, AuditChainPage, AuditLink, AuditRecord, SignedAuditHead, GENESIS_PREV_HASH,
    MAX_AUDIT_PAGE,
};

use super::chain::{self, Scope, LOG_TREE, META_TREE};
use crate::error::ApiError;
use crate::sealing::RelayKey;
use crate::store::{decode_json, Store, Txn};

/// Key of the sealed audit signing seed in [`META_TREE`].
pub const SIGNING_KEY: &[u8] = b"signing_key";
/// Purpose label of the sealed seed.
pub const SEAL_PURPOSE: &str = "audit-signing";

/// The relay's audit signing key, kept in the state's extensions. Never printed.
pub struct AuditSigner(SigningKey);

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field(
                "public_key",
                &hex::encode(self.0.verifying_key().to_bytes()),
            )
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// Hex of the public key.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// Signs the head `(seq, hash)`.
    pub fn sign_head(&self, seq: u64, hash: &str) -> Result<SignedAuditHead, ApiError> {
        let msg = head_signing_bytes(seq, hash)
            .ok_or_else(|| ApiError::internal("audit head", &"hash is not 32 bytes of hex"))?;
        Ok(SignedAuditHead {
            seq,
            hash: hash.to_owned(),
            public_key: self.public_hex(),
            signature: hex::encode(self.0.sign(&msg).to_bytes()),
        })
    }
}

/// Loads the audit signing key, creating and storing it (sealed) at first start. An error names
/// the problem for the operator: above all, a store (or restored backup) sealed under another
/// relay key.
pub fn load_or_create(store: &dyn Store, key: &RelayKey) -> Result<AuditSigner, String> {
    let store_err = |e: crate::store::StoreError| format!("audit signing key: {e}");
    if let Some(sealed) = store.get(META_TREE, SIGNING_KEY).map_err(store_err)? {
        let wrong_key = || {
            format!(
                "the store's sealed secrets do not open under relay key {}: start the relay \
                 with the relay key file this data directory (or the backup it was restored \
                 from) was sealed with (see docs/relay.md, \"Relay key\")",
                key.id_hex()
            )
        };
        let seed = key
            .open(SEAL_PURPOSE, b"", &sealed)
            .map_err(|_| wrong_key())?;
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.as_slice().try_into().map_err(|_| wrong_key())?);
        return Ok(AuditSigner(SigningKey::from_bytes(&seed)));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    rand_core::OsRng.fill_bytes(seed.as_mut());
    let sealed = key.seal(SEAL_PURPOSE, b"", seed.as_ref());
    if !store
        .compare_and_swap(META_TREE, SIGNING_KEY, None, Some(&sealed))
        .map_err(store_err)?
    {
        // Another instance stored one first: use that.
        return load_or_create(store, key);
    }
    store.flush().map_err(store_err)?;
    Ok(AuditSigner(SigningKey::from_bytes(&seed)))
}

/// Adds to `txn` the re-sealing of the audit signing seed from `old` to `new` (`rotate-key`).
/// Returns 1 when there is a seed, else 0.
pub fn reseal(
    store: &dyn Store,
    txn: &mut Txn,
    old: &RelayKey,
    new: &RelayKey,
) -> Result<usize, ApiError> {
    let Some(sealed) = store.get(META_TREE, SIGNING_KEY)? else {
        return Ok(0);
    };
    let seed = old
        .open(SEAL_PURPOSE, b"", &sealed)
        .map_err(|e| ApiError::internal("rotate-key: audit signing key", &e))?;
    let resealed = new.seal(SEAL_PURPOSE, b"", &seed);
    txn.check(META_TREE, SIGNING_KEY, Some(&sealed))
        .put(META_TREE, SIGNING_KEY, &resealed);
    Ok(1)
}

/// The current head, signed.
pub fn signed_head(store: &dyn Store, signer: &AuditSigner) -> Result<SignedAuditHead, ApiError> {
    match chain::head(store)? {
        Some(h) => signer.sign_head(h.seq, &h.hash),
        None => signer.sign_head(0, GENESIS_PREV_HASH),
    }
}

/// Consecutive links after `after` (at most `limit`), entries hidden outside `scope`.
pub fn links(
    store: &dyn Store,
    scope: &Scope,
    after: u64,
    limit: usize,
) -> Result<AuditChainPage, ApiError> {
    let limit = limit.clamp(1, MAX_AUDIT_PAGE);
    let start = after.saturating_add(1);
    let mut links = Vec::new();
    let mut more = false;
    for kv in store.range(LOG_TREE, &start.to_be_bytes(), None)? {
        let (_, value) = kv?;
        if links.len() == limit {
            more = true;
            break;
        }
        let record: AuditRecord = decode_json(LOG_TREE, &value)?;
        let visible = scope.allows_entry(&record.entry);
        links.push(AuditLink {
            seq: record.entry.seq,
            prev_hash: record.entry.prev_hash.clone(),
            hash: record.hash,
            entry: visible.then_some(record.entry),
        });
    }
    let next_after = if more {
        links.last().map(|l| l.seq)
    } else {
        None
    };
    Ok(AuditChainPage { links, next_after })
}
