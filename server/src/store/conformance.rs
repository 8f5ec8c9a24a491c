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
    scans_are_ordered_and_bounded(fresh());
    snapshot_is_consistent_under_concurrent_writes(fresh());
    derives_count_without_losing_an_increment(fresh());
    a_refusing_derive_writes_nothing(fresh());
    queued_commits_answer_each_caller(fresh());
}

/// A counter incremented by a derive (read inside the transaction, written +1).
struct Increment {
    key: &'static [u8],
    seen: std::sync::Mutex<u64>,
}

impl crate::store::Derive for Increment {
    fn derive(
        &self,
        read: &mut dyn crate::store::TxnReader,
    ) -> Result<Vec<crate::store::Op>, crate::store::DeriveError> {
        let n = read
            .get("counter", self.key)?
            .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
        *self.seen.lock().unwrap() = n + 1;
        Ok(vec![crate::store::Op::Put {
            tree: "counter".to_owned(),
            key: self.key.to_vec(),
            value: (n + 1).to_be_bytes().to_vec(),
        }])
    }

    fn locks(&self) -> Vec<String> {
        vec!["conformance-counter".to_owned()]
    }
}

/// Refuses when the counter reached 3 (after reading it, like a budget).
struct AtMostThree;

impl crate::store::Derive for AtMostThree {
    fn derive(
        &self,
        read: &mut dyn crate::store::TxnReader,
    ) -> Result<Vec<crate::store::Op>, crate::store::DeriveError> {
        let n = read
            .get("counter", b"c")?
            .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
        if n >= 3 {
            return Err(crate::store::DeriveError::Refused("budget used up".into()));
        }
        Ok(Vec::new())
    }
}

pub(crate) fn derives_count_without_losing_an_increment<S: Store>(s: S) {
    let s = Arc::new(s);
    let threads = 8u64;
    let per_thread = 25u64;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for _ in 0..per_thread {
                    let inc = Arc::new(Increment {
                        key: b"c",
                        seen: std::sync::Mutex::new(0),
                    });
                    let mut t = Txn::new();
                    // A plain write in the same transaction, and a second derive that sees
                    // the first one's write.
                    t.put("log", &seen.len().to_be_bytes(), b"x")
                        .derive(inc.clone())
                        .derive(Arc::new(Increment {
                            key: b"d",
                            seen: std::sync::Mutex::new(0),
                        }));
                    s.commit(&t).unwrap();
                    seen.push(*inc.seen.lock().unwrap());
                }
                seen
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    // Every commit saw a different value: 1..=total, none lost, none twice.
    let total = threads * per_thread;
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
    let c = s.get("counter", b"c").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(c.try_into().unwrap()), total);
    let d = s.get("counter", b"d").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(d.try_into().unwrap()), total);
}

/// [`Store::commit_queued`]: many transactions queued without waiting (a group commit on a
/// backend with a writer) each get their own outcome, after which their writes are visible; a
/// conflicting one among them fails alone and writes nothing.
pub(crate) fn queued_commits_answer_each_caller<S: Store>(s: S) {
    let total = 200u64;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut counters = Vec::new();
    for i in 0..total {
        let inc = Arc::new(Increment {
            key: b"q",
            seen: std::sync::Mutex::new(0),
        });
        counters.push(Arc::clone(&inc));
        let mut t = Txn::new();
        t.put("queued", &i.to_be_bytes(), b"x").derive(inc);
        let answer = tx.clone();
        s.commit_queued(
            t,
            Box::new(move |r| {
                let _ = answer.send((i, r));
            }),
        );
        if i == total / 2 {
            // Expects a value the key never has: a conflict, among the others.
            let mut bad = Txn::new();
            bad.check("queued", b"never", Some(b"there"))
                .put("queued", b"bad", b"x");
            let answer = tx.clone();
            s.commit_queued(
                bad,
                Box::new(move |r| {
                    let _ = answer.send((u64::MAX, r));
                }),
            );
        }
    }
    drop(tx);
    let mut ok = 0;
    let mut conflicts = 0;
    for (i, r) in rx {
        match (i, r) {
            (u64::MAX, Err(TxnError::Conflict { .. })) => conflicts += 1,
            (i, Ok(())) if i < total => {
                // Answered only once durable and visible.
                assert_eq!(
                    s.get("queued", &i.to_be_bytes()).unwrap().as_deref(),
                    Some(&b"x"[..])
                );
                ok += 1;
            }
            (i, r) => panic!("queued commit {i}: unexpected outcome {r:?}"),
        }
    }
    assert_eq!((ok, conflicts), (total, 1));
    assert_eq!(s.get("queued", b"bad").unwrap(), None);
    let mut seen: Vec<u64> = counters.iter().map(|c| *c.seen.lock().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

pub(crate) fn a_refusing_derive_writes_nothing<S: Store>(s: S) {
    for i in 0..5u8 {
        let mut t = Txn::new();
        t.put("log", &[i], b"x")
            .derive(Arc::new(AtMostThree))
            .derive(Arc::new(Increment {
                key: b"c",
                seen: std::sync::Mutex::new(0),
            }));
        let result = s.commit(&t);
        if i < 3 {
            result.unwrap();
        } else {
            match result {
                Err(crate::store::TxnError::Refused(e)) => {
                    assert_eq!(e.to_string(), "budget used up")
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
            // Neither the plain write nor the other derive's write happened.
            assert_eq!(s.get("log", &[i]).unwrap(), None);
        }
    }
    let c = s.get("counter", b"c").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(c.try_into().unwrap()), 3);
    // A failing check stops the derives too.
    let mut t = Txn::new();
    t.check("counter", b"c", None).derive(Arc::new(Increment {
        key: b"c",
        seen: std::sync::Mutex::new(0),
    }));
    assert!(matches!(
        s.commit(&t),
        Err(crate::store::TxnError::Conflict { .. })
    ));
    let c = s.get("counter", b"c").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(c.try_into().unwrap()), 3);
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

/// Keys come back in ascending byte order (not insertion order, not length order), and an
/// empty prefix scans the whole tree.
pub(crate) fn scans_are_ordered_and_bounded<S: Store>(s: S) {
    let keys: [&[u8]; 7] = [b"b", b"a\xff", b"a", b"", b"a\x00", b"\xff\xff", b"ab"];
    for k in keys {
        s.put("o", k, k).unwrap();
    }
    s.put("other", b"a", b"not in o").unwrap();
    let all: Vec<Vec<u8>> = s
        .scan_prefix("o", b"")
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect();
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    sorted.sort();
    assert_eq!(all, sorted);
    // A prefix ending in 0xff, and one that is all 0xff.
    let ff: Vec<Vec<u8>> = s
        .scan_prefix("o", b"a\xff")
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect();
    assert_eq!(ff, vec![b"a\xff".to_vec()]);
    assert_eq!(
        s.last_with_prefix("o", b"\xff").unwrap().unwrap().0,
        b"\xff\xff"
    );
    assert_eq!(s.last_with_prefix("o", b"a").unwrap().unwrap().0, b"a\xff");
    assert_eq!(
        s.last_with_prefix("o", b"").unwrap().unwrap().0,
        b"\xff\xff"
    );
    assert!(s.last_with_prefix("o", b"c").unwrap().is_none());
    // Range: start inclusive, end exclusive, open end to the last key, empty ranges.
    let r: Vec<Vec<u8>> = s
        .range("o", b"a", Some(b"ab"))
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect();
    assert_eq!(r, vec![b"a".to_vec(), b"a\x00".to_vec()]);
    let r: Vec<Vec<u8>> = s
        .range("o", b"b", None)
        .unwrap()
        .map(|kv| kv.unwrap().0)
        .collect();
    assert_eq!(r, vec![b"b".to_vec(), b"\xff\xff".to_vec()]);
    assert_eq!(s.range("o", b"b", Some(b"b")).unwrap().count(), 0);
    assert_eq!(s.range("o", b"c", Some(b"b")).unwrap().count(), 0);
    // Trees never written read as empty, and scanning them does not fail.
    assert_eq!(s.get("never", b"a").unwrap(), None);
    assert_eq!(s.scan_prefix("never", b"").unwrap().count(), 0);
    assert!(s.last_with_prefix("never", b"").unwrap().is_none());
    assert_eq!(s.delete("never", b"a").unwrap(), None);
    // Empty keys and values are values like any other.
    s.put("e", b"", b"").unwrap();
    assert_eq!(s.get("e", b"").unwrap(), Some(Vec::new()));
    assert!(s.compare_and_swap("e", b"", Some(b""), None).unwrap());
    assert_eq!(s.get("e", b"").unwrap(), None);
}

/// A snapshot taken while writers run sees each transaction completely or not at all: writers
/// move units between two keys, so every snapshot must see the same total.
pub(crate) fn snapshot_is_consistent_under_concurrent_writes<S: Store>(s: S) {
    let s = Arc::new(s);
    s.put("acct", b"a", &100u64.to_be_bytes()).unwrap();
    s.put("acct", b"b", &0u64.to_be_bytes()).unwrap();
    let read = |v: Option<Vec<u8>>| u64::from_be_bytes(v.unwrap().try_into().unwrap());
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut moved = 0;
                while moved < 40 {
                    let a = s.get("acct", b"a").unwrap().unwrap();
                    let b = s.get("acct", b"b").unwrap().unwrap();
                    let (na, nb) = (read(Some(a.clone())) - 1, read(Some(b.clone())) + 1);
                    let mut t = Txn::new();
                    t.check("acct", b"a", Some(&a))
                        .check("acct", b"b", Some(&b))
                        .put("acct", b"a", &na.to_be_bytes())
                        .put("acct", b"b", &nb.to_be_bytes())
                        .put("journal", &s.next_id().unwrap().to_be_bytes(), b"move");
                    match s.commit(&t) {
                        Ok(()) => moved += 1,
                        Err(TxnError::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let mut snapshots = 0;
    while snapshots < 20 {
        let (mut a, mut b, mut journal) = (None, None, 0u64);
        s.snapshot(&mut |tree, key, value| {
            match (tree, key) {
                ("acct", b"a") => a = Some(value.to_vec()),
                ("acct", b"b") => b = Some(value.to_vec()),
                ("journal", _) => journal += 1,
                _ => {}
            }
            Ok(())
        })
        .unwrap();
        let (a, b) = (read(a), read(b));
        assert_eq!(a + b, 100, "snapshot saw half a transaction");
        assert_eq!(b, journal, "snapshot saw a move without its journal entry");
        snapshots += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(read(s.get("acct", b"b").unwrap()), 80);
}

/// Data and the id generator survive closing and reopening: `open` opens the same store each
/// time it is called (the previous handle is dropped first).
pub(crate) fn survives_reopen<S: Store>(open: impl Fn() -> S) {
    let mut last = 0;
    {
        let s = open();
        s.put("t", b"k", b"v").unwrap();
        let mut t = Txn::new();
        t.put("u", b"k2", b"v2");
        s.commit(&t).unwrap();
        for _ in 0..5 {
            let id = s.next_id().unwrap();
            assert!(id > last);
            last = id;
        }
        s.flush().unwrap();
    }
    for _ in 0..2 {
        let s = open();
        assert_eq!(s.get("t", b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.get("u", b"k2").unwrap(), Some(b"v2".to_vec()));
        let id = s.next_id().unwrap();
        assert!(
            id > last,
            "next_id went back from {last} to {id} across a reopen"
        );
        last = id;
    }
}
