//! Measures the embedded store candidates on one workload: sled (the old backend, flushed after
//! every write as the relay did), redb (the relay's store) and SQLite (rusqlite, bundled, WAL
//! with `synchronous=FULL`), each committing durably (fsync) before a write returns.
//!
//! ```text
//! cargo run --release -p sealroom-server --features bench-sqlite --example store_engines [-- --markdown FILE]
//! ```
//!
//! Workload, the same for each engine, on a fresh file in a temporary directory:
//! - `put`: single-key writes of 200-byte values, each durable;
//! - `room commit`: a transaction with 2 checks (epoch and room record) and 3 puts (epoch, log
//!   entry, room record), as `POST /v1/rooms/{id}/commits` does, each durable;
//! - `commit x4 threads`: the same from 4 threads on 4 rooms at once;
//! - `get`: point reads of existing keys;
//! - `scan 50`: a prefix scan returning 50 pairs (a page of messages), over a tree of 20,000.
//!
//! Nothing is asserted: the example prints ops/s and the mean latency per operation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sealroom_server::store::{RedbStore, SledStore, Store, Txn};

const PUTS: usize = 400;
const COMMITS: usize = 400;
const THREAD_COMMITS: usize = 200;
const GETS: usize = 50_000;
const SCAN_KEYS: usize = 20_000;
const SCANS: usize = 5_000;
const VALUE: [u8; 200] = [7u8; 200];

/// The operations of the workload, implemented by each engine.
trait Engine: Send + Sync {
    fn put(&self, tree: &str, key: &[u8], value: &[u8]);
    fn get(&self, tree: &str, key: &[u8]) -> Option<Vec<u8>>;
    /// 2 checks + 3 puts; false on a failed check.
    fn room_commit(&self, room: &str, epoch: u64) -> bool;
    fn scan(&self, tree: &str, prefix: &[u8]) -> usize;
    fn load(&self, tree: &str, pairs: &[(Vec<u8>, Vec<u8>)]);
}

/// A [`Store`] backend; `flush` after every write as the relay does on every request.
struct ViaStore<S: Store>(S);

impl<S: Store> Engine for ViaStore<S> {
    fn put(&self, tree: &str, key: &[u8], value: &[u8]) {
        self.0.put(tree, key, value).unwrap();
        self.0.flush().unwrap();
    }
    fn get(&self, tree: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(tree, key).unwrap()
    }
    fn room_commit(&self, room: &str, epoch: u64) -> bool {
        let prev = (epoch > 0).then(|| (epoch - 1).to_be_bytes());
        let record = self.0.get("rooms", room.as_bytes()).unwrap();
        let mut t = Txn::new();
        t.check(
            "epochs",
            room.as_bytes(),
            prev.as_ref().map(|p| p.as_slice()),
        )
        .check("rooms", room.as_bytes(), record.as_deref())
        .put("epochs", room.as_bytes(), &epoch.to_be_bytes())
        .put("log", &log_key(room, epoch), &VALUE)
        .put("rooms", room.as_bytes(), &VALUE[..64]);
        let ok = self.0.commit(&t).is_ok();
        self.0.flush().unwrap();
        ok
    }
    fn scan(&self, tree: &str, prefix: &[u8]) -> usize {
        self.0.scan_prefix(tree, prefix).unwrap().count()
    }
    fn load(&self, tree: &str, pairs: &[(Vec<u8>, Vec<u8>)]) {
        let mut t = Txn::new();
        for (k, v) in pairs {
            t.put(tree, k, v);
        }
        self.0.commit(&t).unwrap();
        self.0.flush().unwrap();
    }
}

fn log_key(room: &str, epoch: u64) -> Vec<u8> {
    let mut k = room.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// SQLite: one table `kv(tree, key, value)`, WAL, fsync on every commit; one connection per
/// thread (pooled by a mutex each), as a relay on SQLite would use a small pool.
struct Sqlite {
    conns: Vec<std::sync::Mutex<Connection>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Sqlite {
    fn open(path: &Path) -> Self {
        let conns = (0..4)
            .map(|_| {
                let c = Connection::open(path).unwrap();
                c.pragma_update(None, "journal_mode", "WAL").unwrap();
                c.pragma_update(None, "synchronous", "FULL").unwrap();
                c.busy_timeout(Duration::from_secs(30)).unwrap();
                c.execute_batch(
                    "CREATE TABLE IF NOT EXISTS kv (tree TEXT NOT NULL, key BLOB NOT NULL, \
                     value BLOB NOT NULL, PRIMARY KEY (tree, key)) WITHOUT ROWID",
                )
                .unwrap();
                std::sync::Mutex::new(c)
            })
            .collect();
        Self {
            conns,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.conns.len();
        self.conns[i].lock().unwrap()
    }
}

fn sql_get(c: &Connection, tree: &str, key: &[u8]) -> Option<Vec<u8>> {
    c.prepare_cached("SELECT value FROM kv WHERE tree = ?1 AND key = ?2")
        .unwrap()
        .query_row(params![tree, key], |r| r.get(0))
        .optional()
        .unwrap()
}

fn sql_put(c: &Connection, tree: &str, key: &[u8], value: &[u8]) {
    c.prepare_cached("INSERT OR REPLACE INTO kv (tree, key, value) VALUES (?1, ?2, ?3)")
        .unwrap()
        .execute(params![tree, key, value])
        .unwrap();
}

impl Engine for Sqlite {
    fn put(&self, tree: &str, key: &[u8], value: &[u8]) {
        sql_put(&self.conn(), tree, key, value);
    }
    fn get(&self, tree: &str, key: &[u8]) -> Option<Vec<u8>> {
        sql_get(&self.conn(), tree, key)
    }
    fn room_commit(&self, room: &str, epoch: u64) -> bool {
        let prev = (epoch > 0).then(|| (epoch - 1).to_be_bytes().to_vec());
        let record = sql_get(&self.conn(), "rooms", room.as_bytes());
        let mut c = self.conn();
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        if sql_get(&tx, "epochs", room.as_bytes()) != prev
            || sql_get(&tx, "rooms", room.as_bytes()) != record
        {
            return false;
        }
        sql_put(&tx, "epochs", room.as_bytes(), &epoch.to_be_bytes());
        sql_put(&tx, "log", &log_key(room, epoch), &VALUE);
        sql_put(&tx, "rooms", room.as_bytes(), &VALUE[..64]);
        tx.commit().unwrap();
        true
    }
    fn scan(&self, tree: &str, prefix: &[u8]) -> usize {
        let c = self.conn();
        let mut end = prefix.to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let mut stmt = c
            .prepare_cached(
                "SELECT key, value FROM kv WHERE tree = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
            )
            .unwrap();
        let rows = stmt
            .query_map(params![tree, prefix, end], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .unwrap();
        let mut n = 0;
        for row in rows {
            let (k, v) = row.unwrap();
            n += usize::from(!k.is_empty() && !v.is_empty());
        }
        n
    }
    fn load(&self, tree: &str, pairs: &[(Vec<u8>, Vec<u8>)]) {
        let mut c = self.conn();
        let tx = c.transaction().unwrap();
        for (k, v) in pairs {
            sql_put(&tx, tree, k, v);
        }
        tx.commit().unwrap();
    }
}

struct Row {
    engine: &'static str,
    figures: Vec<(&'static str, f64, Duration)>,
}

fn timed(n: usize, f: impl FnOnce()) -> (f64, Duration) {
    let start = Instant::now();
    f();
    let took = start.elapsed();
    (n as f64 / took.as_secs_f64(), took / n as u32)
}

fn run(engine: &'static str, e: Arc<dyn Engine>) -> Row {
    let mut figures = Vec::new();
    let (rate, lat) = timed(PUTS, || {
        for i in 0..PUTS {
            e.put("single", format!("key-{i:06}").as_bytes(), &VALUE);
        }
    });
    figures.push(("put", rate, lat));
    let (rate, lat) = timed(COMMITS, || {
        for epoch in 0..COMMITS as u64 {
            assert!(e.room_commit("room-main", epoch));
        }
    });
    figures.push(("room commit", rate, lat));
    let (rate, lat) = timed(4 * THREAD_COMMITS, || {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let e = Arc::clone(&e);
                std::thread::spawn(move || {
                    let room = format!("room-{t}");
                    for epoch in 0..THREAD_COMMITS as u64 {
                        assert!(e.room_commit(&room, epoch));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    figures.push(("commit x4 threads", rate, lat));
    let (rate, lat) = timed(GETS, || {
        for i in 0..GETS {
            let key = format!("key-{:06}", i % PUTS);
            assert!(e.get("single", key.as_bytes()).is_some());
        }
    });
    figures.push(("get", rate, lat));
    // 400 prefixes of 50 keys each, loaded in batches.
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..SCAN_KEYS)
        .map(|i| {
            (
                format!("p{:04}/{:06}", i / 50, i).into_bytes(),
                VALUE.to_vec(),
            )
        })
        .collect();
    for batch in pairs.chunks(1000) {
        e.load("scan", batch);
    }
    let (rate, lat) = timed(SCANS, || {
        for i in 0..SCANS {
            let prefix = format!("p{:04}/", i % (SCAN_KEYS / 50));
            assert_eq!(e.scan("scan", prefix.as_bytes()), 50);
        }
    });
    figures.push(("scan 50", rate, lat));
    Row { engine, figures }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut markdown = None;
    while let Some(a) = args.next() {
        if a == "--markdown" {
            markdown = args.next();
        }
    }
    let dir =
        tempfile::tempdir_in(std::env::var_os("STORE_BENCH_DIR").unwrap_or(".".into())).unwrap();
    let sled = Arc::new(ViaStore(
        SledStore::open_with_cache(&dir.path().join("sled"), 64 << 20).unwrap(),
    ));
    let redb = Arc::new(ViaStore(
        RedbStore::open(&dir.path().join("store.redb"), 64 << 20).unwrap(),
    ));
    let sqlite = Arc::new(Sqlite::open(&dir.path().join("store.sqlite")));
    let rows = vec![
        run("sled 0.34 (flush per write)", sled),
        run("redb 5", redb),
        run("SQLite (rusqlite 0.43, WAL, synchronous=FULL)", sqlite),
    ];
    let names: Vec<&str> = rows[0].figures.iter().map(|f| f.0).collect();
    let mut out = String::new();
    out.push_str("| Engine |");
    for n in &names {
        out.push_str(&format!(" {n} |"));
    }
    out.push_str("\n| --- |");
    for _ in &names {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for r in &rows {
        out.push_str(&format!("| {} |", r.engine));
        for (_, rate, lat) in &r.figures {
            out.push_str(&format!(
                " {rate:.0}/s ({:.1} µs) |",
                lat.as_secs_f64() * 1e6
            ));
        }
        out.push('\n');
    }
    print!("{out}");
    if let Some(path) = markdown {
        std::fs::write(path, out).unwrap();
    }
}
