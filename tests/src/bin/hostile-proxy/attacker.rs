//! The attacker's side: the rules of the hostile relay, and the raw-openmls devices it (or a
//! malicious member) controls. The crafting follows `tests/tests/attack_relay.rs` (attack a)
//! and `tests/tests/attack_member.rs` (attacks c and d).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey};
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use sealroom_core::format::{self, Metadata};
use sealroom_core::primitives::{hkdf_sha256_key, Aead};
use sealroom_core::room::DocumentVersion;
use sealroom_tests::hostile::HostileRelay;
use sealroom_tests::relay::{files_under, read_file, registration, Client, Device};
use sealroom_tests::rooms::{b64, bytes, forged_group_info, group_config, suite, unb64, MlsDevice};

use crate::control::Call;

/// Label of the room content keys and info of the file-key wrap (`docs/format.md`).
const CONTENT_KEY_LABEL: &str = "sealroom room content key v1";
const WRAP_INFO: &[u8] = b"sealroom-file-key-wrap-v1";
/// The GroupContext extension of Sealroom rooms (the provider org) every leaf must support.
const PROVIDER_EXTENSION: u16 = 0xF5A1;

type Storage = <OpenMlsRustCrypto as OpenMlsProvider>::StorageProvider;
type Res = Result<Value, String>;

/// A device the attacker controls, with what it learnt.
struct Mallory {
    mls: MlsDevice,
    /// Its group, once it joined from a Welcome, and the relay's id of that room.
    group: Option<(MlsGroup, String)>,
    /// Every room content key it holds: received as history, derived itself, or made up.
    known: Vec<(u64, [u8; 32])>,
}

/// The proxy, the relay behind it, and the attacker's devices by name.
pub(crate) struct Attacker {
    upstream: SocketAddr,
    proxy: Arc<HostileRelay>,
    devices: HashMap<String, Mallory>,
}

fn text<'a>(body: &'a Value, key: &str) -> Result<&'a str, String> {
    body[key]
        .as_str()
        .ok_or_else(|| format!("missing string \"{key}\""))
}

fn name_of(call: &Call) -> String {
    call.body["name"]
        .as_str()
        .or(call.param("name"))
        .unwrap_or("Mallory")
        .to_owned()
}

impl Attacker {
    pub(crate) fn new(upstream: SocketAddr, proxy: Arc<HostileRelay>) -> Self {
        Self {
            upstream,
            proxy,
            devices: HashMap::new(),
        }
    }

    pub(crate) fn handle(&mut self, call: &Call) -> Res {
        let body = &call.body;
        match (call.method.as_str(), call.path.as_str()) {
            ("POST", "/rules") => {
                self.proxy.add_spec(body)?;
                Ok(json!({}))
            }
            ("DELETE", "/rules") => {
                self.proxy.clear_rules();
                Ok(json!({}))
            }
            ("GET", "/exchanges") => Ok(self.exchanges(
                call.param("method").unwrap_or("*"),
                call.param("path").unwrap_or("/**"),
            )),
            ("GET", "/welcome-recipients") => {
                Ok(json!({ "recipients": self.welcome_recipients() }))
            }
            ("POST", "/mallory") => self.register(&name_of(call), text(body, "token")?),
            ("POST", "/mallory/key-package") => {
                let m = self.device(&name_of(call))?;
                Ok(json!({ "key_package": b64(&sealroom_key_package(&m.mls)) }))
            }
            ("GET", "/mallory/welcomes") => {
                let m = self.device(&name_of(call))?;
                Ok(json!({ "count": self.welcomes(&m.mls)?.len() }))
            }
            ("POST", "/attack/external-proposal") => {
                self.external_proposal(&name_of(call), text(body, "space_id")?)
            }
            ("POST", "/attack/external-commit") => {
                self.external_commit(&name_of(call), text(body, "space_id")?)
            }
            ("POST", "/mallory/join") => self.join(&name_of(call)),
            ("POST", "/mallory/poison") => self.poison(&name_of(call), text(body, "document_id")?),
            ("POST", "/mallory/document") => self.document(
                &name_of(call),
                text(body, "document_id")?,
                // A decimal string carries numbers beyond JavaScript's 2^53.
                body["version"]
                    .as_u64()
                    .or_else(|| body["version"].as_str()?.parse().ok())
                    .ok_or("\"version\" must be a u64 (a number or a decimal string)")?,
                text(body, "file_id")?,
            ),
            ("POST", "/mallory/manifest") => self.manifest(
                &name_of(call),
                &body["claims"],
                body["sign"].as_bool().unwrap_or(false),
            ),
            ("POST", "/mallory/try-unwrap") => self.try_unwrap(
                &name_of(call),
                text(body, "file_id")?,
                Path::new(text(body, "data_dir")?),
            ),
            (m, p) => Err(format!("no control route {m} {p}")),
        }
    }

    fn device(&self, name: &str) -> Result<&Mallory, String> {
        self.devices
            .get(name)
            .ok_or_else(|| format!("no attacker device \"{name}\": POST /mallory first"))
    }

    fn relay(&self, device: &Device) -> Client {
        Client {
            addr: self.upstream,
            device: Some(device.clone()),
        }
    }

    /// What passed through the proxy, in the order it passed.
    fn exchanges(&self, method: &str, pattern: &str) -> Value {
        let list: Vec<Value> = self
            .proxy
            .exchanges_for(method, pattern)
            .into_iter()
            .map(|e| {
                json!({
                    "method": e.request.method,
                    "path": e.request.path,
                    "query": e.request.query,
                    "device": e.request.header("x-sealroom-device"),
                    "request": e.request.json(),
                    "upstream_status": e.upstream.as_ref().map(|r| r.status),
                    "status": e.delivered.as_ref().map(|r| r.status),
                    "response": e.delivered.as_ref().map(|r| r.body_json()),
                })
            })
            .collect();
        json!({ "exchanges": list })
    }

    /// Recipients of every Welcome the victims posted.
    fn welcome_recipients(&self) -> Vec<usize> {
        self.proxy
            .exchanges_for("POST", "/v1/rooms/*/handshakes")
            .iter()
            .filter_map(|e| e.request.json()["welcome"].as_str().map(str::to_owned))
            .filter_map(|w| {
                match MlsMessageIn::tls_deserialize_exact(unb64(&w))
                    .ok()?
                    .extract()
                {
                    MlsMessageBodyIn::Welcome(w) => Some(w.secrets().len()),
                    _ => None,
                }
            })
            .collect()
    }

    /// Registers a device with raw openmls and uploads three Sealroom key packages.
    fn register(&mut self, name: &str, token: &str) -> Res {
        let key = SigningKey::generate(&mut OsRng);
        let anon = Client {
            addr: self.upstream,
            device: None,
        };
        let r = anon.post_json("/v1/register", &registration(token, name, &key));
        if r.status != 201 {
            return Err(format!("register: {} {}", r.status, r.text()));
        }
        let device = Device::from_response(&r.json(), key);
        // A malicious member is a member like any other: its user vouches for its device (an
        // identity key of its own and the device's certificate), so honest clients add it.
        let identity = SigningKey::generate(&mut OsRng);
        let message = sealroom_wire::accounts::device_certificate_message(
            &device.user_id,
            &device.device_id,
            &device.key.verifying_key().to_bytes(),
        );
        let r = self.relay(&device).put_json(
            "/v1/me/identity",
            &json!({
                "public_key": hex::encode(identity.verifying_key().to_bytes()),
                "certificate": hex::encode(identity.sign(&message).to_bytes()),
            }),
        );
        if r.status / 100 != 2 {
            return Err(format!("publish identity: {} {}", r.status, r.text()));
        }
        let mls = MlsDevice::new(&device);
        let packages: Vec<String> = (0..3).map(|_| b64(&sealroom_key_package(&mls))).collect();
        let r = self
            .relay(&device)
            .post_json("/v1/keypackages", &json!({ "key_packages": packages }));
        if r.status != 200 {
            return Err(format!("key packages: {} {}", r.status, r.text()));
        }
        let out = json!({
            "org_id": device.org_id,
            "user_id": device.user_id,
            "device_id": device.device_id,
        });
        self.devices.insert(
            name.to_owned(),
            Mallory {
                mls,
                group: None,
                known: Vec::new(),
            },
        );
        Ok(out)
    }

    fn welcomes(&self, mls: &MlsDevice) -> Result<Vec<Value>, String> {
        let r = self.relay(&mls.device).get("/v1/welcomes");
        if r.status != 200 {
            return Err(format!("welcomes: {} {}", r.status, r.text()));
        }
        Ok(r.json()["entries"].as_array().cloned().unwrap_or_default())
    }

    /// The space's customer room as registered through the proxy: (relay id, registration body).
    fn customer_room(&self, space_id: &str) -> Result<(String, Value), String> {
        for e in self.proxy.exchanges_for("POST", "/v1/rooms") {
            let request = e.request.json();
            if request["space_id"] != json!(space_id) {
                continue;
            }
            let Some(reply) = e.delivered.filter(|r| r.status == 201) else {
                continue;
            };
            let Some(id) = reply.body_json()["room_id"].as_str().map(str::to_owned) else {
                continue;
            };
            let name = hex::decode(&id)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if name.is_some_and(|n| !n.contains(".internal.")) {
                return Ok((id, request));
            }
        }
        Err(format!(
            "no room of space {space_id} was registered through the proxy"
        ))
    }

    /// The room's epoch after the last commit the relay accepted through the proxy.
    fn epoch(&self, room: &str) -> u64 {
        self.proxy
            .exchanges_for("POST", &format!("/v1/rooms/{room}/handshakes"))
            .iter()
            .filter_map(|e| e.upstream.as_ref().filter(|r| r.status == 201))
            .filter_map(|r| r.body_json()["epoch"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// The hostile relay hands `message` to every device that reads `room`'s handshake log,
    /// once per device, when it has nothing newer, as if `sender` had posted it.
    fn inject(&self, room: &str, kind: &'static str, sender: &str, message: &[u8]) {
        self.proxy.inject_handshake(room, kind, sender, message);
    }

    /// Attack a (i): an external join proposal for the attacker's device.
    fn external_proposal(&self, name: &str, space_id: &str) -> Res {
        let m = self.device(name)?;
        let (room, _) = self.customer_room(space_id)?;
        let kp = validated(&m.mls.provider, &sealroom_key_package(&m.mls))?;
        let proposal = JoinProposal::new::<Storage>(
            kp,
            GroupId::from_slice(&hex::decode(&room).map_err(|e| e.to_string())?),
            GroupEpoch::from(self.epoch(&room)),
            &m.mls.signer,
        )
        .map_err(|e| format!("join proposal: {e:?}"))?;
        self.inject(
            &room,
            "proposal",
            &m.mls.device.device_id,
            &bytes(&proposal),
        );
        Ok(json!({ "room": room }))
    }

    /// Attack a (ii): an external commit of the attacker's device. Built from the GroupInfo the
    /// room was registered with when it carries an `external_pub`; the SDK uploads none, so
    /// otherwise from a GroupInfo the relay forges: a group of its own with the room's group id
    /// at the room's epoch, which does carry one. `source` says which.
    fn external_commit(&self, name: &str, space_id: &str) -> Res {
        let m = self.device(name)?;
        let (room, registration) = self.customer_room(space_id)?;
        let (info, tree) = registered_group_info(&registration)?;
        let (commit, source) = match external_commit(m, info, tree)? {
            Some(commit) => (commit, "registered"),
            None => {
                let (info, tree) =
                    forged_group_info(&m.mls.device.org_id, &room, self.epoch(&room))?;
                let commit = external_commit(m, info, tree)?
                    .ok_or("the forged GroupInfo has no external_pub")?;
                (commit, "forged")
            }
        };
        self.inject(&room, "commit", &m.mls.device.device_id, &bytes(&commit));
        Ok(json!({ "room": room, "injected": true, "source": source }))
    }

    fn device_mut(&mut self, name: &str) -> Result<&mut Mallory, String> {
        self.devices
            .get_mut(name)
            .ok_or_else(|| format!("no attacker device \"{name}\": POST /mallory first"))
    }

    /// Joins from the one Welcome in the mailbox and reads the room's messages (the history
    /// keys the adder sent among them).
    fn join(&mut self, name: &str) -> Res {
        let welcomes = self.welcomes(&self.device(name)?.mls)?;
        let [welcome] = welcomes.as_slice() else {
            return Err(format!("{} welcomes, expected one", welcomes.len()));
        };
        let relay_room = text(welcome, "room_id")?.to_owned();
        let upstream = self.upstream;
        let m = self.device_mut(name)?;
        let group = m.mls.join(text(welcome, "welcome")?);
        m.group = Some((group, relay_room));
        let own = m.exporter_key()?;
        m.known.push(own);
        m.read_messages(upstream)?;
        let (group, room) = m.joined()?;
        Ok(json!({
            "room": room,
            "room_id": room_id(group),
            "epoch": group.epoch().as_u64(),
            "known_keys": m.known.len(),
        }))
    }

    /// Attack c: history keys for future epochs, far-future epochs and epochs before anyone
    /// could know them, and `document_id` (plus a made-up document) pushed to `u64::MAX`.
    fn poison(&mut self, name: &str, document_id: &str) -> Res {
        let upstream = self.upstream;
        let m = self.device_mut(name)?;
        let now = m.joined()?.0.epoch().as_u64();
        let mut evil = Vec::new();
        for epoch in [u64::MAX, u64::MAX - 1, now + 1, now + 2, now + 50, 0, now] {
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            m.known.push((epoch, key));
            evil.push(json!([epoch, hex::encode(key)]));
        }
        let history = json!({
            "v": 1,
            "body": {
                "type": "history",
                "keys": evil,
                "documents": [[document_id, u64::MAX], ["doc-from-nowhere", u64::MAX]],
            }
        });
        m.post(upstream, &history)?;
        Ok(json!({ "keys_sent": evil.len() }))
    }

    /// Attack d (room part): a `document` version signed by the attacker's own device key.
    fn document(&mut self, name: &str, document_id: &str, version: u64, file_id: &str) -> Res {
        let upstream = self.upstream;
        let m = self.device_mut(name)?;
        let room = room_id(m.joined()?.0);
        let mut doc = DocumentVersion {
            document_id: document_id.into(),
            version,
            content_digest: Sha256::digest(b"forged content").into(),
            file_id: Some(file_id.into()),
            author_signature: Vec::new(),
            classification: None,
        };
        doc.author_signature = m
            .mls
            .device
            .key
            .sign(&doc.signed_bytes(&room))
            .to_bytes()
            .to_vec();
        let envelope = json!({
            "v": 1,
            "label": "customer",
            "body": {
                "type": "document",
                "document_id": doc.document_id,
                "version": doc.version,
                "content_digest": hex::encode(doc.content_digest),
                "file_id": doc.file_id,
                "author_signature": hex::encode(&doc.author_signature),
            }
        });
        m.post(upstream, &envelope)?;
        Ok(json!({}))
    }

    /// Attack d (manifest part): a sealed file and, beside it, a manifest blob in the SDK's
    /// layout claiming `claims`, its file key wrapped under the newest history key held. With
    /// `sign`, the manifest is in the SDK's signed encoding (v2), signed by the attacker's own
    /// device key: `org_id` and `device_id` default to the attacker's own, so a claimed
    /// author other than the attacker names a device that is not that author's.
    fn manifest(&self, name: &str, claims: &Value, sign: bool) -> Res {
        let m = self.device(name)?;
        let client = self.relay(&m.mls.device);
        let mut file_key = [0u8; 32];
        OsRng.fill_bytes(&mut file_key);
        let key = format::FileKey::from_bytes(file_key);
        let sealed_file = format::seal(&key, &Metadata::default(), &pdf("forged by Mallory"))
            .map_err(|e| e.to_string())?;
        let file_id = m.put_blob(&client, &sealed_file)?;
        let wrapped = m.wrap(&file_id, &file_key)?;
        let mut claims = claims.clone();
        if sign {
            let device = &m.mls.device;
            for (k, v) in [("org_id", &device.org_id), ("device_id", &device.device_id)] {
                if claims.get(k).is_none() {
                    claims[k] = json!(v);
                }
            }
            claims["v"] = json!(2);
            let signed = manifest_signed_bytes(&room_id(m.joined()?.0), &file_id, &claims)?;
            claims["signature"] = json!(hex::encode(device.key.sign(&signed).to_bytes()));
        }
        let sealed_manifest = format::seal(
            &key,
            &Metadata::default(),
            &serde_json::to_vec(&claims).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let mut blob = b"SRMF".to_vec();
        blob.extend_from_slice(file_id.as_bytes());
        blob.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
        blob.extend_from_slice(&wrapped);
        blob.extend_from_slice(&sealed_manifest);
        m.put_blob(&client, &blob)?;
        Ok(json!({ "file_id": file_id }))
    }

    /// Tries every key the attacker holds on the wrapped file key the relay stores for
    /// `file_id` (what a colluding operator hands it), and on the sealed manifest.
    fn try_unwrap(&self, name: &str, file_id: &str, data_dir: &Path) -> Res {
        let m = self.device(name)?;
        let room = room_id(m.joined()?.0);
        let (wrapped, sealed) = stored_manifest(data_dir, file_id)?;
        if wrapped.len() < 25 || &wrapped[..5] != b"SRWK\x01" {
            return Err("the stored wrap is not format v1".into());
        }
        let (header, body) = wrapped.split_at(25);
        let epoch = u64::from_be_bytes(header[5..13].try_into().map_err(|_| "short header")?);
        let nonce: [u8; 12] = header[13..25].try_into().map_err(|_| "short header")?;
        let aad = wrap_aad(header, &room, file_id);
        let opened = m.known.iter().any(|(_, key)| {
            Aead::new(&hkdf_sha256_key(&[], key, WRAP_INFO))
                .open(&nonce, &aad, body)
                .is_ok()
        });
        let sealed_opened = m
            .known
            .iter()
            .any(|(_, key)| format::open(&format::FileKey::from_bytes(*key), &sealed).is_ok());
        Ok(json!({
            "wrap_epoch": epoch,
            "opened": opened,
            "manifest_opened": sealed_opened,
            "keys_tried": m.known.len(),
        }))
    }
}

impl Mallory {
    fn joined(&self) -> Result<(&MlsGroup, &str), String> {
        self.group
            .as_ref()
            .map(|(g, r)| (g, r.as_str()))
            .ok_or_else(|| "the attacker has not joined: POST /mallory/join first".into())
    }

    fn exporter_key(&self) -> Result<(u64, [u8; 32]), String> {
        let (group, _) = self.joined()?;
        let epoch = group.epoch().as_u64();
        let mut context = room_id(group).into_bytes();
        context.extend_from_slice(&epoch.to_be_bytes());
        let secret = group
            .export_secret(self.mls.provider.crypto(), CONTENT_KEY_LABEL, &context, 32)
            .map_err(|e| format!("exporter: {e:?}"))?;
        Ok((epoch, secret.try_into().map_err(|_| "exporter length")?))
    }

    /// Reads the room's message log; keeps the keys of every history envelope it can open.
    fn read_messages(&mut self, upstream: SocketAddr) -> Result<(), String> {
        let client = Client {
            addr: upstream,
            device: Some(self.mls.device.clone()),
        };
        let (group, room) = self.group.as_mut().ok_or("the attacker has not joined")?;
        let r = client.get(&format!("/v1/rooms/{room}/messages?after=0&limit=500"));
        if r.status != 200 {
            return Err(format!("messages: {} {}", r.status, r.text()));
        }
        for entry in r.json()["entries"].as_array().cloned().unwrap_or_default() {
            let Some(raw) = entry["message"].as_str() else {
                continue;
            };
            let Ok(message) = MlsMessageIn::tls_deserialize_exact(unb64(raw)) else {
                continue;
            };
            let Ok(protocol) = message.try_into_protocol_message() else {
                continue;
            };
            // Messages of epochs before its join do not open: skip them.
            let Ok(processed) = group.process_message(&self.mls.provider, protocol) else {
                continue;
            };
            if let ProcessedMessageContent::ApplicationMessage(app) = processed.into_content() {
                let v: Value = serde_json::from_slice(&app.into_bytes()).unwrap_or_default();
                if v["body"]["type"] != "history" {
                    continue;
                }
                for pair in v["body"]["keys"].as_array().cloned().unwrap_or_default() {
                    let key = pair[1]
                        .as_str()
                        .and_then(|k| hex::decode(k).ok())
                        .and_then(|k| <[u8; 32]>::try_from(k).ok());
                    if let (Some(epoch), Some(key)) = (pair[0].as_u64(), key) {
                        self.known.push((epoch, key));
                    }
                }
            }
        }
        Ok(())
    }

    /// Encrypts `envelope` as an MLS application message and posts it to the relay.
    fn post(&mut self, upstream: SocketAddr, envelope: &Value) -> Result<(), String> {
        let client = Client {
            addr: upstream,
            device: Some(self.mls.device.clone()),
        };
        let plain = serde_json::to_vec(envelope).map_err(|e| e.to_string())?;
        let (group, room) = self.group.as_mut().ok_or("the attacker has not joined")?;
        let message = group
            .create_message(&self.mls.provider, &self.mls.signer, &plain)
            .map_err(|e| format!("create message: {e:?}"))?;
        let r = client.post_json(
            &format!("/v1/rooms/{room}/messages"),
            &json!({ "message": b64(&bytes(&message)) }),
        );
        if r.status >= 300 {
            return Err(format!(
                "the relay refused a member's message: {}",
                r.text()
            ));
        }
        Ok(())
    }

    /// Uploads `data` as a complete blob of the room; returns its id.
    fn put_blob(&self, client: &Client, data: &[u8]) -> Result<String, String> {
        let (_, room) = self.joined()?;
        let r = client.post_json(
            &format!("/v1/rooms/{room}/blobs"),
            &json!({ "length": data.len() }),
        );
        if r.status != 201 {
            return Err(format!("blob: {} {}", r.status, r.text()));
        }
        let blob_id = r.json()["blob_id"].as_str().ok_or("no blob_id")?.to_owned();
        let sum = format!("sha256 {}", b64(&Sha256::digest(data)));
        let r = client.request(
            "PATCH",
            &format!("/v1/rooms/{room}/blobs/{blob_id}"),
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "0"),
                ("upload-checksum", &sum),
            ],
            data,
        );
        if r.status >= 300 {
            return Err(format!("blob upload: {} {}", r.status, r.text()));
        }
        Ok(blob_id)
    }

    /// Wraps `file_key` under the newest room content key received as history, in the SDK's
    /// wrap format, for `file_id`.
    fn wrap(&self, file_id: &str, file_key: &[u8; 32]) -> Result<Vec<u8>, String> {
        let (group, _) = self.joined()?;
        let (epoch, key) = self
            .known
            .iter()
            .filter(|(e, _)| *e < group.epoch().as_u64())
            .max_by_key(|(e, _)| *e)
            .copied()
            .ok_or("no history key to wrap under")?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let mut header = b"SRWK".to_vec();
        header.push(1);
        header.extend_from_slice(&epoch.to_be_bytes());
        header.extend_from_slice(&nonce);
        let aad = wrap_aad(&header, &room_id(group), file_id);
        let sealed = Aead::new(&hkdf_sha256_key(&[], &key, WRAP_INFO))
            .seal(&nonce, &aad, file_key)
            .map_err(|_| "wrap failed")?;
        header.extend_from_slice(&sealed);
        Ok(header)
    }
}

/// The GroupInfo and ratchet tree of a `POST /v1/rooms` body.
fn registered_group_info(
    registration: &Value,
) -> Result<(VerifiableGroupInfo, RatchetTreeIn), String> {
    let info = match MlsMessageIn::tls_deserialize_exact(unb64(text(registration, "group_info")?))
        .map_err(|e| e.to_string())?
        .extract()
    {
        MlsMessageBodyIn::GroupInfo(info) => info,
        _ => return Err("the registration holds no GroupInfo".into()),
    };
    let tree = RatchetTreeIn::tls_deserialize_exact(unb64(text(registration, "ratchet_tree")?))
        .map_err(|e| e.to_string())?;
    Ok((info, tree))
}

/// The attacker's external commit on `info` (standalone; its group is dropped), or `None`
/// when `info` has no `external_pub`.
fn external_commit(
    m: &Mallory,
    info: VerifiableGroupInfo,
    tree: RatchetTreeIn,
) -> Result<Option<MlsMessageOut>, String> {
    #[allow(deprecated)]
    let built = MlsGroup::join_by_external_commit(
        &m.mls.provider,
        &m.mls.signer,
        Some(tree),
        info,
        group_config().join_config(),
        None,
        None,
        &[],
        m.mls.credential.clone(),
    );
    match built {
        Ok((_group, commit, _)) => Ok(Some(commit)),
        Err(ExternalCommitError::MissingExternalPub) => Ok(None),
        Err(e) => Err(format!("building the external commit: {e:?}")),
    }
}

/// What the SDK's manifest signature covers (`core/src/client/files/manifests.rs`,
/// `Manifest::signed_bytes`), from the claims as JSON.
fn manifest_signed_bytes(room_id: &str, file_id: &str, m: &Value) -> Result<Vec<u8>, String> {
    fn put(out: &mut Vec<u8>, part: &str) {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    let s = |k: &str| m[k].as_str().ok_or(format!("claims need a string \"{k}\""));
    let n = |k: &str| m[k].as_u64().ok_or(format!("claims need a number \"{k}\""));
    let mut out = b"sealroom-manifest-v2".to_vec();
    put(&mut out, room_id);
    put(&mut out, file_id);
    put(&mut out, s("document_id")?);
    out.extend_from_slice(&n("version")?.to_be_bytes());
    put(&mut out, s("digest")?);
    out.extend_from_slice(&n("size")?.to_be_bytes());
    for k in [
        "name",
        "media_type",
        "org_id",
        "sender_user_id",
        "device_id",
    ] {
        put(&mut out, s(k)?);
    }
    Ok(out)
}

/// The room id (MLS group id) as the SDK writes it.
fn room_id(group: &MlsGroup) -> String {
    String::from_utf8_lossy(group.group_id().as_slice()).into_owned()
}

/// A PDF-looking document with a marker.
fn pdf(marker: &str) -> Vec<u8> {
    let mut out = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    out.extend(std::iter::repeat_n(b'x', 2000));
    out
}

fn wrap_aad(header: &[u8], room_id: &str, file_id: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    for part in [room_id.as_bytes(), file_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// A fresh key package of `device` with the capabilities a Sealroom room requires.
fn sealroom_key_package(device: &MlsDevice) -> Vec<u8> {
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
    bytes(&MlsMessageOut::from(bundle.key_package().clone()))
}

fn validated(provider: &OpenMlsRustCrypto, message: &[u8]) -> Result<KeyPackage, String> {
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(message)
        .map_err(|e| e.to_string())?
        .extract()
    else {
        return Err("not a key package".into());
    };
    kp.validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|e| format!("{e:?}"))
}

/// The manifest blob the relay stores for `file_id`: (wrapped file key, sealed manifest).
fn stored_manifest(data_dir: &Path, file_id: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    for path in files_under(data_dir) {
        if path.extension().and_then(|e| e.to_str()) != Some("blob") {
            continue;
        }
        let mut bytes = read_file(&path);
        // A blob file of the relay's layout 1 (`{id}.v1.blob`) starts with its header.
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if let (Some(id), Some(dir)) = (stem.strip_suffix(".v1"), path.parent()) {
            let (_, skip) = sealroom_server::blobs::data::blob_file(dir, id);
            bytes.drain(..usize::try_from(skip).unwrap_or(usize::MAX).min(bytes.len()));
        }
        if bytes.len() > 38 && &bytes[..4] == b"SRMF" && &bytes[4..36] == file_id.as_bytes() {
            let wlen = u16::from_be_bytes([bytes[36], bytes[37]]) as usize;
            if bytes.len() < 38 + wlen {
                return Err("short manifest blob".into());
            }
            return Ok((bytes[38..38 + wlen].to_vec(), bytes[38 + wlen..].to_vec()));
        }
    }
    Err(format!(
        "no manifest blob for {file_id} under the data directory"
    ))
}
