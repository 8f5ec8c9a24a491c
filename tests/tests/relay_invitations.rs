//! Checking an invitation before registering with it (`POST /v1/invitations/check`), against the
//! real relay binary: a valid token gives the relay's own records (role, organisation and
//! inviter names, space), a used one says so and names nobody, and made-up tokens are refused
//! and throttled like wrong tokens at registration, so the route is no oracle for guessing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use sealroom_tests::relay::Relay;

#[test]
fn a_checked_invitation_names_what_the_relay_holds_and_nothing_else() {
    let relay = Relay::start();
    let (staff, space_id) = relay.staffed_space("Kestrel Ltd", "Sam");
    let r = relay.client(&staff).post_json(
        "/v1/invitations",
        &json!({ "role": "customer", "space_id": space_id }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let expires_at = r.json()["expires_at"].as_i64().unwrap();

    let anon = relay.anon();
    let check = anon.post_json("/v1/invitations/check", &json!({ "token": token }));
    assert_eq!(check.status, 200, "{}", check.text());
    let c = check.json();
    assert_eq!(c["state"], "valid");
    assert_eq!(c["role"], "customer");
    assert_eq!(c["org_name"], "Kestrel Ltd");
    assert_eq!(c["inviter_name"], "Sam");
    assert_eq!(c["inviter_user_id"], staff.user_id.as_str());
    assert_eq!(c["space_id"], space_id.as_str());
    assert_eq!(c["expires_at"], expires_at);

    // Checking does not use the invitation up.
    let again = anon.post_json("/v1/invitations/check", &json!({ "token": token }));
    assert_eq!(again.json()["state"], "valid");
    relay.register(&token, "Cara");

    // Used: said so, with no names for whoever holds the used link.
    let used = anon.post_json("/v1/invitations/check", &json!({ "token": token }));
    assert_eq!(used.status, 200, "{}", used.text());
    let u = used.json();
    assert_eq!(u["state"], "used");
    for field in [
        "role",
        "org_name",
        "inviter_name",
        "inviter_user_id",
        "space_id",
    ] {
        assert!(u[field].is_null(), "{field} of a used invitation: {u}");
    }

    // Bad bodies are 400, never 500.
    for body in [
        json!({}),
        json!({ "token": 7 }),
        json!({ "token": "x", "more": 1 }),
    ] {
        let r = anon.post_json("/v1/invitations/check", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
}

#[test]
fn made_up_tokens_are_refused_and_throttled_per_address() {
    // A limit of 5 failures a minute per address (production default: 20).
    let relay = Relay::start_with(&[("SEALROOM_AUTH_FAILURES_PER_MINUTE", "5")]);
    let (staff, space_id) = relay.staffed_space("Kestrel Ltd", "Sam");
    let r = relay.client(&staff).post_json(
        "/v1/invitations",
        &json!({ "role": "customer", "space_id": space_id }),
    );
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let anon = relay.anon();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let guess = format!("{}{i}", "A".repeat(42));
        let r = anon.post_json("/v1/invitations/check", &json!({ "token": guess }));
        assert!(
            r.json()["org_name"].is_null(),
            "a guess learns no names: {}",
            r.text()
        );
        statuses.push(r.status);
    }
    assert!(statuses[..5].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // Throttled, the real token is refused too until the window passes: guessing cannot be
    // interleaved with a known token to keep going.
    let r = anon.post_json("/v1/invitations/check", &json!({ "token": token }));
    assert_eq!(r.status, 429, "{}", r.text());
}
