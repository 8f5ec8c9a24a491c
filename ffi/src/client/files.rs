//! Binding records of files: uploads, versions, documents and the file policy, each a
//! field-for-field copy of a core type with `From` conversions. Nothing here decides anything.

use sealroom_core::client as core;

use super::types::ScanState;

/// A file to upload.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewFile {
    /// File name (sealed; never visible to the relay).
    pub name: String,
    /// The document this is a new version of; absent starts a new document (version 1).
    #[uniffi(default = None)]
    pub document_id: Option<String>,
    /// Post into the internal (staff-only) room.
    #[uniffi(default = false)]
    pub internal: bool,
    /// Thread the file belongs to.
    #[uniffi(default = None)]
    pub thread_id: Option<String>,
    /// Classification label (`public`, `internal`, `confidential`, `restricted` or a newer
    /// peer's); absent takes the space policy's default.
    #[uniffi(default = None)]
    pub classification: Option<String>,
}

impl From<NewFile> for core::NewFile {
    fn from(f: NewFile) -> Self {
        Self {
            name: f.name,
            document_id: f.document_id,
            internal: f.internal,
            thread_id: f.thread_id,
            classification: f
                .classification
                .as_deref()
                .map(core::Classification::from_wire),
        }
    }
}

/// One version of a document.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FileVersion {
    /// Space.
    pub space_id: String,
    /// Whether it is in the internal room.
    pub internal: bool,
    /// Document id.
    pub document_id: String,
    /// Version (1, 2, ...).
    pub version: u64,
    /// The relay's blob id of the sealed file.
    pub file_id: String,
    /// File name (empty until the manifest was read, see `refresh_files`).
    pub name: String,
    /// Sniffed media type (empty until the manifest was read).
    pub media_type: String,
    /// Plaintext size in bytes (0 until the manifest was read).
    pub size: u64,
    /// The content digest of the plaintext (hex), as announced by the author: the piece digest
    /// of `docs/format.md` ("Content digest") for versions of this SDK, SHA-256 of the plaintext
    /// for versions of earlier SDKs.
    pub digest: String,
    /// The author's user id.
    pub sender_user_id: String,
    /// Whether this is the document's latest version.
    pub latest: bool,
    /// The label the author signed (absent: a version of an earlier SDK).
    pub classification: Option<String>,
    /// What this device may do with it under the space's policy: `open`, `awaiting_release`
    /// (four eyes), `download_not_allowed`, `label_not_allowed`, `awaiting_scan` (no verdict
    /// of the space's scanner yet), `infected` or `scan_failed` (opened only after a staff
    /// `override_scan`, and never by customers). Any other value is a refusal of a newer SDK.
    pub access: String,
    /// The space scanner's verdict on this version.
    pub scan: ScanState,
    /// Staff users (not the uploader) who released this version.
    pub released_by: Vec<String>,
}

impl From<core::FileVersion> for FileVersion {
    fn from(f: core::FileVersion) -> Self {
        Self {
            space_id: f.space_id,
            internal: f.internal,
            document_id: f.document_id,
            version: f.version,
            file_id: f.file_id,
            name: f.name,
            media_type: f.media_type,
            size: f.size,
            digest: f.digest,
            sender_user_id: f.sender_user_id,
            latest: f.latest,
            classification: f.classification.map(|c| c.as_str().to_owned()),
            access: f.access.code().to_owned(),
            scan: f.scan,
            released_by: f.released_by,
        }
    }
}

/// A document: all its versions known here, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Document {
    /// Document id.
    pub document_id: String,
    /// The latest version.
    pub latest: FileVersion,
    /// Every version, oldest first.
    pub versions: Vec<FileVersion>,
}

impl From<core::Document> for Document {
    fn from(d: core::Document) -> Self {
        Self {
            document_id: d.document_id,
            latest: d.latest.into(),
            versions: d.versions.into_iter().map(Into::into).collect(),
        }
    }
}

/// An upload that has not finished (resume it with `resume_upload`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingUpload {
    /// Upload id.
    pub upload_id: String,
    /// Space.
    pub space_id: String,
    /// File name.
    pub name: String,
    /// Document id.
    pub document_id: String,
    /// Plaintext length the source must have.
    pub source_len: u64,
    /// Sealed bytes the relay acknowledged at the last checkpoint.
    pub uploaded: u64,
    /// Total sealed length.
    pub sealed_len: u64,
}

impl From<core::PendingUpload> for PendingUpload {
    fn from(p: core::PendingUpload) -> Self {
        Self {
            upload_id: p.upload_id,
            space_id: p.space_id,
            name: p.name,
            document_id: p.document_id,
            source_len: p.source_len,
            uploaded: p.uploaded,
            sealed_len: p.sealed_len,
        }
    }
}

/// A space's file policy, kept on this device and checked before encryption.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FilePolicy {
    /// Allowed media types (`application/pdf`, `image/png`, ...); empty allows every type.
    pub allowed_media_types: Vec<String>,
    /// Largest plaintext size in bytes; absent for no limit.
    #[uniffi(default = None)]
    pub max_size: Option<u64>,
}

impl From<core::FilePolicy> for FilePolicy {
    fn from(p: core::FilePolicy) -> Self {
        Self {
            allowed_media_types: p.allowed_media_types,
            max_size: p.max_size,
        }
    }
}

impl From<FilePolicy> for core::FilePolicy {
    fn from(p: FilePolicy) -> Self {
        Self {
            allowed_media_types: p.allowed_media_types,
            max_size: p.max_size,
        }
    }
}
