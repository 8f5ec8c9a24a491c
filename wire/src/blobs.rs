//! Request and response bodies and headers of the relay's blob routes: a resumable, chunked
//! upload in the manner of tus 1.0 (create with a length, append at an offset, ask for the
//! offset, per-append checksum), then download with HTTP range requests.

use serde::{Deserialize, Serialize};

/// Header carrying the offset an append starts at (request) or the stored offset (response).
pub const UPLOAD_OFFSET: &str = "upload-offset";
/// Header carrying the announced total length of an upload.
pub const UPLOAD_LENGTH: &str = "upload-length";
/// Header carrying the checksum of one append's body: `sha256 <base64 of the digest>`.
pub const UPLOAD_CHECKSUM: &str = "upload-checksum";
/// Header carrying the expiry (Unix seconds) of an unfinished upload.
pub const UPLOAD_EXPIRES: &str = "upload-expires";
/// Content type of an append body.
pub const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// `POST /v1/rooms/{room_id}/blobs`: announce an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBlobRequest {
    /// Total length in bytes; checked against the space's size limit up front (413 beyond it).
    pub length: u64,
    /// A hold on the blob ([`HOLD_FOUR_EYES`], [`HOLD_SCAN`]): the relay serves it to the
    /// space's customers only once it holds a release of that kind ([`ReleaseRequest`]). The
    /// relay learns only that a hold exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// Further holds when a blob is held for several reasons at once (a scan and a four-eyes
    /// release); the blob is served to customers once every hold is released.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<String>,
}

impl CreateBlobRequest {
    /// Every hold kind of the request, each once, in order.
    pub fn hold_kinds(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for kind in self.hold.iter().chain(&self.holds) {
            if !out.contains(kind) {
                out.push(kind.clone());
            }
        }
        out
    }
}

/// Hold kind: a second staff member (another user than the uploader) must release the blob.
pub const HOLD_FOUR_EYES: &str = "four_eyes";

/// Hold kind: the space's scanner ([`ScannerDesignation`]) must release the blob after a clean
/// scan. Until then it is served to its uploader's user and the scanner only.
pub const HOLD_SCAN: &str = "scan";

/// Release kind (not a hold kind): provider staff override a scan hold (an infected or failed
/// file), audited; the relay then serves the blob to the space's staff, not its customers.
pub const RELEASE_SCAN_OVERRIDE: &str = "scan_override";

/// `PUT /v1/spaces/{space_id}/scanner` (answer of `GET` as well): the user whose devices
/// release [`HOLD_SCAN`] holds in the space, a provider staff member of the space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerDesignation {
    /// The scanner's user (absent in a `GET` answer when no scanner is designated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Domain separation of a release statement ([`release_statement`]).
pub const RELEASE_LABEL: &[u8] = b"sealroom-release-v1";

/// `POST /v1/rooms/{room_id}/blobs/{blob_id}/release`: a device releases a held blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The hold released ([`HOLD_FOUR_EYES`], [`HOLD_SCAN`]) or [`RELEASE_SCAN_OVERRIDE`].
    pub kind: String,
    /// Ed25519 signature of the releasing device, 128 lowercase hex characters, over
    /// [`release_statement`].
    pub signature: String,
}

/// The bytes a releasing device signs: [`RELEASE_LABEL`], then room id, blob id and kind, each
/// a `u32` big-endian length and the UTF-8 bytes.
pub fn release_statement(room_id: &str, blob_id: &str, kind: &str) -> Vec<u8> {
    let mut out = RELEASE_LABEL.to_vec();
    for part in [room_id, blob_id, kind] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// State of a blob (answer to create and to `GET .../status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    /// Blob id (32 lowercase hex characters).
    pub blob_id: String,
    /// The room the blob belongs to.
    pub room_id: String,
    /// Announced total length.
    pub length: u64,
    /// Bytes durably stored so far.
    pub offset: u64,
    /// Whether every byte has arrived (then the blob can be downloaded).
    pub complete: bool,
    /// Unix seconds after which an unfinished upload is deleted (absent once complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Device that created the upload.
    pub uploader_device: String,
}

/// `GET /v1/rooms/{room_id}/blobs`: the room's blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobList {
    /// Blobs, in no particular order.
    pub blobs: Vec<BlobStatus>,
}
