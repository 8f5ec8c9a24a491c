//! Per-room state beside the MLS group and its storage encoding.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::RoomHistory;

/// How many message digests per room are remembered for duplicate detection.
const SEEN_CAP: usize = 4096;

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub(super) struct PendingInfo {
    pub(super) digest: [u8; 32],
}

/// Per-room state beside the MLS group.
pub(super) struct RoomMeta {
    /// Content keys by the epoch in which they were created.
    pub(super) keys: BTreeMap<u64, Zeroizing<[u8; 32]>>,
    pub(super) documents: BTreeMap<String, u64>,
    pub(super) seen: VecDeque<[u8; 32]>,
    pub(super) seen_set: BTreeSet<[u8; 32]>,
    pub(super) held: Vec<(u64, Vec<u8>)>,
    pub(super) pending: Option<PendingInfo>,
    pub(super) outbox: Vec<Vec<u8>>,
    pub(super) history: bool,
    pub(super) removed: bool,
    /// Credentials need not be Sealroom identities (test-vector rooms only).
    pub(super) foreign: bool,
    /// Epochs whose content key this device derived itself (the only ones it wraps under).
    pub(super) own_keys: BTreeSet<u64>,
    /// The epoch at which this device joined (`None`: it created the room).
    pub(super) join_epoch: Option<u64>,
    /// The device whose commit added this one (signer of the Welcome's GroupInfo).
    pub(super) adder: Option<Adder>,
    /// Whether the adder's history message was taken.
    pub(super) adder_history: bool,
    /// The user who published version 1 of each document (absent: unknown to this device).
    pub(super) doc_owners: BTreeMap<String, String>,
}

/// The member that added this device.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub(super) struct Adder {
    /// Its credential identity bytes (`CredentialIdentity::to_bytes`).
    pub(super) identity: Vec<u8>,
    pub(super) signature_key: Vec<u8>,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredMeta {
    keys: Vec<(u64, String)>,
    documents: BTreeMap<String, u64>,
    seen: Vec<String>,
    held: Vec<(u64, String)>,
    pending: Option<PendingInfo>,
    outbox: Vec<String>,
    history: bool,
    removed: bool,
    #[serde(default)]
    foreign: bool,
    /// `None` in state written before this field: every key then counts as own.
    #[serde(default)]
    own_keys: Option<Vec<u64>>,
    #[serde(default)]
    join_epoch: Option<u64>,
    #[serde(default)]
    adder: Option<Adder>,
    #[serde(default)]
    adder_history: bool,
    #[serde(default)]
    doc_owners: BTreeMap<String, String>,
}

impl RoomMeta {
    pub(super) fn new(history: bool) -> Self {
        Self {
            keys: BTreeMap::new(),
            documents: BTreeMap::new(),
            seen: VecDeque::new(),
            seen_set: BTreeSet::new(),
            held: Vec::new(),
            pending: None,
            outbox: Vec::new(),
            history,
            removed: false,
            foreign: false,
            own_keys: BTreeSet::new(),
            join_epoch: None,
            adder: None,
            adder_history: false,
            doc_owners: BTreeMap::new(),
        }
    }

    /// The content keys and document versions, as newcomers and recovery backups get them.
    pub(super) fn history(&self) -> RoomHistory {
        RoomHistory {
            keys: self.keys.iter().map(|(e, k)| (*e, k.clone())).collect(),
            documents: self
                .documents
                .iter()
                .map(|(d, v)| (d.clone(), *v))
                .collect(),
        }
    }

    /// Stores a content key this device derived itself at `epoch`.
    pub(super) fn insert_own_key(&mut self, epoch: u64, key: Zeroizing<[u8; 32]>) {
        self.keys.insert(epoch, key);
        self.own_keys.insert(epoch);
    }

    pub(super) fn remember(&mut self, digest: [u8; 32]) {
        if self.seen_set.insert(digest) {
            self.seen.push_back(digest);
            if self.seen.len() > SEEN_CAP {
                if let Some(old) = self.seen.pop_front() {
                    self.seen_set.remove(&old);
                }
            }
        }
    }

    pub(super) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut s = StoredMeta {
            keys: self
                .keys
                .iter()
                .map(|(e, k)| (*e, hex::encode(k.as_ref())))
                .collect(),
            documents: self.documents.clone(),
            seen: self.seen.iter().map(hex::encode).collect(),
            held: self
                .held
                .iter()
                .map(|(e, b)| (*e, hex::encode(b)))
                .collect(),
            pending: self.pending.clone(),
            outbox: self.outbox.iter().map(hex::encode).collect(),
            history: self.history,
            removed: self.removed,
            foreign: self.foreign,
            own_keys: Some(self.own_keys.iter().copied().collect()),
            join_epoch: self.join_epoch,
            adder: self.adder.clone(),
            adder_history: self.adder_history,
            doc_owners: self.doc_owners.clone(),
        };
        let out = Zeroizing::new(serde_json::to_vec(&s).unwrap_or_default());
        for (_, k) in s.keys.iter_mut() {
            zeroize::Zeroize::zeroize(k);
        }
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut s: StoredMeta = serde_json::from_slice(bytes).ok()?;
        let mut keys = BTreeMap::new();
        for (e, k) in s.keys.iter_mut() {
            let mut key = Zeroizing::new([0u8; 32]);
            let ok = hex::decode_to_slice(k.as_bytes(), key.as_mut()).is_ok();
            zeroize::Zeroize::zeroize(k);
            if !ok {
                return None;
            }
            keys.insert(*e, key);
        }
        let keys_epochs: BTreeSet<u64> = keys.keys().copied().collect();
        let mut seen = VecDeque::new();
        for d in &s.seen {
            let mut b = [0u8; 32];
            hex::decode_to_slice(d, &mut b).ok()?;
            seen.push_back(b);
        }
        let held = s
            .held
            .iter()
            .map(|(e, h)| Some((*e, hex::decode(h).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        let outbox = s
            .outbox
            .iter()
            .map(|h| hex::decode(h).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            keys,
            documents: s.documents.clone(),
            seen_set: seen.iter().copied().collect(),
            seen,
            held,
            pending: s.pending.clone(),
            outbox,
            history: s.history,
            removed: s.removed,
            foreign: s.foreign,
            own_keys: match &s.own_keys {
                Some(own) => own.iter().copied().collect(),
                None => keys_epochs,
            },
            join_epoch: s.join_epoch,
            adder: s.adder.clone(),
            adder_history: s.adder_history,
            doc_owners: s.doc_owners.clone(),
        })
    }
}
