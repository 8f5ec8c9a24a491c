//! Room content keys and file-key wrapping.

use openmls::prelude::*;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use std::collections::btree_map::Entry;

use super::content::{DocumentVersion, FileKey, HistoryKeys};
use super::error::mls;
use super::meta::RoomMeta;
use super::policy::{Policy, PolicyViolation};
use super::{Client, Provider, RefusalReason, RoomError, RoomId};
use crate::identity::CredentialIdentity;
use crate::primitives::{hkdf_sha256_key, Aead};

/// MLS exporter label of room content keys.
const CONTENT_KEY_LABEL: &str = "sealroom room content key v1";
/// HKDF info of the file-key wrapping key.
const WRAP_INFO: &[u8] = b"sealroom-file-key-wrap-v1";
const WRAP_MAGIC: &[u8; 4] = b"SRWK";
const WRAP_VERSION: u8 = 1;

impl Client {
    /// Wraps a file key under the newest room content key this device derived itself (at its
    /// join epoch or at a later commit that added or removed members), for storage beside the
    /// file on the relay. Newcomers receive every earlier content key and can unwrap it; devices
    /// removed before the key was created cannot.
    pub fn wrap_file_key(
        &self,
        room_id: &RoomId,
        file_id: &str,
        file_key: &FileKey,
    ) -> Result<Vec<u8>, RoomError> {
        let room = self.room(room_id)?;
        if room.meta.removed {
            return Err(RoomError::Removed);
        }
        // The newest key this device derived itself: keys received from others are only for
        // opening older files.
        let epoch = room
            .meta
            .own_keys
            .iter()
            .next_back()
            .ok_or(RoomError::HistoryPending)?;
        let key = room.meta.keys.get(epoch).ok_or(RoomError::HistoryPending)?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let cipher = wrap_cipher(key);
        let mut header = WRAP_MAGIC.to_vec();
        header.push(WRAP_VERSION);
        header.extend_from_slice(&epoch.to_be_bytes());
        header.extend_from_slice(&nonce);
        let ct = cipher
            .seal(
                &nonce,
                &wrap_aad(&header, room_id, file_id),
                file_key.as_bytes(),
            )
            .map_err(|_| RoomError::Mls("aead".into()))?;
        header.extend_from_slice(&ct);
        Ok(header)
    }

    /// Unwraps a file key produced by [`Client::wrap_file_key`] in this room.
    pub fn unwrap_file_key(
        &self,
        room_id: &RoomId,
        file_id: &str,
        wrapped: &[u8],
    ) -> Result<FileKey, RoomError> {
        let room = self.room(room_id)?;
        if wrapped.len() != 4 + 1 + 8 + 12 + 32 + 16 || &wrapped[..4] != WRAP_MAGIC {
            return Err(RoomError::Decrypt);
        }
        match wrapped[4] {
            WRAP_VERSION => {}
            _ => return Err(RoomError::UnsupportedVersion),
        }
        let mut e = [0u8; 8];
        e.copy_from_slice(&wrapped[5..13]);
        let epoch = u64::from_be_bytes(e);
        let key = room
            .meta
            .keys
            .get(&epoch)
            .ok_or(RoomError::KeyUnavailable)?;
        let (header, sealed) = wrapped.split_at(25);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&header[13..]);
        let pt = wrap_cipher(key)
            .open(&nonce, &wrap_aad(header, room_id, file_id), sealed)
            .map_err(|_| RoomError::Decrypt)?;
        let pt = Zeroizing::new(pt);
        let mut k = [0u8; 32];
        k.copy_from_slice(&pt);
        Ok(FileKey::from_bytes(k))
    }
}

pub(super) fn derive_content_key(
    group: &MlsGroup,
    provider: &Provider,
    room_id: &RoomId,
) -> Result<Zeroizing<[u8; 32]>, RoomError> {
    let mut context = room_id.as_str().as_bytes().to_vec();
    context.extend_from_slice(&group.epoch().as_u64().to_be_bytes());
    let secret = Zeroizing::new(
        group
            .export_secret(provider.crypto(), CONTENT_KEY_LABEL, &context, 32)
            .map_err(mls)?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&secret);
    Ok(key)
}

fn wrap_cipher(key: &[u8; 32]) -> Aead {
    // An empty salt is HKDF's default of 32 zero bytes.
    Aead::new(&hkdf_sha256_key(&[], key, WRAP_INFO))
}

fn wrap_aad(header: &[u8], room_id: &RoomId, file_id: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    for part in [room_id.as_str().as_bytes(), file_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// Takes the history keys of `h` from `sender` (signature key `sender_key`): only from the
/// device that added this one, only once, and only keys of epochs before this device's join
/// epoch. Returns the number of content keys now known.
pub(super) fn accept_history(
    meta: &mut RoomMeta,
    sender: &CredentialIdentity,
    sender_key: &[u8],
    h: HistoryKeys,
) -> Result<usize, RefusalReason> {
    let from_adder = meta
        .adder
        .as_ref()
        .is_some_and(|a| a.identity == sender.to_bytes() && a.signature_key == sender_key);
    if !from_adder || meta.adder_history {
        return Err(RefusalReason::HistoryNotFromAdder);
    }
    let join_epoch = meta.join_epoch.ok_or(RefusalReason::HistoryNotFromAdder)?;
    if h.keys.iter().any(|(e, _)| *e >= join_epoch) {
        return Err(RefusalReason::HistoryFutureEpoch);
    }
    for (e, k) in h.keys {
        if let Entry::Vacant(v) = meta.keys.entry(e) {
            v.insert(k);
        }
    }
    // Document versions from the adder only fill documents this device knows nothing of; they
    // never move a known document. Their first publisher is unknown here, so only provider
    // devices may publish the next version of such a document.
    for (doc, v) in h.documents {
        meta.documents.entry(doc).or_insert(v);
    }
    meta.adder_history = true;
    meta.history = true;
    Ok(meta.keys.len())
}

/// Checks that `d` is the next version of its document and that `author` may publish it.
pub(super) fn check_version(
    meta: &RoomMeta,
    policy: &Policy<'_>,
    author: &CredentialIdentity,
    d: &DocumentVersion,
) -> Result<(), RoomError> {
    let current = meta.documents.get(&d.document_id).copied().unwrap_or(0);
    if Some(d.version) != current.checked_add(1) {
        return Err(RoomError::DocumentRollback {
            document_id: d.document_id.clone(),
            current,
            offered: d.version,
        });
    }
    if d.version > 1
        && !meta.foreign
        && !policy.is_provider(author)
        && meta.doc_owners.get(&d.document_id) != Some(&author.user_id)
    {
        return Err(RoomError::Policy(PolicyViolation::NotDocumentOwner));
    }
    Ok(())
}

/// Records an accepted document version (and its publisher, for version 1).
pub(super) fn record_version(
    meta: &mut RoomMeta,
    author: &CredentialIdentity,
    d: &DocumentVersion,
) {
    meta.documents.insert(d.document_id.clone(), d.version);
    if d.version == 1 {
        meta.doc_owners
            .insert(d.document_id.clone(), author.user_id.clone());
    }
}
