//! Display names end to end (issue 18, point 1), through the real relay binary with real SDK
//! clients behind [`HostileRelay`], and a malicious member (Mallory, raw openmls) in the room.
//!
//! * honest: the name a customer registered with reaches staff as a profile her device signed:
//!   first in the admit step (the card in her key packages, beside her safety number), then in
//!   the space's members and on her messages (with the sender's time and the relay's); a later
//!   profile with organisation and title wins; staff's names reach the customer.
//! * the relay rewrites the card in a claimed key package: no forged name is shown.
//! * Mallory posts profiles naming other users (a copy of staff's own signed profile, one with
//!   the name changed, one signed by her own key) and one with a right-to-left override in her
//!   own name: the others refuse the first three (`Refused`, `profile_not_sender`), keep the
//!   real names, and show Mallory's name without the override.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::Signer as _;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use serde_json::{json, Value};

use sealroom_core::client::{ClientError, ClientEvent, NewMessage, ProfileInput, Role};

use sealroom_tests::hostile::HostileRelay;
use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{b64, bytes, unb64, upload_sdk_key_packages, MlsDevice};
use sealroom_tests::runtime;
use sealroom_tests::sdk::{Names, SdkDevice, StaffSpace};

/// The provider, its staff and the customer organisation as the profiles name them.
const NAMES: Names = Names {
    admin: "Ada Admin",
    staff: "Sam Staff",
    org: "Nordic Dental AB",
};

/// A malicious member: raw openmls, posting application messages it writes by hand.
struct Mallory {
    mls: MlsDevice,
    group: MlsGroup,
    relay_room: String,
}

impl Mallory {
    fn join(relay: &Relay, mls: MlsDevice) -> Self {
        let r = relay.client(&mls.device).get("/v1/welcomes");
        assert_eq!(r.status, 200, "{}", r.text());
        let entries = r.json()["entries"].as_array().unwrap().clone();
        let relay_room = entries[0]["room_id"].as_str().unwrap().to_owned();
        let group = mls.join(entries[0]["welcome"].as_str().unwrap());
        Self {
            mls,
            group,
            relay_room,
        }
    }

    /// The profile bodies Mallory can read in the room (posted after it joined).
    fn read_profiles(&mut self, relay: &Relay) -> Vec<Value> {
        let r = relay.client(&self.mls.device).get(&format!(
            "/v1/rooms/{}/messages?after=0&limit=500",
            self.relay_room
        ));
        let mut out = Vec::new();
        for entry in r.json()["entries"].as_array().unwrap() {
            let message =
                MlsMessageIn::tls_deserialize_exact(unb64(entry["message"].as_str().unwrap()))
                    .unwrap();
            let Ok(protocol) = message.try_into_protocol_message() else {
                continue;
            };
            let Ok(processed) = self.group.process_message(&self.mls.provider, protocol) else {
                continue;
            };
            if let ProcessedMessageContent::ApplicationMessage(app) = processed.into_content() {
                let v: Value = serde_json::from_slice(&app.into_bytes()).unwrap();
                if v["body"]["type"] == "profile" {
                    out.push(v["body"].clone());
                }
            }
        }
        out
    }

    fn post(&mut self, relay: &Relay, body: &Value) {
        let plain =
            serde_json::to_vec(&json!({ "v": 1, "label": "customer", "body": body })).unwrap();
        let message = self
            .group
            .create_message(&self.mls.provider, &self.mls.signer, &plain)
            .unwrap();
        let r = relay.client(&self.mls.device).post_json(
            &format!("/v1/rooms/{}/messages", self.relay_room),
            &json!({ "message": b64(&bytes(&message)) }),
        );
        assert!(
            r.status < 300,
            "the relay takes a member's message: {}",
            r.text()
        );
    }

    /// A profile body signed with Mallory's own device key, naming `user`/`device`.
    fn signed_profile(&self, user: &str, device: &str, name: &str, at: u64) -> Value {
        let p = sealroom_core::room::Profile {
            user_id: user.into(),
            device_id: device.into(),
            name: name.into(),
            organisation: None,
            title: None,
            updated_at: at,
            signature: Vec::new(),
        };
        let sig = self.mls.device.key.sign(&p.signed_bytes()).to_bytes();
        json!({
            "type": "profile", "user_id": user, "device_id": device, "name": name,
            "updated_at": at, "signature": hex::encode(sig),
        })
    }
}

fn upload_key_packages(relay: &Relay, mls: &MlsDevice) {
    upload_sdk_key_packages(&relay.client(&mls.device), mls);
}

fn refused_profiles(events: &[ClientEvent]) -> usize {
    events
        .iter()
        .filter(
            |e| matches!(e, ClientEvent::Refused { reason, .. } if reason == "profile_not_sender"),
        )
        .count()
}

#[test]
fn names_travel_signed_and_forged_ones_are_refused() {
    let relay = Relay::start();
    let proxy = HostileRelay::start(relay.addr());
    runtime().block_on(async {
        let w = StaffSpace::with(&proxy.base_url(), &relay.setup_token(), NAMES).await;
        let (sam, space_id) = (&w.sam.client, w.space_id.clone());
        let sam_user = w.sam.user_id();
        let karin = SdkDevice::new(&proxy.base_url());
        let karin_user = w
            .register_customer(&karin, &space_id, "Karin Lund", "phone")
            .await;
        let karin = &karin.client;

        // --- the relay rewrites the card in the key packages it hands out ---------------
        proxy.rewrite("POST", "/v1/users/*/keypackages/claim", |_, reply| {
            reply.edit_json(|v| {
                for kp in v["key_packages"].as_array_mut().unwrap() {
                    let mut raw = unb64(kp["key_package"].as_str().unwrap());
                    let at = raw
                        .windows(10)
                        .position(|w| w == b"Karin Lund")
                        .expect("the card carries the signed name");
                    raw[at..at + 10].copy_from_slice(b"Bank Audit");
                    kp["key_package"] = json!(b64(&raw));
                }
            })
        });
        match sam.admission(&space_id, &karin_user).await {
            Err(ClientError::KeyPackageMismatch { .. }) => {}
            Ok(a) => assert_ne!(
                a.name.as_deref(),
                Some("Bank Audit"),
                "ATTACK SUCCEEDED: the relay's rewritten card is shown as the name"
            ),
            Err(e) => panic!("unexpected error: {e}"),
        }
        proxy.clear_rules();

        // --- honest admit step: signed name beside the safety number -------------------
        let admission = sam.admission(&space_id, &karin_user).await.unwrap();
        assert_eq!(admission.name.as_deref(), Some("Karin Lund"));
        assert_eq!(admission.devices.len(), 1);
        assert_eq!(admission.devices[0].name.as_deref(), Some("Karin Lund"));
        let number = admission.safety_number.clone().expect("a safety number");
        assert_eq!(number.chars().filter(char::is_ascii_digit).count(), 60);
        sam.add_member(&space_id, &karin_user).await.unwrap();
        karin.sync().await.unwrap();
        sam.sync().await.unwrap();
        let space = sam.space(&space_id).await.unwrap();
        let member = space
            .members
            .iter()
            .find(|m| m.user_id == karin_user)
            .unwrap();
        assert_eq!(member.name.as_deref(), Some("Karin Lund"));
        assert_eq!(member.safety_number.as_deref(), Some(number.as_str()));
        let seen_by_karin = karin.space(&space_id).await.unwrap();
        let staff = seen_by_karin
            .members
            .iter()
            .find(|m| m.user_id == sam_user)
            .unwrap();
        assert_eq!(staff.name.as_deref(), Some("Sam Staff"));

        // --- messages carry the signed name and both times -----------------------------
        karin
            .post_message(
                &space_id,
                NewMessage {
                    body: "Hello from the practice".into(),
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        sam.sync().await.unwrap();
        let messages = sam.messages(&space_id, None).unwrap();
        let m = messages.last().unwrap();
        assert_eq!(m.sender_name.as_deref(), Some("Karin Lund"));
        let (sent, received) = (m.sent_at.unwrap(), m.received_at.unwrap());
        assert!(sent.abs_diff(received) < 600, "{sent} vs {received}");

        // --- a later profile with organisation and title wins --------------------------
        karin
            .set_profile(ProfileInput {
                name: "Karin Lund".into(),
                organisation: Some("Nordic Dental AB".into()),
                title: Some("Practice manager".into()),
            })
            .await
            .unwrap();
        sam.sync().await.unwrap();
        let p = sam.profile(&karin_user).unwrap().unwrap();
        assert_eq!(p.organisation.as_deref(), Some("Nordic Dental AB"));
        assert_eq!(p.title.as_deref(), Some("Practice manager"));

        // --- Mallory, a member, forges profiles of others ------------------------------
        let invite = sam.invite(Role::Customer, Some(&space_id)).await.unwrap();
        let device = relay.register(&invite.token, "Mallory");
        relay.certify_with_new_identity(&device);
        let mls = MlsDevice::new(&device);
        upload_key_packages(&relay, &mls);
        sam.add_member(&space_id, &device.user_id).await.unwrap();
        let mut mallory = Mallory::join(&relay, mls);
        karin.sync().await.unwrap();
        sam.sync().await.unwrap();
        // Staff's own signed profile, posted after Mallory joined.
        let sams = mallory
            .read_profiles(&relay)
            .into_iter()
            .find(|p| p["user_id"] == json!(sam_user))
            .expect("staff shared their profile with the newcomer");
        let later = sams["updated_at"].as_u64().unwrap() + 1000;
        // 1. A verbatim copy of staff's profile, sent by Mallory.
        mallory.post(&relay, &sams);
        // 2. Staff's profile with the name changed (and a later time).
        let mut renamed = sams.clone();
        renamed["name"] = json!("Sam (send invoices to mallory@example.com)");
        renamed["updated_at"] = json!(later);
        mallory.post(&relay, &renamed);
        // 3. A profile of Karin signed by Mallory's own key.
        let forged =
            mallory.signed_profile(&karin_user, "dev-x", "Karin (new bank account)", later);
        mallory.post(&relay, &forged);
        // 4. Mallory's own profile, with a right-to-left override.
        let own = mallory.signed_profile(
            &device.user_id,
            &device.device_id,
            "Mallory \u{202E}fdp.exe",
            later,
        );
        mallory.post(&relay, &own);

        let events = karin.sync().await.unwrap();
        assert_eq!(refused_profiles(&events), 3, "{events:?}");
        let events = sam.sync().await.unwrap();
        assert_eq!(refused_profiles(&events), 3, "{events:?}");
        for viewer in [&karin, &sam] {
            let staff = viewer.profile(&sam_user).unwrap().unwrap();
            assert_eq!(
                staff.name, "Sam Staff",
                "ATTACK SUCCEEDED: a member changed staff's name"
            );
            let k = viewer.profile(&karin_user).unwrap().unwrap();
            assert_eq!(
                k.name, "Karin Lund",
                "ATTACK SUCCEEDED: a member changed Karin's name"
            );
            let m = viewer.profile(&device.user_id).unwrap().unwrap();
            assert_eq!(m.name, "Mallory fdp.exe", "the override is neutralised");
        }
    });
}

/// Issue 18 point 3: an existing customer joins a second space of her organisation by invitation
/// (no second registration) and a third one by staff adding her; invitations for another
/// organisation or for staff are refused and stay unused.
#[test]
fn an_existing_customer_joins_further_spaces() {
    let relay = Relay::start();
    let proxy = HostileRelay::start(relay.addr());
    runtime().block_on(async {
        let w = StaffSpace::with(&proxy.base_url(), &relay.setup_token(), NAMES).await;
        let admin = &w.admin.client;
        let other_org = w.customer_org("Other AB").await;
        let first = admin.create_space(&w.org_id, false).await.unwrap().space_id;
        let second = admin.create_space(&w.org_id, false).await.unwrap().space_id;
        let third = admin.create_space(&w.org_id, false).await.unwrap().space_id;
        let foreign = admin
            .create_space(&other_org, false)
            .await
            .unwrap()
            .space_id;
        let karin = SdkDevice::new(&proxy.base_url());
        let invite = admin.invite(Role::Customer, Some(&first)).await.unwrap();
        let account = karin
            .client
            .register(&invite.token, "Karin Lund", None, "phone")
            .await
            .unwrap();
        let karin = &karin.client;
        admin.add_member(&first, &account.user_id).await.unwrap();
        karin.sync().await.unwrap();

        // By invitation: the same device, no second registration.
        let invite = admin.invite(Role::Customer, Some(&second)).await.unwrap();
        assert_eq!(
            karin.accept_invitation(&invite.token).await.unwrap(),
            second
        );
        assert_eq!(
            karin.account().unwrap(),
            account,
            "no new account or device"
        );
        let listed: Vec<String> = karin
            .spaces()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.space_id)
            .collect();
        assert!(listed.contains(&second), "{listed:?}");
        let state = karin.check_invitation(&invite.token).await.unwrap().state;
        assert_eq!(state, sealroom_core::client::InvitationState::Used);
        match karin.accept_invitation(&invite.token).await {
            Err(ClientError::Relay { status: 410, .. }) => {}
            other => panic!("a used invitation is refused: {other:?}"),
        }
        let admission = admin.admission(&second, &account.user_id).await.unwrap();
        assert_eq!(admission.name.as_deref(), Some("Karin Lund"));
        admin.add_member(&second, &account.user_id).await.unwrap();
        let events = karin.sync().await.unwrap();
        assert!(
            events.iter().any(
                |e| matches!(e, ClientEvent::JoinedSpace { space_id, .. } if *space_id == second)
            ),
            "{events:?}"
        );

        // By staff adding an existing person of the customer organisation.
        admin.add_member(&third, &account.user_id).await.unwrap();
        karin.sync().await.unwrap();
        assert!(karin.space(&third).await.unwrap().joined);

        // Refused: another organisation's space, a staff invitation. Both stay usable.
        let invite = admin.invite(Role::Customer, Some(&foreign)).await.unwrap();
        match karin.accept_invitation(&invite.token).await {
            Err(ClientError::Relay { status: 403, .. }) => {}
            other => panic!("another organisation's invitation is refused: {other:?}"),
        }
        let staff_invite = admin.invite(Role::Staff, None).await.unwrap();
        match karin.accept_invitation(&staff_invite.token).await {
            Err(ClientError::Relay { status: 403, .. }) => {}
            other => panic!("a staff invitation is refused: {other:?}"),
        }
        for token in [&invite.token, &staff_invite.token] {
            let state = karin.check_invitation(token).await.unwrap().state;
            assert_eq!(state, sealroom_core::client::InvitationState::Valid);
        }
    });
}
