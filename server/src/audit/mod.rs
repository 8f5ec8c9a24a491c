//! The audit trail: an append-only, hash-chained log of registrations, device approvals,
//! membership changes, uploads, downloads, deletions and notifications.
//!
//! Other modules call [`record`] (or [`record_by`] with the request's [`AuthedDevice`]) after
//! the action succeeded. Organisation admins read the log through:
//! - `GET /v1/audit` (filters `from_ms`, `to_ms`, `actor`, `action`, `object`; pages with
//!   `after` and `limit`),
//! - `GET /v1/audit/export?format=json|csv` (same filters, up to [`EXPORT_MAX`] entries),
//! - `GET /v1/audit/verify` (walks the whole chain: the relay vouching for itself),
//! - `GET /v1/audit/head` (the head signed by the relay's audit key) and
//!   `GET /v1/audit/chain?after=N&limit=M` (consecutive links; entries of other organisations
//!   reduced to their hashes), with which a client verifies the chain itself and detects a
//!   rolled-back or rewritten history against the heads it remembers ([`signing`]).
//!
//! Offline, `sealroom-server audit verify [--data-dir DIR]` verifies the chain of a stopped
//! relay (see [`cli`]). The hashing rule is in [`sealroom_wire::audit`].

pub mod chain;
#[cfg(test)]
mod pending_tests;
pub mod signing;

use std::process::ExitCode;

use sealroom_wire::audit::{AuditAction, AuditQuery};

pub use chain::{AuditAppend, AuditError, AuditEvent, Scope};

use crate::auth::AuthedDevice;
use crate::config::Config;
use crate::directory::{OrgKind, OrgRecord, Role, ORGS};
use crate::error::ApiError;
use crate::reply::{ok_json, Reply};
use crate::state::AppState;
use crate::store::{Store, StoreExt};

/// Largest number of entries one export returns; continue with `after` (the response header
/// [`NEXT_AFTER_HEADER`] names the cursor when more remain).
pub const EXPORT_MAX: usize = 100_000;

/// Response header of an export that was cut at [`EXPORT_MAX`] entries.
pub const NEXT_AFTER_HEADER: &str = "x-sealroom-audit-next-after";

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        ApiError::internal("audit", &e)
    }
}

impl From<chain::QueryError> for ApiError {
    fn from(e: chain::QueryError) -> Self {
        match e {
            chain::QueryError::Store(e) => e.into(),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

/// An event prefilled with who acted: user, device, organisation, IP address, user agent.
pub fn event_by(action: AuditAction, authed: &AuthedDevice) -> AuditEvent {
    let mut e = AuditEvent::new(action)
        .actor(authed.user_id.clone())
        .device(authed.device_id.clone())
        .org(authed.org_id.clone());
    if let Some(ip) = authed.ip() {
        e = e.ip(ip.to_string());
    }
    if let Some(ua) = authed.user_agent() {
        e = e.user_agent(ua);
    }
    e
}

/// Appends `event` to the audit trail with the relay's current time. An error means the
/// entry was not written (callers decide whether that fails the request; a storage failure
/// maps to 500 through `?`).
pub fn record(state: &AppState, event: AuditEvent) -> Result<(), AuditError> {
    chain::append(state.store.as_ref(), now_ms(state), event)
}

/// Adds `events` to `txn`, the transaction of the change they record: committed with it or
/// not at all (commit it with [`txn_error`] as the error mapping).
pub fn within(state: &AppState, txn: &mut crate::store::Txn, events: Vec<AuditEvent>) {
    txn.derive(AuditAppend::new(now_ms(state), events));
}

/// Commits `txn` with `events` added to it ([`within`]): the change and its entries land
/// together or not at all; the error is the request's answer ([`txn_error`]).
pub fn commit_with(
    state: &AppState,
    mut txn: crate::store::Txn,
    events: Vec<AuditEvent>,
) -> Result<(), ApiError> {
    within(state, &mut txn, events);
    state.store.commit(&txn).map_err(txn_error)
}

/// Appends `events` in one transaction (one commit for all of them).
pub fn record_all(state: &AppState, events: Vec<AuditEvent>) -> Result<(), AuditError> {
    chain::append_all(state.store.as_ref(), now_ms(state), events)
}

/// The relay's current time for audit entries (Unix milliseconds).
pub fn now_ms(state: &AppState) -> u64 {
    u64::try_from(state.clock.now_millis()).unwrap_or(0)
}

/// The API error of a transaction carrying audit entries, with quota charges or not: a
/// refusal of either becomes its own answer (429 for a budget), the rest as usual.
pub fn txn_error(e: crate::store::TxnError) -> ApiError {
    use crate::store::TxnError;
    match e {
        TxnError::Refused(e) => match e.downcast::<crate::quota::QuotaError>() {
            Ok(q) => (*q).into(),
            Err(e) => AuditError::from_txn(TxnError::Refused(e)).into(),
        },
        other => other.into(),
    }
}

/// Shorthand: [`record`] of [`event_by`] with an object id and optional size.
pub fn record_by(
    state: &AppState,
    authed: &AuthedDevice,
    action: AuditAction,
    object_id: &str,
    size: Option<u64>,
) -> Result<(), AuditError> {
    let mut e = event_by(action, authed).object(object_id);
    if let Some(n) = size {
        e = e.size(n);
    }
    record(state, e)
}

/// `GET /v1/audit/head`: the chain head signed by the relay's audit key (organisation admins).
pub(crate) fn signed_head(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    scope_of(state, authed)?;
    chain::link_all(state.store.as_ref())?;
    let signer = state
        .extension::<signing::AuditSigner>()
        .ok_or_else(|| ApiError::internal("audit signer", &"not loaded"))?;
    Ok(ok_json(&signing::signed_head(
        state.store.as_ref(),
        &signer,
    )?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// `GET /v1/audit/chain?after=N&limit=M`: links for the client's own verification.
pub(crate) fn chain_links(
    state: &AppState,
    authed: &AuthedDevice,
    raw: &str,
) -> Result<Reply, ApiError> {
    let scope = scope_of(state, authed)?;
    chain::link_all(state.store.as_ref())?;
    let q: ChainQuery = serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::malformed(format!("invalid query: {e}")))?;
    let limit = q.limit.unwrap_or(sealroom_wire::audit::MAX_AUDIT_PAGE);
    if limit == 0 || limit > sealroom_wire::audit::MAX_AUDIT_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {}",
            sealroom_wire::audit::MAX_AUDIT_PAGE
        )));
    }
    Ok(ok_json(&signing::links(
        state.store.as_ref(),
        &scope,
        q.after,
        limit,
    )?))
}

/// Which entries `authed` may read: admins of the provider organisation (which runs the relay)
/// see every entry, admins of another organisation only their organisation's; others nothing.
fn scope_of(state: &AppState, authed: &AuthedDevice) -> Result<Scope, ApiError> {
    if authed.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only organisation admins can read the audit trail",
        ));
    }
    let org = state
        .store
        .get_json::<OrgRecord>(ORGS, authed.org_id.as_bytes())?;
    Ok(match org {
        Some(o) if o.kind == OrgKind::Provider => Scope::All,
        _ => Scope::Org(authed.org_id.clone()),
    })
}

fn parse_query(raw: &str) -> Result<AuditQuery, ApiError> {
    serde_urlencoded::from_str::<AuditQuery>(raw)
        .map_err(|e| ApiError::malformed(format!("invalid query: {e}")))
}

pub(crate) fn list(state: &AppState, authed: &AuthedDevice, raw: &str) -> Result<Reply, ApiError> {
    let scope = scope_of(state, authed)?;
    let q = parse_query(raw)?;
    if q.format.is_some() {
        return Err(ApiError::bad_request(
            "format is only accepted by /v1/audit/export",
        ));
    }
    chain::link_all(state.store.as_ref())?;
    let page = chain::query(state.store.as_ref(), &scope, &q, chain::QUERY_MAX)?;
    Ok(ok_json(&page))
}

pub(crate) fn export(
    state: &AppState,
    authed: &AuthedDevice,
    raw: &str,
) -> Result<Reply, ApiError> {
    let scope = scope_of(state, authed)?;
    let mut q = parse_query(raw)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::bad_request("format must be json or csv")),
    };
    q.limit = Some(q.limit.unwrap_or(EXPORT_MAX as u32));
    chain::link_all(state.store.as_ref())?;
    let page = chain::query(state.store.as_ref(), &scope, &q, EXPORT_MAX)?;
    record(
        state,
        event_by(AuditAction::AuditExport, authed)
            .size(page.entries.len() as u64)
            .detail(if csv { "csv" } else { "json" }),
    )?;
    let (body, content_type, name) = if csv {
        (
            chain::to_csv(&page.entries).into_bytes(),
            "text/csv; charset=utf-8",
            "audit.csv",
        )
    } else {
        (
            serde_json::to_vec(&page.entries)
                .map_err(|e| ApiError::internal("audit export", &e))?,
            "application/json",
            "audit.json",
        )
    };
    let mut resp = Reply::bytes(crate::reply::OK, body, content_type).with_header(
        "content-disposition",
        format!("attachment; filename=\"{name}\""),
    );
    if let Some(next) = page.next_after {
        resp = resp.with_header(NEXT_AFTER_HEADER, next.to_string());
    }
    Ok(resp)
}

pub(crate) fn verify(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    scope_of(state, authed)?;
    chain::link_all(state.store.as_ref())?;
    let report = chain::verify(state.store.as_ref())?;
    Ok(ok_json(&report))
}

/// How long the linking task waits when nothing was pending.
const LINK_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

/// Starts the task that links pending batches into the chain ([`chain::link_pending`]) on a
/// store with concurrent writers; every instance runs one (they take turns on the head row).
/// Nothing to do on the embedded store, whose changes link their entries themselves.
pub fn spawn_linker(state: AppState) {
    if !state.store.defers_derives() {
        return;
    }
    tokio::spawn(async move {
        let mut shutdown = state.shutdown_signal();
        loop {
            let st = state.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                chain::link_pending(st.store.as_ref(), chain::LINK_BATCH)
            })
            .await;
            let pause = match outcome {
                Ok(Ok(0)) => LINK_IDLE,
                Ok(Ok(_)) | Ok(Err(AuditError::Contended)) => std::time::Duration::ZERO,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "linking pending audit entries failed");
                    std::time::Duration::from_secs(1)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audit linking task failed");
                    std::time::Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
        }
    });
}

/// Verifies the chain of `store` and prints the report as JSON on stdout.
pub fn verify_store(store: &dyn Store) -> ExitCode {
    match chain::verify(store) {
        Ok(report) => {
            match serde_json::to_string_pretty(&report) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("sealroom-server: {e}"),
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                if let (Some(seq), Some(problem)) = (report.first_bad_seq, &report.problem) {
                    eprintln!("audit chain broken at entry {seq}: {problem}");
                }
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sealroom-server: cannot read the audit log: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `audit` subcommand: `audit verify [--data-dir DIR]`. Opens the store of a stopped relay
/// (the store file is locked by the process that has it open; on a running relay use
/// `GET /v1/audit/verify`), or the configured PostgreSQL database. Exit
/// status 0 when the chain verifies, 1 when it does not, 2 on usage or I/O errors.
pub fn cli(mut config: Config, args: &[&str]) -> ExitCode {
    match args {
        ["verify"] => {}
        ["verify", "--data-dir", dir] => config.data_dir = (*dir).into(),
        _ => {
            eprintln!("usage: sealroom-server audit verify [--data-dir DIR]");
            return ExitCode::from(2);
        }
    }
    // PostgreSQL holds the store elsewhere; the data directory only matters for the embedded one.
    let embedded = config.store.database_url.is_none();
    if embedded && !config.store_path().is_file() && !config.legacy_sled_dir().is_dir() {
        eprintln!(
            "sealroom-server: no store at {} (check --data-dir)",
            config.store_path().display()
        );
        return ExitCode::from(2);
    }
    match crate::startup::open_store(&config) {
        Ok(store) => verify_store(store.as_ref()),
        Err(e) => {
            eprintln!("sealroom-server: {e}");
            ExitCode::from(2)
        }
    }
}
