//! The openmls storage provider of the SDK: openmls's state for every room this device is in,
//! held in memory as `key -> value` bytes that [`super::Client`] persists (encrypted, as a diff
//! against what is on disk) after every operation; see `docs/rooms.md`.
//!
//! Values are encoded with postcard, a compact non-self-describing binary serde format, instead of
//! the JSON of `openmls_memory_storage`: same information, less code in the WASM module (serde
//! code is monomorphised per type and format) and smaller state. One exception: the group's join
//! configuration stays JSON, because openmls deserialises a part of it (`PastEpochDeletionPolicy`)
//! through an untagged enum, which only self-describing formats can read.
//!
//! Keys are `tag (1 byte) || postcard(key) || openmls storage version (u16 BE)`. Lists (own leaf
//! nodes, the proposal queue's references) are stored as one value: a postcard list of the
//! items' own encodings. Reading something that does not decode is [`StorageError::Encoding`]
//! (openmls reports it as a storage error), never a panic.

use std::collections::HashMap;
use std::sync::RwLock;

use openmls_traits::storage::{traits, StorageProvider, CURRENT_VERSION};
use serde::de::DeserializeOwned;
use serde::Serialize;

// One tag per kind of entry.
const JOIN_CONFIG: u8 = 1;
const OWN_LEAF_NODES: u8 = 2;
const QUEUED_PROPOSAL: u8 = 3;
const PROPOSAL_QUEUE_REFS: u8 = 4;
const TREE: u8 = 5;
const INTERIM_TRANSCRIPT_HASH: u8 = 6;
const GROUP_CONTEXT: u8 = 7;
const CONFIRMATION_TAG: u8 = 8;
const GROUP_STATE: u8 = 9;
const MESSAGE_SECRETS: u8 = 10;
const RESUMPTION_PSK_STORE: u8 = 11;
const OWN_LEAF_INDEX: u8 = 12;
const EPOCH_SECRETS: u8 = 13;
const SIGNATURE_KEY_PAIR: u8 = 14;
const ENCRYPTION_KEY_PAIR: u8 = 15;
const EPOCH_KEY_PAIRS: u8 = 16;
const KEY_PACKAGE: u8 = 17;
const PSK: u8 = 18;

/// Why the storage provider failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// A key or value could not be encoded, or a stored value could not be decoded.
    Encoding,
    /// The proposal queue lists a proposal that is not stored.
    Missing,
    /// The in-memory map's lock was poisoned by a panic elsewhere.
    Lock,
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Encoding => "an MLS state value does not encode or decode",
            Self::Missing => "a queued MLS proposal is missing from the state",
            Self::Lock => "the MLS state lock is poisoned",
        })
    }
}

impl std::error::Error for StorageError {}

/// openmls's state in memory (see the module documentation).
#[derive(Debug, Default)]
pub struct SdkStorage {
    /// Every entry, by its full storage key.
    pub(crate) values: RwLock<HashMap<Vec<u8>, Vec<u8>>>,
}

fn storage_key<K: Serialize + ?Sized>(tag: u8, key: &K) -> Result<Vec<u8>, StorageError> {
    let mut out = vec![tag];
    out = postcard::to_extend(key, out).map_err(|_| StorageError::Encoding)?;
    out.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    Ok(out)
}

fn encode<V: Serialize + ?Sized>(value: &V) -> Result<Vec<u8>, StorageError> {
    postcard::to_allocvec(value).map_err(|_| StorageError::Encoding)
}

fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V, StorageError> {
    postcard::from_bytes(bytes).map_err(|_| StorageError::Encoding)
}

impl SdkStorage {
    fn write_raw(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StorageError> {
        self.values
            .write()
            .map_err(|_| StorageError::Lock)?
            .insert(key, value);
        Ok(())
    }

    /// Runs `f` on the value under `key` while the map is read-locked (no copy of the value).
    fn read_with<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(&[u8]) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        let values = self.values.read().map_err(|_| StorageError::Lock)?;
        values.get(key).map(|bytes| f(bytes)).transpose()
    }

    fn put_bin<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        tag: u8,
        key: &K,
        value: &V,
    ) -> Result<(), StorageError> {
        self.write_raw(storage_key(tag, key)?, encode(value)?)
    }

    fn get_bin<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        tag: u8,
        key: &K,
    ) -> Result<Option<V>, StorageError> {
        self.read_with(&storage_key(tag, key)?, decode)
    }

    fn put_json<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        tag: u8,
        key: &K,
        value: &V,
    ) -> Result<(), StorageError> {
        let value = serde_json::to_vec(value).map_err(|_| StorageError::Encoding)?;
        self.write_raw(storage_key(tag, key)?, value)
    }

    fn get_json<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        tag: u8,
        key: &K,
    ) -> Result<Option<V>, StorageError> {
        self.read_with(&storage_key(tag, key)?, |bytes| {
            serde_json::from_slice(bytes).map_err(|_| StorageError::Encoding)
        })
    }

    fn remove<K: Serialize + ?Sized>(&self, tag: u8, key: &K) -> Result<(), StorageError> {
        let key = storage_key(tag, key)?;
        self.values
            .write()
            .map_err(|_| StorageError::Lock)?
            .remove(&key);
        Ok(())
    }

    /// The encoded items of the list under `key` (empty when absent).
    fn raw_list(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(self.read_with(key, decode)?.unwrap_or_default())
    }

    fn append<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        tag: u8,
        key: &K,
        item: &V,
    ) -> Result<(), StorageError> {
        let key = storage_key(tag, key)?;
        let mut items = self.raw_list(&key)?;
        items.push(encode(item)?);
        self.write_raw(key, encode(&items)?)
    }

    fn remove_from_list<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        tag: u8,
        key: &K,
        item: &V,
    ) -> Result<(), StorageError> {
        let key = storage_key(tag, key)?;
        let mut items = self.raw_list(&key)?;
        let item = encode(item)?;
        if let Some(pos) = items.iter().position(|stored| *stored == item) {
            items.remove(pos);
        }
        self.write_raw(key, encode(&items)?)
    }

    fn list<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        tag: u8,
        key: &K,
    ) -> Result<Vec<V>, StorageError> {
        let items = self.read_with(&storage_key(tag, key)?, |bytes| {
            let items: Vec<Vec<u8>> = decode(bytes)?;
            items.iter().map(|item| decode(item)).collect()
        })?;
        Ok(items.unwrap_or_default())
    }
}

impl StorageProvider<CURRENT_VERSION> for SdkStorage {
    type Error = StorageError;

    fn write_mls_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        config: &MlsGroupJoinConfig,
    ) -> Result<(), Self::Error> {
        self.put_json(JOIN_CONFIG, group_id, config)
    }

    fn append_own_leaf_node<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        leaf_node: &LeafNode,
    ) -> Result<(), Self::Error> {
        self.append(OWN_LEAF_NODES, group_id, leaf_node)
    }

    fn queue_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
        proposal: &QueuedProposal,
    ) -> Result<(), Self::Error> {
        self.put_bin(QUEUED_PROPOSAL, &(group_id, proposal_ref), proposal)?;
        self.append(PROPOSAL_QUEUE_REFS, group_id, proposal_ref)
    }

    fn write_tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        tree: &TreeSync,
    ) -> Result<(), Self::Error> {
        self.put_bin(TREE, group_id, tree)
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        interim_transcript_hash: &InterimTranscriptHash,
    ) -> Result<(), Self::Error> {
        self.put_bin(INTERIM_TRANSCRIPT_HASH, group_id, interim_transcript_hash)
    }

    fn write_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_context: &GroupContext,
    ) -> Result<(), Self::Error> {
        self.put_bin(GROUP_CONTEXT, group_id, group_context)
    }

    fn write_confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        confirmation_tag: &ConfirmationTag,
    ) -> Result<(), Self::Error> {
        self.put_bin(CONFIRMATION_TAG, group_id, confirmation_tag)
    }

    fn write_group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_state: &GroupState,
    ) -> Result<(), Self::Error> {
        self.put_bin(GROUP_STATE, group_id, group_state)
    }

    fn write_message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        message_secrets: &MessageSecrets,
    ) -> Result<(), Self::Error> {
        self.put_bin(MESSAGE_SECRETS, group_id, message_secrets)
    }

    fn write_resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        resumption_psk_store: &ResumptionPskStore,
    ) -> Result<(), Self::Error> {
        self.put_bin(RESUMPTION_PSK_STORE, group_id, resumption_psk_store)
    }

    fn write_own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        own_leaf_index: &LeafNodeIndex,
    ) -> Result<(), Self::Error> {
        self.put_bin(OWN_LEAF_INDEX, group_id, own_leaf_index)
    }

    fn write_group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_epoch_secrets: &GroupEpochSecrets,
    ) -> Result<(), Self::Error> {
        self.put_bin(EPOCH_SECRETS, group_id, group_epoch_secrets)
    }

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> Result<(), Self::Error> {
        self.put_bin(SIGNATURE_KEY_PAIR, public_key, signature_key_pair)
    }

    fn write_encryption_key_pair<
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> Result<(), Self::Error> {
        self.put_bin(ENCRYPTION_KEY_PAIR, public_key, key_pair)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> Result<(), Self::Error> {
        self.put_bin(EPOCH_KEY_PAIRS, &(group_id, epoch, leaf_index), &key_pairs)
    }

    fn write_key_package<
        HashReference: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> Result<(), Self::Error> {
        self.put_bin(KEY_PACKAGE, hash_ref, key_package)
    }

    fn write_psk<
        PskId: traits::PskId<CURRENT_VERSION>,
        PskBundle: traits::PskBundle<CURRENT_VERSION>,
    >(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> Result<(), Self::Error> {
        self.put_bin(PSK, psk_id, psk)
    }

    fn mls_group_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MlsGroupJoinConfig>, Self::Error> {
        self.get_json(JOIN_CONFIG, group_id)
    }

    fn own_leaf_nodes<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<LeafNode>, Self::Error> {
        self.list(OWN_LEAF_NODES, group_id)
    }

    fn queued_proposal_refs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<ProposalRef>, Self::Error> {
        self.list(PROPOSAL_QUEUE_REFS, group_id)
    }

    fn queued_proposals<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<(ProposalRef, QueuedProposal)>, Self::Error> {
        let refs: Vec<ProposalRef> = self.list(PROPOSAL_QUEUE_REFS, group_id)?;
        let mut out = Vec::with_capacity(refs.len());
        for proposal_ref in refs {
            // A listed reference without its proposal is damage, not an empty queue.
            let proposal = self
                .get_bin(QUEUED_PROPOSAL, &(group_id, &proposal_ref))?
                .ok_or(StorageError::Missing)?;
            out.push((proposal_ref, proposal));
        }
        Ok(out)
    }

    fn tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<TreeSync>, Self::Error> {
        self.get_bin(TREE, group_id)
    }

    fn group_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupContext>, Self::Error> {
        self.get_bin(GROUP_CONTEXT, group_id)
    }

    fn interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<InterimTranscriptHash>, Self::Error> {
        self.get_bin(INTERIM_TRANSCRIPT_HASH, group_id)
    }

    fn confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ConfirmationTag>, Self::Error> {
        self.get_bin(CONFIRMATION_TAG, group_id)
    }

    fn group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupState>, Self::Error> {
        self.get_bin(GROUP_STATE, group_id)
    }

    fn message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MessageSecrets>, Self::Error> {
        self.get_bin(MESSAGE_SECRETS, group_id)
    }

    fn resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ResumptionPskStore>, Self::Error> {
        self.get_bin(RESUMPTION_PSK_STORE, group_id)
    }

    fn own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<LeafNodeIndex>, Self::Error> {
        self.get_bin(OWN_LEAF_INDEX, group_id)
    }

    fn group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupEpochSecrets>, Self::Error> {
        self.get_bin(EPOCH_SECRETS, group_id)
    }

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<Option<SignatureKeyPair>, Self::Error> {
        self.get_bin(SIGNATURE_KEY_PAIR, public_key)
    }

    fn encryption_key_pair<
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<Option<HpkeKeyPair>, Self::Error> {
        self.get_bin(ENCRYPTION_KEY_PAIR, public_key)
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<Vec<HpkeKeyPair>, Self::Error> {
        Ok(self
            .get_bin(EPOCH_KEY_PAIRS, &(group_id, epoch, leaf_index))?
            .unwrap_or_default())
    }

    fn key_package<
        KeyPackageRef: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<Option<KeyPackage>, Self::Error> {
        self.get_bin(KEY_PACKAGE, hash_ref)
    }

    fn psk<PskBundle: traits::PskBundle<CURRENT_VERSION>, PskId: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskId,
    ) -> Result<Option<PskBundle>, Self::Error> {
        self.get_bin(PSK, psk_id)
    }

    fn remove_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
    ) -> Result<(), Self::Error> {
        self.remove_from_list(PROPOSAL_QUEUE_REFS, group_id, proposal_ref)?;
        self.remove(QUEUED_PROPOSAL, &(group_id, proposal_ref))
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(OWN_LEAF_NODES, group_id)
    }

    fn delete_group_config<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(JOIN_CONFIG, group_id)
    }

    fn delete_tree<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(TREE, group_id)
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(CONFIRMATION_TAG, group_id)
    }

    fn delete_group_state<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(GROUP_STATE, group_id)
    }

    fn delete_context<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(GROUP_CONTEXT, group_id)
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(INTERIM_TRANSCRIPT_HASH, group_id)
    }

    fn delete_message_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(MESSAGE_SECRETS, group_id)
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(RESUMPTION_PSK_STORE, group_id)
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(OWN_LEAF_INDEX, group_id)
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.remove(EPOCH_SECRETS, group_id)
    }

    fn clear_proposal_queue<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        let refs: Vec<ProposalRef> = self.list(PROPOSAL_QUEUE_REFS, group_id)?;
        for proposal_ref in &refs {
            self.remove(QUEUED_PROPOSAL, &(group_id, proposal_ref))?;
        }
        self.remove(PROPOSAL_QUEUE_REFS, group_id)
    }

    fn delete_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<(), Self::Error> {
        self.remove(SIGNATURE_KEY_PAIR, public_key)
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<(), Self::Error> {
        self.remove(ENCRYPTION_KEY_PAIR, public_key)
    }

    fn delete_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<(), Self::Error> {
        self.remove(EPOCH_KEY_PAIRS, &(group_id, epoch, leaf_index))
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<CURRENT_VERSION>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<(), Self::Error> {
        self.remove(KEY_PACKAGE, hash_ref)
    }

    fn delete_psk<PskKey: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskKey,
    ) -> Result<(), Self::Error> {
        self.remove(PSK, psk_id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_round_trip_and_absent_reads_are_none() {
        let s = SdkStorage::default();
        s.put_bin(TREE, b"group-1".as_slice(), &(7u64, vec![1u8, 2, 3]))
            .unwrap();
        let back: Option<(u64, Vec<u8>)> = s.get_bin(TREE, b"group-1".as_slice()).unwrap();
        assert_eq!(back, Some((7, vec![1, 2, 3])));
        let other: Option<(u64, Vec<u8>)> = s.get_bin(TREE, b"group-2".as_slice()).unwrap();
        assert_eq!(other, None);
        // Same key under another tag is another entry.
        let tagged: Option<(u64, Vec<u8>)> = s.get_bin(GROUP_STATE, b"group-1".as_slice()).unwrap();
        assert_eq!(tagged, None);
        s.remove(TREE, b"group-1".as_slice()).unwrap();
        assert!(s.values.read().unwrap().is_empty());
    }

    #[test]
    fn lists_append_remove_one_item_and_read_empty_when_absent() {
        let s = SdkStorage::default();
        let empty: Vec<String> = s.list(OWN_LEAF_NODES, &1u8).unwrap();
        assert!(empty.is_empty());
        for item in ["a", "b", "a", "c"] {
            s.append(OWN_LEAF_NODES, &1u8, item).unwrap();
        }
        s.remove_from_list(OWN_LEAF_NODES, &1u8, "a").unwrap();
        let items: Vec<String> = s.list(OWN_LEAF_NODES, &1u8).unwrap();
        assert_eq!(items, ["b", "a", "c"]);
        s.remove_from_list(OWN_LEAF_NODES, &1u8, "zzz").unwrap();
        let items: Vec<String> = s.list(OWN_LEAF_NODES, &1u8).unwrap();
        assert_eq!(items, ["b", "a", "c"]);
    }

    #[test]
    fn damaged_values_are_typed_errors() {
        let s = SdkStorage::default();
        let key = storage_key(TREE, &5u32).unwrap();
        s.write_raw(key, vec![0xff; 3]).unwrap();
        let read: Result<Option<(u64, Vec<u8>)>, _> = s.get_bin(TREE, &5u32);
        assert_eq!(read, Err(StorageError::Encoding));
        let list_key = storage_key(PROPOSAL_QUEUE_REFS, &5u32).unwrap();
        s.write_raw(list_key, vec![0x05, 0x01]).unwrap();
        let list: Result<Vec<u64>, _> = s.list(PROPOSAL_QUEUE_REFS, &5u32);
        assert_eq!(list, Err(StorageError::Encoding));
        assert_eq!(
            s.append(PROPOSAL_QUEUE_REFS, &5u32, &1u64),
            Err(StorageError::Encoding)
        );
        let json_key = storage_key(JOIN_CONFIG, &5u32).unwrap();
        s.write_raw(json_key, b"{not json".to_vec()).unwrap();
        let read: Result<Option<u64>, _> = s.get_json(JOIN_CONFIG, &5u32);
        assert_eq!(read, Err(StorageError::Encoding));
    }
}
