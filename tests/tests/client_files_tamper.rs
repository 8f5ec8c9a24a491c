//! The content digest against a key holder (issue 18): a file announced with the sealed
//! piece digest (`docs/format.md`, "Content digest") cannot be swapped for other content by
//! whoever holds its file key and the relay together. The attacker (a member who has the file
//! key, working with the relay: [`HostileRelay`] in front of the real relay binary) re-seals
//! the plaintext with its 4 MiB pieces swapped, one piece duplicated, the last piece dropped
//! or one byte changed, or the original plaintext itself (a fresh salt), under the file's own
//! key, so every chunk authenticates, and serves it in place of the real blob (status and
//! ranges). Each download fails with the error a digest mismatch has always given
//! (`format_corrupt`, `FormatError::Decrypt`), after releasing only authenticated chunks; the
//! stored bytes served back through the same proxy still download, so it is the digest that
//! refuses the others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sealroom_core::client::{
    pieces_digest, sealed_pieces_digest, ClientError, ClientErrorKind, NewFile, Role,
    DIGEST_PIECE,
};
use sealroom_core::format::{self, FileKey, FormatError};
use sealroom_core::room;
use sealroom_core::state::{FileKv, StorageKey};

use sealroom_tests::hostile::{HostileRelay, Reply};
use sealroom_tests::relay::Relay;
use sealroom_tests::sdk::{SdkDevice as Device, StaffSpace};

const PIECE: usize = DIGEST_PIECE;

/// Two full pieces and a short third one, PDF-looking (the policy sniffs it).
fn plaintext() -> Vec<u8> {
    let mut out = b"%PDF-1.7\n% tamper test\n".to_vec();
    let mut state = 0x5eed_1818_u64;
    while out.len() < 2 * PIECE + 1000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(state as u8);
    }
    out
}

/// The file key of `file_id` as the uploader's encrypted store holds it: what a member who
/// turned attacker has.
fn file_key_of(device: &Device, file_id: &str) -> FileKey {
    let rooms = room::Client::open(
        Box::new(FileKv::open(device.dir.path()).unwrap()),
        &StorageKey::from_bytes(device.key),
    )
    .unwrap();
    let record = rooms.app_get(&format!("fkey/{file_id}")).unwrap().unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    let mut key = [0u8; 32];
    hex::decode_to_slice(record["key"].as_str().unwrap(), &mut key).unwrap();
    FileKey::from_bytes(key)
}

/// Makes the proxy serve `sealed` as the blob `file_id`: its status (length) and its ranges.
fn serve(proxy: &HostileRelay, file_id: &str, sealed: Vec<u8>) {
    proxy.clear_rules();
    let sealed = Arc::new(sealed);
    let len = sealed.len() as u64;
    proxy.rewrite(
        "GET",
        &format!("/v1/rooms/*/blobs/{file_id}/status"),
        move |_, reply| reply.edit_json(|v| v["length"] = len.into()),
    );
    proxy.respond(
        "GET",
        &format!("/v1/rooms/*/blobs/{file_id}"),
        move |seen| {
            let (start, end) = match seen.header("range") {
                Some(range) => {
                    let (a, b) = range.trim_start_matches("bytes=").split_once('-').unwrap();
                    (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap() + 1)
                }
                None => (0, sealed.len()),
            };
            let end = end.min(sealed.len());
            Reply {
                status: 206,
                headers: vec![
                    ("content-type".into(), "application/octet-stream".into()),
                    (
                        "content-range".into(),
                        format!("bytes {start}-{}/{}", end - 1, sealed.len()),
                    ),
                ],
                body: sealed[start..end].to_vec(),
            }
        },
    );
}

#[test]
fn a_key_holder_and_the_relay_cannot_swap_reorder_or_drop_pieces() {
    let relay = Relay::start();
    let proxy = HostileRelay::start(relay.addr());
    let rt = sealroom_tests::runtime();
    rt.block_on(async {
        let url = relay.base_url();
        let StaffSpace {
            admin: _admin,
            sam,
            space_id,
            ..
        } = StaffSpace::new(&url, &relay.setup_token()).await;
        // Cara, the victim, reads through the hostile relay.
        let cara = Device::new(&proxy.base_url());
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
        cara.client.sync().await.unwrap();

        let original = plaintext();
        let uploaded = sam
            .client
            .upload_file(
                &space_id,
                &NewFile {
                    name: "forecast.pdf".into(),
                    ..NewFile::default()
                },
                original.len() as u64,
                original.as_slice(),
                |_, _| {},
            )
            .await
            .unwrap();
        // New uploads announce the sealed piece digest (checked below against the stored
        // bytes), not the plaintext's.
        assert_ne!(uploaded.digest, hex::encode(pieces_digest(&original)));
        cara.client.sync().await.unwrap();
        let file_id = uploaded.file_id.clone();
        let seen = cara.client.files(&space_id).unwrap();
        let entry = seen.iter().find(|f| f.file_id == file_id).unwrap();
        assert_eq!(entry.digest, uploaded.digest);
        let mut got = Vec::new();
        cara.client
            .download_file(&space_id, &file_id, &mut got, |_, _| {})
            .await
            .unwrap();
        assert!(got == original, "the honest download");

        // The attacker re-seals under the file's own key, with the metadata of the original.
        let key = file_key_of(&sam, &file_id);
        let sealed: Vec<u8> = proxy
            .exchanges_for("GET", &format!("/v1/rooms/*/blobs/{file_id}"))
            .iter()
            .flat_map(|e| e.delivered.as_ref().unwrap().body.clone())
            .collect();
        assert_eq!(uploaded.digest, hex::encode(sealed_pieces_digest(&sealed)));
        let (metadata, opened) = format::open(&key, &sealed).unwrap();
        assert!(opened == original);
        let reseal = |plain: &[u8]| {
            let mut m = metadata.clone();
            m.length = Some(plain.len() as u64);
            format::seal(&key, &m, plain).unwrap()
        };

        // Control: the stored bytes, served by the proxy's rule, are accepted.
        serve(&proxy, &file_id, sealed.clone());
        let mut got = Vec::new();
        cara.client
            .download_file(&space_id, &file_id, &mut got, |_, _| {})
            .await
            .unwrap();
        assert!(got == original, "the stored bytes served by the proxy");

        let (p0, p1, rest) = (
            &original[..PIECE],
            &original[PIECE..2 * PIECE],
            &original[2 * PIECE..],
        );
        let mut flipped = original.clone();
        flipped[PIECE + 12345] ^= 0x20;
        let forgeries: Vec<(&str, Vec<u8>)> = vec![
            // The same plaintext sealed again (another salt, other bytes): the digest names
            // the upload, so even this is refused.
            ("the original re-sealed", original.clone()),
            ("pieces swapped", [p1, p0, rest].concat()),
            ("a piece duplicated", [p0, p0, rest].concat()),
            ("the last piece dropped", [p0, p1].concat()),
            ("the first piece dropped", [p1, rest].concat()),
            ("one byte changed", flipped),
        ];
        for (what, forged) in forgeries {
            serve(&proxy, &file_id, reseal(&forged));
            let mut got = Vec::new();
            let err = cara
                .client
                .download_file(&space_id, &file_id, &mut got, |_, _| {})
                .await
                .unwrap_err();
            assert!(
                matches!(err, ClientError::Format(FormatError::Decrypt)),
                "{what}: {err:?}"
            );
            assert_eq!(err.kind(), ClientErrorKind::Corrupt, "{what}");
            assert_eq!(err.code(), "format_corrupt", "{what}");
            // Only the pull API's last call fails: what came before was authenticated chunks
            // of the forgery, never more than its length.
            assert!(got.len() <= forged.len(), "{what}");
        }
        proxy.clear_rules();
    });
}
