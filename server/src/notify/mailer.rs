//! Sending mail: the [`Mailer`] interface and its SMTP implementation (`lettre`, tokio).
//!
//! Transport security (`SEALROOM_SMTP_TLS`):
//! - `starttls`: plain connection upgraded with STARTTLS, which is required (port 587);
//! - `tls`: TLS from the first byte ("SMTPS", port 465);
//! - `none`: no TLS. Only sensible to a mail server on the same machine or a private link.
//!
//! The default is `none` when the host is a loopback address or `localhost`, and `starttls`
//! for every other host, so credentials never cross a network in the clear by accident.
//! Certificates are checked against the Web PKI roots (webpki-roots) with rustls.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::engine::MailContent;

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// No SMTP host is configured.
    #[error("no SMTP server configured")]
    Disabled,
    /// The sender or recipient address does not parse.
    #[error("invalid address: {0}")]
    Address(String),
    /// The message could not be built.
    #[error("cannot build message: {0}")]
    Build(String),
    /// The SMTP server refused the mail or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(String),
    /// The TLS mode setting is not one of `none`, `starttls`, `tls`.
    #[error("invalid SMTP TLS mode {0:?} (none, starttls or tls)")]
    TlsMode(String),
}

/// Transport security towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// No TLS.
    None,
    /// STARTTLS, required.
    StartTls,
    /// Implicit TLS.
    Tls,
}

impl SmtpTls {
    /// Parses `none`, `starttls` or `tls`.
    pub fn parse(s: &str) -> Result<Self, MailError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "plain" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" | "smtps" => Ok(Self::Tls),
            other => Err(MailError::TlsMode(other.to_owned())),
        }
    }

    /// The default for `host`: none for loopback, STARTTLS otherwise.
    pub fn default_for(host: &str) -> Self {
        let h = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if loopback {
            Self::None
        } else {
            Self::StartTls
        }
    }
}

/// Everything needed to reach the SMTP server.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Sender address (`From` and envelope).
    pub from: String,
    /// SMTP AUTH user and password.
    pub credentials: Option<(String, String)>,
    /// Transport security.
    pub tls: SmtpTls,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is left out on purpose.
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("auth", &self.credentials.is_some())
            .field("tls", &self.tls)
            .finish()
    }
}

/// A boxed future returned by [`Mailer::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Something that delivers mail.
pub trait Mailer: Send + Sync + 'static {
    /// Sends `mail` to `to`.
    fn send<'a>(&'a self, to: &'a str, mail: &'a MailContent) -> SendFuture<'a>;
}

/// Delivers over SMTP.
pub struct SmtpMailer {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Builds the transport; connects only when a mail is sent.
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Address(format!("from: {e}")))?;
        let builder = match settings.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|e| MailError::Smtp(e.to_string()))?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| MailError::Smtp(e.to_string()))?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            from,
            transport: builder.build(),
        })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, to: &'a str, mail: &'a MailContent) -> SendFuture<'a> {
        Box::pin(async move {
            let to: Mailbox = to
                .parse()
                .map_err(|e| MailError::Address(format!("to: {e}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.clone())
                .map_err(|e| MailError::Build(e.to_string()))?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Smtp(e.to_string()))
        })
    }
}

/// Used when no SMTP host is configured: every send fails with [`MailError::Disabled`].
#[derive(Debug, Default)]
pub struct NoMailer;

impl Mailer for NoMailer {
    fn send<'a>(&'a self, _to: &'a str, _mail: &'a MailContent) -> SendFuture<'a> {
        Box::pin(async { Err(MailError::Disabled) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes() {
        assert_eq!(SmtpTls::parse("STARTTLS").unwrap(), SmtpTls::StartTls);
        assert_eq!(SmtpTls::parse("tls").unwrap(), SmtpTls::Tls);
        assert_eq!(SmtpTls::parse("none").unwrap(), SmtpTls::None);
        assert!(SmtpTls::parse("maybe").is_err());
        assert_eq!(SmtpTls::default_for("127.0.0.1"), SmtpTls::None);
        assert_eq!(SmtpTls::default_for("[::1]"), SmtpTls::None);
        assert_eq!(SmtpTls::default_for("localhost"), SmtpTls::None);
        assert_eq!(SmtpTls::default_for("smtp.example.com"), SmtpTls::StartTls);
        assert_eq!(SmtpTls::default_for("10.0.0.5"), SmtpTls::StartTls);
    }

    #[test]
    fn settings_debug_hides_the_password() {
        let s = SmtpSettings {
            host: "h".into(),
            port: 25,
            from: "a@b".into(),
            credentials: Some(("user".into(), "hunter2".into())),
            tls: SmtpTls::StartTls,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn builds_for_every_mode() {
        for tls in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Tls] {
            let s = SmtpSettings {
                host: "mail.example.com".into(),
                port: 2525,
                from: "Sealroom <noreply@example.com>".into(),
                credentials: None,
                tls,
            };
            SmtpMailer::new(&s).unwrap();
        }
        let bad = SmtpSettings {
            host: "h".into(),
            port: 25,
            from: "not an address".into(),
            credentials: None,
            tls: SmtpTls::None,
        };
        assert!(matches!(SmtpMailer::new(&bad), Err(MailError::Address(_))));
    }
}
