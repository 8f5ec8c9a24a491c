//! `SealroomClient` for JS: core's [`sealroom_core::client::SealroomClient`] one to one, with
//! camelCase names, Promises, plain-object results and `Error`s carrying a stable `code`.
//!
//! Every call that may change local state resolves only after the host store has accepted the
//! resulting batches (see [`crate::store`]); synchronous reads that prune expired messages
//! write behind and report a failed write on the next call.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use sealroom_core::client::{NewMessage, Role, SealroomClient as CoreClient};
use sealroom_core::state::StorageKey;

use crate::convert::{from_js, to_js};
use crate::error::{cancelled, client_error, invalid, message_of, source_failed, storage};
use crate::store::{Pending, QueuedKv};
use crate::transport::FetchTransport;

#[wasm_bindgen(module = "/js/stores.js")]
extern "C" {
    #[wasm_bindgen(js_name = resolveStore, catch)]
    fn resolve_store(options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = indexedDbStore, catch)]
    fn js_indexed_db_store(options: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = memoryStore)]
    fn js_memory_store() -> JsValue;
}

#[wasm_bindgen(module = "/js/sdk.js")]
extern "C" {
    #[wasm_bindgen(js_name = linkedController, catch)]
    fn js_linked_controller(signal: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = abortPromise)]
    fn js_abort_promise(signal: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = cancelQuietly)]
    fn js_cancel_quietly(reader: &JsValue);
    #[wasm_bindgen(js_name = sourceReader, catch)]
    fn js_source_reader(stream: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = checkKeys, catch)]
    fn js_check_keys(value: &JsValue, allowed: &Array, what: &str) -> Result<(), JsValue>;
}

/// Options of a long operation (`{ signal, onProgress, onStart }`), checked against `allowed`
/// (JS names); a bare function is taken as `onProgress` (the earlier signature).
pub(crate) struct CallOptions {
    pub(crate) on_progress: Option<Function>,
    pub(crate) on_start: Option<Function>,
    /// An internal AbortController linked to the caller's `signal`.
    pub(crate) controller: JsValue,
}

impl CallOptions {
    pub(crate) fn parse(options: &JsValue, allowed: &[&str], what: &str) -> Result<Self, JsValue> {
        if let Some(f) = options.dyn_ref::<Function>() {
            return Ok(Self {
                on_progress: Some(f.clone()),
                on_start: None,
                controller: js_linked_controller(&JsValue::UNDEFINED)?,
            });
        }
        check_keys(options, allowed, what)?;
        let field = |name: &str| -> Result<Option<Function>, JsValue> {
            if options.is_undefined() || options.is_null() {
                return Ok(None);
            }
            let v = get(options, name)?;
            if v.is_undefined() || v.is_null() {
                return Ok(None);
            }
            v.dyn_into::<Function>()
                .map(Some)
                .map_err(|_| invalid(&format!("{what} option {name} must be a function")))
        };
        let signal = if options.is_undefined() || options.is_null() {
            JsValue::UNDEFINED
        } else {
            get(options, "signal")?
        };
        Ok(Self {
            on_progress: field("onProgress")?,
            on_start: field("onStart")?,
            controller: js_linked_controller(&signal)?,
        })
    }

    /// The internal signal.
    pub(crate) fn signal(&self) -> JsValue {
        get(&self.controller, "signal").unwrap_or(JsValue::UNDEFINED)
    }

    /// Whether the operation was cancelled.
    pub(crate) fn aborted(&self) -> bool {
        get(&self.signal(), "aborted").is_ok_and(|v| v.is_truthy())
    }

    /// Aborts the operation (from `cancelUpload`).
    pub(crate) fn abort(controller: &JsValue) {
        if let Ok(abort) = method(controller, "abort") {
            let _ = abort.call0(controller);
        }
    }
}

/// Runs `call` until it ends or `signal` aborts; on abort the call is dropped at its next
/// await (core's state changes are atomic commits, so a dropped call leaves consistent state)
/// and the result is a `cancelled` error. One boxed future type, so one instantiation.
pub(crate) async fn abortable(
    signal: &JsValue,
    what: &str,
    mut call: BoxedCall,
) -> Result<JsValue, JsValue> {
    if get(signal, "aborted").is_ok_and(|v| v.is_truthy()) {
        return Err(cancelled(what));
    }
    let mut abort = JsFuture::from(js_abort_promise(signal));
    std::future::poll_fn(|cx| {
        if std::pin::Pin::new(&mut abort).poll(cx).is_ready() {
            return std::task::Poll::Ready(Err(cancelled(what)));
        }
        call.as_mut().poll(cx)
    })
    .await
}

/// Checks the keys of an options object (JS names).
pub(crate) fn check_keys(value: &JsValue, allowed: &[&str], what: &str) -> Result<(), JsValue> {
    let names = Array::new();
    for a in allowed {
        names.push(&JsValue::from_str(a));
    }
    js_check_keys(value, &names, what)
}

/// A store in IndexedDB (`options.name`, default `"sealroom"`), its storage key wrapped under a
/// non-extractable WebCrypto key, or under `options.passphrase` (PBKDF2-SHA-256, 600 000
/// iterations) when given.
#[wasm_bindgen(js_name = indexedDbStore, unchecked_return_type = "HostStore")]
pub fn indexed_db_store(
    #[wasm_bindgen(unchecked_optional_param_type = "IndexedDbStoreOptions")] options: JsValue,
) -> Result<JsValue, JsValue> {
    js_indexed_db_store(&options)
}

/// A store kept in memory with a fresh random storage key (tests, Node, ephemeral sessions).
#[wasm_bindgen(js_name = memoryStore, unchecked_return_type = "HostStore")]
pub fn memory_store() -> JsValue {
    js_memory_store()
}

pub(crate) struct Shared {
    pub(crate) core: CoreClient,
    pub(crate) pending: Arc<Pending>,
    pub(crate) store: JsValue,
    pub(crate) commit: Function,
    /// A write-behind failure, reported by the next call.
    pub(crate) write_error: RefCell<Option<String>>,
    /// Uploads in flight in this client: upload id and its AbortController (`cancelUpload`).
    pub(crate) uploads: RefCell<Vec<(String, JsValue)>>,
}

impl Shared {
    /// Hands every queued batch to the host store as one batch and awaits it.
    pub(crate) async fn flush(&self) -> Result<(), JsValue> {
        if let Some(message) = self.write_error.borrow_mut().take() {
            return Err(storage(&message));
        }
        let batch = self.pending.drain();
        if batch.is_empty() {
            return Ok(());
        }
        let entries = Array::new();
        for (key, value) in batch {
            let value = value.map_or(JsValue::NULL, |v| Uint8Array::from(v.as_slice()).into());
            entries.push(&Array::of2(&JsValue::from_str(&key), &value));
        }
        let result = self.commit.call1(&self.store, &entries).map_err(|e| {
            storage(&format!(
                "the host store refused a batch: {}",
                message_of(&e)
            ))
        })?;
        JsFuture::from(Promise::resolve(&result))
            .await
            .map_err(|e| {
                storage(&format!(
                    "the host store failed a batch: {}",
                    message_of(&e)
                ))
            })?;
        Ok(())
    }

    /// After a synchronous call that may have written: flush in the background.
    pub(crate) fn flush_later(self: &Rc<Self>) {
        if self.pending.is_empty() {
            return;
        }
        let shared = self.clone();
        spawn_local(async move {
            if let Err(e) = shared.flush().await {
                *shared.write_error.borrow_mut() = Some(message_of(&e));
            }
        });
    }
}

/// Runs a client call as a Promise that resolves once its state changes are durable.
pub(crate) fn run<F>(shared: &Rc<Shared>, call: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    // One boxed future type: `future_to_promise` and the flush are instantiated once, not per
    // method (a sizeable share of the .wasm otherwise).
    run_boxed(shared.clone(), Box::pin(call))
}

/// The Promise bridge of every `SealroomClient` method: `call` gets the shared client and
/// returns core's future; a core error becomes a JS `Error` with its stable `code`
/// ([`client_error`]), the result a plain camelCase object ([`to_js`]), and the Promise resolves
/// once the call's state changes are durable ([`run`]).
impl Client {
    pub(crate) fn bridge<T, Fut>(&self, call: impl FnOnce(Rc<Shared>) -> Fut) -> Promise
    where
        T: serde::Serialize,
        Fut: Future<Output = Result<T, sealroom_core::client::ClientError>> + 'static,
    {
        let call = call(self.shared.clone());
        run(&self.shared, async move {
            to_js(&call.await.map_err(client_error)?)
        })
    }

    /// [`Self::bridge`] for calls that resolve with `undefined`.
    pub(crate) fn bridge_unit<Fut>(&self, call: impl FnOnce(Rc<Shared>) -> Fut) -> Promise
    where
        Fut: Future<Output = Result<(), sealroom_core::client::ClientError>> + 'static,
    {
        let call = call(self.shared.clone());
        run(&self.shared, async move {
            call.await.map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// [`Self::bridge`] for calls that check JS arguments or convert their result themselves.
    pub(crate) fn bridge_js<Fut>(&self, call: impl FnOnce(Rc<Shared>) -> Fut) -> Promise
    where
        Fut: Future<Output = Result<JsValue, JsValue>> + 'static,
    {
        run(&self.shared, call(self.shared.clone()))
    }
}

pub(crate) type BoxedCall = std::pin::Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

pub(crate) fn run_boxed(shared: Rc<Shared>, call: BoxedCall) -> Promise {
    future_to_promise(async move {
        let result = call.await;
        let flushed = shared.flush().await;
        let value = result?;
        flushed?;
        Ok(value)
    })
}

pub(crate) fn get(target: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &JsValue::from_str(name))
}

pub(crate) fn method(target: &JsValue, name: &str) -> Result<Function, JsValue> {
    get(target, name)?
        .dyn_into::<Function>()
        .map_err(|_| invalid(&format!("expected an object with a {name}() method")))
}

pub(crate) async fn await_value(value: JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(Promise::resolve(&value)).await
}

pub(crate) fn num(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// A whole number ≥ 0 below 2^53 from JS.
pub(crate) fn whole(value: f64, what: &str) -> Result<u64, JsValue> {
    crate::whole_number(value, what)
        .map_err(|_| invalid(&format!("{what} must be a whole number ≥ 0")))
}

pub(crate) fn parse_role(role: &str) -> Result<Role, JsValue> {
    serde_json::from_value(Value::String(role.to_owned())).map_err(|_| {
        invalid(&format!(
            "unknown role \"{role}\" (admin, staff or customer)"
        ))
    })
}

/// Reads a `ReadableStream<Uint8Array>` chunk by chunk (a byte stream into one reused buffer:
/// `sourceReader` in `js/sdk.js`).
pub(crate) struct StreamReader {
    pub(crate) reader: JsValue,
    pub(crate) read: Function,
}

impl StreamReader {
    pub(crate) fn new(stream: &JsValue) -> Result<Self, JsValue> {
        let reader = js_source_reader(stream)?;
        let read = method(&reader, "read")?;
        Ok(Self { reader, read })
    }

    /// The next chunk; a failing source is a `source_failed` error carrying the stream's own
    /// error as `cause`.
    pub(crate) async fn next(&self) -> Result<Option<Vec<u8>>, JsValue> {
        let pending = self
            .read
            .call0(&self.reader)
            .map_err(|e| source_failed(&e))?;
        let result = await_value(pending).await.map_err(|e| source_failed(&e))?;
        if get(&result, "done")?.is_truthy() {
            return Ok(None);
        }
        let chunk = get(&result, "value")?
            .dyn_into::<Uint8Array>()
            .map_err(|_| invalid("stream chunks must be Uint8Array"))?;
        Ok(Some(chunk.to_vec()))
    }

    /// Stops the stream after a failure (best effort; the rejection of `cancel()` on an
    /// errored stream is handled, never left unhandled).
    pub(crate) fn cancel(&self) {
        js_cancel_quietly(&self.reader);
    }
}

/// Sealroom client of one device. Open with `SealroomClient.open(relayUrl, options)`.
#[wasm_bindgen(js_name = SealroomClient)]
pub struct Client {
    pub(crate) shared: Rc<Shared>,
}

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Opens the client of the device whose state is in `options.store` (`"indexeddb"`, the
    /// default where IndexedDB exists; `"memory"`, the default elsewhere; or a `HostStore`).
    #[wasm_bindgen(unchecked_return_type = "SealroomClient")]
    pub async fn open(
        #[wasm_bindgen(js_name = relayUrl)] relay_url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: JsValue,
    ) -> Result<Client, JsValue> {
        crate::error::ensure_class();
        let store = resolve_store(&options)?;
        let commit = method(&store, "commit")?;
        let loaded = await_value(method(&store, "load")?.call0(&store)?).await?;
        let mut entries = Vec::new();
        for entry in Array::from(&loaded).iter() {
            let entry = Array::from(&entry);
            let key = entry
                .get(0)
                .as_string()
                .ok_or_else(|| storage("host store entries are [string, Uint8Array] pairs"))?;
            let value = entry
                .get(1)
                .dyn_into::<Uint8Array>()
                .map_err(|_| storage("host store entries are [string, Uint8Array] pairs"))?;
            entries.push((key, value.to_vec()));
        }
        let key_value = await_value(method(&store, "storageKey")?.call0(&store)?).await?;
        let key_array = key_value
            .dyn_into::<Uint8Array>()
            .map_err(|_| storage("storageKey() must return a Uint8Array"))?;
        let mut key_bytes = [0u8; 32];
        if key_array.length() != 32 {
            return Err(storage("storageKey() must return exactly 32 bytes"));
        }
        key_array.copy_to(&mut key_bytes);
        key_array.fill(0, 0, 32);
        let storage_key = StorageKey::from_bytes(key_bytes);
        zeroize::Zeroize::zeroize(&mut key_bytes);

        let pending = Arc::new(Pending::default());
        let kv = QueuedKv::new(entries, pending.clone());
        let core = CoreClient::open(
            &relay_url,
            Arc::new(FetchTransport),
            Box::new(kv),
            storage_key,
        )
        .map_err(client_error)?;
        let shared = Rc::new(Shared {
            core,
            pending,
            store,
            commit,
            write_error: RefCell::new(None),
            uploads: RefCell::new(Vec::new()),
        });
        shared.flush().await?;
        Ok(Client { shared })
    }

    /// Whether this store holds a registered device.
    #[wasm_bindgen(js_name = isRegistered)]
    pub fn is_registered(&self) -> bool {
        self.shared.core.is_registered()
    }

    /// This device's account.
    #[wasm_bindgen(unchecked_return_type = "Account")]
    pub fn account(&self) -> Result<JsValue, JsValue> {
        to_js(&self.shared.core.account().map_err(client_error)?)
    }

    /// This device's Ed25519 public key (hex).
    #[wasm_bindgen(js_name = devicePublicKey)]
    pub fn device_public_key(&self) -> Result<String, JsValue> {
        self.shared.core.device_public_key().map_err(client_error)
    }

    /// Registers this device with an invitation token.
    #[wasm_bindgen(unchecked_return_type = "Promise<Account>")]
    pub fn register(
        &self,
        #[wasm_bindgen(js_name = inviteToken)] invite_token: String,
        #[wasm_bindgen(js_name = userName)] user_name: String,
        email: Option<String>,
        #[wasm_bindgen(js_name = deviceName)] device_name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "SignalOptions")] options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            // Checked before the request only: once the relay took the invitation, the device
            // must be stored, so registering is not interrupted half-way.
            if CallOptions::parse(&options, &["signal"], "register")?.aborted() {
                return Err(crate::error::cancelled("register"));
            }
            let account = s
                .core
                .register(&invite_token, &user_name, email.as_deref(), &device_name)
                .await
                .map_err(client_error)?;
            to_js(&account)
        })
    }

    /// Creates the provider organisation and its first admin with the relay's setup token.
    #[wasm_bindgen(unchecked_return_type = "Promise<Account>")]
    pub fn bootstrap(
        &self,
        #[wasm_bindgen(js_name = setupToken)] setup_token: String,
        #[wasm_bindgen(js_name = orgName)] org_name: String,
        #[wasm_bindgen(js_name = userName)] user_name: String,
        email: Option<String>,
        #[wasm_bindgen(js_name = deviceName)] device_name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "SignalOptions")] options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            // Checked before the request only (as for `register`).
            if CallOptions::parse(&options, &["signal"], "bootstrap")?.aborted() {
                return Err(crate::error::cancelled("bootstrap"));
            }
            let account = s
                .core
                .bootstrap(
                    &setup_token,
                    &org_name,
                    &user_name,
                    email.as_deref(),
                    &device_name,
                )
                .await
                .map_err(client_error)?;
            to_js(&account)
        })
    }

    /// This user's devices.
    #[wasm_bindgen(js_name = myDevices, unchecked_return_type = "Promise<DeviceList>")]
    pub fn my_devices(&self) -> Promise {
        self.bridge(move |s| async move { s.core.my_devices().await })
    }

    /// Creates a customer organisation (staff).
    #[wasm_bindgen(js_name = createCustomerOrg, unchecked_return_type = "Promise<OrgInfo>")]
    pub fn create_customer_org(&self, name: String) -> Promise {
        self.bridge(move |s| async move { s.core.create_customer_org(&name).await })
    }

    /// Issues an invitation: `staff`/`admin` (admins), or `customer` into `spaceId`. It stays
    /// usable for `lifetimeSecs` seconds (one hour to 30 days; absent: 7 days); a lifetime out
    /// of bounds rejects with `invalid_input`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Invitation>")]
    pub fn invite(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Role")] role: String,
        #[wasm_bindgen(js_name = spaceId)] space_id: Option<String>,
        #[wasm_bindgen(js_name = lifetimeSecs)] lifetime_secs: Option<u32>,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let role = parse_role(&role)?;
            to_js(
                &s.core
                    .invite_for(role, space_id.as_deref(), lifetime_secs.map(u64::from))
                    .await
                    .map_err(client_error)?,
            )
        })
    }

    /// Creates a space for a customer organisation (staff), with an internal staff-only room
    /// when asked.
    #[wasm_bindgen(js_name = createSpace, unchecked_return_type = "Promise<Space>")]
    pub fn create_space(
        &self,
        #[wasm_bindgen(js_name = customerOrgId)] customer_org_id: String,
        #[wasm_bindgen(js_name = withInternalRoom)] with_internal_room: bool,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let space = s
                .core
                .create_space(&customer_org_id, with_internal_room)
                .await
                .map_err(client_error)?;
            to_js(&space)
        })
    }

    /// Spaces this user belongs to.
    #[wasm_bindgen(unchecked_return_type = "Promise<Space[]>")]
    pub fn spaces(&self) -> Promise {
        self.bridge_js(move |s| async move {
            let spaces = s.core.spaces().await.map_err(client_error)?;
            to_js(&spaces)
        })
    }

    /// One space with its members and safety numbers.
    #[wasm_bindgen(unchecked_return_type = "Promise<Space>")]
    pub fn space(&self, #[wasm_bindgen(js_name = spaceId)] space_id: String) -> Promise {
        self.bridge_js(move |s| async move {
            let space = s.core.space(&space_id).await.map_err(client_error)?;
            to_js(&space)
        })
    }

    /// Adds a user (all their devices) to a space.
    #[wasm_bindgen(js_name = addMember, unchecked_return_type = "Promise<void>")]
    pub fn add_member(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = userId)] user_id: String,
    ) -> Promise {
        self.bridge_unit(move |s| async move { s.core.add_member(&space_id, &user_id).await })
    }

    /// Removes a user (all their devices) from a space.
    #[wasm_bindgen(js_name = removeMember, unchecked_return_type = "Promise<void>")]
    pub fn remove_member(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = userId)] user_id: String,
    ) -> Promise {
        self.bridge_unit(move |s| async move { s.core.remove_member(&space_id, &user_id).await })
    }

    /// Leaves a space.
    #[wasm_bindgen(js_name = leaveSpace, unchecked_return_type = "Promise<void>")]
    pub fn leave_space(&self, #[wasm_bindgen(js_name = spaceId)] space_id: String) -> Promise {
        self.bridge_unit(move |s| async move { s.core.leave_space(&space_id).await })
    }

    /// Posts a message (end-to-end encrypted in the space's room).
    #[wasm_bindgen(js_name = postMessage, unchecked_return_type = "Promise<Message>")]
    pub fn post_message(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(unchecked_param_type = "NewMessage")] message: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let message: NewMessage = from_js(&message, "message")?;
            to_js(
                &s.core
                    .post_message(&space_id, message)
                    .await
                    .map_err(client_error)?,
            )
        })
    }

    /// Messages of a space known locally (call `sync` first), oldest first; `thread` narrows
    /// to one thread.
    #[wasm_bindgen(unchecked_return_type = "Message[]")]
    pub fn messages(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        thread: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let result = self.shared.core.messages(&space_id, thread.as_deref());
        self.shared.flush_later();
        to_js(&result.map_err(client_error)?)
    }

    /// Threads of a space known locally.
    #[wasm_bindgen(unchecked_return_type = "Thread[]")]
    pub fn threads(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
    ) -> Result<JsValue, JsValue> {
        let result = self.shared.core.threads(&space_id);
        self.shared.flush_later();
        to_js(&result.map_err(client_error)?)
    }

    /// Fetches and applies everything new from the relay; returns what changed.
    #[wasm_bindgen(unchecked_return_type = "Promise<ClientEvent[]>")]
    /// `options.signal` (an `AbortSignal`) stops the sync at its next step with code
    /// `cancelled`; what was applied until then stays applied (every step is one atomic
    /// commit) and its messages and files are in `messages()` / `files()`.
    pub fn sync(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SignalOptions")] options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let opts = CallOptions::parse(&options, &["signal"], "sync")?;
            let call = Box::pin(async move {
                let events = s.core.sync().await.map_err(client_error)?;
                to_js(&events)
            });
            abortable(&opts.signal(), "sync", call).await
        })
    }

    // ----- recovery backup ------------------------------------------------------------------

    /// Seals this device's room keys, file index and messages under `passphrase` (Argon2id,
    /// about a second) and stores the backup on the relay, replacing an earlier one.
    #[wasm_bindgen(js_name = createRecoveryBackup, unchecked_return_type = "Promise<RecoveryReport>")]
    pub fn create_recovery_backup(&self, passphrase: String) -> Promise {
        self.bridge_js(move |s| async move {
            let report = s
                .core
                .create_recovery_backup(&passphrase)
                .await
                .map_err(client_error)?;
            to_js(&report)
        })
    }

    /// Whether the relay holds a recovery backup for this user.
    #[wasm_bindgen(js_name = hasRecoveryBackup, unchecked_return_type = "Promise<boolean>")]
    pub fn has_recovery_backup(&self) -> Promise {
        self.bridge_js(move |s| async move {
            Ok(JsValue::from_bool(
                s.core.has_recovery_backup().await.map_err(client_error)?,
            ))
        })
    }

    /// Deletes this user's recovery backup from the relay.
    #[wasm_bindgen(js_name = deleteRecoveryBackup, unchecked_return_type = "Promise<void>")]
    pub fn delete_recovery_backup(&self) -> Promise {
        self.bridge_unit(move |s| async move { s.core.delete_recovery_backup().await })
    }

    /// On a new device of the same user: restores the backup (a wrong passphrase rejects
    /// and changes nothing).
    #[wasm_bindgen(js_name = restoreRecoveryBackup, unchecked_return_type = "Promise<RecoveryReport>")]
    pub fn restore_recovery_backup(&self, passphrase: String) -> Promise {
        self.bridge_js(move |s| async move {
            let report = s
                .core
                .restore_recovery_backup(&passphrase)
                .await
                .map_err(client_error)?;
            to_js(&report)
        })
    }

    /// Writes anything still queued to the store (every Promise-returning call already does).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let s = self.shared.clone();
        future_to_promise(async move {
            s.flush().await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
