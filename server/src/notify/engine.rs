//! Notification bookkeeping over any [`Store`]: per-user preferences, pending digests and the
//! content-free mail texts. No HTTP and no SMTP here.
//!
//! A digest collects, per user, how many new items arrived in each space since the last digest.
//! Its due time is the end of the current period, aligned to multiples of the period since the
//! Unix epoch (hourly digests at the top of the hour, daily ones at 00:00 UTC with the default
//! periods). Pending digests live in the store, so they survive a restart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sealroom_wire::notify::NotifyMode;

use crate::store::{decode_json, encode_json, Store, StoreError, Txn, TxnError};

/// Tree: user id -> [`StoredPreference`].
pub const PREFS_TREE: &str = "notify_prefs";
/// Tree: user id -> [`PendingDigest`].
pub const PENDING_TREE: &str = "notify_pending";

/// How often a read-modify-write of one user's pending digest retries under contention.
const CAS_ATTEMPTS: usize = 64;

/// A user's stored preference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPreference {
    /// How often to notify.
    pub mode: NotifyMode,
    /// Address overriding the one in the user record, if set.
    pub email: Option<String>,
}

/// Digest periods in milliseconds (scaled down in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    /// Length of the "hourly" period.
    pub hourly_ms: u64,
    /// Length of the "daily" period.
    pub daily_ms: u64,
}

impl Default for Periods {
    fn default() -> Self {
        Self {
            hourly_ms: 3_600_000,
            daily_ms: 86_400_000,
        }
    }
}

impl Periods {
    /// The period of a digest mode; `None` for immediate and off.
    pub fn of(&self, mode: NotifyMode) -> Option<u64> {
        match mode {
            NotifyMode::Hourly => Some(self.hourly_ms.max(1)),
            NotifyMode::Daily => Some(self.daily_ms.max(1)),
            _ => None,
        }
    }
}

/// What a user has waiting for their next digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDigest {
    /// The mode the items were collected under.
    pub mode: NotifyMode,
    /// When the digest is due (ms since the epoch).
    pub due_ms: u64,
    /// Organisation of the user (for the audit entry).
    pub org_id: Option<String>,
    /// New items per space id.
    pub spaces: BTreeMap<String, u64>,
}

impl PendingDigest {
    /// Total number of new items.
    pub fn items(&self) -> u64 {
        self.spaces.values().sum()
    }
}

/// The subject and plain-text body of a mail. Holds ids and counts only, never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// The stored preference of `user_id` (immediate, no override, when none is stored).
pub fn preference(store: &dyn Store, user_id: &str) -> Result<StoredPreference, StoreError> {
    Ok(match store.get(PREFS_TREE, user_id.as_bytes())? {
        Some(bytes) => decode_json(PREFS_TREE, &bytes)?,
        None => StoredPreference::default(),
    })
}

/// Stores the preference of `user_id`. Switching to immediate or off drops a pending digest;
/// switching between digest modes keeps the collected items under the new mode.
pub fn set_preference(
    store: &dyn Store,
    user_id: &str,
    pref: &StoredPreference,
    now_ms: u64,
    periods: Periods,
) -> Result<(), TxnError> {
    set_preference_with(store, user_id, pref, now_ms, periods, &|_| {})
}

/// [`set_preference`] with more writes in the same transaction (`with` adds them: the
/// `notify.preference_set` entry), so that the preference, its pending digest and those land
/// together or not at all. A refusal (of a derive `with` added) is returned as it is.
pub fn set_preference_with(
    store: &dyn Store,
    user_id: &str,
    pref: &StoredPreference,
    now_ms: u64,
    periods: Periods,
    with: &dyn Fn(&mut Txn),
) -> Result<(), TxnError> {
    let key = user_id.as_bytes();
    let encoded = encode_json(PREFS_TREE, pref)?;
    for _ in 0..CAS_ATTEMPTS {
        let mut txn = Txn::new();
        txn.put(PREFS_TREE, key, &encoded);
        match periods.of(pref.mode) {
            None => {
                txn.delete(PENDING_TREE, key);
            }
            Some(period) => {
                // The pending digest, if any, moves to the new mode (checked: a digest taken
                // or grown meanwhile makes this attempt start over).
                let old = store.get(PENDING_TREE, key)?;
                txn.check(PENDING_TREE, key, old.as_deref());
                let current = match &old {
                    Some(bytes) => decode_json::<PendingDigest>(PENDING_TREE, bytes).ok(),
                    None => None,
                };
                match current {
                    Some(mut p) => {
                        p.mode = pref.mode;
                        p.due_ms = p.due_ms.min(next_boundary(now_ms, period));
                        txn.put_json(PENDING_TREE, key, &p)?;
                    }
                    None => {
                        txn.delete(PENDING_TREE, key);
                    }
                }
            }
        }
        with(&mut txn);
        match store.commit(&txn) {
            Ok(()) => return Ok(()),
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Backend("pending digest contended, preference not set".to_owned()).into())
}

/// Adds to `txn` the removal of everything stored for `user_id` (erasure).
pub fn forget_user(txn: &mut Txn, user_id: &str) {
    txn.delete(PREFS_TREE, user_id.as_bytes());
    txn.delete(PENDING_TREE, user_id.as_bytes());
}

/// The end of the period containing `now_ms`.
pub fn next_boundary(now_ms: u64, period_ms: u64) -> u64 {
    let period = period_ms.max(1);
    (now_ms / period).saturating_add(1).saturating_mul(period)
}

/// Adds one new item in `space_id` to the pending digest of `user_id`.
pub fn enqueue(
    store: &dyn Store,
    user_id: &str,
    org_id: Option<&str>,
    mode: NotifyMode,
    space_id: &str,
    now_ms: u64,
    periods: Periods,
) -> Result<(), StoreError> {
    let Some(period) = periods.of(mode) else {
        return Ok(());
    };
    update_pending(store, user_id, |current| {
        let mut p = current.unwrap_or_else(|| PendingDigest {
            mode,
            due_ms: next_boundary(now_ms, period),
            org_id: org_id.map(str::to_owned),
            spaces: BTreeMap::new(),
        });
        let count = p.spaces.entry(space_id.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        Some(p)
    })
}

/// Merges `digest` back into the pending digest of `user_id` (after a failed send).
pub fn requeue(store: &dyn Store, user_id: &str, digest: &PendingDigest) -> Result<(), StoreError> {
    update_pending(store, user_id, |current| {
        let mut p = current.unwrap_or_else(|| PendingDigest {
            spaces: BTreeMap::new(),
            ..digest.clone()
        });
        for (space, n) in &digest.spaces {
            let count = p.spaces.entry(space.clone()).or_insert(0);
            *count = count.saturating_add(*n);
        }
        p.due_ms = p.due_ms.min(digest.due_ms);
        Some(p)
    })
}

/// Atomically removes and returns every pending digest due at `now_ms`.
pub fn take_due(
    store: &dyn Store,
    now_ms: u64,
) -> Result<Vec<(String, PendingDigest)>, StoreError> {
    let mut due = Vec::new();
    let candidates: Vec<(Vec<u8>, Vec<u8>)> = store
        .scan_prefix(PENDING_TREE, &[])?
        .collect::<Result<_, _>>()?;
    for (key, value) in candidates {
        let digest: PendingDigest = match decode_json(PENDING_TREE, &value) {
            Ok(d) => d,
            Err(e) => {
                // A record that does not decode can never be sent: drop it rather than
                // failing every tick.
                tracing::warn!(error = %e, "dropping undecodable pending digest");
                store.delete(PENDING_TREE, &key)?;
                continue;
            }
        };
        if digest.due_ms > now_ms {
            continue;
        }
        // Only take it if it did not change since we read it; otherwise the next tick will.
        if store.compare_and_swap(PENDING_TREE, &key, Some(&value), None)? {
            match String::from_utf8(key) {
                Ok(user) => due.push((user, digest)),
                Err(_) => tracing::warn!("dropping pending digest with a non-UTF-8 key"),
            }
        }
    }
    Ok(due)
}

fn update_pending<F>(store: &dyn Store, user_id: &str, f: F) -> Result<(), StoreError>
where
    F: Fn(Option<PendingDigest>) -> Option<PendingDigest>,
{
    let key = user_id.as_bytes();
    for _ in 0..CAS_ATTEMPTS {
        let old = store.get(PENDING_TREE, key)?;
        let current = match &old {
            Some(bytes) => decode_json(PENDING_TREE, bytes).ok(),
            None => None,
        };
        let mut txn = Txn::new();
        txn.check(PENDING_TREE, key, old.as_deref());
        match f(current) {
            Some(new) => {
                txn.put_json(PENDING_TREE, key, &new)?;
            }
            None => {
                txn.delete(PENDING_TREE, key);
            }
        }
        match store.commit(&txn) {
            Ok(()) => return Ok(()),
            Err(TxnError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Backend(
        "pending digest contended, update not applied".to_owned(),
    ))
}

/// The deep link into the portal for a space.
pub fn space_link(portal_url: &str, space_id: &str) -> String {
    format!("{}/#/space/{space_id}", portal_url.trim_end_matches('/'))
}

/// The mail for one new item in one space.
pub fn compose_immediate(portal_url: &str, space_id: &str) -> MailContent {
    MailContent {
        subject: "Something new in one of your Sealroom spaces".to_owned(),
        body: format!(
            "Hello,\r\n\r\nThere is something new for you in a space.\r\n\r\n\
             Open it in the portal:\r\n{}\r\n\r\n\
             For your privacy this mail says nothing about the content; only the portal can \
             show it.\r\nYou get one mail per new item. Change this in the portal's \
             notification settings.\r\n",
            space_link(portal_url, space_id)
        ),
    }
}

/// The mail for a digest: counts per space and one link per space.
pub fn compose_digest(portal_url: &str, digest: &PendingDigest) -> MailContent {
    let items = digest.items();
    let spaces = digest.spaces.len();
    let period = match digest.mode {
        NotifyMode::Daily => "daily",
        _ => "hourly",
    };
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let summary = format!(
        "{} in {}",
        plural(items, "new item", "new items"),
        plural(spaces as u64, "space", "spaces")
    );
    let mut body = format!("Hello,\r\n\r\nYour {period} summary: {summary}.\r\n\r\n");
    for (space, n) in &digest.spaces {
        body.push_str(&format!(
            "- {}: {}\r\n",
            plural(*n, "new item", "new items"),
            space_link(portal_url, space)
        ));
    }
    body.push_str(
        "\r\nFor your privacy this mail says nothing about the content; only the portal can \
         show it.\r\nChange how often you hear from us in the portal's notification settings.\r\n",
    );
    MailContent {
        subject: format!("Sealroom {period} digest: {summary}"),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RedbStore;

    const P: Periods = Periods {
        hourly_ms: 1000,
        daily_ms: 10_000,
    };

    #[test]
    fn preferences_default_and_round_trip() {
        let s = RedbStore::temporary().unwrap();
        assert_eq!(preference(&s, "u").unwrap().mode, NotifyMode::Immediate);
        let pref = StoredPreference {
            mode: NotifyMode::Daily,
            email: Some("u@example.com".into()),
        };
        set_preference(&s, "u", &pref, 0, P).unwrap();
        assert_eq!(preference(&s, "u").unwrap(), pref);
        let mut txn = Txn::new();
        forget_user(&mut txn, "u");
        s.commit(&txn).unwrap();
        assert_eq!(preference(&s, "u").unwrap(), StoredPreference::default());
    }

    #[test]
    fn digests_aggregate_and_come_due_at_the_period_boundary() {
        let s = RedbStore::temporary().unwrap();
        enqueue(&s, "u", Some("o"), NotifyMode::Hourly, "s1", 1_500, P).unwrap();
        enqueue(&s, "u", Some("o"), NotifyMode::Hourly, "s1", 1_600, P).unwrap();
        enqueue(&s, "u", Some("o"), NotifyMode::Hourly, "s2", 1_700, P).unwrap();
        enqueue(&s, "v", Some("o"), NotifyMode::Daily, "s1", 1_700, P).unwrap();
        enqueue(&s, "w", Some("o"), NotifyMode::Immediate, "s1", 1_700, P).unwrap();
        enqueue(&s, "x", Some("o"), NotifyMode::Off, "s1", 1_700, P).unwrap();
        assert!(take_due(&s, 1_999).unwrap().is_empty());
        let due = take_due(&s, 2_000).unwrap();
        assert_eq!(due.len(), 1);
        let (user, digest) = &due[0];
        assert_eq!(user, "u");
        assert_eq!(digest.items(), 3);
        assert_eq!(digest.spaces.len(), 2);
        // Taken means gone.
        assert!(take_due(&s, 2_000).unwrap().is_empty());
        let due = take_due(&s, 10_000).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, "v");
        assert_eq!(due[0].1.mode, NotifyMode::Daily);

        // A failed send is merged back.
        requeue(&s, "u", digest).unwrap();
        enqueue(&s, "u", Some("o"), NotifyMode::Hourly, "s3", 2_100, P).unwrap();
        let due = take_due(&s, 3_000).unwrap();
        assert_eq!(due[0].1.items(), 4);
        assert_eq!(due[0].1.spaces.len(), 3);
    }

    #[test]
    fn switching_to_immediate_drops_pending() {
        let s = RedbStore::temporary().unwrap();
        enqueue(&s, "u", None, NotifyMode::Daily, "s1", 0, P).unwrap();
        let pref = StoredPreference {
            mode: NotifyMode::Immediate,
            email: None,
        };
        set_preference(&s, "u", &pref, 0, P).unwrap();
        assert!(take_due(&s, u64::MAX).unwrap().is_empty());
    }

    #[test]
    fn mails_hold_links_and_counts_only() {
        let m = compose_immediate("https://portal.example/", "sp-1");
        assert!(m.body.contains("https://portal.example/#/space/sp-1"));
        let mut spaces = BTreeMap::new();
        spaces.insert("a".to_owned(), 2);
        spaces.insert("b".to_owned(), 1);
        let d = PendingDigest {
            mode: NotifyMode::Daily,
            due_ms: 0,
            org_id: None,
            spaces,
        };
        let m = compose_digest("https://p", &d);
        assert_eq!(m.subject, "Sealroom daily digest: 3 new items in 2 spaces");
        assert!(m.body.contains("- 2 new items: https://p/#/space/a"));
        assert!(m.body.contains("- 1 new item: https://p/#/space/b"));
    }
}
