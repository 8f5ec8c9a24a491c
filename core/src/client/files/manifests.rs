//! Manifests: the small blob beside each file that lets a member added later find it.
//!
//! A manifest blob is `"SRMF" || file id (32 bytes) || u16 length || wrapped file key ||
//! sealed manifest`; the file key is wrapped under the room's content key
//! ([`crate::room::Client::wrap_file_key`]) and the manifest (JSON) is sealed under the file
//! key. Since manifest version 2 the uploading device signs the manifest with its Ed25519
//! key over [`Manifest::signed_bytes`]; a reader checks the signature against that device's
//! key in the room's MLS tree and applies the publisher rule ([`check_manifest`]) before it
//! imports anything. A manifest that fails is never imported: it is remembered as seen and
//! reported as [`ClientEvent::Refused`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use sealroom_wire::blobs::BlobList;
use sealroom_wire::CredentialIdentity;

use crate::format;
use crate::identity::verify_signature;
use crate::room::{RoomError, RoomId};

use super::digest::DigestKind;
use super::{
    hex32, index_key, key_key, ClientError, ClientEvent, FileVersion, KeyRecord, RoomRecord,
    SealroomClient, INDEX_PREFIX, MANIFEST_MAGIC, MANIFEST_MAX, MANIFEST_SEEN_PREFIX,
};
use crate::client::api::Call;
use crate::client::labels::{Classification, FileAccess};
use crate::client::scan::ScanState;
use crate::client::{from_json, to_json};

/// The manifest encoding this SDK writes: signed by the uploading device, with the
/// classification label and the content digest's kind.
pub(super) const MANIFEST_VERSION: u32 = 4;
/// The signed manifest of earlier SDKs with the label (digest: SHA-256); still read.
const MANIFEST_V3: u32 = 3;
/// The signed manifest of earlier SDKs (no classification); still read.
const MANIFEST_V2: u32 = 2;
/// Domain separation of the manifest signature (v2, v3 and v4).
const MANIFEST_LABEL_V2: &[u8] = b"sealroom-manifest-v2";
const MANIFEST_LABEL_V3: &[u8] = b"sealroom-manifest-v3";
const MANIFEST_LABEL_V4: &[u8] = b"sealroom-manifest-v4";

/// The sealed part of a manifest blob.
#[derive(Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Encoding version; absent (0) in the unsigned manifests of earlier SDKs.
    #[serde(default)]
    pub(super) v: u32,
    pub(super) document_id: String,
    pub(super) version: u64,
    pub(super) name: String,
    pub(super) media_type: String,
    pub(super) size: u64,
    /// The content digest of the plaintext (of [`Manifest::digest_kind`]), lowercase hex.
    pub(super) digest: String,
    /// The author: the user of the signing device.
    pub(super) sender_user_id: String,
    /// The signing device's organisation and device id (with `sender_user_id`, its MLS
    /// credential).
    #[serde(default)]
    pub(super) org_id: String,
    #[serde(default)]
    pub(super) device_id: String,
    /// Ed25519 signature (hex) over [`Manifest::signed_bytes`].
    #[serde(default)]
    pub(super) signature: String,
    /// Classification label (version 3; empty in version 2).
    #[serde(default)]
    pub(super) classification: String,
    /// How `digest` is computed ([`DigestKind::wire`]; version 4): empty for SHA-256 of the
    /// whole plaintext, the only kind of versions 2 and 3.
    #[serde(default)]
    pub(super) digest_kind: String,
}

impl Manifest {
    /// The bytes the uploading device signs: `"sealroom-manifest-v2"`, then room id, file id
    /// and document id (each a `u32` big-endian length and the UTF-8 bytes), the `u64`
    /// big-endian version, then digest (lowercase hex), the `u64` size, name, media type and
    /// the author's org id, user id and device id (each `u32` length and bytes, the size
    /// excepted). Version 3 starts with `"sealroom-manifest-v3"` and appends the
    /// classification label (`u32` length and bytes). Version 4 starts with
    /// `"sealroom-manifest-v4"` and appends the digest kind to the version 3 fields (`u32`
    /// length and bytes).
    pub(super) fn signed_bytes(&self, room_id: &str, file_id: &str) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, part: &str) {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        let (v3, v4) = (self.v >= MANIFEST_V3, self.v >= MANIFEST_VERSION);
        let mut out = match (v3, v4) {
            (_, true) => MANIFEST_LABEL_V4.to_vec(),
            (true, false) => MANIFEST_LABEL_V3.to_vec(),
            _ => MANIFEST_LABEL_V2.to_vec(),
        };
        put(&mut out, room_id);
        put(&mut out, file_id);
        put(&mut out, &self.document_id);
        out.extend_from_slice(&self.version.to_be_bytes());
        put(&mut out, &self.digest);
        out.extend_from_slice(&self.size.to_be_bytes());
        for part in [
            &self.name,
            &self.media_type,
            &self.org_id,
            &self.sender_user_id,
            &self.device_id,
        ] {
            put(&mut out, part);
        }
        if v3 {
            put(&mut out, &self.classification);
        }
        if v4 {
            put(&mut out, &self.digest_kind);
        }
        out
    }

    /// The kind of `digest`: SHA-256 before version 4; `None` for a kind this SDK does not
    /// know.
    pub(super) fn kind(&self) -> Option<DigestKind> {
        if self.v < MANIFEST_VERSION {
            return Some(DigestKind::Sha256);
        }
        DigestKind::from_wire(&self.digest_kind)
    }
}

/// Why a manifest was not imported (the `reason` of [`ClientEvent::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ManifestRefusal {
    /// Not signed (an earlier SDK's manifest, or a forged one).
    Unsigned,
    /// The signing device is not in the room's MLS tree, or is not the claimed author's.
    UnknownSigner,
    /// The signature does not verify.
    BadSignature,
    /// A version above 1 from someone other than the document's author or provider staff.
    NotPublisher,
    /// A version ahead of the next one (or 0).
    VersionAhead,
    /// This version of the document is already known with another file.
    Conflict,
}

impl ManifestRefusal {
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Unsigned => "manifest_unsigned",
            Self::UnknownSigner => "manifest_unknown_signer",
            Self::BadSignature => "manifest_bad_signature",
            Self::NotPublisher => "manifest_not_publisher",
            Self::VersionAhead => "manifest_version_ahead",
            Self::Conflict => "manifest_conflict",
        }
    }
}

/// A version of a document this device already indexed.
pub(super) struct Known {
    pub(super) file_id: String,
    pub(super) author: String,
    pub(super) digest: String,
    /// The announced classification label (empty: none).
    pub(super) classification: String,
}

/// What a reader knows when it checks a manifest.
pub(super) struct ManifestContext<'a> {
    /// The room's id (signed over).
    pub(super) room_id: &'a str,
    /// The room's current members (from its MLS tree) with their Ed25519 keys.
    pub(super) members: &'a [(CredentialIdentity, Vec<u8>)],
    /// The room's provider organisation, when known.
    pub(super) provider_org: Option<&'a str>,
    /// The versions of the manifest's document in this device's index.
    pub(super) known: &'a BTreeMap<u64, Known>,
    /// The document's current version as the room layer knows it (announcements and history).
    pub(super) room_version: Option<u64>,
}

/// The manifest rule, in one place. A manifest is imported only when:
///
/// 1. it is signed (version 2) by a device that is in the room's MLS tree now, whose
///    credential is the claimed author (org, user, device), and the signature verifies over
///    [`Manifest::signed_bytes`] (room id, file id, document id, version, digest, size, name,
///    media type, author);
/// 2. if this version is already known here (from the room's announcement), it names the
///    same file, author and digest (the announcement wins); otherwise
/// 3. version 1 may come from any member; a version above 1 only from a device of the user who
///    published the document's first known version or from a provider-organisation device
///    (the rule the room layer applies to `Content::Document`); and
/// 4. the version is at most one above the highest version known (here or in the room).
pub(super) fn check_manifest(
    m: &Manifest,
    file_id: &str,
    cx: &ManifestContext<'_>,
) -> Result<(), ManifestRefusal> {
    let signed_version = (m.v == MANIFEST_VERSION && m.kind().is_some())
        || (m.v == MANIFEST_V3 && m.digest_kind.is_empty())
        || (m.v == MANIFEST_V2 && m.classification.is_empty() && m.digest_kind.is_empty());
    if !signed_version || m.signature.is_empty() {
        return Err(ManifestRefusal::Unsigned);
    }
    let (signer, key) = cx
        .members
        .iter()
        .find(|(id, _)| {
            id.device_id == m.device_id && id.user_id == m.sender_user_id && id.org_id == m.org_id
        })
        .ok_or(ManifestRefusal::UnknownSigner)?;
    let signed = m.signed_bytes(cx.room_id, file_id);
    let signature = hex::decode(&m.signature).map_err(|_| ManifestRefusal::BadSignature)?;
    if !verify_signature(key, &signed, &signature) {
        return Err(ManifestRefusal::BadSignature);
    }
    if let Some(k) = cx.known.get(&m.version) {
        return if k.file_id == file_id
            && k.author == m.sender_user_id
            && k.digest == m.digest
            && k.classification == m.classification
        {
            Ok(())
        } else {
            Err(ManifestRefusal::Conflict)
        };
    }
    if m.version == 0 {
        return Err(ManifestRefusal::VersionAhead);
    }
    if m.version > 1 {
        let owner = cx.known.values().next().map(|k| k.author.as_str());
        let staff = cx.provider_org == Some(signer.org_id.as_str());
        if !staff && owner != Some(signer.user_id.as_str()) {
            return Err(ManifestRefusal::NotPublisher);
        }
    }
    let highest = cx
        .known
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0)
        .max(cx.room_version.unwrap_or(0));
    if m.version > highest.saturating_add(1) {
        return Err(ManifestRefusal::VersionAhead);
    }
    Ok(())
}

/// Splits a manifest blob into target file id, wrapped key and sealed manifest.
fn parse_manifest(bytes: &[u8]) -> Option<(String, &[u8], &[u8])> {
    if bytes.len() < 4 + 32 + 2 || &bytes[..4] != MANIFEST_MAGIC {
        return None;
    }
    let file_id = std::str::from_utf8(&bytes[4..36]).ok()?.to_owned();
    let wlen = u16::from_be_bytes([bytes[36], bytes[37]]) as usize;
    let wrapped = bytes.get(38..38 + wlen)?;
    let sealed = bytes.get(38 + wlen..)?;
    Some((file_id, wrapped, sealed))
}

/// A manifest read and opened, waiting for its turn to be checked and imported.
struct Opened {
    manifest_id: String,
    file_id: String,
    key: format::FileKey,
    manifest: Manifest,
}

impl SealroomClient {
    /// Brings the space's file index up to date with the relay: reads the manifests of files
    /// this device does not know yet (documents posted before it joined, opened with the
    /// room's history keys) or knows without a name, and drops files whose blobs are gone.
    /// Manifests are checked by [`check_manifest`] in document and version order; refused ones
    /// are never imported and come back as [`ClientEvent::Refused`]. Returns the events for
    /// files that became known and for refused manifests.
    pub async fn refresh_files(&self, space_id: &str) -> Result<Vec<ClientEvent>, ClientError> {
        let mut events = Vec::new();
        let records: Vec<RoomRecord> = self
            .room_records()?
            .into_iter()
            .filter(|r| r.space_id == space_id && !r.removed)
            .collect();
        for record in records {
            let list: BlobList = self
                .signed_json(Call::get(format!("/v1/rooms/{}/blobs", record.relay_id)))
                .await?;
            let present: std::collections::BTreeSet<&str> =
                list.blobs.iter().map(|b| b.blob_id.as_str()).collect();
            // Drop index entries of deleted files.
            let stale = self.with(|r| {
                let mut writes = Vec::new();
                for key in r.rooms.app_keys(&format!("{INDEX_PREFIX}{space_id}/"))? {
                    let Some(bytes) = r.rooms.app_get(&key)? else {
                        continue;
                    };
                    let f: FileVersion = from_json(&bytes)?;
                    if f.internal == record.internal && !present.contains(f.file_id.as_str()) {
                        writes.push((key, None));
                        writes.push((key_key(&f.file_id), None));
                    }
                }
                Ok(writes)
            })?;
            if !stale.is_empty() {
                self.with(|r| Ok(r.rooms.app_commit(stale)?))?;
            }
            let mut opened = Vec::new();
            for blob in &list.blobs {
                if !blob.complete || blob.length > MANIFEST_MAX {
                    continue;
                }
                let seen = self.with(|r| {
                    Ok(r.rooms
                        .app_get(&format!("{MANIFEST_SEEN_PREFIX}{}", blob.blob_id))?
                        .is_some())
                })?;
                if seen {
                    continue;
                }
                let bytes = match self.get_range(&record.relay_id, &blob.blob_id, None).await {
                    Ok(bytes) => bytes,
                    // A held file (manifests are never held): not for this device yet.
                    Err(ClientError::Relay {
                        status: 403, code, ..
                    }) if code == "awaiting_release" => continue,
                    Err(e) => return Err(e),
                };
                if let Some(o) = self.open_manifest(&record, &blob.blob_id, &bytes)? {
                    opened.push(o);
                }
            }
            // Version order, so that a document's versions are checked one after the other.
            opened.sort_by(|a, b| {
                (&a.manifest.document_id, a.manifest.version)
                    .cmp(&(&b.manifest.document_id, b.manifest.version))
            });
            for o in opened {
                if let Some(ev) = self.import_manifest(&record, o)? {
                    events.push(ev);
                }
            }
        }
        Ok(events)
    }

    /// Completes the index entries of the files that `events` announce (`NewFile`,
    /// `NewVersion` from [`SealroomClient::sync`]): the announcement carries the file key and
    /// digest, the manifest blob beside the file carries its name, media type and size. Each
    /// manifest is fetched, opened and checked like [`SealroomClient::refresh_files`] does
    /// (signature, the announcement's file, author and digest, and here also the announced
    /// file key); a refused one comes back as [`ClientEvent::Refused`] and leaves the entry as
    /// announced. A manifest the relay cannot serve now (network, not found) leaves the entry
    /// as announced too: [`SealroomClient::refresh_files`] completes it later.
    pub(in crate::client) async fn complete_new_files(
        &self,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let announced: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::NewFile {
                    space_id, file_id, ..
                }
                | ClientEvent::NewVersion {
                    space_id, file_id, ..
                } => Some((space_id.clone(), file_id.clone())),
                _ => None,
            })
            .collect();
        for (space_id, file_id) in announced {
            let Ok(rec) = self.key_record(&space_id, &file_id) else {
                continue;
            };
            if rec.manifest_id.is_empty() {
                continue;
            }
            let record = match self.with(|r| super::super::load_record(&r.rooms, &rec.relay_id)) {
                Ok(record) => record,
                Err(ClientError::Unknown { .. }) => continue,
                Err(e) => return Err(e),
            };
            let bytes = match self.get_range(&rec.relay_id, &rec.manifest_id, None).await {
                Ok(bytes) => bytes,
                Err(e @ (ClientError::State(_) | ClientError::Room(_))) => return Err(e),
                Err(_) => continue,
            };
            let Some(opened) = self.open_manifest(&record, &rec.manifest_id, &bytes)? else {
                continue;
            };
            let announced_key = hex32(&rec.key)?;
            let same_key: bool = opened.key.expose_bytes().ct_eq(&announced_key).into();
            if opened.file_id != file_id || !same_key {
                self.mark_seen(&rec.manifest_id)?;
                events.push(ClientEvent::Refused {
                    space_id: record.space_id.clone(),
                    room: record.relay_id.clone(),
                    sender: format!(
                        "{}/{}",
                        opened.manifest.sender_user_id, opened.manifest.device_id
                    ),
                    reason: ManifestRefusal::Conflict.code().to_owned(),
                });
                continue;
            }
            if let Some(ev) = self.import_manifest(&record, opened)? {
                events.push(ev);
            }
        }
        Ok(())
    }

    fn mark_seen(&self, manifest_id: &str) -> Result<(), ClientError> {
        self.with(|r| {
            Ok(r.rooms.app_commit(vec![(
                format!("{MANIFEST_SEEN_PREFIX}{manifest_id}"),
                Some(Vec::new()),
            )])?)
        })
    }

    /// Unwraps and opens one manifest blob; unusable blobs (not a manifest, does not open) are
    /// remembered as seen and skipped; one whose key this device lacks stays unseen (history
    /// keys may still arrive).
    fn open_manifest(
        &self,
        record: &RoomRecord,
        manifest_id: &str,
        bytes: &[u8],
    ) -> Result<Option<Opened>, ClientError> {
        let Some((file_id, wrapped, sealed)) = parse_manifest(bytes) else {
            self.mark_seen(manifest_id)?;
            return Ok(None);
        };
        let room_id = record.core_id()?;
        let unwrapped =
            self.with(
                |r| match r.rooms.unwrap_file_key(&room_id, &file_id, wrapped) {
                    Ok(k) => Ok(Some(k)),
                    Err(RoomError::KeyUnavailable | RoomError::Decrypt) => Ok(None),
                    Err(e) => Err(e.into()),
                },
            )?;
        let Some(room_key) = unwrapped else {
            return Ok(None);
        };
        let key = format::FileKey::from_bytes(room_key.expose_bytes());
        let manifest: Option<Manifest> = match format::open(&key, sealed) {
            Ok((_, json)) => {
                let json = Zeroizing::new(json);
                serde_json::from_slice(&json).ok()
            }
            Err(_) => None,
        };
        let Some(manifest) = manifest else {
            self.mark_seen(manifest_id)?;
            return Ok(None);
        };
        Ok(Some(Opened {
            manifest_id: manifest_id.to_owned(),
            file_id,
            key,
            manifest,
        }))
    }

    /// What [`check_manifest`] needs to know about `document_id` in `record`'s room.
    fn known_versions(
        &self,
        record: &RoomRecord,
        document_id: &str,
    ) -> Result<BTreeMap<u64, Known>, ClientError> {
        self.with(|r| {
            let mut known = BTreeMap::new();
            let prefix = format!("{INDEX_PREFIX}{}/{document_id}/", record.space_id);
            for key in r.rooms.app_keys(&prefix)? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    let f: FileVersion = from_json(&bytes)?;
                    if f.document_id == document_id && f.internal == record.internal {
                        known.insert(
                            f.version,
                            Known {
                                file_id: f.file_id,
                                author: f.sender_user_id,
                                digest: f.digest,
                                classification: f
                                    .classification
                                    .map(|c| c.as_str().to_owned())
                                    .unwrap_or_default(),
                            },
                        );
                    }
                }
            }
            Ok(known)
        })
    }

    /// Checks one opened manifest ([`check_manifest`]) and imports it, or refuses it.
    fn import_manifest(
        &self,
        record: &RoomRecord,
        opened: Opened,
    ) -> Result<Option<ClientEvent>, ClientError> {
        let Opened {
            manifest_id,
            file_id,
            key,
            manifest,
        } = opened;
        let room_id = record.core_id()?;
        let known = self.known_versions(record, &manifest.document_id)?;
        let (members, room_version) = self.with(|r| {
            Ok((
                r.rooms.members(&room_id)?,
                r.rooms.document_version(&room_id, &manifest.document_id)?,
            ))
        })?;
        let provider_org = self.provider_org(&room_id)?;
        let cx = ManifestContext {
            room_id: room_id.as_str(),
            members: &members,
            provider_org: provider_org.as_deref(),
            known: &known,
            room_version,
        };
        if let Err(refusal) = check_manifest(&manifest, &file_id, &cx) {
            self.mark_seen(&manifest_id)?;
            return Ok(Some(ClientEvent::Refused {
                space_id: record.space_id.clone(),
                room: record.relay_id.clone(),
                sender: format!("{}/{}", manifest.sender_user_id, manifest.device_id),
                reason: refusal.code().to_owned(),
            }));
        }
        let is_new = !known.contains_key(&manifest.version);
        // The time the announcement reached the relay, learnt at sync, is kept.
        let index = index_key(&record.space_id, &manifest.document_id, manifest.version);
        let received_at = self.with(|r| match r.rooms.app_get(&index)? {
            Some(bytes) => Ok(from_json::<FileVersion>(&bytes)?.received_at),
            None => Ok(None),
        })?;
        let entry = FileVersion {
            space_id: record.space_id.clone(),
            internal: record.internal,
            document_id: manifest.document_id.clone(),
            version: manifest.version,
            file_id: file_id.clone(),
            name: manifest.name.clone(),
            media_type: manifest.media_type.clone(),
            size: manifest.size,
            digest: manifest.digest.clone(),
            sender_user_id: manifest.sender_user_id.clone(),
            latest: false,
            classification: (!manifest.classification.is_empty())
                .then(|| Classification::from_wire(&manifest.classification)),
            access: FileAccess::Open,
            released_by: Vec::new(),
            scan: ScanState::default(),
            received_at,
        };
        let key_record = KeyRecord {
            key: hex::encode(key.expose_bytes()),
            relay_id: record.relay_id.clone(),
            space_id: record.space_id.clone(),
            manifest_id: manifest_id.clone(),
            digest_kind: manifest.kind().map(|k| k.wire().to_owned()),
        };
        let writes = vec![
            (index, Some(to_json(&entry)?)),
            (key_key(&file_id), Some(to_json(&key_record)?)),
            (
                format!("{MANIFEST_SEEN_PREFIX}{manifest_id}"),
                Some(Vec::new()),
            ),
        ];
        self.with(|r| Ok(r.rooms.app_commit(writes)?))?;
        Ok(is_new.then(|| {
            ClientEvent::file(
                &record.space_id,
                file_id,
                manifest.document_id,
                manifest.version,
            )
        }))
    }

    /// The room's provider organisation as the MLS group itself states it (its GroupContext
    /// extension, `room::Client::room_members`); `None` for rooms without it.
    pub(super) fn provider_org(&self, room_id: &RoomId) -> Result<Option<String>, ClientError> {
        self.with(|r| Ok(r.rooms.room_members(room_id)?.provider_org))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DeviceIdentity;

    const ROOM: &str = "space1.customer.00112233445566778899aabbccddeeff";
    const FILE: &str = "0123456789abcdef0123456789abcdef";

    fn device(org: &str, user: &str, dev: &str) -> DeviceIdentity {
        DeviceIdentity::generate(CredentialIdentity::new(org, user, dev).unwrap())
    }

    fn signed(by: &DeviceIdentity, document_id: &str, version: u64) -> Manifest {
        let id = by.identity();
        let mut m = Manifest {
            v: MANIFEST_VERSION,
            document_id: document_id.into(),
            version,
            name: "a.pdf".into(),
            media_type: "application/pdf".into(),
            size: 10,
            digest: "ab".repeat(32),
            sender_user_id: id.user_id.clone(),
            org_id: id.org_id.clone(),
            device_id: id.device_id.clone(),
            signature: String::new(),
            classification: "confidential".into(),
            digest_kind: DigestKind::Pieces.wire().into(),
        };
        m.signature = hex::encode(by.sign(&m.signed_bytes(ROOM, FILE)));
        m
    }

    fn member(d: &DeviceIdentity) -> (CredentialIdentity, Vec<u8>) {
        (d.identity().clone(), d.public_key().to_vec())
    }

    fn check(
        m: &Manifest,
        members: &[(CredentialIdentity, Vec<u8>)],
        known: &BTreeMap<u64, Known>,
        room_version: Option<u64>,
    ) -> Result<(), ManifestRefusal> {
        check_manifest(
            m,
            FILE,
            &ManifestContext {
                room_id: ROOM,
                members,
                provider_org: Some("provider"),
                known,
                room_version,
            },
        )
    }

    fn known_v1(author: &str) -> BTreeMap<u64, Known> {
        BTreeMap::from([(
            1,
            Known {
                file_id: "f".repeat(32),
                author: author.into(),
                digest: "cd".repeat(32),
                classification: "confidential".into(),
            },
        )])
    }

    #[test]
    fn the_manifest_rule() {
        let staff = device("provider", "staff", "d1");
        let cara = device("customer", "cara", "d2");
        let mallory = device("customer", "mallory", "d3");
        let members = [member(&staff), member(&cara), member(&mallory)];
        let none = BTreeMap::new();

        // Version 1 from any member, correctly signed.
        assert_eq!(
            check(&signed(&cara, "doc", 1), &members, &none, None),
            Ok(())
        );
        // Unsigned (an earlier SDK's manifest or a forgery).
        let mut m = signed(&cara, "doc", 1);
        m.v = 0;
        assert_eq!(
            check(&m, &members, &none, None),
            Err(ManifestRefusal::Unsigned)
        );
        // Another author claimed: the credential does not match a member.
        let mut m = signed(&mallory, "doc", 1);
        m.sender_user_id = "staff".into();
        assert_eq!(
            check(&m, &members, &none, None),
            Err(ManifestRefusal::UnknownSigner)
        );
        // Another author claimed with that author's device id: the signature fails.
        let mut m = signed(&mallory, "doc", 1);
        m.sender_user_id = "staff".into();
        m.org_id = "provider".into();
        m.device_id = "d1".into();
        assert_eq!(
            check(&m, &members, &none, None),
            Err(ManifestRefusal::BadSignature)
        );
        // Any signed field changed after signing.
        for change in [
            |m: &mut Manifest| m.document_id = "other".into(),
            |m: &mut Manifest| m.version = 2,
            |m: &mut Manifest| m.name = "b.pdf".into(),
            |m: &mut Manifest| m.size = 11,
            |m: &mut Manifest| m.digest = "cd".repeat(32),
            |m: &mut Manifest| m.classification = "public".into(),
            |m: &mut Manifest| m.digest_kind = DigestKind::Sha256.wire().into(),
        ] {
            let mut m = signed(&cara, "doc", 1);
            change(&mut m);
            assert!(check(&m, &members, &known_v1("cara"), Some(1)).is_err());
        }
        // A signer no longer in the tree.
        assert_eq!(
            check(&signed(&cara, "doc", 1), &[member(&staff)], &none, None),
            Err(ManifestRefusal::UnknownSigner)
        );

        // Version 2: the first version's author and provider staff may publish it.
        let known = known_v1("cara");
        assert_eq!(
            check(&signed(&cara, "doc", 2), &members, &known, Some(1)),
            Ok(())
        );
        assert_eq!(
            check(&signed(&staff, "doc", 2), &members, &known, Some(1)),
            Ok(())
        );
        assert_eq!(
            check(&signed(&mallory, "doc", 2), &members, &known, Some(1)),
            Err(ManifestRefusal::NotPublisher)
        );
        // A version ahead of the next one, or 0.
        assert_eq!(
            check(&signed(&cara, "doc", 3), &members, &known, Some(1)),
            Err(ManifestRefusal::VersionAhead)
        );
        assert_eq!(
            check(&signed(&cara, "doc", 3), &members, &known, Some(2)),
            Ok(())
        );
        assert_eq!(
            check(&signed(&cara, "doc", 0), &members, &none, None),
            Err(ManifestRefusal::VersionAhead)
        );
        assert_eq!(
            check(&signed(&staff, "doc", 7), &members, &none, None),
            Err(ManifestRefusal::VersionAhead)
        );
        // A version already known names the same file, author and digest, or is refused.
        assert_eq!(
            check(&signed(&cara, "doc", 1), &members, &known, Some(1)),
            Err(ManifestRefusal::Conflict)
        );
        let same = BTreeMap::from([(
            1,
            Known {
                file_id: FILE.into(),
                author: "cara".into(),
                digest: "ab".repeat(32),
                classification: "confidential".into(),
            },
        )]);
        assert_eq!(
            check(&signed(&cara, "doc", 1), &members, &same, Some(1)),
            Ok(())
        );
        // The announced label must be the signed one.
        let mut other_label = signed(&cara, "doc", 1);
        other_label.classification = "public".into();
        other_label.signature = hex::encode(cara.sign(&other_label.signed_bytes(ROOM, FILE)));
        assert_eq!(
            check(&other_label, &members, &same, Some(1)),
            Err(ManifestRefusal::Conflict)
        );
        // A version 2 manifest (no label in its signature) cannot carry one.
        let mut v2 = signed(&cara, "doc", 1);
        v2.v = 2;
        v2.signature = hex::encode(cara.sign(&v2.signed_bytes(ROOM, FILE)));
        assert_eq!(
            check(&v2, &members, &none, None),
            Err(ManifestRefusal::Unsigned)
        );
        v2.classification.clear();
        v2.digest_kind.clear();
        v2.signature = hex::encode(cara.sign(&v2.signed_bytes(ROOM, FILE)));
        assert_eq!(check(&v2, &members, &none, None), Ok(()));
        assert_eq!(v2.kind(), Some(DigestKind::Sha256));

        // Version 3 (earlier SDKs: a label, SHA-256 of the plaintext) is still read; it cannot
        // name a digest kind, which its signature does not cover.
        let mut v3 = signed(&cara, "doc", 1);
        v3.v = 3;
        v3.signature = hex::encode(cara.sign(&v3.signed_bytes(ROOM, FILE)));
        assert_eq!(
            check(&v3, &members, &none, None),
            Err(ManifestRefusal::Unsigned)
        );
        v3.digest_kind.clear();
        v3.signature = hex::encode(cara.sign(&v3.signed_bytes(ROOM, FILE)));
        assert_eq!(check(&v3, &members, &none, None), Ok(()));
        assert_eq!(v3.kind(), Some(DigestKind::Sha256));
        // Version 4 signs its kind; an unknown kind is not checkable here.
        let v4 = signed(&cara, "doc", 1);
        assert_eq!(v4.kind(), Some(DigestKind::Pieces));
        assert_ne!(v4.signed_bytes(ROOM, FILE), v3.signed_bytes(ROOM, FILE));
        let mut unknown = signed(&cara, "doc", 1);
        unknown.digest_kind = "sha3-pieces".into();
        unknown.signature = hex::encode(cara.sign(&unknown.signed_bytes(ROOM, FILE)));
        assert_eq!(
            check(&unknown, &members, &none, None),
            Err(ManifestRefusal::Unsigned)
        );
    }
}
