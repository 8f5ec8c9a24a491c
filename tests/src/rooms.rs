//! Helpers for the room and blob end-to-end tests: an openmls client per registered device
//! (its MLS signature key is the device's registered Ed25519 key) and JSON/base64 plumbing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};

use sealroom_wire::CredentialIdentity;

use crate::relay::{Client, Device};

/// One device's MLS side.
pub struct MlsDevice {
    /// The registered device.
    pub device: Device,
    /// Its openmls provider.
    pub provider: OpenMlsRustCrypto,
    /// Its MLS signer (the registered key).
    pub signer: SignatureKeyPair,
    /// Its credential.
    pub credential: CredentialWithKey,
}

/// The relay's ciphersuite.
pub fn suite() -> Ciphersuite {
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
}

/// Commits and proposals as PublicMessages, application messages encrypted.
pub fn group_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(suite())
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

/// TLS bytes of an outgoing MLS message.
pub fn bytes(message: &MlsMessageOut) -> Vec<u8> {
    message.tls_serialize_detached().unwrap()
}

/// Base64 of bytes.
pub fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Bytes of base64.
pub fn unb64(text: &str) -> Vec<u8> {
    B64.decode(text).unwrap()
}

impl MlsDevice {
    /// The MLS side of a registered device.
    pub fn new(device: &Device) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let public = device.key.verifying_key().to_bytes().to_vec();
        let signer = SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            device.key.to_bytes().to_vec(),
            public.clone(),
        );
        signer.store(provider.storage()).unwrap();
        let id =
            CredentialIdentity::new(&device.org_id, &device.user_id, &device.device_id).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(id.to_bytes()).into(),
            signature_key: public.into(),
        };
        Self {
            device: device.clone(),
            provider,
            signer,
            credential,
        }
    }

    /// A fresh key package as an `MLSMessage`.
    pub fn key_package(&self) -> Vec<u8> {
        let bundle = KeyPackage::builder()
            .build(
                suite(),
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .unwrap();
        bytes(&MlsMessageOut::from(bundle.key_package().clone()))
    }

    /// Creates a group with a random id.
    pub fn create_group(&self) -> MlsGroup {
        MlsGroup::new(
            &self.provider,
            &self.signer,
            &group_config(),
            self.credential.clone(),
        )
        .unwrap()
    }

    /// The `POST /v1/rooms` body for `group`.
    pub fn create_room_body(&self, group: &MlsGroup, space_id: &str) -> Value {
        let info = group
            .export_group_info(self.provider.crypto(), &self.signer, false)
            .unwrap();
        let tree = group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .unwrap();
        json!({ "space_id": space_id, "group_info": b64(&bytes(&info)), "ratchet_tree": b64(&tree) })
    }

    /// Joins from a base64 welcome fetched from the mailbox.
    pub fn join(&self, welcome_b64: &str) -> MlsGroup {
        let welcome = match MlsMessageIn::tls_deserialize_exact(unb64(welcome_b64))
            .unwrap()
            .extract()
        {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => panic!("not a welcome"),
        };
        StagedWelcome::new_from_welcome(&self.provider, group_config().join_config(), welcome, None)
            .unwrap()
            .into_group(&self.provider)
            .unwrap()
    }

    /// Processes a handshake from the log and merges it when it is a commit.
    pub fn apply(&self, group: &mut MlsGroup, message_b64: &str) {
        let message = MlsMessageIn::tls_deserialize_exact(unb64(message_b64)).unwrap();
        let processed = group
            .process_message(&self.provider, message.try_into_protocol_message().unwrap())
            .unwrap();
        match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                group.merge_staged_commit(&self.provider, *staged).unwrap()
            }
            ProcessedMessageContent::ProposalMessage(p) => group
                .store_pending_proposal(self.provider.storage(), *p)
                .unwrap(),
            _ => panic!("unexpected handshake content"),
        }
    }
}

/// Decodes an `MLSMessage` carrying a key package (as uploaded or claimed) and validates it
/// with `provider`'s crypto.
pub fn validated_key_package(provider: &OpenMlsRustCrypto, message: &[u8]) -> KeyPackage {
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(message)
        .unwrap()
        .extract()
    else {
        panic!("not a key package")
    };
    kp.validate(provider.crypto(), ProtocolVersion::Mls10)
        .unwrap()
}

/// `POST /v1/keypackages` with `count` fresh packages.
pub fn upload_key_packages(client: &Client, device: &MlsDevice, count: usize) {
    let packages: Vec<String> = (0..count).map(|_| b64(&device.key_package())).collect();
    let r = client.post_json("/v1/keypackages", &json!({ "key_packages": packages }));
    assert_eq!(r.status, 200, "upload key packages: {}", r.text());
}

/// The leaf capability every member of an SDK room must list (core's
/// `room::policy::PROVIDER_EXTENSION`).
pub const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// Uploads three key packages of a raw device with the capabilities a Sealroom room requires,
/// so an SDK client admits the device.
pub fn upload_sdk_key_packages(client: &Client, device: &MlsDevice) {
    let packages: Vec<String> = (0..3)
        .map(|_| {
            let bundle = KeyPackage::builder()
                .leaf_node_capabilities(
                    Capabilities::builder()
                        .ciphersuites(vec![suite()])
                        .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
                        .build(),
                )
                .build(
                    suite(),
                    &device.provider,
                    &device.signer,
                    device.credential.clone(),
                )
                .unwrap();
            b64(&bytes(&MlsMessageOut::from(bundle.key_package().clone())))
        })
        .collect();
    let r = client.post_json("/v1/keypackages", &json!({ "key_packages": packages }));
    assert_eq!(r.status, 200, "upload key packages: {}", r.text());
}

/// Posts a handshake; returns the response.
pub fn post_handshake(
    client: &Client,
    room_id: &str,
    message: &MlsMessageOut,
    welcome: Option<&MlsMessageOut>,
) -> crate::relay::Response {
    let mut body = json!({ "message": b64(&bytes(message)) });
    if let Some(w) = welcome {
        body["welcome"] = json!(b64(&bytes(w)));
    }
    client.post_json(&format!("/v1/rooms/{room_id}/handshakes"), &body)
}

/// A GroupInfo (with `external_pub`) and ratchet tree of a group a hostile relay makes up: the
/// room's group id (`room_hex`) at `epoch`, one member with a credential of organisation `org_id`
/// and a key the relay holds. The SDK uploads no `external_pub`, so this is how a relay would
/// try an external commit into a real room.
pub fn forged_group_info(
    org_id: &str,
    room_hex: &str,
    epoch: u64,
) -> Result<(VerifiableGroupInfo, RatchetTreeIn), String> {
    fn err(e: impl std::fmt::Debug) -> String {
        format!("forging a GroupInfo: {e:?}")
    }
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).map_err(err)?;
    signer.store(provider.storage()).map_err(err)?;
    let mut ids = [0u8; 32];
    OsRng.fill_bytes(&mut ids);
    let id = CredentialIdentity::new(org_id, &hex::encode(&ids[..16]), &hex::encode(&ids[16..]))
        .map_err(err)?;
    let credential = CredentialWithKey {
        credential: BasicCredential::new(id.to_bytes()).into(),
        signature_key: signer.public().to_vec().into(),
    };
    let group_id = hex::decode(room_hex).map_err(err)?;
    let mut group = MlsGroup::builder()
        .with_group_id(GroupId::from_slice(&group_id))
        .ciphersuite(suite())
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build(&provider, &signer, credential)
        .map_err(err)?;
    for _ in 0..epoch {
        group
            .self_update(&provider, &signer, LeafNodeParameters::default())
            .map_err(err)?;
        group.merge_pending_commit(&provider).map_err(err)?;
    }
    let info = group
        .export_group_info(provider.crypto(), &signer, false)
        .map_err(err)?;
    let info = match MlsMessageIn::tls_deserialize_exact(bytes(&info))
        .map_err(err)?
        .extract()
    {
        MlsMessageBodyIn::GroupInfo(info) => info,
        _ => return Err("the forged GroupInfo does not decode as one".into()),
    };
    let tree = group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .map_err(err)?;
    let tree = RatchetTreeIn::tls_deserialize_exact(tree).map_err(err)?;
    Ok((info, tree))
}
