//! Unit tests of the configuration (beside `mod.rs`, split off to keep that file short).

use std::collections::HashMap;

use super::*;

#[test]
fn defaults_env_and_file() {
    let c = Config::load_from(None, |_| None).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./sealroom-data"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/x\"\n[limits]\nmax_chunk = 10\n[smtp]\nhost = \"mail\"\n",
    )
    .unwrap();
    let env: HashMap<&str, &str> = [("SEALROOM_LISTEN", "127.0.0.1:1234")].into();
    let c = Config::load_from(Some(&file), |k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:1234");
    assert_eq!(c.data_dir, PathBuf::from("/srv/x"));
    assert_eq!(c.limits.max_chunk, 10);
    assert_eq!(c.limits.max_json_body, Limits::default().max_json_body);
    assert_eq!(c.smtp.host.as_deref(), Some("mail"));

    let bad: HashMap<&str, &str> = [("SEALROOM_LISTEN", "nope")].into();
    assert!(matches!(
        Config::load_from(None, |k| bad.get(k).map(|v| v.to_string())),
        Err(ConfigError::Env { .. })
    ));
    std::fs::write(&file, "unknown_key = 1\n").unwrap();
    assert!(matches!(
        Config::load_from(Some(&file), |_| None),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn append_bound_and_s3_timeout_from_env_or_file() {
    // The memory bounds of docs/relay.md, "Memory": 16 appends in flight, 30 s per S3 call.
    let c = Config::load_from(None, |_| None).unwrap();
    assert_eq!(c.limits.max_concurrent_appends, 16);
    assert_eq!(c.limits.append_body_timeout_secs, 60);
    assert_eq!(c.s3.timeout_secs, 30);

    let env: HashMap<&str, &str> = [
        ("SEALROOM_MAX_CONCURRENT_APPENDS", "4"),
        ("SEALROOM_S3_TIMEOUT_SECS", "5"),
        ("SEALROOM_APPEND_BODY_TIMEOUT_SECS", "3"),
    ]
    .into();
    let c = Config::load_from(None, |k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.limits.max_concurrent_appends, 4);
    assert_eq!(c.limits.append_body_timeout_secs, 3);
    assert_eq!(c.s3.timeout_secs, 5);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        "[limits]\nmax_concurrent_appends = 8\nappend_body_timeout_secs = 20\n[s3]\ntimeout_secs = 60\n",
    )
    .unwrap();
    let c = Config::load_from(Some(&file), |_| None).unwrap();
    assert_eq!(c.limits.max_concurrent_appends, 8);
    assert_eq!(c.limits.append_body_timeout_secs, 20);
    assert_eq!(c.s3.timeout_secs, 60);

    let env: HashMap<&str, &str> = [("SEALROOM_MAX_CONCURRENT_APPENDS", "many")].into();
    assert!(matches!(
        Config::load_from(None, |k| env.get(k).map(|v| v.to_string())),
        Err(ConfigError::Env { .. })
    ));
}

#[test]
fn store_cache_bound_from_env_or_file() {
    // The bound on redb's page cache (docs/relay.md, "Memory"): 16 MiB unless configured.
    let c = Config::load_from(None, |_| None).unwrap();
    assert_eq!(c.limits.store_cache_bytes, 16 * 1024 * 1024);

    let env: HashMap<&str, &str> = [("SEALROOM_STORE_CACHE_BYTES", "8388608")].into();
    let c = Config::load_from(None, |k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.limits.store_cache_bytes, 8 * 1024 * 1024);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(&file, "[limits]\nstore_cache_bytes = 33554432\n").unwrap();
    let c = Config::load_from(Some(&file), |_| None).unwrap();
    assert_eq!(c.limits.store_cache_bytes, 32 * 1024 * 1024);
    // The environment wins over the file.
    let c = Config::load_from(Some(&file), |k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.limits.store_cache_bytes, 8 * 1024 * 1024);

    for bad in ["64MiB", "-1", ""] {
        let env: HashMap<&str, &str> = [("SEALROOM_STORE_CACHE_BYTES", bad)].into();
        assert!(
            matches!(
                Config::load_from(None, |k| env.get(k).map(|v| v.to_string())),
                Err(ConfigError::Env { .. })
            ),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn database_url_from_env_or_file_and_never_printed() {
    let env: HashMap<&str, &str> = [
        (
            "SEALROOM_DATABASE_URL",
            "postgresql://relay:hunter2@db/sealroom",
        ),
        ("SEALROOM_DATABASE_SCHEMA", "relay_a"),
    ]
    .into();
    let c = Config::load_from(None, |k| env.get(k).map(|v| v.to_string())).unwrap();
    let url = c.store.database_url.as_ref().unwrap();
    assert_eq!(
        url.expose_secret(),
        "postgresql://relay:hunter2@db/sealroom"
    );
    assert_eq!(c.store.database_schema.as_deref(), Some("relay_a"));
    assert!(!format!("{c:?}").contains("hunter2"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(&file, "[store]\ndatabase_url = \"postgresql://db/x\"\n").unwrap();
    let c = Config::load_from(Some(&file), |_| None).unwrap();
    assert_eq!(
        c.store.database_url.unwrap().expose_secret(),
        "postgresql://db/x"
    );
}
