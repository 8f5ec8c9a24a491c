//! Room content keys and file-key wrapping.

use openmls::prelude::*;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use super::content::FileKey;
use super::error::mls;
use super::{Client, Provider, RoomError, RoomId};
use crate::primitives::{hkdf_sha256_key, Aead};

/// MLS exporter label of room content keys.
const CONTENT_KEY_LABEL: &str = "sealroom room content key v1";
/// HKDF info of the file-key wrapping key.
const WRAP_INFO: &[u8] = b"sealroom-file-key-wrap-v1";
const WRAP_MAGIC: &[u8; 4] = b"SRWK";
const WRAP_VERSION: u8 = 1;

impl Client {
    /// Wraps a file key under the room's current content key, for storage beside the file on
    /// the relay. Newcomers receive every content key and can unwrap it; devices removed before
    /// the key was created cannot.
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
        let (epoch, key) = room
            .meta
            .keys
            .iter()
            .next_back()
            .ok_or(RoomError::HistoryPending)?;
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
