//! The relay's one configuration struct: defaults that run, an optional TOML file, then
//! environment variables (highest precedence).
//!
//! | setting | environment | TOML key | default |
//! | --- | --- | --- | --- |
//! | listen address | `SEALROOM_LISTEN` | `listen` | `127.0.0.1:8080` |
//! | data directory (store file `store.redb` + blobs) | `SEALROOM_DATA_DIR` | `data_dir` | `./sealroom-data` |
//! | config file | `SEALROOM_CONFIG` or `--config FILE` | - | none |
//! | demo portal directory | `SEALROOM_WEB_DIR` | `web_dir` | `./demo-web` if present |
//! | public base URL (links in mail) | `SEALROOM_PUBLIC_URL` | `public_url` | `http://{listen}` |
//! | TLS certificate chain (PEM) | `SEALROOM_TLS_CERT` | `tls.cert` | none (plain HTTP) |
//! | TLS private key (PEM) | `SEALROOM_TLS_KEY` | `tls.key` | none |
//! | trust `X-Forwarded-For` | `SEALROOM_TRUST_PROXY` | `trust_proxy` | `false` |
//! | SMTP host / port / from | `SEALROOM_SMTP_HOST`, `SEALROOM_SMTP_PORT`, `SEALROOM_SMTP_FROM` | `smtp.*` | none / 25 / `sealroom@localhost` |
//! | SMTP user / password | `SEALROOM_SMTP_USER`, `SEALROOM_SMTP_PASSWORD` | `smtp.*` | none |
//! | JSON body limit (bytes) | `SEALROOM_MAX_JSON_BODY` | `limits.max_json_body` | 65536 |
//! | message body limit | `SEALROOM_MAX_MESSAGE_BODY` | `limits.max_message_body` | 1 MiB |
//! | blob chunk limit | `SEALROOM_MAX_CHUNK` | `limits.max_chunk` | 16 MiB |
//! | space storage limit | `SEALROOM_MAX_SPACE_BYTES` | `limits.max_space_bytes` | 10 GiB |
//! | blob appends in flight per instance (beyond: 503, `Retry-After: 1`) | `SEALROOM_MAX_CONCURRENT_APPENDS` | `limits.max_concurrent_appends` | 16 |
//! | time an append's body may take once it holds a permit (beyond: 408) | `SEALROOM_APPEND_BODY_TIMEOUT_SECS` | `limits.append_body_timeout_secs` | 60 |
//! | store page cache (bytes, redb) | `SEALROOM_STORE_CACHE_BYTES` | `limits.store_cache_bytes` | 16 MiB |
//! | auth failures per source address per minute | `SEALROOM_AUTH_FAILURES_PER_MINUTE` | `limits.auth_failures_per_minute` | 20 |
//! | log filter | `SEALROOM_LOG` | `log` | `info` |
//! | enrolment throttles | `SEALROOM_ENROL_*` | `enrolment.*` | see [`Enrolment`] |
//! | TOTP-linked device wait | `SEALROOM_TOTP_LINK_WAIT_SECS` | `enrolment.totp_link_wait_secs` | 72 h |
//! | relay key file | `SEALROOM_RELAY_KEY_FILE` | `relay_key_file` | `<data_dir>.relay-key` |
//! | host clients sign for (`host[:port]`) | `SEALROOM_PUBLIC_HOST` | `public_host` | the `Host` header of each request |
//! | separate `/metrics` listener | `SEALROOM_METRICS_LISTEN` | `metrics_listen` | none: `/metrics` needs an admin signature |
//! | PostgreSQL store (set: all state in PostgreSQL, not in `data_dir`; may hold a password, never logged) | `SEALROOM_DATABASE_URL` | `store.database_url` | none: embedded store |
//! | PostgreSQL schema for the tables (several relays sharing a database) | `SEALROOM_DATABASE_SCHEMA` | `store.database_schema` | none: the role's `search_path` |
//! | S3 endpoint (blobs in a bucket; unset: AWS) | `SEALROOM_S3_ENDPOINT` | `s3.endpoint` | none |
//! | S3 bucket (set: blobs in S3, not in `data_dir`) | `SEALROOM_S3_BUCKET` | `s3.bucket` | none: local blob directory |
//! | S3 region | `SEALROOM_S3_REGION` | `s3.region` | `us-east-1` |
//! | S3 request timeout (seconds; beyond: 503) | `SEALROOM_S3_TIMEOUT_SECS` | `s3.timeout_secs` | 30 |
//! | S3 access key id | `SEALROOM_S3_ACCESS_KEY_ID` | `s3.access_key_id` | none |
//! | S3 secret access key (never logged; not in the TOML file) | `SEALROOM_S3_SECRET_ACCESS_KEY` or `SEALROOM_S3_SECRET_ACCESS_KEY_FILE` | `s3.secret_access_key_file` | none |
//! | page and storage quotas | `SEALROOM_MAX_PAGE_BYTES`, `SEALROOM_MAX_USER_BLOB_BYTES`, `SEALROOM_{USER,SPACE}_MESSAGES_PER_HOUR`, `SEALROOM_{USER,SPACE}_MESSAGE_BYTES_PER_HOUR`, `SEALROOM_UPLOAD_TTL_SECS`, `SEALROOM_UPLOAD_SWEEP_SECS` | `quotas.*` | see [`Quotas`] |
//!
//! With both TLS settings the relay serves HTTPS only (rustls, see [`crate::tls`]); without
//! them it serves plain HTTP for a reverse proxy in front, whose `X-Forwarded-For` it honours
//! only with `trust_proxy` (see `docs/relay.md`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod env;

/// Name of the store file in the data directory.
pub const STORE_FILE: &str = "store.redb";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this struct.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("invalid value for {name}: {value:?}")]
    Env {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// Only one of the TLS certificate and key was given.
    #[error("TLS needs both a certificate and a key")]
    TlsIncomplete,
}

/// Size and rate limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest JSON request body in bytes (account, room metadata, handshakes...).
    pub max_json_body: u64,
    /// Largest application-message or handshake body in bytes.
    pub max_message_body: u64,
    /// Largest blob chunk in one append request, in bytes.
    pub max_chunk: u64,
    /// Largest total of blob bytes stored per space.
    pub max_space_bytes: u64,
    /// Authentication failures tolerated per source address in one minute before further
    /// requests from it get 429 (never counted per claimed device).
    pub auth_failures_per_minute: u32,
    /// Size of the store's in-memory page cache in bytes (redb's read and write cache). redb's
    /// own default is 1 GiB, which the relay's resident memory would grow into as the store
    /// grows. The relay's default, 16 MiB, fills within the first minutes under load, so
    /// resident memory stops rising early; a page outside it is read back from the operating
    /// system's file cache (measured: the same request rate as with 64 MiB, docs/relay.md
    /// "Memory").
    pub store_cache_bytes: u64,
    /// Blob appends one instance handles at once. Each holds its body (up to `max_chunk`) in
    /// memory until its bytes are stored, so this bounds that memory; an append beyond it is
    /// answered 503 with `Retry-After` before its body is read.
    pub max_concurrent_appends: u32,
    /// Seconds an append's body may take to arrive once the append holds one of the
    /// `max_concurrent_appends` permits; a body still incomplete then is answered 408
    /// `request_timeout` and the permit freed, so stalled uploads cannot keep the permits.
    pub append_body_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_body: 64 * 1024,
            max_message_body: 1024 * 1024,
            max_chunk: 16 * 1024 * 1024,
            max_space_bytes: 10 * 1024 * 1024 * 1024,
            auth_failures_per_minute: 20,
            store_cache_bytes: 16 * 1024 * 1024,
            max_concurrent_appends: 16,
            append_body_timeout_secs: 60,
        }
    }
}

/// SMTP settings for notifications; without a host no mail is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    /// SMTP server host name; `None` disables mail.
    pub host: Option<String>,
    /// SMTP server port.
    pub port: u16,
    /// Envelope and header sender.
    pub from: String,
    /// Optional user for SMTP AUTH.
    pub user: Option<String>,
    /// Optional password for SMTP AUTH; never logged.
    pub password: Option<String>,
}

impl Default for Smtp {
    fn default() -> Self {
        Self {
            host: None,
            port: 25,
            from: "sealroom@localhost".to_owned(),
            user: None,
            password: None,
        }
    }
}

/// TLS termination by the relay itself (rustls). Without it the relay speaks plain HTTP, for a
/// reverse proxy in front that terminates TLS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// The relay configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory holding the store file and blob files.
    pub data_dir: PathBuf,
    /// Directory with the demo portal's static files, served at `/` when present.
    pub web_dir: Option<PathBuf>,
    /// Base URL of the portal, used for links in notifications.
    pub public_url: Option<String>,
    /// Trust the first address of `X-Forwarded-For` as the client IP (only behind a proxy).
    pub trust_proxy: bool,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log: String,
    /// TLS settings.
    pub tls: Tls,
    /// SMTP settings.
    pub smtp: Smtp,
    /// Size and rate limits.
    pub limits: Limits,
    /// Enrolment throttles and the waiting period of devices linked by TOTP alone.
    pub enrolment: Enrolment,
    /// File holding the relay key that seals relay secrets at rest (outside the data
    /// directory); default [`Config::relay_key_path`].
    pub relay_key_file: Option<PathBuf>,
    /// The authority (`host` or `host:port`, lower case) that clients sign requests for. When
    /// set, a request signed for any other host is refused whatever its `Host` header says;
    /// when unset, the `Host` header the relay was reached by is the signed authority.
    pub public_host: Option<String>,
    /// When set, `/metrics` is served without authentication on this separate (private)
    /// listener and not on the API listener; when unset, `/metrics` on the API listener
    /// answers admin-signed requests only.
    pub metrics_listen: Option<SocketAddr>,
    /// Page sizes, storage quotas and upload expiry.
    pub quotas: Quotas,
    /// S3-compatible object storage for blobs (used when a bucket is set).
    pub s3: S3Config,
    /// The shared store of a scale-out deployment (PostgreSQL), used when a URL is set.
    pub store: StoreConfig,
}

/// The PostgreSQL store of a scale-out deployment (see `docs/relay.md`, "PostgreSQL
/// deployment").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgresql://user[:password]@host[:port]/database`; set: every piece of relay state
    /// lives in that database instead of the data directory.
    pub database_url: Option<DatabaseUrl>,
    /// PostgreSQL schema for the relay's tables (created when missing).
    pub database_schema: Option<String>,
}

/// A database URL: it may hold a password, so it is never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: String) -> Self {
        Self(url)
    }

    /// The URL itself, for connecting.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

/// S3-compatible object storage for blobs (see `docs/relay.md`, "S3-compatible storage").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL (`http://` allowed, for a store on loopback); `None`: AWS.
    pub endpoint: Option<String>,
    /// Bucket; when set, blobs live in it instead of the data directory.
    pub bucket: Option<String>,
    /// Region (signing scope).
    pub region: String,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// File holding the secret access key (one line).
    pub secret_access_key_file: Option<PathBuf>,
    /// Seconds one blob operation (an append's parts, a read) may take in the object storage,
    /// retries included; beyond it the request is answered 503 and nothing is acknowledged.
    pub timeout_secs: u64,
    /// The secret access key from the environment (never from the TOML file).
    #[serde(skip)]
    secret_from_env: Option<S3Secret>,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            bucket: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key_file: None,
            timeout_secs: 30,
            secret_from_env: None,
        }
    }
}

impl S3Config {
    /// The secret access key: from `SEALROOM_S3_SECRET_ACCESS_KEY`, else read from
    /// [`S3Config::secret_access_key_file`]; `None` when neither is set.
    pub fn secret_access_key(&self) -> Result<Option<S3Secret>, std::io::Error> {
        if let Some(secret) = &self.secret_from_env {
            return Ok(Some(secret.clone()));
        }
        match &self.secret_access_key_file {
            Some(path) => {
                let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
                Ok(Some(S3Secret(text.trim().to_owned())))
            }
            None => Ok(None),
        }
    }
}

/// An S3 secret access key: zeroized on drop, never printed.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct S3Secret(String);

impl S3Secret {
    /// The key itself, for signing requests.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Secret(<redacted>)")
    }
}

/// Page sizes, per-user and per-space quotas, and the expiry of abandoned uploads.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Largest page of messages or handshakes in bytes (a page holds at least one entry).
    pub max_page_bytes: u64,
    /// Largest total of blob bytes one user may have announced (live uploads and blobs).
    pub max_user_blob_bytes: u64,
    /// Messages one user may post per hour (all rooms).
    pub user_messages_per_hour: u64,
    /// Message bytes one user may post per hour (all rooms).
    pub user_message_bytes_per_hour: u64,
    /// Messages that may be posted per hour in one space (all its rooms).
    pub space_messages_per_hour: u64,
    /// Message bytes that may be posted per hour in one space (all its rooms).
    pub space_message_bytes_per_hour: u64,
    /// Seconds an unfinished upload (of any length, zero included) lives after its creation
    /// or its last append.
    pub upload_ttl_secs: u64,
    /// Seconds between two sweeps that delete expired uploads.
    pub upload_sweep_secs: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_page_bytes: 4 * 1024 * 1024,
            max_user_blob_bytes: 50 * 1024 * 1024 * 1024,
            user_messages_per_hour: 10_000,
            user_message_bytes_per_hour: 1024 * 1024 * 1024,
            space_messages_per_hour: 50_000,
            space_message_bytes_per_hour: 4 * 1024 * 1024 * 1024,
            upload_ttl_secs: 24 * 60 * 60,
            upload_sweep_secs: 60,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./sealroom-data"),
            web_dir: None,
            public_url: None,
            trust_proxy: false,
            log: "info".to_owned(),
            tls: Tls::default(),
            smtp: Smtp::default(),
            limits: Limits::default(),
            enrolment: Enrolment::default(),
            relay_key_file: None,
            public_host: None,
            metrics_listen: None,
            quotas: Quotas::default(),
            s3: S3Config::default(),
            store: StoreConfig::default(),
        }
    }
}

/// Enrolment throttles (see `accounts::throttle` and `docs/relay.md`, "Enrolment").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Enrolment {
    /// Failed TOTP approvals (per user and per source address) that cost no delay.
    pub free_failures: u32,
    /// Delay after the first costly failure, doubled with every further failure (capped at a
    /// day).
    pub delay_base_secs: u64,
    /// Failed TOTP approvals of one user that lock TOTP approval until an existing device or
    /// an administrator unlocks it.
    pub user_lock_failures: u32,
    /// Failed TOTP approvals from one source address that lock it for the rest of the day.
    pub source_lock_failures: u32,
    /// Device requests per user per day.
    pub requests_per_user_per_day: u32,
    /// Device requests per source address per day.
    pub requests_per_source_per_day: u32,
    /// How long a device linked by a TOTP code alone waits before it may fetch the recovery
    /// backup, unless an existing device approves it sooner.
    pub totp_link_wait_secs: u64,
}

impl Default for Enrolment {
    fn default() -> Self {
        Self {
            free_failures: 2,
            delay_base_secs: 30,
            user_lock_failures: 8,
            source_lock_failures: 40,
            requests_per_user_per_day: 10,
            requests_per_source_per_day: 30,
            totp_link_wait_secs: 72 * 3600,
        }
    }
}

impl Config {
    /// Loads the configuration: defaults, then the TOML file (`file`, else `SEALROOM_CONFIG`),
    /// then environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, |name| std::env::var(name).ok())
    }

    /// Like [`Config::load`] with an explicit environment lookup (used by tests).
    pub fn load_from<E>(file: Option<&Path>, env: E) -> Result<Self, ConfigError>
    where
        E: Fn(&str) -> Option<String>,
    {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env("SEALROOM_CONFIG").map(PathBuf::from));
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path,
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        config.apply_env(&env)?;
        if config.web_dir.is_none() {
            let default_web = PathBuf::from("./demo-web");
            if default_web.join("index.html").is_file() {
                config.web_dir = Some(default_web);
            }
        }
        if config.tls.cert.is_some() != config.tls.key.is_some() {
            return Err(ConfigError::TlsIncomplete);
        }
        Ok(config)
    }

    /// The relay key file: `relay_key_file`, else `<data_dir>.relay-key` beside the data
    /// directory (never inside it, so a copy of the data directory or a backup lacks it).
    pub fn relay_key_path(&self) -> PathBuf {
        if let Some(p) = &self.relay_key_file {
            return p.clone();
        }
        let mut name = self
            .data_dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "sealroom-data".into());
        name.push(".relay-key");
        match self.data_dir.parent() {
            Some(parent) => parent.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Base URL for links in notifications.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls.cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", self.listen)
            }
        }
    }

    /// The store file (redb).
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join(STORE_FILE)
    }

    /// Where releases before the redb store kept their sled database: the relay refuses to
    /// start while one is there, and `sealroom-server migrate` moves it over.
    pub fn legacy_sled_dir(&self) -> PathBuf {
        self.data_dir.join("db")
    }

    /// Directory holding blob files.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }
}

#[cfg(test)]
mod tests;
