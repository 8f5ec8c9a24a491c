//! Notification preference and retention policy wire types.
//!
//! Notifications are content-free: a mail says only that something is new in a space and links
//! into the portal. Each user chooses how often they hear about it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a user wants to hear about new files and messages in their rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NotifyMode {
    /// One mail per new item, sent at once.
    #[default]
    Immediate,
    /// At most one mail per hour, aggregating everything new since the last one.
    Hourly,
    /// At most one mail per day, aggregating everything new since the last one.
    Daily,
    /// No mail.
    Off,
}

impl NotifyMode {
    /// The stable string form (`immediate`, `hourly`, `daily`, `off`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for NotifyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string did not name a [`NotifyMode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMode;

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown notification mode")
    }
}

impl std::error::Error for UnknownMode {}

impl FromStr for NotifyMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Immediate, Self::Hourly, Self::Daily, Self::Off]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(UnknownMode)
    }
}

/// Body of `GET`/`PUT /v1/me/notifications`: the calling user's preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NotifyPreference {
    /// How often to notify.
    pub mode: NotifyMode,
    /// Address the mails go to. On `PUT`, `None` keeps the stored address (or the one given at
    /// registration). On `GET`, the address in use, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// On `GET` (and the answer to `PUT`): whether this relay has an outgoing mail server
    /// configured; `false` means no notification is ever mailed, whatever the preference.
    /// Ignored on `PUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_configured: Option<bool>,
}

/// Body of `GET`/`PUT /v1/spaces/{space_id}/retention`: how long ciphertext is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Messages and blobs older than this many days are deleted; `None` keeps them forever.
    pub days: Option<u32>,
}

/// Largest retention period accepted, in days (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Maximum length in bytes of a notification e-mail address.
pub const MAX_EMAIL_LEN: usize = 254;

/// Checks the shape of an e-mail address: `local@domain`, at most [`MAX_EMAIL_LEN`] bytes, no
/// whitespace, control characters, angle brackets, quotes or commas (which could inject extra
/// recipients or headers). Deliverability is the mail server's business.
pub fn check_email(addr: &str) -> bool {
    if addr.is_empty() || addr.len() > MAX_EMAIL_LEN {
        return false;
    }
    if addr
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>\",;:()[]\\".contains(c))
    {
        return false;
    }
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in [
            NotifyMode::Immediate,
            NotifyMode::Hourly,
            NotifyMode::Daily,
            NotifyMode::Off,
        ] {
            assert_eq!(m.as_str().parse::<NotifyMode>(), Ok(m));
        }
        assert_eq!("weekly".parse::<NotifyMode>(), Err(UnknownMode));
    }

    #[test]
    fn email_shapes() {
        for good in ["a@b", "alice@example.com", "x.y+z@sub.example.org"] {
            assert!(check_email(good), "{good}");
        }
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "a b@c",
            "a@b\r\nBcc: x@y",
            "<a@b>",
            "a@b,c@d",
            "a@.b",
        ] {
            assert!(!check_email(bad), "{bad:?}");
        }
        assert!(!check_email(&format!("{}@b", "a".repeat(MAX_EMAIL_LEN))));
    }
}
