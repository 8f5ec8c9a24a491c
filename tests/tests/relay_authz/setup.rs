//! The scenario: a relay, seven callers in their places, a room with members removed by commit
//! and by staff, blobs and a welcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

pub(super) fn post(client: &Client, path: &str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    client.request(
        "POST",
        path,
        &[("content-type", "application/json"), ("user-agent", AGENT)],
        &bytes,
    )
}

pub(super) fn upload_key_packages(client: &Client, device: &MlsDevice, count: usize) {
    let packages: Vec<String> = (0..count).map(|_| b64(&device.key_package())).collect();
    let r = post(
        client,
        "/v1/keypackages",
        &json!({ "key_packages": packages }),
    );
    assert_eq!(r.status, 200, "upload key packages: {}", r.text());
}

pub(super) fn claim_one(
    client: &Client,
    user_id: &str,
    provider: &OpenMlsRustCrypto,
) -> KeyPackage {
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

pub(super) fn post_handshake(
    client: &Client,
    room_id: &str,
    commit: &[u8],
    welcome: Option<&[u8]>,
) {
    let mut body = json!({ "message": b64(commit) });
    if let Some(w) = welcome {
        body["welcome"] = json!(b64(w));
    }
    let r = post(client, &format!("/v1/rooms/{room_id}/handshakes"), &body);
    assert_eq!(r.status, 201, "handshake: {}", r.text());
}

/// Fetches handshakes after `after` and applies them to the caller's group.
pub(super) fn catch_up(ctx: &mut Ctx, who: Who, after: u64) {
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

pub(super) fn upload_blob(
    client: &Client,
    room_id: &str,
    data: Option<&[u8]>,
    length: usize,
) -> String {
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

pub(super) fn setup() -> Ctx {
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
