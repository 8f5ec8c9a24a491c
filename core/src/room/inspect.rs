//! Read-only views of a room, and the test-vector entry points.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;

use super::error::mls;
use super::{identity_of, Client, RoomError, RoomId};
use crate::identity::CredentialIdentity;
use crate::state::Batch;

impl Client {
    // ----- inspection ---------------------------------------------------------------------

    /// The room's current epoch.
    pub fn epoch(&self, room_id: &RoomId) -> Result<u64, RoomError> {
        Ok(self.room(room_id)?.group.epoch().as_u64())
    }

    /// The room's epoch authenticator (equal on all members in the same epoch).
    pub fn epoch_authenticator(&self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        Ok(self
            .room(room_id)?
            .group
            .epoch_authenticator()
            .as_slice()
            .to_vec())
    }

    /// The room's member devices with their Ed25519 keys.
    pub fn members(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<(CredentialIdentity, Vec<u8>)>, RoomError> {
        Ok(self
            .room(room_id)?
            .group
            .members()
            .filter_map(|m| identity_of(&m.credential).map(|id| (id, m.signature_key)))
            .collect())
    }

    /// Whether this device was removed from the room.
    pub fn is_removed(&self, room_id: &RoomId) -> Result<bool, RoomError> {
        Ok(self.room(room_id)?.meta.removed)
    }

    /// Whether a commit of this device awaits confirmation.
    pub fn has_pending_commit(&self, room_id: &RoomId) -> Result<bool, RoomError> {
        Ok(self.room(room_id)?.meta.pending.is_some())
    }

    /// Number of room content keys this device holds.
    pub fn content_key_count(&self, room_id: &RoomId) -> Result<usize, RoomError> {
        Ok(self.room(room_id)?.meta.keys.len())
    }

    /// The highest version seen of a document.
    pub fn document_version(
        &self,
        room_id: &RoomId,
        document_id: &str,
    ) -> Result<Option<u64>, RoomError> {
        Ok(self.room(room_id)?.meta.documents.get(document_id).copied())
    }

    /// The current GroupInfo (with ratchet tree, without `external_pub`) of a room, for a
    /// relay that lost it.
    pub fn group_info(&self, room_id: &RoomId) -> Result<Vec<u8>, RoomError> {
        self.export_group_info(&self.room(room_id)?.group)
    }

    #[doc(hidden)]
    /// Test-vector entry: stores an externally generated key package with its private keys
    /// (`init_priv`, `encryption_priv`), as a passive client in the MLS interop vectors does.
    pub fn inject_key_package_for_vectors(
        &mut self,
        key_package: &[u8],
        init_priv: &[u8],
        encryption_priv: &[u8],
    ) -> Result<(), RoomError> {
        use openmls_traits::storage::StorageProvider as _;
        let msg = MlsMessageIn::tls_deserialize_exact(key_package)
            .map_err(|_| RoomError::InvalidKeyPackage)?;
        let MlsMessageBodyIn::KeyPackage(kp) = msg.extract() else {
            return Err(RoomError::InvalidKeyPackage);
        };
        // Some vectors carry key packages whose lifetime has long expired: openmls's own
        // passive-client test converts them without validation, which we mirror via serde.
        let kp = match kp
            .clone()
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
        {
            Ok(kp) => kp,
            Err(_) => serde_json::to_value(&kp)
                .and_then(serde_json::from_value::<KeyPackage>)
                .map_err(|_| RoomError::InvalidKeyPackage)?,
        };
        let bundle_json = serde_json::json!({
            "key_package": serde_json::to_value(&kp).map_err(mls)?,
            // Serde shapes of openmls's HpkePrivateKey ({"vec": bytes}) and EncryptionPrivateKey.
            "private_init_key": { "vec": init_priv },
            "private_encryption_key": { "key": { "vec": encryption_priv } },
        });
        let bundle: KeyPackageBundle = serde_json::from_value(bundle_json).map_err(mls)?;
        let hash_ref = kp.hash_ref(self.provider.crypto()).map_err(mls)?;
        self.provider
            .storage
            .write_key_package(&hash_ref, &bundle)
            .map_err(mls)?;
        self.persist(&[], Batch::new())
    }

    #[doc(hidden)]
    /// Test-vector entry: stores an external pre-shared key (the vectors' `external_psks`).
    pub fn inject_external_psk_for_vectors(
        &mut self,
        psk_id: &[u8],
        psk: &[u8],
    ) -> Result<(), RoomError> {
        openmls::schedule::psk::PreSharedKeyId::external(psk_id.to_vec(), Vec::new())
            .store(&self.provider, psk)
            .map_err(mls)?;
        self.persist(&[], Batch::new())
    }
}
