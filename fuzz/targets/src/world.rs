//! The shared world of the relay and client targets, built once per process: the real relay
//! routes ([`sealroom_server::filters::api`]) over one temporary redb store, driven in-process
//! through `warp::service` (no socket), and real SDK clients that set up an admin, a customer
//! organisation, a space, a customer member, a message and a file through it.
//!
//! What the targets take from it: the relay's filter, the admin device (to sign fuzzed
//! requests as a registered device), the ids that exist, the customer's local state *before*
//! its first sync, and the exact relay responses to that sync and the downloads after it
//! (the seeds of the client target).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tower_service::Service;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use sealroom_core::client::{
    HttpRequest, HttpResponse, NewFile, NewMessage, SealroomClient, Transport, TransportError,
    TransportFuture,
};
use sealroom_core::identity::DeviceIdentity;
use sealroom_core::room;
use sealroom_core::state::{KvStore, MemoryKv, StorageKey};
use sealroom_server::config::Config;
use sealroom_server::state::{AppState, SystemClock};
use sealroom_server::store::RedbStore;
use sealroom_wire::accounts::Role;

/// Base URL the SDK clients use.
pub const RELAY_URL: &str = "http://relay.fuzz";
/// The `Host` header of every in-process request: the authority of [`RELAY_URL`], which the
/// SDK's signatures cover.
pub const RELAY_HOST: &str = "relay.fuzz";

/// Storage key of the customer's local state (fixed: the client target reopens it).
pub const CUSTOMER_STORAGE_KEY: [u8; 32] = [0x42; 32];

/// Text of the file the admin uploads (plain text, so the policy sniffing accepts it).
pub const FILE_TEXT: &[u8] = b"quarterly report: all numbers are fine\n";

/// The world of the relay and client targets.
pub struct World {
    /// The runtime every async call of the targets runs on.
    pub rt: Runtime,
    /// The relay's complete API.
    pub api: BoxedFilter<(Response,)>,
    /// The admin device (signs fuzzed requests).
    pub admin: DeviceIdentity,
    /// Ids known to exist, by kind (`user`, `device`, `org`, `space`, `room`, `blob`, ...).
    pub ids: BTreeMap<&'static str, Vec<String>>,
    /// Requests the SDK clients sent while setting the world up (method, path with query, body).
    pub requests: Vec<(String, String, Vec<u8>)>,
    /// The customer's local state before its first sync.
    pub customer_kv: MemoryKv,
    /// The customer's space.
    pub space_id: String,
    /// The relay's responses to [`crate::client::script`] run by the customer against the real
    /// relay: the seed of the client target.
    pub client_responses: Vec<HttpResponse>,
    _shutdown: watch::Sender<bool>,
    _dir: PathBuf,
}

static WORLD: OnceLock<World> = OnceLock::new();

/// The world, built on first use.
pub fn world() -> &'static World {
    WORLD.get_or_init(build)
}

/// Sends one request to the relay's filter in-process and returns status, headers and body.
pub async fn call(
    api: &BoxedFilter<(Response,)>,
    request: http::Request<Full<Bytes>>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut service = warp::service(api.clone());
    let response = match service.call(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = match response.into_body().collect().await {
        Ok(c) => c.to_bytes().to_vec(),
        Err(e) => panic!("reading a relay response body failed: {e}"),
    };
    (status, headers, body)
}

/// A [`Transport`] into the in-process relay that records every request and response.
struct InProcess {
    api: BoxedFilter<(Response,)>,
    log: Arc<Mutex<Vec<(HttpRequest, HttpResponse)>>>,
}

impl Transport for InProcess {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(async move {
            let path = request
                .url
                .strip_prefix(RELAY_URL)
                .ok_or_else(|| TransportError::Other(format!("unexpected url {}", request.url)))?
                .to_owned();
            let mut builder = http::Request::builder()
                .method(request.method.as_str())
                .uri(path)
                .header("host", RELAY_HOST);
            for (k, v) in &request.headers {
                builder = builder.header(k.as_str(), v.as_str());
            }
            let http_request = builder
                .body(Full::new(Bytes::from(request.body.clone())))
                .map_err(|e| TransportError::Other(e.to_string()))?;
            let (status, headers, body) = call(&self.api, http_request).await;
            let response = HttpResponse {
                status,
                headers,
                body,
            };
            if let Ok(mut log) = self.log.lock() {
                log.push((request, response.clone()));
            }
            Ok(response)
        })
    }

    fn now_secs(&self) -> i64 {
        sealroom_core::client::system_now_secs()
    }
}

/// Removes relay directories of earlier fuzzing processes that are gone (statics are never
/// dropped when libFuzzer exits, so each process cleans up after its predecessors).
fn clean_stale_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix) else {
            continue;
        };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn build() -> World {
    let prefix = "sealroom-fuzz-relay-";
    clean_stale_dirs(prefix);
    let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("relay data dir");
    let mut config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    // Fuzzed requests fail authentication constantly: no rate limit, or every later request
    // would only ever see 429. A small page cache keeps the process lean.
    config.limits.auth_failures_per_minute = u32::MAX;
    config.limits.store_cache_bytes = 8 * 1024 * 1024;
    let store = Arc::new(
        RedbStore::open(&config.store_path(), config.limits.store_cache_bytes)
            .expect("open the relay store"),
    );
    let (shutdown, shutdown_rx) = watch::channel(false);
    let state = AppState::new(config, store, Arc::new(SystemClock), shutdown_rx);
    // What `sealroom_server::run` loads at start: the relay key (a fixed one here) and the audit
    // signing key sealed under it. Without them TOTP and audit-head routes answered 500.
    let relay_key = sealroom_server::sealing::RelayKey::from_bytes(&[0x5a; 32]);
    let signer = sealroom_server::audit::signing::load_or_create(state.store.as_ref(), &relay_key)
        .expect("audit signing key");
    state.insert_extension(signer);
    state.insert_extension(relay_key);
    sealroom_server::accounts::init(&state).expect("relay init");
    let token = std::fs::read_to_string(dir.join(sealroom_server::accounts::SETUP_TOKEN_FILE))
        .expect("setup token")
        .trim()
        .to_owned();
    let api = sealroom_server::filters::api(state);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let log = Arc::new(Mutex::new(Vec::new()));
    let transport: Arc<dyn Transport> = Arc::new(InProcess {
        api: api.clone(),
        log: log.clone(),
    });
    let admin_kv = MemoryKv::new();
    let customer_kv = MemoryKv::new();
    let sdk = |kv: &MemoryKv, key: [u8; 32]| {
        SealroomClient::open(
            RELAY_URL,
            transport.clone(),
            Box::new(kv.clone()),
            StorageKey::from_bytes(key),
        )
        .expect("open SDK client")
    };
    let admin_key = [0x11; 32];
    let (space_id, file_id) = rt.block_on(async {
        let admin = sdk(&admin_kv, admin_key);
        admin
            .bootstrap(&token, "Provider", "Ada", None, "laptop")
            .await
            .expect("bootstrap");
        let org = admin
            .create_customer_org("Heron GmbH")
            .await
            .expect("customer org");
        let space = admin.create_space(&org.org_id, true).await.expect("space");
        let invite = admin
            .invite(Role::Customer, Some(&space.space_id))
            .await
            .expect("invite");
        let customer = sdk(&customer_kv, CUSTOMER_STORAGE_KEY);
        let account = customer
            .register(&invite.token, "Hana", None, "phone")
            .await
            .expect("register customer");
        admin
            .add_member(&space.space_id, &account.user_id)
            .await
            .expect("add member");
        admin
            .post_message(
                &space.space_id,
                NewMessage {
                    thread_id: None,
                    body: "hello Hana".into(),
                    reply_to: None,
                    expires_in_secs: None,
                    internal: false,
                },
            )
            .await
            .expect("post");
        let file = NewFile {
            name: "report.txt".into(),
            ..NewFile::default()
        };
        let version = admin
            .upload_file(
                &space.space_id,
                &file,
                FILE_TEXT.len() as u64,
                FILE_TEXT,
                |_, _| {},
            )
            .await
            .expect("upload");
        let _ = admin.invite(Role::Staff, None).await.expect("staff invite");
        (space.space_id, version.file_id)
    });
    let _ = file_id;

    // The customer before its first sync; then the script of the client target against the
    // real relay, recorded.
    let customer_snapshot = customer_kv.snapshot().expect("snapshot");
    let mark = log.lock().map(|l| l.len()).unwrap_or(0);
    rt.block_on(async {
        let customer = sdk(&customer_kv, CUSTOMER_STORAGE_KEY);
        crate::client::script(&customer, &space_id)
            .await
            .expect("client script against the real relay");
    });
    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
    let client_responses = log[mark..].iter().map(|(_, r)| r.clone()).collect();

    let mut ids: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut requests = Vec::new();
    for (req, resp) in &log {
        let path = req
            .url
            .strip_prefix(RELAY_URL)
            .unwrap_or(&req.url)
            .to_owned();
        collect_ids(&path, &resp.body, &mut ids);
        requests.push((req.method.clone(), path, req.body.clone()));
    }
    let admin = room::Client::open(
        Box::new(admin_kv.snapshot().expect("admin snapshot")) as Box<dyn KvStore>,
        &StorageKey::from_bytes(admin_key),
    )
    .expect("admin state")
    .device()
    .clone();
    let me = admin.identity();
    ids.entry("user").or_default().insert(0, me.user_id.clone());
    ids.entry("device")
        .or_default()
        .insert(0, me.device_id.clone());
    ids.entry("org").or_default().insert(0, me.org_id.clone());
    for v in ids.values_mut() {
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|x| seen.insert(x.clone()));
    }
    World {
        rt,
        api,
        admin,
        ids,
        requests,
        customer_kv: customer_snapshot,
        space_id,
        client_responses,
        _shutdown: shutdown,
        _dir: dir,
    }
}

/// Learns ids from a path (`/v1/<kind>s/<id>/...`) and from JSON answers (`*_id` fields).
fn collect_ids(path: &str, body: &[u8], ids: &mut BTreeMap<&'static str, Vec<String>>) {
    let kinds: [(&str, &'static str); 8] = [
        ("users", "user"),
        ("devices", "device"),
        ("orgs", "org"),
        ("spaces", "space"),
        ("rooms", "room"),
        ("blobs", "blob"),
        ("device-requests", "request"),
        ("welcomes", "welcome"),
    ];
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    for pair in segments.windows(2) {
        if let Some((_, kind)) = kinds.iter().find(|(s, _)| *s == pair[0]) {
            if !pair[1].is_empty() {
                ids.entry(kind).or_default().push(pair[1].to_owned());
            }
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        collect_json_ids(&value, ids);
    }
}

fn collect_json_ids(value: &serde_json::Value, ids: &mut BTreeMap<&'static str, Vec<String>>) {
    let fields: [(&str, &'static str); 8] = [
        ("user_id", "user"),
        ("device_id", "device"),
        ("org_id", "org"),
        ("space_id", "space"),
        ("room_id", "room"),
        ("blob_id", "blob"),
        ("request_id", "request"),
        ("welcome_id", "welcome"),
    ];
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if let (Some((_, kind)), serde_json::Value::String(s)) =
                    (fields.iter().find(|(f, _)| f == k), v)
                {
                    ids.entry(kind).or_default().push(s.clone());
                } else {
                    collect_json_ids(v, ids);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_json_ids(v, ids)),
        _ => {}
    }
}
