//! Public data types of the client API.

use serde::{Deserialize, Serialize};

pub use sealroom_wire::accounts::{
    DeviceRequestStatus, InvitationCheck, InvitationInfo, InvitationState, Role, SpaceRole,
};

/// A request to link a new device to an existing user, as the app sees it
/// ([`super::SealroomClient::request_device_link`]). The relay's body also carries the
/// key-transfer handshake (the new device's one-time key and the approval bundle), which the
/// client runs itself and never hands to the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DeviceRequestInfo {
    /// Id.
    pub request_id: String,
    /// The user.
    pub user_id: String,
    /// The pending device.
    pub device_id: String,
    /// Its public key, hex (compare it on both screens before approving).
    pub public_key: String,
    /// Status.
    pub status: DeviceRequestStatus,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

impl From<&sealroom_wire::accounts::DeviceRequestInfo> for DeviceRequestInfo {
    fn from(r: &sealroom_wire::accounts::DeviceRequestInfo) -> Self {
        // No `..`: a field added to the relay's body does not compile here until this view
        // carries it or says why not.
        let sealroom_wire::accounts::DeviceRequestInfo {
            request_id,
            user_id,
            device_id,
            public_key,
            status,
            expires_at,
            // The key-transfer handshake, run by the client itself.
            kx_public_key: _,
            bundle: _,
        } = r;
        Self {
            request_id: request_id.clone(),
            user_id: user_id.clone(),
            device_id: device_id.clone(),
            public_key: public_key.clone(),
            status: *status,
            expires_at: *expires_at,
        }
    }
}

/// This device's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Account {
    /// Organisation.
    pub org_id: String,
    /// User.
    pub user_id: String,
    /// This device.
    pub device_id: String,
    /// Organisation role.
    pub role: Role,
}

/// A space as this device sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Space {
    /// Id.
    pub space_id: String,
    /// The provider organisation.
    pub provider_org_id: String,
    /// The customer organisation.
    pub customer_org_id: String,
    /// The owner (creating staff user).
    pub owner_user_id: String,
    /// Members: every user with a device in the MLS tree of the space's rooms (whatever the
    /// relay lists), with safety numbers this device computed from the tree (compare them out
    /// of band), plus users the relay lists who have no device in the rooms yet.
    pub members: Vec<SpaceMember>,
    /// Whether this device is in the space's customer room.
    pub joined: bool,
    /// Whether this device is in the space's internal (staff-only) room.
    pub internal_room: bool,
}

/// A member of a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SpaceMember {
    /// User.
    pub user_id: String,
    /// Role in the space as the relay lists it; a user in the tree whom the relay does not list
    /// gets [`SpaceRole::Customer`] or [`SpaceRole::Staff`] from the organisation in their MLS
    /// credential.
    pub role: SpaceRole,
    /// Devices of the user in the space's rooms (from the MLS tree).
    pub devices: Vec<String>,
    /// Devices of [`SpaceMember::devices`] vouched for by the user: a certificate for exactly
    /// the device's MLS leaf key verifies under the identity key this device pinned for the
    /// user. The others are unverified (linked by a TOTP code alone, or the relay withholds or
    /// forged their certificate): show them as such.
    pub verified_devices: Vec<String>,
    /// The user's safety number (60 digits) over the user id and the identity key this device
    /// pinned for them: adding or removing a device does not change it. For a user whose
    /// identity key this device never saw, the number over the device keys in the tree (which
    /// does change with devices); `None` when neither is known.
    pub safety_number: Option<String>,
    /// The relay served another identity key for the user than the one this device pinned:
    /// a key change (reported once as [`ClientEvent::KeyChanged`]); devices verify under the
    /// pinned key only.
    pub identity_key_changed: bool,
    /// The user's organisation as their MLS credential names it (`None` when the user has no
    /// device in the rooms yet and only the relay lists them).
    pub org_id: Option<String>,
    /// Whether the user belongs to the provider organisation (staff), judged from `org_id`
    /// when known.
    pub provider_staff: bool,
    /// Whether the relay lists the user as a member of the space. `false` means the relay hides
    /// a user who is in the MLS tree: show it, it is a warning sign.
    pub listed_by_relay: bool,
    /// Whether the user has a device in the MLS tree of the customer room.
    pub in_customer_room: bool,
    /// Whether the user has a device in the MLS tree of the internal room (as this device sees
    /// it; `false` when this device is not in the internal room).
    pub in_internal_room: bool,
    /// The user's display name from the latest profile one of their devices signed and posted
    /// into a room this device is in (never the relay's record); made safe to show
    /// ([`crate::room::display_text`]). `None` until such a profile arrived.
    pub name: Option<String>,
}

/// A message to post.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// Thread (a new random thread when `None`).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The text.
    pub body: String,
    /// The message this one replies to.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Disappear this many seconds after posting (the relay deletes the ciphertext, clients
    /// the plaintext).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// Post into the internal (staff-only) room instead of the customer room.
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    #[serde(default)]
    pub internal: bool,
}

/// A message in a space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Message {
    /// Space.
    pub space_id: String,
    /// Whether it was posted in the internal room.
    pub internal: bool,
    /// Thread.
    pub thread_id: String,
    /// Message id.
    pub message_id: String,
    /// The message it replies to.
    pub reply_to: Option<String>,
    /// Sender user.
    pub sender_user_id: String,
    /// Sender device.
    pub sender_device_id: String,
    /// The text.
    pub body: String,
    /// Unix time (s) after which the message is gone.
    pub expires_at: Option<u64>,
    /// Local order within the space.
    pub index: u64,
    /// The sender's display name from their latest signed profile (filled in when the message
    /// is read; `None` when no profile of the sender arrived).
    pub sender_name: Option<String>,
    /// Unix time (s) on the sender's clock, inside the signed and encrypted message (`None`
    /// for messages of earlier SDKs).
    pub sent_at: Option<u64>,
    /// Unix time (s) at which the relay accepted the message (`None` for this device's own
    /// messages, which it indexes when posting).
    pub received_at: Option<u64>,
}

/// A thread summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Thread {
    /// Thread id.
    pub thread_id: String,
    /// Whether the thread is in the internal room.
    pub internal: bool,
    /// Number of messages.
    pub messages: u64,
    /// The last message's index.
    pub last_index: u64,
}

/// Something that changed, reported by `sync`. Serialize (for JS): `{ "type": "joinedSpace",
/// "space_id": ..., ... }`, the variant's name in camelCase as `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum ClientEvent {
    /// This device joined a space's room.
    JoinedSpace {
        /// Space.
        space_id: String,
        /// Whether it is the internal room.
        internal: bool,
    },
    /// Devices were added to a space's room.
    MemberAdded {
        /// Space.
        space_id: String,
        /// User.
        user_id: String,
        /// Device.
        device_id: String,
    },
    /// Devices were removed from a space's room.
    MemberRemoved {
        /// Space.
        space_id: String,
        /// User.
        user_id: String,
        /// Device.
        device_id: String,
    },
    /// A new message.
    NewMessage {
        /// The message.
        message: Message,
    },
    /// A new document (its first version).
    NewFile {
        /// Space.
        space_id: String,
        /// File id.
        file_id: String,
        /// Document it is a version of.
        document_id: String,
        /// Version.
        version: u64,
    },
    /// A new version of an existing document.
    NewVersion {
        /// Space.
        space_id: String,
        /// File id of this version.
        file_id: String,
        /// Document it is a version of.
        document_id: String,
        /// Version (2 or more).
        version: u64,
    },
    /// The relay served another identity key for a user than the one this device pinned:
    /// compare the new safety number out of band. The pinned key stays in use (devices
    /// certified only under the new key show unverified). Adding or removing a device is not a
    /// key change.
    KeyChanged {
        /// User.
        user_id: String,
        /// The safety number over the newly served identity key.
        safety_number: String,
    },
    /// This device was removed from a space.
    RemovedFromSpace {
        /// Space.
        space_id: String,
    },
    /// The earlier files of a room became readable (history keys arrived).
    HistoryReceived {
        /// Space.
        space_id: String,
    },
    /// Something a member or the relay sent was refused and nothing of it was applied: a
    /// handshake (proposal or commit) whose sender is not a current member allowed to send it
    /// (an external join, a customer adding or removing someone, a customer device put into
    /// the internal room...), or a file manifest that is unsigned, signed by a device not in
    /// the room or breaks the version rule (`reason` `manifest_*`). The room goes on.
    Refused {
        /// Space.
        space_id: String,
        /// The relay's id of the room.
        room: String,
        /// The sender: `user/device` when MLS authenticates it as a member, otherwise
        /// `relay:<device>` with the device the relay says posted it (unauthenticated).
        sender: String,
        /// Why (a stable code).
        reason: String,
    },
    /// A device of a user was not added to a room by this device's policy: under the default
    /// policy, devices nobody vouched for join no room
    /// (`SealroomClient::set_allow_unverified_customer`, `set_allow_unverified_internal`).
    DeviceSkipped {
        /// Space.
        space_id: String,
        /// Whether the room is the internal room.
        internal: bool,
        /// User.
        user_id: String,
        /// Device.
        device_id: String,
        /// Why (`unverified_device`).
        reason: String,
    },
    /// A user the relay lists as a member of a space where this user is staff or owner (an
    /// invitee who registered, a user added on the relay) has no device in the space's room
    /// yet: add them with `SealroomClient::add_member`. Reported once per user and space by
    /// the live loop (`SealroomClient::next_events`), never by `sync`.
    MemberWaiting {
        /// Space.
        space_id: String,
        /// User.
        user_id: String,
    },
    /// A message from the relay was malformed or forged and was dropped.
    Dropped {
        /// Space.
        space_id: String,
        /// Why.
        reason: String,
    },
}

impl ClientEvent {
    /// `NewFile` for a document's first version, `NewVersion` for later ones.
    pub(crate) fn file(space_id: &str, file_id: String, document_id: String, version: u64) -> Self {
        let space_id = space_id.to_owned();
        if version > 1 {
            ClientEvent::NewVersion {
                space_id,
                file_id,
                document_id,
                version,
            }
        } else {
            ClientEvent::NewFile {
                space_id,
                file_id,
                document_id,
                version,
            }
        }
    }
}
