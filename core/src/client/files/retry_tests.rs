//! The retry loops of file transfers wait through the host's timer ([`Transport::sleep`]),
//! never by blocking the thread: a fake transport fails a number of times and records every
//! wait it is asked for, and the test runs the client's futures by polling them by hand (no
//! runtime, no timer, no real time passing).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sealroom_wire::CredentialIdentity;

use super::{back_off_delay, ATTEMPTS};
use crate::client::{
    ClientError, HttpRequest, HttpResponse, SealroomClient, SleepFuture, Transport, TransportError,
    TransportFuture,
};
use crate::identity::DeviceIdentity;
use crate::state::{MemoryKv, StorageKey};

/// Fails the first `failures` requests to connect, then answers 200 with `body`.
struct Flaky {
    failures: u32,
    sent: AtomicU32,
    slept: Mutex<Vec<Duration>>,
    body: Vec<u8>,
}

impl Transport for Flaky {
    fn send(&self, _request: HttpRequest) -> TransportFuture<'_> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let result = if n < self.failures {
            Err(TransportError::Connect("refused".into()))
        } else {
            Ok(HttpResponse {
                status: 200,
                headers: vec![("upload-offset".into(), "42".into())],
                body: self.body.clone(),
            })
        };
        Box::pin(std::future::ready(result))
    }

    fn now_secs(&self) -> i64 {
        1_700_000_000
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        self.slept.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// A client whose requests are signed by a fresh device (no relay round trip needed).
fn client(transport: Arc<Flaky>) -> SealroomClient {
    let client = SealroomClient::open(
        "http://127.0.0.1:9",
        transport,
        Box::new(MemoryKv::new()),
        StorageKey::from_bytes([3; 32]),
    )
    .unwrap();
    *client.signer.lock().unwrap() = Some(Arc::new(DeviceIdentity::generate(CredentialIdentity {
        org_id: "o".into(),
        user_id: "u".into(),
        device_id: "d".into(),
    })));
    client
}

/// Polls `future` to completion on this thread. Every future here is ready at once (the fake
/// transport answers and "sleeps" immediately), so a pending poll means something waited
/// outside the transport's timer.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the retry loop waited outside Transport::sleep"),
    }
}

fn flaky(failures: u32) -> Arc<Flaky> {
    Arc::new(Flaky {
        failures,
        sent: AtomicU32::new(0),
        slept: Mutex::new(Vec::new()),
        body: b"sealed bytes".to_vec(),
    })
}

#[test]
fn download_retries_wait_through_the_transport_timer() {
    let transport = flaky(3);
    let client = client(transport.clone());
    let body = run(client.get_range("room", "blob", None)).unwrap();
    assert_eq!(body, b"sealed bytes");
    assert_eq!(transport.sent.load(Ordering::SeqCst), 4);
    assert_eq!(
        *transport.slept.lock().unwrap(),
        vec![
            Duration::from_millis(20),
            Duration::from_millis(40),
            Duration::from_millis(60)
        ]
    );
}

#[test]
fn upload_offset_retries_wait_through_the_transport_timer() {
    let transport = flaky(2);
    let client = client(transport.clone());
    assert_eq!(run(client.blob_offset("room", "blob")).unwrap(), 42);
    assert_eq!(
        *transport.slept.lock().unwrap(),
        vec![back_off_delay(1), back_off_delay(2)]
    );
}

#[test]
fn retries_stop_after_the_last_attempt_with_one_wait_each() {
    let transport = flaky(u32::MAX);
    let client = client(transport.clone());
    let err = run(client.get_range("room", "blob", None)).unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert_eq!(transport.sent.load(Ordering::SeqCst), ATTEMPTS + 1);
    let slept = transport.slept.lock().unwrap();
    assert_eq!(slept.len(), ATTEMPTS as usize);
    assert_eq!(slept.last(), Some(&back_off_delay(ATTEMPTS)));
}
