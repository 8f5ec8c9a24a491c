//! A raw member of a room: a registered device with its own openmls group and keys, which
//! sends what an honest SDK never would (forged room content, releases it may not sign, direct
//! blob reads). Shared by the client tests that play a malicious member against SDK devices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::Signer as _;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use serde_json::{json, Value};

use crate::relay::{Device, Relay, Response};
use crate::rooms::{b64, bytes, unb64, MlsDevice};

/// A member of one room with its own MLS state.
pub struct RawMember {
    /// The registered device.
    pub device: Device,
    /// Its MLS side.
    pub mls: MlsDevice,
    /// Its view of the room's group.
    pub group: MlsGroup,
    /// The room (hex id as the relay names it).
    pub room: String,
}

impl RawMember {
    /// Joins the customer room the device was added to (the first pending welcome whose room
    /// id names a customer room, else the first welcome).
    pub fn join_customer_room(relay: &Relay, device: Device, mls: MlsDevice) -> Self {
        let r = relay.client(&device).get("/v1/welcomes");
        assert_eq!(r.status, 200, "{}", r.text());
        let entries = r.json()["entries"].as_array().unwrap().clone();
        let welcome = entries
            .iter()
            .find(|e| {
                let id = hex::decode(e["room_id"].as_str().unwrap()).unwrap();
                String::from_utf8(id).unwrap().contains(".customer.")
            })
            .unwrap_or(&entries[0]);
        let room = welcome["room_id"].as_str().unwrap().to_owned();
        let group = mls.join(welcome["welcome"].as_str().unwrap());
        Self {
            device,
            mls,
            group,
            room,
        }
    }

    /// Encrypts `envelope` as an application message of the room and posts it.
    pub fn post(&mut self, relay: &Relay, envelope: &Value) {
        let plain = serde_json::to_vec(envelope).unwrap();
        let message = self
            .group
            .create_message(&self.mls.provider, &self.mls.signer, &plain)
            .unwrap();
        let r = relay.client(&self.device).post_json(
            &format!("/v1/rooms/{}/messages", self.room),
            &json!({ "message": b64(&bytes(&message)) }),
        );
        assert!(r.status < 300, "{}", r.text());
    }

    /// Applies the room's commits since its join (later adds and removals).
    pub fn catch_up(&mut self, relay: &Relay) {
        let r = relay
            .client(&self.device)
            .get(&format!("/v1/rooms/{}/handshakes?after=0", self.room));
        assert_eq!(r.status, 200, "{}", r.text());
        for e in r.json()["entries"].as_array().unwrap() {
            let Ok(m) = MlsMessageIn::tls_deserialize_exact(unb64(e["message"].as_str().unwrap()))
            else {
                continue;
            };
            let Ok(p) = m.try_into_protocol_message() else {
                continue;
            };
            if p.epoch() != self.group.epoch() {
                continue;
            }
            if let Ok(processed) = self.group.process_message(&self.mls.provider, p) {
                if let ProcessedMessageContent::StagedCommitMessage(staged) =
                    processed.into_content()
                {
                    self.group
                        .merge_staged_commit(&self.mls.provider, *staged)
                        .unwrap();
                }
            }
        }
    }

    /// Reads a blob of the room straight from the relay.
    pub fn get_blob(&self, relay: &Relay, blob_id: &str) -> Response {
        relay
            .client(&self.device)
            .get(&format!("/v1/rooms/{}/blobs/{blob_id}", self.room))
    }

    /// Signs the relay's release statement of `kind` for a blob with its device key and posts
    /// it.
    pub fn release(&self, relay: &Relay, blob_id: &str, kind: &str) -> Response {
        let statement = sealroom_wire::blobs::release_statement(&self.room, blob_id, kind);
        relay.client(&self.device).post_json(
            &format!("/v1/rooms/{}/blobs/{blob_id}/release", self.room),
            &json!({
                "kind": kind,
                "signature": hex::encode(self.device.key.sign(&statement).to_bytes()),
            }),
        )
    }
}
