//! Core's [`Transport`] over the global `fetch` (browsers, Web Workers, Node 20), with
//! `setTimeout` as the timer of core's retry pauses (the event loop is never blocked).

use std::time::Duration;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use sealroom_core::client::{
    HttpRequest, HttpResponse, SleepFuture, Transport, TransportError, TransportFuture,
};

use crate::error::message_of;

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

async fn send(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let global = js_sys::global();
    let fetch: Function = get(&global, "fetch")?
        .dyn_into()
        .map_err(|_| TransportError::Other("this platform has no global fetch".into()))?;

    let init = Object::new();
    set(&init, "method", &JsValue::from_str(&request.method))?;
    let headers = Object::new();
    for (name, value) in &request.headers {
        set(&headers, name, &JsValue::from_str(value))?;
    }
    set(&init, "headers", &headers)?;
    // A redirect would resend the signed headers to wherever it points: never follow one.
    set(&init, "redirect", &JsValue::from_str("error"))?;
    if !request.body.is_empty() {
        set(&init, "body", &body(&global, &request.body))?;
    }
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

    let pending = fetch
        .call2(&global, &JsValue::from_str(&request.url), &init)
        .map_err(fetch_error)?;
    let response = JsFuture::from(Promise::from(pending))
        .await
        .map_err(fetch_error)?;

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
    let body = if request.method == "HEAD" {
        Vec::new()
    } else {
        let array_buffer: Function = get(&response, "arrayBuffer")?
            .dyn_into()
            .map_err(|_| TransportError::Other("response has no arrayBuffer()".into()))?;
        let buffer = array_buffer.call0(&response).map_err(fetch_error)?;
        let buffer = JsFuture::from(Promise::from(buffer))
            .await
            .map_err(fetch_error)?;
        Uint8Array::new(&buffer).to_vec()
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
    let array = Uint8Array::from(bytes);
    let blob = get(global, "Blob")
        .ok()
        .and_then(|c| c.dyn_into::<Function>().ok())
        .and_then(|c| Reflect::construct(&c, &Array::of1(&Array::of1(&array))).ok());
    blob.unwrap_or_else(|| array.into())
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
