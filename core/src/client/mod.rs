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

mod accounts;
mod admin;
mod api;
mod error;
mod files;
#[cfg(feature = "http")]
mod http;
mod keypackages;
mod labels;
mod live;
mod membership;
mod messages;
mod profiles;
mod recovery;
mod revoke;
mod scan;
mod sniff;
mod spaces;
mod sync;
mod transport;
mod types;
mod vouching;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use sealroom_wire::accounts::{
    AddSpaceMember, BootstrapRequest, CreateInvitation, CreateOrg, CreateSpace, DeviceList,
    Invitation, InvitationCheckRequest, InvitationList, OrgInfo, RegisterRequest, Registered,
    SpaceInfo, SpaceList,
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
    pieces_digest, sealed_pieces_digest, Document, Download, FilePolicy, FileUpload, FileVersion,
    NewFile, PendingUpload, DIGEST_PIECE, UPLOAD_CHUNK,
};
#[cfg(feature = "http")]
pub use http::HttpTransport;
pub use labels::{Classification, FileAccess, LabelRefusal, LabelRule, SpacePolicy};
pub use live::{LiveOptions, MAX_LIVE_WAIT_SECS};
pub use profiles::{Admission, AdmissionDevice, ProfileInput, UserProfile};
pub use recovery::{RecoveryReport, MIN_PASSPHRASE_CHARS};
pub use scan::{ScanState, Verdict};
pub use sniff::{sniff, SNIFF_LEN};
#[cfg(not(target_arch = "wasm32"))]
pub use transport::system_now_secs;
pub use transport::{
    DigestFuture, HttpRequest, HttpResponse, MaybeSend, SleepFuture, Transport, TransportError,
    TransportFuture,
};
pub use types::{
    Account, ClientEvent, DeviceRequestInfo, DeviceRequestStatus, InvitationCheck, InvitationInfo,
    InvitationState, Message, NewMessage, Role, Space, SpaceMember, SpaceRole, Thread,
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
    /// Events produced outside `sync` (the catch-up before a commit), handed out by the next
    /// `sync`.
    deferred: Mutex<Vec<ClientEvent>>,
    /// The live-event loop's options and timers (`live.rs`).
    live: Mutex<live::LiveState>,
}

impl std::fmt::Debug for SealroomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealroomClient").finish_non_exhaustive()
    }
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
            deferred: Mutex::new(Vec::new()),
            live: Mutex::new(live::LiveState::default()),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, ClientError> {
        self.inner
            .lock()
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))
    }

    /// Keeps events for the next `sync`.
    fn defer_events(&self, mut events: Vec<ClientEvent>) -> Result<(), ClientError> {
        if !events.is_empty() {
            self.deferred
                .lock()
                .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))?
                .append(&mut events);
        }
        Ok(())
    }

    /// Takes the events kept for this `sync`.
    fn take_deferred(&self) -> Result<Vec<ClientEvent>, ClientError> {
        Ok(std::mem::take(&mut *self.deferred.lock().map_err(
            |_| ClientError::State(crate::state::StateError::Corrupt),
        )?))
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

    /// Signs a call and starts it without waiting for the answer ([`api::Started`]).
    async fn signed_start(&self, call: Call) -> Result<api::Started, ClientError> {
        let device = self.signing_device()?;
        let sign = |m: &[u8]| device.sign(m);
        let signer = Signer {
            device_id: device.identity().device_id.clone(),
            sign: &sign,
        };
        Ok(self.api.start(call, Some(&signer)).await)
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
