//! Holds and releases of blobs: the relay's second line behind the clients' own checks of a
//! four-eyes release and of a scan verdict (`docs/relay.md`, "Held blobs").
//!
//! An uploader may mark a blob "held" when it creates it, naming only the holds' kinds
//! ([`HOLD_FOUR_EYES`], [`HOLD_SCAN`]; a blob may carry both); the relay learns nothing else
//! (not the file's label, not why). A blob is served to a device when every hold on it lets
//! it through ([`hold_serves`]):
//!
//! * four eyes: the uploader's user and the space's staff (owner and staff roles) always;
//!   everyone once a staff user other than the uploader's and other than the space's scanner
//!   released it (the scanner is a machine, not a second member of staff);
//! * scan: the uploader's user and the space's scanner ([`super::scanner`]) always; everyone
//!   once the scanner released it; the space's staff (not its customers) once staff other
//!   than the scanner released it with [`RELEASE_SCAN_OVERRIDE`] (an infected or failed file
//!   opened on purpose).
//!
//! A release is a statement ([`release_statement`]: room, blob, release kind) signed by the
//! Ed25519 key of an active device the relay registered, whose user may release that kind in
//! the space ([`may_release`]). It is stored with its signature, so it can be checked again
//! later, and audited (`blob.release`, with the kind). The scanner's four-eyes release or scan
//! override is refused (`403 scanner_not_staff`), and one stored before that rule (or by a
//! user designated scanner since) counts for nothing ([`discount_scanner`]).

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use sealroom_wire::blobs::{
    release_statement, ReleaseRequest, HOLD_FOUR_EYES, HOLD_SCAN, RELEASE_SCAN_OVERRIDE,
};

use crate::accounts::{self, SpaceRole};
use crate::auth::AuthedDevice;
use crate::directory;
use crate::error::ApiError;
use crate::rooms::data::RoomRecord;
use crate::store::{Store, StoreError, StoreExt, Txn};

use super::data::BlobRecord;
use super::scanner;

/// Tree of holds, keyed by blob id.
pub const HOLDS: &str = "blob_holds";

/// The holds on one blob and their releases. Records written before a blob could carry several
/// holds (one `kind` and one `release`) read as a record with one hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredHolds")]
pub struct HoldRecord {
    /// Room of the blob.
    pub room_id: String,
    /// Blob.
    pub blob_id: String,
    /// The uploader's user (who may not release their own blob).
    pub uploader_user: String,
    /// One entry per hold kind.
    pub holds: Vec<Hold>,
}

/// One hold of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's kind ([`HOLD_FOUR_EYES`], [`HOLD_SCAN`]).
    pub kind: String,
    /// The release, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
}

/// Any stored form of a [`HoldRecord`].
#[derive(Deserialize)]
struct StoredHolds {
    room_id: String,
    blob_id: String,
    uploader_user: String,
    #[serde(default)]
    holds: Vec<Hold>,
    /// Before several holds: the one kind.
    #[serde(default)]
    kind: Option<String>,
    /// Before several holds: its release.
    #[serde(default)]
    release: Option<Release>,
}

impl From<StoredHolds> for HoldRecord {
    fn from(s: StoredHolds) -> Self {
        let mut holds = s.holds;
        if let Some(kind) = s.kind {
            if !holds.iter().any(|h| h.kind == kind) {
                holds.insert(
                    0,
                    Hold {
                        kind,
                        release: s.release,
                    },
                );
            }
        }
        Self {
            room_id: s.room_id,
            blob_id: s.blob_id,
            uploader_user: s.uploader_user,
            holds,
        }
    }
}

impl HoldRecord {
    /// Whether every hold is released by its own kind (then everyone may fetch the blob).
    pub fn released(&self) -> bool {
        self.holds.iter().all(|h| {
            h.release
                .as_ref()
                .is_some_and(|r| r.kind.as_deref().unwrap_or(&h.kind) == h.kind)
        })
    }

    /// The hold kinds, comma-separated (audit details, errors).
    pub fn kinds(&self) -> String {
        self.holds
            .iter()
            .map(|h| h.kind.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A stored release statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The release kind signed, when it differs from the hold's ([`RELEASE_SCAN_OVERRIDE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
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
    kind == HOLD_FOUR_EYES || kind == HOLD_SCAN
}

/// The hold a release kind releases, for the kinds this relay knows.
fn released_hold(release_kind: &str) -> Option<&'static str> {
    match release_kind {
        HOLD_FOUR_EYES => Some(HOLD_FOUR_EYES),
        HOLD_SCAN | RELEASE_SCAN_OVERRIDE => Some(HOLD_SCAN),
        _ => None,
    }
}

/// Who is asking, as far as holds care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caller {
    role: Option<SpaceRole>,
    scanner: bool,
    uploader: bool,
}

impl Caller {
    fn staff(self) -> bool {
        matches!(self.role, Some(SpaceRole::Owner | SpaceRole::Staff))
    }
}

/// Whether the caller may release with `release_kind`: four eyes by staff other than the
/// scanner, a scan by the space's scanner, a scan override by staff other than the scanner.
/// The uploader's user never.
fn may_release(release_kind: &str, caller: Caller) -> bool {
    if caller.uploader {
        return false;
    }
    match release_kind {
        HOLD_FOUR_EYES => caller.staff() && !caller.scanner,
        HOLD_SCAN => caller.scanner && caller.staff(),
        RELEASE_SCAN_OVERRIDE => caller.staff() && !caller.scanner,
        _ => false,
    }
}

/// Whether one hold lets the caller fetch the blob.
fn hold_serves(hold: &Hold, caller: Caller) -> bool {
    if caller.uploader {
        return true;
    }
    let released_as = hold
        .release
        .as_ref()
        .map(|r| r.kind.clone().unwrap_or_else(|| hold.kind.clone()));
    match hold.kind.as_str() {
        HOLD_FOUR_EYES => released_as.is_some() || caller.staff(),
        HOLD_SCAN => match released_as.as_deref() {
            Some(HOLD_SCAN) => true,
            Some(RELEASE_SCAN_OVERRIDE) => caller.staff(),
            _ => caller.scanner,
        },
        // A kind this relay does not know (a newer relay wrote it): only the uploader.
        _ => released_as.as_deref() == Some(hold.kind.as_str()),
    }
}

/// Whether a release only a second member of staff may give ([`HOLD_FOUR_EYES`],
/// [`RELEASE_SCAN_OVERRIDE`]) was given by the scanner's user.
fn by_scanner(hold: &Hold, scanner: Option<&str>) -> bool {
    hold.release.as_ref().is_some_and(|r| {
        let kind = r.kind.as_deref().unwrap_or(&hold.kind);
        Some(r.user_id.as_str()) == scanner
            && (kind == HOLD_FOUR_EYES || kind == RELEASE_SCAN_OVERRIDE)
    })
}

/// Forgets the releases of a record that the space's current scanner gave but may not give
/// (stored before the relay refused them, or by a user designated scanner since).
fn discount_scanner(h: &mut HoldRecord, scanner: Option<&str>) {
    for hold in &mut h.holds {
        if by_scanner(hold, scanner) {
            hold.release = None;
        }
    }
}

fn caller(
    store: &dyn Store,
    room: &RoomRecord,
    designated: Option<&str>,
    uploader_user: &str,
    authed: &AuthedDevice,
) -> Result<Caller, ApiError> {
    let role = accounts::space_member(store, &room.space_id, &authed.user_id)?.map(|m| m.role);
    let scanner = designated == Some(authed.user_id.as_str());
    Ok(Caller {
        role,
        // A designation of a user who is no longer a member counts for nothing.
        scanner: scanner && role.is_some(),
        uploader: authed.user_id == uploader_user,
    })
}

/// Records the holds on a blob just created.
pub fn set_hold(
    store: &dyn Store,
    record: &BlobRecord,
    kinds: &[String],
) -> Result<(), StoreError> {
    let mut txn = Txn::new();
    hold_in(&mut txn, record, kinds)?;
    Ok(store.commit(&txn)?)
}

/// Adds the holds on a blob being created to `txn`, the transaction of its record.
pub fn hold_in(txn: &mut Txn, record: &BlobRecord, kinds: &[String]) -> Result<(), StoreError> {
    txn.put_json(
        HOLDS,
        record.blob_id.as_bytes(),
        &HoldRecord {
            room_id: record.room_id.clone(),
            blob_id: record.blob_id.clone(),
            uploader_user: record.uploader_user.clone(),
            holds: kinds
                .iter()
                .map(|k| Hold {
                    kind: k.clone(),
                    release: None,
                })
                .collect(),
        },
    )?;
    Ok(())
}

/// The holds of a blob, if any.
pub fn hold(store: &dyn Store, blob_id: &str) -> Result<Option<HoldRecord>, StoreError> {
    store.get_json(HOLDS, blob_id.as_bytes())
}

/// Forgets the holds of a deleted blob, as part of the deletion's `txn`.
pub fn forget_in(txn: &mut Txn, blob_id: &str) {
    txn.delete(HOLDS, blob_id.as_bytes());
}

/// Refuses to serve a held blob to a device that one of its holds does not let through.
pub fn check_serve(
    store: &dyn Store,
    room: &RoomRecord,
    record: &BlobRecord,
    authed: &AuthedDevice,
) -> Result<(), ApiError> {
    let Some(mut h) = hold(store, &record.blob_id)? else {
        return Ok(());
    };
    let designated = scanner::designated(store, &room.space_id)?;
    discount_scanner(&mut h, designated.as_deref());
    if h.released() {
        return Ok(());
    }
    let who = caller(store, room, designated.as_deref(), &h.uploader_user, authed)?;
    match h.holds.iter().find(|hold| !hold_serves(hold, who)) {
        None => Ok(()),
        Some(blocking) => Err(ApiError::AwaitingRelease(format!(
            "the blob is held ({}) until it is released",
            blocking.kind
        ))),
    }
}

/// Checks and stores a release of `record` by `authed`; returns the holds and the kind of the
/// hold released, and whether the release is new. A second release of a released hold
/// changes nothing and succeeds, except that the scanner's release replaces a staff override.
/// The scanner's four-eyes release or scan override is `403 scanner_not_staff`. A new release
/// is stored in one transaction with the writes `with` adds for the new holds (its audit entry).
pub fn release(
    store: &dyn Store,
    room: &RoomRecord,
    record: &BlobRecord,
    authed: &AuthedDevice,
    req: &ReleaseRequest,
    now: i64,
    with: &dyn Fn(&mut Txn, &HoldRecord),
) -> Result<(HoldRecord, bool), ApiError> {
    let Some(target) = released_hold(&req.kind) else {
        return Err(ApiError::bad_request("unknown hold kind"));
    };
    let designated = scanner::designated(store, &room.space_id)?;
    let who = caller(
        store,
        room,
        designated.as_deref(),
        &record.uploader_user,
        authed,
    )?;
    if who.uploader {
        return Err(ApiError::forbidden(
            "the uploader's user cannot release their own blob",
        ));
    }
    if who.scanner && (req.kind == HOLD_FOUR_EYES || req.kind == RELEASE_SCAN_OVERRIDE) {
        return Err(ApiError::ScannerNotStaff(format!(
            "the space's scanner is a machine, not a second member of staff: it releases \
             scan holds only, never a {} release",
            req.kind
        )));
    }
    if !may_release(&req.kind, who) {
        return Err(ApiError::forbidden(match req.kind.as_str() {
            HOLD_SCAN => "only the space's scanner releases a scan hold",
            RELEASE_SCAN_OVERRIDE => "only the space's staff override a scan hold",
            _ => "only the space's staff release a held blob",
        }));
    }
    let raw = store
        .get(HOLDS, record.blob_id.as_bytes())?
        .ok_or_else(|| ApiError::NotHeld("the blob is not held".to_owned()))?;
    let mut h: HoldRecord =
        serde_json::from_slice(&raw).map_err(|e| ApiError::internal("hold record", &e))?;
    discount_scanner(&mut h, designated.as_deref());
    if authed.user_id == h.uploader_user {
        return Err(ApiError::forbidden(
            "the uploader's user cannot release their own blob",
        ));
    }
    let Some(index) = h.holds.iter().position(|x| x.kind == target) else {
        return Err(ApiError::NotHeld(format!(
            "the blob is not held ({target})"
        )));
    };
    let (device, _) = directory::active_device(store, &authed.device_id)?
        .ok_or_else(|| ApiError::unauthenticated("unknown device"))?;
    let statement = release_statement(&record.room_id, &record.blob_id, &req.kind);
    if !verify(&device.public_key, &statement, &req.signature) {
        return Err(ApiError::bad_request(
            "the release signature does not verify",
        ));
    }
    let upgrade = req.kind == HOLD_SCAN
        && h.holds[index]
            .release
            .as_ref()
            .is_some_and(|r| r.kind.as_deref() == Some(RELEASE_SCAN_OVERRIDE));
    if h.holds[index].release.is_some() && !upgrade {
        return Ok((h, false));
    }
    h.holds[index].release = Some(Release {
        kind: (req.kind != target).then(|| req.kind.clone()),
        user_id: authed.user_id.clone(),
        device_id: authed.device_id.clone(),
        signature: req.signature.clone(),
        released_at: now,
    });
    let mut txn = Txn::new();
    txn.check(HOLDS, record.blob_id.as_bytes(), Some(&raw));
    txn.put_json(HOLDS, record.blob_id.as_bytes(), &h)?;
    with(&mut txn, &h);
    store.commit(&txn).map_err(crate::audit::txn_error)?;
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

    const STAFF: Caller = Caller {
        role: Some(SpaceRole::Staff),
        scanner: false,
        uploader: false,
    };
    const SCANNER: Caller = Caller {
        role: Some(SpaceRole::Staff),
        scanner: true,
        uploader: false,
    };
    const CUSTOMER: Caller = Caller {
        role: Some(SpaceRole::Customer),
        scanner: false,
        uploader: false,
    };
    const UPLOADER: Caller = Caller {
        role: Some(SpaceRole::Customer),
        scanner: false,
        uploader: true,
    };

    fn released(kind: &str, as_kind: Option<&str>) -> Hold {
        Hold {
            kind: kind.to_owned(),
            release: Some(Release {
                kind: as_kind.map(str::to_owned),
                user_id: "u".into(),
                device_id: "d".into(),
                signature: String::new(),
                released_at: 0,
            }),
        }
    }

    fn held(kind: &str) -> Hold {
        Hold {
            kind: kind.to_owned(),
            release: None,
        }
    }

    #[test]
    fn who_releases_which_kind() {
        assert!(may_release(HOLD_FOUR_EYES, STAFF));
        let owner = Caller {
            role: Some(SpaceRole::Owner),
            ..STAFF
        };
        assert!(may_release(HOLD_FOUR_EYES, owner));
        assert!(!may_release(HOLD_FOUR_EYES, CUSTOMER));
        assert!(!may_release(
            HOLD_FOUR_EYES,
            Caller {
                role: None,
                ..STAFF
            }
        ));
        assert!(!may_release(HOLD_FOUR_EYES, SCANNER));
        assert!(may_release(HOLD_SCAN, SCANNER));
        assert!(!may_release(HOLD_SCAN, STAFF));
        assert!(!may_release(HOLD_SCAN, CUSTOMER));
        assert!(may_release(RELEASE_SCAN_OVERRIDE, STAFF));
        assert!(!may_release(RELEASE_SCAN_OVERRIDE, SCANNER));
        assert!(!may_release(RELEASE_SCAN_OVERRIDE, CUSTOMER));
        let staff_uploader = Caller {
            uploader: true,
            ..STAFF
        };
        assert!(!may_release(HOLD_FOUR_EYES, staff_uploader));
        assert!(!may_release(RELEASE_SCAN_OVERRIDE, staff_uploader));
        assert!(!may_release("other", STAFF));
        assert!(valid_kind(HOLD_FOUR_EYES) && valid_kind(HOLD_SCAN));
        assert!(!valid_kind(RELEASE_SCAN_OVERRIDE) && !valid_kind("other"));
    }

    #[test]
    fn who_is_served_by_each_hold() {
        let scan = held(HOLD_SCAN);
        assert!(hold_serves(&scan, UPLOADER) && hold_serves(&scan, SCANNER));
        assert!(!hold_serves(&scan, STAFF) && !hold_serves(&scan, CUSTOMER));
        let overridden = released(HOLD_SCAN, Some(RELEASE_SCAN_OVERRIDE));
        assert!(hold_serves(&overridden, STAFF) && !hold_serves(&overridden, CUSTOMER));
        let clean = released(HOLD_SCAN, None);
        assert!(hold_serves(&clean, CUSTOMER));
        let four = held(HOLD_FOUR_EYES);
        assert!(hold_serves(&four, STAFF) && hold_serves(&four, SCANNER));
        assert!(!hold_serves(&four, CUSTOMER));
        assert!(hold_serves(&released(HOLD_FOUR_EYES, None), CUSTOMER));
    }

    #[test]
    fn several_holds_and_old_records() {
        let old = br#"{"room_id":"r","blob_id":"b","kind":"four_eyes","uploader_user":"u"}"#;
        let h: HoldRecord = serde_json::from_slice(old).expect("old record");
        assert_eq!(h.holds, vec![held(HOLD_FOUR_EYES)]);
        assert!(!h.released());
        let old_released = br#"{"room_id":"r","blob_id":"b","kind":"four_eyes","uploader_user":"u",
            "release":{"user_id":"s","device_id":"d","signature":"00","released_at":1}}"#;
        let h: HoldRecord = serde_json::from_slice(old_released).expect("old released");
        assert!(h.released());
        let mut both = HoldRecord {
            room_id: "r".into(),
            blob_id: "b".into(),
            uploader_user: "u".into(),
            holds: vec![released(HOLD_FOUR_EYES, None), held(HOLD_SCAN)],
        };
        assert!(!both.released());
        let again: HoldRecord =
            serde_json::from_slice(&serde_json::to_vec(&both).expect("encode")).expect("decode");
        assert_eq!(again, both);
        both.holds[1] = released(HOLD_SCAN, Some(RELEASE_SCAN_OVERRIDE));
        assert!(
            !both.released(),
            "an override does not release for everyone"
        );
        both.holds[1] = released(HOLD_SCAN, None);
        assert!(both.released());
    }

    #[test]
    fn scanner_releases_other_than_scan_count_for_nothing() {
        let by = |kind: &str, as_kind: Option<&str>, user: &str| {
            let mut h = released(kind, as_kind);
            if let Some(r) = h.release.as_mut() {
                r.user_id = user.to_owned();
            }
            h
        };
        let mut h = HoldRecord {
            room_id: "r".into(),
            blob_id: "b".into(),
            uploader_user: "u".into(),
            holds: vec![
                by(HOLD_FOUR_EYES, None, "scanner"),
                by(HOLD_SCAN, Some(RELEASE_SCAN_OVERRIDE), "scanner"),
            ],
        };
        let mut kept = h.clone();
        discount_scanner(&mut kept, Some("someone else"));
        assert_eq!(kept, h);
        discount_scanner(&mut h, Some("scanner"));
        assert_eq!(h.holds, vec![held(HOLD_FOUR_EYES), held(HOLD_SCAN)]);
        let mut clean = HoldRecord {
            holds: vec![by(HOLD_SCAN, None, "scanner")],
            ..h
        };
        discount_scanner(&mut clean, Some("scanner"));
        assert!(clean.released(), "the scanner's own release stands");
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
        let kind = release_statement("room", "blob", HOLD_SCAN);
        assert!(!verify(&public, &kind, &sig));
        assert!(!verify(&public, &msg, "00"));
        assert!(!verify(&public, &msg, &"zz".repeat(64)));
    }
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod audit_tests;
