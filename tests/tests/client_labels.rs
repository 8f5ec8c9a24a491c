//! Classification labels, the space policy and the four-eyes release, end to end through the
//! real relay binary (issue 23, part 1). Every SDK device talks to the relay through a
//! [`HostileRelay`] proxy, so a test can watch what the SDK asked for and tamper with what it
//! gets. Rita, a customer, and Olga, a second staff member, are raw devices (their own openmls
//! state and keys) that try what an honest SDK never sends: a forged policy and approval, a
//! direct download of a held blob, a release of their own upload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use ed25519_dalek::Signer as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use sealroom_core::client::{
    Classification, ClientEvent, FileAccess, FileVersion, LabelRule, NewFile, Role, SpacePolicy,
};

use sealroom_tests::hostile::HostileRelay;
use sealroom_tests::raw_member::RawMember;
use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{b64, upload_sdk_key_packages, MlsDevice};
use sealroom_tests::runtime;
use sealroom_tests::sdk::{SdkDevice as Device, StaffSpace};

fn new_device(base_url: &str) -> Device {
    Device::new(base_url)
}

fn pdf(marker: &str) -> Vec<u8> {
    let mut out = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    out.extend(std::iter::repeat_n(b'x', 3000));
    out
}

async fn upload(
    device: &Device,
    space_id: &str,
    marker: &str,
    classification: Option<Classification>,
) -> Result<FileVersion, sealroom_core::client::ClientError> {
    let data = pdf(marker);
    device
        .client
        .upload_file(
            space_id,
            &NewFile {
                name: format!("{marker}.pdf"),
                classification,
                ..NewFile::default()
            },
            data.len() as u64,
            data.as_slice(),
            |_, _| {},
        )
        .await
}

async fn download(device: &Device, space_id: &str, file_id: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    device
        .client
        .download_file(space_id, file_id, &mut out, |_, _| {})
        .await
        .map_err(|e| e.code())?;
    Ok(out)
}

fn rule(c: Classification, customer_download: bool, four_eyes: bool) -> LabelRule {
    LabelRule {
        classification: c,
        customer_download,
        scan_required: false,
        four_eyes,
    }
}

/// Public and confidential open to customers, restricted held for four eyes, internal not for
/// customers' downloads; confidential by default.
fn strict_policy() -> SpacePolicy {
    SpacePolicy {
        labels: vec![
            rule(Classification::Public, true, false),
            rule(Classification::Internal, false, false),
            rule(Classification::Confidential, true, false),
            rule(Classification::Restricted, true, true),
        ],
        default: Classification::Confidential,
        scanner: None,
    }
}

fn file<'a>(files: &'a [FileVersion], file_id: &str) -> &'a FileVersion {
    files.iter().find(|f| f.file_id == file_id).unwrap()
}

fn upload_key_packages(relay: &Relay, mls: &MlsDevice) {
    upload_sdk_key_packages(&relay.client(&mls.device), mls);
}

/// The relay, the proxy every SDK device talks through, an admin, two staff members (Sam, who
/// created the space, and Sue), and Cara, a customer, all SDK devices in the customer room.
struct Scene {
    relay: Relay,
    proxy: HostileRelay,
    admin: Device,
    sam: Device,
    sue: Device,
    cara: Device,
    space_id: String,
}

async fn scene() -> Scene {
    let relay = Relay::start();
    let proxy = HostileRelay::start(relay.addr());
    let url = proxy.base_url();
    // Ada (admin), the customer organisation "Kestrel", Sam (staff) and Sam's space.
    let StaffSpace {
        admin,
        sam,
        space_id,
        ..
    } = StaffSpace::new(&url, &relay.setup_token()).await;
    let sue = new_device(&url);
    let invite = admin.client.invite(Role::Staff, None).await.unwrap();
    sue.client
        .register(&invite.token, "Sue", None, "laptop")
        .await
        .unwrap();
    let sue_user = sue.client.account().unwrap().user_id;
    sam.client.add_member(&space_id, &sue_user).await.unwrap();
    let cara = new_device(&url);
    let invite = sam
        .client
        .invite(Role::Customer, Some(&space_id))
        .await
        .unwrap();
    cara.client
        .register(&invite.token, "Cara", None, "phone")
        .await
        .unwrap();
    let cara_user = cara.client.account().unwrap().user_id;
    sam.client.add_member(&space_id, &cara_user).await.unwrap();
    for d in [&sam, &sue, &cara] {
        d.client.sync().await.unwrap();
    }
    Scene {
        relay,
        proxy,
        admin,
        sam,
        sue,
        cara,
        space_id,
    }
}

impl Scene {
    async fn sync_all(&self) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        for d in [&self.sam, &self.sue, &self.cara] {
            out.extend(d.client.sync().await.unwrap());
        }
        out
    }

    /// A raw device of `role` (customer, or staff invited by the admin) that Sam adds to the
    /// space and its customer room.
    async fn add_raw(&self, role: Role, name: &str) -> RawMember {
        let invite = match role {
            Role::Customer => self
                .sam
                .client
                .invite(Role::Customer, Some(&self.space_id))
                .await
                .unwrap(),
            _ => self.admin.client.invite(role, None).await.unwrap(),
        };
        let device = self.relay.register(&invite.token, name);
        self.relay.certify_with_new_identity(&device);
        let mls = MlsDevice::new(&device);
        upload_key_packages(&self.relay, &mls);
        self.sam
            .client
            .add_member(&self.space_id, &device.user_id)
            .await
            .unwrap();
        let raw = RawMember::join_customer_room(&self.relay, device, mls);
        self.sync_all().await;
        raw
    }
}

/// Labels round-trip from staff to the customer; a label the customer may not download is
/// refused by the customer's SDK, and the relay does not serve its (held) blob to customers; a
/// label outside the policy is refused by the uploader's own SDK.
#[test]
fn labels_round_trip_and_the_policy_governs_customers() {
    runtime().block_on(async {
        let s = scene().await;
        // Before any policy: the default policy, confidential by default.
        let v = upload(&s.sam, &s.space_id, "before-policy", None)
            .await
            .unwrap();
        assert_eq!(v.classification, Some(Classification::Confidential));

        s.sam
            .client
            .set_space_policy(&s.space_id, &strict_policy())
            .await
            .unwrap();
        s.sync_all().await;
        assert_eq!(
            s.cara.client.space_policy(&s.space_id).unwrap(),
            strict_policy(),
            "the customer's client received the staff policy"
        );

        let public = upload(
            &s.sam,
            &s.space_id,
            "brochure",
            Some(Classification::Public),
        )
        .await
        .unwrap();
        let internal = upload(
            &s.sam,
            &s.space_id,
            "margins",
            Some(Classification::Internal),
        )
        .await
        .unwrap();
        let unlabelled = upload(&s.sam, &s.space_id, "terms", None).await.unwrap();
        s.sync_all().await;
        s.cara.client.refresh_files(&s.space_id).await.unwrap();
        let files = s.cara.client.files(&s.space_id).unwrap();
        assert_eq!(
            file(&files, &public.file_id).classification,
            Some(Classification::Public)
        );
        assert_eq!(
            file(&files, &internal.file_id).classification,
            Some(Classification::Internal)
        );
        assert_eq!(
            file(&files, &unlabelled.file_id).classification,
            Some(Classification::Confidential),
            "no label takes the policy's default"
        );
        assert_eq!(file(&files, &public.file_id).access, FileAccess::Open);
        assert_eq!(
            file(&files, &internal.file_id).access,
            FileAccess::DownloadNotAllowed
        );

        // The public file opens for the customer.
        let got = download(&s.cara, &s.space_id, &public.file_id)
            .await
            .unwrap();
        assert_eq!(got, pdf("brochure"));
        // The internal one: the customer's SDK refuses, without asking the relay.
        let path = format!("/v1/rooms/*/blobs/{}", internal.file_id);
        let before = s.proxy.exchanges_for("GET", &path).len();
        assert_eq!(
            download(&s.cara, &s.space_id, &internal.file_id).await,
            Err("download_not_allowed".into())
        );
        assert_eq!(s.proxy.exchanges_for("GET", &path).len(), before);
        // Staff open it.
        assert_eq!(
            download(&s.sue, &s.space_id, &internal.file_id)
                .await
                .unwrap(),
            pdf("margins")
        );

        // The relay refuses the held blob to a customer device asking directly.
        let rita = s.add_raw(Role::Customer, "Rita").await;
        let r = s.relay.client(&rita.device).get(&format!(
            "/v1/rooms/{}/blobs/{}",
            rita.room, internal.file_id
        ));
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["code"], "awaiting_release");
        let r = s
            .relay
            .client(&rita.device)
            .get(&format!("/v1/rooms/{}/blobs/{}", rita.room, public.file_id));
        assert_eq!(r.status, 200, "an unheld blob is served: {}", r.text());

        // A label outside the policy: refused by the uploader's own SDK, before any byte.
        let blobs_before = s.proxy.exchanges_for("POST", "/v1/rooms/*/blobs").len();
        let err = upload(
            &s.cara,
            &s.space_id,
            "secret",
            Some(Classification::Other("top-secret".into())),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "label_not_allowed");
        assert_eq!(
            s.proxy.exchanges_for("POST", "/v1/rooms/*/blobs").len(),
            blobs_before
        );
        // A customer upload with an allowed label round-trips to staff.
        let from_cara = upload(
            &s.cara,
            &s.space_id,
            "invoice",
            Some(Classification::Public),
        )
        .await
        .unwrap();
        s.sync_all().await;
        let files = s.sam.client.files(&s.space_id).unwrap();
        assert_eq!(
            file(&files, &from_cara.file_id).classification,
            Some(Classification::Public)
        );
        assert_eq!(
            download(&s.sam, &s.space_id, &from_cara.file_id)
                .await
                .unwrap(),
            pdf("invoice")
        );
    });
}

/// Four eyes: a restricted file is held for the customer until a second staff member
/// approves it; the uploader's own approval is refused by its SDK and by the relay; a relay
/// that serves the held blob anyway does not make the customer's SDK open it.
#[test]
fn four_eyes_release() {
    runtime().block_on(async {
        let s = scene().await;
        s.sam
            .client
            .set_space_policy(&s.space_id, &strict_policy())
            .await
            .unwrap();
        s.sync_all().await;
        let held = upload(
            &s.sam,
            &s.space_id,
            "contract",
            Some(Classification::Restricted),
        )
        .await
        .unwrap();
        s.sync_all().await;
        let files = s.cara.client.files(&s.space_id).unwrap();
        assert_eq!(
            file(&files, &held.file_id).access,
            FileAccess::AwaitingRelease
        );

        // A relay that serves the held blob anyway: the customer's SDK still refuses, and
        // never even asks for the bytes.
        let path = format!("/v1/rooms/*/blobs/{}", held.file_id);
        let before = s.proxy.exchanges_for("GET", &path).len();
        assert_eq!(
            download(&s.cara, &s.space_id, &held.file_id).await,
            Err("awaiting_release".into())
        );
        assert_eq!(s.proxy.exchanges_for("GET", &path).len(), before);
        // Staff (the uploader too) open it.
        assert_eq!(
            download(&s.sue, &s.space_id, &held.file_id).await.unwrap(),
            pdf("contract")
        );

        // The uploader approving their own file: refused by the SDK...
        let err = s
            .sam
            .client
            .approve_release(&s.space_id, &held.file_id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "self_release");

        // ... and by the relay: Olga, a raw staff device, uploads a held blob and releases it.
        let olga = s.add_raw(Role::Staff, "Olga").await;
        let oc = s.relay.client(&olga.device);
        let r = oc.post_json(
            &format!("/v1/rooms/{}/blobs", olga.room),
            &json!({ "length": 4, "hold": "four_eyes" }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let olga_blob = r.json()["blob_id"].as_str().unwrap().to_owned();
        let r = oc.request(
            "PATCH",
            &format!("/v1/rooms/{}/blobs/{olga_blob}", olga.room),
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "0"),
            ],
            b"abcd",
        );
        assert_eq!(r.status, 204, "{}", r.text());
        let r = olga.release(&s.relay, &olga_blob, "four_eyes");
        assert_eq!(r.status, 403, "self-release at the relay: {}", r.text());

        // A customer cannot release at the relay either, nor reach the held blob.
        let mut rita = s.add_raw(Role::Customer, "Rita").await;
        let r = rita.release(&s.relay, &held.file_id, "four_eyes");
        assert_eq!(r.status, 403, "customer release: {}", r.text());
        let r = s
            .relay
            .client(&rita.device)
            .get(&format!("/v1/rooms/{}/blobs/{}", rita.room, held.file_id));
        assert_eq!(r.json()["code"], "awaiting_release", "{}", r.text());
        // A statement signed by another key than the device's: refused.
        let statement =
            sealroom_wire::blobs::release_statement(&olga.room, &held.file_id, "four_eyes");
        let forged = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).sign(&statement);
        let r = oc.post_json(
            &format!("/v1/rooms/{}/blobs/{}/release", olga.room, held.file_id),
            &json!({ "kind": "four_eyes", "signature": hex::encode(forged.to_bytes()) }),
        );
        assert_eq!(r.status, 400, "bad signature: {}", r.text());

        // Rita forges an approval in the room: every client refuses it.
        rita.catch_up(&s.relay);
        let digest = hex::encode(Sha256::digest(b"whatever"));
        rita.post(
            &s.relay,
            &json!({
                "v": 1, "label": "customer",
                "body": {
                    "type": "release", "file_id": held.file_id, "document_id": held.document_id,
                    "version": held.version, "version_digest": digest, "kind": "four_eyes",
                }
            }),
        );
        let events = s.cara.client.sync().await.unwrap();
        assert!(
            events.iter().any(
                |e| matches!(e, ClientEvent::Refused { reason, .. } if reason == "staff_only")
            ),
            "the forged approval is refused: {events:?}"
        );
        let files = s.cara.client.files(&s.space_id).unwrap();
        assert_eq!(
            file(&files, &held.file_id).access,
            FileAccess::AwaitingRelease
        );

        // Sue (another staff user) approves: the customer's SDK and the relay let it through.
        s.sue
            .client
            .approve_release(&s.space_id, &held.file_id)
            .await
            .unwrap();
        s.sync_all().await;
        let files = s.cara.client.files(&s.space_id).unwrap();
        let f = file(&files, &held.file_id);
        assert_eq!(f.access, FileAccess::Open);
        assert_eq!(f.released_by, vec![s.sue.client.account().unwrap().user_id]);
        assert_eq!(
            download(&s.cara, &s.space_id, &held.file_id).await.unwrap(),
            pdf("contract")
        );
        let r = s
            .relay
            .client(&rita.device)
            .get(&format!("/v1/rooms/{}/blobs/{}", rita.room, held.file_id));
        assert_eq!(r.status, 200, "released: {}", r.text());
        // Audited: who released which blob.
        let page = s
            .admin
            .client
            .audit(&sealroom_wire::audit::AuditQuery {
                action: Some("blob.release".into()),
                object: Some(held.file_id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 1, "{page:?}");
        assert_eq!(
            page.entries[0].entry.actor_user.as_deref(),
            Some(s.sue.client.account().unwrap().user_id.as_str())
        );
    });
}

/// A customer forging a policy is refused by every client; a relay replacing the policy
/// message is detected and the earlier policy stays.
#[test]
fn forged_and_replaced_policies_are_refused() {
    runtime().block_on(async {
        let s = scene().await;
        s.sam
            .client
            .set_space_policy(&s.space_id, &strict_policy())
            .await
            .unwrap();
        s.sync_all().await;

        let mut rita = s.add_raw(Role::Customer, "Rita").await;
        rita.catch_up(&s.relay);
        let mut lax = SpacePolicy::default();
        lax.labels.push(rule(Classification::Other("anything".into()), true, false));
        rita.post(
            &s.relay,
            &json!({ "v": 1, "label": "customer", "body": { "type": "space_policy", "policy": lax } }),
        );
        for d in [&s.sam, &s.sue, &s.cara] {
            let events = d.client.sync().await.unwrap();
            assert!(
                events.iter().any(|e| matches!(e, ClientEvent::Refused { reason, .. } if reason == "staff_only")),
                "the forged policy is refused: {events:?}"
            );
            assert_eq!(d.client.space_policy(&s.space_id).unwrap(), strict_policy());
        }
        // The customer's own SDK refuses to post a policy.
        let err = s
            .cara
            .client
            .set_space_policy(&s.space_id, &lax)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_staff");

        // The relay replaces Sam's next policy message (a bit flipped in the ciphertext).
        let posted: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let seen = posted.clone();
        s.proxy
            .rewrite("POST", "/v1/rooms/*/messages", move |req, _reply| {
                *seen.lock().unwrap() = req.json()["message"].as_str().map(str::to_owned);
            });
        s.sam
            .client
            .set_space_policy(&s.space_id, &SpacePolicy::default())
            .await
            .unwrap();
        s.proxy.clear_rules();
        let target = posted.lock().unwrap().clone().unwrap();
        s.proxy
            .rewrite("GET", "/v1/rooms/*/messages", move |_req, reply| {
                reply.edit_json(|v| {
                    for e in v["entries"].as_array_mut().into_iter().flatten() {
                        if e["message"] == target.as_str() {
                            let mut raw = sealroom_tests::rooms::unb64(&target);
                            let n = raw.len();
                            raw[n - 20] ^= 1;
                            e["message"] = json!(b64(&raw));
                        }
                    }
                })
            });
        let events = s.cara.client.sync().await.unwrap();
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::Dropped { .. } | ClientEvent::Refused { .. })),
            "the replaced policy message is reported: {events:?}"
        );
        assert_eq!(
            s.cara.client.space_policy(&s.space_id).unwrap(),
            strict_policy(),
            "the customer keeps the last policy that really came from staff"
        );
    });
}
