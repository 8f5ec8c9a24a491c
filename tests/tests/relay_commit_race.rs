//! Commit race on the real relay: 8 member devices each send a commit for the same epoch at
//! the same moment, 20 rounds; exactly one is accepted every round, the others get 409 with
//! the current epoch, and every member converges on the winner.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};

use openmls::prelude::{LeafNodeParameters, MlsGroup, OpenMlsProvider as _};

use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{post_handshake, MlsDevice};

const THREADS: usize = 8;
const ROUNDS: usize = 20;

#[test]
fn exactly_one_commit_per_epoch() {
    let relay = Relay::start();
    let (staff, space_id) = relay.staffed_space("Race Ltd", "Owner");
    let owner = MlsDevice::new(&staff);
    let others: Vec<MlsDevice> = (1..THREADS)
        .map(|i| MlsDevice::new(&relay.add_customer(&staff, &space_id, &format!("Racer{i}"))))
        .collect();

    // The owner creates the room and adds everybody in one commit.
    let owner_http = relay.client(&owner.device);
    let mut owner_group = owner.create_group();
    let r = owner_http.post_json(
        "/v1/rooms",
        &owner.create_room_body(&owner_group, &space_id),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let room_id = r.json()["room_id"].as_str().unwrap().to_owned();
    let packages: Vec<_> = others
        .iter()
        .map(|d| sealroom_tests::rooms::validated_key_package(&d.provider, &d.key_package()))
        .collect();
    let (commit, welcome, _) = owner_group
        .add_members(&owner.provider, &owner.signer, &packages)
        .unwrap();
    let r = post_handshake(&owner_http, &room_id, &commit, Some(&welcome));
    assert_eq!(r.status, 201, "{}", r.text());
    owner_group.merge_pending_commit(&owner.provider).unwrap();
    let mut devices = vec![owner];
    let mut groups: Vec<MlsGroup> = vec![owner_group];
    for d in others {
        let http = relay.client(&d.device);
        let w = http.get("/v1/welcomes").json();
        let g = d.join(w["entries"][0]["welcome"].as_str().unwrap());
        devices.push(d);
        groups.push(g);
    }
    let mut cursor = 1u64;

    for round in 0..ROUNDS {
        let epoch = groups[0].epoch().as_u64();
        // Every member prepares a commit for the same epoch.
        let commits: Vec<_> = devices
            .iter()
            .zip(groups.iter_mut())
            .map(|(d, g)| {
                g.self_update(&d.provider, &d.signer, LeafNodeParameters::default())
                    .unwrap()
                    .commit()
                    .clone()
            })
            .collect();
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = devices
            .iter()
            .zip(commits)
            .map(|(d, commit)| {
                let client = relay.client(&d.device);
                let barrier = barrier.clone();
                let room_id = room_id.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let r = post_handshake(&client, &room_id, &commit, None);
                    (r.status, r.json())
                })
            })
            .collect();
        let results: Vec<(u16, serde_json::Value)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, (status, _))| *status == 201)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (status, body) in &results {
            if *status != 201 {
                assert_eq!(*status, 409, "round {round}: {body}");
                assert_eq!(body["code"], "epoch_conflict");
                assert_eq!(body["current_epoch"], epoch + 1);
            }
        }
        // Everybody converges on the winner through the handshake log.
        let winner = winners[0];
        let client = relay.client(&devices[0].device);
        let log = client
            .get(&format!("/v1/rooms/{room_id}/handshakes?after={cursor}"))
            .json();
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "round {round}");
        assert_eq!(
            entries[0]["sender_device"],
            devices[winner].device.device_id.as_str()
        );
        cursor = log["next_after"].as_u64().unwrap();
        for (i, (d, g)) in devices.iter().zip(groups.iter_mut()).enumerate() {
            if i == winner {
                g.merge_pending_commit(&d.provider).unwrap();
            } else {
                g.clear_pending_commit(d.provider.storage()).unwrap();
                d.apply(g, entries[0]["message"].as_str().unwrap());
            }
            assert_eq!(g.epoch().as_u64(), epoch + 1);
        }
    }
    let info = relay
        .client(&devices[1].device)
        .get(&format!("/v1/rooms/{room_id}"))
        .json();
    assert_eq!(info["epoch"], ROUNDS as u64 + 1);
}
