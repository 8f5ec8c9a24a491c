//! Devices vouched for by their user (issue 25): whether this device can vouch, certifying a
//! device linked by a TOTP code alone, and the policy for unverified devices in customer and internal rooms.
//! The verification itself happens in core; `SpaceMember.verifiedDevices` and the
//! `keyChanged` / `deviceSkipped` events carry its results.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::Client;
use crate::error::client_error;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Whether this device holds the user's identity key and can vouch for the user's other
    /// devices (created the user, was approved by such a device, or restored the backup).
    #[wasm_bindgen(js_name = canVouch, unchecked_return_type = "Promise<boolean>")]
    pub fn can_vouch(&self) -> Promise {
        self.bridge_js(move |s| async move {
            Ok(JsValue::from_bool(
                s.core.can_vouch().map_err(client_error)?,
            ))
        })
    }

    /// Vouches for another device of this user (one linked by a TOTP code alone) after the
    /// user compared its public key. Rejects with `code` `cannot_vouch` on a device without
    /// the identity key.
    #[wasm_bindgen(js_name = certifyDevice, unchecked_return_type = "Promise<void>")]
    pub fn certify_device(
        &self,
        #[wasm_bindgen(js_name = deviceId)] device_id: String,
        #[wasm_bindgen(js_name = publicKey)] public_key: String,
    ) -> Promise {
        self.bridge_unit(
            move |s| async move { s.core.certify_device(&device_id, &public_key).await },
        )
    }

    /// Whether this device adds devices nobody vouched for to internal rooms (default `false`:
    /// they are left out and reported by a `deviceSkipped` event).
    #[wasm_bindgen(js_name = setAllowUnverifiedInternal, unchecked_return_type = "Promise<void>")]
    pub fn set_allow_unverified_internal(&self, allow: bool) -> Promise {
        self.bridge_js(move |s| async move {
            s.core
                .set_allow_unverified_internal(allow)
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The current policy (see `setAllowUnverifiedInternal`).
    #[wasm_bindgen(js_name = allowUnverifiedInternal, unchecked_return_type = "Promise<boolean>")]
    pub fn allow_unverified_internal(&self) -> Promise {
        self.bridge_js(move |s| async move {
            Ok(JsValue::from_bool(
                s.core.allow_unverified_internal().map_err(client_error)?,
            ))
        })
    }

    /// Whether this device adds devices nobody vouched for to customer rooms (default `false`:
    /// they are left out and reported by a `deviceSkipped` event; an add that could add none
    /// rejects with code `unverified_devices`).
    #[wasm_bindgen(js_name = setAllowUnverifiedCustomer, unchecked_return_type = "Promise<void>")]
    pub fn set_allow_unverified_customer(&self, allow: bool) -> Promise {
        self.bridge_js(move |s| async move {
            s.core
                .set_allow_unverified_customer(allow)
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The current policy (see `setAllowUnverifiedCustomer`).
    #[wasm_bindgen(js_name = allowUnverifiedCustomer, unchecked_return_type = "Promise<boolean>")]
    pub fn allow_unverified_customer(&self) -> Promise {
        self.bridge_js(move |s| async move {
            Ok(JsValue::from_bool(
                s.core.allow_unverified_customer().map_err(client_error)?,
            ))
        })
    }

    /// Administrator: resets `userId`'s identity key on the relay (a user who lost every device
    /// and the recovery backup, or whose key-holding device was stolen and revoked). The user
    /// is told by mail; one of the user's devices then calls `createNewIdentity`.
    #[wasm_bindgen(js_name = resetIdentity, unchecked_return_type = "Promise<void>")]
    pub fn reset_identity(&self, #[wasm_bindgen(js_name = userId)] user_id: String) -> Promise {
        self.bridge_unit(move |s| async move { s.core.reset_identity(&user_id).await })
    }

    /// After an identity reset: creates and publishes a new identity key on this device, which
    /// can then vouch for the user's other devices.
    #[wasm_bindgen(js_name = createNewIdentity, unchecked_return_type = "Promise<void>")]
    pub fn create_new_identity(&self) -> Promise {
        self.bridge_unit(move |s| async move { s.core.create_new_identity().await })
    }

    /// Accepts `userId`'s changed identity key (a `keyChanged` event) after the user compared
    /// `safetyNumber`, the number over the new key, out of band.
    #[wasm_bindgen(js_name = acceptIdentityKey, unchecked_return_type = "Promise<void>")]
    pub fn accept_identity_key(
        &self,
        #[wasm_bindgen(js_name = userId)] user_id: String,
        #[wasm_bindgen(js_name = safetyNumber)] safety_number: String,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            s.core
                .accept_identity_key(&user_id, &safety_number)
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
