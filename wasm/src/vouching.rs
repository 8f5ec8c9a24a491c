//! Devices vouched for by their user (issue 25): whether this device can vouch, certifying a
//! device linked by a TOTP code alone, and the policy for unverified devices in internal rooms.
//! The verification itself happens in core; `SpaceMember.verifiedDevices` and the
//! `keyChanged` / `deviceSkipped` events carry its results.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::{run, Client};
use crate::error::client_error;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Whether this device holds the user's identity key and can vouch for the user's other
    /// devices (created the user, was approved by such a device, or restored the backup).
    #[wasm_bindgen(js_name = canVouch, unchecked_return_type = "Promise<boolean>")]
    pub fn can_vouch(&self) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
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
        let s = self.shared.clone();
        run(&self.shared, async move {
            s.core
                .certify_device(&device_id, &public_key)
                .await
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether this device adds devices nobody vouched for to internal rooms (default `false`:
    /// they are left out and reported by a `deviceSkipped` event).
    #[wasm_bindgen(js_name = setAllowUnverifiedInternal, unchecked_return_type = "Promise<void>")]
    pub fn set_allow_unverified_internal(&self, allow: bool) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            s.core
                .set_allow_unverified_internal(allow)
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The current policy (see `setAllowUnverifiedInternal`).
    #[wasm_bindgen(js_name = allowUnverifiedInternal, unchecked_return_type = "Promise<boolean>")]
    pub fn allow_unverified_internal(&self) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            Ok(JsValue::from_bool(
                s.core.allow_unverified_internal().map_err(client_error)?,
            ))
        })
    }
}
