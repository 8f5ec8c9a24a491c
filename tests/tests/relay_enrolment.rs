//! Enrolment against the real relay binary on loopback: an attacker who knows a user id creates
//! a device request and guesses TOTP codes as fast as the relay answers. The relay must stop
//! evaluating guesses after a few failures (growing delays, 429 with `Retry-After`) and lock TOTP
//! approval for that user after `user_lock_failures`, until an existing device unlocks it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::{json, Value};

use sealroom_tests::relay::{base32_decode, now, Device, Relay};

/// Guesses the attacker sends in one bounded run.
const GUESSES: u32 = 60;

fn request_device(relay: &Relay, user_id: &str) -> (SigningKey, Value) {
    let key = SigningKey::generate(&mut OsRng);
    let r = relay.anon().post_json(
        "/v1/device-requests",
        &json!({"user_id": user_id, "device_name": "attacker",
                "public_key": hex::encode(key.verifying_key().to_bytes())}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    (key, r.json())
}

/// Enrols and confirms TOTP for `device`'s user; returns the secret.
fn enrol_totp(relay: &Relay, device: &Device) -> Vec<u8> {
    let client = relay.client(device);
    let enrol = client.post_json("/v1/me/totp", &json!({}));
    assert_eq!(enrol.status, 201, "{}", enrol.text());
    let secret = base32_decode(enrol.json()["secret"].as_str().unwrap());
    let code = sealroom_server::totp::code(&secret, now(), 6);
    let r = client.post_json("/v1/me/totp/confirm", &json!({ "code": code }));
    assert_eq!(r.status, 204, "{}", r.text());
    secret
}

/// A wrong code: never one of the codes valid around now.
fn wrong_code(secret: &[u8], i: u32) -> String {
    let valid: Vec<String> = (-2..=2)
        .map(|s| sealroom_server::totp::code(secret, now() + s * 30, 6))
        .collect();
    (0..)
        .map(|k| format!("{:06}", (i * 7919 + k) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// Sends `GUESSES` wrong codes; returns (evaluated, refused) where evaluated guesses got 401
/// (the relay checked the code) and refused ones got 429.
fn brute_force(relay: &Relay, path: &str, secret: &[u8]) -> (u32, u32, Vec<Value>) {
    let (mut evaluated, mut refused, mut refusals) = (0, 0, Vec::new());
    for i in 0..GUESSES {
        let r = relay
            .anon()
            .post_json(path, &json!({ "code": wrong_code(secret, i) }));
        match r.status {
            401 => evaluated += 1,
            429 => {
                let retry: u64 = r
                    .header("retry-after")
                    .expect("429 without Retry-After")
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                refused += 1;
                refusals.push(r.json());
            }
            s => panic!("unexpected status {s}: {}", r.text()),
        }
    }
    (evaluated, refused, refusals)
}

/// With delays switched off (so the run needs no waiting), the lockout alone bounds the guesses:
/// the eighth failure locks TOTP approval for the user, later guesses and even the right code are
/// refused, and only an existing device's unlock opens it again.
#[test]
fn brute_force_is_locked_out_after_a_few_guesses() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_ENROL_DELAY_SECS", "0"),
    ]);
    let admin = relay.bootstrap_admin();
    let secret = enrol_totp(&relay, &admin);
    let (_, req) = request_device(&relay, &admin.user_id);
    let path = format!(
        "/v1/device-requests/{}/totp",
        req["request_id"].as_str().unwrap()
    );
    let (evaluated, refused, refusals) = brute_force(&relay, &path, &secret);
    println!("delays off: {evaluated} guesses evaluated, {refused} refused of {GUESSES}");
    assert_eq!(evaluated, 8, "the lockout must engage at 8 failures");
    assert_eq!(refused, GUESSES - 8);
    assert!(refusals.iter().all(|b| b["code"] == "enrolment_locked"));

    // Locked: the right code is refused too, from any address.
    let right = sealroom_server::totp::code(&secret, now() + 30, 6);
    let r = relay.anon().post_json(&path, &json!({ "code": right }));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.code(), "enrolment_locked");

    // The user's existing device sees the lock and unlocks it.
    let me = relay.client(&admin);
    let status = me.get("/v1/me/totp");
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.json()["locked"], true);
    let r = me.post_json("/v1/me/totp/unlock", &json!({}));
    assert_eq!(r.status, 204, "{}", r.text());
    let r = relay.anon().post_json(&path, &json!({ "code": right }));
    assert_eq!(r.status, 204, "{}", r.text());
}

/// With the default delays, the third guess in a row is already refused with a `Retry-After`
/// that grows: an attacker gets 2 guesses now and waits 30 s, 60 s, 120 s ... for the next.
#[test]
fn default_delays_refuse_rapid_guesses() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let secret = enrol_totp(&relay, &admin);
    let (_, req) = request_device(&relay, &admin.user_id);
    let path = format!(
        "/v1/device-requests/{}/totp",
        req["request_id"].as_str().unwrap()
    );
    let (evaluated, refused, refusals) = brute_force(&relay, &path, &secret);
    println!("default delays: {evaluated} guesses evaluated, {refused} refused of {GUESSES}");
    assert_eq!(evaluated, 2);
    assert!(refusals.iter().all(|b| b["code"] == "rate_limited"));
}

/// Device requests are throttled per user (10 a day by default) and per source address.
#[test]
fn device_requests_are_throttled() {
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_ENROL_REQUESTS_PER_SOURCE", "15"),
    ]);
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    for _ in 0..10 {
        request_device(&relay, &admin.user_id);
    }
    let key = SigningKey::generate(&mut OsRng);
    let body = |user: &str| {
        json!({"user_id": user, "device_name": "x",
               "public_key": hex::encode(key.verifying_key().to_bytes())})
    };
    let r = relay
        .anon()
        .post_json("/v1/device-requests", &body(&admin.user_id));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    // Another user still works from this address, until the address's daily budget is spent.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            relay
                .anon()
                .post_json("/v1/device-requests", &body(&staff.user_id))
                .status,
        );
    }
    assert_eq!(statuses[..4], [201, 201, 201, 201], "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// Every enrolment attempt and approval reaches the user: a content-free mail (real SMTP
/// listener) and an event the user's existing devices read. A device linked by TOTP alone waits
/// for the recovery backup until an existing device approves it too. An administrator's TOTP
/// reset is mailed to the user.
#[test]
fn attempts_and_approvals_reach_the_user_and_totp_links_wait() {
    let Some(sink) = sealroom_tests::smtp::SmtpSink::start() else {
        panic!("aiosmtpd is needed for this test (pip install aiosmtpd)");
    };
    let port = sink.port().to_string();
    let relay = Relay::start_with(&[
        ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ("SEALROOM_SMTP_HOST", "127.0.0.1"),
        ("SEALROOM_SMTP_PORT", &port),
        ("SEALROOM_PUBLIC_URL", "https://portal.example"),
    ]);
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    let secret = enrol_totp(&relay, &staff);
    let me = relay.client(&staff);
    // A recovery backup to protect (the relay only checks its magic and length).
    let mut backup = b"SRRB".to_vec();
    backup.resize(sealroom_wire::recovery::RECOVERY_MIN_LEN + 10, 7);
    let r = me.request("PUT", "/v1/me/recovery", &[], &backup);
    assert_eq!(r.status, 200, "{}", r.text());

    let (key, req) = request_device(&relay, &staff.user_id);
    let request_id = req["request_id"].as_str().unwrap();
    let path = format!("/v1/device-requests/{request_id}/totp");
    let r = relay
        .anon()
        .post_json(&path, &json!({ "code": wrong_code(&secret, 1) }));
    assert_eq!(r.status, 401);
    let code = sealroom_server::totp::code(&secret, now() + 30, 6);
    let r = relay.anon().post_json(&path, &json!({ "code": code }));
    assert_eq!(r.status, 204, "{}", r.text());

    // The existing device sees every step.
    let events = me.get("/v1/me/security-events");
    assert_eq!(events.status, 200, "{}", events.text());
    let kinds: Vec<String> = events.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["device_requested", "totp_failed", "device_approved_by_totp"]
    );

    // The TOTP-linked device authenticates but waits for the recovery backup.
    let phone = Device {
        device_id: req["device_id"].as_str().unwrap().to_owned(),
        key,
        ..staff.clone()
    };
    let r = relay.client(&phone).get("/v1/me/recovery");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.code(), "link_waiting");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 3600);
    // It cannot cut its own wait short; an existing device can.
    let approve = format!("/v1/device-requests/{request_id}/approve");
    let body = json!({ "public_key": phone.public_hex() });
    assert_eq!(relay.client(&phone).post_json(&approve, &body).status, 403);
    let r = me.post_json(&approve, &body);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = relay.client(&phone).get("/v1/me/recovery");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, backup);

    // An administrator resets the user's TOTP; the old codes stop working.
    let r = relay
        .client(&admin)
        .delete(&format!("/v1/users/{}/totp", staff.user_id));
    assert_eq!(r.status, 204, "{}", r.text());
    let status = me.get("/v1/me/totp").json();
    assert_eq!(status["enrolled"], false);

    // Mails: one per request, approval (TOTP, then device) and reset; none carries a code,
    // a key or an id.
    let to = "sam@example.test";
    let subjects = |mails: &[sealroom_tests::smtp::Mail]| -> Vec<String> {
        mails
            .iter()
            .filter(|m| m.to.contains(to))
            .map(|m| m.subject.clone())
            .collect()
    };
    let mails = sink.wait_until(std::time::Duration::from_secs(60), |m| {
        subjects(m).len() >= 4
    });
    let subjects = subjects(&mails);
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    for needle in [
        "a new device asked",
        "approved with your authenticator",
        "a new device was approved",
        "authenticator was reset",
    ] {
        assert!(
            subjects.iter().any(|s| s.contains(needle)),
            "{needle}: {subjects:?}"
        );
    }
    for m in mails.iter().filter(|m| m.to.contains(to)) {
        for secret_text in [
            code.as_str(),
            request_id,
            phone.device_id.as_str(),
            &phone.public_hex(),
        ] {
            assert!(!m.raw.contains(secret_text), "mail holds {secret_text}");
        }
    }
}
