//! Audit entries on a store with concurrent writers (PostgreSQL): a change writes its entries
//! as an unlinked batch in its own transaction, and linking puts every batch into the chain
//! exactly once, in key order, even with writers and linkers racing.

use std::sync::Arc;

use sealroom_wire::audit::{AuditAction, AuditQuery};

use super::chain::{
    self, link_all, link_pending, AuditAppend, AuditEvent, Scope, DAMAGED_TREE, HEAD_KEY,
    META_TREE, PENDING_TREE,
};
use crate::store::pg_tests::{fresh_store, test_url};
use crate::store::{Store, Txn, TxnError};

fn event(n: u64) -> AuditEvent {
    AuditEvent::new(AuditAction::MessagePost)
        .object(format!("room-{n}"))
        .size(n)
}

/// A change (one row) and its two entries, in one transaction.
fn change(store: &dyn Store, n: u64) -> Result<(), TxnError> {
    let mut txn = Txn::new();
    txn.put("things", &n.to_be_bytes(), b"x");
    txn.derive(AuditAppend::new(1_000 + n, vec![event(n), event(n)]));
    store.commit(&txn)
}

fn all_entries(store: &dyn Store) -> Vec<sealroom_wire::audit::AuditRecord> {
    let q = AuditQuery {
        limit: Some(chain::QUERY_MAX as u32),
        ..AuditQuery::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = chain::query(
            store,
            &Scope::All,
            &AuditQuery { after, ..q.clone() },
            chain::QUERY_MAX,
        )
        .unwrap();
        out.extend(page.entries);
        match page.next_after {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

#[test]
fn a_change_leaves_a_pending_batch_that_links_in_order() {
    let Some(url) = test_url() else { return };
    let store = fresh_store(&url);
    assert!(store.defers_derives());
    for n in [3, 1, 2] {
        change(&store, n).unwrap();
    }
    // The changes did not touch the head: their entries wait, unlinked.
    assert_eq!(store.get(META_TREE, HEAD_KEY).unwrap(), None);
    assert_eq!(store.range(PENDING_TREE, &[], None).unwrap().count(), 3);
    link_all(&store).unwrap();
    assert_eq!(store.range(PENDING_TREE, &[], None).unwrap().count(), 0);
    let report = chain::verify(&store).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.head_seq, 6);
    // Oldest batch first (keys start with the change's time), a batch's entries together.
    let entries = all_entries(&store);
    let got: Vec<(u64, u64, Option<u64>)> = entries
        .iter()
        .map(|r| (r.entry.seq, r.entry.time_ms, r.entry.size))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1_001, Some(1)),
            (2, 1_001, Some(1)),
            (3, 1_002, Some(2)),
            (4, 1_002, Some(2)),
            (5, 1_003, Some(3)),
            (6, 1_003, Some(3)),
        ]
    );
    // Nothing left: linking again is a no-op.
    assert_eq!(link_pending(&store, 10).unwrap(), 0);
}

#[test]
fn a_refused_change_leaves_no_entry_and_entries_never_outlive_their_change() {
    let Some(url) = test_url() else { return };
    let store = fresh_store(&url);
    store.put("things", b"k", b"old").unwrap();
    let mut txn = Txn::new();
    txn.check("things", b"k", Some(b"something else"))
        .put("things", b"k", b"new");
    txn.derive(AuditAppend::new(5, vec![event(9)]));
    assert!(matches!(store.commit(&txn), Err(TxnError::Conflict { .. })));
    assert_eq!(store.range(PENDING_TREE, &[], None).unwrap().count(), 0);
    assert_eq!(
        store.get("things", b"k").unwrap().as_deref(),
        Some(&b"old"[..])
    );
}

#[test]
fn a_damaged_head_stops_linking_but_loses_nothing() {
    let Some(url) = test_url() else { return };
    let store = fresh_store(&url);
    change(&store, 1).unwrap();
    store.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
    // The change committed (it never reads the head); linking refuses and keeps the batch.
    assert!(matches!(
        link_pending(&store, 10),
        Err(chain::AuditError::CorruptHead(_))
    ));
    assert_eq!(store.range(PENDING_TREE, &[], None).unwrap().count(), 1);
    assert_eq!(
        store.get("things", &1u64.to_be_bytes()).unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

#[test]
fn a_pending_batch_that_does_not_decode_is_set_aside() {
    let Some(url) = test_url() else { return };
    let store = fresh_store(&url);
    change(&store, 2).unwrap();
    let bad_key = [0u8; 24];
    store.put(PENDING_TREE, &bad_key, b"not json").unwrap();
    link_all(&store).unwrap();
    assert_eq!(store.range(PENDING_TREE, &[], None).unwrap().count(), 0);
    assert_eq!(
        store.get(DAMAGED_TREE, &bad_key).unwrap().as_deref(),
        Some(&b"not json"[..])
    );
    let report = chain::verify(&store).unwrap();
    assert!(report.ok && report.head_seq == 2, "{report:?}");
}

/// Four writers and two linkers at once (one store connection pool, as instances sharing one
/// database): every change's entries are in the chain exactly once, the chain verifies.
#[test]
fn racing_writers_and_linkers_link_every_entry_exactly_once() {
    let Some(url) = test_url() else { return };
    let store: Arc<dyn Store> = Arc::new(fresh_store(&url));
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 60;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    change(store.as_ref(), w * 1_000 + i).unwrap();
                }
            });
        }
        for _ in 0..2 {
            let (store, done) = (store.clone(), done.clone());
            s.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    match link_pending(store.as_ref(), 7) {
                        Ok(_) | Err(chain::AuditError::Contended) => {}
                        Err(e) => panic!("linking failed: {e}"),
                    }
                }
            });
        }
        // Stop the linkers once the writers are through.
        s.spawn({
            let done = done.clone();
            let store = store.clone();
            move || {
                while store.range("things", &[], None).unwrap().count()
                    < (WRITERS * PER_WRITER) as usize
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    });
    link_all(store.as_ref()).unwrap();
    let report = chain::verify(store.as_ref()).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.head_seq, 2 * WRITERS * PER_WRITER);
    let mut objects: Vec<String> = all_entries(store.as_ref())
        .into_iter()
        .filter_map(|r| r.entry.object_id)
        .collect();
    objects.sort();
    let mut expected: Vec<String> = (0..WRITERS)
        .flat_map(|w| (0..PER_WRITER).map(move |i| format!("room-{}", w * 1_000 + i)))
        .flat_map(|o| [o.clone(), o])
        .collect();
    expected.sort();
    assert_eq!(objects, expected);
}
