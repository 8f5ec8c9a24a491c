//! The Rust SDK client (`sealroom_core::client`) against the real relay binary over real HTTP:
//! bootstrap and registration through invitations, a space with an internal room, members
//! added by MLS commits, messages both ways, internal notes that customers never receive,
//! removal (the removed member is refused by the relay and reads nothing posted afterwards),
//! and a client reopened from its encrypted on-disk store. Finally the relay's data directory
//! and log are scanned for every plaintext used: zero hits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealroom_core::client::{ClientErrorKind, ClientEvent, NewMessage, Role};

use sealroom_tests::relay::Relay;
use sealroom_tests::sdk::{open_at, SdkDevice as Device};

fn new_device(relay: &Relay) -> Device {
    let device = Device::new(&relay.base_url());
    assert!(!device.client.is_registered());
    device
}

fn bodies(messages: &[sealroom_core::client::Message]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

const NOTE: &str = "internal: customer Kestrel Ltd may churn, offer discount 17%";
const HELLO: &str = "Hello from the advisor, your statement is ready";
const QUESTION: &str = "Thanks! Which quarter does statement KX-4471 cover?";
const AFTER_REMOVAL: &str = "Posted after the removal: payroll figures 88231";

#[test]
fn two_organisations_share_a_space_through_the_sdk() {
    let relay = Relay::start();
    let rt = sealroom_tests::runtime();
    rt.block_on(async {
        // Provider admin bootstraps; a customer org; two staff; two customer members.
        let admin = new_device(&relay);
        let account = admin
            .client
            .bootstrap(
                &relay.setup_token(),
                "Provider",
                "Ada Admin",
                None,
                "laptop",
            )
            .await
            .unwrap();
        assert_eq!(account.role, Role::Admin);
        let org = admin
            .client
            .create_customer_org("Kestrel Ltd")
            .await
            .unwrap();

        let staff_a = new_device(&relay);
        let staff_b = new_device(&relay);
        for (d, name) in [(&staff_a, "Sam Staff"), (&staff_b, "Tia Staff")] {
            let invite = admin.client.invite(Role::Staff, None).await.unwrap();
            let acc = d
                .client
                .register(&invite.token, name, None, "laptop")
                .await
                .unwrap();
            assert_eq!(acc.role, Role::Staff);
        }

        let space = staff_a
            .client
            .create_space(&org.org_id, true)
            .await
            .unwrap();
        assert!(space.joined && space.internal_room);
        let cust_1 = new_device(&relay);
        let cust_2 = new_device(&relay);
        for (d, name) in [(&cust_1, "Cara Customer"), (&cust_2, "Dan Customer")] {
            let invite = staff_a
                .client
                .invite(Role::Customer, Some(&space.space_id))
                .await
                .unwrap();
            d.client
                .register(&invite.token, name, None, "phone")
                .await
                .unwrap();
        }
        let staff_b_user = staff_b.client.account().unwrap().user_id;
        let cust_1_user = cust_1.client.account().unwrap().user_id;
        let cust_2_user = cust_2.client.account().unwrap().user_id;
        for user in [&staff_b_user, &cust_1_user, &cust_2_user] {
            staff_a
                .client
                .add_member(&space.space_id, user)
                .await
                .unwrap();
        }

        // Everybody joins through their welcomes.
        for d in [&staff_b, &cust_1, &cust_2] {
            let events = d.client.sync().await.unwrap();
            assert!(
                events.iter().any(|e| matches!(
                    e,
                    ClientEvent::JoinedSpace {
                        internal: false,
                        ..
                    }
                )),
                "{events:?}"
            );
        }
        let staff_b_events = staff_b.client.sync().await.unwrap();
        let staff_b_space = staff_b.client.space(&space.space_id).await.unwrap();
        assert!(staff_b_space.internal_room, "{staff_b_events:?}");
        let cust_space = cust_1.client.space(&space.space_id).await.unwrap();
        assert!(cust_space.joined && !cust_space.internal_room);
        // Safety numbers: both sides compute the same number for the same user.
        let number = |s: &sealroom_core::client::Space, user: &str| {
            s.members
                .iter()
                .find(|m| m.user_id == user)
                .and_then(|m| m.safety_number.clone())
                .unwrap()
        };
        assert_eq!(
            number(&cust_space, &cust_2_user),
            number(&staff_b_space, &cust_2_user)
        );

        // An internal note reaches staff only; messages go both ways.
        staff_a
            .client
            .post_message(
                &space.space_id,
                NewMessage {
                    body: NOTE.into(),
                    internal: true,
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        let hello = staff_a
            .client
            .post_message(
                &space.space_id,
                NewMessage {
                    body: HELLO.into(),
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        cust_1.client.sync().await.unwrap();
        let seen = cust_1.client.messages(&space.space_id, None).unwrap();
        assert_eq!(bodies(&seen), vec![HELLO]);
        cust_1
            .client
            .post_message(
                &space.space_id,
                NewMessage {
                    thread_id: Some(hello.thread_id.clone()),
                    reply_to: Some(hello.message_id.clone()),
                    body: QUESTION.into(),
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        staff_b.client.sync().await.unwrap();
        let staff_view = staff_b.client.messages(&space.space_id, None).unwrap();
        assert_eq!(bodies(&staff_view), vec![HELLO, QUESTION, NOTE]);
        let reply = &staff_view[1];
        assert_eq!(reply.reply_to.as_deref(), Some(hello.message_id.as_str()));
        assert_eq!(reply.sender_user_id, cust_1_user);
        let threads = staff_b.client.threads(&space.space_id).unwrap();
        assert_eq!(threads.len(), 2);
        cust_2.client.sync().await.unwrap();
        assert_eq!(
            bodies(&cust_2.client.messages(&space.space_id, None).unwrap()),
            vec![HELLO, QUESTION]
        );
        // A customer has no internal room to post into.
        let err = cust_1
            .client
            .post_message(
                &space.space_id,
                NewMessage {
                    body: "x".into(),
                    internal: true,
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ClientErrorKind::NotFound);

        // Removal: the relay refuses the removed member and nothing later reaches them.
        staff_a
            .client
            .remove_member(&space.space_id, &cust_2_user)
            .await
            .unwrap();
        staff_a
            .client
            .post_message(
                &space.space_id,
                NewMessage {
                    body: AFTER_REMOVAL.into(),
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        // The removed device's sync reports the removal and keeps working for its other rooms.
        let events = cust_2.client.sync().await.unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ClientEvent::RemovedFromSpace { .. })),
            "{events:?}"
        );
        assert!(cust_2.client.sync().await.unwrap().is_empty());
        assert!(
            !bodies(&cust_2.client.messages(&space.space_id, None).unwrap())
                .contains(&AFTER_REMOVAL)
        );
        let err = cust_2.client.space(&space.space_id).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ClientErrorKind::Forbidden | ClientErrorKind::NotFound
            ),
            "{err}"
        );
        cust_1.client.sync().await.unwrap();
        assert!(
            bodies(&cust_1.client.messages(&space.space_id, None).unwrap())
                .contains(&AFTER_REMOVAL)
        );

        // A device reopened from its encrypted store keeps its account and messages, and
        // goes on syncing.
        let Device { client, dir, key } = cust_1;
        drop(client);
        let reopened = open_at(&relay.base_url(), dir.path(), key);
        assert!(reopened.is_registered());
        assert_eq!(reopened.account().unwrap().user_id, cust_1_user);
        assert_eq!(
            bodies(&reopened.messages(&space.space_id, None).unwrap()),
            vec![HELLO, QUESTION, AFTER_REMOVAL]
        );
        reopened.sync().await.unwrap();
        // Registering twice is refused.
        let err = reopened
            .register("whatever", "X", None, "y")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "already_registered");
    });

    // The relay never saw plaintext.
    relay.assert_no_plaintext(&[
        NOTE,
        HELLO,
        QUESTION,
        AFTER_REMOVAL,
        "Kestrel Ltd may churn",
        "KX-4471",
        // Not the bare number: five digits also turn up in a log as a port or a process id.
        "figures 88231",
    ]);
}
