//! Three relay binaries on one fresh PostgreSQL schema (scripts/services/postgres.sh starts the
//! test cluster; a missing PostgreSQL fails the caller), sharing one relay key file, for the
//! scale-out tests; and the long-poll helpers those tests and `relay_events` share.

use serde_json::Value;

use crate::relay::{test_database_url, Client, Device, Relay};

/// Three relays on one PostgreSQL schema sharing one relay key (the key that seals relay secrets
/// at rest), each with its own data directory, and a staff user with a space made through the
/// first instance before the others start (an instance that starts on an unbootstrapped store
/// writes a setup token of its own, so one instance starts first).
pub struct Cluster {
    /// The instances, in start order.
    pub relays: Vec<Relay>,
    /// The provider's first admin (reads the audit trail).
    pub admin: Device,
    /// The space owner.
    pub staff: Device,
    /// The owner's space.
    pub space_id: String,
    _key_dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the cluster for organisation `org`, with `extra` environment for every instance
    /// (the S3 bucket, the SMTP listener, ...).
    pub fn start<K: AsRef<str>, V: AsRef<str>>(org: &str, extra: &[(K, V)]) -> Cluster {
        let url =
            test_database_url().unwrap_or_else(|e| panic!("scale-out tests need PostgreSQL: {e}"));
        let schema = format!(
            "scale_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let key_dir = tempfile::tempdir().unwrap();
        let key_file = key_dir.path().join("relay.key");
        let key_file = key_file.to_str().unwrap().to_owned();
        let mut env = vec![
            ("SEALROOM_DATABASE_URL", url.as_str()),
            ("SEALROOM_DATABASE_SCHEMA", schema.as_str()),
            ("SEALROOM_RELAY_KEY_FILE", key_file.as_str()),
            ("SEALROOM_AUTH_FAILURES_PER_MINUTE", "100000"),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        let first = Relay::start_with(&env);
        let admin = first.bootstrap_admin();
        let customer_org = first.create_customer_org(&admin, org);
        let staff = first.add_staff(&admin, "Sam");
        let space_id = first.create_space(&staff, &customer_org);
        let mut relays = vec![first];
        relays.push(Relay::start_with(&env));
        relays.push(Relay::start_with(&env));
        Cluster {
            relays,
            admin,
            staff,
            space_id,
            _key_dir: key_dir,
        }
    }

    /// `device`'s client for instance `i`.
    pub fn on(&self, i: usize, device: &Device) -> Client {
        self.relays[i].client(device)
    }
}

/// `GET /v1/events` with a query; asserts 200 and returns the page.
pub fn events(client: &Client, query: &str) -> Value {
    let r = client.get(&format!("/v1/events{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()
}

/// Long-polls from `after` until an event matching `want` arrives; returns it and the cursor.
/// An answer without events means a whole wait passed without one: fail.
pub fn wait_for_event(
    client: &Client,
    mut after: u64,
    want: impl Fn(&Value) -> bool,
) -> (Value, u64) {
    loop {
        let page = events(client, &format!("?after={after}&wait=30"));
        let list = page["events"].as_array().unwrap();
        assert!(!list.is_empty(), "no event within the wait: {page}");
        if let Some(e) = list.iter().find(|e| want(e)) {
            return (e.clone(), page["cursor"].as_u64().unwrap());
        }
        after = page["cursor"].as_u64().unwrap();
    }
}
