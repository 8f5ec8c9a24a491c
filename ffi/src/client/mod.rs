//! The SDK client for Kotlin and Swift: [`SealroomClient`] wraps
//! `sealroom_core::client::SealroomClient` one to one.
//!
//! - Blocking calls: the object owns a Tokio runtime and the reqwest transport and runs each
//!   async core call to completion on the calling thread. Apps call them off the main thread.
//!   Callbacks (progress, byte source/sink) run on that same thread, inside the call; they must
//!   not call any `SealroomClient` (Tokio refuses a blocking call inside a running one, so
//!   both calls fail).
//! - State: `FileKv` (crash-safe append-only log) in a directory the app chooses, encrypted with
//!   a 32-byte storage key the app keeps in the Android Keystore / iOS Keychain.
//! - Files stream through [`ByteSource`] / [`ByteSink`] callbacks in bounded pieces, so a large
//!   file never sits in memory.
//! - Errors: one [`SealroomError`] variant per `ClientErrorKind`, each carrying the core's
//!   stable code and message.

mod labels;
mod live;
mod profiles;
mod revoke;
mod types;
mod vouching;

use std::io::{Read, Write};
use std::sync::Arc;

use zeroize::Zeroizing;

use sealroom_core::client::{self as core, ClientError, ClientErrorKind, HttpTransport};
use sealroom_core::state::{FileKv, StorageKey};

pub use live::LiveOptions;
pub use revoke::{SecurityEvent, SecurityEventKind};
pub use types::*;

/// Largest piece requested from a [`ByteSource`] in one call.
const SOURCE_PIECE: usize = 1 << 20;

/// Errors of the client: one variant per thing a caller must handle (the core's
/// `ClientErrorKind`). `code` is the core's stable specific code (`relay_forbidden`, `policy`,
/// `not_registered`, ...); `detail` is a human-readable message (never contains secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SealroomError {
    /// The relay is unreachable or busy: retry later; nothing was lost.
    #[error("{code}: {detail}")]
    Network {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// The relay refused this device's credentials or token (bad invitation or setup token,
    /// revoked device, clock far off).
    #[error("{code}: {detail}")]
    Unauthenticated {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// Not allowed (not a member, wrong role, removed from the space).
    #[error("{code}: {detail}")]
    Forbidden {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// The space, file, user or invitation does not exist (or is used up).
    #[error("{code}: {detail}")]
    NotFound {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// Someone else changed the same thing first: sync and retry.
    #[error("{code}: {detail}")]
    Conflict {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// A size limit was exceeded (space quota, body limit).
    #[error("{code}: {detail}")]
    TooLarge {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// Data from the relay or another member is malformed, forged or does not decrypt.
    #[error("{code}: {detail}")]
    Corrupt {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// The request is invalid (bad argument, refused by the space's file policy, wrong state).
    #[error("{code}: {detail}")]
    InvalidInput {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// The local state store failed (wrong storage key, unreadable directory, stream i/o).
    #[error("{code}: {detail}")]
    Storage {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
    /// A bug (in the SDK or the relay): please report it.
    #[error("{code}: {detail}")]
    Internal {
        /// Stable code.
        code: String,
        /// Message.
        detail: String,
    },
}

impl From<ClientError> for SealroomError {
    fn from(e: ClientError) -> Self {
        let code = e.code();
        let detail = e.to_string();
        match e.kind() {
            ClientErrorKind::Network => Self::Network { code, detail },
            ClientErrorKind::Unauthenticated => Self::Unauthenticated { code, detail },
            ClientErrorKind::Forbidden => Self::Forbidden { code, detail },
            ClientErrorKind::NotFound => Self::NotFound { code, detail },
            ClientErrorKind::Conflict => Self::Conflict { code, detail },
            ClientErrorKind::TooLarge => Self::TooLarge { code, detail },
            ClientErrorKind::Corrupt => Self::Corrupt { code, detail },
            ClientErrorKind::InvalidInput => Self::InvalidInput { code, detail },
            ClientErrorKind::Storage => Self::Storage { code, detail },
            _ => Self::Internal { code, detail },
        }
    }
}

impl From<sealroom_core::state::StateError> for SealroomError {
    fn from(e: sealroom_core::state::StateError) -> Self {
        ClientError::from(e).into()
    }
}

/// Failure of an app-side stream callback ([`ByteSource`], [`ByteSink`]). Throw it from the
/// callback; the SDK call then fails with [`SealroomError::Storage`] (code `io`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum StreamError {
    /// The app could not read or write its stream.
    #[error("{reason}")]
    Failed {
        /// Why.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StreamError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

/// Progress of an upload or download, called on the calling thread during the call.
#[uniffi::export(foreign)]
pub trait ProgressListener: Send + Sync {
    /// `done` of `total` bytes are through.
    fn on_progress(&self, done: u64, total: u64);
}

/// Where an upload reads the file from (an `InputStream`, a file handle...).
#[uniffi::export(foreign)]
pub trait ByteSource: Send + Sync {
    /// Returns up to `max` next bytes; an empty array means end of stream.
    fn read(&self, max: u32) -> Result<Vec<u8>, StreamError>;
}

/// Where a download writes the plaintext to (an `OutputStream`, a file handle...).
#[uniffi::export(foreign)]
pub trait ByteSink: Send + Sync {
    /// Writes all of `data`.
    fn write(&self, data: Vec<u8>) -> Result<(), StreamError>;
}

/// `std::io::Read` over a [`ByteSource`] callback; holds at most one piece.
struct SourceReader {
    source: Arc<dyn ByteSource>,
    piece: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for SourceReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos == self.piece.len() {
            if self.ended {
                return Ok(0);
            }
            let max = out.len().min(SOURCE_PIECE) as u32;
            self.piece = self
                .source
                .read(max)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.pos = 0;
            if self.piece.is_empty() {
                self.ended = true;
                return Ok(0);
            }
        }
        let n = out.len().min(self.piece.len() - self.pos);
        out[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `std::io::Write` over a [`ByteSink`] callback.
struct SinkWriter(Arc<dyn ByteSink>);

impl Write for SinkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .write(data.to_vec())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn reader(source: Arc<dyn ByteSource>) -> SourceReader {
    SourceReader {
        source,
        piece: Vec::new(),
        pos: 0,
        ended: false,
    }
}

/// The core's progress closure over an optional listener.
fn progress_fn(listener: Option<Arc<dyn ProgressListener>>) -> impl FnMut(u64, u64) + Send + Sync {
    move |done, total| {
        if let Some(listener) = &listener {
            listener.on_progress(done, total);
        }
    }
}

fn invalid(code: &str, detail: &str) -> SealroomError {
    SealroomError::InvalidInput {
        code: code.into(),
        detail: detail.into(),
    }
}

/// The Sealroom client of one device. All calls block until done: call them off the main
/// thread. Safe to share between threads.
#[derive(uniffi::Object)]
pub struct SealroomClient {
    client: core::SealroomClient,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for SealroomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealroomClient").finish_non_exhaustive()
    }
}

impl SealroomClient {
    fn block<T, E: Into<SealroomError>>(
        &self,
        future: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, SealroomError> {
        self.runtime.block_on(future).map_err(Into::into)
    }
}

#[uniffi::export]
impl SealroomClient {
    /// Opens the client of this device: its encrypted state lives in `state_dir` (created if
    /// missing; one directory per device, in app-private storage), encrypted under
    /// `storage_key` (exactly 32 bytes, kept in the Android Keystore / iOS Keychain). An empty
    /// directory gives an unregistered client (call `register` or `bootstrap`). A wrong key
    /// fails with [`SealroomError::Storage`].
    #[uniffi::constructor]
    pub fn open(
        relay_url: String,
        state_dir: String,
        storage_key: Vec<u8>,
    ) -> Result<Arc<Self>, SealroomError> {
        let storage_key = Zeroizing::new(storage_key);
        let key: [u8; 32] = storage_key
            .as_slice()
            .try_into()
            .map_err(|_| invalid("invalid_storage_key", "a storage key is exactly 32 bytes"))?;
        let key = StorageKey::from_bytes(key);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sealroom-io")
            .enable_all()
            .build()
            .map_err(|e| SealroomError::Internal {
                code: "runtime".into(),
                detail: e.to_string(),
            })?;
        let transport = Arc::new(HttpTransport::new().map_err(ClientError::from)?);
        let kv = FileKv::open(&state_dir)?;
        let client = core::SealroomClient::open(&relay_url, transport, Box::new(kv), key)?;
        Ok(Arc::new(Self { client, runtime }))
    }

    // ----- accounts ------------------------------------------------------------------------

    /// Whether this client holds a registered device.
    pub fn is_registered(&self) -> bool {
        self.client.is_registered()
    }

    /// This device's account.
    pub fn account(&self) -> Result<Account, SealroomError> {
        Ok(self.client.account()?)
    }

    /// This device's Ed25519 public key (hex).
    pub fn device_public_key(&self) -> Result<String, SealroomError> {
        Ok(self.client.device_public_key()?)
    }

    /// Registers this device with an invitation token (a new user of the inviting org).
    pub fn register(
        &self,
        invite_token: String,
        user_name: String,
        email: Option<String>,
        device_name: String,
    ) -> Result<Account, SealroomError> {
        let account = self.block(self.client.register(
            &invite_token,
            &user_name,
            email.as_deref(),
            &device_name,
        ))?;
        Ok(account)
    }

    /// Creates the provider organisation and its first administrator with the relay's one-time
    /// setup token.
    pub fn bootstrap(
        &self,
        setup_token: String,
        org_name: String,
        user_name: String,
        email: Option<String>,
        device_name: String,
    ) -> Result<Account, SealroomError> {
        let account = self.block(self.client.bootstrap(
            &setup_token,
            &org_name,
            &user_name,
            email.as_deref(),
            &device_name,
        ))?;
        Ok(account)
    }

    /// This user's devices.
    pub fn my_devices(&self) -> Result<Vec<DeviceInfo>, SealroomError> {
        let list = self.block(self.client.my_devices())?;
        Ok(list.devices.into_iter().collect())
    }

    /// Creates a customer organisation (provider staff).
    pub fn create_customer_org(&self, name: String) -> Result<OrgInfo, SealroomError> {
        self.block(self.client.create_customer_org(&name))
    }

    /// Issues an invitation: `staff`/`admin` (admins), or `customer` into `space_id`.
    pub fn invite(
        &self,
        role: Role,
        space_id: Option<String>,
    ) -> Result<Invitation, SealroomError> {
        self.block(self.client.invite(role, space_id.as_deref()))
    }

    // ----- spaces --------------------------------------------------------------------------

    /// Creates a space for a customer organisation, with its customer room and optionally an
    /// internal (staff-only) room.
    pub fn create_space(
        &self,
        customer_org_id: String,
        with_internal_room: bool,
    ) -> Result<Space, SealroomError> {
        self.block(
            self.client
                .create_space(&customer_org_id, with_internal_room),
        )
    }

    /// This user's spaces.
    pub fn spaces(&self) -> Result<Vec<Space>, SealroomError> {
        let spaces = self.block(self.client.spaces())?;
        Ok(spaces.into_iter().collect())
    }

    /// One space.
    pub fn space(&self, space_id: String) -> Result<Space, SealroomError> {
        self.block(self.client.space(&space_id))
    }

    /// Adds a user (all their devices) to a space's rooms.
    pub fn add_member(&self, space_id: String, user_id: String) -> Result<(), SealroomError> {
        self.block(self.client.add_member(&space_id, &user_id))
    }

    /// Removes a user (all their devices) from a space.
    pub fn remove_member(&self, space_id: String, user_id: String) -> Result<(), SealroomError> {
        self.block(self.client.remove_member(&space_id, &user_id))
    }

    /// Leaves a space (another member commits the removal).
    pub fn leave_space(&self, space_id: String) -> Result<(), SealroomError> {
        self.block(self.client.leave_space(&space_id))
    }

    // ----- messages and sync ---------------------------------------------------------------

    /// Posts a message.
    pub fn post_message(
        &self,
        space_id: String,
        message: NewMessage,
    ) -> Result<Message, SealroomError> {
        self.block(self.client.post_message(&space_id, message))
    }

    /// The messages of a space known locally (after `sync`), optionally of one thread.
    pub fn messages(
        &self,
        space_id: String,
        thread_id: Option<String>,
    ) -> Result<Vec<Message>, SealroomError> {
        Ok(self.client.messages(&space_id, thread_id.as_deref())?)
    }

    /// The threads of a space known locally.
    pub fn threads(&self, space_id: String) -> Result<Vec<Thread>, SealroomError> {
        Ok(self.client.threads(&space_id)?)
    }

    /// Fetches welcomes, handshakes and messages from the relay and applies them; returns what
    /// changed.
    pub fn sync(&self) -> Result<Vec<ClientEvent>, SealroomError> {
        self.block(self.client.sync())
    }

    // ----- files ---------------------------------------------------------------------------

    /// Sets a space's file policy on this device (checked before anything is encrypted).
    pub fn set_file_policy(
        &self,
        space_id: String,
        policy: FilePolicy,
    ) -> Result<(), SealroomError> {
        Ok(self.client.set_file_policy(&space_id, &policy)?)
    }

    /// A space's file policy on this device.
    pub fn file_policy(&self, space_id: String) -> Result<FilePolicy, SealroomError> {
        Ok(self.client.file_policy(&space_id)?)
    }

    /// Seals and uploads `len` bytes pulled from `source`, in bounded pieces; resumable (see
    /// `pending_uploads`). A refusal by the space's policy is `InvalidInput` (code `policy`).
    pub fn upload_file(
        &self,
        space_id: String,
        file: NewFile,
        len: u64,
        source: Arc<dyn ByteSource>,
        progress: Option<Arc<dyn ProgressListener>>,
    ) -> Result<FileVersion, SealroomError> {
        self.block(self.client.upload_file(
            &space_id,
            &file,
            len,
            reader(source),
            progress_fn(progress),
        ))
    }

    /// Uploads that have not finished (after a crash or a lost connection).
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>, SealroomError> {
        Ok(self.client.pending_uploads()?)
    }

    /// Resumes an upload from the same source (read again from its start; only what the relay
    /// lacks is sent). A changed source is refused.
    pub fn resume_upload(
        &self,
        upload_id: String,
        source: Arc<dyn ByteSource>,
        progress: Option<Arc<dyn ProgressListener>>,
    ) -> Result<FileVersion, SealroomError> {
        self.block(
            self.client
                .resume_upload(&upload_id, reader(source), progress_fn(progress)),
        )
    }

    /// Abandons an unfinished upload.
    pub fn cancel_upload(&self, upload_id: String) -> Result<(), SealroomError> {
        self.block(self.client.cancel_upload(&upload_id))
    }

    /// The file versions of a space known locally.
    pub fn files(&self, space_id: String) -> Result<Vec<FileVersion>, SealroomError> {
        Ok(self.client.files(&space_id)?)
    }

    /// The documents of a space known locally, with all their versions.
    pub fn documents(&self, space_id: String) -> Result<Vec<Document>, SealroomError> {
        Ok(self.client.documents(&space_id)?)
    }

    /// Reads the space's file manifests from the relay (earlier documents for a new member).
    pub fn refresh_files(&self, space_id: String) -> Result<Vec<ClientEvent>, SealroomError> {
        self.block(self.client.refresh_files(&space_id))
    }

    /// Downloads, opens and checks a file, pushing the plaintext into `sink` in bounded pieces.
    pub fn download_file(
        &self,
        space_id: String,
        file_id: String,
        sink: Arc<dyn ByteSink>,
        progress: Option<Arc<dyn ProgressListener>>,
    ) -> Result<FileVersion, SealroomError> {
        self.block(self.client.download_file(
            &space_id,
            &file_id,
            SinkWriter(sink),
            progress_fn(progress),
        ))
    }

    /// Downloads only the plaintext bytes `offset .. offset + len` of a file into `sink`.
    pub fn download_range(
        &self,
        space_id: String,
        file_id: String,
        offset: u64,
        len: u64,
        sink: Arc<dyn ByteSink>,
        progress: Option<Arc<dyn ProgressListener>>,
    ) -> Result<(), SealroomError> {
        self.block(self.client.download_range(
            &space_id,
            &file_id,
            offset,
            len,
            SinkWriter(sink),
            progress_fn(progress),
        ))
    }

    /// Deletes a file and its manifest from the relay.
    pub fn delete_file(&self, space_id: String, file_id: String) -> Result<(), SealroomError> {
        self.block(self.client.delete_file(&space_id, &file_id))
    }

    // ----- second devices, preferences, administration -------------------------------------

    /// On a new, unregistered client: asks to link this device to an existing user. Compare
    /// the returned public key on both screens, then approve it on an existing device.
    pub fn request_device_link(
        &self,
        user_id: String,
        device_name: String,
    ) -> Result<DeviceRequestInfo, SealroomError> {
        self.block(self.client.request_device_link(&user_id, &device_name))
    }

    /// On an existing device of the user: approves a link request after comparing keys.
    pub fn approve_device(
        &self,
        request_id: String,
        public_key: String,
    ) -> Result<(), SealroomError> {
        self.block(self.client.approve_device(&request_id, &public_key))
    }

    /// On the new device: approves its pending link with a code from the user's authenticator.
    pub fn approve_device_link_with_totp(&self, code: String) -> Result<(), SealroomError> {
        self.block(self.client.approve_device_link_with_totp(&code))
    }

    /// On the new device: finishes the link once approved (absent while still pending).
    pub fn finish_device_link(&self) -> Result<Option<Account>, SealroomError> {
        self.block(self.client.finish_device_link())
    }

    /// Starts TOTP enrolment: load the secret into an authenticator, then `confirm_totp`.
    pub fn enrol_totp(&self) -> Result<TotpEnrolment, SealroomError> {
        self.block(self.client.enrol_totp())
    }

    /// Confirms TOTP enrolment with a current code.
    pub fn confirm_totp(&self, code: String) -> Result<(), SealroomError> {
        self.block(self.client.confirm_totp(&code))
    }

    /// Opt-in recovery backup: seals this device's room keys, file index and messages under
    /// `passphrase` (Argon2id, at least 12 characters) and stores the ciphertext on the relay.
    /// Takes about a second.
    pub fn create_recovery_backup(
        &self,
        passphrase: String,
    ) -> Result<RecoveryReport, SealroomError> {
        self.block(self.client.create_recovery_backup(&passphrase))
    }

    /// On a new device of the same user: restores the recovery backup (wrong passphrase:
    /// `InvalidInput` with code `wrong_passphrase`).
    pub fn restore_recovery_backup(
        &self,
        passphrase: String,
    ) -> Result<RecoveryReport, SealroomError> {
        self.block(self.client.restore_recovery_backup(&passphrase))
    }

    /// Whether the relay holds a recovery backup for this user.
    pub fn has_recovery_backup(&self) -> Result<bool, SealroomError> {
        self.block(self.client.has_recovery_backup())
    }

    /// Deletes this user's recovery backup.
    pub fn delete_recovery_backup(&self) -> Result<(), SealroomError> {
        self.block(self.client.delete_recovery_backup())
    }

    /// The user's notification preference.
    pub fn notification_preference(&self) -> Result<NotifyPreference, SealroomError> {
        self.block(self.client.notification_preference())
    }

    /// Sets when notification mail is sent (content-free mail), and optionally the address.
    pub fn set_notification_mode(
        &self,
        mode: NotifyMode,
        email: Option<String>,
    ) -> Result<NotifyPreference, SealroomError> {
        self.block(self.client.set_notification_mode(mode, email.as_deref()))
    }

    /// A space's retention in days (absent: kept forever).
    pub fn retention(&self, space_id: String) -> Result<Option<u32>, SealroomError> {
        Ok(self.block(self.client.retention(&space_id))?.days)
    }

    /// Sets a space's retention in days (staff); absent keeps content forever.
    pub fn set_retention(
        &self,
        space_id: String,
        days: Option<u32>,
    ) -> Result<Option<u32>, SealroomError> {
        Ok(self.block(self.client.set_retention(&space_id, days))?.days)
    }

    /// Exports the audit log as JSON or CSV bytes (organisation admins).
    pub fn audit_export(
        &self,
        query: AuditQuery,
        format: AuditFormat,
    ) -> Result<Vec<u8>, SealroomError> {
        self.block(self.client.audit_export(&query, format))
    }

    /// Verifies the relay's audit hash chain (organisation admins).
    pub fn verify_audit(&self) -> Result<AuditVerifyReport, SealroomError> {
        self.block(self.client.verify_audit())
    }

    /// Erases a user (admins): revokes their devices and deletes their data. Returns the
    /// relay's JSON report.
    pub fn erase_user(&self, user_id: String) -> Result<String, SealroomError> {
        let report = self.block(self.client.erase_user(&user_id))?;
        Ok(report.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Pieces(Mutex<Vec<Vec<u8>>>);

    impl ByteSource for Pieces {
        fn read(&self, max: u32) -> Result<Vec<u8>, StreamError> {
            let mut pieces = self.0.lock().unwrap();
            if pieces.is_empty() {
                return Ok(Vec::new());
            }
            let mut piece = pieces.remove(0);
            if piece.len() > max as usize {
                let rest = piece.split_off(max as usize);
                pieces.insert(0, rest);
            }
            Ok(piece)
        }
    }

    struct Failing;

    impl ByteSource for Failing {
        fn read(&self, _max: u32) -> Result<Vec<u8>, StreamError> {
            Err(StreamError::Failed {
                reason: "disk gone".into(),
            })
        }
    }

    #[test]
    fn source_reader_yields_every_byte_in_order_across_piece_boundaries() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let pieces = data.chunks(777).map(<[u8]>::to_vec).collect();
        let mut r = reader(Arc::new(Pieces(Mutex::new(pieces))));
        let mut back = Vec::new();
        let mut buf = [0u8; 100];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(back, data);
        assert_eq!(r.read(&mut buf).unwrap(), 0, "stays at end");
    }

    #[test]
    fn a_failing_source_becomes_a_storage_error_with_code_io() {
        let mut r = reader(Arc::new(Failing));
        let io = r.read(&mut [0u8; 8]).unwrap_err();
        let e: SealroomError = ClientError::from(io).into();
        assert!(
            matches!(&e, SealroomError::Storage { code, detail } if code == "io" && detail.contains("disk gone")),
            "{e:?}"
        );
    }

    #[test]
    fn each_client_error_kind_maps_to_its_own_variant() {
        let relay = |status: u16, code: &str| ClientError::Relay {
            status,
            code: code.into(),
            message: "m".into(),
        };
        let cases: Vec<(ClientError, &str)> = vec![
            (relay(503, "unavailable"), "Network"),
            (relay(401, "unauthenticated"), "Unauthenticated"),
            (relay(403, "forbidden"), "Forbidden"),
            (relay(404, "not_found"), "NotFound"),
            (relay(409, "conflict"), "Conflict"),
            (relay(413, "too_large"), "TooLarge"),
            (ClientError::Protocol("x".into()), "Corrupt"),
            (ClientError::Policy("x".into()), "InvalidInput"),
            (
                ClientError::State(sealroom_core::state::StateError::Corrupt),
                "Storage",
            ),
            (relay(500, "internal"), "Internal"),
        ];
        for (error, variant) in cases {
            let code = error.code();
            let mapped = SealroomError::from(error);
            assert!(format!("{mapped:?}").starts_with(variant), "{mapped:?}");
            assert!(mapped.to_string().starts_with(&code));
        }
    }

    #[test]
    fn open_refuses_a_short_storage_key_and_opens_an_empty_directory() {
        let dir = std::env::temp_dir().join(format!("sealroom-ffi-open-{}", std::process::id()));
        let short = SealroomClient::open(
            "http://127.0.0.1:9".into(),
            dir.display().to_string(),
            vec![1; 31],
        );
        assert!(
            matches!(short, Err(SealroomError::InvalidInput { code, .. }) if code == "invalid_storage_key")
        );
        let client = SealroomClient::open(
            "http://127.0.0.1:9".into(),
            dir.display().to_string(),
            vec![1; 32],
        )
        .unwrap();
        assert!(!client.is_registered());
        assert!(matches!(
            client.account(),
            Err(SealroomError::InvalidInput { code, .. }) if code == "not_registered"
        ));
        drop(client);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
