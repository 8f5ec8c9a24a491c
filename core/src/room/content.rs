//! Application content carried inside MLS application messages.
//!
//! Encoding: UTF-8 JSON `{"v":1,"label":"customer"|"internal","body":{"type":...}}`. The version
//! is checked by a `match` with an explicit arm for unknown versions. Binary fields are lowercase
//! hex.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::classification::{Classification, ReleaseApproval, ScanVerdict, SpacePolicy, Verdict};
use super::profile::{Profile, WireProfile};
use super::RoomError;

/// Current content encoding version.
pub const CONTENT_VERSION: u32 = 1;

/// Who may see a piece of content. Internal content may only be posted into internal rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Fit for the customer-facing room (and the internal room).
    Customer,
    /// For the provider's staff only.
    Internal,
}

/// A random 32-byte key that encrypts one file.
pub struct FileKey([u8; 32]);

impl FileKey {
    /// Wraps key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies the key bytes out.
    pub fn expose_bytes(&self) -> [u8; 32] {
        self.0
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for FileKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Clone for FileKey {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// Thread the message belongs to.
    pub thread_id: String,
    /// Message id (chosen by the sender, unique within the room).
    pub message_id: String,
    /// The message this one replies to.
    pub reply_to: Option<String>,
    /// The text.
    pub body: String,
    /// Unix time in seconds after which clients delete the message (disappearing messages).
    pub expires_at: Option<u64>,
    /// Unix time in seconds on the sender's clock when it was posted (`None` from earlier
    /// SDKs).
    pub sent_at: Option<u64>,
}

/// Announces a file stored (encrypted) on the relay.
#[derive(Clone)]
pub struct FileAnnouncement {
    /// File id on the relay.
    pub file_id: String,
    /// The file's key.
    pub file_key: FileKey,
    /// Reference to the encrypted metadata (name, type, size) blob on the relay.
    pub metadata_ref: String,
    /// Thread the file is posted in.
    pub thread_id: Option<String>,
}

impl std::fmt::Debug for FileAnnouncement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAnnouncement")
            .field("file_id", &self.file_id)
            .field("metadata_ref", &self.metadata_ref)
            .field("thread_id", &self.thread_id)
            .finish_non_exhaustive()
    }
}

/// A new version of a document. Versions of one document strictly increase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentVersion {
    /// Document id.
    pub document_id: String,
    /// Version number; must exceed every version seen before for this document.
    pub version: u64,
    /// Digest of the version's (plaintext) content: the SDK's client announces its piece
    /// digest (`docs/format.md`, "Content digest"); earlier SDKs announced SHA-256.
    pub content_digest: [u8; 32],
    /// File that holds this version, if any.
    pub file_id: Option<String>,
    /// Ed25519 signature of the author's device over [`DocumentVersion::signed_bytes`].
    pub author_signature: Vec<u8>,
    /// The version's classification label (sealed in the file's metadata too); `None` for
    /// versions of earlier SDKs, which sign without it.
    pub classification: Option<Classification>,
}

impl DocumentVersion {
    /// The bytes the author signs:
    /// `"sealroom-document-v1" || u32 len || room id || u32 len || document id || u64 version || digest || u32 len || file id`;
    /// with a classification, `"sealroom-document-v2"` and the same fields followed by
    /// `u32 len || classification`.
    pub fn signed_bytes(&self, room_id: &str) -> Vec<u8> {
        let mut out = match self.classification {
            Some(_) => b"sealroom-document-v2".to_vec(),
            None => b"sealroom-document-v1".to_vec(),
        };
        for part in [room_id.as_bytes(), self.document_id.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.content_digest);
        let f = self.file_id.as_deref().unwrap_or("").as_bytes();
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
        if let Some(c) = &self.classification {
            let c = c.as_str().as_bytes();
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    }
}

/// Content a member posts into a room.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Content {
    /// A text message.
    Text(TextMessage),
    /// A file announcement.
    File(FileAnnouncement),
    /// A document version (the SDK fills in the author signature).
    Document(DocumentVersion),
    /// The space's classification policy (provider staff only).
    SpacePolicy(SpacePolicy),
    /// A four-eyes release or a scan override of a held file version (provider staff only).
    Release(ReleaseApproval),
    /// The scanner's verdict on a file version (provider staff only; receivers accept it from
    /// the space's scanner only).
    ScanVerdict(ScanVerdict),
    /// The sender's own profile, signed by the sending device (receivers check that it names
    /// the sender's user and device and that the signature verifies under its leaf key).
    Profile(Profile),
}

/// The room's content keys handed to a newcomer (all generations, oldest first).
pub(crate) struct HistoryKeys {
    pub(crate) keys: Vec<(u64, Zeroizing<[u8; 32]>)>,
    pub(crate) documents: Vec<(String, u64)>,
}

pub(crate) enum Envelope {
    Content(Label, Content),
    History(HistoryKeys),
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<Label>,
    body: WireBody,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBody {
    Text {
        thread_id: String,
        message_id: String,
        reply_to: Option<String>,
        body: String,
        expires_at: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_at: Option<u64>,
    },
    File {
        file_id: String,
        file_key: String,
        metadata_ref: String,
        thread_id: Option<String>,
    },
    Document {
        document_id: String,
        version: u64,
        content_digest: String,
        file_id: Option<String>,
        author_signature: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        classification: Option<Classification>,
    },
    SpacePolicy {
        policy: SpacePolicy,
    },
    Release {
        file_id: String,
        document_id: String,
        version: u64,
        version_digest: String,
        kind: String,
    },
    ScanVerdict {
        file_id: String,
        document_id: String,
        version: u64,
        version_digest: String,
        /// `clean`, `infected` or `failed`.
        verdict: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature_name: Option<String>,
    },
    History {
        keys: Vec<(u64, String)>,
        documents: Vec<(String, u64)>,
    },
    Profile(WireProfile),
}

impl Drop for WireBody {
    fn drop(&mut self) {
        match self {
            WireBody::File { file_key, .. } => file_key.zeroize(),
            WireBody::History { keys, .. } => keys.iter_mut().for_each(|(_, k)| k.zeroize()),
            _ => {}
        }
    }
}

fn hex32(s: &str) -> Result<Zeroizing<[u8; 32]>, RoomError> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(s, out.as_mut()).map_err(|_| RoomError::InvalidContent)?;
    Ok(out)
}

impl Envelope {
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let (label, body) = match self {
            Envelope::Content(label, c) => (
                Some(*label),
                match c {
                    Content::Text(t) => WireBody::Text {
                        thread_id: t.thread_id.clone(),
                        message_id: t.message_id.clone(),
                        reply_to: t.reply_to.clone(),
                        body: t.body.clone(),
                        expires_at: t.expires_at,
                        sent_at: t.sent_at,
                    },
                    Content::File(f) => WireBody::File {
                        file_id: f.file_id.clone(),
                        file_key: hex::encode(f.file_key.as_bytes()),
                        metadata_ref: f.metadata_ref.clone(),
                        thread_id: f.thread_id.clone(),
                    },
                    Content::Document(d) => WireBody::Document {
                        document_id: d.document_id.clone(),
                        version: d.version,
                        content_digest: hex::encode(d.content_digest),
                        file_id: d.file_id.clone(),
                        author_signature: hex::encode(&d.author_signature),
                        classification: d.classification.clone(),
                    },
                    Content::SpacePolicy(p) => WireBody::SpacePolicy { policy: p.clone() },
                    Content::Release(r) => WireBody::Release {
                        file_id: r.file_id.clone(),
                        document_id: r.document_id.clone(),
                        version: r.version,
                        version_digest: hex::encode(r.version_digest),
                        kind: r.kind.clone(),
                    },
                    Content::ScanVerdict(v) => WireBody::ScanVerdict {
                        file_id: v.file_id.clone(),
                        document_id: v.document_id.clone(),
                        version: v.version,
                        version_digest: hex::encode(v.version_digest),
                        verdict: match &v.verdict {
                            Verdict::Clean => "clean",
                            Verdict::Infected(_) => "infected",
                            Verdict::Failed => "failed",
                        }
                        .to_owned(),
                        signature_name: match &v.verdict {
                            Verdict::Infected(name) => Some(name.clone()),
                            _ => None,
                        },
                    },
                    Content::Profile(p) => WireBody::Profile(WireProfile::from(p)),
                },
            ),
            Envelope::History(h) => (
                None,
                WireBody::History {
                    keys: h
                        .keys
                        .iter()
                        .map(|(e, k)| (*e, hex::encode(k.as_ref())))
                        .collect(),
                    documents: h.documents.clone(),
                },
            ),
        };
        let wire = Wire {
            v: CONTENT_VERSION,
            label,
            body,
        };
        // Serializing plain strings and numbers into a Vec cannot fail.
        Zeroizing::new(serde_json::to_vec(&wire).unwrap_or_default())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RoomError> {
        let wire: Wire = serde_json::from_slice(bytes).map_err(|_| RoomError::InvalidContent)?;
        match wire.v {
            1 => {}
            _ => return Err(RoomError::UnsupportedVersion),
        }
        let label = wire.label;
        let content = match &wire.body {
            WireBody::Profile(p) => Content::Profile(
                WireProfile::into_profile(p.clone()).ok_or(RoomError::InvalidContent)?,
            ),
            WireBody::History { keys, documents } => {
                return Ok(Envelope::History(HistoryKeys {
                    keys: keys
                        .iter()
                        .map(|(e, k)| Ok((*e, hex32(k)?)))
                        .collect::<Result<_, RoomError>>()?,
                    documents: documents.clone(),
                }))
            }
            WireBody::Text {
                thread_id,
                message_id,
                reply_to,
                body,
                expires_at,
                sent_at,
            } => Content::Text(TextMessage {
                thread_id: thread_id.clone(),
                message_id: message_id.clone(),
                reply_to: reply_to.clone(),
                body: body.clone(),
                expires_at: *expires_at,
                sent_at: *sent_at,
            }),
            WireBody::File {
                file_id,
                file_key,
                metadata_ref,
                thread_id,
            } => Content::File(FileAnnouncement {
                file_id: file_id.clone(),
                file_key: FileKey(*hex32(file_key)?),
                metadata_ref: metadata_ref.clone(),
                thread_id: thread_id.clone(),
            }),
            WireBody::Document {
                document_id,
                version,
                content_digest,
                file_id,
                author_signature,
                classification,
            } => Content::Document(DocumentVersion {
                document_id: document_id.clone(),
                version: *version,
                content_digest: *hex32(content_digest)?,
                file_id: file_id.clone(),
                author_signature: hex::decode(author_signature)
                    .map_err(|_| RoomError::InvalidContent)?,
                classification: classification.clone(),
            }),
            WireBody::SpacePolicy { policy } => Content::SpacePolicy(policy.clone()),
            WireBody::Release {
                file_id,
                document_id,
                version,
                version_digest,
                kind,
            } => Content::Release(ReleaseApproval {
                file_id: file_id.clone(),
                document_id: document_id.clone(),
                version: *version,
                version_digest: *hex32(version_digest)?,
                kind: kind.clone(),
            }),
            WireBody::ScanVerdict {
                file_id,
                document_id,
                version,
                version_digest,
                verdict,
                signature_name,
            } => Content::ScanVerdict(ScanVerdict {
                file_id: file_id.clone(),
                document_id: document_id.clone(),
                version: *version,
                version_digest: *hex32(version_digest)?,
                verdict: match (verdict.as_str(), signature_name) {
                    ("clean", None) => Verdict::Clean,
                    ("infected", Some(name)) => Verdict::Infected(name.clone()),
                    ("failed", None) => Verdict::Failed,
                    _ => return Err(RoomError::InvalidContent),
                },
            }),
        };
        let label = label.ok_or(RoomError::InvalidContent)?;
        Ok(Envelope::Content(label, content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_version() {
        let env = Envelope::Content(
            Label::Internal,
            Content::File(FileAnnouncement {
                file_id: "f1".into(),
                file_key: FileKey::from_bytes([3; 32]),
                metadata_ref: "m1".into(),
                thread_id: None,
            }),
        );
        let bytes = env.encode();
        match Envelope::decode(&bytes).unwrap() {
            Envelope::Content(Label::Internal, Content::File(f)) => {
                assert_eq!(f.file_key.expose_bytes(), [3; 32]);
                assert_eq!(f.file_id, "f1");
            }
            _ => panic!("wrong decode"),
        }
        let v2 = String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace("\"v\":1", "\"v\":2");
        assert!(matches!(
            Envelope::decode(v2.as_bytes()),
            Err(RoomError::UnsupportedVersion)
        ));
        assert!(matches!(
            Envelope::decode(b"{}"),
            Err(RoomError::InvalidContent)
        ));
    }
}
