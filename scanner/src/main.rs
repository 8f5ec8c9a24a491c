//! `sealroom-scanner`: the malware scanner of a Sealroom provider (`docs/scanner.md`).
//!
//! It is a device of a service user of the provider organisation, built on the Rust SDK. A
//! space's staff add that user to the space (it then joins the space's rooms like any member,
//! visible in every member list), name it as the scanner in the space policy and designate it
//! on the relay. For every new file version in a customer room of a space whose policy names it,
//! it downloads the file with the SDK and streams the plaintext into clamd's `INSTREAM`, piece
//! by piece (constant memory, nothing on disk), then posts its signed verdict (clean, infected
//! with the signature name, or failed) into the room; for a clean file it also sends the relay
//! its signed `scan` release.
//!
//! ```text
//! sealroom-scanner register --relay URL --state DIR --token INVITE [--name NAME]
//! sealroom-scanner run      --relay URL --state DIR --clamd HOST:PORT|/path/clamd.sock [--once]
//! ```
//!
//! Options may also come from `SEALROOM_SCANNER_RELAY`, `SEALROOM_SCANNER_STATE` and
//! `SEALROOM_SCANNER_CLAMD`. The state directory holds the SDK's encrypted store and the key
//! it is encrypted under (`storage.key`, mode 0600): protect it like any service secret.
//!
//! Progress goes to stdout, one line per step (`ready`, `scanning`, `verdict`, `idle`), so a
//! supervisor or a test can follow it; problems go to stderr.

mod clamd;
mod run;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sealroom_core::client::{HttpTransport, SealroomClient, Transport};
use sealroom_core::state::{FileKv, StorageKey};

const USAGE: &str = "usage:
  sealroom-scanner register --relay URL --state DIR --token INVITE [--name NAME]
  sealroom-scanner run --relay URL --state DIR --clamd HOST:PORT|/path/clamd.sock [--once]";

/// Parsed command line.
struct Args {
    command: String,
    relay: Option<String>,
    state: Option<PathBuf>,
    clamd: Option<String>,
    token: Option<String>,
    name: String,
    once: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or_else(|| USAGE.to_owned())?;
    let mut args = Args {
        command,
        relay: std::env::var("SEALROOM_SCANNER_RELAY").ok(),
        state: std::env::var_os("SEALROOM_SCANNER_STATE").map(PathBuf::from),
        clamd: std::env::var("SEALROOM_SCANNER_CLAMD").ok(),
        token: None,
        name: "Malware scanner".to_owned(),
        once: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--relay" => args.relay = Some(value()?),
            "--state" => args.state = Some(PathBuf::from(value()?)),
            "--clamd" => args.clamd = Some(value()?),
            "--token" => args.token = Some(value()?),
            "--name" => args.name = value()?,
            "--once" => args.once = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Prints one progress line on stdout and flushes it.
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The storage key of the state directory: created on first use, 0600.
fn storage_key(dir: &Path) -> Result<StorageKey, String> {
    let path = dir.join("storage.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut bytes)
                .map_err(|_| format!("{} is not a 64-digit hex key", path.display()))?;
            Ok(StorageKey::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = StorageKey::generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            f.write_all(hex::encode(key.expose_bytes()).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn open_client(relay: &str, dir: &Path) -> Result<SealroomClient, String> {
    std::fs::create_dir_all(dir.join("store")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = storage_key(dir)?;
    let kv = FileKv::open(dir.join("store")).map_err(|e| format!("state store: {e}"))?;
    let transport: Arc<dyn Transport> =
        Arc::new(HttpTransport::new().map_err(|e| format!("HTTP transport: {e}"))?);
    SealroomClient::open(relay, transport, Box::new(kv), key).map_err(|e| format!("state: {e}"))
}

async fn main_inner() -> Result<(), String> {
    let args = parse_args()?;
    let relay = args
        .relay
        .clone()
        .ok_or_else(|| format!("--relay is required\n{USAGE}"))?;
    let state = args
        .state
        .clone()
        .ok_or_else(|| format!("--state is required\n{USAGE}"))?;
    let client = open_client(&relay, &state)?;
    match args.command.as_str() {
        "register" => {
            let token = args
                .token
                .as_deref()
                .ok_or_else(|| format!("--token is required\n{USAGE}"))?;
            if client.is_registered() {
                return Err("this state directory already holds a registered device".into());
            }
            let account = client
                .register(token, &args.name, None, "sealroom-scanner")
                .await
                .map_err(|e| format!("register: {e} ({})", e.code()))?;
            say(&format!(
                "registered {} {}",
                account.user_id, account.device_id
            ));
            Ok(())
        }
        "run" => {
            let clamd = args
                .clamd
                .clone()
                .ok_or_else(|| format!("--clamd is required\n{USAGE}"))?;
            if !client.is_registered() {
                return Err(
                    "register this state directory first (sealroom-scanner register)".into(),
                );
            }
            run::run(&client, &clamd::ClamdAddr(clamd), args.once).await
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match main_inner().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sealroom-scanner: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
