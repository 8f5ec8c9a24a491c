//! The Sealroom relay binary: `sealroom-server [--config FILE] [COMMAND]`.
//!
//! Commands: `serve` (default), `admin setup-token`, `backup --out FILE`,
//! `restore --from FILE`, `rotate-key --new FILE`, `migrate [--data-dir DIR]`. See
//! `docs/relay.md`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sealroom_server::backup::{self, BackupSummary};
use sealroom_server::config::Config;

/// The relay's allocator on Linux with glibc: jemalloc returns freed pages to the system
/// after a short decay, where glibc's malloc kept per-thread arenas and their free lists
/// (measured: `docs/relay.md`, "Memory", issue 19).
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const USAGE: &str = "usage: sealroom-server [--config FILE] [serve | admin setup-token | backup --out FILE | restore --from FILE [--force] | rotate-key --new FILE | migrate [--data-dir DIR]]";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config_file: Option<PathBuf> = None;
    if let Some(i) = args.iter().position(|a| a == "--config") {
        if i + 1 >= args.len() {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        config_file = Some(PathBuf::from(args.remove(i + 1)));
        args.remove(i);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(config_file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sealroom-server: {e}");
            return ExitCode::from(2);
        }
    };
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    match command.as_slice() {
        [] | ["serve"] => serve(config),
        ["audit", rest @ ..] => sealroom_server::audit::cli(config, rest),
        ["backup", "--out", out] => backup(&config, Path::new(out)),
        ["restore", "--from", from] => restore(&config, Path::new(from), false),
        ["restore", "--from", from, "--force"] | ["restore", "--force", "--from", from] => {
            restore(&config, Path::new(from), true)
        }
        ["rotate-key", "--new", new] => rotate_key(&config, Path::new(new)),
        ["migrate"] => migrate(config),
        ["migrate", "--data-dir", dir] => migrate(Config {
            data_dir: PathBuf::from(dir),
            ..config
        }),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn rotate_key(config: &Config, new: &Path) -> ExitCode {
    match sealroom_server::backup::rotate_key(config, new) {
        Ok((old_id, new_id, resealed)) => {
            let line = serde_json::json!({
                "action": "rotate-key",
                "old_key_id": old_id,
                "new_key_id": new_id,
                "resealed": resealed,
                "key_file": config.relay_key_path().display().to_string(),
            });
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sealroom-server: rotate-key failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `migrate`: moves the sled database of an earlier release into the store file, once.
fn migrate(config: Config) -> ExitCode {
    use sealroom_server::store::migrate::{migrate, MigrateError};

    match migrate(
        &config.legacy_sled_dir(),
        &config.store_path(),
        config.limits.store_cache_bytes,
    ) {
        Ok(done) => {
            let line = serde_json::json!({
                "action": "migrate",
                "data_dir": config.data_dir.display().to_string(),
                "store": config.store_path().display().to_string(),
                "completed_earlier_run": done.completed_earlier_run,
                "migrated_at": done.record.migrated_at,
                "records": done.record.records,
                "trees": done.record.trees,
                "next_id": done.record.next_id,
                "sled_moved_to": done.record.sled_moved_to,
            });
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e @ MigrateError::AlreadyMigrated(_)) => {
            eprintln!("sealroom-server: migrate refused: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("sealroom-server: migrate failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(std::io::stdout)
        .init();
}

fn serve(config: Config) -> ExitCode {
    init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sealroom-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sealroom_server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "relay failed");
            eprintln!("sealroom-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(action: &str, path: &Path, summary: &BackupSummary) {
    let line = serde_json::json!({
        "action": action,
        "file": path.display().to_string(),
        "created_at": summary.meta.created_at,
        "relay_version": summary.meta.relay_version,
        "records": summary.meta.kv_records,
        "trees": summary.trees.len(),
        "blobs": summary.meta.blobs,
        "blob_bytes": summary.blob_bytes,
        "file_bytes": summary.file_bytes,
        "sha256": summary.sha256,
    });
    println!("{line}");
}

fn backup(config: &Config, out: &Path) -> ExitCode {
    match backup::backup_command(config, out) {
        Ok(summary) => {
            print_summary("backup", out, &summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sealroom-server: backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn restore(config: &Config, from: &Path, force: bool) -> ExitCode {
    match backup::restore_command(config, from, force) {
        Ok(summary) => {
            print_summary("restore", from, &summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "sealroom-server: restore refused, {} left unchanged: {e}",
                config.data_dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
