//! Range scans of the PostgreSQL store, fetched lazily in pages.

use std::future::Future;

use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;

use super::{backend, wait, PgStore};
use crate::store::{Kv, KvIter, StoreError};

impl PgStore {
    /// A lazy scan of `tree` from `start` (inclusive) to `end` (exclusive), fetched in pages of
    /// at most [`PAGE_MAX`] rows: a caller that stops early (a page of 200 messages, the first
    /// stale replay entries) never makes the relay hold the rest of the range in memory, however
    /// large the table has grown. No connection is held between pages, so an unfinished
    /// iterator never starves the pool. Pages are separate statements: a scan sees every row
    /// that existed for its whole duration, in key order, like the embedded store's.
    pub(super) fn rows(&self, tree: &str, start: &[u8], end: Option<&[u8]>) -> KvIter {
        Box::new(PagedRows {
            pool: self.pool.clone(),
            handle: self.handle.clone(),
            tree: tree.to_owned(),
            next: start.to_vec(),
            inclusive: true,
            end: end.map(<[u8]>::to_vec),
            page: std::collections::VecDeque::new(),
            page_size: PAGE_FIRST,
            done: false,
        })
    }
}

/// Rows of the first page of a scan (many callers read a handful).
const PAGE_FIRST: i64 = 32;
/// Most rows of one page of a scan (each page doubles up to this).
const PAGE_MAX: i64 = 256;

/// Runs `fut` on the store's runtime (`handle`) and waits for its result.
pub(super) fn run_on<T, F>(handle: &tokio::runtime::Handle, fut: F) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    wait(|| rx.recv()).map_err(|_| StoreError::Backend("PostgreSQL task ended early".to_owned()))?
}

/// The iterator of [`PgStore::rows`].
struct PagedRows {
    pool: Pool,
    handle: tokio::runtime::Handle,
    tree: String,
    /// Where the next page starts: at this key (`inclusive`) or after it.
    next: Vec<u8>,
    inclusive: bool,
    end: Option<Vec<u8>>,
    page: std::collections::VecDeque<Kv>,
    page_size: i64,
    done: bool,
}

impl PagedRows {
    fn fetch(&mut self) -> Result<(), StoreError> {
        let sql = match (self.inclusive, self.end.is_some()) {
            (true, true) => {
                "SELECT key, value FROM sealroom_kv \
                 WHERE tree = $1 AND key >= $2 AND key < $4 ORDER BY key LIMIT $3"
            }
            (false, true) => {
                "SELECT key, value FROM sealroom_kv \
                 WHERE tree = $1 AND key > $2 AND key < $4 ORDER BY key LIMIT $3"
            }
            (true, false) => {
                "SELECT key, value FROM sealroom_kv \
                 WHERE tree = $1 AND key >= $2 ORDER BY key LIMIT $3"
            }
            (false, false) => {
                "SELECT key, value FROM sealroom_kv \
                 WHERE tree = $1 AND key > $2 ORDER BY key LIMIT $3"
            }
        };
        let pool = self.pool.clone();
        let (tree, next, end, limit) = (
            self.tree.clone(),
            std::mem::take(&mut self.next),
            self.end.clone(),
            self.page_size,
        );
        let rows = run_on(&self.handle, async move {
            let client = pool.get().await.map_err(backend)?;
            let stmt = client.prepare_cached(sql).await.map_err(backend)?;
            let mut args: Vec<&(dyn ToSql + Sync)> = vec![&tree, &next, &limit];
            if let Some(end) = &end {
                args.push(end);
            }
            let rows = client.query(&stmt, &args).await.map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
                .collect::<Vec<Kv>>())
        })?;
        let fetched = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        if fetched < limit {
            self.done = true;
        }
        if let Some((last, _)) = rows.last() {
            self.next = last.clone();
            self.inclusive = false;
        }
        self.page.extend(rows);
        self.page_size = (self.page_size * 2).min(PAGE_MAX);
        Ok(())
    }
}

impl Iterator for PagedRows {
    type Item = Result<Kv, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && !self.done {
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.page.pop_front().map(Ok)
    }
}
