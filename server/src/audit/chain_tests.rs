//! Tests of the chain on the embedded store: linking, verification, tampering, queries, CSV.

use std::sync::Arc;

use super::*;
use crate::store::RedbStore;

fn ev(action: AuditAction, actor: &str, org: &str, object: &str) -> AuditEvent {
    AuditEvent::new(action)
        .actor(actor)
        .device(format!("{actor}-dev"))
        .org(org)
        .ip("127.0.0.1")
        .user_agent("test, \"agent\"")
        .object(object)
        .size(10)
}

fn filled() -> RedbStore {
    let s = RedbStore::temporary().unwrap();
    let events = [
        ev(AuditAction::UserRegister, "alice", "acme", "alice"),
        ev(AuditAction::BlobUpload, "alice", "acme", "blob-1"),
        ev(AuditAction::BlobDownload, "bob", "cust", "blob-1"),
        ev(AuditAction::MessagePost, "bob", "cust", "room-1"),
        ev(AuditAction::BlobDelete, "alice", "acme", "blob-1"),
    ];
    for (i, e) in events.into_iter().enumerate() {
        append(&s, 1_000 * (i as u64 + 1), e).unwrap();
    }
    s
}

#[test]
fn canonical_form_matches_serde_json_of_the_entry() {
    let s = filled();
    let page = query(&s, &Scope::All, &AuditQuery::default(), QUERY_MAX).unwrap();
    for r in page.entries {
        assert_eq!(
            serde_json::to_vec(&r.entry).unwrap(),
            r.entry.canonical_json()
        );
    }
}

#[test]
fn appends_link_and_verify() {
    let s = filled();
    let report = verify(&s).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.verified, 5);
    assert_eq!(report.head_seq, 5);
    let page = query(&s, &Scope::All, &AuditQuery::default(), QUERY_MAX).unwrap();
    assert_eq!(page.entries.len(), 5);
    assert_eq!(page.entries[0].entry.prev_hash, GENESIS_PREV_HASH);
    for w in page.entries.windows(2) {
        assert_eq!(w[1].entry.prev_hash, w[0].hash);
        assert_eq!(w[1].entry.seq, w[0].entry.seq + 1);
    }
    assert_eq!(page.entries[4].hash, report.head_hash);
}

#[test]
fn empty_log_verifies() {
    let s = RedbStore::temporary().unwrap();
    let report = verify(&s).unwrap();
    assert!(report.ok);
    assert_eq!(report.verified, 0);
}

#[test]
fn tampering_is_detected_at_the_first_bad_seq() {
    // Edit a field of entry 3.
    let s = filled();
    let key = 3u64.to_be_bytes();
    let mut rec: AuditRecord =
        serde_json::from_slice(&s.get(LOG_TREE, &key).unwrap().unwrap()).unwrap();
    rec.entry.ip = Some("10.9.9.9".into());
    s.put(LOG_TREE, &key, &encode_record(&rec).unwrap())
        .unwrap();
    let report = verify(&s).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(3));
    assert_eq!(report.verified, 2);

    // Edit entry 2 and recompute its hash: entry 3's link breaks instead.
    let s = filled();
    let key = 2u64.to_be_bytes();
    let mut rec: AuditRecord =
        serde_json::from_slice(&s.get(LOG_TREE, &key).unwrap().unwrap()).unwrap();
    rec.entry.size = Some(999);
    rec.hash = entry_hash(&rec.entry).unwrap();
    s.put(LOG_TREE, &key, &encode_record(&rec).unwrap())
        .unwrap();
    let report = verify(&s).unwrap();
    assert_eq!(report.first_bad_seq, Some(3));

    // Delete entry 4: the gap is named.
    let s = filled();
    s.delete(LOG_TREE, &4u64.to_be_bytes()).unwrap();
    let report = verify(&s).unwrap();
    assert_eq!(report.first_bad_seq, Some(4));

    // Truncate the tail (drop entry 5) without moving the head.
    let s = filled();
    s.delete(LOG_TREE, &5u64.to_be_bytes()).unwrap();
    let report = verify(&s).unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad_seq, Some(5));

    // Garbage bytes in entry 1.
    let s = filled();
    s.put(LOG_TREE, &1u64.to_be_bytes(), b"not json").unwrap();
    assert_eq!(verify(&s).unwrap().first_bad_seq, Some(1));
}

#[test]
fn concurrent_appends_form_one_chain() {
    let s: Arc<RedbStore> = Arc::new(RedbStore::temporary().unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..25 {
                    append(
                        s.as_ref(),
                        i,
                        AuditEvent::new(AuditAction::MessagePost).object(format!("{t}-{i}")),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let report = verify(s.as_ref()).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.verified, 200);
}

#[test]
fn query_filters_scope_and_pages() {
    let s = filled();
    let acme = Scope::Org("acme".into());
    let page = query(&s, &acme, &AuditQuery::default(), QUERY_MAX).unwrap();
    assert_eq!(
        page.entries.iter().map(|r| r.entry.seq).collect::<Vec<_>>(),
        vec![1, 2, 5]
    );
    let q = AuditQuery {
        object: Some("blob-1".into()),
        ..Default::default()
    };
    let page = query(&s, &Scope::All, &q, QUERY_MAX).unwrap();
    assert_eq!(page.entries.len(), 3);
    let q = AuditQuery {
        actor: Some("bob".into()),
        action: Some("message.post".into()),
        ..Default::default()
    };
    let page = query(&s, &Scope::All, &q, QUERY_MAX).unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].entry.seq, 4);
    let q = AuditQuery {
        from_ms: Some(2_000),
        to_ms: Some(4_000),
        ..Default::default()
    };
    let page = query(&s, &Scope::All, &q, QUERY_MAX).unwrap();
    assert_eq!(
        page.entries.iter().map(|r| r.entry.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    // Pagination: pages of 2 cover everything exactly once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let q = AuditQuery {
            limit: Some(2),
            after,
            ..Default::default()
        };
        let page = query(&s, &Scope::All, &q, QUERY_MAX).unwrap();
        seen.extend(page.entries.iter().map(|r| r.entry.seq));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    // Bad queries.
    let bad = AuditQuery {
        action: Some("nope".into()),
        ..Default::default()
    };
    assert!(matches!(
        query(&s, &Scope::All, &bad, QUERY_MAX),
        Err(QueryError::UnknownAction(_))
    ));
    let bad = AuditQuery {
        limit: Some(QUERY_MAX as u32 + 1),
        ..Default::default()
    };
    assert!(matches!(
        query(&s, &Scope::All, &bad, QUERY_MAX),
        Err(QueryError::Limit(_))
    ));
    let bad = AuditQuery {
        from_ms: Some(5),
        to_ms: Some(5),
        ..Default::default()
    };
    assert!(matches!(
        query(&s, &Scope::All, &bad, QUERY_MAX),
        Err(QueryError::TimeRange)
    ));
}

#[test]
fn csv_quotes_properly() {
    let s = RedbStore::temporary().unwrap();
    append(
        &s,
        0,
        AuditEvent::new(AuditAction::BlobDownload)
            .user_agent("Mozilla/5.0, \"quoted\"\r\nnext")
            .detail(" padded "),
    )
    .unwrap();
    let all = AuditQuery::default();
    let r = query(&s, &Scope::All, &all, QUERY_MAX)
        .unwrap()
        .entries
        .remove(0);
    let csv = to_csv(std::slice::from_ref(&r));
    let mut lines = csv.splitn(2, "\r\n");
    assert_eq!(lines.next().unwrap(), CSV_HEADER.join(","));
    let row = lines.next().unwrap();
    assert!(row.starts_with("1,0,1970-01-01T00:00:00.000Z,,,,,"));
    assert!(row.contains(",\"Mozilla/5.0, \"\"quoted\"\"\r\nnext\",blob.download,"));
    assert!(row.contains(",\" padded \","));
    assert!(row.ends_with(&format!("{},{}\r\n", GENESIS_PREV_HASH, r.hash)));
}

#[test]
fn rfc3339_dates() {
    assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
    assert_eq!(rfc3339_utc(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    assert_eq!(rfc3339_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
}
