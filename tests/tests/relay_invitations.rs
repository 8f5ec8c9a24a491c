//! Checking an invitation before registering with it (`POST /v1/invitations/check`), against the
//! real relay binary: a valid token gives the relay's own records (role, organisation and
//! inviter names, space), a used one says so and names nobody, and made-up tokens are refused
//! and throttled like wrong tokens at registration, so the route is no oracle for guessing.
//!
//! Lifetime and revocation: an invitation lives as long as its creator asked (one hour to 30
//! days), the space's staff list its open invitations and revoke them, and a revoked link is
//! refused on check, registration and acceptance. A customer of the space, the staff of another
//! space and a staff member reaching for a staff invitation all try to list or revoke and are
//! refused (403), and the invitation they aimed at still works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde_json::{json, Value};

use sealroom_tests::relay::{now, registration, Device, Relay};

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

/// Staff invites a customer into `space_id`; returns the relay's answer (with the token).
fn invite(relay: &Relay, staff: &Device, space_id: &str, extra: Value) -> Value {
    let mut body = json!({ "role": "customer", "space_id": space_id });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = relay.client(staff).post_json("/v1/invitations", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn open_ids(relay: &Relay, who: &Device, space_id: &str) -> Vec<String> {
    let r = relay
        .client(who)
        .get(&format!("/v1/spaces/{space_id}/invitations"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invitation_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_invitation_lives_as_long_as_its_creator_asked_within_bounds() {
    let relay = Relay::start();
    let (staff, space_id) = relay.staffed_space("Kestrel Ltd", "Sam");
    let before = now();
    let hour = invite(&relay, &staff, &space_id, json!({ "lifetime_secs": 3600 }));
    let month = invite(
        &relay,
        &staff,
        &space_id,
        json!({ "lifetime_secs": 30 * 86_400 }),
    );
    let default = invite(&relay, &staff, &space_id, json!({}));
    let after = now();
    for (inv, secs) in [(&hour, 3600), (&month, 30 * 86_400), (&default, 7 * 86_400)] {
        let expires = inv["expires_at"].as_i64().unwrap();
        assert!(
            (before + secs..=after + secs).contains(&expires),
            "{secs}: {inv}"
        );
        let check = relay
            .anon()
            .post_json("/v1/invitations/check", &json!({ "token": inv["token"] }));
        assert_eq!(check.json()["expires_at"], expires, "{}", check.text());
    }
    // Out of bounds or not a number: a clear 400, nothing issued.
    let listed = open_ids(&relay, &staff, &space_id).len();
    for lifetime in [
        json!(0),
        json!(3599),
        json!(30 * 86_400 + 1),
        json!(-5),
        json!("1h"),
    ] {
        let r = relay.client(&staff).post_json(
            "/v1/invitations",
            &json!({ "role": "customer", "space_id": space_id, "lifetime_secs": lifetime }),
        );
        assert_eq!(r.status, 400, "{lifetime}: {}", r.text());
    }
    assert_eq!(open_ids(&relay, &staff, &space_id).len(), listed);
}

#[test]
fn a_revoked_invitation_is_refused_everywhere_and_audited() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Kestrel Ltd");
    let staff = relay.add_staff(&admin, "Sam");
    let space_id = relay.create_space(&staff, &org);
    let second_space = relay.create_space(&staff, &org);
    let kept = invite(&relay, &staff, &space_id, json!({}));
    let doomed = invite(
        &relay,
        &staff,
        &space_id,
        json!({ "lifetime_secs": 86_400 }),
    );
    let doomed_id = doomed["invitation_id"].as_str().unwrap();
    let token = doomed["token"].as_str().unwrap();

    // Listed for the staff, newest first, with state and creator, never a token.
    let r = relay
        .client(&staff)
        .get(&format!("/v1/spaces/{space_id}/invitations"));
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json()["invitations"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(!r.text().contains(token), "a listing shows no token");
    let entry = list
        .iter()
        .find(|i| i["invitation_id"] == doomed_id)
        .unwrap();
    assert_eq!(entry["state"], "valid");
    assert_eq!(entry["invited_by"], staff.user_id.as_str());
    assert_eq!(entry["expires_at"], doomed["expires_at"]);
    assert!(entry["revoked_at"].is_null());
    assert!(open_ids(&relay, &staff, &second_space).is_empty());

    let r = relay
        .client(&staff)
        .delete(&format!("/v1/invitations/{doomed_id}"));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        open_ids(&relay, &staff, &space_id),
        vec![kept["invitation_id"].as_str().unwrap().to_owned()]
    );

    // The link: the check says revoked and names nobody; registration refuses it (410).
    let check = relay
        .anon()
        .post_json("/v1/invitations/check", &json!({ "token": token }));
    assert_eq!(check.status, 200, "{}", check.text());
    let c = check.json();
    assert_eq!(c["state"], "revoked");
    for field in [
        "role",
        "org_name",
        "inviter_name",
        "inviter_user_id",
        "space_id",
    ] {
        assert!(c[field].is_null(), "{field} of a revoked invitation: {c}");
    }
    let key = SigningKey::generate(&mut OsRng);
    let r = relay
        .anon()
        .post_json("/v1/register", &registration(token, "Mallory", &key));
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.code(), "gone");
    assert!(r.text().contains("revoked"), "{}", r.text());

    // An existing customer of the organisation cannot take it either.
    let cara = relay.register(kept["token"].as_str().unwrap(), "Cara");
    let r = relay
        .client(&cara)
        .post_json("/v1/invitations/accept", &json!({ "token": token }));
    assert_eq!(r.status, 410, "{}", r.text());
    let space = relay.client(&staff).get(&format!("/v1/spaces/{space_id}"));
    let members = space.json()["members"].as_array().unwrap().len();
    assert_eq!(members, 2, "owner and Cara only: {}", space.text());

    // Revoking again changes nothing; a used invitation cannot be revoked.
    let again = relay
        .client(&staff)
        .delete(&format!("/v1/invitations/{doomed_id}"));
    assert_eq!(again.status, 204, "{}", again.text());
    let used = relay.client(&staff).delete(&format!(
        "/v1/invitations/{}",
        kept["invitation_id"].as_str().unwrap()
    ));
    assert_eq!(used.status, 409, "{}", used.text());
    let unknown = relay
        .client(&staff)
        .delete("/v1/invitations/no-such-invitation");
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // Audited once, with the revoking staff member and device.
    let r = relay.client(&admin).get(&format!(
        "/v1/audit?limit=100&action=invite.revoke&object={doomed_id}"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_user"], staff.user_id.as_str());
    assert_eq!(entries[0]["device"], staff.device_id.as_str());
    assert_eq!(
        entries[0]["detail"],
        format!("role=customer space={space_id}")
    );
    let r = relay.client(&admin).get(&format!(
        "/v1/audit?limit=100&action=invite.create&object={doomed_id}"
    ));
    assert_eq!(
        r.json()["entries"][0]["detail"],
        format!("role=customer space={space_id} lifetime=86400"),
        "{}",
        r.text()
    );
}

#[test]
fn customers_and_other_staff_cannot_list_or_revoke_invitations() {
    let relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let org = relay.create_customer_org(&admin, "Kestrel Ltd");
    let sam = relay.add_staff(&admin, "Sam");
    let olga = relay.add_staff(&admin, "Olga");
    let space_id = relay.create_space(&sam, &org);
    let olgas_space = relay.create_space(&olga, &org);
    let cara = relay.add_customer(&sam, &space_id, "Cara");
    let target = invite(&relay, &sam, &space_id, json!({}));
    let target_id = target["invitation_id"].as_str().unwrap();
    let staff_invite = relay
        .client(&admin)
        .post_json("/v1/invitations", &json!({ "role": "staff" }));
    assert_eq!(staff_invite.status, 201, "{}", staff_invite.text());
    let staff_invite_id = staff_invite.json()["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A customer of the space: neither sees nor revokes the space's invitations.
    let c = relay.client(&cara);
    let r = c.get(&format!("/v1/spaces/{space_id}/invitations"));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = c.delete(&format!("/v1/invitations/{target_id}"));
    assert_eq!(r.status, 403, "{}", r.text());
    // Staff of another space: the space stays hidden, the revocation is refused.
    let o = relay.client(&olga);
    let r = o.get(&format!("/v1/spaces/{space_id}/invitations"));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = o.delete(&format!("/v1/invitations/{target_id}"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(open_ids(&relay, &olga, &olgas_space).is_empty());
    // Staff invitations are the administrators' to revoke.
    let r = relay
        .client(&sam)
        .delete(&format!("/v1/invitations/{staff_invite_id}"));
    assert_eq!(r.status, 403, "{}", r.text());

    // Nothing was revoked: the target still checks valid and nothing is audited.
    let check = relay.anon().post_json(
        "/v1/invitations/check",
        &json!({ "token": target["token"] }),
    );
    assert_eq!(check.json()["state"], "valid", "{}", check.text());
    let r = relay
        .client(&admin)
        .get("/v1/audit?limit=100&action=invite.revoke");
    assert_eq!(
        r.json()["entries"].as_array().unwrap().len(),
        0,
        "{}",
        r.text()
    );

    // A provider administrator sees the space's invitations and revokes both kinds.
    assert_eq!(
        open_ids(&relay, &admin, &space_id),
        vec![target_id.to_owned()]
    );
    for id in [target_id, staff_invite_id.as_str()] {
        let r = relay
            .client(&admin)
            .delete(&format!("/v1/invitations/{id}"));
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let check = relay.anon().post_json(
        "/v1/invitations/check",
        &json!({ "token": target["token"] }),
    );
    assert_eq!(check.json()["state"], "revoked", "{}", check.text());
}
