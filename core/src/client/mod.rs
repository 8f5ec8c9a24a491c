//! The Sealroom client: one object that a portal app holds per device. It registers the
//! device with the relay, keeps the device's MLS rooms and its local index in the encrypted
//! state store, and moves only ciphertext through the relay.
//!
//! ```text
//!  app ──calls──▶ SealroomClient ──room ops──▶ room::Client (MLS, encrypted state)
//!                      │
//!                      └──HttpRequest──▶ Transport (reqwest natively, fetch in the browser) ──▶ relay
//! ```
//!
//! Every method is `async`; the futures are `Send` on native targets. The room state lives
//! behind a mutex that is never held across an `await`, so one client may be shared by tasks.
//! What a method changes locally is committed atomically with the room state change that
//! caused it (see [`crate::room::Client::process_recording`]); a crash at any point leaves
//! the store consistent, and `sync` continues from the last committed cursor.
//!
//! The contract with the relay is `docs/api/openapi.yaml`; the client's behaviour is described
//! in `docs/client.md`.

mod admin;
mod api;
mod error;
mod files;
#[cfg(feature = "http")]
mod http;
mod recovery;
mod sniff;
mod transport;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use sealroom_wire::accounts::{
    AddSpaceMember, BootstrapRequest, CreateInvitation, CreateOrg, CreateSpace, DeviceList,
    Invitation, OrgInfo, RegisterRequest, Registered, SpaceInfo, SpaceList,
};
use sealroom_wire::rooms::{
    ClaimedKeyPackages, CreateRoomRequest, HandshakePage, KeyPackageCount, MessagePage,
    PostHandshakeRequest, PostMessageRequest, UploadKeyPackagesRequest, WelcomePage,
};
use sealroom_wire::CredentialIdentity;

use crate::identity::{DeviceIdentity, SafetyNumber};
use crate::room::{
    self, message_epoch, store_has_device, AppWrite, CommitOutput, Content, ErrorKind, Label,
    RoomError, RoomEvent, RoomId, RoomKind, TextMessage,
};
use crate::state::{KvStore, StorageKey};

pub use admin::{AuditCheck, AuditCheckError, AuditFormat};
use api::{relay_error, seg, Call, RelayApi, Signer};
pub use error::{ClientError, ClientErrorKind};
pub use files::{
    Document, Download, FilePolicy, FileUpload, FileVersion, NewFile, PendingUpload, UPLOAD_CHUNK,
};
#[cfg(feature = "http")]
pub use http::HttpTransport;
pub use recovery::{RecoveryReport, MIN_PASSPHRASE_CHARS};
pub use sniff::{sniff, SNIFF_LEN};
#[cfg(not(target_arch = "wasm32"))]
pub use transport::system_now_secs;
pub use transport::{
    HttpRequest, HttpResponse, MaybeSend, Transport, TransportError, TransportFuture,
};
pub use types::{
    Account, ClientEvent, Message, NewMessage, Role, Space, SpaceMember, SpaceRole, Thread,
};

/// One-time key packages kept on the relay per device; `sync` tops the directory up when it
/// falls below half of this.
const KEY_PACKAGE_BATCH: usize = 16;
/// How many times a commit is rebuilt after losing an epoch race before giving up.
const COMMIT_ATTEMPTS: usize = 8;
/// Page size of handshake and message fetches.
const PAGE: u32 = 200;

const ACCOUNT_KEY: &str = "account";
const ROOM_RECORD_PREFIX: &str = "rooms/";
const MESSAGE_PREFIX: &str = "msg/";

/// What this device remembers about one of its rooms beside the MLS state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomRecord {
    /// The core room id (`<space>.<customer|internal>.<hex>`).
    room_id: String,
    /// The relay's id of the room (hex of the MLS group id).
    relay_id: String,
    space_id: String,
    internal: bool,
    /// Handshake cursor: the last applied handshake sequence number.
    hs_after: u64,
    /// Message cursor.
    msg_after: u64,
    /// Epoch at which this device joined; earlier application messages are not for it.
    joined_epoch: u64,
    /// Next local message index.
    next_index: u64,
    removed: bool,
}

impl RoomRecord {
    fn key(&self) -> String {
        format!("{ROOM_RECORD_PREFIX}{}", self.relay_id)
    }

    fn write(&self) -> Result<AppWrite, ClientError> {
        Ok((self.key(), Some(to_json(self)?)))
    }

    fn core_id(&self) -> Result<RoomId, ClientError> {
        Ok(RoomId::parse(&self.room_id)?)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(value).map_err(|e| ClientError::InvalidInput(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|_| ClientError::State(crate::state::StateError::Corrupt))
}

/// A fresh Ed25519 device secret and its public key (hex).
fn fresh_device_key() -> (Zeroizing<[u8; 32]>, String) {
    let mut secret = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(secret.as_mut());
    let public = ed25519_dalek::SigningKey::from_bytes(&secret)
        .verifying_key()
        .to_bytes();
    (secret, hex::encode(public))
}

/// The relay's id for a core room id: hex of the MLS group id bytes.
fn relay_room_id(room_id: &RoomId) -> String {
    hex::encode(room_id.as_str().as_bytes())
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>, ClientError> {
    B64.decode(text)
        .map_err(|_| ClientError::Protocol("invalid base64 from the relay".into()))
}

/// The store of an unregistered client with a fresh device secret and its public key (hex).
type Unregistered = (Box<dyn KvStore>, Zeroizing<[u8; 32]>, String);

/// A registered device: its rooms and its account.
struct Ready {
    rooms: room::Client,
    account: Account,
}

enum Inner {
    /// No device yet: the store and its key wait for `register` or `bootstrap`.
    Unregistered {
        kv: Option<Box<dyn KvStore>>,
        storage_key: StorageKey,
    },
    Ready(Box<Ready>),
}

/// The Sealroom client of one device. See the module documentation.
pub struct SealroomClient {
    api: RelayApi,
    inner: Mutex<Inner>,
    /// A copy of the device key for request signing (set once registered).
    signer: Mutex<Option<Arc<DeviceIdentity>>>,
    /// A device link waiting for approval (new devices of existing users).
    pending_link: Mutex<Option<admin::PendingLink>>,
}

impl std::fmt::Debug for SealroomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealroomClient").finish_non_exhaustive()
    }
}

/// Where an incoming MLS message came from.
#[derive(Clone, Copy)]
enum Source {
    Handshake(u64),
    Message(u64),
}

impl SealroomClient {
    /// Opens the client of the device whose state is in `kv` (encrypted under `storage_key`),
    /// talking to the relay at `relay_url` through `transport`. An empty store gives an
    /// unregistered client: call [`SealroomClient::register`] or
    /// [`SealroomClient::bootstrap`].
    pub fn open(
        relay_url: &str,
        transport: Arc<dyn Transport>,
        kv: Box<dyn KvStore>,
        storage_key: StorageKey,
    ) -> Result<Self, ClientError> {
        let api = RelayApi::new(relay_url, transport)?;
        let (inner, signer) = if store_has_device(kv.as_ref())? {
            let rooms = room::Client::open(kv, &storage_key)?;
            let account: Account = match rooms.app_get(ACCOUNT_KEY)? {
                Some(bytes) => from_json(&bytes)?,
                None => return Err(ClientError::State(crate::state::StateError::Corrupt)),
            };
            let signer = Arc::new(rooms.device().clone());
            (
                Inner::Ready(Box::new(Ready { rooms, account })),
                Some(signer),
            )
        } else {
            (
                Inner::Unregistered {
                    kv: Some(kv),
                    storage_key,
                },
                None,
            )
        };
        Ok(Self {
            api,
            inner: Mutex::new(inner),
            signer: Mutex::new(signer),
            pending_link: Mutex::new(None),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, ClientError> {
        self.inner
            .lock()
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))
    }

    /// Runs `f` on the registered device's state.
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Ready) -> Result<R, ClientError>,
    ) -> Result<R, ClientError> {
        let mut guard = self.lock()?;
        match &mut *guard {
            Inner::Ready(ready) => f(ready),
            Inner::Unregistered { .. } => Err(ClientError::NotRegistered),
        }
    }

    fn signing_device(&self) -> Result<Arc<DeviceIdentity>, ClientError> {
        self.signer
            .lock()
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))?
            .clone()
            .ok_or(ClientError::NotRegistered)
    }

    /// Sends a signed call and returns any status.
    async fn signed_raw(&self, call: Call) -> Result<HttpResponse, ClientError> {
        let device = self.signing_device()?;
        let sign = |m: &[u8]| device.sign(m);
        let signer = Signer {
            device_id: device.identity().device_id.clone(),
            sign: &sign,
        };
        self.api.send_raw(call, Some(&signer)).await
    }

    /// Sends a signed call; error statuses become errors.
    async fn signed(&self, call: Call) -> Result<HttpResponse, ClientError> {
        api::check(self.signed_raw(call).await?)
    }

    /// Sends a signed call and decodes the JSON answer.
    async fn signed_json<T: for<'de> Deserialize<'de>>(
        &self,
        call: Call,
    ) -> Result<T, ClientError> {
        api::decode(&self.signed(call).await?.body)
    }

    // ----- accounts ----------------------------------------------------------------------

    /// Whether this client holds a registered device.
    pub fn is_registered(&self) -> bool {
        matches!(self.lock().as_deref(), Ok(Inner::Ready(_)))
    }

    /// This device's account.
    pub fn account(&self) -> Result<Account, ClientError> {
        self.with(|r| Ok(r.account.clone()))
    }

    /// This device's Ed25519 public key (hex): what the relay and other members see.
    pub fn device_public_key(&self) -> Result<String, ClientError> {
        Ok(hex::encode(self.signing_device()?.public_key()))
    }

    /// Takes the store out of an unregistered client, with a fresh device secret.
    fn take_unregistered(&self) -> Result<Unregistered, ClientError> {
        let mut guard = self.lock()?;
        match &mut *guard {
            Inner::Ready(_) => Err(ClientError::AlreadyRegistered),
            Inner::Unregistered { kv, .. } => {
                let kv = kv.take().ok_or(ClientError::AlreadyRegistered)?;
                let (secret, public_key) = fresh_device_key();
                Ok((kv, secret, public_key))
            }
        }
    }

    /// Puts the store back after a failed registration.
    fn restore_unregistered(&self, kv: Box<dyn KvStore>) {
        if let Ok(mut guard) = self.lock() {
            if let Inner::Unregistered { kv: slot, .. } = &mut *guard {
                *slot = Some(kv);
            }
        }
    }

    /// Creates the device state after the relay registered it, then publishes key packages.
    async fn finish_registration(
        &self,
        kv: Box<dyn KvStore>,
        secret: &[u8; 32],
        registered: Registered,
    ) -> Result<Account, ClientError> {
        let identity = CredentialIdentity::new(
            &registered.org_id,
            &registered.user_id,
            &registered.device_id,
        )
        .map_err(|_| ClientError::Protocol("the relay returned invalid ids".into()))?;
        let account = Account {
            org_id: registered.org_id,
            user_id: registered.user_id,
            device_id: registered.device_id,
            role: registered.role,
        };
        {
            let mut guard = self.lock()?;
            let storage_key = match &*guard {
                Inner::Unregistered { storage_key, .. } => {
                    StorageKey::from_bytes(storage_key.expose_bytes())
                }
                Inner::Ready(_) => return Err(ClientError::AlreadyRegistered),
            };
            let mut rooms = room::Client::create_with_secret(kv, &storage_key, identity, secret)?;
            rooms.app_commit(vec![(ACCOUNT_KEY.into(), Some(to_json(&account)?))])?;
            *self
                .signer
                .lock()
                .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))? =
                Some(Arc::new(rooms.device().clone()));
            *guard = Inner::Ready(Box::new(Ready {
                rooms,
                account: account.clone(),
            }));
        }
        self.publish_key_packages(KEY_PACKAGE_BATCH, true).await?;
        Ok(account)
    }

    /// Registers this device with an invitation token (staff invited by an admin, customer
    /// members invited into a space by staff).
    pub async fn register(
        &self,
        invite_token: &str,
        user_name: &str,
        email: Option<&str>,
        device_name: &str,
    ) -> Result<Account, ClientError> {
        self.register_at("/v1/register", |public_key| RegisterRequest {
            token: invite_token.to_owned(),
            user_name: user_name.to_owned(),
            email: email.map(str::to_owned),
            device_name: device_name.to_owned(),
            public_key,
        })
        .await
    }

    /// Creates the provider organisation and its first admin with the relay's one-time setup
    /// token (printed at the relay's first start).
    pub async fn bootstrap(
        &self,
        setup_token: &str,
        org_name: &str,
        user_name: &str,
        email: Option<&str>,
        device_name: &str,
    ) -> Result<Account, ClientError> {
        self.register_at("/v1/bootstrap", |public_key| BootstrapRequest {
            setup_token: setup_token.to_owned(),
            org_name: org_name.to_owned(),
            user_name: user_name.to_owned(),
            email: email.map(str::to_owned),
            device_name: device_name.to_owned(),
            public_key,
        })
        .await
    }

    /// Registers a fresh device key at `path` with the body `make_body(public_key_hex)`; on
    /// failure the store goes back to the unregistered client.
    async fn register_at<B: Serialize>(
        &self,
        path: &'static str,
        make_body: impl FnOnce(String) -> B,
    ) -> Result<Account, ClientError> {
        let (kv, secret, public_key) = self.take_unregistered()?;
        let registered: Result<Registered, _> =
            match Call::json("POST", path, &make_body(public_key)) {
                Ok(call) => self.api.json(call, None).await,
                Err(e) => Err(e),
            };
        match registered {
            Ok(r) => self.finish_registration(kv, &secret, r).await,
            Err(e) => {
                self.restore_unregistered(kv);
                Err(e)
            }
        }
    }

    /// Generates and uploads `count` key packages (and a last-resort one when asked).
    async fn publish_key_packages(
        &self,
        count: usize,
        last_resort: bool,
    ) -> Result<(), ClientError> {
        let packages = self.with(|r| {
            let mut kps = r.rooms.generate_key_packages(count)?;
            if last_resort {
                kps.push(r.rooms.last_resort_key_package()?);
            }
            Ok(kps)
        })?;
        let body = UploadKeyPackagesRequest {
            key_packages: packages.iter().map(|k| b64(k)).collect(),
        };
        self.signed(Call::json("POST", "/v1/keypackages", &body)?)
            .await?;
        Ok(())
    }

    /// Lists this user's devices.
    pub async fn my_devices(&self) -> Result<DeviceList, ClientError> {
        self.signed_json(Call::get("/v1/me/devices")).await
    }

    /// Creates a customer organisation (admins).
    pub async fn create_customer_org(&self, name: &str) -> Result<OrgInfo, ClientError> {
        self.signed_json(Call::json(
            "POST",
            "/v1/orgs",
            &CreateOrg { name: name.into() },
        )?)
        .await
    }

    /// Invites a staff member (admins) or, with `space_id`, a customer member into a space
    /// (staff). The token goes to the invitee out of band.
    pub async fn invite(
        &self,
        role: Role,
        space_id: Option<&str>,
    ) -> Result<Invitation, ClientError> {
        let body = CreateInvitation {
            role,
            space_id: space_id.map(str::to_owned),
        };
        self.signed_json(Call::json("POST", "/v1/invitations", &body)?)
            .await
    }

    // ----- spaces ------------------------------------------------------------------------

    /// Creates a space for a customer organisation with its customer room and, when
    /// `with_internal_room`, a staff-only internal room.
    pub async fn create_space(
        &self,
        customer_org_id: &str,
        with_internal_room: bool,
    ) -> Result<Space, ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::json(
                "POST",
                "/v1/spaces",
                &CreateSpace {
                    customer_org_id: customer_org_id.to_owned(),
                },
            )?)
            .await?;
        self.create_room(&info.space_id, RoomKind::Customer).await?;
        if with_internal_room {
            self.create_room(&info.space_id, RoomKind::Internal).await?;
        }
        self.space(&info.space_id).await
    }

    async fn create_room(&self, space_id: &str, kind: RoomKind) -> Result<(), ClientError> {
        let (created, tree) = self.with(|r| {
            let created = r.rooms.create_room(space_id, kind)?;
            let tree = r.rooms.ratchet_tree(&created.room_id)?;
            Ok((created, tree))
        })?;
        let body = CreateRoomRequest {
            space_id: space_id.to_owned(),
            group_info: b64(&created.group_info),
            ratchet_tree: b64(&tree),
        };
        let relay_id = relay_room_id(&created.room_id);
        let answer: serde_json::Value = self
            .signed_json(Call::json("POST", "/v1/rooms", &body)?)
            .await?;
        if answer.get("room_id").and_then(|v| v.as_str()) != Some(relay_id.as_str()) {
            return Err(ClientError::Protocol(
                "the relay registered the room under another id".into(),
            ));
        }
        let record = RoomRecord {
            room_id: created.room_id.as_str().to_owned(),
            relay_id,
            space_id: space_id.to_owned(),
            internal: kind == RoomKind::Internal,
            hs_after: 0,
            msg_after: 0,
            joined_epoch: 0,
            next_index: 0,
            removed: false,
        };
        self.with(|r| Ok(r.rooms.app_commit(vec![record.write()?])?))
    }

    fn room_records(&self) -> Result<Vec<RoomRecord>, ClientError> {
        self.with(|r| {
            let mut out = Vec::new();
            for key in r.rooms.app_keys(ROOM_RECORD_PREFIX)? {
                if let Some(bytes) = r.rooms.app_get(&key)? {
                    out.push(from_json::<RoomRecord>(&bytes)?);
                }
            }
            Ok(out)
        })
    }

    fn space_room(&self, space_id: &str, internal: bool) -> Result<RoomRecord, ClientError> {
        self.room_records()?
            .into_iter()
            .find(|r| r.space_id == space_id && r.internal == internal)
            .ok_or_else(|| ClientError::Unknown {
                what: if internal { "internal room" } else { "space" },
                id: space_id.to_owned(),
            })
    }

    /// Spaces this user belongs to, with members and safety numbers.
    pub async fn spaces(&self) -> Result<Vec<Space>, ClientError> {
        let list: SpaceList = self.signed_json(Call::get("/v1/spaces")).await?;
        let records = self.room_records()?;
        list.spaces
            .into_iter()
            .map(|info| self.describe_space(info, &records))
            .collect()
    }

    /// One space.
    pub async fn space(&self, space_id: &str) -> Result<Space, ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::get(format!("/v1/spaces/{}", seg(space_id))))
            .await?;
        let records = self.room_records()?;
        self.describe_space(info, &records)
    }

    fn describe_space(
        &self,
        info: SpaceInfo,
        records: &[RoomRecord],
    ) -> Result<Space, ClientError> {
        let customer = records
            .iter()
            .find(|r| r.space_id == info.space_id && !r.internal && !r.removed);
        let internal = records
            .iter()
            .any(|r| r.space_id == info.space_id && r.internal && !r.removed);
        let devices: BTreeMap<String, (Vec<String>, BTreeSet<[u8; 32]>)> = match customer {
            Some(rec) => self.with(|r| {
                let mut map: BTreeMap<String, (Vec<String>, BTreeSet<[u8; 32]>)> = BTreeMap::new();
                for (id, key) in r.rooms.members(&rec.core_id()?)? {
                    let entry = map.entry(id.user_id.clone()).or_default();
                    entry.0.push(id.device_id.clone());
                    if let Ok(k) = <[u8; 32]>::try_from(key.as_slice()) {
                        entry.1.insert(k);
                    }
                }
                Ok(map)
            })?,
            None => BTreeMap::new(),
        };
        let members = info
            .members
            .into_iter()
            .map(|m| {
                let (devs, keys) = devices.get(&m.user_id).cloned().unwrap_or_default();
                SpaceMember {
                    safety_number: (!keys.is_empty())
                        .then(|| SafetyNumber::compute(&m.user_id, &keys).as_str().to_owned()),
                    user_id: m.user_id,
                    role: m.role,
                    devices: devs,
                }
            })
            .collect();
        Ok(Space {
            space_id: info.space_id,
            provider_org_id: info.provider_org_id,
            customer_org_id: info.customer_org_id,
            owner_user_id: info.owner_user_id,
            members,
            joined: customer.is_some(),
            internal_room: internal,
        })
    }

    /// Adds a user to a space: on the relay (staff; customers invited into the space are
    /// members already) and, with every device that has published key packages, into the
    /// space's customer room and, for provider staff, its internal room.
    pub async fn add_member(&self, space_id: &str, user_id: &str) -> Result<(), ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::get(format!("/v1/spaces/{}", seg(space_id))))
            .await?;
        let role = match info.members.iter().find(|m| m.user_id == user_id) {
            Some(m) => m.role,
            None => {
                self.signed(Call::json(
                    "POST",
                    format!("/v1/spaces/{}/members", seg(space_id)),
                    &AddSpaceMember {
                        user_id: user_id.to_owned(),
                    },
                )?)
                .await?;
                let info: SpaceInfo = self
                    .signed_json(Call::get(format!("/v1/spaces/{}", seg(space_id))))
                    .await?;
                info.members
                    .iter()
                    .find(|m| m.user_id == user_id)
                    .map(|m| m.role)
                    .ok_or_else(|| ClientError::Unknown {
                        what: "space member",
                        id: user_id.to_owned(),
                    })?
            }
        };
        let mut rooms = vec![self.space_room(space_id, false)?];
        if matches!(role, SpaceRole::Staff | SpaceRole::Owner) {
            if let Ok(internal) = self.space_room(space_id, true) {
                rooms.push(internal);
            }
        }
        for record in rooms {
            self.add_user_to_room(&record, user_id).await?;
        }
        Ok(())
    }

    async fn add_user_to_room(
        &self,
        record: &RoomRecord,
        user_id: &str,
    ) -> Result<(), ClientError> {
        let room_id = record.core_id()?;
        let present: BTreeSet<String> = self.with(|r| {
            Ok(r.rooms
                .members(&room_id)?
                .into_iter()
                .filter(|(id, _)| id.user_id == user_id)
                .map(|(id, _)| id.device_id)
                .collect())
        })?;
        let claimed: ClaimedKeyPackages = self
            .signed_json(Call::raw(
                "POST",
                format!("/v1/users/{}/keypackages/claim", seg(user_id)),
                Vec::new(),
            ))
            .await?;
        let packages: Vec<Vec<u8>> = claimed
            .key_packages
            .iter()
            .filter(|k| !present.contains(&k.device_id))
            .map(|k| unb64(&k.key_package))
            .collect::<Result<_, _>>()?;
        if packages.is_empty() {
            if present.is_empty() {
                return Err(ClientError::InvalidInput(format!(
                    "user {user_id} has no device with key packages yet"
                )));
            }
            return Ok(());
        }
        self.commit_with_retry(record, |rooms, id| rooms.add_members(id, &packages))
            .await
    }

    /// Removes a user from a space: every device from the space's rooms (the relay learns it
    /// from the commits and refuses the user from then on), then from the space on the relay.
    pub async fn remove_member(&self, space_id: &str, user_id: &str) -> Result<(), ClientError> {
        for record in self.room_records()? {
            if record.space_id != space_id || record.removed {
                continue;
            }
            let room_id = record.core_id()?;
            let present = self.with(|r| {
                Ok(r.rooms
                    .members(&room_id)?
                    .iter()
                    .any(|(id, _)| id.user_id == user_id))
            })?;
            if present {
                self.commit_with_retry(&record, |rooms, id| rooms.remove_users(id, &[user_id]))
                    .await?;
            }
        }
        let response = self
            .signed_raw(Call::delete(format!(
                "/v1/spaces/{}/members/{}",
                seg(space_id),
                seg(user_id)
            )))
            .await?;
        match response.status {
            200..=299 | 404 => Ok(()),
            _ => Err(relay_error(&response)),
        }
    }

    /// Builds a commit with `build`, sends it, and on an epoch conflict syncs the room and
    /// rebuilds it, up to [`COMMIT_ATTEMPTS`] times.
    async fn commit_with_retry<F>(&self, record: &RoomRecord, build: F) -> Result<(), ClientError>
    where
        F: Fn(&mut room::Client, &RoomId) -> Result<CommitOutput, RoomError>,
    {
        let room_id = record.core_id()?;
        for _ in 0..COMMIT_ATTEMPTS {
            self.sync_room(&record.relay_id, &mut Vec::new()).await?;
            let out = self.with(|r| Ok(build(&mut r.rooms, &room_id)?))?;
            let body = PostHandshakeRequest {
                message: b64(&out.commit),
                welcome: out.welcome.as_deref().map(b64),
            };
            let response = self
                .signed_raw(Call::json(
                    "POST",
                    format!("/v1/rooms/{}/handshakes", record.relay_id),
                    &body,
                )?)
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    // Unknown outcome: keep the pending commit; the next sync sees whether the
                    // relay took it (then it is confirmed) or not (then it is discarded).
                    return Err(e);
                }
            };
            match response.status {
                200..=299 => {
                    let outgoing = self.with(|r| Ok(r.rooms.confirm_commit(&room_id)?.outgoing))?;
                    for message in outgoing {
                        self.send_message_bytes(&record.relay_id, &message, None)
                            .await?;
                    }
                    self.with(|r| Ok(r.rooms.clear_outbox(&room_id)?))?;
                    return Ok(());
                }
                409 => {
                    self.with(|r| Ok(r.rooms.discard_commit(&room_id)?))?;
                }
                _ => {
                    self.with(|r| Ok(r.rooms.discard_commit(&room_id)?))?;
                    return Err(relay_error(&response));
                }
            }
        }
        Err(ClientError::Relay {
            status: 409,
            code: "epoch_conflict".into(),
            message: "gave up after repeated epoch conflicts".into(),
        })
    }

    /// Leaves a space: asks the other members (by an MLS remove proposal) to remove this
    /// device; they commit it on their next sync.
    pub async fn leave_space(&self, space_id: &str) -> Result<(), ClientError> {
        for record in self.room_records()? {
            if record.space_id != space_id || record.removed {
                continue;
            }
            let room_id = record.core_id()?;
            let proposal = self.with(|r| Ok(r.rooms.leave(&room_id)?))?;
            let body = PostHandshakeRequest {
                message: b64(&proposal),
                welcome: None,
            };
            self.signed(Call::json(
                "POST",
                format!("/v1/rooms/{}/handshakes", record.relay_id),
                &body,
            )?)
            .await?;
        }
        Ok(())
    }

    // ----- messages ----------------------------------------------------------------------

    async fn send_message_bytes(
        &self,
        relay_id: &str,
        message: &[u8],
        expires_at: Option<u64>,
    ) -> Result<u64, ClientError> {
        let body = PostMessageRequest {
            message: b64(message),
            expires_at,
        };
        let posted: serde_json::Value = self
            .signed_json(Call::json(
                "POST",
                format!("/v1/rooms/{relay_id}/messages"),
                &body,
            )?)
            .await?;
        posted
            .get("seq")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ClientError::Protocol("message post without seq".into()))
    }

    /// Posts a message into a space's customer room, or with `internal` into its staff-only
    /// internal room. Internal content is never sent to the customer room.
    pub async fn post_message(
        &self,
        space_id: &str,
        message: NewMessage,
    ) -> Result<Message, ClientError> {
        if message.body.is_empty() {
            return Err(ClientError::InvalidInput("empty message".into()));
        }
        let record = self.space_room(space_id, message.internal)?;
        let now = self.api.now().max(0) as u64;
        let expires_at = message.expires_in_secs.map(|s| now.saturating_add(s));
        let text = TextMessage {
            thread_id: message.thread_id.unwrap_or_else(random_id),
            message_id: random_id(),
            reply_to: message.reply_to,
            body: message.body,
            expires_at,
        };
        let label = if message.internal {
            Label::Internal
        } else {
            Label::Customer
        };
        let room_id = record.core_id()?;
        let (bytes, account) = self.with(|r| {
            let bytes = r.rooms.post(&room_id, label, Content::Text(text.clone()))?;
            Ok((bytes, r.account.clone()))
        })?;
        self.send_message_bytes(&record.relay_id, &bytes, expires_at)
            .await?;
        // Own messages are not readable by this device from the relay (MLS), so they are
        // indexed here.
        self.with(|r| {
            let mut rec = load_record(&r.rooms, &record.relay_id)?;
            let stored = Message {
                space_id: space_id.to_owned(),
                internal: record.internal,
                thread_id: text.thread_id.clone(),
                message_id: text.message_id.clone(),
                reply_to: text.reply_to.clone(),
                sender_user_id: account.user_id.clone(),
                sender_device_id: account.device_id.clone(),
                body: text.body.clone(),
                expires_at,
                index: rec.next_index,
            };
            rec.next_index += 1;
            r.rooms
                .app_commit(vec![message_write(&stored)?, rec.write()?])?;
            Ok(stored)
        })
    }

    /// Messages of a space (both rooms this device is in), oldest first; `thread` narrows to
    /// one thread. Expired messages are left out (and deleted locally).
    pub fn messages(
        &self,
        space_id: &str,
        thread: Option<&str>,
    ) -> Result<Vec<Message>, ClientError> {
        let now = self.api.now().max(0) as u64;
        self.with(|r| {
            let mut out = Vec::new();
            let mut expired = Vec::new();
            for key in r.rooms.app_keys(&format!("{MESSAGE_PREFIX}{space_id}/"))? {
                let Some(bytes) = r.rooms.app_get(&key)? else {
                    continue;
                };
                let m: Message = from_json(&bytes)?;
                if m.expires_at.is_some_and(|t| t <= now) {
                    expired.push((key, None));
                    continue;
                }
                if thread.is_none_or(|t| t == m.thread_id) {
                    out.push(m);
                }
            }
            if !expired.is_empty() {
                r.rooms.app_commit(expired)?;
            }
            out.sort_by_key(|m| (m.internal, m.index));
            Ok(out)
        })
    }

    /// Threads of a space.
    pub fn threads(&self, space_id: &str) -> Result<Vec<Thread>, ClientError> {
        let mut threads: BTreeMap<(bool, String), Thread> = BTreeMap::new();
        for m in self.messages(space_id, None)? {
            let t = threads
                .entry((m.internal, m.thread_id.clone()))
                .or_insert_with(|| Thread {
                    thread_id: m.thread_id.clone(),
                    internal: m.internal,
                    messages: 0,
                    last_index: 0,
                });
            t.messages += 1;
            t.last_index = t.last_index.max(m.index);
        }
        Ok(threads.into_values().collect())
    }

    // ----- sync --------------------------------------------------------------------------

    /// Fetches welcomes, handshakes and messages from the relay and applies them in order.
    /// Returns what changed. Safe to call at any time and repeatedly.
    pub async fn sync(&self) -> Result<Vec<ClientEvent>, ClientError> {
        let mut events = Vec::new();
        self.sync_welcomes(&mut events).await?;
        for mut record in self.room_records()? {
            if record.removed {
                continue;
            }
            match self.sync_room(&record.relay_id, &mut events).await {
                Ok(()) => {}
                // The relay no longer lets this device read the room: it was removed by a
                // commit it cannot fetch any more. Stop the room and go on with the others.
                Err(ClientError::Relay { status: 403, .. }) => {
                    record.removed = true;
                    let write = record.write()?;
                    self.with(|r| Ok(r.rooms.app_commit(vec![write])?))?;
                    if !events.iter().any(|e| {
                        matches!(e, ClientEvent::RemovedFromSpace { space_id } if *space_id == record.space_id)
                    }) {
                        events.push(ClientEvent::RemovedFromSpace {
                            space_id: record.space_id.clone(),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.replenish_key_packages().await?;
        Ok(events)
    }

    async fn replenish_key_packages(&self) -> Result<(), ClientError> {
        let count: KeyPackageCount = self.signed_json(Call::get("/v1/keypackages")).await?;
        if (count.available as usize) < KEY_PACKAGE_BATCH / 2 {
            self.publish_key_packages(KEY_PACKAGE_BATCH, !count.last_resort)
                .await?;
        }
        Ok(())
    }

    async fn sync_welcomes(&self, events: &mut Vec<ClientEvent>) -> Result<(), ClientError> {
        let page: WelcomePage = self.signed_json(Call::get("/v1/welcomes")).await?;
        for entry in page.entries {
            let welcome = unb64(&entry.welcome)?;
            let relay_id = entry.room_id.clone();
            let result = self.with(|r| {
                let mut joined_record = None;
                let result = r.rooms.join_recording(&welcome, |joined| {
                    let record = RoomRecord {
                        room_id: joined.room_id.as_str().to_owned(),
                        relay_id: relay_id.clone(),
                        space_id: joined.room_id.space_id().unwrap_or_default().to_owned(),
                        internal: joined.room_id.kind() == RoomKind::Internal,
                        hs_after: 0,
                        msg_after: 0,
                        joined_epoch: joined.epoch,
                        next_index: 0,
                        removed: false,
                    };
                    let write = record.write().ok();
                    joined_record = Some(record);
                    write.into_iter().collect()
                });
                Ok((result.map(|_| ()), joined_record))
            })?;
            match result {
                (Ok(()), Some(record)) => {
                    self.apply_pending_recovery(&record)?;
                    events.push(ClientEvent::JoinedSpace {
                        space_id: record.space_id,
                        internal: record.internal,
                    })
                }
                (Ok(()), None) => {}
                // A welcome for a room this device is already in, or one it cannot use
                // (its key package is gone): nothing to join; drop it.
                (Err(e), _) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Rejected) => {
                    events.push(ClientEvent::Dropped {
                        space_id: String::new(),
                        reason: format!("welcome not usable: {e}"),
                    });
                }
                (Err(e), _) => return Err(e.into()),
            }
            let response = self
                .signed_raw(Call::delete(format!("/v1/welcomes/{}", entry.id)))
                .await?;
            if !(200..300).contains(&response.status) && response.status != 404 {
                return Err(relay_error(&response));
            }
        }
        Ok(())
    }

    /// Applies everything new in one room: handshakes first (they change the epoch), then
    /// messages.
    async fn sync_room(
        &self,
        relay_id: &str,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        loop {
            let after = self.with(|r| Ok(load_record(&r.rooms, relay_id)?.hs_after))?;
            let page: HandshakePage = self
                .signed_json(Call::get(format!(
                    "/v1/rooms/{relay_id}/handshakes?after={after}&limit={PAGE}"
                )))
                .await?;
            if page.entries.is_empty() {
                break;
            }
            for entry in page.entries {
                let bytes = unb64(&entry.message)?;
                if !self.apply(
                    relay_id,
                    Source::Handshake(entry.seq),
                    &entry.sender_device,
                    &bytes,
                    events,
                )? {
                    return Ok(());
                }
            }
        }
        loop {
            let after = self.with(|r| Ok(load_record(&r.rooms, relay_id)?.msg_after))?;
            let page: MessagePage = self
                .signed_json(Call::get(format!(
                    "/v1/rooms/{relay_id}/messages?after={after}&limit={PAGE}"
                )))
                .await?;
            if page.entries.is_empty() {
                break;
            }
            for entry in page.entries {
                let bytes = unb64(&entry.message)?;
                if !self.apply(
                    relay_id,
                    Source::Message(entry.seq),
                    &entry.sender_device,
                    &bytes,
                    events,
                )? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Applies one incoming message and advances the cursor in the same atomic commit.
    /// Returns `false` when the room cannot go on now (removed, or waiting for something).
    fn apply(
        &self,
        relay_id: &str,
        source: Source,
        sender_device: &str,
        bytes: &[u8],
        events: &mut Vec<ClientEvent>,
    ) -> Result<bool, ClientError> {
        self.with(|r| {
            let mut record = load_record(&r.rooms, relay_id)?;
            match source {
                Source::Handshake(seq) => record.hs_after = record.hs_after.max(seq),
                Source::Message(seq) => record.msg_after = record.msg_after.max(seq),
            }
            let own = sender_device == r.account.device_id;
            let before_join = matches!(source, Source::Message(_))
                && message_epoch(bytes).is_some_and(|e| e < record.joined_epoch);
            if (own && matches!(source, Source::Message(_))) || before_join {
                // Own application messages are indexed when posted; messages of epochs before
                // this device joined were never meant for it.
                r.rooms.app_commit(vec![record.write()?])?;
                return Ok(true);
            }
            let room_id = record.core_id()?;
            let account = r.account.clone();
            let mut produced = Vec::new();
            let result = r.rooms.process_recording(&room_id, bytes, |room_events| {
                let mut writes = Vec::new();
                for ev in room_events {
                    translate(ev, &mut record, &account, &mut writes, &mut produced);
                }
                if let Ok(w) = record.write() {
                    writes.push(w);
                }
                writes
            });
            match result {
                Ok(_) => {
                    events.append(&mut produced);
                    Ok(true)
                }
                Err(e) => match e.kind() {
                    ErrorKind::Corrupt | ErrorKind::Rejected => {
                        let mut rec = load_record(&r.rooms, relay_id)?;
                        match source {
                            Source::Handshake(seq) => rec.hs_after = rec.hs_after.max(seq),
                            Source::Message(seq) => rec.msg_after = rec.msg_after.max(seq),
                        }
                        r.rooms.app_commit(vec![rec.write()?])?;
                        events.push(ClientEvent::Dropped {
                            space_id: rec.space_id,
                            reason: e.to_string(),
                        });
                        Ok(true)
                    }
                    ErrorKind::Removed => {
                        let mut rec = load_record(&r.rooms, relay_id)?;
                        if !rec.removed {
                            rec.removed = true;
                            r.rooms.app_commit(vec![rec.write()?])?;
                            events.push(ClientEvent::RemovedFromSpace {
                                space_id: rec.space_id,
                            });
                        }
                        Ok(false)
                    }
                    _ => Err(e.into()),
                },
            }
        })
    }
}

fn load_record(rooms: &room::Client, relay_id: &str) -> Result<RoomRecord, ClientError> {
    match rooms.app_get(&format!("{ROOM_RECORD_PREFIX}{relay_id}"))? {
        Some(bytes) => from_json(&bytes),
        None => Err(ClientError::Unknown {
            what: "room",
            id: relay_id.to_owned(),
        }),
    }
}

fn message_write(m: &Message) -> Result<AppWrite, ClientError> {
    Ok((
        format!(
            "{MESSAGE_PREFIX}{}/{}{:020}",
            m.space_id,
            if m.internal { 'i' } else { 'c' },
            m.index
        ),
        Some(to_json(m)?),
    ))
}

/// Turns one room event into client events and index writes.
fn translate(
    event: &RoomEvent,
    record: &mut RoomRecord,
    account: &Account,
    writes: &mut Vec<AppWrite>,
    out: &mut Vec<ClientEvent>,
) {
    let space_id = record.space_id.clone();
    match event {
        RoomEvent::Content {
            sender,
            label,
            content: Content::Text(t),
        } => {
            let message = Message {
                space_id: space_id.clone(),
                internal: *label == Label::Internal || record.internal,
                thread_id: t.thread_id.clone(),
                message_id: t.message_id.clone(),
                reply_to: t.reply_to.clone(),
                sender_user_id: sender.user_id.clone(),
                sender_device_id: sender.device_id.clone(),
                body: t.body.clone(),
                expires_at: t.expires_at,
                index: record.next_index,
            };
            record.next_index += 1;
            if let Ok(w) = message_write(&message) {
                writes.push(w);
            }
            out.push(ClientEvent::NewMessage(message));
        }
        RoomEvent::Content {
            sender, content, ..
        } => files::translate_content(content, &sender.user_id, record, writes, out),
        RoomEvent::Commit { added, removed, .. } => {
            for id in added {
                out.push(ClientEvent::MemberAdded {
                    space_id: space_id.clone(),
                    user_id: id.user_id.clone(),
                    device_id: id.device_id.clone(),
                });
            }
            for id in removed {
                out.push(ClientEvent::MemberRemoved {
                    space_id: space_id.clone(),
                    user_id: id.user_id.clone(),
                    device_id: id.device_id.clone(),
                });
            }
        }
        RoomEvent::Removed => {
            record.removed = true;
            out.push(ClientEvent::RemovedFromSpace { space_id });
        }
        RoomEvent::HistoryReceived { .. } => out.push(ClientEvent::HistoryReceived { space_id }),
        RoomEvent::KeyChanged(change) if change.user_id != account.user_id => {
            out.push(ClientEvent::KeyChanged {
                user_id: change.user_id.clone(),
                safety_number: change.new_safety_number.as_str().to_owned(),
            });
        }
        _ => {}
    }
}
