//! Target `wire_decode`: every decoder of `sealroom-wire` that reads bytes from the network
//! (JSON bodies of requests and responses, the credential identity carried in MLS leaves, ids,
//! nonces and signature headers, audit actions and entries, notification modes).
//!
//! Input: `selector (1) | bytes`; the selector picks the decoder.
//!
//! Invariants: no panic; whatever a decoder accepts re-encodes to bytes that decode to an
//! equal value (and, for the text decoders, to exactly the accepted text where the format is
//! canonical); an audit entry's canonical JSON decodes back to the same entry.

use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;

use sealroom_wire::{accounts, audit, auth, blobs, notify, recovery, rooms};

/// Decodes JSON as `T`; if accepted, checks the encode/decode round trip.
fn json<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(bytes).ok()?;
    let encoded = serde_json::to_vec(&value).expect("an accepted value encodes");
    let again: T = serde_json::from_slice(&encoded).expect("a re-encoded value decodes");
    let encoded_again = serde_json::to_vec(&again).expect("encodes");
    assert_eq!(encoded, encoded_again, "JSON round trip is not stable");
    Some(value)
}

/// [`json`] with an equality check of the decoded values.
fn json_eq<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> bool {
    match json::<T>(bytes) {
        Some(value) => {
            let again: T = serde_json::from_slice(&serde_json::to_vec(&value).expect("encodes"))
                .expect("decodes");
            assert_eq!(again, value, "decode(encode(x)) != x");
            true
        }
        None => false,
    }
}

macro_rules! decoders {
    ($($f:expr),* $(,)?) => {
        &[$($f),*]
    };
}

/// A decoder: returns whether it accepted the bytes.
type Decoder = fn(&[u8]) -> bool;

/// Every decoder, in selector order (the selector is taken modulo the length).
pub const DECODERS: &[Decoder] = decoders![
    |b| json_eq::<accounts::Role>(b),
    |b| json_eq::<accounts::OrgKind>(b),
    |b| json::<accounts::BootstrapRequest>(b).is_some(),
    |b| json::<accounts::RegisterRequest>(b).is_some(),
    |b| json_eq::<accounts::Registered>(b),
    |b| json_eq::<accounts::Me>(b),
    |b| json_eq::<accounts::DeviceInfo>(b),
    |b| json_eq::<accounts::DeviceList>(b),
    |b| json::<accounts::CreateOrg>(b).is_some(),
    |b| json_eq::<accounts::OrgInfo>(b),
    |b| json::<accounts::CreateInvitation>(b).is_some(),
    |b| json_eq::<accounts::Invitation>(b),
    |b| json::<accounts::CreateSpace>(b).is_some(),
    |b| json_eq::<accounts::SpaceInfo>(b),
    |b| json_eq::<accounts::SpaceList>(b),
    |b| json::<accounts::AddSpaceMember>(b).is_some(),
    |b| json::<accounts::DeviceRequestCreate>(b).is_some(),
    |b| json_eq::<accounts::DeviceRequestInfo>(b),
    |b| json::<accounts::ApproveDevice>(b).is_some(),
    |b| json::<accounts::TotpCode>(b).is_some(),
    |b| json::<accounts::TotpEnrolment>(b).is_some(),
    audit_entry,
    |b| json_eq::<audit::AuditRecord>(b),
    |b| json_eq::<audit::AuditQuery>(b),
    |b| json_eq::<audit::AuditPage>(b),
    |b| json_eq::<audit::AuditVerifyReport>(b),
    |b| json_eq::<audit::AuditAction>(b),
    |b| json_eq::<blobs::CreateBlobRequest>(b),
    |b| json_eq::<blobs::BlobStatus>(b),
    |b| json_eq::<blobs::BlobList>(b),
    |b| json_eq::<notify::NotifyPreference>(b),
    |b| json_eq::<notify::RetentionPolicy>(b),
    |b| json_eq::<recovery::RecoveryInfo>(b),
    |b| json_eq::<rooms::CreateRoomRequest>(b),
    |b| json_eq::<rooms::RoomInfo>(b),
    |b| json_eq::<rooms::PostHandshakeRequest>(b),
    |b| json_eq::<rooms::HandshakeAccepted>(b),
    |b| json_eq::<rooms::EpochConflict>(b),
    |b| json_eq::<rooms::HandshakePage>(b),
    |b| json_eq::<rooms::PostMessageRequest>(b),
    |b| json_eq::<rooms::MessagePosted>(b),
    |b| json_eq::<rooms::MessagePage>(b),
    |b| json_eq::<rooms::WelcomePage>(b),
    |b| json_eq::<rooms::UploadKeyPackagesRequest>(b),
    |b| json_eq::<rooms::KeyPackageCount>(b),
    |b| json_eq::<rooms::ClaimedKeyPackages>(b),
    credential_identity,
    text_decoders,
    signature_header,
];

fn audit_entry(bytes: &[u8]) -> bool {
    let entry = json::<audit::AuditEntry>(bytes);
    if let Some(entry) = &entry {
        let canonical = entry.canonical_json();
        let again: audit::AuditEntry =
            serde_json::from_slice(&canonical).expect("canonical JSON decodes");
        assert_eq!(&again, entry, "canonical JSON changes the entry");
        assert_eq!(
            again.canonical_json(),
            canonical,
            "canonical JSON not stable"
        );
    }
    entry.is_some()
}

fn credential_identity(bytes: &[u8]) -> bool {
    let parsed = sealroom_wire::CredentialIdentity::from_bytes(bytes);
    if let Ok(id) = &parsed {
        assert_eq!(id.to_bytes(), bytes, "credential identity is not canonical");
        let again = sealroom_wire::CredentialIdentity::new(&id.org_id, &id.user_id, &id.device_id)
            .expect("parts of an accepted identity are valid ids");
        assert_eq!(&again, id);
    }
    parsed.is_ok()
}

fn text_decoders(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut accepted = sealroom_wire::check_id(text).is_ok();
    if let Ok(action) = audit::AuditAction::from_str(text) {
        assert_eq!(action.as_str(), text);
        accepted = true;
    }
    if let Ok(mode) = notify::NotifyMode::from_str(text) {
        assert_eq!(mode.as_str(), text);
        accepted = true;
    }
    if auth::valid_nonce(text) {
        assert!((auth::MIN_NONCE_LEN..=auth::MAX_NONCE_LEN).contains(&text.len()));
        accepted = true;
    }
    accepted | notify::check_email(text)
}

fn signature_header(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let decoded = auth::decode_signature(text);
    if let Ok(sig) = decoded {
        assert_eq!(hex::encode(sig), text.to_ascii_lowercase());
        let parts = auth::RequestParts {
            method: "POST",
            authority: text,
            path: text,
            query: "",
            headers: &[("content-type", text)],
            timestamp: 0,
            nonce: "00000000000000000000000000000000",
            body: bytes,
        };
        let _ = auth::verify_request(&[0x11; 32], &parts, &sig);
    }
    let mut key = [0u8; 32];
    for (k, b) in key.iter_mut().zip(bytes) {
        *k = *b;
    }
    let _ = auth::check_public_key(&key);
    decoded.is_ok()
}

/// The target body.
pub fn wire_decode(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let _ = DECODERS[usize::from(selector) % DECODERS.len()](bytes);
}
