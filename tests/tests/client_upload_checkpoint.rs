//! Resume checkpoints of both encodings (issue 18): an upload interrupted part-way by this SDK
//! (checkpoint encoding 1, a chain over 4 MiB windows whose digests the signatures already
//! cover) and one whose stored state is rewritten to what earlier SDKs stored (encoding 0:
//! SHA-256 of the sealed bytes acknowledged, at an offset that is not a window boundary) both
//! resume from the relay's offset against the real relay binary, refuse a changed source
//! before anything new is sent, and download byte-identical.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};

use sealroom_core::client::{ClientErrorKind, NewFile, SealroomClient};
use sealroom_core::format::{FileKey, Metadata, Sealer};
use sealroom_core::room;
use sealroom_core::state::{FileKv, StorageKey};

use sealroom_tests::relay::Relay;
use sealroom_tests::sdk::{open_at, SdkDevice as Device, StaffSpace};

const LEN: usize = 14 * 1024 * 1024 + 5;

/// Deterministic text-like content (so the policy's sniffing sees `text/plain`).
fn content(seed: u8) -> Vec<u8> {
    (0..LEN)
        .map(|i| b'a' + ((i * 7 + seed as usize + i / 4093) % 26) as u8)
        .collect()
}

/// Pushes the first `pushed` bytes of `source` into a new upload and drops it (the app is
/// killed); returns the upload id.
async fn interrupted(
    client: &SealroomClient,
    space_id: &str,
    source: &[u8],
    pushed: usize,
) -> String {
    let mut none = |_: u64, _: u64| {};
    let mut upload = client
        .start_upload(
            space_id,
            &NewFile {
                name: "ledger.txt".into(),
                ..NewFile::default()
            },
            source.len() as u64,
            &source[..4096],
        )
        .await
        .unwrap();
    for part in source[..pushed].chunks(700_000) {
        client
            .upload_push(&mut upload, part, &mut none)
            .await
            .unwrap();
    }
    upload.upload_id().to_owned()
}

/// Rewrites the stored state of upload `id` as an earlier SDK wrote it: no `checkpoint`
/// field, `acked` moved back off the window boundary, `acked_digest` the SHA-256 of the
/// sealed bytes up to it (re-sealed here from the state's key, salt and metadata).
fn rewrite_as_earlier_sdk(dir: &std::path::Path, key: [u8; 32], id: &str, source: &[u8]) {
    let mut rooms = room::Client::open(
        Box::new(FileKv::open(dir).unwrap()),
        &StorageKey::from_bytes(key),
    )
    .unwrap();
    let name = format!("upl/{id}");
    let mut state: serde_json::Value =
        serde_json::from_slice(&rooms.app_get(&name).unwrap().unwrap()).unwrap();
    assert_eq!(state["checkpoint"], 1, "{state}");
    let acked = state["acked"].as_u64().unwrap();
    assert!(acked >= 4 << 20, "one window acknowledged: {acked}");
    let hex32 = |field: &str| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(state[field].as_str().unwrap(), &mut out).unwrap();
        out
    };
    let metadata = Metadata {
        name: state["name"].as_str().unwrap().into(),
        media_type: state["media_type"].as_str().unwrap().into(),
        classification: state["classification"].as_str().unwrap().into(),
        created: state["created"].as_u64().unwrap(),
        length: Some(source.len() as u64),
    };
    let (mut sealer, mut sealed) = Sealer::new_with_salt(
        &FileKey::from_bytes(hex32("key")),
        &metadata,
        &hex32("salt"),
    )
    .unwrap();
    sealer.push_into(source, &mut sealed).unwrap();
    sealed.extend(sealer.finish().unwrap());
    let old_acked = acked - 12_345;
    let object = state.as_object_mut().unwrap();
    object.remove("checkpoint");
    object.remove("sent");
    object.insert("acked".into(), old_acked.into());
    object.insert(
        "acked_digest".into(),
        hex::encode(Sha256::digest(&sealed[..old_acked as usize])).into(),
    );
    rooms
        .app_commit(vec![(name, Some(serde_json::to_vec(&state).unwrap()))])
        .unwrap();
}

#[test]
fn uploads_resume_from_checkpoints_of_this_and_earlier_sdks() {
    let relay = Relay::start();
    let rt = sealroom_tests::runtime();
    rt.block_on(async {
        let url = relay.base_url();
        let StaffSpace {
            admin: _admin,
            sam,
            space_id,
            ..
        } = StaffSpace::new(&url, &relay.setup_token()).await;
        let source = content(1);
        let other = content(2);

        let mut sam = sam;
        for earlier_sdk in [false, true] {
            // 13 MiB pushed: the first window is acknowledged, the next two on their way (the
            // SDK keeps two appends in flight).
            let id = interrupted(&sam.client, &space_id, &source, 13 << 20).await;
            let Device { client, dir, key } = sam;
            drop(client);
            if earlier_sdk {
                rewrite_as_earlier_sdk(dir.path(), key, &id, &source);
            }
            let client = open_at(&url, dir.path(), key);
            let pending = client.pending_uploads().unwrap();
            assert_eq!(pending.len(), 1, "{pending:?}");
            // A changed source is refused before anything new is sent.
            let err = client
                .resume_upload(&id, other.as_slice(), |_, _| {})
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ClientErrorKind::InvalidInput, "{err}");
            let version = client
                .resume_upload(&id, source.as_slice(), |_, _| {})
                .await
                .unwrap();
            assert!(client.pending_uploads().unwrap().is_empty());
            let mut got = Vec::new();
            client
                .download_file(&space_id, &version.file_id, &mut got, |_, _| {})
                .await
                .unwrap();
            assert!(got == source, "earlier_sdk = {earlier_sdk}");
            sam = Device {
                client: std::sync::Arc::new(client),
                dir,
                key,
            };
        }
    });
}
