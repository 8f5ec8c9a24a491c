//! Downloads as `ReadableStream<Uint8Array>`: each `pull()` of the stream fetches and opens the
//! next window of the file, so a slow reader holds the relay back (backpressure) and memory
//! stays at about one window whatever the file size.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use sealroom_core::client::{ClientError, Download as CoreDownload};

use crate::client::{get, method, num, Shared};
use crate::error::{client_error, coded};

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
    /// (a whole file's SHA-256 has then been checked).
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

    fn progress(&self) -> (u64, u64) {
        let done = self.inner.done();
        (
            done,
            self.inner.total().unwrap_or(self.inner.version().size),
        )
    }

    /// The download as a `ReadableStream<Uint8Array>`.
    pub(crate) fn into_stream(self, on_progress: Option<Function>) -> Result<JsValue, JsValue> {
        let state = Rc::new(RefCell::new(Some(self)));
        let cancelled = Rc::new(Cell::new(false));

        let pull_state = state.clone();
        let pull_cancelled = cancelled.clone();
        let pull = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |controller: JsValue| {
            let state = pull_state.clone();
            let cancelled = pull_cancelled.clone();
            let on_progress = on_progress.clone();
            future_to_promise(async move {
                // `pull` is not called again before its promise settles, so the download is
                // never taken twice.
                let taken = state.borrow_mut().take();
                let Some(mut download) = taken else {
                    return Ok(JsValue::UNDEFINED);
                };
                match download.next().await? {
                    Some(bytes) if !cancelled.get() => {
                        let chunk = Uint8Array::from(bytes.as_slice());
                        drop(bytes);
                        method(&controller, "enqueue")?.call1(&controller, &chunk)?;
                        if let Some(f) = &on_progress {
                            let (done, total) = download.progress();
                            let _ = f.call2(&JsValue::NULL, &num(done), &num(total));
                        }
                        *state.borrow_mut() = Some(download);
                    }
                    Some(_) => {}
                    None => {
                        method(&controller, "close")?.call0(&controller)?;
                    }
                }
                Ok(JsValue::UNDEFINED)
            })
        });
        let cancel_state = state;
        let cancel = Closure::<dyn FnMut(JsValue)>::new(move |_reason: JsValue| {
            cancelled.set(true);
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
