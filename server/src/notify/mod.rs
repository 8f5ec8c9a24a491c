//! Content-free notifications: a new file or message in a room mails each other member by
//! their own preference (immediate, hourly digest, daily digest, off). Every mail sent (or
//! failed) is recorded in the audit trail.
//!
//! Routes: `GET`/`PUT /v1/me/notifications` ([`NotifyPreference`]).
//!
//! Settings read from the environment at start (besides `smtp.*` / `SEALROOM_SMTP_*` and the
//! portal base URL `SEALROOM_PUBLIC_URL` of [`Config`](crate::config::Config)):
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SEALROOM_SMTP_TLS` | `none`, `starttls` or `tls` (see [`mailer`]) | `none` for loopback hosts, else `starttls` |
//! | `SEALROOM_DIGEST_TICK_SECS` | how often due digests are looked for | 60 |
//! | `SEALROOM_DIGEST_HOURLY_SECS` | length of the "hourly" period (tests shrink it) | 3600 |
//! | `SEALROOM_DIGEST_DAILY_SECS` | length of the "daily" period | 86400 |

pub mod engine;
pub mod mailer;
pub mod security;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use sealroom_wire::audit::AuditAction;
use sealroom_wire::notify::{check_email, NotifyMode, NotifyPreference};

use crate::accounts::{UserRecord, USERS};
use crate::audit::{self, AuditEvent};
use crate::auth::AuthedDevice;
use crate::error::ApiError;
use crate::events::{self, RelayEvent};
use crate::reply::{ok_json, Reply};
use crate::state::AppState;
use crate::store::StoreExt;

use engine::{MailContent, Periods, StoredPreference};
use mailer::{MailError, Mailer, NoMailer, SmtpMailer, SmtpSettings, SmtpTls};

/// Notification settings resolved at start.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Digest periods.
    pub periods: Periods,
    /// How often the digest task looks for due digests.
    pub tick: Duration,
    /// Portal base URL for the deep links.
    pub portal_url: String,
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(variable = name, "ignoring a value that is not a number");
            None
        }
    }
}

impl NotifySettings {
    /// Reads the settings from the configuration and the environment.
    pub fn from_env(state: &AppState) -> Self {
        let secs = |name, default: u64| env_u64(name).unwrap_or(default).max(1);
        Self {
            periods: Periods {
                hourly_ms: secs("SEALROOM_DIGEST_HOURLY_SECS", 3600).saturating_mul(1000),
                daily_ms: secs("SEALROOM_DIGEST_DAILY_SECS", 86_400).saturating_mul(1000),
            },
            tick: Duration::from_secs(secs("SEALROOM_DIGEST_TICK_SECS", 60)),
            portal_url: state.config.public_url(),
        }
    }
}

/// The settings in use (stored at [`spawn`], else read from the environment).
pub fn settings(state: &AppState) -> Arc<NotifySettings> {
    match state.extension::<Arc<NotifySettings>>() {
        Some(s) => Arc::clone(&s),
        None => Arc::new(NotifySettings::from_env(state)),
    }
}

/// Builds the mailer from `smtp.*` and `SEALROOM_SMTP_TLS`.
pub fn mailer_from_config(state: &AppState) -> Result<Arc<dyn Mailer>, MailError> {
    let smtp = &state.config.smtp;
    let Some(host) = smtp.host.clone() else {
        return Ok(Arc::new(NoMailer));
    };
    let tls = match std::env::var("SEALROOM_SMTP_TLS") {
        Ok(v) => SmtpTls::parse(&v)?,
        Err(_) => SmtpTls::default_for(&host),
    };
    let settings = SmtpSettings {
        host,
        port: smtp.port,
        from: smtp.from.clone(),
        credentials: smtp.user.clone().zip(smtp.password.clone()),
        tls,
    };
    Ok(Arc::new(SmtpMailer::new(&settings)?))
}

/// Starts the event consumer and the digest task. Both stop at shutdown.
pub fn spawn(state: AppState) {
    let settings = Arc::new(NotifySettings::from_env(&state));
    state.insert_extension(Arc::clone(&settings));
    let mailer = match mailer_from_config(&state) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "notifications disabled: invalid SMTP settings");
            Arc::new(NoMailer)
        }
    };
    if state.config.smtp.host.is_none() {
        tracing::warn!(
            "no SMTP server configured: notification mails are not sent, each is audited as \
             notification.fail with error=smtp_disabled"
        );
    }
    let rx = events::subscribe(&state);
    tokio::spawn(consume(
        state.clone(),
        Arc::clone(&mailer),
        Arc::clone(&settings),
        rx,
    ));
    tokio::spawn(digest_loop(state, mailer, settings));
}

async fn consume(
    state: AppState,
    mailer: Arc<dyn Mailer>,
    settings: Arc<NotifySettings>,
    mut rx: tokio::sync::broadcast::Receiver<RelayEvent>,
) {
    let mut shutdown = state.shutdown_signal();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if let Err(e) = on_event(&state, mailer.as_ref(), &settings, &ev).await {
                        tracing::warn!(error = %e, "notification processing failed");
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "notification consumer lagged, events skipped");
                }
                Err(RecvError::Closed) => break,
            },
            _ = shutdown.changed() => break,
        }
    }
}

async fn digest_loop(state: AppState, mailer: Arc<dyn Mailer>, settings: Arc<NotifySettings>) {
    let mut shutdown = state.shutdown_signal();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(settings.tick) => {}
            _ = shutdown.changed() => break,
        }
        // With several instances on one store, only the leader sends digests.
        let st = state.clone();
        let leads = tokio::task::spawn_blocking(move || {
            crate::store::lead(st.store.as_ref(), "digest_mail")
        })
        .await
        .unwrap_or(false);
        if !leads {
            continue;
        }
        if let Err(e) = send_due_digests(&state, mailer.as_ref(), &settings).await {
            tracing::warn!(error = %e, "digest run failed");
        }
    }
}

fn now_ms(state: &AppState) -> u64 {
    u64::try_from(state.clock.now_millis()).unwrap_or(0)
}

/// Who to tell and where: the user's organisation and effective address.
#[derive(Debug, Clone)]
struct Recipient {
    org_id: Option<String>,
    email: Option<String>,
    pref: StoredPreference,
}

/// Most users whose decoded preference and user record are kept in [`RecipientCache`]; when
/// full, the cache is emptied and refilled (a bound, not an eviction policy).
const RECIPIENT_CACHE_MAX: usize = 16_384;

/// One cached recipient with the exact stored bytes it was decoded from.
#[derive(Debug)]
struct CachedRecipient {
    pref_raw: Option<Vec<u8>>,
    user_raw: Option<Vec<u8>>,
    recipient: Recipient,
}

/// Decoded preferences and user records per user, versioned by the store: an entry is used only
/// while the stored bytes it came from are still the stored bytes, so any write (preference
/// change, erasure, address change, restore) takes effect at once without invalidation calls.
/// It saves the JSON decoding of both records for every member of a room on every message, and
/// lets a member whose preference is `off` be skipped after one read.
#[derive(Debug, Default)]
struct RecipientCache(std::sync::Mutex<std::collections::HashMap<String, CachedRecipient>>);

fn recipient_cache(state: &AppState) -> Arc<RecipientCache> {
    match state.extension::<RecipientCache>() {
        Some(c) => c,
        None => {
            state.insert_extension(RecipientCache::default());
            state
                .extension::<RecipientCache>()
                .unwrap_or_else(|| Arc::new(RecipientCache::default()))
        }
    }
}

/// Reads a user's notification preference and address, or `None` when the preference is `off`
/// (then the user record is not read at all).
fn recipient_unless_off(state: &AppState, user_id: &str) -> Result<Option<Recipient>, ApiError> {
    let cache = recipient_cache(state);
    let pref_raw = state.store.get(engine::PREFS_TREE, user_id.as_bytes())?;
    {
        let map = cache.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(user_id) {
            if c.pref_raw == pref_raw && c.recipient.pref.mode == NotifyMode::Off {
                return Ok(None);
            }
        }
    }
    let user_raw = state.store.get(USERS, user_id.as_bytes())?;
    {
        let map = cache.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(user_id) {
            if c.pref_raw == pref_raw && c.user_raw == user_raw {
                return Ok(Some(c.recipient.clone()));
            }
        }
    }
    let pref: StoredPreference = match &pref_raw {
        Some(bytes) => crate::store::decode_json(engine::PREFS_TREE, bytes)?,
        None => StoredPreference::default(),
    };
    let user: Option<UserRecord> = match &user_raw {
        Some(bytes) => Some(crate::store::decode_json(USERS, bytes)?),
        None => None,
    };
    let email = pref
        .email
        .clone()
        .or_else(|| user.as_ref().and_then(|u| u.email.clone()));
    let r = Recipient {
        org_id: user.map(|u| u.org_id),
        email,
        pref,
    };
    let mut map = cache.0.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= RECIPIENT_CACHE_MAX && !map.contains_key(user_id) {
        map.clear();
    }
    map.insert(
        user_id.to_owned(),
        CachedRecipient {
            pref_raw,
            user_raw,
            recipient: r.clone(),
        },
    );
    Ok((r.pref.mode != NotifyMode::Off).then_some(r))
}

fn recipient(state: &AppState, user_id: &str) -> Result<Recipient, ApiError> {
    let user = state
        .store
        .get_json::<UserRecord>(USERS, user_id.as_bytes())?;
    let pref = engine::preference(state.store.as_ref(), user_id)?;
    let email = pref
        .email
        .clone()
        .or_else(|| user.as_ref().and_then(|u| u.email.clone()));
    Ok(Recipient {
        org_id: user.map(|u| u.org_id),
        email,
        pref,
    })
}

/// Runs store work off the async workers.
async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
{
    let st = state.clone();
    tokio::task::spawn_blocking(move || f(&st))
        .await
        .map_err(|e| ApiError::internal("blocking task", &e))?
}

/// Handles one relay event: new messages and completed uploads notify the room's other users;
/// account security events mail the user ([`security`]).
///
/// The store work (members, preferences, digest queues, audit entries) runs on the blocking
/// pool; only the SMTP sends run on the async workers. Every mail sent or failed is audited,
/// one entry per recipient.
pub async fn on_event(
    state: &AppState,
    mailer: &dyn Mailer,
    settings: &NotifySettings,
    event: &RelayEvent,
) -> Result<(), ApiError> {
    if let RelayEvent::AccountSecurity { user_id, kind } = event {
        return security::notify(state, mailer, settings, user_id, kind).await;
    }
    let (room_id, space_id, sender) = match event {
        RelayEvent::MessagePosted {
            room_id,
            space_id,
            user_id,
            ..
        }
        | RelayEvent::BlobCompleted {
            room_id,
            space_id,
            user_id,
            ..
        } => (room_id.clone(), space_id.clone(), user_id.clone()),
        _ => return Ok(()),
    };
    let periods = settings.periods;
    let space = space_id.clone();
    let immediate = blocking(state, move |state| {
        let users: BTreeSet<String> = crate::rooms::data::members(state.store.as_ref(), &room_id)?
            .into_iter()
            .map(|m| m.user_id)
            .filter(|u| *u != sender)
            .collect();
        let mut immediate = Vec::new();
        for user_id in users {
            let Some(r) = recipient_unless_off(state, &user_id)? else {
                continue;
            };
            match r.pref.mode {
                NotifyMode::Immediate => immediate.push((user_id, r)),
                NotifyMode::Hourly | NotifyMode::Daily => {
                    engine::enqueue(
                        state.store.as_ref(),
                        &user_id,
                        r.org_id.as_deref(),
                        r.pref.mode,
                        &space,
                        now_ms(state),
                        periods,
                    )?;
                }
                _ => {}
            }
        }
        Ok(immediate)
    })
    .await?;
    if immediate.is_empty() {
        return Ok(());
    }
    let mail = engine::compose_immediate(&settings.portal_url, &space_id);
    let mut outcomes = Vec::with_capacity(immediate.len());
    for (user_id, r) in immediate {
        let outcome = send(mailer, &r, &mail).await;
        outcomes.push((user_id, r, outcome));
    }
    let detail = format!("immediate space={space_id}");
    // One transaction for every recipient's entry (a room of 200 made 200 commits before).
    let events = outcomes
        .into_iter()
        .map(|(user_id, r, outcome)| outcome_event(&user_id, &r, detail.clone(), outcome).0)
        .collect();
    blocking(state, move |state| Ok(audit::record_all(state, events)?)).await
}

async fn send(mailer: &dyn Mailer, r: &Recipient, mail: &MailContent) -> Result<(), MailError> {
    match &r.email {
        Some(to) => mailer.send(to, mail).await,
        None => Err(MailError::Address("user has no e-mail address".to_owned())),
    }
}

/// The audit entry of one mail's outcome, and whether it was sent.
fn outcome_event(
    user_id: &str,
    r: &Recipient,
    detail: String,
    outcome: Result<(), MailError>,
) -> (AuditEvent, bool) {
    let mut event_base = AuditEvent::new(AuditAction::NotificationSend).object(user_id);
    if let Some(org) = &r.org_id {
        event_base = event_base.org(org.clone());
    }
    match outcome {
        Ok(()) => (event_base.detail(detail), true),
        Err(e) => {
            if matches!(e, MailError::Disabled) {
                // Said once at start (`spawn`); a line per recipient of every event would only
                // repeat it (tens of thousands a second under load).
                tracing::debug!(error = %e, "notification not delivered");
            } else {
                tracing::warn!(error = %e, "notification not delivered");
            }
            let mut failed = event_base.detail(format!("{detail} error={}", error_code(&e)));
            failed.action = AuditAction::NotificationFail;
            (failed, false)
        }
    }
}

/// Audits the outcome of one mail. Returns whether it was sent.
fn audit_outcome(
    state: &AppState,
    user_id: &str,
    r: &Recipient,
    detail: String,
    outcome: Result<(), MailError>,
) -> Result<bool, ApiError> {
    let (event, sent) = outcome_event(user_id, r, detail, outcome);
    audit::record(state, event)?;
    Ok(sent)
}

/// Sends one mail and audits the outcome. Returns whether it was sent.
async fn deliver(
    state: &AppState,
    mailer: &dyn Mailer,
    user_id: &str,
    r: &Recipient,
    mail: &MailContent,
    detail: String,
) -> Result<bool, ApiError> {
    let outcome = send(mailer, r, mail).await;
    let (user, r) = (user_id.to_owned(), r.clone());
    blocking(state, move |state| {
        audit_outcome(state, &user, &r, detail, outcome)
    })
    .await
}

fn error_code(e: &MailError) -> &'static str {
    match e {
        MailError::Disabled => "smtp_disabled",
        MailError::Address(_) => "address",
        MailError::Build(_) => "build",
        MailError::Smtp(_) => "smtp",
        MailError::TlsMode(_) => "tls_mode",
    }
}

/// Sends every digest that is due. A digest that fails for a transient reason is merged back
/// and retried at the next tick; one that can never be delivered (no address, no SMTP) is
/// dropped after being audited.
pub async fn send_due_digests(
    state: &AppState,
    mailer: &dyn Mailer,
    settings: &NotifySettings,
) -> Result<(), ApiError> {
    let due = blocking(state, |state| {
        let due = engine::take_due(state.store.as_ref(), now_ms(state))?;
        due.into_iter()
            .map(|(user_id, digest)| Ok((recipient(state, &user_id)?, user_id, digest)))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    for (r, user_id, digest) in due {
        let mail = engine::compose_digest(&settings.portal_url, &digest);
        let detail = format!(
            "{} digest items={} spaces={}",
            digest.mode,
            digest.items(),
            digest.spaces.len()
        );
        let sent = deliver(state, mailer, &user_id, &r, &mail, detail).await?;
        let permanent = r.email.is_none() || state.config.smtp.host.is_none();
        if !sent && !permanent {
            blocking(state, move |state| {
                Ok(engine::requeue(state.store.as_ref(), &user_id, &digest)?)
            })
            .await?;
        }
    }
    Ok(())
}

pub(crate) fn get_preference(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let r = recipient(state, &authed.user_id)?;
    Ok(ok_json(&NotifyPreference {
        mode: r.pref.mode,
        email: r.email,
        mail_configured: Some(state.config.smtp.host.is_some()),
    }))
}

pub(crate) fn put_preference(state: &AppState, authed: &AuthedDevice) -> Result<Reply, ApiError> {
    let body: NotifyPreference = authed.json()?;
    if let Some(email) = &body.email {
        if !check_email(email) {
            return Err(ApiError::bad_request("invalid e-mail address"));
        }
    }
    let current = engine::preference(state.store.as_ref(), &authed.user_id)?;
    let pref = StoredPreference {
        mode: body.mode,
        email: body.email.or(current.email),
    };
    // The preference, its pending digest and the `notify.preference_set` entry: one
    // transaction.
    let event = audit::event_by(AuditAction::NotifyPreferenceSet, authed)
        .object(authed.user_id.clone())
        .detail(pref.mode.as_str());
    engine::set_preference_with(
        state.store.as_ref(),
        &authed.user_id,
        &pref,
        now_ms(state),
        settings(state).periods,
        &|txn| audit::within(state, txn, vec![event.clone()]),
    )
    .map_err(audit::txn_error)?;
    get_preference(state, authed)
}

#[cfg(test)]
mod tests {
    use tokio::sync::watch;

    use super::*;
    use crate::config::Config;

    fn state() -> (AppState, watch::Sender<bool>) {
        AppState::for_tests(Config::default())
    }

    fn set(state: &AppState, user: &str, mode: NotifyMode, email: Option<&str>) {
        let pref = StoredPreference {
            mode,
            email: email.map(str::to_owned),
        };
        engine::set_preference(state.store.as_ref(), user, &pref, 0, Periods::default()).unwrap();
    }

    /// A preference change, its pending digest's and its `notify.preference_set` entry commit
    /// together: with a damaged audit chain head none is stored, with a sound one all are.
    #[test]
    fn a_preference_and_its_entry_are_one_commit() {
        use crate::audit::chain::{self, HEAD_KEY, META_TREE};
        let (state, _tx) = state();
        let s = state.store.as_ref();
        set(&state, "u", NotifyMode::Daily, None);
        let periods = Periods::default();
        engine::enqueue(s, "u", None, NotifyMode::Daily, "s1", 0, periods).unwrap();
        let body = serde_json::to_vec(&NotifyPreference {
            mode: NotifyMode::Immediate,
            email: Some("u@example.com".into()),
            mail_configured: None,
        })
        .unwrap();
        let authed =
            AuthedDevice::for_tests("o", "u", "u-d", crate::directory::Role::Customer, body);

        s.put(META_TREE, HEAD_KEY, b"damaged").unwrap();
        let refused = put_preference(&state, &authed).unwrap_err();
        assert_eq!(refused.status(), 500, "refused: {refused:?}");
        let kept = engine::preference(s, "u").unwrap();
        assert_eq!(kept.mode, NotifyMode::Daily, "no change without its entry");
        assert_eq!(kept.email, None);
        assert!(s.get(engine::PENDING_TREE, b"u").unwrap().is_some());

        s.delete(META_TREE, HEAD_KEY).unwrap();
        put_preference(&state, &authed).unwrap();
        let now = engine::preference(s, "u").unwrap();
        assert_eq!(now.mode, NotifyMode::Immediate);
        assert_eq!(now.email.as_deref(), Some("u@example.com"));
        assert!(s.get(engine::PENDING_TREE, b"u").unwrap().is_none());
        assert_eq!(chain::head(s).unwrap().unwrap().seq, 1);
    }

    #[test]
    fn cached_recipients_follow_every_stored_change() {
        let (state, _tx) = state();
        // No preference stored: the default (immediate) and no address.
        let r = recipient_unless_off(&state, "u").unwrap().unwrap();
        assert_eq!(r.pref.mode, NotifyMode::Immediate);
        assert_eq!(r.email, None);
        // Turned off: skipped, also when asked again from the cache.
        set(&state, "u", NotifyMode::Off, None);
        assert!(recipient_unless_off(&state, "u").unwrap().is_none());
        assert!(recipient_unless_off(&state, "u").unwrap().is_none());
        // Back on with an address: seen at once.
        set(&state, "u", NotifyMode::Daily, Some("u@example.com"));
        let r = recipient_unless_off(&state, "u").unwrap().unwrap();
        assert_eq!(r.pref.mode, NotifyMode::Daily);
        assert_eq!(r.email.as_deref(), Some("u@example.com"));
        // Erased: back to the default.
        let mut txn = crate::store::Txn::new();
        engine::forget_user(&mut txn, "u");
        state.store.commit(&txn).unwrap();
        let r = recipient_unless_off(&state, "u").unwrap().unwrap();
        assert_eq!(r.pref.mode, NotifyMode::Immediate);
        assert_eq!(r.email, None);
    }
}
