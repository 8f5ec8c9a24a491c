//! Test-vector entry points (feature `test-vectors`, enabled only by tests): what a passive
//! client of the MLS working-group interop vectors needs and the shipped API never offers.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;

use super::error::mls;
use super::{Client, Joined, RoomError};
use crate::state::Batch;

impl Client {
    /// Test-vector entry (feature `test-vectors`, enabled only by tests): join with an
    /// optional separately delivered ratchet tree and without leaf lifetime checks (vectors
    /// carry expired lifetimes). Not in the shipped API.
    pub fn join_for_vectors(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> Result<Joined, RoomError> {
        self.join_with(welcome, ratchet_tree, true, |_| Ok(Batch::new()))
    }

    /// Test-vector entry (feature `test-vectors`, enabled only by tests): stores an
    /// externally generated key package with its private keys (`init_priv`,
    /// `encryption_priv`), as a passive client in the MLS interop vectors does.
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

    /// Test-vector entry (feature `test-vectors`, enabled only by tests): stores an external
    /// pre-shared key (the vectors' `external_psks`).
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
