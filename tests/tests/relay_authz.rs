//! Authorization matrix of every room and blob route, against the real relay binary over HTTP.
//!
//! One table row per route (method and OpenAPI path); one column per kind of caller:
//! - `Sam`: provider staff, owner of the space, creator of the room (the current member whose
//!   request must succeed, and is then replayed byte for byte: the replay gets 401);
//! - `Cleo`: a customer member of the space and of the room (a current member too);
//! - `Olga`: provider staff of the same organisation, not in the space;
//! - `Nina`: a customer member of the space who is not in the room's MLS group;
//! - `Rita`: a customer removed from the room by an MLS commit (still in the space);
//! - `Gina`: a customer removed from the space by staff, while still a leaf of the MLS group;
//! - `Xavier`: a customer of another organisation (sharing another space with Sam).
//!
//! Each row is also sent unsigned and with a broken signature (401), and, where the path names
//! an object, by a member with an unknown id (404). The test fails when the OpenAPI spec has a
//! rooms or blobs route that the table does not cover, or the reverse.
//!
//! The same scenario then checks the audit entries of the room and blob actions (membership
//! changes from commits, upload, download, deletion, key package claims).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openmls::prelude::{KeyPackage, LeafNodeParameters, MlsGroup, OpenMlsProvider as _};
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{json, Value};

use sealroom_tests::relay::{http, Client, Device, Relay, Response};
use sealroom_tests::rooms::{b64, bytes, unb64, MlsDevice};
use sealroom_wire::auth::HEADER_SIGNATURE;

/// User agent sent with every request of this test (checked in the audit entries).
const AGENT: &str = "sealroom-authz-test/1";

/// "Not sent": a cell of the matrix that does not apply (see the row's comment).
const NA: u16 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Sam,
    Cleo,
    Olga,
    Nina,
    Rita,
    Gina,
    Xavier,
}

const EVERYONE: [Who; 7] = [
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
enum Obj {
    Known,
    Unknown,
}

struct Actor {
    mls: MlsDevice,
    group: Option<MlsGroup>,
}

struct Ctx {
    relay: Relay,
    admin: Device,
    space_id: String,
    room_id: String,
    /// A complete blob uploaded by Sam.
    blob_id: String,
    /// Sam's unfinished upload (4 bytes announced, none sent).
    upload_id: String,
    /// Sam's blob that the DELETE row deletes.
    victim_id: String,
    /// A welcome in Cleo's mailbox (she joined without acknowledging it).
    welcome_id: u64,
    actors: BTreeMap<Who, Actor>,
}

struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn new(method: &'static str, path: String) -> Self {
        Self {
            method,
            path,
            headers: vec![("user-agent".into(), AGENT.into())],
            body: Vec::new(),
        }
    }

    fn json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).unwrap();
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

type Build = fn(&mut Ctx, Who, Obj) -> Req;

struct Row {
    method: &'static str,
    /// The path as written in `docs/api/openapi.yaml`.
    path: &'static str,
    /// Expected status per caller, in the order of [`EVERYONE`]; [`NA`] = not sent.
    expect: [u16; 7],
    /// Status of the owner's request naming an unknown object; [`NA`] when the path names none.
    unknown: u16,
    /// The caller whose successful request is replayed.
    owner: Who,
    build: Build,
    /// Runs after the owner's request succeeded.
    after: fn(&mut Ctx),
}

fn nothing(_: &mut Ctx) {}

const UNKNOWN_HEX: &str = "00112233445566778899aabbccddeeff";

impl Ctx {
    fn device(&self, who: Who) -> &Device {
        &self.actors[&who].mls.device
    }

    fn client(&self, who: Who) -> Client {
        self.relay.client(self.device(who))
    }

    fn room(&self, obj: Obj) -> &str {
        match obj {
            Obj::Known => &self.room_id,
            Obj::Unknown => UNKNOWN_HEX,
        }
    }

    /// `/v1/rooms/{room}/blobs/{blob}`: the known room, and the blob or an unknown one.
    fn blob_path(&self, blob_id: &str, obj: Obj) -> String {
        let blob = match obj {
            Obj::Known => blob_id,
            Obj::Unknown => UNKNOWN_HEX,
        };
        format!("/v1/rooms/{}/blobs/{blob}", self.room_id)
    }

    /// An MLS application message from the caller's own group, or (for callers without a
    /// group) bytes that only a membership check can refuse before parsing.
    fn app_message(&mut self, who: Who) -> String {
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
    fn self_update(&mut self, who: Who) -> String {
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

fn table() -> Vec<Row> {
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

/// Signs `req` as `client` (unsigned for an anonymous client) and returns the header list
/// that goes on the wire.
fn wire_headers(client: &Client, req: &Req) -> Vec<(String, String)> {
    let mut all = req.headers.clone();
    let covered: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend(client.signed_headers(
        req.method,
        &req.path,
        &covered,
        &req.body,
        client.fresh_timestamp(),
    ));
    all
}

fn send_raw(client: &Client, req: &Req, headers: &[(String, String)]) -> Response {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http(client.addr, req.method, &req.path, &h, &req.body).unwrap()
}

fn send(client: &Client, req: &Req) -> Response {
    send_raw(client, req, &wire_headers(client, req))
}

fn run_row(ctx: &mut Ctx, row: &Row) {
    let owner_client = ctx.client(row.owner);
    let label = format!("{} {}", row.method, row.path);
    let mut failures = Vec::new();
    let mut check = |what: &str, req: &Req, r: &Response, want: u16| {
        if r.status != want {
            failures.push(format!(
                "{label} [{what}] {}: got {} want {want}: {}",
                req.label(),
                r.status,
                r.text()
            ));
        }
        if r.status == 500 {
            failures.push(format!("{label} [{what}]: 500"));
        }
    };

    // Unsigned and badly signed: 401.
    let req = (row.build)(ctx, row.owner, Obj::Known);
    let r = send(&ctx.relay.anon(), &req);
    check("unsigned", &req, &r, 401);
    let mut headers = wire_headers(&owner_client, &req);
    for (k, v) in headers.iter_mut() {
        if k.eq_ignore_ascii_case(HEADER_SIGNATURE) {
            let flipped = if v.starts_with('0') { "1" } else { "0" };
            v.replace_range(0..1, flipped);
        }
    }
    let r = send_raw(&owner_client, &req, &headers);
    check("bad signature", &req, &r, 401);

    // Refused callers first (nothing they send may change state), then the unknown object,
    // then the other callers that succeed, then the owner, replayed.
    let mut order: Vec<Who> = EVERYONE
        .iter()
        .copied()
        .filter(|w| *w != row.owner && row.expect[idx(*w)] >= 400)
        .collect();
    let successes: Vec<Who> = EVERYONE
        .iter()
        .copied()
        .filter(|w| *w != row.owner && row.expect[idx(*w)] != NA && row.expect[idx(*w)] < 400)
        .collect();
    for who in order.drain(..) {
        let req = (row.build)(ctx, who, Obj::Known);
        let r = send(&ctx.client(who), &req);
        check(&format!("{who:?}"), &req, &r, row.expect[idx(who)]);
    }
    if row.unknown != NA {
        let req = (row.build)(ctx, row.owner, Obj::Unknown);
        let r = send(&owner_client, &req);
        check("unknown object", &req, &r, row.unknown);
    }
    for who in successes {
        let req = (row.build)(ctx, who, Obj::Known);
        let r = send(&ctx.client(who), &req);
        check(&format!("{who:?}"), &req, &r, row.expect[idx(who)]);
    }
    let req = (row.build)(ctx, row.owner, Obj::Known);
    let headers = wire_headers(&owner_client, &req);
    let first = send_raw(&owner_client, &req, &headers);
    check(
        &format!("{:?}", row.owner),
        &req,
        &first,
        row.expect[idx(row.owner)],
    );
    let replay = send_raw(&owner_client, &req, &headers);
    check("replayed", &req, &replay, 401);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (row.after)(ctx);
}

fn idx(who: Who) -> usize {
    EVERYONE.iter().position(|w| *w == who).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

fn post(client: &Client, path: &str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    client.request(
        "POST",
        path,
        &[("content-type", "application/json"), ("user-agent", AGENT)],
        &bytes,
    )
}

fn upload_key_packages(client: &Client, device: &MlsDevice, count: usize) {
    let packages: Vec<String> = (0..count).map(|_| b64(&device.key_package())).collect();
    let r = post(
        client,
        "/v1/keypackages",
        &json!({ "key_packages": packages }),
    );
    assert_eq!(r.status, 200, "upload key packages: {}", r.text());
}

fn claim_one(client: &Client, user_id: &str, provider: &OpenMlsRustCrypto) -> KeyPackage {
    let r = post(
        client,
        &format!("/v1/users/{user_id}/keypackages/claim"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "claim: {}", r.text());
    let kp = r.json()["key_packages"][0]["key_package"]
        .as_str()
        .unwrap()
        .to_owned();
    sealroom_tests::rooms::validated_key_package(provider, &unb64(&kp))
}

fn post_handshake(client: &Client, room_id: &str, commit: &[u8], welcome: Option<&[u8]>) {
    let mut body = json!({ "message": b64(commit) });
    if let Some(w) = welcome {
        body["welcome"] = json!(b64(w));
    }
    let r = post(client, &format!("/v1/rooms/{room_id}/handshakes"), &body);
    assert_eq!(r.status, 201, "handshake: {}", r.text());
}

/// Fetches handshakes after `after` and applies them to the caller's group.
fn catch_up(ctx: &mut Ctx, who: Who, after: u64) {
    let page = ctx
        .client(who)
        .get(&format!(
            "/v1/rooms/{}/handshakes?after={after}",
            ctx.room_id
        ))
        .json();
    let actor = ctx.actors.get_mut(&who).unwrap();
    for e in page["entries"].as_array().unwrap() {
        let group = actor.group.as_mut().unwrap();
        actor.mls.apply(group, e["message"].as_str().unwrap());
    }
}

fn upload_blob(client: &Client, room_id: &str, data: Option<&[u8]>, length: usize) -> String {
    let r = post(
        client,
        &format!("/v1/rooms/{room_id}/blobs"),
        &json!({ "length": length }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_id = r.json()["blob_id"].as_str().unwrap().to_owned();
    if let Some(data) = data {
        let r = client.request(
            "PATCH",
            &format!("/v1/rooms/{room_id}/blobs/{blob_id}"),
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "0"),
                ("user-agent", AGENT),
            ],
            data,
        );
        assert_eq!(r.status, 204, "{}", r.text());
    }
    blob_id
}

fn setup() -> Ctx {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org_a = relay.create_customer_org(&admin, "Customer A");
    let org_b = relay.create_customer_org(&admin, "Customer B");
    let sam = relay.add_staff(&admin, "Sam");
    let olga = relay.add_staff(&admin, "Olga");
    let space_id = relay.create_space(&sam, &org_a);
    let other_space = relay.create_space(&sam, &org_b);
    let cleo = relay.add_customer(&sam, &space_id, "Cleo");
    let nina = relay.add_customer(&sam, &space_id, "Nina");
    let rita = relay.add_customer(&sam, &space_id, "Rita");
    let gina = relay.add_customer(&sam, &space_id, "Gina");
    let xavier = relay.add_customer(&sam, &other_space, "Xavier");
    let mut actors = BTreeMap::new();
    for (who, d) in [
        (Who::Sam, &sam),
        (Who::Cleo, &cleo),
        (Who::Olga, &olga),
        (Who::Nina, &nina),
        (Who::Rita, &rita),
        (Who::Gina, &gina),
        (Who::Xavier, &xavier),
    ] {
        actors.insert(
            who,
            Actor {
                mls: MlsDevice::new(d),
                group: None,
            },
        );
    }
    let mut ctx = Ctx {
        relay,
        admin,
        space_id,
        room_id: String::new(),
        blob_id: String::new(),
        upload_id: String::new(),
        victim_id: String::new(),
        welcome_id: 0,
        actors,
    };

    // Key packages of everyone (Cleo's get claimed by the matrix too).
    for who in EVERYONE {
        let client = ctx.client(who);
        upload_key_packages(&client, &ctx.actors[&who].mls, 4);
    }
    // Sam registers the room and adds Cleo, Rita and Gina in one commit.
    let sam_client = ctx.client(Who::Sam);
    let sam = ctx.actors.get_mut(&Who::Sam).unwrap();
    let mut group = sam.mls.create_group();
    let r = post(
        &sam_client,
        "/v1/rooms",
        &sam.mls.create_room_body(&group, &ctx.space_id),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    ctx.room_id = r.json()["room_id"].as_str().unwrap().to_owned();
    let kps: Vec<KeyPackage> = [&cleo, &rita, &gina]
        .iter()
        .map(|d| claim_one(&sam_client, &d.user_id, &sam.mls.provider))
        .collect();
    let (commit, welcome, _) = group
        .add_members(&sam.mls.provider, &sam.mls.signer, &kps)
        .unwrap();
    post_handshake(
        &sam_client,
        &ctx.room_id,
        &bytes(&commit),
        Some(&bytes(&welcome)),
    );
    group.merge_pending_commit(&sam.mls.provider).unwrap();
    sam.group = Some(group);
    for who in [Who::Cleo, Who::Rita, Who::Gina] {
        let welcomes = ctx.client(who).get("/v1/welcomes").json();
        let entry = welcomes["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["room_id"] == ctx.room_id.as_str())
            .unwrap()
            .clone();
        let actor = ctx.actors.get_mut(&who).unwrap();
        actor.group = Some(actor.mls.join(entry["welcome"].as_str().unwrap()));
        if who == Who::Cleo {
            ctx.welcome_id = entry["id"].as_u64().unwrap();
        }
    }
    // Sam removes Rita by a commit; Cleo and Gina follow.
    let rita_key = rita.key.verifying_key().to_bytes().to_vec();
    let sam = ctx.actors.get_mut(&Who::Sam).unwrap();
    let group = sam.group.as_mut().unwrap();
    let leaf = group
        .members()
        .find(|m| m.signature_key == rita_key)
        .unwrap()
        .index;
    let (remove, _, _) = group
        .remove_members(&sam.mls.provider, &sam.mls.signer, &[leaf])
        .unwrap();
    post_handshake(&sam_client, &ctx.room_id, &bytes(&remove), None);
    group.merge_pending_commit(&sam.mls.provider).unwrap();
    catch_up(&mut ctx, Who::Cleo, 1);
    catch_up(&mut ctx, Who::Gina, 1);
    // Sam removes Gina from the space; she stays a leaf of the MLS group.
    let r = sam_client.request(
        "DELETE",
        &format!("/v1/spaces/{}/members/{}", ctx.space_id, gina.user_id),
        &[("user-agent", AGENT)],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // Blobs: one complete, one unfinished, one to delete.
    ctx.blob_id = upload_blob(&sam_client, &ctx.room_id, Some(b"abcd"), 4);
    ctx.upload_id = upload_blob(&sam_client, &ctx.room_id, None, 4);
    ctx.victim_id = upload_blob(&sam_client, &ctx.room_id, Some(b"gone"), 4);
    ctx
}

// ---------------------------------------------------------------------------------------------
// Coverage against the spec
// ---------------------------------------------------------------------------------------------

/// `(METHOD, path)` of every route in the spec tagged `rooms` or `blobs`.
fn spec_room_and_blob_routes() -> BTreeSet<(String, String)> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api/openapi.yaml");
    let text = std::fs::read_to_string(spec).unwrap();
    let mut out = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    let mut method: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            path = None;
            method = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = Some(format!("/{}", p.trim_end().trim_end_matches(':')));
            method = None;
            continue;
        }
        if let Some(m) = line.strip_prefix("    ") {
            if !m.starts_with(' ') {
                let m = m.trim_end().trim_end_matches(':');
                method = ["get", "post", "put", "delete", "patch", "head"]
                    .contains(&m)
                    .then(|| m.to_uppercase());
                continue;
            }
        }
        let tagged = line.trim_start().starts_with("tags:")
            && (line.contains("rooms") || line.contains("blobs"));
        if let (true, Some(p), Some(m)) = (tagged, &path, &method) {
            out.insert((m.clone(), p.clone()));
        }
    }
    out
}

#[test]
fn matrix_covers_every_room_and_blob_route_of_the_spec() {
    let spec = spec_room_and_blob_routes();
    assert!(
        spec.len() >= 15,
        "too few routes found in the spec: {spec:?}"
    );
    let rows: BTreeSet<(String, String)> = table()
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(
        rows.len(),
        table().len(),
        "a route appears twice in the table"
    );
    let missing: Vec<_> = spec.difference(&rows).collect();
    let extra: Vec<_> = rows.difference(&spec).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "rooms/blobs routes of the spec missing from the matrix: {missing:?}\n\
         matrix rows not in the spec: {extra:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

#[test]
fn authorization_matrix_and_audit_of_room_and_blob_actions() {
    let mut ctx = setup();
    for row in table() {
        run_row(&mut ctx, &row);
    }
    // The member whose request was replayed still works afterwards (fresh signatures).
    assert_eq!(
        ctx.client(Who::Sam)
            .get(&format!("/v1/rooms/{}", ctx.room_id))
            .status,
        200
    );
    check_audit(&ctx);
    check_room_creation_needs_space_members(&ctx);
    check_claims_between_colleagues(&ctx);
}

/// A room's initial tree may only hold devices of the space's members.
fn check_room_creation_needs_space_members(ctx: &Ctx) {
    let sam = &ctx.actors[&Who::Sam];
    let sam_client = ctx.client(Who::Sam);
    // Sam shares another space with Xavier, so he may claim Xavier's packages...
    let kp = claim_one(
        &sam_client,
        &ctx.device(Who::Xavier).user_id,
        &sam.mls.provider,
    );
    let mut group = sam.mls.create_group();
    let (_commit, _welcome, _) = group
        .add_members(&sam.mls.provider, &sam.mls.signer, &[kp])
        .unwrap();
    group.merge_pending_commit(&sam.mls.provider).unwrap();
    // ...but a room of this space whose tree holds Xavier is refused.
    let r = post(
        &sam_client,
        "/v1/rooms",
        &sam.mls.create_room_body(&group, &ctx.space_id),
    );
    assert_eq!(r.status, 403, "{}", r.text());
}

/// Provider staff claim packages of colleagues they share no space with; customers of the same
/// organisation without a shared space do not.
fn check_claims_between_colleagues(ctx: &Ctx) {
    let claim = |by: Who, of: Who| {
        post(
            &ctx.client(by),
            &format!("/v1/users/{}/keypackages/claim", ctx.device(of).user_id),
            &json!({}),
        )
        .status
    };
    assert_eq!(claim(Who::Sam, Who::Olga), 200);
    assert_eq!(claim(Who::Olga, Who::Sam), 200);
    assert_eq!(
        claim(Who::Xavier, Who::Sam),
        200,
        "shared space across orgs"
    );
    assert_eq!(claim(Who::Gina, Who::Nina), 403);
    assert_eq!(claim(Who::Olga, Who::Gina), 404);
    let admin = ctx.relay.client(&ctx.admin);
    let r = post(
        &admin,
        &format!(
            "/v1/users/{}/keypackages/claim",
            ctx.device(Who::Olga).user_id
        ),
        &json!({}),
    );
    assert_eq!(r.status, 200, "provider admin claims a colleague");
}

fn audit(ctx: &Ctx, query: &str) -> Vec<Value> {
    let r = ctx
        .relay
        .client(&ctx.admin)
        .get(&format!("/v1/audit?limit=1000&{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entries"].as_array().unwrap().clone()
}

/// Every entry carries actor, device, IP address, user agent, object and time.
fn assert_actor(entry: &Value, by: &Device) {
    assert_eq!(entry["actor_user"], by.user_id.as_str(), "{entry}");
    assert_eq!(entry["device"], by.device_id.as_str(), "{entry}");
    assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
    assert_eq!(entry["user_agent"], AGENT, "{entry}");
    assert!(entry["time_ms"].as_u64().unwrap() > 0, "{entry}");
}

fn check_audit(ctx: &Ctx) {
    let sam = ctx.device(Who::Sam);
    let room = &ctx.room_id;
    // Membership from commits: one entry per added or removed device, object = the room.
    let adds = audit(ctx, &format!("action=membership.add&object={room}"));
    for who in [Who::Sam, Who::Cleo, Who::Rita, Who::Gina] {
        let d = ctx.device(who);
        let e = adds
            .iter()
            .find(|e| {
                e["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("device={}", d.device_id))
            })
            .unwrap_or_else(|| panic!("no membership.add for {who:?}: {adds:?}"));
        assert_actor(e, sam);
    }
    assert_eq!(adds.len(), 4, "{adds:?}");
    let removes = audit(ctx, &format!("action=membership.remove&object={room}"));
    assert_eq!(removes.len(), 1, "{removes:?}");
    assert!(removes[0]["detail"]
        .as_str()
        .unwrap()
        .contains(&ctx.device(Who::Rita).device_id));
    assert_actor(&removes[0], sam);
    let commits = audit(ctx, &format!("action=handshake.commit&object={room}"));
    assert_eq!(commits.len(), 3, "add, remove, self-update: {commits:?}");
    // Space membership change by staff.
    let space = audit(
        ctx,
        &format!("action=membership.remove&object={}", ctx.space_id),
    );
    assert_eq!(space.len(), 1, "{space:?}");
    assert_actor(&space[0], sam);
    // Uploads (creation and completion with size), download, deletion.
    for (action, blob, size) in [
        ("blob.upload_create", &ctx.blob_id, 4),
        ("blob.upload", &ctx.blob_id, 4),
        ("blob.upload", &ctx.upload_id, 4),
        ("blob.download", &ctx.blob_id, 4),
        ("blob.delete", &ctx.victim_id, 4),
    ] {
        let found = audit(ctx, &format!("action={action}&object={blob}"));
        assert!(!found.is_empty(), "no {action} for {blob}");
        let e = found.last().unwrap();
        assert_eq!(e["size"], size, "{e}");
        assert_actor(e, sam);
    }
    // Downloads by Cleo are hers; refused downloads leave no entry.
    let downloads = audit(ctx, &format!("action=blob.download&object={}", ctx.blob_id));
    let by: BTreeSet<&str> = downloads
        .iter()
        .map(|e| e["actor_user"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = [
        ctx.device(Who::Sam).user_id.as_str(),
        ctx.device(Who::Cleo).user_id.as_str(),
    ]
    .into();
    assert_eq!(by, expected, "{downloads:?}");
    // Refused deletions leave the blob and no entry; the accepted one is recorded once.
    assert_eq!(
        audit(ctx, &format!("action=blob.delete&object={}", ctx.victim_id)).len(),
        1
    );
    // Key package claims name the claimed user.
    let claims = audit(
        ctx,
        &format!(
            "action=keypackage.claim&object={}",
            ctx.device(Who::Cleo).user_id
        ),
    );
    assert!(claims.len() >= 4, "{claims:?}");
    // The chain still verifies.
    let report = ctx.relay.client(&ctx.admin).get("/v1/audit/verify").json();
    assert_eq!(report["ok"], true, "{report}");
}
