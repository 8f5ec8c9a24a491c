//! The hash chain itself, over any [`Store`]: append, verify, query and CSV export. No HTTP here.
//!
//! Layout: tree [`LOG_TREE`] maps the 8-byte big-endian sequence number to the JSON of an
//! [`AuditRecord`]; tree [`META_TREE`] holds the head pointer under [`HEAD_KEY`] as the JSON of
//! [`Head`]. An append ([`AuditAppend`]) reads the head inside the transaction that writes the
//! new entries and moves the head, so two writers can never both extend the same head; the
//! entries of a change go into the change's own transaction.
//!
//! On a store with concurrent writers ([`Store::defers_derives`]: PostgreSQL shared by several
//! instances) a change's transaction does not touch the head: it writes its entries as one
//! unlinked batch into [`PENDING_TREE`] (committed with the change or not at all), and
//! [`link_pending`] links batches into the chain afterwards, many per transaction, oldest
//! key first (a background task of every instance, and every reader of the chain before it
//! reads). Sequence numbers follow the order of linking; `time_ms` is when the change was made.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use sealroom_wire::audit::{
    AuditAction, AuditEntry, AuditPage, AuditQuery, AuditRecord, AuditVerifyReport, AUDIT_HASH_LEN,
    DEFAULT_AUDIT_PAGE, GENESIS_PREV_HASH, MAX_AUDIT_PAGE,
};

use crate::store::{
    decode_json, encode_json, Derive, DeriveError, Op, Store, StoreError, Txn, TxnError, TxnReader,
};

/// Tree: sequence number (u64 big-endian) -> [`AuditRecord`] JSON.
pub const LOG_TREE: &str = "audit_log";
/// Tree holding the head pointer.
pub const META_TREE: &str = "audit_meta";
/// Key of the head pointer in [`META_TREE`].
pub const HEAD_KEY: &[u8] = b"head";
/// Tree: batches written but not linked yet, `time_ms` (u64 big-endian) followed by 16 random
/// bytes -> [`PendingBatch`] JSON (stores with concurrent writers only).
pub const PENDING_TREE: &str = "audit_pending";
/// Tree: pending batches that did not decode, moved aside by [`link_pending`] so that they do
/// not stop the chain; kept for the operator.
pub const DAMAGED_TREE: &str = "audit_pending_damaged";

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept moving the head; the entry was not written.
    #[error("audit log contended, entry not written")]
    Contended,
    /// The stored head pointer does not decode, so no entry can be linked to it.
    #[error("audit head pointer is corrupt: {0}")]
    CorruptHead(String),
}

/// The head pointer: the last sequence number and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// Hex hash of the last entry.
    pub hash: String,
}

/// What to record; the chain adds `seq`, `time_ms` and `prev_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What happened.
    pub action: AuditAction,
    /// Acting user, `None` for the relay itself.
    pub actor_user: Option<String>,
    /// Signing device.
    pub device: Option<String>,
    /// Organisation the entry belongs to.
    pub org: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Object id.
    pub object_id: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Short content-free detail.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event with only its action set; fill the rest with the builder methods.
    pub fn new(action: AuditAction) -> Self {
        Self {
            action,
            actor_user: None,
            device: None,
            org: None,
            ip: None,
            user_agent: None,
            object_id: None,
            size: None,
            detail: None,
        }
    }

    /// Sets the acting user.
    pub fn actor(mut self, user_id: impl Into<String>) -> Self {
        self.actor_user = Some(user_id.into());
        self
    }

    /// Sets the device.
    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device = Some(device_id.into());
        self
    }

    /// Sets the organisation.
    pub fn org(mut self, org_id: impl Into<String>) -> Self {
        self.org = Some(org_id.into());
        self
    }

    /// Sets the client IP address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// Sets the client user agent.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Sets the object id.
    pub fn object(mut self, id: impl Into<String>) -> Self {
        self.object_id = Some(id.into());
        self
    }

    /// Sets the size in bytes.
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }

    /// Sets the detail (never content: ids, counts, modes only).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// `SHA-256(prev_hash_bytes || canonical_json(entry))`, hex. `None` when `prev_hash` is not
/// 32 bytes of hex.
pub fn entry_hash(entry: &AuditEntry) -> Option<String> {
    let prev = hex::decode(&entry.prev_hash).ok()?;
    if prev.len() != AUDIT_HASH_LEN {
        return None;
    }
    let mut h = Sha256::new();
    h.update(&prev);
    h.update(entry.canonical_json());
    Some(hex::encode(h.finalize()))
}

/// The stored head, if any entry was ever written.
pub fn head(store: &dyn Store) -> Result<Option<Head>, AuditError> {
    match store.get(META_TREE, HEAD_KEY)? {
        Some(bytes) => decode_json::<Head>(META_TREE, &bytes)
            .map(Some)
            .map_err(|e| AuditError::CorruptHead(e.to_string())),
        None => Ok(None),
    }
}

/// Appends `event` at time `time_ms`, atomically with the head pointer (or as a pending
/// batch, see the module documentation).
pub fn append(store: &dyn Store, time_ms: u64, event: AuditEvent) -> Result<(), AuditError> {
    append_all(store, time_ms, vec![event])
}

/// Appends `events` in order at time `time_ms` in one transaction.
pub fn append_all(
    store: &dyn Store,
    time_ms: u64,
    events: Vec<AuditEvent>,
) -> Result<(), AuditError> {
    let mut txn = Txn::new();
    txn.derive(AuditAppend::new(time_ms, events));
    store.commit(&txn).map_err(AuditError::from_txn)
}

impl AuditError {
    /// The error of a transaction that carried an [`AuditAppend`].
    pub fn from_txn(e: TxnError) -> Self {
        match e {
            TxnError::Store(e) => e.into(),
            TxnError::Conflict { .. } => AuditError::Contended,
            TxnError::Refused(e) => match e.downcast::<AuditError>() {
                Ok(a) => *a,
                Err(other) => AuditError::CorruptHead(other.to_string()),
            },
        }
    }
}

type ComputeEvents =
    dyn Fn(&mut dyn TxnReader) -> Result<Vec<AuditEvent>, StoreError> + Send + Sync;

/// Where an [`AuditAppend`]'s events come from.
enum Source {
    /// A change's events, computed inside its transaction, all at one time.
    Change {
        time_ms: u64,
        events: Arc<ComputeEvents>,
    },
    /// Pending batches being linked ([`link_pending`]), each with its own time.
    Pending(Vec<PendingBatch>),
}

/// One request's entries, written unlinked into [`PENDING_TREE`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingBatch {
    /// When the change was made (Unix milliseconds).
    pub time_ms: u64,
    /// Its entries, in order.
    pub events: Vec<AuditEvent>,
}

/// Audit entries appended inside the transaction of the change they record: a [`Derive`] that
/// reads the head where the transaction runs, links each event to the one before and moves the
/// head. Put it into the change's own [`Txn`], so that the change and its entries are
/// committed together or not at all, and many requests' entries share one commit. On a store
/// with concurrent writers it runs as a [`PendingAppend`] instead ([`Derive::deferred`]).
pub struct AuditAppend {
    source: Source,
}

impl AuditAppend {
    /// Appends `events`.
    pub fn new(time_ms: u64, events: Vec<AuditEvent>) -> Arc<Self> {
        Self::computed(time_ms, move |_| Ok(events.clone()))
    }

    /// Appends the events `f` computes inside the transaction (for example from a sequence
    /// number an earlier derive of the same transaction assigned).
    pub fn computed(
        time_ms: u64,
        f: impl Fn(&mut dyn TxnReader) -> Result<Vec<AuditEvent>, StoreError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            source: Source::Change {
                time_ms,
                events: Arc::new(f),
            },
        })
    }
}

fn refused(e: AuditError) -> DeriveError {
    DeriveError::Refused(Box::new(e))
}

impl Derive for AuditAppend {
    fn reads(&self) -> Vec<(String, Vec<u8>)> {
        vec![(META_TREE.to_owned(), HEAD_KEY.to_vec())]
    }

    fn deferred(&self) -> Option<crate::store::SharedDerive> {
        match &self.source {
            Source::Change { time_ms, events } => Some(Arc::new(PendingAppend {
                time_ms: *time_ms,
                events: events.clone(),
            })),
            Source::Pending(_) => None,
        }
    }

    fn derive(&self, read: &mut dyn TxnReader) -> Result<Vec<Op>, DeriveError> {
        let (mut seq, mut prev_hash) = match read.get(META_TREE, HEAD_KEY)? {
            Some(bytes) => {
                let h: Head = decode_json(META_TREE, &bytes)
                    .map_err(|e| refused(AuditError::CorruptHead(e.to_string())))?;
                (h.seq, h.hash)
            }
            None => (0, GENESIS_PREV_HASH.to_owned()),
        };
        let events: Vec<(u64, AuditEvent)> = match &self.source {
            Source::Change { time_ms, events } => {
                events(read)?.into_iter().map(|e| (*time_ms, e)).collect()
            }
            Source::Pending(batches) => batches
                .iter()
                .flat_map(|b| b.events.iter().map(|e| (b.time_ms, e.clone())))
                .collect(),
        };
        let mut ops = Vec::with_capacity(events.len() + 1);
        for (time_ms, event) in events {
            seq = seq.saturating_add(1);
            let entry = AuditEntry {
                action: event.action,
                actor_user: event.actor_user,
                detail: event.detail,
                device: event.device,
                ip: event.ip,
                object_id: event.object_id,
                org: event.org,
                prev_hash,
                seq,
                size: event.size,
                time_ms,
                user_agent: event.user_agent,
            };
            let hash = entry_hash(&entry).ok_or_else(|| {
                refused(AuditError::CorruptHead(
                    "head hash is not 32 bytes of hex".to_owned(),
                ))
            })?;
            prev_hash = hash.clone();
            let record = AuditRecord { entry, hash };
            ops.push(Op::Put {
                tree: LOG_TREE.to_owned(),
                key: seq.to_be_bytes().to_vec(),
                value: encode_json(LOG_TREE, &record)?,
            });
        }
        if !ops.is_empty() {
            let head = Head {
                seq,
                hash: prev_hash,
            };
            ops.push(Op::Put {
                tree: META_TREE.to_owned(),
                key: HEAD_KEY.to_vec(),
                value: encode_json(META_TREE, &head)?,
            });
        }
        Ok(ops)
    }

    fn locks(&self) -> Vec<String> {
        // One chain: appends of one process queue here instead of conflicting on the head.
        vec!["audit-chain".to_owned()]
    }
}

/// A change's entries written as one unlinked batch ([`PENDING_TREE`]), in the change's own
/// transaction, without reading the head: what [`AuditAppend`] becomes on a store with
/// concurrent writers. [`link_pending`] links the batch later.
pub struct PendingAppend {
    time_ms: u64,
    events: Arc<ComputeEvents>,
}

impl Derive for PendingAppend {
    fn derive(&self, read: &mut dyn TxnReader) -> Result<Vec<Op>, DeriveError> {
        let events = (self.events)(read)?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let batch = PendingBatch {
            time_ms: self.time_ms,
            events,
        };
        let mut key = self.time_ms.to_be_bytes().to_vec();
        let mut unique = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut unique);
        key.extend_from_slice(&unique);
        Ok(vec![Op::Put {
            tree: PENDING_TREE.to_owned(),
            key,
            value: encode_json(PENDING_TREE, &batch)?,
        }])
    }
}

/// Links up to `max` pending batches ([`PENDING_TREE`]) into the chain, oldest key first, in
/// one transaction that deletes them. Returns how many batches it linked (0: none pending).
/// [`AuditError::Contended`] when another instance linked some of them first (try again).
pub fn link_pending(store: &dyn Store, max: usize) -> Result<usize, AuditError> {
    let mut rows = Vec::new();
    for kv in store.range(PENDING_TREE, &[], None)? {
        rows.push(kv?);
        if rows.len() >= max.max(1) {
            break;
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let mut txn = Txn::new();
    let mut batches = Vec::with_capacity(rows.len());
    for (key, value) in &rows {
        txn.check(PENDING_TREE, key, Some(value))
            .delete(PENDING_TREE, key);
        match decode_json::<PendingBatch>(PENDING_TREE, value) {
            Ok(batch) => batches.push(batch),
            Err(e) => {
                // Damage of the store itself: kept aside for the operator, the chain goes on.
                tracing::error!(error = %e, "a pending audit batch does not decode; moved to {DAMAGED_TREE}");
                txn.put(DAMAGED_TREE, key, value);
            }
        }
    }
    let linked = rows.len();
    txn.derive(Arc::new(AuditAppend {
        source: Source::Pending(batches),
    }));
    store.commit(&txn).map_err(AuditError::from_txn)?;
    Ok(linked)
}

/// Largest number of pending batches one [`link_pending`] transaction links.
pub const LINK_BATCH: usize = 256;

/// Links everything pending now (readers call this before they read the chain, so that they
/// see every change committed before). Gives up after a bounded number of rounds when other
/// writers keep adding or linking batches; what is left is linked by the background task.
pub fn link_all(store: &dyn Store) -> Result<(), AuditError> {
    for _ in 0..64 {
        match link_pending(store, LINK_BATCH) {
            Ok(0) => return Ok(()),
            Ok(_) | Err(AuditError::Contended) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Walks the whole chain and checks every link, every hash and the head pointer. Stops at the
/// first problem and names its sequence number.
pub fn verify(store: &dyn Store) -> Result<AuditVerifyReport, StoreError> {
    let stored_head = store.get(META_TREE, HEAD_KEY)?;
    let head: Option<Head> = match &stored_head {
        Some(bytes) => match decode_json::<Head>(META_TREE, bytes) {
            Ok(h) => Some(h),
            Err(_) => {
                return Ok(AuditVerifyReport {
                    ok: false,
                    verified: 0,
                    head_seq: 0,
                    head_hash: String::new(),
                    first_bad_seq: Some(1),
                    problem: Some("head pointer does not decode".to_owned()),
                })
            }
        },
        None => None,
    };
    let (head_seq, head_hash) = head
        .as_ref()
        .map(|h| (h.seq, h.hash.clone()))
        .unwrap_or((0, GENESIS_PREV_HASH.to_owned()));
    let fail = |verified: u64, seq: u64, problem: String| AuditVerifyReport {
        ok: false,
        verified,
        head_seq,
        head_hash: head_hash.clone(),
        first_bad_seq: Some(seq),
        problem: Some(problem),
    };

    let mut expected_seq: u64 = 1;
    let mut prev = GENESIS_PREV_HASH.to_owned();
    for kv in store.range(LOG_TREE, &[], None)? {
        let (key, value) = kv?;
        let key_seq = <[u8; 8]>::try_from(key.as_slice())
            .ok()
            .map(u64::from_be_bytes);
        if key_seq != Some(expected_seq) {
            let problem = match key_seq {
                Some(k) if k > expected_seq => format!("entry {expected_seq} is missing"),
                _ => format!("unexpected key after entry {}", expected_seq - 1),
            };
            return Ok(fail(expected_seq - 1, expected_seq, problem));
        }
        let record: AuditRecord = match decode_json(LOG_TREE, &value) {
            Ok(r) => r,
            Err(_) => {
                return Ok(fail(
                    expected_seq - 1,
                    expected_seq,
                    "entry does not decode".to_owned(),
                ))
            }
        };
        if record.entry.seq != expected_seq {
            return Ok(fail(
                expected_seq - 1,
                expected_seq,
                format!(
                    "entry stored under {expected_seq} says seq {}",
                    record.entry.seq
                ),
            ));
        }
        if record.entry.prev_hash != prev {
            return Ok(fail(
                expected_seq - 1,
                expected_seq,
                "prev_hash does not match the previous entry's hash".to_owned(),
            ));
        }
        match entry_hash(&record.entry) {
            Some(h) if h == record.hash => {}
            _ => {
                return Ok(fail(
                    expected_seq - 1,
                    expected_seq,
                    "hash does not match the entry's contents".to_owned(),
                ))
            }
        }
        prev = record.hash;
        expected_seq += 1;
    }
    let last_seq = expected_seq - 1;
    if head_seq != last_seq {
        let bad = if head_seq > last_seq {
            last_seq + 1
        } else {
            head_seq + 1
        };
        return Ok(fail(
            last_seq.min(head_seq),
            bad,
            format!("head says entry {head_seq} but the log ends at {last_seq}"),
        ));
    }
    if head_hash != prev {
        return Ok(fail(
            last_seq.saturating_sub(1),
            last_seq.max(1),
            "head hash does not match the last entry".to_owned(),
        ));
    }
    Ok(AuditVerifyReport {
        ok: true,
        verified: last_seq,
        head_seq,
        head_hash,
        first_bad_seq: None,
        problem: None,
    })
}

/// Which organisations' entries a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every entry (the provider organisation's admins, the offline CLI).
    All,
    /// Only entries of this organisation.
    Org(String),
}

impl Scope {
    /// Whether the scope may read `entry`.
    pub fn allows_entry(&self, entry: &AuditEntry) -> bool {
        self.allows(entry)
    }

    fn allows(&self, entry: &AuditEntry) -> bool {
        match self {
            Self::All => true,
            Self::Org(org) => entry.org.as_deref() == Some(org.as_str()),
        }
    }
}

/// Why a query was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// `action` does not name an audit action.
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    /// `limit` is 0 or above the maximum.
    #[error("limit must be 1 to {0}")]
    Limit(usize),
    /// `from_ms` is not before `to_ms`.
    #[error("from_ms must be before to_ms")]
    TimeRange,
    /// The store failed or an entry does not decode.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Returns the page of entries matching `query` within `scope`, oldest first. `max_limit`
/// bounds the page size (exports allow larger pages than queries).
pub fn query(
    store: &dyn Store,
    scope: &Scope,
    query: &AuditQuery,
    max_limit: usize,
) -> Result<AuditPage, QueryError> {
    let limit = query
        .limit
        .map_or(DEFAULT_AUDIT_PAGE.min(max_limit), |l| l as usize);
    if limit == 0 || limit > max_limit {
        return Err(QueryError::Limit(max_limit));
    }
    let action = match &query.action {
        Some(a) => Some(
            a.parse::<AuditAction>()
                .map_err(|_| QueryError::UnknownAction(a.clone()))?,
        ),
        None => None,
    };
    if let (Some(from), Some(to)) = (query.from_ms, query.to_ms) {
        if from >= to {
            return Err(QueryError::TimeRange);
        }
    }
    let start = query.after.map_or(1, |a| a.saturating_add(1));
    let mut entries = Vec::new();
    let mut more = false;
    for kv in store.range(LOG_TREE, &start.to_be_bytes(), None)? {
        let (_, value) = kv?;
        let record: AuditRecord = decode_json(LOG_TREE, &value)?;
        let e = &record.entry;
        let matches = scope.allows(e)
            && action.is_none_or(|a| a == e.action)
            && query.from_ms.is_none_or(|t| e.time_ms >= t)
            && query.to_ms.is_none_or(|t| e.time_ms < t)
            && query
                .actor
                .as_deref()
                .is_none_or(|a| e.actor_user.as_deref() == Some(a))
            && query
                .object
                .as_deref()
                .is_none_or(|o| e.object_id.as_deref() == Some(o));
        if !matches {
            continue;
        }
        if entries.len() == limit {
            more = true;
            break;
        }
        entries.push(record);
    }
    let next_after = if more {
        entries.last().map(|r| r.entry.seq)
    } else {
        None
    };
    Ok(AuditPage {
        entries,
        next_after,
    })
}

/// Largest page of [`query`] for the API.
pub const QUERY_MAX: usize = MAX_AUDIT_PAGE;

/// Header row of the CSV export.
pub const CSV_HEADER: [&str; 14] = [
    "seq",
    "time_ms",
    "time_utc",
    "org",
    "actor_user",
    "device",
    "ip",
    "user_agent",
    "action",
    "object_id",
    "size",
    "detail",
    "prev_hash",
    "hash",
];

/// Writes records as RFC 4180 CSV: CRLF line ends, a header row, and every field that holds a
/// comma, a double quote, CR or LF (or starts/ends with a space) quoted with inner quotes
/// doubled. Values are exported verbatim so that they match the hashed entries.
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut out = String::new();
    csv_row(&mut out, CSV_HEADER.iter().map(|s| (*s).to_owned()));
    for r in records {
        let e = &r.entry;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        csv_row(
            &mut out,
            [
                e.seq.to_string(),
                e.time_ms.to_string(),
                rfc3339_utc(e.time_ms),
                opt(&e.org),
                opt(&e.actor_user),
                opt(&e.device),
                opt(&e.ip),
                opt(&e.user_agent),
                e.action.as_str().to_owned(),
                opt(&e.object_id),
                e.size.map(|s| s.to_string()).unwrap_or_default(),
                opt(&e.detail),
                e.prev_hash.clone(),
                r.hash.clone(),
            ]
            .into_iter(),
        );
    }
    out
}

fn csv_row(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let needs_quotes =
            f.contains([',', '"', '\r', '\n']) || f.starts_with(' ') || f.ends_with(' ');
        if needs_quotes {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&f);
        }
    }
    out.push_str("\r\n");
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_utc(time_ms: u64) -> String {
    let secs = time_ms / 1000;
    let ms = time_ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, unsigned form).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Encodes a record as it is stored (used by tests that tamper with the store).
pub fn encode_record(record: &AuditRecord) -> Result<Vec<u8>, StoreError> {
    encode_json(LOG_TREE, record)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
