//! Security notices: a content-free mail to a user whenever someone asks to add a device to
//! their account, a device is approved, TOTP approval locks after wrong codes, or TOTP is
//! unlocked or reset. They go to the user's address whatever their notification preference
//! (a preference of `off` silences news about spaces, not about the account), and each is
//! audited like every other mail.

use sealroom_wire::accounts::SecurityEventKind;

use super::engine::MailContent;
use super::{blocking, recipient, send, NotifySettings};
use crate::error::ApiError;
use crate::notify::mailer::Mailer;
use crate::state::AppState;

/// The mail for one kind of event (named by [`SecurityEventKind::as_str`]); `None` for kinds
/// that are not mailed.
pub fn compose(portal_url: &str, kind: &str) -> Option<MailContent> {
    let (subject, what) = match kind {
        k if k == SecurityEventKind::DeviceRequested.as_str() => (
            "Sealroom: a new device asked to join your account",
            "Someone asked to add a new device to your Sealroom account. If this was you, \
             approve it from a device you already use. If not, do nothing: the request expires, \
             and your devices show it under security events.",
        ),
        k if k == SecurityEventKind::DeviceApprovedByDevice.as_str() => (
            "Sealroom: a new device was approved",
            "One of your devices approved a new device for your Sealroom account. If this was \
             not you, revoke the device in the portal at once.",
        ),
        k if k == SecurityEventKind::DeviceApprovedByTotp.as_str() => (
            "Sealroom: a new device was approved with your authenticator code",
            "A new device was added to your Sealroom account with a code from your \
             authenticator app. It cannot open your recovery backup until the waiting period \
             ends or one of your devices approves it. If this was not you, revoke the device \
             from one of your devices and reset your authenticator.",
        ),
        k if k == SecurityEventKind::TotpLocked.as_str() => (
            "Sealroom: authenticator approval locked",
            "Too many wrong authenticator codes were entered for your Sealroom account, so \
             approving devices with a code is locked. One of your devices or an administrator \
             can unlock it. If this was not you, consider resetting your authenticator.",
        ),
        k if k == SecurityEventKind::TotpUnlocked.as_str() => (
            "Sealroom: authenticator approval unlocked",
            "One of your devices unlocked approving devices with an authenticator code.",
        ),
        k if k == SecurityEventKind::TotpReset.as_str() => (
            "Sealroom: your authenticator was reset",
            "The authenticator enrolment of your Sealroom account was removed (by you or an \
             administrator). Codes from the old authenticator no longer approve devices.",
        ),
        k if k == SecurityEventKind::DeviceRevoked.as_str() => (
            "Sealroom: a device was removed from your account",
            "A device was removed from your Sealroom account (by you from another device or by \
             an administrator). It can no longer sign in, and it is being removed from your \
             spaces. If you did not expect this, contact your administrator.",
        ),
        k if k == SecurityEventKind::IdentityReset.as_str() => (
            "Sealroom: your identity key was reset",
            "An administrator reset the identity key of your Sealroom account. Your devices \
             show as unverified to others until one of them creates a new identity key and \
             vouches for the others, and the people you share spaces with will be asked to \
             compare your new safety number. If you did not ask for this, contact your \
             administrator.",
        ),
        _ => return None,
    };
    Some(MailContent {
        subject: subject.to_owned(),
        body: format!(
            "Hello,\r\n\r\n{what}\r\n\r\nOpen the portal:\r\n{}/\r\n\r\n\
             This mail is sent for every change to the devices of your account.\r\n",
            portal_url.trim_end_matches('/')
        ),
    })
}

/// Mails the user about `kind` and audits the outcome.
pub(super) async fn notify(
    state: &AppState,
    mailer: &dyn Mailer,
    settings: &NotifySettings,
    user_id: &str,
    kind: &str,
) -> Result<(), ApiError> {
    let Some(mail) = compose(&settings.portal_url, kind) else {
        return Ok(());
    };
    let user = user_id.to_owned();
    let r = blocking(state, move |state| recipient(state, &user)).await?;
    let outcome = send(mailer, &r, &mail).await;
    let (user, detail) = (user_id.to_owned(), format!("security kind={kind}"));
    blocking(state, move |state| {
        super::audit_outcome(state, &user, &r, detail, outcome)
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mailed_kind_has_a_content_free_mail() {
        for kind in [
            SecurityEventKind::DeviceRequested,
            SecurityEventKind::DeviceApprovedByDevice,
            SecurityEventKind::DeviceApprovedByTotp,
            SecurityEventKind::TotpLocked,
            SecurityEventKind::TotpUnlocked,
            SecurityEventKind::TotpReset,
            SecurityEventKind::DeviceRevoked,
        ] {
            let mail = compose("https://portal.example", kind.as_str()).unwrap();
            assert!(mail.body.contains("https://portal.example/"));
        }
        assert!(compose("https://portal.example", "totp_failed").is_none());
    }
}
