//! One behaviour for every [`Store`] backend: each backend's tests call [`run_all`] with a
//! constructor for a fresh, empty store.

use std::sync::Arc;

use super::{Store, StoreExt, Txn, TxnError};

/// Runs every check, each on a fresh store from `fresh`.
pub(crate) fn run_all<S: Store>(fresh: impl Fn() -> S) {
    basic_ops_scans_and_cas(fresh());
    txn_is_all_or_nothing_across_trees(fresh());
    concurrent_txns_on_one_key_exactly_one_wins(fresh());
    snapshot_lists_every_tree(fresh());
}

pub(crate) fn basic_ops_scans_and_cas<S: Store>(s: S) {
    assert_eq!(s.get("t", b"a").unwrap(), None);
    s.put("t", b"a1", b"x").unwrap();
    s.put("t", b"a2", b"y").unwrap();
    s.put("t", b"b1", b"z").unwrap();
    let keys: Vec<Vec<u8>> = s
        .scan_prefix("t", b"a")
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect();
    assert_eq!(keys, vec![b"a1".to_vec(), b"a2".to_vec()]);
    assert_eq!(s.last_with_prefix("t", b"a").unwrap().unwrap().0, b"a2");
    let range: Vec<Vec<u8>> = s
        .range("t", b"a2", Some(b"b2"))
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect();
    assert_eq!(range, vec![b"a2".to_vec(), b"b1".to_vec()]);
    assert!(s.compare_and_swap("t", b"c", None, Some(b"1")).unwrap());
    assert!(!s.compare_and_swap("t", b"c", None, Some(b"2")).unwrap());
    assert!(s
        .compare_and_swap("t", b"c", Some(b"1"), Some(b"2"))
        .unwrap());
    assert_eq!(s.delete("t", b"c").unwrap(), Some(b"2".to_vec()));
    assert!(s.next_id().unwrap() < s.next_id().unwrap());
}

pub(crate) fn txn_is_all_or_nothing_across_trees<S: Store>(s: S) {
    let mut ok = Txn::new();
    ok.check("epoch", b"room", None)
        .put("epoch", b"room", b"1")
        .put("log", b"room/1", b"commit");
    s.commit(&ok).unwrap();
    // Same check again: the key now exists, so nothing may be written.
    let mut again = Txn::new();
    again
        .check("epoch", b"room", None)
        .put("epoch", b"room", b"9")
        .put("log", b"room/9", b"other");
    assert!(matches!(s.commit(&again), Err(TxnError::Conflict { .. })));
    assert_eq!(s.get("epoch", b"room").unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get("log", b"room/9").unwrap(), None);
    let mut next = Txn::new();
    next.check("epoch", b"room", Some(b"1"))
        .put("epoch", b"room", b"2")
        .delete("log", b"room/1");
    s.commit(&next).unwrap();
    assert_eq!(s.get("log", b"room/1").unwrap(), None);
}

pub(crate) fn concurrent_txns_on_one_key_exactly_one_wins<S: Store>(s: S) {
    let s = Arc::new(s);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut t = Txn::new();
                t.check("epoch", b"r", None).put("epoch", b"r", &[i]);
                s.commit(&t).is_ok()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .filter(|_| true)
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1);
}

pub(crate) fn snapshot_lists_every_tree<S: Store>(s: S) {
    s.put("a", b"k", b"v").unwrap();
    s.put_json("b", b"k", &vec![1, 2]).unwrap();
    let mut seen = Vec::new();
    s.snapshot(&mut |t, k, v| {
        seen.push((t.to_owned(), k.to_vec(), v.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(s.get_json::<Vec<u32>>("b", b"k").unwrap(), Some(vec![1, 2]));
    assert_eq!(
        s.tree_names().unwrap(),
        vec!["a".to_owned(), "b".to_owned()]
    );
}
