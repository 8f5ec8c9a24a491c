//! Files for JS: policies, uploads (resumable, from a Web Stream), listings, downloads and
//! deletion (methods of `SealroomClient`).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use sealroom_core::client::{FilePolicy, FileUpload, NewFile, SNIFF_LEN};

use crate::client::*;
use crate::convert::{from_js, to_js};
use crate::error::client_error;

#[wasm_bindgen(js_class = SealroomClient)]
impl Client {
    // ----- files ---------------------------------------------------------------------------

    /// Restricts a space's files on this device (checked before encryption).
    #[wasm_bindgen(js_name = setFilePolicy, unchecked_return_type = "Promise<void>")]
    pub fn set_file_policy(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(unchecked_param_type = "FilePolicy")] policy: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let policy: FilePolicy = from_js(&policy, "file policy")?;
            s.core
                .set_file_policy(&space_id, &policy)
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A space's file policy on this device.
    #[wasm_bindgen(js_name = filePolicy, unchecked_return_type = "FilePolicy")]
    pub fn file_policy(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
    ) -> Result<JsValue, JsValue> {
        to_js(
            &self
                .shared
                .core
                .file_policy(&space_id)
                .map_err(client_error)?,
        )
    }

    /// Uploads `length` bytes read from `source`, sealed on this device chunk by chunk
    /// (memory stays at a few MiB whatever the size). `options`: `onStart(uploadId)` once the
    /// upload exists on the relay (for `cancelUpload` or `resumeUpload`), `onProgress(done,
    /// total)` in plaintext bytes (at least every 1 % or 256 KiB; `done` counts bytes sealed
    /// and handed to the relay, the last call comes once the relay holds everything),
    /// `signal` (an `AbortSignal`: the upload stops, is abandoned on the relay, and the
    /// Promise rejects with code `cancelled`). A bare function is taken as `onProgress`.
    #[wasm_bindgen(js_name = uploadFile, unchecked_return_type = "Promise<FileVersion>")]
    pub fn upload_file(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(unchecked_param_type = "NewFile")] file: JsValue,
        length: f64,
        #[wasm_bindgen(unchecked_param_type = "ReadableStream<Uint8Array>")] source: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "UploadOptions | ProgressCallback")]
        options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let opts = CallOptions::parse(&options, UPLOAD_OPTIONS, "uploadFile")?;
            let file: NewFile = from_js(&file, "file")?;
            let len = whole(length, "length")?;
            let reader = Rc::new(StreamReader::new(&source)?);
            let id = Rc::new(RefCell::new(None));
            let call = Box::pin(upload(
                s.clone(),
                Start::New {
                    space_id,
                    file,
                    len,
                },
                reader.clone(),
                opts.on_progress.clone(),
                opts.on_start.clone(),
                opts.controller.clone(),
                id.clone(),
            ));
            let result = abortable(&opts.signal(), "the upload", call).await;
            let id = id.borrow_mut().take();
            finish_upload(&s, &reader, id, &opts, result).await
        })
    }

    /// Uploads that did not finish (after a restart).
    #[wasm_bindgen(js_name = pendingUploads, unchecked_return_type = "PendingUpload[]")]
    pub fn pending_uploads(&self) -> Result<JsValue, JsValue> {
        let uploads = self.shared.core.pending_uploads().map_err(client_error)?;
        to_js(&uploads)
    }

    /// Resumes a pending upload: give the same source again from its first byte; what the
    /// relay already holds is re-sealed and checked, not sent again. `options` as for
    /// `uploadFile` (`onStart` is not called: the id is known).
    #[wasm_bindgen(js_name = resumeUpload, unchecked_return_type = "Promise<FileVersion>")]
    pub fn resume_upload(
        &self,
        #[wasm_bindgen(js_name = uploadId)] upload_id: String,
        #[wasm_bindgen(unchecked_param_type = "ReadableStream<Uint8Array>")] source: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "UploadOptions | ProgressCallback")]
        options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let opts = CallOptions::parse(&options, UPLOAD_OPTIONS, "resumeUpload")?;
            let reader = Rc::new(StreamReader::new(&source)?);
            let id = Rc::new(RefCell::new(Some(upload_id.clone())));
            let call = Box::pin(upload(
                s.clone(),
                Start::Resume(upload_id),
                reader.clone(),
                opts.on_progress.clone(),
                None,
                opts.controller.clone(),
                id.clone(),
            ));
            let result = abortable(&opts.signal(), "the upload", call).await;
            let id = id.borrow_mut().take();
            finish_upload(&s, &reader, id, &opts, result).await
        })
    }

    /// Abandons a pending upload; one in flight in this client stops and its Promise rejects
    /// with code `cancelled`.
    #[wasm_bindgen(js_name = cancelUpload, unchecked_return_type = "Promise<void>")]
    pub fn cancel_upload(&self, #[wasm_bindgen(js_name = uploadId)] upload_id: String) -> Promise {
        self.bridge_js(move |s| async move {
            let controller = take_upload(&s, &upload_id);
            if let Some(controller) = controller {
                CallOptions::abort(&controller);
            }
            s.core
                .cancel_upload(&upload_id)
                .await
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// File versions of a space known locally.
    #[wasm_bindgen(unchecked_return_type = "FileVersion[]")]
    pub fn files(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
    ) -> Result<JsValue, JsValue> {
        let files = self.shared.core.files(&space_id).map_err(client_error)?;
        to_js(&files)
    }

    /// Documents of a space (all versions, latest marked), the most recently updated first.
    #[wasm_bindgen(unchecked_return_type = "Document[]")]
    pub fn documents(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
    ) -> Result<JsValue, JsValue> {
        let docs = self
            .shared
            .core
            .documents(&space_id)
            .map_err(client_error)?;
        to_js(&docs)
    }

    /// Lists the space's files on the relay and reads manifests this device has not seen
    /// (documents shared before it joined).
    #[wasm_bindgen(js_name = refreshFiles, unchecked_return_type = "Promise<ClientEvent[]>")]
    pub fn refresh_files(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(unchecked_optional_param_type = "SignalOptions")] options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let opts = CallOptions::parse(&options, &["signal"], "refreshFiles")?;
            let call = Box::pin(async move {
                let events = s
                    .core
                    .refresh_files(&space_id)
                    .await
                    .map_err(client_error)?;
                to_js(&events)
            });
            abortable(&opts.signal(), "refreshFiles", call).await
        })
    }

    /// Downloads a file as a `ReadableStream<Uint8Array>` of authenticated plaintext, pulled
    /// from the relay as the reader consumes it (backpressure; memory stays flat).
    /// `options`: `onProgress(done, total)` in plaintext bytes delivered to the stream (at
    /// least every 1 % or 256 KiB), `signal` (an `AbortSignal`: the Promise rejects, or the
    /// stream errors, with code `cancelled`). A bare function is taken as `onProgress`.
    #[wasm_bindgen(js_name = downloadFile, unchecked_return_type = "Promise<ReadableStream<Uint8Array>>")]
    pub fn download_file(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
        #[wasm_bindgen(unchecked_optional_param_type = "DownloadOptions | ProgressCallback")]
        options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let opts = CallOptions::parse(&options, DOWNLOAD_OPTIONS, "downloadFile")?;
            let signal = opts.signal();
            let call = Box::pin(async move {
                let download = crate::download::Download::start(s, space_id, file_id, None).await?;
                download.into_stream(opts)
            });
            abortable(&signal, "the download", call).await
        })
    }

    /// Downloads `length` plaintext bytes from `offset` as a stream (only the chunks holding
    /// the range are fetched); `options` as for `downloadFile`.
    #[wasm_bindgen(js_name = downloadRange, unchecked_return_type = "Promise<ReadableStream<Uint8Array>>")]
    pub fn download_range(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
        offset: f64,
        length: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "DownloadOptions | ProgressCallback")]
        options: JsValue,
    ) -> Promise {
        self.bridge_js(move |s| async move {
            let opts = CallOptions::parse(&options, DOWNLOAD_OPTIONS, "downloadRange")?;
            let start = whole(offset, "offset")?;
            let len = whole(length, "length")?;
            let signal = opts.signal();
            let call = Box::pin(async move {
                let download =
                    crate::download::Download::start(s, space_id, file_id, Some((start, len)))
                        .await?;
                download.into_stream(opts)
            });
            abortable(&signal, "the download", call).await
        })
    }

    /// Deletes a file version (its author or space staff).
    #[wasm_bindgen(js_name = deleteFile, unchecked_return_type = "Promise<void>")]
    pub fn delete_file(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
    ) -> Promise {
        self.bridge_unit(move |s| async move { s.core.delete_file(&space_id, &file_id).await })
    }
}

/// Core's sealed-byte progress is not reported (plaintext [`Progress`] is); one function
/// type, so core's upload functions are instantiated once.
fn no_progress(_done: u64, _total: u64) {}

/// Option names of `uploadFile` and `resumeUpload`.
const UPLOAD_OPTIONS: &[&str] = &["signal", "onProgress", "onStart"];
/// Option names of `downloadFile` and `downloadRange`.
pub(crate) const DOWNLOAD_OPTIONS: &[&str] = &["signal", "onProgress"];
/// Progress is reported at least every this many plaintext bytes (or every 1 %).
pub(crate) const PROGRESS_STEP: u64 = 256 * 1024;

/// Plaintext progress `(done, total)`, reported whenever it moved by 1 % of `total` or by
/// [`PROGRESS_STEP`] bytes, whichever is smaller, and at the end.
pub(crate) struct Progress {
    callback: Option<Function>,
    total: u64,
    done: u64,
    reported: u64,
    step: u64,
}

impl Progress {
    pub(crate) fn new(callback: Option<Function>, total: u64) -> Self {
        Self {
            callback,
            total,
            done: 0,
            reported: 0,
            step: (total / 100).clamp(1, PROGRESS_STEP),
        }
    }

    /// `n` more bytes done.
    pub(crate) fn add(&mut self, n: u64) {
        // A total of 0 is unknown (a file whose size this device has not read yet).
        let cap = if self.total == 0 {
            u64::MAX
        } else {
            self.total.max(self.done)
        };
        self.done = self.done.saturating_add(n).min(cap);
        let step = if self.total == 0 {
            PROGRESS_STEP
        } else {
            self.step
        };
        if self.done - self.reported >= step && (self.total == 0 || self.done < self.total) {
            self.report();
        }
    }

    /// Bytes until the next report is due (pieces cut at this length make reports exactly
    /// one step apart).
    pub(crate) fn room(&self) -> usize {
        let step = if self.total == 0 {
            PROGRESS_STEP
        } else {
            self.step
        };
        let due = step.saturating_sub(self.done - self.reported).max(1);
        usize::try_from(due).unwrap_or(usize::MAX)
    }

    /// Everything done.
    pub(crate) fn finish(&mut self) {
        if self.total == 0 {
            self.total = self.done;
        }
        self.done = self.total.max(self.done);
        self.report();
    }

    fn report(&mut self) {
        self.reported = self.done;
        if let Some(f) = &self.callback {
            // A throwing progress callback must not break the transfer.
            let _ = f.call2(&JsValue::NULL, &num(self.done), &num(self.total));
        }
    }
}

/// Pushes `data` into `upload` in pieces of at most [`PROGRESS_STEP`] bytes, reporting
/// plaintext progress after each.
async fn push(
    shared: &Rc<Shared>,
    upload: &mut FileUpload,
    data: &[u8],
    progress: &mut Progress,
) -> Result<(), JsValue> {
    let mut rest = data;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(progress.room().min(rest.len()));
        shared
            .core
            .upload_push(upload, piece, &mut no_progress)
            .await
            .map_err(client_error)?;
        progress.add(piece.len() as u64);
        rest = tail;
    }
    Ok(())
}

/// Pushes the rest of `reader` into `upload`, writing checkpoints to the store as they come.
async fn pump(
    shared: &Rc<Shared>,
    upload: &mut FileUpload,
    reader: &StreamReader,
    progress: &mut Progress,
) -> Result<(), JsValue> {
    while let Some(chunk) = reader.next().await? {
        push(shared, upload, &chunk, progress).await?;
        if !shared.pending.is_empty() {
            shared.flush().await?;
        }
    }
    Ok(())
}

/// Where an upload starts: a new file, or a pending upload given again from its first byte.
enum Start {
    New {
        space_id: String,
        file: NewFile,
        len: u64,
    },
    Resume(String),
}

/// One upload, new or resumed (one function, so its code is in the module once).
async fn upload(
    shared: Rc<Shared>,
    start: Start,
    reader: Rc<StreamReader>,
    on_progress: Option<Function>,
    on_start: Option<Function>,
    controller: JsValue,
    id: Rc<RefCell<Option<String>>>,
) -> Result<JsValue, JsValue> {
    let (shared, reader) = (&shared, &*reader);
    let mut prefix = Vec::new();
    let mut ended = false;
    let mut upload = match start {
        Start::New {
            space_id,
            file,
            len,
        } => {
            // The first bytes decide the media type (policy) before anything is encrypted.
            let want = usize::try_from(len).map_or(SNIFF_LEN, |l| l.min(SNIFF_LEN));
            while prefix.len() < want {
                match reader.next().await? {
                    Some(chunk) => prefix.extend_from_slice(&chunk),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            let sniffed = &prefix[..want.min(prefix.len())];
            shared
                .core
                .start_upload(&space_id, &file, len, sniffed)
                .await
        }
        Start::Resume(upload_id) => shared.core.resume_upload_session(&upload_id).await,
    }
    .map_err(client_error)?;
    let mut progress = Progress::new(on_progress, upload.source_len());
    let upload_id = upload.upload_id().to_owned();
    *id.borrow_mut() = Some(upload_id.clone());
    shared
        .uploads
        .borrow_mut()
        .push((upload_id.clone(), controller));
    // The upload state is durable before the first byte leaves (resume after a restart).
    shared.flush().await?;
    if let Some(f) = &on_start {
        let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&upload_id));
    }
    push(shared, &mut upload, &prefix, &mut progress).await?;
    drop(prefix);
    if !ended {
        pump(shared, &mut upload, reader, &mut progress).await?;
    }
    let version = shared
        .core
        .upload_finish(upload, &mut no_progress)
        .await
        .map_err(client_error)?;
    progress.finish();
    to_js(&version)
}

/// Removes and returns the controller of the upload `id` in flight, if any.
fn take_upload(shared: &Shared, id: &str) -> Option<JsValue> {
    let mut uploads = shared.uploads.borrow_mut();
    let at = uploads.iter().position(|(u, _)| u == id)?;
    Some(uploads.swap_remove(at).1)
}

/// After an upload ended: forgets its controller; on failure stops the source, and on
/// cancellation abandons the upload on the relay (unless `cancelUpload` already does) and
/// answers `cancelled` whatever the in-flight request said.
async fn finish_upload(
    shared: &Rc<Shared>,
    reader: &StreamReader,
    id: Option<String>,
    opts: &CallOptions,
    result: Result<JsValue, JsValue>,
) -> Result<JsValue, JsValue> {
    // Present only while nobody called `cancelUpload` for it.
    let own = id.as_ref().and_then(|id| take_upload(shared, id));
    if result.is_ok() {
        return result;
    }
    reader.cancel();
    if opts.aborted() {
        if let (Some(id), Some(_)) = (&id, own) {
            // Best effort: a failure leaves it in `pendingUploads`.
            let _ = shared.core.cancel_upload(id).await;
        }
        return Err(crate::error::cancelled("the upload"));
    }
    result
}
