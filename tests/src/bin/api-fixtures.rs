//! `sealroom-api-fixtures`: prepares a freshly started relay for the HTTP API fuzzing of
//! `scripts/test-api.sh` and writes what the schemathesis hooks (`tests/api/hooks.py`) need.
//!
//! ```text
//! sealroom-api-fixtures <relay address host:port> <setup-token file> <out.json>
//! ```
//!
//! Through the real HTTP API, with real MLS: bootstraps the provider admin, creates a customer
//! organisation, a staff user, a space, a customer member and a sacrificial customer (for the
//! erase, revoke and member-removal routes), uploads key packages, registers a room with the
//! staff device, adds the customer by a commit with welcome, posts a message, uploads two
//! complete blobs (one to be deleted) and opens a device request. The JSON output holds each
//! signing device's id and Ed25519 secret key (throwaway test material) and the object ids.
//! Exit code 1 with a message on stderr when any step is refused.

use std::error::Error;
use std::net::SocketAddr;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use sealroom_tests::relay::{registration, Client, Device};
use sealroom_tests::rooms::{b64, bytes, post_handshake, upload_key_packages, MlsDevice};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("sealroom-api-fixtures: {e}");
        std::process::exit(1);
    }
}

/// The response's JSON when the status is `want`, an error naming the step otherwise.
fn expect(step: &str, r: &sealroom_tests::relay::Response, want: u16) -> Res<Value> {
    if r.status != want {
        return Err(format!("{step}: status {} ({})", r.status, r.text()).into());
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&r.body)?)
}

fn text(v: &Value, key: &str) -> Res<String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {key} in {v}").into())
}

fn new_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)
}

fn register(anon: &Client, token: &str, name: &str) -> Res<Device> {
    let key = new_key();
    let r = anon.post_json("/v1/register", &registration(token, name, &key));
    let v = expect(&format!("register {name}"), &r, 201)?;
    Ok(Device::from_response(&v, key))
}

fn invite(client: &Client, body: &Value) -> Res<String> {
    let v = expect(
        "invitation",
        &client.post_json("/v1/invitations", body),
        201,
    )?;
    text(&v, "token")
}

fn device_json(d: &Device) -> Value {
    json!({
        "org_id": d.org_id,
        "user_id": d.user_id,
        "device_id": d.device_id,
        "secret_key": hex::encode(d.key.to_bytes()),
    })
}

fn upload_blob(client: &Client, room_id: &str, data: &[u8]) -> Res<String> {
    let v = expect(
        "create blob",
        &client.post_json(
            &format!("/v1/rooms/{room_id}/blobs"),
            &json!({ "length": data.len() }),
        ),
        201,
    )?;
    let blob_id = text(&v, "blob_id")?;
    let sum = format!("sha256 {}", b64(&Sha256::digest(data)));
    let r = client.request(
        "PATCH",
        &format!("/v1/rooms/{room_id}/blobs/{blob_id}"),
        &[
            ("content-type", "application/offset+octet-stream"),
            ("upload-offset", "0"),
            ("upload-checksum", &sum),
        ],
        data,
    );
    expect("append blob", &r, 204)?;
    Ok(blob_id)
}

fn run() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, token_file, out] = args.as_slice() else {
        return Err(
            "usage: sealroom-api-fixtures <host:port> <setup-token file> <out.json>".into(),
        );
    };
    let addr: SocketAddr = addr.parse()?;
    let setup_token = std::fs::read_to_string(token_file)?.trim().to_owned();
    let anon = Client { addr, device: None };
    let signed = |d: &Device| Client {
        addr,
        device: Some(d.clone()),
    };

    // Accounts: admin, customer organisation, staff, space, customer, sacrificial customer.
    let admin_key = new_key();
    let v = expect(
        "bootstrap",
        &anon.post_json(
            "/v1/bootstrap",
            &json!({
                "setup_token": setup_token,
                "org_name": "Provider",
                "user_name": "Admin",
                "email": "admin@provider.example",
                "device_name": "admin-laptop",
                "public_key": hex::encode(admin_key.verifying_key().to_bytes()),
            }),
        ),
        201,
    )?;
    let admin = Device::from_response(&v, admin_key);
    let v = expect(
        "create org",
        &signed(&admin).post_json("/v1/orgs", &json!({ "name": "Customer Ltd" })),
        201,
    )?;
    let org_id = text(&v, "org_id")?;
    let staff = register(
        &anon,
        &invite(&signed(&admin), &json!({ "role": "staff" }))?,
        "Staff",
    )?;
    let staff_http = signed(&staff);
    let v = expect(
        "create space",
        &staff_http.post_json("/v1/spaces", &json!({ "customer_org_id": org_id })),
        201,
    )?;
    let space_id = text(&v, "space_id")?;
    let customer_invite = json!({ "role": "customer", "space_id": space_id });
    let customer = register(&anon, &invite(&staff_http, &customer_invite)?, "Customer")?;
    let victim = register(&anon, &invite(&staff_http, &customer_invite)?, "Victim")?;

    // A room of the staff device with the customer added by a commit (welcome in the mailbox).
    let staff_mls = MlsDevice::new(&staff);
    let customer_mls = MlsDevice::new(&customer);
    let customer_http = signed(&customer);
    upload_key_packages(&customer_http, &customer_mls, 3);
    upload_key_packages(&staff_http, &staff_mls, 3);
    let mut group = staff_mls.create_group();
    let v = expect(
        "create room",
        &staff_http.post_json("/v1/rooms", &staff_mls.create_room_body(&group, &space_id)),
        201,
    )?;
    let room_id = text(&v, "room_id")?;
    let v = expect(
        "claim key package",
        &staff_http.post_json(
            &format!("/v1/users/{}/keypackages/claim", customer.user_id),
            &json!({}),
        ),
        200,
    )?;
    let kp_b64 = v["key_packages"][0]["key_package"]
        .as_str()
        .ok_or("no claimed key package")?;
    let kp = sealroom_tests::rooms::validated_key_package(
        &staff_mls.provider,
        &sealroom_tests::rooms::unb64(kp_b64),
    );
    let (commit, welcome, _) = group.add_members(&staff_mls.provider, &staff_mls.signer, &[kp])?;
    expect(
        "add customer",
        &post_handshake(&staff_http, &room_id, &commit, Some(&welcome)),
        201,
    )?;
    group.merge_pending_commit(&staff_mls.provider)?;
    let v = expect("welcomes", &customer_http.get("/v1/welcomes"), 200)?;
    let welcome_id = v["entries"][0]["id"].as_i64().ok_or("no welcome entry")?;
    let message = group.create_message(&staff_mls.provider, &staff_mls.signer, b"hello")?;
    expect(
        "post message",
        &staff_http.post_json(
            &format!("/v1/rooms/{room_id}/messages"),
            &json!({ "message": b64(&bytes(&message)) }),
        ),
        201,
    )?;

    // Two complete blobs (the second is the one DELETE may remove) and a device request.
    let blob_id = upload_blob(&staff_http, &room_id, b"sealed bytes")?;
    let victim_blob_id = upload_blob(&staff_http, &room_id, b"more sealed bytes")?;
    let v = expect(
        "device request",
        &anon.post_json(
            "/v1/device-requests",
            &json!({
                "user_id": customer.user_id,
                "device_name": "second",
                "public_key": hex::encode(new_key().verifying_key().to_bytes()),
            }),
        ),
        201,
    )?;
    let request_id = text(&v, "request_id")?;

    let fixtures = json!({
        "devices": {
            "admin": device_json(&admin),
            "staff": device_json(&staff),
            "customer": device_json(&customer),
        },
        "ids": {
            "org_id": org_id,
            "space_id": space_id,
            "room_id": room_id,
            "blob_id": blob_id,
            "victim_blob_id": victim_blob_id,
            "victim_user_id": victim.user_id,
            "victim_device_id": victim.device_id,
            "request_id": request_id,
            "welcome_id": welcome_id,
        },
    });
    std::fs::write(out, serde_json::to_vec_pretty(&fixtures)?)?;
    println!("fixtures written to {out}: room {room_id}, space {space_id}");
    Ok(())
}
