//! Live events for JS: `client.events({ signal })`, an async iterator over the relay's long
//! poll, and `client.nextEvents({ signal })`, one batch (core's
//! [`sealroom_core::client::SealroomClient::next_events`]). See `docs/sdk-js.md`, "Live events".

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use sealroom_core::client::LiveOptions;

use crate::client::{get, run, Client, Shared};
use crate::convert::to_js;
use crate::error::{client_error, coded, invalid};

#[wasm_bindgen(module = "/js/live.js")]
extern "C" {
    #[wasm_bindgen(js_name = liveIterator)]
    fn js_live_iterator(next: &JsValue, controller: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = liveController, catch)]
    fn js_live_controller(signal: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = abortedPromise)]
    fn js_aborted_promise(signal: &JsValue) -> Promise;
}

/// Refuses keys of `options` (an object, `undefined` or `null`) outside `allowed`.
fn check_keys(options: &JsValue, allowed: &[&str], what: &str) -> Result<(), JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(());
    }
    let object = options
        .dyn_ref::<Object>()
        .ok_or_else(|| invalid(&format!("{what}: options must be an object")))?;
    for key in Object::keys(object).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(invalid(&format!(
                "{what}: unknown option {key} (allowed: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

/// `{ signal }` checked, as an internal `AbortController` linked to it.
fn controller(options: &JsValue, what: &str) -> Result<JsValue, JsValue> {
    check_keys(options, &["signal"], what)?;
    let signal = if options.is_undefined() || options.is_null() {
        JsValue::UNDEFINED
    } else {
        get(options, "signal")?
    };
    js_live_controller(&signal)
}

type Batch = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// Runs `call` until it ends or `signal` aborts (then `cancelled`; the call is dropped at its
/// next await, and core's commits are atomic).
async fn abortable(signal: &JsValue, mut call: Batch) -> Result<JsValue, JsValue> {
    let cancelled = || {
        coded(
            "cancelled",
            "cancelled",
            "waiting for live events was cancelled",
        )
    };
    if get(signal, "aborted").is_ok_and(|v| v.is_truthy()) {
        return Err(cancelled());
    }
    let mut abort = JsFuture::from(js_aborted_promise(signal));
    std::future::poll_fn(|cx| {
        if Pin::new(&mut abort).poll(cx).is_ready() {
            return Poll::Ready(Err(cancelled()));
        }
        call.as_mut().poll(cx)
    })
    .await
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** How the live loop waits (`setLiveOptions`); every field optional. */
export interface LiveOptions {
  /** Seconds one long poll may wait on the relay, 1 to 30 (default 25). */
  waitSecs?: number;
  /** Seconds between full syncs of every room (default 120; 0: before every poll). */
  fullSyncSecs?: number;
  /** First pause after a failed poll, milliseconds (default 250). */
  minBackoffMs?: number;
  /** Longest pause between reconnects, milliseconds (default 30000). */
  maxBackoffMs?: number;
}
/** A live event: a `ClientEvent` (`memberWaiting` only from the live loop, for staff). */
export type LiveEvent = ClientEvent;
"#;

fn number(options: &JsValue, name: &str, default: u64) -> Result<u64, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(default);
    }
    let v = get(options, name)?;
    if v.is_undefined() {
        return Ok(default);
    }
    let n = v
        .as_f64()
        .ok_or_else(|| invalid(&format!("live option {name} must be a number")))?;
    crate::whole_number(n, name)
        .map_err(|_| invalid(&format!("live option {name} must be a whole number ≥ 0")))
}

/// One batch of core's `next_events`, stopped by `signal` (the one instantiation of its
/// future, shared by `nextEvents` and `events`).
fn next_batch(shared: &Rc<Shared>, signal: JsValue) -> Promise {
    let s = shared.clone();
    run(shared, async move {
        let call = Box::pin(async move {
            let events = s.core.next_events().await.map_err(client_error)?;
            to_js(&events)
        });
        abortable(&signal, call).await
    })
}

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    /// Sets how the live loop waits and reconnects (`LiveOptions`; unknown keys are refused).
    #[wasm_bindgen(js_name = setLiveOptions)]
    pub fn set_live_options(
        &self,
        #[wasm_bindgen(unchecked_param_type = "LiveOptions")] options: JsValue,
    ) -> Result<(), JsValue> {
        check_keys(
            &options,
            &["waitSecs", "fullSyncSecs", "minBackoffMs", "maxBackoffMs"],
            "setLiveOptions",
        )?;
        let d = LiveOptions::default();
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let o = LiveOptions {
            wait_secs: number(&options, "waitSecs", d.wait_secs)?,
            full_sync_secs: number(&options, "fullSyncSecs", d.full_sync_secs)?,
            min_backoff: std::time::Duration::from_millis(number(
                &options,
                "minBackoffMs",
                ms(d.min_backoff),
            )?),
            max_backoff: std::time::Duration::from_millis(number(
                &options,
                "maxBackoffMs",
                ms(d.max_backoff),
            )?),
        };
        self.shared.core.set_live_options(o).map_err(client_error)
    }

    /// Waits until something changed for this device (the relay's long poll, with reconnects
    /// and back-off) and resolves to the events, never an empty list. `options.signal` stops
    /// the wait with code `cancelled`; nothing is lost (the cursor moves only after a sync).
    #[wasm_bindgen(js_name = nextEvents, unchecked_return_type = "Promise<LiveEvent[]>")]
    pub fn next_events(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SignalOptions")] options: JsValue,
    ) -> Promise {
        match controller(&options, "nextEvents") {
            Ok(c) => next_batch(
                &self.shared,
                get(&c, "signal").unwrap_or(JsValue::UNDEFINED),
            ),
            Err(e) => Promise::reject(&e),
        }
    }

    /// The live events of this device, one at a time, as they arrive:
    /// `for await (const e of client.events({ signal })) { ... }`. Aborting `signal` or
    /// leaving the loop ends it promptly; an error other than `cancelled` is thrown once.
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<LiveEvent>")]
    pub fn events(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SignalOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let controller = controller(&options, "events")?;
        let shared = self.shared.clone();
        let next = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |signal: JsValue| {
            next_batch(&shared, signal)
        });
        Ok(js_live_iterator(&next.into_js_value(), &controller))
    }
}
