//! Core's [`Transport`] over the global `fetch` (browsers, Web Workers, Node 20), with
//! `setTimeout` as the timer of core's retry pauses (the event loop is never blocked).

use std::time::Duration;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use sealroom_core::client::{
    DigestFuture, HttpRequest, HttpResponse, SleepFuture, Transport, TransportError,
    TransportFuture,
};

use crate::error::message_of;

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/body.js")]
extern "C" {
    /// `pending.then(r => [r, body])`, the body a `Uint8Array` (a large one read into a
    /// reused buffer).
    #[wasm_bindgen(js_name = withBody)]
    fn js_with_body(pending: &Promise) -> Promise;
    /// Takes back the buffer of a body whose bytes were copied out.
    #[wasm_bindgen(js_name = releaseBody)]
    fn js_release_body(body: &Uint8Array);
}

/// Whole-request time limit (a 4 MiB file chunk on a slow link fits), as the native transport.
const TIMEOUT_MS: u32 = 300_000;

/// Sends requests with `globalThis.fetch`.
#[derive(Debug, Default)]
pub(crate) struct FetchTransport;

fn get(target: &JsValue, name: &str) -> Result<JsValue, TransportError> {
    Reflect::get(target, &JsValue::from_str(name))
        .map_err(|e| TransportError::Other(message_of(&e)))
}

fn set(target: &JsValue, name: &str, value: &JsValue) -> Result<(), TransportError> {
    Reflect::set(target, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|e| TransportError::Other(message_of(&e)))
}

/// Everything up to the `fetch` call runs on the future's first poll, and the body is read as
/// soon as the headers arrive (not when the future is polled next): core starts a request and
/// awaits it later (the next file chunk is sealed, or the last range opened, meanwhile).
async fn send(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let HttpRequest {
        method,
        url,
        headers: request_headers,
        body: request_body,
    } = request;
    let global = js_sys::global();
    let fetch: Function = get(&global, "fetch")?
        .dyn_into()
        .map_err(|_| TransportError::Other("this platform has no global fetch".into()))?;

    let init = Object::new();
    set(&init, "method", &JsValue::from_str(&method))?;
    let headers = Object::new();
    for (name, value) in &request_headers {
        set(&headers, name, &JsValue::from_str(value))?;
    }
    set(&init, "headers", &headers)?;
    // A redirect would resend the signed headers to wherever it points: never follow one.
    set(&init, "redirect", &JsValue::from_str("error"))?;
    if !request_body.is_empty() {
        set(&init, "body", &body(&global, &request_body))?;
    }
    // The body now lives in JS; the Rust copy is not kept while the request travels.
    drop(request_body);
    // AbortSignal.timeout exists in current browsers and Node ≥ 17.3; without it, no limit.
    if let Ok(abort) = get(&global, "AbortSignal") {
        if let Ok(timeout) = get(&abort, "timeout").and_then(|f| {
            f.dyn_into::<Function>()
                .map_err(|_| TransportError::Other(String::new()))
        }) {
            if let Ok(signal) = timeout.call1(&abort, &JsValue::from(TIMEOUT_MS)) {
                set(&init, "signal", &signal)?;
            }
        }
    }

    let pending = Promise::from(
        fetch
            .call2(&global, &JsValue::from_str(&url), &init)
            .map_err(fetch_error)?,
    );
    let with_body = method != "HEAD";
    let pending = if with_body {
        js_with_body(&pending)
    } else {
        pending
    };
    let settled = JsFuture::from(pending).await.map_err(fetch_error)?;
    // `[response, Uint8Array]`, or the response of a HEAD.
    let (response, buffer) = if with_body {
        let pair = Array::from(&settled);
        (pair.get(0), Some(pair.get(1)))
    } else {
        (settled, None)
    };

    let status = get(&response, "status")?.as_f64().unwrap_or(0.0) as u16;
    let mut out_headers = Vec::new();
    let header_iter = get(&response, "headers")?;
    if let Ok(Some(iter)) = js_sys::try_iter(&header_iter) {
        for pair in iter.flatten() {
            let pair = Array::from(&pair);
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                out_headers.push((k, v));
            }
        }
    }
    let body = match buffer {
        Some(view) => {
            let view = view.unchecked_into::<Uint8Array>();
            let bytes = view.to_vec();
            js_release_body(&view);
            bytes
        }
        None => Vec::new(),
    };
    Ok(HttpResponse {
        status,
        headers: out_headers,
        body,
    })
}

/// A request body as a `Blob` where the platform has one: Chromium sends a 4 MiB typed-array
/// body at about 7 MiB/s on loopback and the same bytes as a `Blob` at 60-180 MiB/s (measured
/// with a Node server that discards the body; `docs/benchmarks.md`, "WASM in Chromium"). Else
/// the bytes as a `Uint8Array`.
fn body(global: &Object, bytes: &[u8]) -> JsValue {
    let Some(blob) = get(global, "Blob")
        .ok()
        .and_then(|c| c.dyn_into::<Function>().ok())
    else {
        return Uint8Array::from(bytes).into();
    };
    // The Blob constructor copies the view's bytes before it returns.
    let Some(view) = memory_view(bytes) else {
        return Uint8Array::from(bytes).into();
    };
    Reflect::construct(&blob, &Array::of1(&Array::of1(&view)))
        .unwrap_or_else(|_| Uint8Array::from(bytes).into())
}

/// A `Uint8Array` over `bytes` inside the module's memory, without a copy (no `unsafe`: the
/// view is made from the memory's `ArrayBuffer` and the slice's address). Only for a callee
/// that copies the bytes before it returns (`new Blob`, `crypto.subtle.digest`), called at
/// once: a later allocation may grow the memory, which detaches the view. `None` where the
/// view cannot be made or does not cover the bytes (the caller copies instead).
fn memory_view(bytes: &[u8]) -> Option<Uint8Array> {
    let buffer: js_sys::ArrayBuffer = get(&wasm_bindgen::memory(), "buffer")
        .ok()?
        .dyn_into()
        .ok()?;
    let offset = u32::try_from(bytes.as_ptr() as usize).ok()?;
    let len = u32::try_from(bytes.len()).ok()?;
    if u64::from(offset) + u64::from(len) > buffer.byte_length() as u64 {
        return None;
    }
    Some(Uint8Array::new_with_byte_offset_and_length(
        &buffer, offset, len,
    ))
}

/// `crypto.subtle.digest("SHA-256", bytes)`, started now (the bytes are copied before this
/// returns); `None` without WebCrypto (an insecure context, an old platform).
fn subtle_digest(bytes: &[u8]) -> Option<Promise> {
    let global = js_sys::global();
    let crypto = get(&global, "crypto").ok()?;
    if crypto.is_undefined() || crypto.is_null() {
        return None;
    }
    let subtle = get(&crypto, "subtle").ok()?;
    if subtle.is_undefined() || subtle.is_null() {
        return None;
    }
    let digest: Function = get(&subtle, "digest").ok()?.dyn_into().ok()?;
    let algorithm = JsValue::from_str("SHA-256");
    // `digest` copies its input before it returns: a view of the module's memory saves a
    // copy of every hashed byte (a 4 MiB piece or request body), made last, right before it.
    let input = memory_view(bytes).unwrap_or_else(|| Uint8Array::from(bytes));
    digest
        .call2(&subtle, &algorithm, &input)
        .ok()
        .map(Promise::from)
}

/// The 32 bytes of a settled digest promise; `None` if it failed.
async fn digest_result(promise: Promise) -> Option<[u8; 32]> {
    let buffer = JsFuture::from(promise).await.ok()?;
    let bytes = Uint8Array::new(&buffer);
    let mut out = [0u8; 32];
    if bytes.length() as usize != out.len() {
        return None;
    }
    bytes.copy_to(&mut out);
    Some(out)
}

fn fetch_error(error: JsValue) -> TransportError {
    let name = get(&error, "name")
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    if name == "TimeoutError" || name == "AbortError" {
        return TransportError::Timeout;
    }
    // Node's undici puts the socket error under `cause`.
    let mut message = message_of(&error);
    if let Ok(cause) = get(&error, "cause") {
        if !cause.is_undefined() && !cause.is_null() {
            message = format!("{message}: {}", message_of(&cause));
        }
    }
    TransportError::Connect(message)
}

impl Transport for FetchTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(send(request))
    }

    fn now_secs(&self) -> i64 {
        (js_sys::Date::now() / 1000.0).floor() as i64
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        Box::pin(sleep(duration))
    }

    /// WebCrypto's SHA-256: about 120 MiB/s for core's SHA-256 in WASM against several
    /// hundred for the browser's (`docs/benchmarks.md`, uploads in Chromium).
    fn sha256<'a>(&'a self, bytes: &'a [u8]) -> Option<DigestFuture<'a>> {
        let promise = subtle_digest(bytes)?;
        Some(Box::pin(digest_result(promise)))
    }
}

/// Resolves after `duration` through `globalThis.setTimeout`. Without a `setTimeout` (no such
/// platform is supported) it resolves at once rather than blocking.
async fn sleep(duration: Duration) {
    let ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
    let promise = Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let set_timeout = get(&global, "setTimeout")
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        let scheduled = set_timeout
            .map(|f| f.call2(&global, &resolve, &JsValue::from(ms)).is_ok())
            .unwrap_or(false);
        if !scheduled {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    // The promise never rejects.
    let _ = JsFuture::from(promise).await;
}
