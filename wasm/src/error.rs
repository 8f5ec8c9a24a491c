//! JS errors with stable codes: instances of the exported `SealroomError` class (itself an
//! `Error` subclass), so `e instanceof SealroomError` works in Node and browsers.

use sealroom_core::client::ClientError;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsValue;

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen(module = "/js/sdk.js")]
extern "C" {
    #[wasm_bindgen(js_name = installErrorClass)]
    fn install_error_class(exported: &JsValue);
    #[wasm_bindgen(js_name = sealroomError)]
    fn sealroom_error(
        code: &str,
        kind: &str,
        message: &str,
        retryable: bool,
        cause: &JsValue,
    ) -> JsValue;
}

/// The class of every error the SDK throws or rejects with: an `Error` with `code` (specific,
/// stable), `kind` (what to do about it), `retryable` (whether the same call may succeed
/// later), `status` for relay refusals and `cause` where another error caused it. Test with
/// `e instanceof SealroomError`; it is not constructed by applications.
#[wasm_bindgen(skip_typescript)]
pub struct SealroomError {
    _private: u8,
}

/// Gives the exported class Error's prototype chain (once per module instance).
#[cfg(target_arch = "wasm32")]
pub(crate) fn ensure_class() {
    thread_local! {
        static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if INSTALLED.with(|i| i.replace(true)) {
        return;
    }
    // One instance, only to reach its constructor (the exported class).
    let sample = JsValue::from(SealroomError { _private: 0 });
    if let Ok(class) = js_sys::Reflect::get(&sample, &"constructor".into()) {
        install_error_class(&class);
    }
}

/// A `SealroomError` with `code`, `kind`, `retryable` and optionally `cause`.
#[cfg(target_arch = "wasm32")]
pub(crate) fn coded_with(
    code: &str,
    kind: &str,
    message: &str,
    retryable: bool,
    cause: &JsValue,
) -> JsValue {
    ensure_class();
    sealroom_error(code, kind, message, retryable, cause)
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn coded_with(
    code: &str,
    _kind: &str,
    message: &str,
    _retryable: bool,
    _cause: &JsValue,
) -> JsValue {
    JsValue::from_str(&format!("{code}: {message}"))
}

/// A `SealroomError` that no retry can fix (caller errors, corrupt input...), or a network /
/// conflict one (`retryable`) for errors the bindings detect themselves.
pub(crate) fn coded(code: &str, kind: &str, message: &str) -> JsValue {
    let retryable = matches!(kind, "network");
    coded_with(code, kind, message, retryable, &JsValue::UNDEFINED)
}

/// A [`ClientError`] as a `SealroomError`: `code` is [`ClientError::code`], `kind` is
/// [`ClientError::kind`]'s name, `retryable` is [`ClientError::is_retryable`]; relay refusals
/// also carry the HTTP `status`.
pub(crate) fn client_error(error: ClientError) -> JsValue {
    let js = coded_with(
        &error.code(),
        error.kind().as_str(),
        &error.to_string(),
        error.is_retryable(),
        &JsValue::UNDEFINED,
    );
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

/// The operation was cancelled (its `AbortSignal` aborted, or `cancelUpload` was called).
pub(crate) fn cancelled(what: &str) -> JsValue {
    coded("cancelled", "cancelled", &format!("{what} was cancelled"))
}

/// The caller's source stream failed; `cause` is the stream's own error.
pub(crate) fn source_failed(cause: &JsValue) -> JsValue {
    coded_with(
        "source_failed",
        "invalid_input",
        &format!("the source stream failed: {}", message_of(cause)),
        false,
        cause,
    )
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
