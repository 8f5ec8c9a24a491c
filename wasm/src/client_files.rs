//! Files for JS: policies, uploads (resumable, from a Web Stream), listings, downloads and
//! deletion (methods of `SealroomClient`).

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use sealroom_core::client::{FilePolicy, FileUpload, NewFile, SNIFF_LEN};

use crate::client::*;
use crate::convert::{self, from_js, list, to_js, value_to_js};
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
        let s = self.shared.clone();
        run(&self.shared, async move {
            let p: FilePolicyJs = from_js(&policy, "file policy")?;
            let policy = FilePolicy {
                allowed_media_types: p.allowed_media_types,
                max_size: p.max_size,
            };
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
    /// (memory stays at a few MiB whatever the size). `onProgress(done, total)` counts sealed
    /// bytes the relay acknowledged.
    #[wasm_bindgen(js_name = uploadFile, unchecked_return_type = "Promise<FileVersion>")]
    pub fn upload_file(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(unchecked_param_type = "NewFile")] file: JsValue,
        length: f64,
        #[wasm_bindgen(unchecked_param_type = "ReadableStream<Uint8Array>")] source: JsValue,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "ProgressCallback")]
        on_progress: Option<Function>,
    ) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            let f: NewFileJs = from_js(&file, "file")?;
            let file = NewFile {
                name: f.name,
                document_id: f.document_id,
                internal: f.internal,
                thread_id: f.thread_id,
            };
            let len = whole(length, "length")?;
            let reader = StreamReader::new(&source)?;
            let result = upload(&s, &space_id, &file, len, &reader, on_progress).await;
            if result.is_err() {
                reader.cancel();
            }
            result
        })
    }

    /// Uploads that did not finish (after a restart).
    #[wasm_bindgen(js_name = pendingUploads, unchecked_return_type = "PendingUpload[]")]
    pub fn pending_uploads(&self) -> Result<JsValue, JsValue> {
        let uploads = self.shared.core.pending_uploads().map_err(client_error)?;
        value_to_js(&list(&uploads, convert::pending_upload))
    }

    /// Resumes a pending upload: give the same source again from its first byte; what the
    /// relay already holds is re-sealed and checked, not sent again.
    #[wasm_bindgen(js_name = resumeUpload, unchecked_return_type = "Promise<FileVersion>")]
    pub fn resume_upload(
        &self,
        #[wasm_bindgen(js_name = uploadId)] upload_id: String,
        #[wasm_bindgen(unchecked_param_type = "ReadableStream<Uint8Array>")] source: JsValue,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "ProgressCallback")]
        on_progress: Option<Function>,
    ) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            let reader = StreamReader::new(&source)?;
            let mut progress = progress_fn(on_progress);
            let result = async {
                let mut upload = s
                    .core
                    .resume_upload_session(&upload_id)
                    .await
                    .map_err(client_error)?;
                pump(&s, &mut upload, &reader, &mut progress).await?;
                let version = s
                    .core
                    .upload_finish(upload, &mut progress)
                    .await
                    .map_err(client_error)?;
                value_to_js(&convert::file_version(&version))
            }
            .await;
            if result.is_err() {
                reader.cancel();
            }
            result
        })
    }

    /// Abandons a pending upload.
    #[wasm_bindgen(js_name = cancelUpload, unchecked_return_type = "Promise<void>")]
    pub fn cancel_upload(&self, #[wasm_bindgen(js_name = uploadId)] upload_id: String) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
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
        value_to_js(&list(&files, convert::file_version))
    }

    /// Documents of a space (all versions, latest marked).
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
        value_to_js(&list(&docs, convert::document))
    }

    /// Lists the space's files on the relay and reads manifests this device has not seen
    /// (documents shared before it joined).
    #[wasm_bindgen(js_name = refreshFiles, unchecked_return_type = "Promise<ClientEvent[]>")]
    pub fn refresh_files(&self, #[wasm_bindgen(js_name = spaceId)] space_id: String) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            let events = s
                .core
                .refresh_files(&space_id)
                .await
                .map_err(client_error)?;
            value_to_js(&list(&events, convert::event))
        })
    }

    /// Downloads a file as a `ReadableStream<Uint8Array>` of authenticated plaintext, pulled
    /// from the relay as the reader consumes it (backpressure; memory stays flat).
    /// `onProgress(done, total)` counts plaintext bytes.
    #[wasm_bindgen(js_name = downloadFile, unchecked_return_type = "Promise<ReadableStream<Uint8Array>>")]
    pub fn download_file(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "ProgressCallback")]
        on_progress: Option<Function>,
    ) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            let download = crate::download::Download::start(s, space_id, file_id, None).await?;
            download.into_stream(on_progress)
        })
    }

    /// Downloads `length` plaintext bytes from `offset` as a stream (only the chunks holding
    /// the range are fetched).
    #[wasm_bindgen(js_name = downloadRange, unchecked_return_type = "Promise<ReadableStream<Uint8Array>>")]
    pub fn download_range(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
        offset: f64,
        length: f64,
        #[wasm_bindgen(js_name = onProgress, unchecked_optional_param_type = "ProgressCallback")]
        on_progress: Option<Function>,
    ) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            let start = whole(offset, "offset")?;
            let len = whole(length, "length")?;
            let download =
                crate::download::Download::start(s, space_id, file_id, Some((start, len))).await?;
            download.into_stream(on_progress)
        })
    }

    /// Deletes a file version (its author or space staff).
    #[wasm_bindgen(js_name = deleteFile, unchecked_return_type = "Promise<void>")]
    pub fn delete_file(
        &self,
        #[wasm_bindgen(js_name = spaceId)] space_id: String,
        #[wasm_bindgen(js_name = fileId)] file_id: String,
    ) -> Promise {
        let s = self.shared.clone();
        run(&self.shared, async move {
            s.core
                .delete_file(&space_id, &file_id)
                .await
                .map_err(client_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// Pushes the rest of `reader` into `upload`, writing checkpoints to the store as they come.
async fn pump(
    shared: &Rc<Shared>,
    upload: &mut FileUpload,
    reader: &StreamReader,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), JsValue> {
    while let Some(chunk) = reader.next().await? {
        shared
            .core
            .upload_push(upload, &chunk, progress)
            .await
            .map_err(client_error)?;
        if !shared.pending.is_empty() {
            shared.flush().await?;
        }
    }
    Ok(())
}

async fn upload(
    shared: &Rc<Shared>,
    space_id: &str,
    file: &NewFile,
    len: u64,
    reader: &StreamReader,
    on_progress: Option<Function>,
) -> Result<JsValue, JsValue> {
    let mut progress = progress_fn(on_progress);
    // The first bytes decide the media type (policy) before anything is encrypted.
    let want = usize::try_from(len).map_or(SNIFF_LEN, |l| l.min(SNIFF_LEN));
    let mut prefix = Vec::with_capacity(want);
    let mut ended = false;
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
    let mut upload = shared
        .core
        .start_upload(space_id, file, len, sniffed)
        .await
        .map_err(client_error)?;
    // The upload state is durable before the first byte leaves (resume after a restart).
    shared.flush().await?;
    shared
        .core
        .upload_push(&mut upload, &prefix, &mut progress)
        .await
        .map_err(client_error)?;
    drop(prefix);
    if !ended {
        pump(shared, &mut upload, reader, &mut progress).await?;
    }
    let version = shared
        .core
        .upload_finish(upload, &mut progress)
        .await
        .map_err(client_error)?;
    value_to_js(&convert::file_version(&version))
}
