//! Second devices, TOTP, preferences and administration: linking a new device to an existing
//! user (approved by one of the user's devices, or by a TOTP code), notification and retention
//! settings, the audit log, and erasing users.

use zeroize::Zeroizing;

use sealroom_wire::accounts::{
    ApproveDevice, DeviceRequestCreate, DeviceRequestInfo, DeviceRequestStatus, Me, Registered,
    TotpCode, TotpEnrolment,
};
use sealroom_wire::audit::{AuditPage, AuditQuery, AuditVerifyReport};
use sealroom_wire::notify::{NotifyMode, NotifyPreference, RetentionPolicy};

use super::api::{seg, Call, Signer};
use super::{fresh_device_key, Account, ClientError, Inner, SealroomClient};

/// A device link waiting for approval: the new device's secret stays in memory until then.
pub(crate) struct PendingLink {
    secret: Zeroizing<[u8; 32]>,
    request: DeviceRequestInfo,
}

/// Audit export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    /// A JSON array of records.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

fn push_param(out: &mut Vec<String>, name: &str, value: Option<String>) {
    if let Some(v) = value {
        out.push(format!("{name}={}", seg(&v)));
    }
}

fn audit_query_string(query: &AuditQuery, format: Option<AuditFormat>) -> String {
    let mut params = Vec::new();
    push_param(&mut params, "from_ms", query.from_ms.map(|v| v.to_string()));
    push_param(&mut params, "to_ms", query.to_ms.map(|v| v.to_string()));
    push_param(&mut params, "actor", query.actor.clone());
    push_param(&mut params, "action", query.action.clone());
    push_param(&mut params, "object", query.object.clone());
    push_param(&mut params, "after", query.after.map(|v| v.to_string()));
    push_param(&mut params, "limit", query.limit.map(|v| v.to_string()));
    push_param(
        &mut params,
        "format",
        format.map(|f| match f {
            AuditFormat::Json => "json".to_owned(),
            AuditFormat::Csv => "csv".to_owned(),
        }),
    );
    if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    }
}

impl SealroomClient {
    // ----- a second device ---------------------------------------------------------------

    /// On a new, unregistered client: asks to add this device to the existing user `user_id`.
    /// Show the returned fingerprint (the new device's public key) on both devices; approve it
    /// on an existing device with [`SealroomClient::approve_device`] or here with a TOTP code
    /// ([`SealroomClient::approve_device_link_with_totp`]); then call
    /// [`SealroomClient::finish_device_link`]. The pending key lives in this client object
    /// until then.
    pub async fn request_device_link(
        &self,
        user_id: &str,
        device_name: &str,
    ) -> Result<DeviceRequestInfo, ClientError> {
        if self.is_registered() {
            return Err(ClientError::AlreadyRegistered);
        }
        let (secret, public_key) = fresh_device_key();
        let body = DeviceRequestCreate {
            user_id: user_id.to_owned(),
            device_name: device_name.to_owned(),
            public_key,
        };
        let request: DeviceRequestInfo = self
            .api
            .json(Call::json("POST", "/v1/device-requests", &body)?, None)
            .await?;
        *self.pending_link()? = Some(PendingLink {
            secret,
            request: request.clone(),
        });
        Ok(request)
    }

    fn pending_link(&self) -> Result<std::sync::MutexGuard<'_, Option<PendingLink>>, ClientError> {
        self.pending_link
            .lock()
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))
    }

    /// On an existing device: approves a pending device of the same user after the user
    /// compared `public_key` (hex) with what the new device shows.
    pub async fn approve_device(
        &self,
        request_id: &str,
        public_key: &str,
    ) -> Result<(), ClientError> {
        self.signed(Call::json(
            "POST",
            format!("/v1/device-requests/{}/approve", seg(request_id)),
            &ApproveDevice {
                public_key: public_key.to_owned(),
            },
        )?)
        .await?;
        Ok(())
    }

    /// On the new device: approves the pending link with a code from the user's enrolled
    /// authenticator (the second factor).
    pub async fn approve_device_link_with_totp(&self, code: &str) -> Result<(), ClientError> {
        let request_id = self
            .pending_link()?
            .as_ref()
            .map(|p| p.request.request_id.clone())
            .ok_or_else(|| ClientError::InvalidInput("no device link is pending".into()))?;
        self.api
            .send(
                Call::json(
                    "POST",
                    format!("/v1/device-requests/{}/totp", seg(&request_id)),
                    &TotpCode {
                        code: code.to_owned(),
                    },
                )?,
                None,
            )
            .await?;
        Ok(())
    }

    /// On the new device: once approved, creates this device's state and publishes its key
    /// packages. Returns `Ok(None)` while the request still waits for approval. Another device
    /// of the user then adds this one to the user's spaces
    /// ([`SealroomClient::add_member`] with the user's own id).
    pub async fn finish_device_link(&self) -> Result<Option<Account>, ClientError> {
        let (request_id, secret) = {
            let guard = self.pending_link()?;
            let pending = guard
                .as_ref()
                .ok_or_else(|| ClientError::InvalidInput("no device link is pending".into()))?;
            (
                pending.request.request_id.clone(),
                Zeroizing::new(*pending.secret),
            )
        };
        let status: DeviceRequestInfo = self
            .api
            .json(
                Call::get(format!("/v1/device-requests/{}", seg(&request_id))),
                None,
            )
            .await?;
        if status.status != DeviceRequestStatus::Approved {
            return Ok(None);
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&secret);
        let sign = |m: &[u8]| {
            use ed25519_dalek::Signer as _;
            key.sign(m).to_bytes()
        };
        let signer = Signer {
            device_id: status.device_id.clone(),
            sign: &sign,
        };
        let me: Me = self.api.json(Call::get("/v1/me"), Some(&signer)).await?;
        let kv = {
            let mut guard = self.lock()?;
            match &mut *guard {
                Inner::Ready(_) => return Err(ClientError::AlreadyRegistered),
                Inner::Unregistered { kv, .. } => {
                    kv.take().ok_or(ClientError::AlreadyRegistered)?
                }
            }
        };
        let registered = Registered {
            org_id: me.org_id,
            user_id: me.user_id,
            device_id: me.device_id,
            role: me.role,
            space_id: None,
        };
        let account = self.finish_registration(kv, &secret, registered).await?;
        *self.pending_link()? = None;
        Ok(Some(account))
    }

    // ----- TOTP --------------------------------------------------------------------------

    /// Starts TOTP enrolment: load the secret into an authenticator app, then confirm.
    pub async fn enrol_totp(&self) -> Result<TotpEnrolment, ClientError> {
        self.signed_json(Call::raw("POST", "/v1/me/totp", Vec::new()))
            .await
    }

    /// Confirms TOTP enrolment with a current code.
    pub async fn confirm_totp(&self, code: &str) -> Result<(), ClientError> {
        self.signed(Call::json(
            "POST",
            "/v1/me/totp/confirm",
            &TotpCode {
                code: code.to_owned(),
            },
        )?)
        .await?;
        Ok(())
    }

    // ----- preferences -------------------------------------------------------------------

    /// This user's notification preference.
    pub async fn notification_preference(&self) -> Result<NotifyPreference, ClientError> {
        self.signed_json(Call::get("/v1/me/notifications")).await
    }

    /// Sets how this user is told about new content: immediately, hourly or daily digest, or
    /// off; `email` overrides the registered address.
    pub async fn set_notification_mode(
        &self,
        mode: NotifyMode,
        email: Option<&str>,
    ) -> Result<NotifyPreference, ClientError> {
        self.signed_json(Call::json(
            "PUT",
            "/v1/me/notifications",
            &NotifyPreference {
                mode,
                email: email.map(str::to_owned),
            },
        )?)
        .await
    }

    /// A space's retention policy (ciphertext older than `days` is deleted by the relay).
    pub async fn retention(&self, space_id: &str) -> Result<RetentionPolicy, ClientError> {
        self.signed_json(Call::get(format!("/v1/spaces/{}/retention", seg(space_id))))
            .await
    }

    /// Sets a space's retention (staff); `None` keeps everything.
    pub async fn set_retention(
        &self,
        space_id: &str,
        days: Option<u32>,
    ) -> Result<RetentionPolicy, ClientError> {
        self.signed_json(Call::json(
            "PUT",
            format!("/v1/spaces/{}/retention", seg(space_id)),
            &RetentionPolicy { days },
        )?)
        .await
    }

    // ----- administration ----------------------------------------------------------------

    /// Queries the audit log (organisation admins).
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, ClientError> {
        self.signed_json(Call::get(format!(
            "/v1/audit{}",
            audit_query_string(query, None)
        )))
        .await
    }

    /// Exports the audit log as JSON or CSV bytes (organisation admins).
    pub async fn audit_export(
        &self,
        query: &AuditQuery,
        format: AuditFormat,
    ) -> Result<Vec<u8>, ClientError> {
        let response = self
            .signed(Call::get(format!(
                "/v1/audit/export{}",
                audit_query_string(query, Some(format))
            )))
            .await?;
        Ok(response.body)
    }

    /// Asks the relay to verify the audit hash chain.
    pub async fn verify_audit(&self) -> Result<AuditVerifyReport, ClientError> {
        self.signed_json(Call::get("/v1/audit/verify")).await
    }

    /// Erases a user: devices, key packages, mailboxes, preferences (organisation admins).
    /// Their MLS leaves stay until a member removes them from each space
    /// ([`SealroomClient::remove_member`]).
    pub async fn erase_user(&self, user_id: &str) -> Result<serde_json::Value, ClientError> {
        self.signed_json(Call::json(
            "POST",
            format!("/v1/users/{}/erase", seg(user_id)),
            &serde_json::json!({}),
        )?)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_query_strings_escape_values() {
        let q = AuditQuery {
            action: Some("blob.download".into()),
            object: Some("a b/c".into()),
            limit: Some(5),
            ..AuditQuery::default()
        };
        assert_eq!(
            audit_query_string(&q, Some(AuditFormat::Csv)),
            "?action=blob.download&object=a%20b%2Fc&limit=5&format=csv"
        );
        assert_eq!(audit_query_string(&AuditQuery::default(), None), "");
    }
}
