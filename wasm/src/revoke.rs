//! Revoking a lost device and reading the account's security events, for JS (methods of
//! `SealroomClient`; see `docs/client.md`, "Revoking a device").

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::client::Client;
use crate::convert::to_js;
use crate::error::{client_error, invalid};

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Revokes a device (one of this user's others, or as an admin any device of the
    /// organisation): the relay refuses it at once and mails its user; then this device
    /// removes it by MLS commit from every room where it may. Resolves to the number of rooms
    /// this call removed it from; the other rooms' members remove it on their next `sync`.
    #[wasm_bindgen(js_name = revokeDevice, unchecked_return_type = "Promise<number>")]
    pub fn revoke_device(&self, #[wasm_bindgen(js_name = deviceId)] device_id: String) -> Promise {
        self.bridge_js(move |s| async move {
            let rooms = s
                .core
                .revoke_device(&device_id)
                .await
                .map_err(client_error)?;
            Ok(JsValue::from(rooms))
        })
    }

    /// The account's security events after the cursor `after` (default 0: all), oldest first.
    #[wasm_bindgen(
        js_name = securityEvents,
        unchecked_return_type = "Promise<SecurityEventList>"
    )]
    pub fn security_events(&self, after: Option<f64>) -> Promise {
        self.bridge_js(move |s| async move {
            let after = match after {
                None => 0,
                Some(a) if a >= 0.0 && a.fract() == 0.0 && a <= 9_007_199_254_740_991.0 => a as u64,
                Some(_) => return Err(invalid("after must be a non-negative integer")),
            };
            to_js(&s.core.security_events(after).await.map_err(client_error)?)
        })
    }
}
