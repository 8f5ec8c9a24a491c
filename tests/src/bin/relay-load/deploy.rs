//! The relay deployment under load: one embedded relay (redb store and blobs in its data
//! directory), or one to several scale-out instances sharing one PostgreSQL schema, one relay
//! key file and the S3 bucket of the tests (`scripts/services/postgres.sh`,
//! `scripts/services/seaweedfs.sh`), as `tests/tests/scale_out.rs` runs them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use sealroom_tests::relay::{s3_relay_env, test_database_url, Relay};

use crate::*;

/// Where the relay keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// redb in the data directory, blobs beside it.
    Embedded,
    /// PostgreSQL (one fresh schema) and the S3 bucket of the tests.
    ScaleOut,
}

impl Backend {
    pub(crate) fn parse(text: &str) -> Res<Self> {
        match text {
            "embedded" => Ok(Self::Embedded),
            "scale-out" => Ok(Self::ScaleOut),
            other => Err(format!("--backend: embedded or scale-out, not {other}").into()),
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Embedded => "embedded (redb)",
            Self::ScaleOut => "scale-out (PostgreSQL + S3)",
        }
    }
}

/// The running instances and what they share.
pub(crate) struct Deployment {
    pub(crate) backend: Backend,
    /// Instance 0 first: accounts and rooms are set up through it.
    pub(crate) relays: Vec<Relay>,
    pub(crate) pids: Vec<u32>,
    env: Vec<(String, String)>,
    /// PostgreSQL URL and schema (scale-out).
    database: Option<(String, String)>,
    /// Holds the shared relay key file (scale-out).
    _key_dir: Option<tempfile::TempDir>,
}

impl Deployment {
    /// Starts the first instance with `env` plus what the backend needs.
    pub(crate) fn start(backend: Backend, env: &[(&str, &str)]) -> Res<Self> {
        let mut all: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut database = None;
        let mut key_dir = None;
        if backend == Backend::ScaleOut {
            let url =
                test_database_url().map_err(|e| format!("scale-out needs PostgreSQL: {e}"))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            let schema = format!("load_{}_{nanos}", std::process::id());
            let dir = tempfile::tempdir()?;
            let key_file = dir.path().join("relay.key");
            all.push(("SEALROOM_DATABASE_URL".to_owned(), url.clone()));
            all.push(("SEALROOM_DATABASE_SCHEMA".to_owned(), schema.clone()));
            all.push((
                "SEALROOM_RELAY_KEY_FILE".to_owned(),
                key_file.to_string_lossy().into_owned(),
            ));
            all.extend(s3_relay_env().map_err(|e| format!("scale-out needs S3: {e}"))?);
            database = Some((url, schema));
            key_dir = Some(dir);
        }
        let mut d = Self {
            backend,
            relays: Vec::new(),
            pids: Vec::new(),
            env: all,
            database,
            _key_dir: key_dir,
        };
        d.add_instance()?;
        Ok(d)
    }

    /// Starts one more instance on the same shared state (after the first one bootstrapped the
    /// store: an instance starting on an empty store writes a setup token of its own).
    pub(crate) fn add_instance(&mut self) -> Res<()> {
        if self.backend == Backend::Embedded && !self.relays.is_empty() {
            return Err("the embedded deployment runs one instance".into());
        }
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let relay = Relay::start_with(&env);
        let pid = relay_pid(&relay).ok_or("could not find the relay's process id")?;
        self.relays.push(relay);
        self.pids.push(pid);
        Ok(())
    }

    /// The first instance.
    pub(crate) fn first(&self) -> Res<&Relay> {
        self.relays.first().ok_or_else(|| "no relay".into())
    }

    /// The instance client `i` talks to: round robin per device.
    pub(crate) fn addr_for(&self, i: usize) -> SocketAddr {
        let n = self.relays.len().max(1);
        self.relays
            .get(i % n)
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), Relay::addr)
    }

    /// What the store measures: the data directories (embedded) or the PostgreSQL schema.
    pub(crate) fn store_probe(&self) -> StoreProbe {
        match &self.database {
            Some((url, schema)) => StoreProbe::Postgres {
                url: url.clone(),
                schema: schema.clone(),
            },
            None => StoreProbe::Dirs(self.relays.iter().map(Relay::data_dir).collect()),
        }
    }

    /// Reports the relays' error lines (the cause behind a 500 is only in the relay's log) and,
    /// with `SEALROOM_LOAD_KEEP_LOGS=<dir>`, copies every instance's whole log there.
    fn keep_logs(&self) {
        let keep = std::env::var_os("SEALROOM_LOAD_KEEP_LOGS").map(PathBuf::from);
        for (i, relay) in self.relays.iter().enumerate() {
            let log = relay.log_contents();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("WARN"))
                .collect();
            if !errors.is_empty() {
                eprintln!(
                    "relay instance {i}: {} error/warning lines; the first ones:",
                    errors.len()
                );
                for line in errors.iter().take(5) {
                    eprintln!("  {}", &line[..line.len().min(600)]);
                }
            }
            if let Some(dir) = &keep {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let file = dir.join(format!("relay-{}-{i}-{nanos}.log", std::process::id()));
                if let Err(e) =
                    std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, &log))
                {
                    eprintln!("could not keep relay log in {}: {e}", file.display());
                }
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}, {} instance{}",
            self.backend.label(),
            self.relays.len(),
            if self.relays.len() == 1 { "" } else { "s" }
        )
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.keep_logs();
        // Stop the relays before their schema goes.
        self.relays.clear();
        if let Some((url, schema)) = &self.database {
            let _ = psql(url, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
        }
    }
}

/// How to measure the size of the relay's stored state.
#[derive(Clone)]
pub(crate) enum StoreProbe {
    /// Bytes of the files under these directories (store file and blobs).
    Dirs(Vec<PathBuf>),
    /// Total size of the tables (with indexes and TOAST) of one PostgreSQL schema.
    Postgres { url: String, schema: String },
}

impl StoreProbe {
    /// Bytes now (0 when unreadable).
    pub(crate) fn bytes(&self) -> u64 {
        match self {
            Self::Dirs(dirs) => dirs.iter().map(|d| dir_bytes(d)).sum(),
            Self::Postgres { url, schema } => psql(
                url,
                &format!(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'm')"
                ),
            )
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        }
    }

    pub(crate) fn what(&self) -> &'static str {
        match self {
            Self::Dirs(_) => "data directory (store file, blobs)",
            Self::Postgres { .. } => {
                "PostgreSQL schema (tables, indexes, TOAST; blobs in S3 not counted)"
            }
        }
    }
}

/// Runs one SQL statement through `psql` and returns its unaligned output.
fn psql(url: &str, sql: &str) -> Res<String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()?;
    if !out.status.success() {
        return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
