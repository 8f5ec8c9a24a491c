//! Target `client_response`: the SDK client's processing of relay responses.
//!
//! The customer device of the [`crate::world`] (registered, added to a space, not yet synced)
//! is opened from a copy of its local state over a [`Transport`] whose responses come from the
//! fuzz input, and runs [`script`]: sync (welcomes, handshakes, messages, key packages), file
//! refresh, download of every known file, the space list, a message post.
//!
//! Input: a sequence of responses, each `status selector (1) | body length (2, BE) | body`.
//! A selector with the high bit set is a transport failure instead; when the input runs out
//! every further request fails to connect.
//!
//! Invariants: no panic (every failure is a typed [`ClientError`]); the local state opens
//! again afterwards as the same registered account, and its file index and messages read.

use std::sync::{Arc, Mutex};

use sealroom_core::client::{
    ClientError, HttpRequest, HttpResponse, NewMessage, SealroomClient, Transport, TransportError,
    TransportFuture,
};
use sealroom_core::state::StorageKey;

use crate::world::{world, CUSTOMER_STORAGE_KEY, RELAY_URL};

/// Statuses a selector maps to (index = selector modulo the length).
const STATUSES: [u16; 16] = [
    200, 201, 204, 206, 400, 401, 403, 404, 409, 413, 416, 429, 500, 503, 302, 200,
];

/// Most download pieces the script asks for (a fuzzed relay may never finish a download).
const MAX_PIECES: usize = 16;

/// The calls the target makes, in order; the world runs the same script against the real
/// relay to record the seed. Errors stop nothing: each step runs whatever the previous gave.
pub async fn script(client: &SealroomClient, space_id: &str) -> Result<(), ClientError> {
    let mut first_error = None;
    let mut note = |r: Result<(), ClientError>| {
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    };
    note(client.sync().await.map(drop));
    note(client.refresh_files(space_id).await.map(drop));
    let files = client.files(space_id).unwrap_or_default();
    for file in files.iter().take(2) {
        let result = async {
            let mut download = client.start_download(space_id, &file.file_id, None).await?;
            for _ in 0..MAX_PIECES {
                if client.download_next(&mut download).await?.is_none() {
                    break;
                }
            }
            Ok(())
        }
        .await;
        note(result);
    }
    note(client.spaces().await.map(drop));
    note(
        client
            .post_message(
                space_id,
                NewMessage {
                    thread_id: None,
                    body: "reply".into(),
                    reply_to: None,
                    expires_in_secs: None,
                    internal: false,
                },
            )
            .await
            .map(drop),
    );
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Encodes recorded responses as one input of this target.
pub fn encode(responses: &[HttpResponse]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in responses {
        let selector = STATUSES.iter().position(|s| *s == r.status).unwrap_or(0) as u8;
        let len = r.body.len().min(usize::from(u16::MAX));
        out.push(selector);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&r.body[..len]);
    }
    out
}

/// Responses from the fuzz input.
struct Scripted {
    input: Mutex<(Vec<u8>, usize)>,
}

impl Scripted {
    fn next(&self) -> Result<HttpResponse, TransportError> {
        let mut guard = self
            .input
            .lock()
            .map_err(|_| TransportError::Other("poisoned".into()))?;
        let (data, at) = &mut *guard;
        let Some(&selector) = data.get(*at) else {
            return Err(TransportError::Connect("fuzz input exhausted".into()));
        };
        let len = match data.get(*at + 1..*at + 3) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => 0,
        };
        let start = (*at + 3).min(data.len());
        let end = start.saturating_add(len).min(data.len());
        let body = data[start..end].to_vec();
        *at = end;
        if selector & 0x80 != 0 {
            return Err(if selector & 1 == 0 {
                TransportError::Timeout
            } else {
                TransportError::Connect("fuzzed failure".into())
            });
        }
        let status = STATUSES[usize::from(selector) % STATUSES.len()];
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if status == 206 {
            headers.push((
                "content-range".to_owned(),
                format!("bytes 0-{}/{}", body.len().saturating_sub(1), body.len()),
            ));
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl Transport for Scripted {
    fn send(&self, _request: HttpRequest) -> TransportFuture<'_> {
        let response = self.next();
        Box::pin(async move { response })
    }

    fn now_secs(&self) -> i64 {
        sealroom_core::client::system_now_secs()
    }
}

/// The target body.
pub fn client_response(data: &[u8]) {
    let w = world();
    let kv = w
        .customer_kv
        .snapshot()
        .expect("snapshot of the customer state");
    let transport = Arc::new(Scripted {
        input: Mutex::new((data.to_vec(), 0)),
    });
    let client = SealroomClient::open(
        RELAY_URL,
        transport.clone(),
        Box::new(kv.clone()),
        StorageKey::from_bytes(CUSTOMER_STORAGE_KEY),
    )
    .expect("the customer state opens");
    let account = client.account().expect("registered account");
    // Any error is fine (it is typed by construction); a panic is the finding.
    let _ = w.rt.block_on(script(&client, &w.space_id));
    drop(client);

    let reopened = SealroomClient::open(
        RELAY_URL,
        transport,
        Box::new(kv),
        StorageKey::from_bytes(CUSTOMER_STORAGE_KEY),
    )
    .expect("local state must open after processing any relay responses");
    assert!(reopened.is_registered());
    assert_eq!(
        reopened.account().expect("account after reopening"),
        account
    );
    reopened
        .files(&w.space_id)
        .expect("file index readable after reopening");
    reopened
        .messages(&w.space_id, None)
        .expect("messages readable after reopening");
}
