//! Issue 17 points 1 and 5 through the Rust SDK against the real relay binary: a file
//! announced by `sync` is complete (name, media type, size from its checked manifest) when the
//! event is delivered, and after `RemovedFromSpace` posting, downloading and uploading all fail
//! with one code, `removed_from_space`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealroom_core::client::{ClientEvent, NewFile, NewMessage, Role};

use sealroom_tests::relay::Relay;
use sealroom_tests::sdk::{SdkDevice, StaffSpace};

#[test]
fn synced_files_are_complete_and_removal_has_one_code() {
    let relay = Relay::start();
    let rt = sealroom_tests::runtime();
    let url = relay.base_url();
    rt.block_on(async {
        // Ada (admin), the customer organisation, Sam (staff) and Sam's space.
        let StaffSpace {
            admin: _admin,
            sam,
            space_id,
            ..
        } = StaffSpace::new(&url, &relay.setup_token()).await;
        let staff = &sam.client;
        let customer = SdkDevice::new(&url);
        let cust = &customer.client;
        let invite = staff.invite(Role::Customer, Some(&space_id)).await.unwrap();
        cust.register(&invite.token, "Cara", None, "phone")
            .await
            .unwrap();
        let cust_user = cust.account().unwrap().user_id;
        staff.add_member(&space_id, &cust_user).await.unwrap();
        cust.sync().await.unwrap();

        let body = b"%PDF-1.7\nquarterly numbers\n".repeat(100);
        let uploaded = staff
            .upload_file(
                &space_id,
                &NewFile {
                    name: "q3-report.pdf".into(),
                    ..NewFile::default()
                },
                body.len() as u64,
                body.as_slice(),
                |_, _| {},
            )
            .await
            .unwrap();

        // Point 1: the announcement and the record are complete when the event arrives.
        let events = cust.sync().await.unwrap();
        let announced = events
            .iter()
            .find_map(|e| match e {
                ClientEvent::NewFile { file_id, .. } => Some(file_id.clone()),
                _ => None,
            })
            .expect("a NewFile event");
        assert_eq!(announced, uploaded.file_id);
        let files = cust.files(&space_id).unwrap();
        let f = files.iter().find(|f| f.file_id == announced).unwrap();
        assert_eq!(f.name, "q3-report.pdf");
        assert_eq!(f.media_type, "application/pdf");
        assert_eq!(f.size, body.len() as u64);
        assert_eq!(f.digest, uploaded.digest);
        let docs = cust.documents(&space_id).unwrap();
        assert_eq!(docs[0].latest.name, "q3-report.pdf");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::Refused { .. })),
            "{events:?}"
        );

        // Point 5: removed, then every call into the space says `removed_from_space`.
        staff.remove_member(&space_id, &cust_user).await.unwrap();
        let events = cust.sync().await.unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ClientEvent::RemovedFromSpace { .. })),
            "{events:?}"
        );
        let post = cust
            .post_message(
                &space_id,
                NewMessage {
                    body: "still here?".into(),
                    ..NewMessage::default()
                },
            )
            .await
            .unwrap_err();
        let mut out = Vec::new();
        let download = cust
            .download_file(&space_id, &announced, &mut out, |_, _| {})
            .await
            .unwrap_err();
        let upload = cust
            .upload_file(
                &space_id,
                &NewFile {
                    name: "late.pdf".into(),
                    ..NewFile::default()
                },
                body.len() as u64,
                body.as_slice(),
                |_, _| {},
            )
            .await
            .unwrap_err();
        for (call, error) in [("post", post), ("download", download), ("upload", upload)] {
            assert_eq!(error.code(), "removed_from_space", "{call}: {error}");
            assert!(!error.is_retryable(), "{call}");
        }
        assert!(out.is_empty());
    });
}
