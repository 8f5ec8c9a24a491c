//! Holds and releases of blobs: the relay's second line behind the clients' own check of a
//! four-eyes release (`docs/relay.md`, "Held blobs").
//!
//! An uploader may mark a blob "held" when it creates it, naming only the hold's kind
//! ([`HOLD_FOUR_EYES`]); the relay learns nothing else (not the file's label, not why). A held
//! blob is served to its uploader and to the space's staff (owner and staff roles), and to
//! everyone else only once the relay holds a release: a statement
//! ([`release_statement`]: room, blob, kind) signed by the Ed25519 key of an active device
//! the relay registered, whose user may release that kind in the space (staff, and never the
//! uploader's user, for [`HOLD_FOUR_EYES`]). The release is stored with its signature, so it
//! can be checked again later, and audited (`blob.release`).
//!
//! Kinds are a closed list here ([`may_release`]): a scanner's `scan` release is one more arm.

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use sealroom_wire::blobs::{release_statement, ReleaseRequest, HOLD_FOUR_EYES};

use crate::accounts::{self, SpaceRole};
use crate::auth::AuthedDevice;
use crate::directory;
use crate::error::ApiError;
use crate::rooms::data::RoomRecord;
use crate::store::{Store, StoreError, StoreExt, Txn};

use super::data::BlobRecord;

/// Tree of holds, keyed by blob id.
pub const HOLDS: &str = "blob_holds";

/// A hold on one blob, and its release once it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    /// Room of the blob.
    pub room_id: String,
    /// Blob.
    pub blob_id: String,
    /// The hold's kind ([`HOLD_FOUR_EYES`]).
    pub kind: String,
    /// The uploader's user (who may not release a four-eyes hold).
    pub uploader_user: String,
    /// The release, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
}

/// A stored release statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The releasing user.
    pub user_id: String,
    /// The releasing device (whose key signed).
    pub device_id: String,
    /// Hex Ed25519 signature over [`release_statement`].
    pub signature: String,
    /// Unix seconds.
    pub released_at: i64,
}

/// Whether `kind` names a hold this relay knows.
pub fn valid_kind(kind: &str) -> bool {
    kind == HOLD_FOUR_EYES
}

/// Whether a member of the space with `role` may release a hold of `kind`.
fn may_release(kind: &str, role: Option<SpaceRole>) -> bool {
    match kind {
        HOLD_FOUR_EYES => matches!(role, Some(SpaceRole::Owner | SpaceRole::Staff)),
        _ => false,
    }
}

/// Records a hold on a blob just created.
pub fn set_hold(store: &dyn Store, record: &BlobRecord, kind: &str) -> Result<(), StoreError> {
    store.put_json(
        HOLDS,
        record.blob_id.as_bytes(),
        &HoldRecord {
            room_id: record.room_id.clone(),
            blob_id: record.blob_id.clone(),
            kind: kind.to_owned(),
            uploader_user: record.uploader_user.clone(),
            release: None,
        },
    )
}

/// The hold of a blob, if any.
pub fn hold(store: &dyn Store, blob_id: &str) -> Result<Option<HoldRecord>, StoreError> {
    store.get_json(HOLDS, blob_id.as_bytes())
}

/// Forgets the hold of a deleted blob.
pub fn forget(store: &dyn Store, blob_id: &str) -> Result<(), StoreError> {
    store.delete(HOLDS, blob_id.as_bytes()).map(|_| ())
}

/// Refuses to serve a held, unreleased blob to anyone but its uploader and the space's staff.
pub fn check_serve(
    store: &dyn Store,
    room: &RoomRecord,
    record: &BlobRecord,
    authed: &AuthedDevice,
) -> Result<(), ApiError> {
    let Some(h) = hold(store, &record.blob_id)? else {
        return Ok(());
    };
    if h.release.is_some() || h.uploader_user == authed.user_id {
        return Ok(());
    }
    let role = accounts::space_member(store, &room.space_id, &authed.user_id)?.map(|m| m.role);
    if matches!(role, Some(SpaceRole::Owner | SpaceRole::Staff)) {
        return Ok(());
    }
    Err(ApiError::AwaitingRelease(format!(
        "the blob is held ({}) until it is released",
        h.kind
    )))
}

/// Checks and stores a release of `record` by `authed`; returns the hold as released. A second
/// release of a released blob changes nothing and succeeds.
pub fn release(
    store: &dyn Store,
    room: &RoomRecord,
    record: &BlobRecord,
    authed: &AuthedDevice,
    req: &ReleaseRequest,
    now: i64,
) -> Result<(HoldRecord, bool), ApiError> {
    if !valid_kind(&req.kind) {
        return Err(ApiError::bad_request("unknown hold kind"));
    }
    let role = accounts::space_member(store, &room.space_id, &authed.user_id)?.map(|m| m.role);
    if !may_release(&req.kind, role) {
        return Err(ApiError::forbidden(
            "only the space's staff release a held blob",
        ));
    }
    if authed.user_id == record.uploader_user {
        return Err(ApiError::forbidden(
            "the uploader's user cannot release their own blob",
        ));
    }
    let raw = store
        .get(HOLDS, record.blob_id.as_bytes())?
        .ok_or_else(|| ApiError::NotHeld("the blob is not held".to_owned()))?;
    let mut h: HoldRecord =
        serde_json::from_slice(&raw).map_err(|e| ApiError::internal("hold record", &e))?;
    if h.kind != req.kind {
        return Err(ApiError::NotHeld(format!(
            "the blob is not held ({})",
            req.kind
        )));
    }
    if authed.user_id == h.uploader_user {
        return Err(ApiError::forbidden(
            "the uploader's user cannot release their own blob",
        ));
    }
    let (device, _) = directory::active_device(store, &authed.device_id)?
        .ok_or_else(|| ApiError::unauthenticated("unknown device"))?;
    let statement = release_statement(&record.room_id, &record.blob_id, &req.kind);
    if !verify(&device.public_key, &statement, &req.signature) {
        return Err(ApiError::bad_request(
            "the release signature does not verify",
        ));
    }
    if h.release.is_some() {
        return Ok((h, false));
    }
    h.release = Some(Release {
        user_id: authed.user_id.clone(),
        device_id: authed.device_id.clone(),
        signature: req.signature.clone(),
        released_at: now,
    });
    let mut txn = Txn::new();
    txn.check(HOLDS, record.blob_id.as_bytes(), Some(&raw));
    txn.put_json(HOLDS, record.blob_id.as_bytes(), &h)?;
    store.commit(&txn)?;
    Ok((h, true))
}

fn verify(public_key: &[u8; 32], message: &[u8], signature_hex: &str) -> bool {
    let mut sig = [0u8; 64];
    if signature_hex.len() != 128 || hex::decode_to_slice(signature_hex, &mut sig).is_err() {
        return false;
    }
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_staff_release_four_eyes_and_kinds_are_closed() {
        assert!(may_release(HOLD_FOUR_EYES, Some(SpaceRole::Staff)));
        assert!(may_release(HOLD_FOUR_EYES, Some(SpaceRole::Owner)));
        assert!(!may_release(HOLD_FOUR_EYES, Some(SpaceRole::Customer)));
        assert!(!may_release(HOLD_FOUR_EYES, None));
        assert!(!may_release("scan", Some(SpaceRole::Staff)));
        assert!(valid_kind(HOLD_FOUR_EYES));
        assert!(!valid_kind("scan"));
    }

    #[test]
    fn signature_check() {
        use ed25519_dalek::{Signer, SigningKey};
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key().to_bytes();
        let msg = release_statement("room", "blob", HOLD_FOUR_EYES);
        let sig = hex::encode(key.sign(&msg).to_bytes());
        assert!(verify(&public, &msg, &sig));
        let other = release_statement("room", "blob2", HOLD_FOUR_EYES);
        assert!(!verify(&public, &other, &sig));
        assert!(!verify(&public, &msg, "00"));
        assert!(!verify(&public, &msg, &"zz".repeat(64)));
    }
}
