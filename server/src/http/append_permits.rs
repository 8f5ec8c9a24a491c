//! The per-instance bound on blob appends in flight. An append's body (up to
//! `limits.max_chunk`) stays in memory until its bytes are stored, which for object storage
//! can take seconds; without a bound, resident memory follows the appends a slow backend has
//! queued. The permit is taken before the body is read, so an append beyond the bound costs
//! no memory: it is answered `503 unavailable` with `Retry-After: 1`, and nothing changed.

use std::sync::Arc;

use bytes::Buf;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::{Filter, Rejection};

use crate::error::ApiError;
use crate::state::AppState;

/// A filter that takes one of the instance's `limits.max_concurrent_appends` permits, held
/// until the handler that receives it returns. Without a free permit it reads and discards
/// the body (at most `limits.max_chunk` bytes, chunk by chunk: nothing is kept) and rejects
/// with [`ApiError::Unavailable`]; reading the body lets the client, still sending it, get the
/// 503 on a connection that stays open instead of a reset.
pub fn append_permit(
    state: &AppState,
) -> impl Filter<Extract = (OwnedSemaphorePermit,), Error = Rejection> + Clone {
    let limit = usize::try_from(state.config.limits.max_concurrent_appends)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    gate(
        Arc::new(Semaphore::new(limit)),
        state.config.limits.max_chunk,
    )
}

/// [`append_permit`] over the semaphore `permits`.
fn gate(
    permits: Arc<Semaphore>,
    max_chunk: u64,
) -> impl Filter<Extract = (OwnedSemaphorePermit,), Error = Rejection> + Clone {
    let take = warp::any().and_then(move || {
        let permits = Arc::clone(&permits);
        async move { permits.try_acquire_owned().map_err(|_| busy()) }
    });
    let refuse = warp::body::stream().and_then(move |stream| drain_then_refuse(stream, max_chunk));
    take.or(refuse).unify()
}

fn busy() -> Rejection {
    Rejection::from(ApiError::unavailable(
        "as many blob appends in flight as this relay allows, retry",
    ))
}

async fn drain_then_refuse<S, B>(stream: S, limit: u64) -> Result<OwnedSemaphorePermit, Rejection>
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
    Err(busy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_bound_an_append_is_refused_503_until_a_permit_is_free() {
        let permits = Arc::new(Semaphore::new(2));
        let filter = gate(Arc::clone(&permits), 1 << 20);
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
}
