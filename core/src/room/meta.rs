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
        })
    }
}
