//! The end of an upload: the manifest blob beside the file, the `File` and `Document`
//! announcements in the room, and the index entry.

use zeroize::Zeroizing;

use sealroom_wire::blobs::{BlobStatus, CreateBlobRequest};

use crate::format::{self, Metadata};
use crate::room::{self, Content, DocumentVersion, FileAnnouncement, Label};

use super::checkpoint::CHECKPOINT_CHAIN;
use super::digest::DigestKind;
use super::manifests::{Manifest, MANIFEST_VERSION};
use super::upload::UploadState;
use super::{
    index_key, key_key, ClientError, FileVersion, KeyRecord, SealroomClient, MANIFEST_MAGIC,
    MANIFEST_SEEN_PREFIX,
};
use crate::client::api::Call;
use crate::client::labels::FileAccess;
use crate::client::scan::ScanState;
use crate::client::{load_record, to_json, Account};

impl SealroomClient {
    /// Writes the manifest blob, posts the File and Document contents, indexes the version
    /// and forgets the upload state.
    pub(super) async fn announce(
        &self,
        state: &UploadState,
        key: &format::FileKey,
        digest: [u8; 32],
    ) -> Result<FileVersion, ClientError> {
        let record = self.with(|r| load_record(&r.rooms, &state.relay_id))?;
        let room_id = record.core_id()?;
        let account: Account = self.account()?;
        let room_key = room::FileKey::from_bytes(key.expose_bytes());
        let version = self.with(|r| {
            Ok(r.rooms
                .document_version(&room_id, &state.document_id)?
                .unwrap_or(0)
                + 1)
        })?;
        let mut manifest = Manifest {
            v: MANIFEST_VERSION,
            document_id: state.document_id.clone(),
            version,
            name: state.name.clone(),
            media_type: state.media_type.clone(),
            size: state.source_len,
            digest: hex::encode(digest),
            sender_user_id: account.user_id.clone(),
            org_id: account.org_id.clone(),
            device_id: account.device_id.clone(),
            signature: String::new(),
            classification: state.classification.clone(),
            digest_kind: DigestKind::SealedPieces.wire().to_owned(),
        };
        let signed = manifest.signed_bytes(room_id.as_str(), &state.blob_id);
        manifest.signature = hex::encode(self.with(|r| Ok(r.rooms.device().sign(&signed)))?);
        let wrapped =
            self.with(|r| Ok(r.rooms.wrap_file_key(&room_id, &state.blob_id, &room_key)?))?;
        let manifest_json = Zeroizing::new(to_json(&manifest)?);
        let sealed_manifest = format::seal(key, &Metadata::default(), &manifest_json)?;
        let mut blob = MANIFEST_MAGIC.to_vec();
        blob.extend_from_slice(state.blob_id.as_bytes());
        blob.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
        blob.extend_from_slice(&wrapped);
        blob.extend_from_slice(&sealed_manifest);
        let manifest_id = self.put_small_blob(&state.relay_id, blob).await?;

        let label = if state.internal {
            Label::Internal
        } else {
            Label::Customer
        };
        let file = Content::File(FileAnnouncement {
            file_id: state.blob_id.clone(),
            file_key: room_key.clone(),
            metadata_ref: manifest_id.clone(),
            thread_id: state.thread_id.clone(),
        });
        let document = Content::Document(DocumentVersion {
            document_id: state.document_id.clone(),
            version,
            content_digest: digest,
            file_id: Some(state.blob_id.clone()),
            author_signature: Vec::new(),
            classification: state.label(),
        });
        let file_msg = self.with(|r| Ok(r.rooms.post(&room_id, label, file)?))?;
        self.send_message_bytes(&state.relay_id, &file_msg, None)
            .await?;
        let doc_msg = self.with(|r| Ok(r.rooms.post(&room_id, label, document)?))?;
        self.send_message_bytes(&state.relay_id, &doc_msg, None)
            .await?;

        let entry = FileVersion {
            space_id: state.space_id.clone(),
            internal: state.internal,
            document_id: state.document_id.clone(),
            version,
            file_id: state.blob_id.clone(),
            name: state.name.clone(),
            media_type: state.media_type.clone(),
            size: state.source_len,
            digest: hex::encode(digest),
            sender_user_id: account.user_id,
            latest: true,
            classification: state.label(),
            access: FileAccess::Open,
            released_by: Vec::new(),
            scan: ScanState::default(),
            received_at: Some(self.api.now().max(0) as u64),
        };
        let key_record = KeyRecord {
            key: state.key.clone(),
            relay_id: state.relay_id.clone(),
            space_id: state.space_id.clone(),
            manifest_id: manifest_id.clone(),
            digest_kind: Some(DigestKind::SealedPieces.wire().to_owned()),
        };
        let writes = vec![
            (
                index_key(&state.space_id, &state.document_id, version),
                Some(to_json(&entry)?),
            ),
            (key_key(&state.blob_id), Some(to_json(&key_record)?)),
            (
                format!("{MANIFEST_SEEN_PREFIX}{manifest_id}"),
                Some(Vec::new()),
            ),
            (state.storage_key(), None),
        ];
        self.with(|r| Ok(r.rooms.app_commit(writes)?))?;
        Ok(entry)
    }

    /// Creates and fills a small blob in one request; returns its id.
    async fn put_small_blob(&self, relay_id: &str, bytes: Vec<u8>) -> Result<String, ClientError> {
        let created: BlobStatus = self
            .signed_json(Call::json(
                "POST",
                format!("/v1/rooms/{relay_id}/blobs"),
                &CreateBlobRequest {
                    length: bytes.len() as u64,
                    hold: None,
                    holds: Vec::new(),
                },
            )?)
            .await?;
        let state_like = UploadState {
            blob_id: created.blob_id.clone(),
            space_id: String::new(),
            internal: false,
            relay_id: relay_id.to_owned(),
            key: String::new(),
            salt: String::new(),
            document_id: String::new(),
            name: String::new(),
            media_type: String::new(),
            created: 0,
            thread_id: None,
            source_len: 0,
            sealed_len: bytes.len() as u64,
            acked: 0,
            acked_digest: String::new(),
            classification: String::new(),
            checkpoint: CHECKPOINT_CHAIN,
            sent: Vec::new(),
        };
        self.send_chunk(&state_like, 0, &bytes, None, 0).await?;
        Ok(created.blob_id)
    }
}
