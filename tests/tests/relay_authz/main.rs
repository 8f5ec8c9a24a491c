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

mod matrix;
mod setup;

use matrix::*;
use setup::*;

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
