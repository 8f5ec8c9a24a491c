//! The Rust SDK client's second-device, TOTP, preference and administration calls against the
//! real relay binary: a customer links a second device approved by the first one and a third
//! approved with a TOTP code (RFC 6238), the new devices join the space by an MLS commit and
//! read what is posted next; notification and retention settings round-trip; an admin queries,
//! exports and verifies the audit log; an erased user's device is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealroom_core::client::{AuditFormat, ClientErrorKind, ClientEvent, NewMessage, Role};
use sealroom_wire::audit::{AuditAction, AuditQuery};
use sealroom_wire::notify::NotifyMode;

use sealroom_tests::relay::{base32_decode, now, Relay};
use sealroom_tests::sdk::{SdkDevice, StaffSpace};

#[test]
fn second_devices_preferences_and_administration() {
    let relay = Relay::start();
    let rt = sealroom_tests::runtime();
    let url = relay.base_url();
    rt.block_on(async {
        // Ada (admin), the customer organisation, Sam (staff) and Sam's space.
        let set_up = StaffSpace::new(&url, &relay.setup_token()).await;
        let (admin, staff) = (&set_up.admin.client, &set_up.sam.client);
        let space_id = set_up.space_id.clone();
        let phone_device = SdkDevice::new(&url);
        let phone = &phone_device.client;
        let invite = staff.invite(Role::Customer, Some(&space_id)).await.unwrap();
        let account = phone
            .register(&invite.token, "Hana", None, "phone")
            .await
            .unwrap();
        staff.add_member(&space_id, &account.user_id).await.unwrap();
        phone.sync().await.unwrap();

        // A second device, approved by the first after comparing the key.
        let laptop_device = SdkDevice::new(&url);
        let laptop = &laptop_device.client;
        let request = laptop
            .request_device_link(&account.user_id, "laptop")
            .await
            .unwrap();
        assert!(
            laptop.finish_device_link().await.unwrap().is_none(),
            "not approved yet"
        );
        phone
            .approve_device(&request.request_id, &request.public_key)
            .await
            .unwrap();
        let linked = laptop.finish_device_link().await.unwrap().unwrap();
        assert_eq!(linked.user_id, account.user_id);
        assert_ne!(linked.device_id, account.device_id);
        assert_eq!(laptop.device_public_key().unwrap(), request.public_key);
        let devices = phone.my_devices().await.unwrap();
        assert_eq!(devices.devices.len(), 2);

        // A third device, approved with a TOTP code from the enrolled authenticator.
        let enrolment = phone.enrol_totp().await.unwrap();
        let secret = base32_decode(&enrolment.secret);
        phone
            .confirm_totp(&sealroom_server::totp::code(&secret, now(), 6))
            .await
            .unwrap();
        let tablet_device = SdkDevice::new(&url);
        let tablet = &tablet_device.client;
        tablet
            .request_device_link(&account.user_id, "tablet")
            .await
            .unwrap();
        let err = tablet.approve_device_link_with_totp("000000").await;
        if let Err(e) = &err {
            assert_eq!(e.kind(), ClientErrorKind::Unauthenticated, "{e}");
        }
        // The enrolment consumed the current time step's code; a code is accepted once, and
        // the relay accepts the neighbouring step, so the next step's code is used here.
        tablet
            .approve_device_link_with_totp(&sealroom_server::totp::code(&secret, now() + 30, 6))
            .await
            .unwrap();
        assert!(tablet.finish_device_link().await.unwrap().is_some());
        // Linked by a TOTP code alone, the tablet is unverified and would join no room: the
        // phone (which holds the user's identity key) vouches for it after comparing keys.
        let tablet_device = tablet.account().unwrap().device_id;
        phone
            .certify_device(&tablet_device, &tablet.device_public_key().unwrap())
            .await
            .unwrap();

        // Staff adds the user's new devices to the space; they read what is posted next.
        staff.add_member(&space_id, &account.user_id).await.unwrap();
        for d in [&laptop, &tablet] {
            let events = d.sync().await.unwrap();
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::JoinedSpace { .. })),
                "{events:?}"
            );
        }
        staff
            .post_message(
                &space_id,
                NewMessage {
                    body: "Your documents are ready".into(),
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap();
        for d in [&phone, &laptop, &tablet] {
            d.sync().await.unwrap();
            let bodies: Vec<String> = d
                .messages(&space_id, None)
                .unwrap()
                .into_iter()
                .map(|m| m.body)
                .collect();
            assert_eq!(bodies, vec!["Your documents are ready".to_owned()]);
        }
        let view = staff.space(&space_id).await.unwrap();
        let member = view
            .members
            .iter()
            .find(|m| m.user_id == account.user_id)
            .unwrap();
        assert_eq!(member.devices.len(), 3);

        // Preferences.
        let pref = phone
            .set_notification_mode(NotifyMode::Daily, Some("hana@heron.example"))
            .await
            .unwrap();
        assert_eq!(pref.mode, NotifyMode::Daily);
        assert_eq!(
            laptop.notification_preference().await.unwrap().mode,
            NotifyMode::Daily
        );
        staff.set_retention(&space_id, Some(30)).await.unwrap();
        assert_eq!(staff.retention(&space_id).await.unwrap().days, Some(30));
        let err = phone.set_retention(&space_id, Some(1)).await.unwrap_err();
        assert_eq!(err.kind(), ClientErrorKind::Forbidden, "{err}");

        // Administration: the audit log, its export and its chain.
        let page = admin
            .audit(&AuditQuery {
                action: Some(AuditAction::DeviceApprove.as_str().to_owned()),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 2, "{page:?}");
        assert!(page
            .entries
            .iter()
            .all(|r| r.entry.object_id.is_some() && r.entry.ip.is_some()));
        let csv = admin
            .audit_export(&AuditQuery::default(), AuditFormat::Csv)
            .await
            .unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.lines().count() > 10, "{csv}");
        assert!(csv.contains("device.approve"));
        let report = admin.verify_audit().await.unwrap();
        assert!(report.ok && report.verified > 10, "{report:?}");
        let err = phone.audit(&AuditQuery::default()).await.unwrap_err();
        assert_eq!(err.kind(), ClientErrorKind::Forbidden);

        // Erasure: every device of the user is refused afterwards.
        admin.erase_user(&account.user_id).await.unwrap();
        for d in [&phone, &laptop, &tablet] {
            let err = d.sync().await.unwrap_err();
            assert_eq!(err.kind(), ClientErrorKind::Unauthenticated, "{err}");
        }
    });
}
