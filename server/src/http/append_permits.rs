//! The per-instance bound on blob appends in flight. An append's body (up to
//! `limits.max_chunk`) stays in memory until its bytes are stored, which for object storage
//! can take seconds; without a bound, resident memory follows the appends a slow backend has
//! queued. The permit is taken before the body is read, so an append beyond the bound costs
//! no memory: it is answered `503 unavailable` with `Retry-After: 1`, and nothing changed.
//!
//! The permits are only for authenticated appends, and only for a while:
//! - everything the request head tells is checked before a permit is taken
//!   ([`crate::auth::precheck`]: a known, active device, the timestamp window, a fresh nonce,
//!   the announced length), so a sender who names no device of the relay never holds one
//!   (401 at once, the body never read);
//! - the signature covers the body, so a sender naming a real device (device ids are not
//!   secret) passes those checks: one device from one source address holds at most
//!   [`PER_DEVICE_APPENDS`] permits, so such a sender takes neither all the permits nor the
//!   named device's own;
//! - once it holds a permit, the body must arrive within `limits.append_body_timeout_secs`,
//!   else the append is answered `408 request_timeout` (nothing stored, counted as a failed
//!   authentication of the source address, whose budget then answers 429) and the permit
//!   freed, so stalled uploads cannot keep permits. Reading and dropping the body of a refused
//!   append (503) has the same deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::{Filter, Rejection};

use crate::auth::{self, AuthedDevice, Pending};
use crate::error::ApiError;
use crate::state::AppState;

use super::collect_body;

/// Appends one sender (a device named in the head, from one source address) may have in
/// flight at once: a sender naming a device it does not own (its signature is only checked
/// once the body arrived) takes at most these permits of the instance, and none of the named
/// device's own (another source address is another sender).
pub const PER_DEVICE_APPENDS: usize = 4;

/// What an authenticated append holds until its handler returns: one of the instance's
/// permits and one of its sender's [`PER_DEVICE_APPENDS`] slots.
#[derive(Debug)]
pub struct AppendPermit {
    _instance: OwnedSemaphorePermit,
    _device: DeviceSlot,
}

/// Authenticates an append and holds an [`AppendPermit`] for it: the head checks first (no
/// permit for an unknown device, a stale timestamp or a used nonce: 401 without reading the
/// body), then one of the instance's `limits.max_concurrent_appends` permits and one of the
/// sender's [`PER_DEVICE_APPENDS`] slots (503 without), then the body (at most
/// `limits.max_chunk` bytes, within `limits.append_body_timeout_secs`, else 408, counted as a
/// failed authentication of the source address) and the signature over it.
pub fn authenticated_append(
    state: &AppState,
) -> impl Filter<Extract = (AppendPermit, AuthedDevice), Error = Rejection> + Clone {
    let limit = state.config.limits.max_chunk;
    let permits = usize::try_from(state.config.limits.max_concurrent_appends)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    let deadline = Duration::from_secs(state.config.limits.append_body_timeout_secs.max(1));
    let devices = Arc::new(DeviceSlots::default());
    let fin = state.clone();
    super::auth::pending(state.clone(), limit)
        .and(gate(Arc::new(Semaphore::new(permits)), limit, deadline))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(
            move |pending: Pending, permit: OwnedSemaphorePermit, length: Option<u64>, stream| {
                let st = fin.clone();
                let devices = Arc::clone(&devices);
                async move {
                    let Some(slot) = devices.take(&pending.sender_key()) else {
                        drop(permit);
                        let _ = tokio::time::timeout(deadline, drain(stream, limit)).await;
                        return Err(busy());
                    };
                    let body = match read_body(length, stream, limit, deadline).await {
                        Some(body) => body?,
                        None => {
                            return Err(Rejection::from(
                                pending.body_timed_out(&st, deadline.as_secs()),
                            ))
                        }
                    };
                    let authed = auth::finish(&st, pending, body).map_err(Rejection::from)?;
                    let held = AppendPermit {
                        _instance: permit,
                        _device: slot,
                    };
                    Ok::<_, Rejection>((held, authed))
                }
            },
        )
        .untuple_one()
}

/// The body of an append holding a permit: at most `limit` bytes (413 beyond); `None` when it
/// did not arrive within `deadline`.
async fn read_body<S, B>(
    length: Option<u64>,
    stream: S,
    limit: u64,
    deadline: Duration,
) -> Option<Result<Bytes, Rejection>>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    tokio::time::timeout(deadline, collect_body(length, stream, limit))
        .await
        .ok()
}

/// Appends in flight per sender (device and source address; entries removed when they reach
/// zero, so the table holds at most one entry per append in flight).
#[derive(Debug, Default)]
struct DeviceSlots(Mutex<HashMap<String, usize>>);

impl DeviceSlots {
    fn take(self: &Arc<Self>, sender: &str) -> Option<DeviceSlot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(sender.to_owned()).or_insert(0);
        if *count >= PER_DEVICE_APPENDS {
            return None;
        }
        *count += 1;
        Some(DeviceSlot {
            slots: Arc::clone(self),
            sender: sender.to_owned(),
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One of a sender's [`PER_DEVICE_APPENDS`] slots, given back on drop.
#[derive(Debug)]
struct DeviceSlot {
    slots: Arc<DeviceSlots>,
    sender: String,
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        let mut map = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&self.sender) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.sender);
            }
        }
    }
}

/// Takes a permit of `permits`; without a free one, reads and discards the body (at most
/// `max_chunk` bytes, chunk by chunk: nothing is kept, for at most `deadline`) and rejects with
/// [`ApiError::Unavailable`]; reading the body lets the client, still sending it, get the 503 on
/// a connection that stays open instead of a reset.
fn gate(
    permits: Arc<Semaphore>,
    max_chunk: u64,
    deadline: Duration,
) -> impl Filter<Extract = (OwnedSemaphorePermit,), Error = Rejection> + Clone {
    let take = warp::any().and_then(move || {
        let permits = Arc::clone(&permits);
        async move { permits.try_acquire_owned().map_err(|_| busy()) }
    });
    let refuse = warp::body::stream().and_then(move |stream| async move {
        // A stalled body is dropped at the deadline; the answer is the same 503.
        let _ = tokio::time::timeout(deadline, drain(stream, max_chunk)).await;
        Err::<OwnedSemaphorePermit, Rejection>(busy())
    });
    take.or(refuse).unify()
}

fn busy() -> Rejection {
    Rejection::from(ApiError::unavailable(
        "as many blob appends in flight as this relay allows, retry",
    ))
}

async fn drain<S, B>(stream: S, limit: u64)
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = Box::pin(stream);
    let mut read = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        read = read.saturating_add(chunk.remaining() as u64);
        if read > limit {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_bound_an_append_is_refused_503_until_a_permit_is_free() {
        let permits = Arc::new(Semaphore::new(2));
        let filter = gate(Arc::clone(&permits), 1 << 20, Duration::from_secs(60));
        let first = warp::test::request()
            .method("PATCH")
            .body(vec![1u8; 4096])
            .filter(&filter)
            .await
            .unwrap();
        let _second = warp::test::request()
            .method("PATCH")
            .body(vec![2u8; 4096])
            .filter(&filter)
            .await
            .unwrap();
        assert_eq!(permits.available_permits(), 0);
        // A third append while two are in flight: refused, its body read and dropped.
        let refused = warp::test::request()
            .method("PATCH")
            .body(vec![3u8; 64 * 1024])
            .filter(&filter)
            .await
            .unwrap_err();
        let err = refused.find::<ApiError>().unwrap();
        assert_eq!(err.status(), 503);
        assert!(matches!(err, ApiError::Unavailable { retry_after: 1, .. }));
        let reply = warp::test::request()
            .method("PATCH")
            .body(vec![3u8; 16])
            .reply(
                &filter
                    .clone()
                    .map(|_p| "stored")
                    .recover(crate::http::reject::recover),
            )
            .await;
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()["retry-after"], "1");
        // One finishes: the next append gets its permit.
        drop(first);
        let _third = warp::test::request()
            .method("PATCH")
            .body(vec![3u8; 16])
            .filter(&filter)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_a_complete_one_arrives() {
        // A body that never ends (a sender that stopped sending) hits the deadline.
        let stalled = futures_util::stream::pending::<Result<Bytes, warp::Error>>();
        assert!(
            read_body(Some(10), stalled, 1 << 20, Duration::from_secs(1))
                .await
                .is_none()
        );
        // A body that arrives is read whole.
        let parts = futures_util::stream::iter(vec![
            Ok::<_, warp::Error>(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"def")),
        ]);
        let body = read_body(Some(6), parts, 1 << 20, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&body[..], b"abcdef");
    }

    #[test]
    fn one_device_holds_at_most_its_slots_and_gives_them_back() {
        let slots = Arc::new(DeviceSlots::default());
        let held: Vec<DeviceSlot> = (0..PER_DEVICE_APPENDS)
            .map(|_| slots.take("mallory").unwrap())
            .collect();
        assert!(slots.take("mallory").is_none());
        // Another device is not affected.
        let other = slots.take("alice").unwrap();
        drop(held);
        assert!(slots.take("mallory").is_some());
        drop(other);
        assert_eq!(slots.len(), 0);
    }
}
