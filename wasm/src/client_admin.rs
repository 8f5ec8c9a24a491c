//! Second devices, TOTP, notification preferences, retention, audit and erasure for JS
//! (methods of `SealroomClient`).

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;

use sealroom_core::client::AuditFormat;
use sealroom_wire::audit::AuditQuery;
use sealroom_wire::notify::NotifyMode;

use crate::client::*;
use crate::convert::{from_js, to_js};
use crate::error::{client_error, invalid};

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    // ----- second devices and TOTP ---------------------------------------------------------

    /// On a new, unregistered client: asks to add this device to user `userId`.
    #[wasm_bindgen(js_name = requestDeviceLink, unchecked_return_type = "Promise<DeviceRequestInfo>")]
    pub fn request_device_link(
        &self,
        #[wasm_bindgen(js_name = userId)] user_id: String,
        #[wasm_bindgen(js_name = deviceName)] device_name: String,
    ) -> Promise {
        self.bridge(
            move |s| async move { s.core.request_device_link(&user_id, &device_name).await },
        )
    }

    /// On an existing device: approves a link request after comparing its public key.
    #[wasm_bindgen(js_name = approveDevice, unchecked_return_type = "Promise<void>")]
    pub fn approve_device(
        &self,
        #[wasm_bindgen(js_name = requestId)] request_id: String,
        #[wasm_bindgen(js_name = publicKey)] public_key: String,
    ) -> Promise {
        self.bridge_unit(
            move |s| async move { s.core.approve_device(&request_id, &public_key).await },
        )
    }

    /// On the new device: approves its own pending link with the user's TOTP code.
    #[wasm_bindgen(js_name = approveDeviceLinkWithTotp, unchecked_return_type = "Promise<void>")]
    pub fn approve_device_link_with_totp(&self, code: String) -> Promise {
        self.bridge_unit(move |s| async move { s.core.approve_device_link_with_totp(&code).await })
    }

    /// On the new device: completes an approved link (`null` while still pending).
    #[wasm_bindgen(js_name = finishDeviceLink, unchecked_return_type = "Promise<Account | null>")]
    pub fn finish_device_link(&self) -> Promise {
        self.bridge_js(move |s| async move {
            match s.core.finish_device_link().await.map_err(client_error)? {
                Some(account) => to_js(&account),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Starts TOTP enrolment (the secret is shown once).
    #[wasm_bindgen(js_name = enrolTotp, unchecked_return_type = "Promise<TotpEnrolment>")]
    pub fn enrol_totp(&self) -> Promise {
        self.bridge(move |s| async move { s.core.enrol_totp().await })
    }

    /// Confirms TOTP enrolment with a current code.
    #[wasm_bindgen(js_name = confirmTotp, unchecked_return_type = "Promise<void>")]
    pub fn confirm_totp(&self, code: String) -> Promise {
        self.bridge_unit(move |s| async move { s.core.confirm_totp(&code).await })
    }

    // ----- preferences and administration --------------------------------------------------

    /// This user's notification preference.
    #[wasm_bindgen(js_name = notificationPreference, unchecked_return_type = "Promise<NotifyPreference>")]
    pub fn notification_preference(&self) -> Promise {
        self.bridge(move |s| async move { s.core.notification_preference().await })
    }

    /// Sets the notification mode (and optionally the mail address).
    #[wasm_bindgen(js_name = setNotificationMode, unchecked_return_type = "Promise<NotifyPreference>")]
    pub fn set_notification_mode(
        &self,
        #[wasm_bindgen(unchecked_param_type = "NotifyMode")] mode: String,
        email: Option<String>,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let mode: NotifyMode = mode.parse().map_err(|_| {
                invalid(&format!(
                    "unknown notification mode \"{mode}\" (immediate, hourly, daily, off)"
                ))
            })?;
            to_js(
                &s.core
                    .set_notification_mode(mode, email.as_deref())
                    .await
                    .map_err(client_error)?,
            )
        })
    }

    /// A space's retention policy.
    #[wasm_bindgen(unchecked_return_type = "Promise<RetentionPolicy>")]
    pub fn retention(&self, #[wasm_bindgen(js_name = spaceId)] space_id: String) -> Promise {
        self.bridge(move |s| async move { s.core.retention(&space_id).await })
    }

    /// Sets a space's retention in days (`null` keeps everything).
    #[wasm_bindgen(js_name = setRetention, unchecked_return_type = "Promise<RetentionPolicy>")]
    pub fn set_retention(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        days: Option<f64>,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let days = days
                .map(|d| {
                    whole(d, "days")
                        .and_then(|d| u32::try_from(d).map_err(|_| invalid("days is too large")))
                })
                .transpose()?;
            to_js(
                &s.core
                    .set_retention(&space_id, days)
                    .await
                    .map_err(client_error)?,
            )
        })
    }

    /// One page of the audit log (admins).
    #[wasm_bindgen(unchecked_return_type = "Promise<AuditPage>")]
    pub fn audit(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AuditQuery")] query: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let query: AuditQuery = from_js(&query, "audit query")?;
            to_js(&s.core.audit(&query).await.map_err(client_error)?)
        })
    }

    /// The audit log as a JSON or CSV file (admins).
    #[wasm_bindgen(js_name = auditExport, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn audit_export(
        &self,
        #[wasm_bindgen(unchecked_param_type = "AuditQuery | undefined")] query: JsValue,
        #[wasm_bindgen(unchecked_param_type = "\"json\" | \"csv\"")] format: String,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let query: AuditQuery = from_js(&query, "audit query")?;
            let format = match format.as_str() {
                "json" => AuditFormat::Json,
                "csv" => AuditFormat::Csv,
                other => return Err(invalid(&format!("unknown export format \"{other}\""))),
            };
            let bytes = s
                .core
                .audit_export(&query, format)
                .await
                .map_err(client_error)?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Verifies the whole audit hash chain (admins).
    #[wasm_bindgen(js_name = verifyAudit, unchecked_return_type = "Promise<AuditVerifyReport>")]
    pub fn verify_audit(&self) -> Promise {
        self.bridge(move |s| async move { s.core.verify_audit().await })
    }

    /// Erases a user (admins): devices revoked, personal data removed.
    #[wasm_bindgen(js_name = eraseUser, unchecked_return_type = "Promise<Record<string, unknown>>")]
    pub fn erase_user(&self, #[wasm_bindgen(js_name = userId)] user_id: String) -> Promise {
        self.bridge(move |s| async move { s.core.erase_user(&user_id).await })
    }
}
