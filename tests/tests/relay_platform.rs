//! End-to-end tests of the relay platform against the real binary over HTTP: health, metrics,
//! error mapping, request signatures (stale, replayed, tampered), rate limiting, bootstrap,
//! invitations, roles, spaces, device approval by another device or TOTP, graceful shutdown
//! and secret-free logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::json;

use sealroom_tests::relay::{base32_decode, http, http_raw, now, Device, Relay};

fn assert_error(r: &sealroom_tests::relay::Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert_eq!(r.code(), code, "body: {}", r.text());
}

#[test]
fn health_metrics_and_route_errors() {
    let relay = Relay::start();
    let anon = relay.anon();
    let h = anon.get("/healthz");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    assert_error(&anon.get("/no/such/route"), 404, "not_found");
    assert_error(
        &anon.request("POST", "/healthz", &[], b""),
        405,
        "method_not_allowed",
    );
    // Metrics are for administrators: anonymous requests get 401.
    assert_error(&anon.get("/metrics"), 401, "unauthenticated");
    let admin = relay.bootstrap_admin();
    let m = relay.client(&admin).get("/metrics");
    assert_eq!(m.status, 200, "{}", m.text());
    let text = m.text();
    assert!(
        text.contains("sealroom_http_requests_total{method=\"GET\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("sealroom_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[test]
fn bootstrap_needs_the_setup_token_and_happens_once() {
    let relay = Relay::start();
    let token = relay.setup_token();
    let key = SigningKey::generate(&mut OsRng);
    let body = |t: &str| {
        json!({"setup_token": t, "org_name": "P", "user_name": "A", "device_name": "d",
               "public_key": hex::encode(key.verifying_key().to_bytes())})
    };
    assert_error(
        &relay.anon().post_json("/v1/bootstrap", &body("wrong")),
        401,
        "unauthenticated",
    );
    let admin = relay.bootstrap_admin();
    assert!(
        !relay.data_dir().join("setup-token").exists(),
        "setup token file must be removed"
    );
    assert_error(
        &relay.anon().post_json("/v1/bootstrap", &body(&token)),
        409,
        "conflict",
    );
    let me = relay.client(&admin).get("/v1/me");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["role"], "admin");
    assert_eq!(me.json()["device_id"], admin.device_id.as_str());
    // The bootstrap survives a graceful restart (SIGTERM flushes the store).
    let mut relay = relay;
    assert!(relay.stop());
    relay.restart();
    assert_eq!(relay.client(&admin).get("/v1/me").status, 200);
}

#[test]
fn signatures_are_required_fresh_untampered_and_single_use() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let client = relay.client(&admin);
    let addr = relay.addr();

    // Missing signature headers.
    assert_error(&relay.anon().get("/v1/me"), 401, "unauthenticated");
    // Unknown device.
    let stranger = Device {
        device_id: "nobody".into(),
        ..admin.clone()
    };
    assert_error(
        &relay.client(&stranger).get("/v1/me"),
        401,
        "unauthenticated",
    );
    // Signed by another key.
    let impostor = Device {
        key: SigningKey::generate(&mut OsRng),
        ..admin.clone()
    };
    assert_error(
        &relay.client(&impostor).get("/v1/me"),
        401,
        "unauthenticated",
    );
    // Stale and future timestamps.
    assert_error(
        &client.request_at("GET", "/v1/me", &[], b"", now() - 3600),
        401,
        "unauthenticated",
    );
    assert_error(
        &client.request_at("GET", "/v1/me", &[], b"", now() + 3600),
        401,
        "unauthenticated",
    );
    // Garbage signature encoding.
    let r = http(
        addr,
        "GET",
        "/v1/me",
        &[
            ("x-sealroom-device", &admin.device_id),
            ("x-sealroom-timestamp", &now().to_string()),
            ("x-sealroom-signature", "zz"),
        ],
        b"",
    )
    .unwrap();
    assert_error(&r, 401, "unauthenticated");

    // Tampered body: signed over one body, sent with another.
    let ts = now();
    let signed = client.signed_headers("POST", "/v1/orgs", &[], br#"{"name":"A"}"#, ts);
    let hdrs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = http(addr, "POST", "/v1/orgs", &hdrs, br#"{"name":"B"}"#).unwrap();
    assert_error(&r, 401, "unauthenticated");
    // Tampered query.
    let signed = client.signed_headers("GET", "/v1/me?x=1", &[], b"", ts);
    let hdrs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = http(addr, "GET", "/v1/me?x=2", &hdrs, b"").unwrap();
    assert_error(&r, 401, "unauthenticated");

    // A valid request works once; the identical bytes again are a replay.
    let signed = client.signed_headers("GET", "/v1/me", &[], b"", client.fresh_timestamp());
    let hdrs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(http(addr, "GET", "/v1/me", &hdrs, b"").unwrap().status, 200);
    assert_error(
        &http(addr, "GET", "/v1/me", &hdrs, b"").unwrap(),
        401,
        "unauthenticated",
    );
    // A request's replay-cache entry is a durable commit before the answer (redb syncs every
    // commit), so its replay is still refused after a kill -9 of the relay.
    let body = br#"{"name":"Replayed Ltd"}"#;
    let signed = client.signed_headers(
        "POST",
        "/v1/orgs",
        &[("content-type", "application/json")],
        body,
        client.fresh_timestamp(),
    );
    let mut hdrs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    hdrs.push(("content-type", "application/json"));
    assert_eq!(
        http(addr, "POST", "/v1/orgs", &hdrs, body).unwrap().status,
        201
    );
    let mut relay = relay;
    relay.restart();
    assert_error(
        &http(relay.addr(), "POST", "/v1/orgs", &hdrs, body).unwrap(),
        401,
        "unauthenticated",
    );
}

#[test]
fn bad_input_gets_400_413_never_500() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_MAX_JSON_BODY", "1024"),
    ]);
    let addr = relay.addr();
    let anon = relay.anon();
    // Malformed JSON on an unauthenticated route.
    let r = anon.request("POST", "/v1/bootstrap", &[], b"{not json");
    assert_error(&r, 400, "malformed");
    // Wrong shape.
    assert_error(
        &anon.post_json("/v1/register", &json!({"token": 5})),
        400,
        "malformed",
    );
    // Too large by Content-Length, and by a chunked body that grows past the limit.
    assert_error(
        &anon.request("POST", "/v1/bootstrap", &[], &vec![b'x'; 2048]),
        413,
        "too_large",
    );
    let mut raw = b"POST /v1/register HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        raw.extend_from_slice(b"200\r\n");
        raw.extend_from_slice(&[b'x'; 512]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    assert_error(&http_raw(addr, &raw).unwrap(), 413, "too_large");
    // Invalid Content-Length header.
    let raw = b"POST /v1/register HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: abc\r\n\r\n";
    let r = http_raw(addr, raw).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());

    let admin = relay.bootstrap_admin();
    let client = relay.client(&admin);
    // Signed but malformed / oversized bodies.
    assert_error(
        &client.request("POST", "/v1/orgs", &[], b"[1,2"),
        400,
        "malformed",
    );
    assert_error(
        &client.request("POST", "/v1/orgs", &[], &vec![b' '; 4096]),
        413,
        "too_large",
    );
    assert_error(
        &client.post_json("/v1/orgs", &json!({"name": ""})),
        400,
        "bad_request",
    );
    // Invalid public key at registration.
    let inv = client
        .post_json("/v1/invitations", &json!({"role": "staff"}))
        .json();
    let r = anon.post_json(
        "/v1/register",
        &json!({"token": inv["token"], "user_name": "S",
        "device_name": "d", "public_key": "00"}),
    );
    assert_error(&r, 400, "bad_request");
    // Unknown ids.
    assert_error(&client.get("/v1/spaces/doesnotexist"), 404, "not_found");
    assert_error(
        &client.get("/v1/device-requests/doesnotexist"),
        404,
        "not_found",
    );

    let metrics = client.get("/metrics").text();
    assert!(
        !metrics.contains("status=\"500\""),
        "a client mistake produced a 500:\n{metrics}"
    );
}

#[test]
fn repeated_auth_failures_are_rate_limited() {
    let relay = Relay::start_with(&[("SEALROOM_AUTH_FAILURES_PER_MINUTE", "5")]);
    let anon = relay.anon();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(anon.get("/v1/me").status);
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = anon.get("/v1/me");
    assert_error(&r, 429, "rate_limited");
    // Unauthenticated routes are unaffected.
    assert_eq!(anon.get("/healthz").status, 200);
}

#[test]
fn invitations_roles_and_spaces() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let acme = relay.create_customer_org(&admin, "Acme");
    let other_org = relay.create_customer_org(&admin, "Globex");
    let staff = relay.add_staff(&admin, "Sam");
    assert_eq!(relay.client(&staff).get("/v1/me").json()["role"], "staff");
    // Staff cannot invite staff or create organisations.
    assert_error(
        &relay
            .client(&staff)
            .post_json("/v1/invitations", &json!({"role": "staff"})),
        403,
        "forbidden",
    );
    assert_error(
        &relay
            .client(&staff)
            .post_json("/v1/orgs", &json!({"name": "X"})),
        403,
        "forbidden",
    );

    let space = relay.create_space(&staff, &acme);
    let carol = relay.add_customer(&staff, &space, "Carol");
    assert_eq!(carol.org_id, acme);
    let me = relay.client(&carol).get("/v1/me").json();
    assert_eq!(me["role"], "customer");
    // Carol sees the space and its members.
    let spaces = relay.client(&carol).get("/v1/spaces").json();
    assert_eq!(spaces["spaces"][0]["space_id"], space.as_str());
    let info = relay
        .client(&carol)
        .get(&format!("/v1/spaces/{space}"))
        .json();
    let members: Vec<&str> = info["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert!(members.contains(&staff.user_id.as_str()) && members.contains(&carol.user_id.as_str()));
    // Customers cannot invite or create spaces.
    assert_error(
        &relay.client(&carol).post_json(
            "/v1/invitations",
            &json!({"role": "customer", "space_id": space}),
        ),
        403,
        "forbidden",
    );
    assert_error(
        &relay
            .client(&carol)
            .post_json("/v1/spaces", &json!({"customer_org_id": acme})),
        403,
        "forbidden",
    );

    // A customer of another organisation, in another space, cannot see this space.
    let space2 = relay.create_space(&staff, &other_org);
    let dave = relay.add_customer(&staff, &space2, "Dave");
    assert_error(
        &relay.client(&dave).get(&format!("/v1/spaces/{space}")),
        404,
        "not_found",
    );
    // A staff member who is not in the space cannot invite into it.
    let staff2 = relay.add_staff(&admin, "Sue");
    assert_error(
        &relay.client(&staff2).post_json(
            "/v1/invitations",
            &json!({"role": "customer", "space_id": space}),
        ),
        404,
        "not_found",
    );
    // Staff adds staff2; then staff2 can.
    let r = relay.client(&staff).post_json(
        &format!("/v1/spaces/{space}/members"),
        &json!({"user_id": staff2.user_id}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        relay
            .client(&staff2)
            .post_json(
                "/v1/invitations",
                &json!({"role": "customer", "space_id": space})
            )
            .status,
        201
    );
    // Dave (other customer org) cannot be added to Acme's space.
    let r = relay.client(&staff).post_json(
        &format!("/v1/spaces/{space}/members"),
        &json!({"user_id": dave.user_id}),
    );
    assert_error(&r, 403, "forbidden");
    // Removing Carol: she loses access.
    let r = relay
        .client(&staff)
        .delete(&format!("/v1/spaces/{space}/members/{}", carol.user_id));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_error(
        &relay.client(&carol).get(&format!("/v1/spaces/{space}")),
        404,
        "not_found",
    );

    // Invitation tokens are single-use.
    let inv = relay
        .client(&admin)
        .post_json("/v1/invitations", &json!({"role": "staff"}))
        .json();
    let token = inv["token"].as_str().unwrap();
    relay.register(token, "Once");
    let key = SigningKey::generate(&mut OsRng);
    let r = relay.anon().post_json(
        "/v1/register",
        &json!({"token": token, "user_name": "Twice",
        "device_name": "d", "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_error(&r, 410, "gone");
    let r = relay.anon().post_json(
        "/v1/register",
        &json!({"token": "bogus", "user_name": "X",
        "device_name": "d", "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_error(&r, 401, "unauthenticated");
    // Users in the same space see each other's device keys; strangers do not.
    let keys = relay
        .client(&staff)
        .get(&format!("/v1/users/{}/devices", dave.user_id));
    assert_eq!(keys.status, 200);
    assert_eq!(keys.json()["devices"][0]["public_key"], dave.public_hex());
    assert_error(
        &relay
            .client(&dave)
            .get(&format!("/v1/users/{}/devices", carol.user_id)),
        404,
        "not_found",
    );
}

fn request_device(relay: &Relay, user_id: &str) -> (SigningKey, serde_json::Value) {
    let key = SigningKey::generate(&mut OsRng);
    let r = relay.anon().post_json(
        "/v1/device-requests",
        &json!({"user_id": user_id,
        "device_name": "phone", "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    (key, r.json())
}

#[test]
fn second_device_needs_approval_by_an_existing_device() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    let (key, req) = request_device(&relay, &staff.user_id);
    let request_id = req["request_id"].as_str().unwrap();
    let phone = Device {
        device_id: req["device_id"].as_str().unwrap().to_owned(),
        key: key.clone(),
        ..staff.clone()
    };
    // Pending: cannot authenticate.
    assert_error(&relay.client(&phone).get("/v1/me"), 401, "unauthenticated");
    let path = format!("/v1/device-requests/{request_id}/approve");
    let pk = hex::encode(key.verifying_key().to_bytes());
    // Another user's device (even an admin's) cannot approve.
    assert_error(
        &relay
            .client(&admin)
            .post_json(&path, &json!({"public_key": pk})),
        403,
        "forbidden",
    );
    // The user's device must confirm the right key.
    assert_error(
        &relay
            .client(&staff)
            .post_json(&path, &json!({"public_key": admin.public_hex()})),
        400,
        "bad_request",
    );
    let r = relay
        .client(&staff)
        .post_json(&path, &json!({"public_key": pk}));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(relay.client(&phone).get("/v1/me").status, 200);
    assert_error(
        &relay
            .client(&staff)
            .post_json(&path, &json!({"public_key": pk})),
        409,
        "conflict",
    );
    let devices = relay.client(&phone).get("/v1/me/devices").json();
    assert_eq!(devices["devices"].as_array().unwrap().len(), 2);
    // Revoking the phone stops it authenticating.
    assert_eq!(
        relay
            .client(&staff)
            .delete(&format!("/v1/devices/{}", phone.device_id))
            .status,
        204
    );
    assert_error(&relay.client(&phone).get("/v1/me"), 401, "unauthenticated");
}

#[test]
fn second_device_with_totp() {
    let relay = Relay::start_with(&[("SEALROOM_AUTH_FAILURES_PER_MINUTE", "5")]);
    let admin = relay.bootstrap_admin();
    let client = relay.client(&admin);
    let enrol = client.post_json("/v1/me/totp", &json!({}));
    assert_eq!(enrol.status, 201, "{}", enrol.text());
    let secret = base32_decode(enrol.json()["secret"].as_str().unwrap());
    assert!(enrol.json()["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    // Confirm enrolment with a current code.
    let code = sealroom_server::totp::code(&secret, now(), 6);
    assert_error(
        &client.post_json("/v1/me/totp/confirm", &json!({"code": "000000x"})),
        400,
        "bad_request",
    );
    assert_eq!(
        client
            .post_json("/v1/me/totp/confirm", &json!({"code": code}))
            .status,
        204
    );

    let (key, req) = request_device(&relay, &admin.user_id);
    let path = format!(
        "/v1/device-requests/{}/totp",
        req["request_id"].as_str().unwrap()
    );
    assert_error(
        &relay.anon().post_json(&path, &json!({"code": "123456x"})),
        401,
        "unauthenticated",
    );
    // The code used for confirmation cannot be reused (same time step); the next-step code
    // is accepted (within the ±1 step drift window).
    let next = sealroom_server::totp::code(&secret, now() + 30, 6);
    let r = relay.anon().post_json(&path, &json!({"code": next}));
    assert_eq!(r.status, 204, "{}", r.text());
    let phone = Device {
        device_id: req["device_id"].as_str().unwrap().to_owned(),
        key,
        ..admin.clone()
    };
    assert_eq!(relay.client(&phone).get("/v1/me").status, 200);

    // Guessing codes is rate limited per user.
    let (_, req2) = request_device(&relay, &admin.user_id);
    let path2 = format!(
        "/v1/device-requests/{}/totp",
        req2["request_id"].as_str().unwrap()
    );
    let statuses: Vec<u16> = (0..7)
        .map(|i| {
            relay
                .anon()
                .post_json(&path2, &json!({"code": format!("{:06}", 999_990 + i)}))
                .status
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[test]
fn sigterm_shuts_down_gracefully_and_logs_hold_no_secrets() {
    let mut relay = Relay::start();
    let setup_token = relay.setup_token();
    let admin = relay.bootstrap_admin();
    let inv = relay
        .client(&admin)
        .post_json("/v1/invitations", &json!({"role": "staff"}))
        .json();
    let token = inv["token"].as_str().unwrap().to_owned();
    relay.register(&token, "Sam");
    let signed = relay
        .client(&admin)
        .signed_headers("GET", "/v1/me", &[], b"", now());
    let hdrs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        http(relay.addr(), "GET", "/v1/me", &hdrs, b"")
            .unwrap()
            .status,
        200
    );
    assert!(relay.stop(), "relay did not exit cleanly on SIGTERM");
    let log = relay.log_contents();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("\"stopped\""), "{log}");
    for secret in [&setup_token, &token, &signed[2].1] {
        assert!(!log.contains(secret.as_str()), "secret found in log");
    }
    // Every log line is JSON.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

/// The relay binary returns freed memory to the system from jemalloc's background thread after
/// 1 s (`.cargo/config.toml`, `docs/relay.md` "Memory"): the options are compiled in, not left
/// to an environment variable an operator would have to know about.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[test]
fn the_relay_allocator_returns_memory_promptly() {
    let bin = sealroom_tests::relay::binary_path().unwrap();
    let out = std::process::Command::new(bin)
        .arg("--no-such-option")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned()
        + &String::from_utf8_lossy(&out.stdout);
    for option in [
        "opt.background_thread: true",
        "opt.dirty_decay_ms: 1000",
        "opt.muzzy_decay_ms: 0",
    ] {
        assert!(
            text.contains(option),
            "{option} missing from jemalloc's statistics"
        );
    }
}
