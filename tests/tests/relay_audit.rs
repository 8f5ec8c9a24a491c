//! Audit trail against the real relay binary: admins query (filters, pagination), export JSON
//! and CSV, and verify the chain over HTTP; non-admins are refused; after the relay stops, an
//! entry is edited in the store offline (the redb file, or the relay's PostgreSQL schema with
//! `SEALROOM_TEST_BACKEND=postgres`) and both `sealroom-server audit verify` and the
//! verify endpoint (after a restart) report the chain broken at that entry's sequence number.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

use sealroom_server::audit::chain::{encode_record, LOG_TREE};
use sealroom_tests::relay::Relay;
use sealroom_wire::audit::AuditRecord;

const TRICKY_AGENT: &str = "Agent, \"quoted\" v1";

fn entries(v: &Value) -> Vec<Value> {
    v["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn audit_query_export_verify_and_offline_tamper() {
    let mut relay = Relay::start();
    let admin = relay.bootstrap_admin();
    let staff = relay.add_staff(&admin, "Sam");
    let a = relay.client(&admin);
    let s = relay.client(&staff);

    let org = relay.create_customer_org(&admin, "Kestrel Ltd");
    let space = relay.create_space(&staff, &org);
    let policy_path = format!("/v1/spaces/{space}/retention");

    // Audited actions of this module: preference changes and retention policies.
    let body = serde_json::to_vec(&json!({"mode": "daily"})).unwrap();
    let r = s.request(
        "PUT",
        "/v1/me/notifications",
        &[
            ("content-type", "application/json"),
            ("user-agent", TRICKY_AGENT),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for days in [30, 7] {
        let r = a.put_json(&policy_path, &json!({ "days": days }));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = a.put_json(&policy_path, &json!({ "days": 0 }));
    assert_eq!(r.status, 400);

    // Only admins read the trail.
    assert_eq!(s.get("/v1/audit").status, 403);
    assert_eq!(s.get("/v1/audit/verify").status, 403);
    assert_eq!(relay.anon().get("/v1/audit").status, 401);

    // Query with filters.
    let all = a.get("/v1/audit?limit=1000");
    assert_eq!(all.status, 200, "{}", all.text());
    let all = entries(&all.json());
    assert!(all.len() >= 3, "{all:?}");
    let pref = a.get(&format!(
        "/v1/audit?action=notify.preference_set&actor={}",
        staff.user_id
    ));
    let pref = entries(&pref.json());
    assert_eq!(pref.len(), 1, "{pref:?}");
    assert_eq!(pref[0]["device"], staff.device_id.as_str());
    assert_eq!(pref[0]["user_agent"], TRICKY_AGENT);
    assert_eq!(pref[0]["ip"], "127.0.0.1");
    assert_eq!(pref[0]["detail"], "daily");
    let policies = entries(
        &a.get(&format!(
            "/v1/audit?object={space}&action=retention.policy_set"
        ))
        .json(),
    );
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0]["detail"], "days=30");
    assert_eq!(policies[1]["detail"], "days=7");
    assert_eq!(a.get("/v1/audit?action=no.such").status, 400);
    assert_eq!(a.get("/v1/audit?limit=abc").status, 400);
    assert_eq!(a.get("/v1/audit?bogus=1").status, 400);
    let first_time = all[0]["time_ms"].as_u64().unwrap();
    let none = a.get(&format!("/v1/audit?to_ms={first_time}"));
    assert!(entries(&none.json()).is_empty());

    // Pagination covers every entry exactly once, in order.
    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            Some(a) => format!("/v1/audit?limit=2&after={a}"),
            None => "/v1/audit?limit=2".to_owned(),
        };
        let page = a.get(&path).json();
        seen.extend(entries(&page).iter().map(|e| e["seq"].as_u64().unwrap()));
        match page["next_after"].as_u64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let expected: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seen, expected);

    // JSON export: the same records.
    let export = a.get("/v1/audit/export?format=json");
    assert_eq!(export.status, 200, "{}", export.text());
    assert!(export
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let exported: Vec<AuditRecord> = serde_json::from_slice(&export.body).unwrap();
    assert!(exported.len() >= all.len());

    // CSV export: header, one row per entry, RFC 4180 quoting of the tricky user agent.
    let csv = a.get("/v1/audit/export?format=csv&action=notify.preference_set");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.text();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("seq,time_ms,time_utc,org,actor_user,device,ip,user_agent,action"));
    assert!(
        lines[1].contains(",\"Agent, \"\"quoted\"\" v1\",notify.preference_set,"),
        "{}",
        lines[1]
    );
    assert_eq!(a.get("/v1/audit/export?format=xml").status, 400);

    // Verify over HTTP.
    let report = a.get("/v1/audit/verify").json();
    assert_eq!(report["ok"], true, "{report}");
    let head_seq = report["head_seq"].as_u64().unwrap();
    assert!(head_seq >= all.len() as u64);

    // Offline: stop, verify with the subcommand, tamper with entry 2, verify again.
    assert!(relay.stop());
    let ok = relay.run_command(&["audit", "verify"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["ok"], true);

    let target = pref[0]["seq"].as_u64().unwrap();
    {
        // The operator's tampering, on whichever store the relay uses (redb or PostgreSQL).
        let store = relay.open_store();
        let key = target.to_be_bytes();
        let mut rec: AuditRecord =
            serde_json::from_slice(&store.get(LOG_TREE, &key).unwrap().unwrap()).unwrap();
        rec.entry.ip = Some("203.0.113.9".to_owned());
        store
            .put(LOG_TREE, &key, &encode_record(&rec).unwrap())
            .unwrap();
        store.flush().unwrap();
    }
    let data_dir = relay.data_dir();
    let data_dir = data_dir.to_str().unwrap();
    let bad = relay.run_command(&["audit", "verify", "--data-dir", data_dir]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_bad_seq"], target);
    assert!(String::from_utf8_lossy(&bad.stderr).contains(&format!("entry {target}")));

    // The running relay reports the same through the endpoint.
    relay.restart();
    let report = relay.client(&admin).get("/v1/audit/verify").json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_bad_seq"], target);
}
