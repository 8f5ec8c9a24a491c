//! Joining a room from a Welcome.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;

use super::error::mls;
use super::history::derive_content_key;
use super::meta::{Adder, RoomMeta};
use super::policy::{Policy, PROVIDER_EXTENSION};
use super::{
    identity_of, observe_members, Client, Joined, Room, RoomError, RoomId, RoomKind,
    MAX_PAST_EPOCHS,
};
use crate::state::Batch;

pub(super) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

impl Client {
    /// Joins a room from a Welcome (an MLSMessage). The ratchet tree comes from the Welcome's
    /// extension.
    pub fn join(&mut self, welcome: &[u8]) -> Result<Joined, RoomError> {
        self.join_with(welcome, None, false, |_| Ok(Batch::new()))
    }

    pub(super) fn join_with_batch<F>(
        &mut self,
        welcome: &[u8],
        extra: F,
    ) -> Result<Joined, RoomError>
    where
        F: FnOnce(&Joined) -> Result<Batch, RoomError>,
    {
        self.join_with(welcome, None, false, extra)
    }

    pub(super) fn join_with<F>(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
        vectors: bool,
        extra: F,
    ) -> Result<Joined, RoomError>
    where
        F: FnOnce(&Joined) -> Result<Batch, RoomError>,
    {
        self.check_usable()?;
        let msg =
            MlsMessageIn::tls_deserialize_exact(welcome).map_err(|_| RoomError::InvalidMessage)?;
        let MlsMessageBodyIn::Welcome(welcome) = msg.extract() else {
            return Err(RoomError::InvalidMessage);
        };
        let config = if vectors {
            MlsGroupJoinConfig::builder()
                .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
                .use_ratchet_tree_extension(true)
                .max_past_epochs(MAX_PAST_EPOCHS)
                .number_of_resumption_psks(16)
                .build()
        } else {
            join_config()
        };
        let mut builder = StagedWelcome::build_from_welcome(&self.provider, &config, welcome)
            .map_err(|e| match e {
                WelcomeError::NoMatchingKeyPackage => RoomError::NoMatchingKeyPackage,
                _ => RoomError::InvalidMessage,
            })?;
        if let Some(tree) = ratchet_tree {
            let tree = RatchetTreeIn::tls_deserialize_exact(tree)
                .map_err(|_| RoomError::InvalidMessage)?;
            builder = builder.with_ratchet_tree(tree);
        }
        if vectors {
            builder = builder.skip_lifetime_validation();
        }
        // Re-joining a room this device was removed from replaces the old, inactive group.
        let gid = builder
            .processed_welcome()
            .unverified_group_info()
            .group_id()
            .clone();
        let rejoin = match self.rooms.get(&RoomId::from_group_id(&gid)) {
            Some(existing) if existing.meta.removed => true,
            Some(_) => return Err(RoomError::Membership),
            None => false,
        };
        if rejoin {
            builder = builder.replace_old_group();
        }
        let staged = builder.build().map_err(|_| RoomError::InvalidMessage)?;
        let room_id = RoomId::from_group_id(staged.group_context().group_id());
        if let Some(existing) = self.rooms.get(&room_id) {
            if !existing.meta.removed {
                return Err(RoomError::Membership);
            }
        }
        let adder = if vectors {
            None
        } else {
            Some(self.check_welcome(&staged, &room_id)?)
        };
        let group = staged
            .into_group(&self.provider)
            .map_err(|_| RoomError::InvalidMessage)?;
        let epoch = group.epoch().as_u64();
        let mut events = Vec::new();
        observe_members(&mut self.directory, &group, &mut events);
        let mut meta = RoomMeta::new(false);
        meta.foreign = vectors;
        meta.join_epoch = Some(epoch);
        meta.adder = adder;
        // This device's own content key of its join epoch: files it wraps from now on use it
        // (or a later one it derives), never a key another member sent.
        let key = derive_content_key(&group, &self.provider, &room_id)?;
        meta.insert_own_key(epoch, key);
        self.rooms.insert(room_id.clone(), Room::new(group, meta));
        self.run_held(&room_id, &mut events);
        let joined = Joined {
            room_id,
            epoch,
            events,
        };
        let batch = extra(&joined)?;
        self.persist(std::slice::from_ref(&joined.room_id), batch)?;
        Ok(joined)
    }

    /// Checks a Welcome against the membership policy before anything of it is stored: the
    /// room names its provider org, the adder (the GroupInfo's signer) is a provider device,
    /// and the internal room holds only provider devices. Returns the adder.
    fn check_welcome(&self, staged: &StagedWelcome, room_id: &RoomId) -> Result<Adder, RoomError> {
        let org = staged
            .group_context()
            .extensions()
            .unknown(PROVIDER_EXTENSION)
            .and_then(|e| std::str::from_utf8(&e.0).ok())
            .filter(|org| sealroom_wire::check_id(org).is_ok())
            .ok_or(RoomError::NoProviderOrg)?;
        let policy = Policy {
            provider_org: Some(org),
            kind: room_id.kind(),
        };
        let sender = staged.welcome_sender().map_err(mls)?;
        let identity = identity_of(sender.credential()).ok_or(RoomError::InvalidMessage)?;
        policy
            .check_add(&identity, self.device.identity())
            .map_err(RoomError::Policy)?;
        if room_id.kind() == RoomKind::Internal {
            for m in staged.members() {
                let id = identity_of(&m.credential).ok_or(RoomError::InvalidMessage)?;
                policy
                    .check_add(&identity, &id)
                    .map_err(RoomError::Policy)?;
            }
        }
        Ok(Adder {
            identity: identity.to_bytes(),
            signature_key: sender.signature_key().as_slice().to_vec(),
        })
    }
}
