//! MLS side of a registered device (its MLS signature key is the device's registered key).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Ciphersuite, CredentialWithKey, KeyPackage, MlsGroup, MlsGroupCreateConfig,
    MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, OpenMlsProvider as _, SignatureScheme,
    StagedWelcome, MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::json;

use sealroom_tests::relay::{Client, Device};
use sealroom_wire::CredentialIdentity;

use crate::*;

pub(crate) struct MlsDevice {
    pub(crate) device: Device,
    pub(crate) provider: OpenMlsRustCrypto,
    pub(crate) signer: SignatureKeyPair,
    pub(crate) credential: CredentialWithKey,
}

/// The relay's ciphersuite.
pub(crate) fn suite() -> Ciphersuite {
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
}

/// Commits as PublicMessages (the relay reads them), application messages encrypted.
pub(crate) fn group_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(suite())
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

pub(crate) fn bytes(message: &MlsMessageOut) -> Res<Vec<u8>> {
    Ok(message.tls_serialize_detached()?)
}

pub(crate) fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

pub(crate) fn unb64(text: &str) -> Res<Vec<u8>> {
    Ok(B64.decode(text)?)
}

impl MlsDevice {
    pub(crate) fn new(device: &Device) -> Res<Self> {
        let provider = OpenMlsRustCrypto::default();
        let public = device.key.verifying_key().to_bytes().to_vec();
        let signer = SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            device.key.to_bytes().to_vec(),
            public.clone(),
        );
        signer.store(provider.storage())?;
        let id = CredentialIdentity::new(&device.org_id, &device.user_id, &device.device_id)
            .map_err(|e| format!("credential identity: {e:?}"))?;
        let credential = CredentialWithKey {
            credential: BasicCredential::new(id.to_bytes()).into(),
            signature_key: public.into(),
        };
        Ok(Self {
            device: device.clone(),
            provider,
            signer,
            credential,
        })
    }

    /// `POST /v1/keypackages` with one fresh key package.
    pub(crate) fn upload_key_package(&self, client: &Client) -> Res<()> {
        let bundle = KeyPackage::builder().build(
            suite(),
            &self.provider,
            &self.signer,
            self.credential.clone(),
        )?;
        let kp = bytes(&MlsMessageOut::from(bundle.key_package().clone()))?;
        let r = client.post_json("/v1/keypackages", &json!({ "key_packages": [b64(&kp)] }));
        if r.status != 200 {
            return Err(format!("upload key package: {} {}", r.status, r.text()).into());
        }
        Ok(())
    }

    /// Creates a group and registers it as a room in `space_id`; returns the room id.
    pub(crate) fn create_room(&self, client: &Client, space_id: &str) -> Res<(MlsGroup, String)> {
        let group = MlsGroup::new(
            &self.provider,
            &self.signer,
            &group_config(),
            self.credential.clone(),
        )?;
        let info = group.export_group_info(self.provider.crypto(), &self.signer, false)?;
        let tree = group.export_ratchet_tree().tls_serialize_detached()?;
        let body = json!({
            "space_id": space_id,
            "group_info": b64(&bytes(&info)?),
            "ratchet_tree": b64(&tree),
        });
        let r = client.post_json("/v1/rooms", &body);
        if r.status != 201 {
            return Err(format!("create room: {} {}", r.status, r.text()).into());
        }
        let room = r.json()["room_id"].as_str().ok_or("no room_id")?.to_owned();
        Ok((group, room))
    }

    /// Joins from a base64 welcome fetched from the mailbox.
    pub(crate) fn join(&self, welcome_b64: &str) -> Res<MlsGroup> {
        let welcome = match MlsMessageIn::tls_deserialize_exact(unb64(welcome_b64)?)?.extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => return Err("not a welcome".into()),
        };
        let staged = StagedWelcome::new_from_welcome(
            &self.provider,
            group_config().join_config(),
            welcome,
            None,
        )?;
        Ok(staged.into_group(&self.provider)?)
    }
}

// ---------------------------------------------------------------------------------------------
