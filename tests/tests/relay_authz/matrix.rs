//! The callers, the scenario they share and the table: one row per room or blob route, the
//! expected status per caller.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

/// User agent sent with every request of this test (checked in the audit entries).
pub(super) const AGENT: &str = "sealroom-authz-test/1";

/// "Not sent": a cell of the matrix that does not apply (see the row's comment).
pub(super) const NA: u16 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Who {
    Sam,
    Cleo,
    Olga,
    Nina,
    Rita,
    Gina,
    Xavier,
}

pub(super) const EVERYONE: [Who; 7] = [
    Who::Sam,
    Who::Cleo,
    Who::Olga,
    Who::Nina,
    Who::Rita,
    Who::Gina,
    Who::Xavier,
];

/// Whether a request names existing objects or unknown ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Obj {
    Known,
    Unknown,
}

pub(super) struct Actor {
    pub(super) mls: MlsDevice,
    pub(super) group: Option<MlsGroup>,
}

pub(super) struct Ctx {
    pub(super) relay: Relay,
    pub(super) admin: Device,
    pub(super) space_id: String,
    pub(super) room_id: String,
    /// A complete blob uploaded by Sam.
    pub(super) blob_id: String,
    /// Sam's unfinished upload (4 bytes announced, none sent).
    pub(super) upload_id: String,
    /// Sam's blob that the DELETE row deletes.
    pub(super) victim_id: String,
    /// A welcome in Cleo's mailbox (she joined without acknowledging it).
    pub(super) welcome_id: u64,
    pub(super) actors: BTreeMap<Who, Actor>,
}

pub(super) struct Req {
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Req {
    pub(super) fn new(method: &'static str, path: String) -> Self {
        Self {
            method,
            path,
            headers: vec![("user-agent".into(), AGENT.into())],
            body: Vec::new(),
        }
    }

    pub(super) fn json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).unwrap();
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    pub(super) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(super) fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub(super) type Build = fn(&mut Ctx, Who, Obj) -> Req;

pub(super) struct Row {
    pub(super) method: &'static str,
    /// The path as written in `docs/api/openapi.yaml`.
    pub(super) path: &'static str,
    /// Expected status per caller, in the order of [`EVERYONE`]; [`NA`] = not sent.
    pub(super) expect: [u16; 7],
    /// Status of the owner's request naming an unknown object; [`NA`] when the path names none.
    pub(super) unknown: u16,
    /// The caller whose successful request is replayed.
    pub(super) owner: Who,
    pub(super) build: Build,
    /// Runs after the owner's request succeeded.
    pub(super) after: fn(&mut Ctx),
}

pub(super) fn nothing(_: &mut Ctx) {}

pub(super) const UNKNOWN_HEX: &str = "00112233445566778899aabbccddeeff";

impl Ctx {
    pub(super) fn device(&self, who: Who) -> &Device {
        &self.actors[&who].mls.device
    }

    pub(super) fn client(&self, who: Who) -> Client {
        self.relay.client(self.device(who))
    }

    pub(super) fn room(&self, obj: Obj) -> &str {
        match obj {
            Obj::Known => &self.room_id,
            Obj::Unknown => UNKNOWN_HEX,
        }
    }

    /// `/v1/rooms/{room}/blobs/{blob}`: the known room, and the blob or an unknown one.
    pub(super) fn blob_path(&self, blob_id: &str, obj: Obj) -> String {
        let blob = match obj {
            Obj::Known => blob_id,
            Obj::Unknown => UNKNOWN_HEX,
        };
        format!("/v1/rooms/{}/blobs/{blob}", self.room_id)
    }

    /// An MLS application message from the caller's own group, or (for callers without a
    /// group) bytes that only a membership check can refuse before parsing.
    pub(super) fn app_message(&mut self, who: Who) -> String {
        let actor = self.actors.get_mut(&who).unwrap();
        match actor.group.as_mut() {
            Some(group) => {
                let m = group
                    .create_message(&actor.mls.provider, &actor.mls.signer, b"hello")
                    .unwrap();
                b64(&bytes(&m))
            }
            None => b64(b"not a member, no group"),
        }
    }

    /// A self-update commit from the caller's own group (valid for current members), or bytes
    /// for callers without a group.
    pub(super) fn self_update(&mut self, who: Who) -> String {
        let actor = self.actors.get_mut(&who).unwrap();
        match actor.group.as_mut() {
            Some(group) => {
                // A refused attempt (unsigned, replayed...) may have left one pending.
                group
                    .clear_pending_commit(actor.mls.provider.storage())
                    .unwrap();
                let bundle = group
                    .self_update(
                        &actor.mls.provider,
                        &actor.mls.signer,
                        LeafNodeParameters::default(),
                    )
                    .unwrap();
                let commit = b64(&bytes(bundle.commit()));
                if who != Who::Sam {
                    // Only Sam's commit is accepted; the others' stay unmerged.
                    group
                        .clear_pending_commit(actor.mls.provider.storage())
                        .unwrap();
                }
                commit
            }
            None => b64(b"not a member, no group"),
        }
    }
}

pub(super) fn table() -> Vec<Row> {
    use Who::{Cleo, Sam};
    vec![
        // Register a room in the space (the body is a group of the caller's own): space
        // members may, others do not see the space (404). Unknown = an unknown space.
        Row {
            method: "POST",
            path: "/v1/rooms",
            //       Sam  Cleo Olga Nina Rita Gina Xav
            expect: [201, 201, 404, 201, 201, 404, 404],
            unknown: 404,
            owner: Sam,
            build: |ctx, who, obj| {
                let actor = &ctx.actors[&who];
                let group = actor.mls.create_group();
                let space = match obj {
                    Obj::Known => ctx.space_id.clone(),
                    Obj::Unknown => UNKNOWN_HEX.to_owned(),
                };
                Req::new("POST", "/v1/rooms".into())
                    .json(&actor.mls.create_room_body(&group, &space))
            },
            after: nothing,
        },
        Row {
            method: "GET",
            path: "/v1/rooms/{room_id}",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| Req::new("GET", format!("/v1/rooms/{}", ctx.room(obj))),
            after: nothing,
        },
        Row {
            method: "GET",
            path: "/v1/rooms/{room_id}/handshakes",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| {
                Req::new(
                    "GET",
                    format!("/v1/rooms/{}/handshakes?after=0", ctx.room(obj)),
                )
            },
            after: nothing,
        },
        Row {
            method: "GET",
            path: "/v1/rooms/{room_id}/messages",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| Req::new("GET", format!("/v1/rooms/{}/messages", ctx.room(obj))),
            after: nothing,
        },
        // Each caller sends an application message of its own group: Rita's (stale) and
        // Gina's (still a leaf) are real MLS messages, refused by membership.
        Row {
            method: "POST",
            path: "/v1/rooms/{room_id}/messages",
            expect: [201, 201, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, who, obj| {
                let message = ctx.app_message(who);
                Req::new("POST", format!("/v1/rooms/{}/messages", ctx.room(obj)))
                    .json(&json!({ "message": message }))
            },
            after: nothing,
        },
        // Each caller sends a self-update commit of its own group; Gina's is valid MLS for the
        // current epoch. Cleo's cell is not sent: one commit per epoch, Sam's is the member's.
        Row {
            method: "POST",
            path: "/v1/rooms/{room_id}/handshakes",
            expect: [201, NA, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, who, obj| {
                let commit = ctx.self_update(who);
                Req::new("POST", format!("/v1/rooms/{}/handshakes", ctx.room(obj)))
                    .json(&json!({ "message": commit }))
            },
            after: |ctx| {
                let sam = ctx.actors.get_mut(&Who::Sam).unwrap();
                sam.group
                    .as_mut()
                    .unwrap()
                    .merge_pending_commit(&sam.mls.provider)
                    .unwrap();
            },
        },
        Row {
            method: "GET",
            path: "/v1/rooms/{room_id}/blobs",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| Req::new("GET", format!("/v1/rooms/{}/blobs", ctx.room(obj))),
            after: nothing,
        },
        Row {
            method: "POST",
            path: "/v1/rooms/{room_id}/blobs",
            expect: [201, 201, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| {
                Req::new("POST", format!("/v1/rooms/{}/blobs", ctx.room(obj)))
                    .json(&json!({ "length": 8 }))
            },
            after: nothing,
        },
        // Appending is for the uploader (Sam); Cleo is a member but not the uploader.
        Row {
            method: "PATCH",
            path: "/v1/rooms/{room_id}/blobs/{blob_id}",
            expect: [204, 403, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| {
                let mut r = Req::new("PATCH", ctx.blob_path(&ctx.upload_id, obj))
                    .header("content-type", "application/offset+octet-stream")
                    .header("upload-offset", "0");
                r.body = b"wxyz".to_vec();
                r
            },
            after: nothing,
        },
        Row {
            method: "HEAD",
            path: "/v1/rooms/{room_id}/blobs/{blob_id}",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| Req::new("HEAD", ctx.blob_path(&ctx.blob_id, obj)),
            after: nothing,
        },
        Row {
            method: "GET",
            path: "/v1/rooms/{room_id}/blobs/{blob_id}",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| Req::new("GET", ctx.blob_path(&ctx.blob_id, obj)),
            after: nothing,
        },
        Row {
            method: "GET",
            path: "/v1/rooms/{room_id}/blobs/{blob_id}/status",
            expect: [200, 200, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| {
                Req::new(
                    "GET",
                    format!("{}/status", ctx.blob_path(&ctx.blob_id, obj)),
                )
            },
            after: nothing,
        },
        // Releasing a held blob is for the space's staff other than the uploader: Sam uploaded
        // it, Cleo is a customer, the others are not in the room (the release itself:
        // `client_labels.rs`).
        Row {
            method: "POST",
            path: "/v1/rooms/{room_id}/blobs/{blob_id}/release",
            expect: [403, 403, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, who, obj| {
                let path = format!("{}/release", ctx.blob_path(&ctx.blob_id, obj));
                let statement = sealroom_wire::blobs::release_statement(
                    &ctx.room_id,
                    &ctx.blob_id,
                    "four_eyes",
                );
                let key = &ctx.actors[&who].mls.device.key;
                Req::new("POST", path).json(&json!({
                    "kind": "four_eyes",
                    "signature": hex::encode(ed25519_dalek::Signer::sign(key, &statement).to_bytes()),
                }))
            },
            after: nothing,
        },
        // Deleting is for the uploader and the space's staff; Cleo (customer) may not delete
        // Sam's file.
        Row {
            method: "DELETE",
            path: "/v1/rooms/{room_id}/blobs/{blob_id}",
            expect: [204, 403, 403, 403, 403, 403, 403],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| Req::new("DELETE", ctx.blob_path(&ctx.victim_id, obj)),
            after: nothing,
        },
        // The mailbox is per device: everyone reads their own.
        Row {
            method: "GET",
            path: "/v1/welcomes",
            expect: [200, 200, 200, 200, 200, 200, 200],
            unknown: NA,
            owner: Sam,
            build: |_, _, _| Req::new("GET", "/v1/welcomes".into()),
            after: nothing,
        },
        // Cleo's welcome: nobody else's mailbox holds it (404).
        Row {
            method: "DELETE",
            path: "/v1/welcomes/{welcome_id}",
            expect: [404, 204, 404, 404, 404, 404, 404],
            unknown: 404,
            owner: Cleo,
            build: |ctx, _, obj| {
                let id = match obj {
                    Obj::Known => ctx.welcome_id,
                    Obj::Unknown => u64::MAX - 1,
                };
                Req::new("DELETE", format!("/v1/welcomes/{id}"))
            },
            after: nothing,
        },
        // Every caller uploads a key package of Sam's device: only Sam may.
        Row {
            method: "POST",
            path: "/v1/keypackages",
            expect: [200, 403, 403, 403, 403, 403, 403],
            unknown: NA,
            owner: Sam,
            build: |ctx, _, _| {
                let kp = b64(&ctx.actors[&Who::Sam].mls.key_package());
                Req::new("POST", "/v1/keypackages".into()).json(&json!({ "key_packages": [kp] }))
            },
            after: nothing,
        },
        Row {
            method: "GET",
            path: "/v1/keypackages",
            expect: [200, 200, 200, 200, 200, 200, 200],
            unknown: NA,
            owner: Sam,
            build: |_, _, _| Req::new("GET", "/v1/keypackages".into()),
            after: nothing,
        },
        // Claiming Cleo's packages: users sharing a space with her (Sam, Nina, Rita) and Cleo
        // herself may; Gina (same organisation, no shared space any more) is refused; Olga and
        // Xavier (other organisations, no shared space) do not see her.
        Row {
            method: "POST",
            path: "/v1/users/{user_id}/keypackages/claim",
            expect: [200, 200, 404, 200, 200, 403, 404],
            unknown: 404,
            owner: Sam,
            build: |ctx, _, obj| {
                let user = match obj {
                    Obj::Known => ctx.device(Who::Cleo).user_id.clone(),
                    Obj::Unknown => UNKNOWN_HEX.to_owned(),
                };
                Req::new("POST", format!("/v1/users/{user}/keypackages/claim")).json(&json!({}))
            },
            after: nothing,
        },
    ]
}
