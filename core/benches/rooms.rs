//! MLS room benchmarks: the SDK (encrypted state in a `MemoryKv`, one atomic batch per
//! operation) next to raw openmls with its in-memory storage, doing the same work in the same
//! run. Measured, never asserted. Run: `cargo bench -p sealroom-core --bench rooms`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::{OpenMlsRustCrypto, RustCrypto};
use sealroom_core::identity::CredentialIdentity;
use sealroom_core::room::{Client, RoomId, RoomKind, CIPHERSUITE};
use sealroom_core::state::{MemoryKv, StorageKey};

const KEY: [u8; 32] = [1; 32];

/// Raw openmls provider over a given storage map (so a state can be cloned per iteration).
#[derive(Default)]
struct Raw {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl OpenMlsProvider for Raw {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;
    fn storage(&self) -> &MemoryStorage {
        &self.storage
    }
    fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }
    fn rand(&self) -> &RustCrypto {
        &self.crypto
    }
}

impl Raw {
    fn snapshot(&self) -> Raw {
        let map: HashMap<Vec<u8>, Vec<u8>> = self.storage.values.read().unwrap().clone();
        Raw {
            crypto: RustCrypto::default(),
            storage: MemoryStorage {
                values: RwLock::new(map),
            },
        }
    }
}

fn identity(i: usize) -> CredentialIdentity {
    CredentialIdentity::new("bench", &format!("user{i}"), &format!("dev{i}")).unwrap()
}

fn cred(i: usize, signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(identity(i).to_bytes()).into(),
        signature_key: signer.public().to_vec().into(),
    }
}

/// The custom GroupContext extension of Sealroom rooms (the provider org) that every leaf
/// must support (`core/src/room/policy.rs`).
const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// `n` key packages of distinct Sealroom identities (raw openmls, thrown-away private keys),
/// with the leaf capabilities an SDK room requires (the ciphersuite and the provider
/// extension), else adding them fails with `InsufficientCapabilities`.
fn key_packages(n: usize) -> Vec<(Vec<u8>, KeyPackage)> {
    let provider = OpenMlsRustCrypto::default();
    let capabilities = Capabilities::builder()
        .ciphersuites(vec![CIPHERSUITE])
        .extensions(vec![ExtensionType::Unknown(PROVIDER_EXTENSION)])
        .build();
    (0..n)
        .map(|i| {
            let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
            let bundle = KeyPackage::builder()
                .leaf_node_capabilities(capabilities.clone())
                .build(CIPHERSUITE, &provider, &signer, cred(i + 10, &signer))
                .unwrap();
            let kp = bundle.key_package().clone();
            let bytes = MlsMessageOut::from(kp.clone())
                .tls_serialize_detached()
                .unwrap();
            (bytes, kp)
        })
        .collect()
}

fn sdk_client(i: usize) -> (Client, MemoryKv) {
    let kv = MemoryKv::new();
    let c = Client::create(
        Box::new(kv.clone()),
        &StorageKey::from_bytes(KEY),
        identity(i),
    )
    .unwrap();
    (c, kv)
}

fn reopen(kv: &MemoryKv) -> Client {
    Client::open(
        Box::new(kv.snapshot().unwrap()),
        &StorageKey::from_bytes(KEY),
    )
    .unwrap()
}

fn raw_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

fn bench_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("rooms/create_and_add");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for n in [10usize, 100, 1000] {
        let kps = key_packages(n);
        let bytes: Vec<Vec<u8>> = kps.iter().map(|(b, _)| b.clone()).collect();
        let raw_kps: Vec<KeyPackage> = kps.iter().map(|(_, k)| k.clone()).collect();
        g.bench_with_input(BenchmarkId::new("sdk", n), &n, |b, _| {
            b.iter_batched(
                || sdk_client(0),
                |(mut client, _kv)| {
                    let room = client
                        .create_room("bench", RoomKind::Customer)
                        .unwrap()
                        .room_id;
                    client.add_members(&room, &bytes).unwrap();
                    client.confirm_commit(&room).unwrap();
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| {
            b.iter_batched(
                || {
                    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
                    (Raw::default(), signer)
                },
                |(provider, signer)| {
                    let mut group =
                        MlsGroup::new(&provider, &signer, &raw_config(), cred(0, &signer)).unwrap();
                    group.add_members(&provider, &signer, &raw_kps).unwrap();
                    group.merge_pending_commit(&provider).unwrap();
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// A 1000-member room: creator and one real receiver, for the SDK and for raw openmls.
struct Big {
    room: RoomId,
    creator_kv: MemoryKv,
    receiver_kv: MemoryKv,
    raw_creator: Raw,
    raw_creator_signer: SignatureKeyPair,
    raw_receiver: Raw,
    raw_gid: GroupId,
}

fn big_room(n: usize) -> Big {
    let kps = key_packages(n - 2);
    // SDK
    let (mut creator, creator_kv) = sdk_client(0);
    let (mut receiver, receiver_kv) = sdk_client(1);
    let room = creator
        .create_room("bench", RoomKind::Customer)
        .unwrap()
        .room_id;
    let mut all: Vec<Vec<u8>> = vec![receiver.generate_key_packages(1).unwrap().remove(0)];
    all.extend(kps.iter().map(|(b, _)| b.clone()));
    let out = creator.add_members(&room, &all).unwrap();
    let conf = creator.confirm_commit(&room).unwrap();
    receiver.join(out.welcome.as_ref().unwrap()).unwrap();
    for m in &conf.outgoing {
        receiver.process(&room, m).unwrap();
    }
    // Raw
    let raw_creator = Raw::default();
    let raw_creator_signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    let mut group = MlsGroup::new(
        &raw_creator,
        &raw_creator_signer,
        &raw_config(),
        cred(0, &raw_creator_signer),
    )
    .unwrap();
    let raw_receiver = Raw::default();
    let rsigner = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    let rbundle = KeyPackage::builder()
        .build(CIPHERSUITE, &raw_receiver, &rsigner, cred(1, &rsigner))
        .unwrap();
    let mut raw_kps = vec![rbundle.key_package().clone()];
    raw_kps.extend(kps.iter().map(|(_, k)| k.clone()));
    let (_, welcome, _) = group
        .add_members(&raw_creator, &raw_creator_signer, &raw_kps)
        .unwrap();
    group.merge_pending_commit(&raw_creator).unwrap();
    let welcome =
        MlsMessageIn::tls_deserialize_exact(welcome.tls_serialize_detached().unwrap()).unwrap();
    let MlsMessageBodyIn::Welcome(welcome) = welcome.extract() else {
        panic!("welcome")
    };
    let join = MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build();
    StagedWelcome::new_from_welcome(&raw_receiver, &join, welcome, None)
        .unwrap()
        .into_group(&raw_receiver)
        .unwrap();
    Big {
        room,
        creator_kv,
        receiver_kv,
        raw_gid: group.group_id().clone(),
        raw_creator,
        raw_creator_signer,
        raw_receiver,
    }
}

fn to_protocol(msg: &MlsMessageOut) -> ProtocolMessage {
    MlsMessageIn::tls_deserialize_exact(msg.tls_serialize_detached().unwrap())
        .unwrap()
        .try_into_protocol_message()
        .unwrap()
}

fn bench_big(c: &mut Criterion) {
    let big = big_room(1000);
    let mut g = c.benchmark_group("rooms/1000_members");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    // Commits made once from the base state, processed by the receiver in every iteration.
    let mut creator = reopen(&big.creator_kv);
    let sdk_update = creator.self_update(&big.room).unwrap().commit;
    let mut creator = reopen(&big.creator_kv);
    let sdk_remove = creator
        .remove_users(&big.room, &["user500"])
        .unwrap()
        .commit;
    let raw_load = |p: &Raw| MlsGroup::load(p.storage(), &big.raw_gid).unwrap().unwrap();
    let raw_update = {
        let p = big.raw_creator.snapshot();
        let mut grp = raw_load(&p);
        let (commit, _, _) = grp
            .self_update(&p, &big.raw_creator_signer, LeafNodeParameters::default())
            .unwrap()
            .into_contents();
        commit
    };
    let raw_remove = {
        let p = big.raw_creator.snapshot();
        let mut grp = raw_load(&p);
        let idx = grp.members().nth(500).unwrap().index;
        grp.remove_members(&p, &big.raw_creator_signer, &[idx])
            .unwrap()
            .0
    };

    g.bench_function("self_update/sdk", |b| {
        b.iter_batched(
            || reopen(&big.creator_kv),
            |mut cl| {
                cl.self_update(&big.room).unwrap();
                cl.confirm_commit(&big.room).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("self_update/openmls", |b| {
        b.iter_batched(
            || {
                let p = big.raw_creator.snapshot();
                let grp = raw_load(&p);
                (p, grp)
            },
            |(p, mut grp)| {
                grp.self_update(&p, &big.raw_creator_signer, LeafNodeParameters::default())
                    .unwrap();
                grp.merge_pending_commit(&p).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("remove/sdk", |b| {
        b.iter_batched(
            || reopen(&big.creator_kv),
            |mut cl| {
                cl.remove_users(&big.room, &["user500"]).unwrap();
                cl.confirm_commit(&big.room).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("remove/openmls", |b| {
        b.iter_batched(
            || {
                let p = big.raw_creator.snapshot();
                let grp = raw_load(&p);
                (p, grp)
            },
            |(p, mut grp)| {
                let idx = grp.members().nth(500).unwrap().index;
                grp.remove_members(&p, &big.raw_creator_signer, &[idx])
                    .unwrap();
                grp.merge_pending_commit(&p).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    for (name, sdk_msg, raw_msg) in [
        ("process_update", &sdk_update, &raw_update),
        ("process_remove", &sdk_remove, &raw_remove),
    ] {
        g.bench_function(format!("{name}/sdk"), |b| {
            b.iter_batched(
                || reopen(&big.receiver_kv),
                |mut cl| {
                    cl.process(&big.room, sdk_msg).unwrap();
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("{name}/openmls"), |b| {
            b.iter_batched(
                || {
                    let p = big.raw_receiver.snapshot();
                    let grp = raw_load(&p);
                    (p, grp, to_protocol(raw_msg))
                },
                |(p, mut grp, msg)| {
                    let processed = grp.process_message(&p, msg).unwrap();
                    if let ProcessedMessageContent::StagedCommitMessage(s) =
                        processed.into_content()
                    {
                        grp.merge_staged_commit(&p, *s).unwrap();
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_add, bench_big);
criterion_main!(benches);
