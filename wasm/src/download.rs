//! Downloads as `ReadableStream<Uint8Array>`: each `pull()` of the stream fetches and opens the
//! next window of the file, so a slow reader holds the relay back (backpressure) and memory
//! stays at about one window whatever the file size.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use sealroom_core::client::UPLOAD_CHUNK;

use crate::client::{get, method, num, Shared};
use crate::error::{client_error, coded, invalid};

/// Plaintext fetched per pull (one sealed upload chunk's worth).
const WINDOW: u64 = UPLOAD_CHUNK as u64;

/// A download in progress: the plaintext range `[offset, end)` still to deliver.
pub(crate) struct Download {
    shared: Rc<Shared>,
    space_id: String,
    file_id: String,
    start: u64,
    offset: u64,
    end: u64,
}

impl Download {
    /// Looks the file up (reading its manifest if this device has not yet) and checks `range`.
    pub(crate) async fn start(
        shared: Rc<Shared>,
        space_id: String,
        file_id: String,
        range: Option<(u64, u64)>,
    ) -> Result<Self, JsValue> {
        let size = file_size(&shared, &space_id, &file_id).await?;
        let (start, end) = range.unwrap_or((0, size));
        if start > end || end > size {
            return Err(invalid(&format!(
                "range {start}..{end} is outside the file's {size} bytes"
            )));
        }
        Ok(Self {
            shared,
            space_id,
            file_id,
            start,
            offset: start,
            end,
        })
    }

    /// The next window of authenticated plaintext, `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, JsValue> {
        if self.offset >= self.end {
            return Ok(None);
        }
        let n = WINDOW.min(self.end - self.offset);
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        self.shared
            .core
            .download_range(
                &self.space_id,
                &self.file_id,
                self.offset,
                n,
                &mut out,
                |_, _| {},
            )
            .await
            .map_err(client_error)?;
        self.offset += n;
        self.shared.flush_later();
        Ok(Some(out))
    }

    /// The download as a `ReadableStream<Uint8Array>`.
    pub(crate) fn into_stream(self, on_progress: Option<Function>) -> Result<JsValue, JsValue> {
        let total = self.end - self.start;
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
                            let done = download.offset - download.start;
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

async fn file_size(shared: &Shared, space_id: &str, file_id: &str) -> Result<u64, JsValue> {
    let find = || -> Result<Option<(String, u64)>, JsValue> {
        Ok(shared
            .core
            .files(space_id)
            .map_err(client_error)?
            .into_iter()
            .find(|f| f.file_id == file_id)
            .map(|f| (f.name, f.size)))
    };
    match find()? {
        Some((name, size)) if !name.is_empty() => return Ok(size),
        _ => {
            // Not known here, or known without its manifest: read the space's manifests.
            shared
                .core
                .refresh_files(space_id)
                .await
                .map_err(client_error)?;
        }
    }
    match find()? {
        Some((_, size)) => Ok(size),
        None => Err(coded(
            "unknown_file",
            "not_found",
            &format!("unknown file: {file_id}"),
        )),
    }
}
