//! Which store and blob storage the relays of a test use: the embedded defaults, or the test
//! PostgreSQL (`SEALROOM_TEST_BACKEND=postgres`) and the test S3 bucket
//! (`SEALROOM_TEST_BLOBS=s3`), started by `scripts/services/*.sh` when not already running.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Path of the `sealroom-server` binary built next to the running test executable
/// (`target/<profile>/deps/<test>` -> `target/<profile>/sealroom-server`).
pub fn binary_path() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("sealroom-server{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "relay binary not found at {}: run `cargo build -p sealroom-server` first",
            bin.display()
        ))
    }
}

/// The store of a relay whose temporary directory is `dir`: with
/// `SEALROOM_TEST_BACKEND=postgres` the test PostgreSQL ([`test_database_url`]; a test panics
/// when it cannot be had) in a schema of that relay's own, named after `dir` so that it survives
/// restarts and no two relays share it; otherwise the embedded store in the data directory. A
/// relay's own environment overrides it (the scale-out test gives three relays one schema).
pub fn store_backend_env(dir: &Path) -> Vec<(String, String)> {
    match std::env::var("SEALROOM_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let url = test_database_url()
                .unwrap_or_else(|e| panic!("SEALROOM_TEST_BACKEND=postgres: {e}"));
            let name = dir.file_name().map(|n| n.as_encoded_bytes().to_vec());
            let schema = format!("relay_{}", hex::encode(name.unwrap_or_default()));
            vec![
                ("SEALROOM_DATABASE_URL".to_owned(), url),
                ("SEALROOM_DATABASE_SCHEMA".to_owned(), schema),
            ]
        }
        _ => Vec::new(),
    }
}

/// The test PostgreSQL's URL: `SEALROOM_TEST_DATABASE_URL` (exported by
/// `scripts/services/postgres.sh`, which `scripts/test.sh` sources); when unset, the script is
/// run once per test process to start the cluster.
pub fn test_database_url() -> Result<String, String> {
    static STARTED: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    STARTED
        .get_or_init(|| {
            if let Ok(url) = std::env::var("SEALROOM_TEST_DATABASE_URL") {
                if !url.is_empty() {
                    return Ok(url);
                }
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = Command::new("bash")
                .current_dir(&root)
                .args([
                    "-c",
                    "source scripts/services/postgres.sh >&2 && printf %s \"$SEALROOM_TEST_DATABASE_URL\"",
                ])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running scripts/services/postgres.sh: {e}"))?;
            let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.status.success() || url.is_empty() {
                return Err("scripts/services/postgres.sh could not start PostgreSQL".to_owned());
            }
            Ok(url)
        })
        .clone()
}

/// The blob storage of every relay these tests start: with `SEALROOM_TEST_BLOBS=s3` the test
/// S3 bucket ([`s3_relay_env`]; a test panics when it cannot be had), otherwise the relay's
/// data directory. A relay's own environment (e.g. [`Relay::start_with`]) overrides it.
pub fn blob_backend_env() -> Vec<(String, String)> {
    match std::env::var("SEALROOM_TEST_BLOBS").as_deref() {
        Ok("s3") => s3_relay_env().unwrap_or_else(|e| panic!("SEALROOM_TEST_BLOBS=s3: {e}")),
        _ => Vec::new(),
    }
}

/// The test S3 service as the relay's `SEALROOM_S3_*` variables, plus `SEALROOM_TEST_S3_FILER`
/// (SeaweedFS's filer API, for tests that look at unfinished multipart uploads). Taken from
/// `SEALROOM_TEST_S3_*` (exported by `scripts/services/seaweedfs.sh`, which `scripts/test.sh`
/// sources); when those are unset, the script is run once per test process to start SeaweedFS.
pub fn s3_relay_env() -> Result<Vec<(String, String)>, String> {
    static STARTED: std::sync::OnceLock<Result<Vec<(String, String)>, String>> =
        std::sync::OnceLock::new();
    STARTED
        .get_or_init(|| {
            let from_env = |vars: &dyn Fn(&str) -> Option<String>| {
                let get = |name: &str| {
                    vars(&format!("SEALROOM_TEST_S3_{name}"))
                        .ok_or_else(|| format!("SEALROOM_TEST_S3_{name} is not set"))
                };
                Ok::<_, String>(vec![
                    ("SEALROOM_S3_ENDPOINT".to_owned(), get("ENDPOINT")?),
                    ("SEALROOM_S3_BUCKET".to_owned(), get("BUCKET")?),
                    ("SEALROOM_S3_REGION".to_owned(), get("REGION")?),
                    ("SEALROOM_S3_ACCESS_KEY_ID".to_owned(), get("ACCESS_KEY")?),
                    (
                        "SEALROOM_S3_SECRET_ACCESS_KEY".to_owned(),
                        get("SECRET_KEY")?,
                    ),
                    ("SEALROOM_TEST_S3_FILER".to_owned(), get("FILER")?),
                ])
            };
            if let Ok(vars) = from_env(&|k| std::env::var(k).ok()) {
                return Ok(vars);
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = Command::new("bash")
                .current_dir(&root)
                .args([
                    "-c",
                    "source scripts/services/seaweedfs.sh >&2 && env | grep '^SEALROOM_TEST_S3_'",
                ])
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running scripts/services/seaweedfs.sh: {e}"))?;
            if !out.status.success() {
                return Err("scripts/services/seaweedfs.sh could not start SeaweedFS".to_owned());
            }
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let vars: std::collections::HashMap<String, String> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            from_env(&|k| vars.get(k).cloned())
        })
        .clone()
}
