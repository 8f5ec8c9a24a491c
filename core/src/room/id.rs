//! Room ids and kinds.

use std::fmt;

use openmls::prelude::GroupId;
use rand_core::{OsRng, RngCore};

use super::RoomError;

/// The kind of a room within a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKind {
    /// The customer-facing room: provider and customer staff.
    Customer,
    /// The provider's internal room: provider staff only.
    Internal,
}

/// A room id, which is also the MLS group id: `<space_id>.<customer|internal>.<32 hex>`.
///
/// The kind is part of the group id, which every member's Welcome authenticates, so a relay
/// cannot pass a customer room off as internal. Group ids from elsewhere (test vectors) are
/// shown as `~<hex>` and treated as customer rooms (the restrictive choice for posting).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(String);

impl RoomId {
    pub(super) fn new_random(space_id: &str, kind: RoomKind) -> Result<Self, RoomError> {
        sealroom_wire::check_id(space_id).map_err(|_| RoomError::InvalidId)?;
        let mut r = [0u8; 16];
        OsRng.fill_bytes(&mut r);
        let k = match kind {
            RoomKind::Customer => "customer",
            RoomKind::Internal => "internal",
        };
        Ok(Self(format!("{space_id}.{k}.{}", hex::encode(r))))
    }

    /// Parses a room id string.
    pub fn parse(s: &str) -> Result<Self, RoomError> {
        if let Some(h) = s.strip_prefix('~') {
            hex::decode(h).map_err(|_| RoomError::InvalidRoomId)?;
            return Ok(Self(s.to_owned()));
        }
        let mut parts = s.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(space), Some("customer" | "internal"), Some(r), None)
                if sealroom_wire::check_id(space).is_ok()
                    && r.len() == 32
                    && r.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok(Self(s.to_owned()))
            }
            _ => Err(RoomError::InvalidRoomId),
        }
    }

    pub(super) fn from_group_id(id: &GroupId) -> Self {
        match std::str::from_utf8(id.as_slice())
            .ok()
            .and_then(|s| Self::parse(s).ok())
        {
            Some(r) if !r.0.starts_with('~') => r,
            _ => Self(format!("~{}", hex::encode(id.as_slice()))),
        }
    }

    pub(super) fn group_id(&self) -> GroupId {
        match self.0.strip_prefix('~').and_then(|h| hex::decode(h).ok()) {
            Some(bytes) => GroupId::from_slice(&bytes),
            None => GroupId::from_slice(self.0.as_bytes()),
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The space the room belongs to (`None` for foreign group ids).
    pub fn space_id(&self) -> Option<&str> {
        if self.0.starts_with('~') {
            return None;
        }
        self.0.split('.').next()
    }

    /// Whether this is the customer-facing or the internal room.
    pub fn kind(&self) -> RoomKind {
        match self.0.split('.').nth(1) {
            Some("internal") if !self.0.starts_with('~') => RoomKind::Internal,
            _ => RoomKind::Customer,
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
