//! JS errors with stable codes.

use sealroom_core::client::ClientError;
use wasm_bindgen::{JsCast as _, JsValue};

/// A JS `Error` with `code` (specific, stable), `kind` (what to do about it) and `retryable`.
pub(crate) fn coded(code: &str, kind: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting plain data properties on a fresh Error object cannot fail; if it ever did, the
    // error would still carry its message.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    let _ = js_sys::Reflect::set(&error, &"kind".into(), &kind.into());
    let retryable = matches!(kind, "network" | "conflict");
    let _ = js_sys::Reflect::set(&error, &"retryable".into(), &retryable.into());
    error.into()
}

/// A [`ClientError`] as a JS `Error`: `code` is [`ClientError::code`], `kind` is
/// [`ClientError::kind`]'s name, relay refusals also carry the HTTP `status`.
pub(crate) fn client_error(error: ClientError) -> JsValue {
    let js = coded(&error.code(), error.kind().as_str(), &error.to_string());
    if let ClientError::Relay { status, .. } = &error {
        let _ = js_sys::Reflect::set(&js, &"status".into(), &JsValue::from(*status));
    }
    js
}

/// A caller error detected by the bindings (wrong argument type or range).
pub(crate) fn invalid(message: &str) -> JsValue {
    coded("invalid_input", "invalid_input", message)
}

/// The local store failed (the host store's commit rejected, or no store).
pub(crate) fn storage(message: &str) -> JsValue {
    coded("storage", "storage", message)
}

/// The JS error's message, for wrapping into a Rust error.
pub(crate) fn message_of(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    value
        .as_string()
        .unwrap_or_else(|| "unknown JavaScript error".to_owned())
}
