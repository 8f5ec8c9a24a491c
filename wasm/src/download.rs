//! Downloads as `ReadableStream<Uint8Array>`: each `pull()` of the stream fetches and opens the
//! next window of the file, so a slow reader holds the relay back (backpressure) and memory
//! stays at about one window whatever the file size.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use sealroom_core::client::{ClientError, Download as CoreDownload};

use crate::client::{get, method, CallOptions, Shared};
use crate::client_files::Progress;
use crate::error::{cancelled, client_error, coded};

/// A download in progress: core's pull-style download and the client it runs on.
pub(crate) struct Download {
    shared: Rc<Shared>,
    inner: CoreDownload,
}

impl Download {
    /// Starts downloading the whole file, or `len` bytes from `offset` for
    /// `range = Some((offset, len))`. A file this device does not know yet (shared before it
    /// joined) is looked up once with `refreshFiles`.
    pub(crate) async fn start(
        shared: Rc<Shared>,
        space_id: String,
        file_id: String,
        range: Option<(u64, u64)>,
    ) -> Result<Self, JsValue> {
        let inner = match shared.core.start_download(&space_id, &file_id, range).await {
            Err(ClientError::Unknown { .. }) => {
                shared
                    .core
                    .refresh_files(&space_id)
                    .await
                    .map_err(client_error)?;
                shared.core.start_download(&space_id, &file_id, range).await
            }
            other => other,
        }
        .map_err(client_error)?;
        Ok(Self { shared, inner })
    }

    /// The next piece of authenticated plaintext (at most one 4 MiB window), `None` at the end
    /// (a whole file's content digest has then been checked).
    async fn next(&mut self) -> Result<Option<Vec<u8>>, JsValue> {
        let piece = self
            .shared
            .core
            .download_next(&mut self.inner)
            .await
            .map_err(client_error);
        self.shared.flush_later();
        piece
    }

    fn total(&self) -> u64 {
        self.inner.total().unwrap_or(self.inner.version().size)
    }

    /// The download as a `ReadableStream<Uint8Array>`: each window is enqueued as one chunk,
    /// progress reported in steps of at most 1 % or 256 KiB; an aborted `signal` errors the
    /// stream with code `cancelled`.
    pub(crate) fn into_stream(self, options: CallOptions) -> Result<JsValue, JsValue> {
        let progress = Rc::new(RefCell::new(Progress::new(
            options.on_progress.clone(),
            self.total(),
        )));
        let signal = options.signal();
        let state = Rc::new(RefCell::new(Some(self)));
        let cancelled_flag = Rc::new(Cell::new(false));

        let pull_state = state.clone();
        let pull_cancelled = cancelled_flag.clone();
        let pull = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |controller: JsValue| {
            let state = pull_state.clone();
            let cancelled_flag = pull_cancelled.clone();
            let progress = progress.clone();
            let signal = signal.clone();
            future_to_promise(async move {
                // `pull` is not called again before its promise settles, so the download is
                // never taken twice.
                let taken = state.borrow_mut().take();
                let Some(mut download) = taken else {
                    return Ok(JsValue::UNDEFINED);
                };
                // An aborted signal errors the stream (checked around each window: a window
                // being fetched completes first); the reader's read() rejects with it.
                let aborted = || get(&signal, "aborted").is_ok_and(|v| v.is_truthy());
                let next = if aborted() {
                    Err(cancelled("the download"))
                } else {
                    download.next().await
                };
                let next = match next {
                    Ok(_) if aborted() => Err(cancelled("the download")),
                    other => other,
                };
                let next = match next {
                    Ok(next) => next,
                    Err(e) => {
                        method(&controller, "error")?.call1(&controller, &e)?;
                        return Ok(JsValue::UNDEFINED);
                    }
                };
                match next {
                    Some(bytes) if !cancelled_flag.get() => {
                        // One chunk per window: each chunk costs the browser's stream machinery
                        // a promise round trip, which split windows paid sixteen times over
                        // (a third of a download's time in Chromium). Progress keeps its steps.
                        method(&controller, "enqueue")?
                            .call1(&controller, &Uint8Array::from(bytes.as_slice()))?;
                        let mut left = bytes.len();
                        while left > 0 {
                            let step = progress.borrow().room().min(left);
                            progress.borrow_mut().add(step as u64);
                            left -= step;
                        }
                        drop(bytes);
                        *state.borrow_mut() = Some(download);
                    }
                    Some(_) => {}
                    None => {
                        progress.borrow_mut().finish();
                        method(&controller, "close")?.call0(&controller)?;
                    }
                }
                Ok(JsValue::UNDEFINED)
            })
        });
        let cancel_state = state;
        let cancel = Closure::<dyn FnMut(JsValue)>::new(move |_reason: JsValue| {
            cancelled_flag.set(true);
            cancel_state.borrow_mut().take();
        });

        let source = Object::new();
        Reflect::set(&source, &"pull".into(), &pull.into_js_value())?;
        Reflect::set(&source, &"cancel".into(), &cancel.into_js_value())?;
        let ctor = get(&js_sys::global(), "ReadableStream")?
            .dyn_into::<Function>()
            .map_err(|_| {
                coded(
                    "unsupported",
                    "internal",
                    "this platform has no ReadableStream",
                )
            })?;
        Reflect::construct(&ctor, &Array::of1(&source))
    }
}
