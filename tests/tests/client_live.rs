//! Live events through the Rust SDK (`SealroomClient::next_events`) against the real relay
//! binary: staff learn that an invitee registered ([`ClientEvent::MemberWaiting`]); a message
//! and a file posted by one device arrive as events on another that never calls `sync`; the
//! loop reconnects (with back-off through `Transport::sleep`) across a relay restart on the
//! same data directory and port and continues from its stored cursor; a removed member's loop
//! reports the removal and then never yields an event of that space again, while events of
//! its other space still arrive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sealroom_core::client::{
    ClientEvent, HttpRequest, HttpTransport, LiveOptions, NewFile, NewMessage, SealroomClient,
    SleepFuture, Transport, TransportFuture,
};

use sealroom_tests::relay::Relay;
use sealroom_tests::sdk::{SdkDevice, StaffSpace};

/// The real transport, counting failed sends and back-off pauses.
struct Counting {
    inner: HttpTransport,
    failures: Arc<AtomicUsize>,
    sleeps: Arc<AtomicUsize>,
}

impl Transport for Counting {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        let failures = self.failures.clone();
        Box::pin(async move {
            let result = self.inner.send(request).await;
            if result.is_err() {
                failures.fetch_add(1, Ordering::SeqCst);
            }
            result
        })
    }

    fn now_secs(&self) -> i64 {
        self.inner.now_secs()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture<'_> {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        self.inner.sleep(duration)
    }
}

/// A customer's device on the counting transport, with its counters.
struct Counted {
    device: SdkDevice,
    failures: Arc<AtomicUsize>,
    sleeps: Arc<AtomicUsize>,
}

fn counted(url: &str) -> Counted {
    let failures = Arc::new(AtomicUsize::new(0));
    let sleeps = Arc::new(AtomicUsize::new(0));
    let transport = Arc::new(Counting {
        inner: HttpTransport::new().unwrap(),
        failures: failures.clone(),
        sleeps: sleeps.clone(),
    });
    Counted {
        device: SdkDevice::with_transport(url, transport),
        failures,
        sleeps,
    }
}

fn options(full_sync_secs: u64) -> LiveOptions {
    LiveOptions {
        wait_secs: 5,
        full_sync_secs,
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
    }
}

/// Awaits live batches until `done` holds for one event; returns every event seen.
async fn until(client: &SealroomClient, done: impl Fn(&ClientEvent) -> bool) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    loop {
        let batch = client.next_events().await.unwrap();
        assert!(!batch.is_empty(), "next_events returned an empty batch");
        let hit = batch.iter().any(&done);
        seen.extend(batch);
        if hit {
            return seen;
        }
    }
}

fn is_message(body: &'static str) -> impl Fn(&ClientEvent) -> bool {
    move |e| matches!(e, ClientEvent::NewMessage { message: m } if m.body == body)
}

fn text(body: &str) -> NewMessage {
    NewMessage {
        body: body.into(),
        ..NewMessage::default()
    }
}

const HELLO: &str = "live hello: statement ZQ-5512 is ready";
const AFTER_RESTART: &str = "after the relay restart: ledger 7731";
const SECRET: &str = "posted after the removal: payroll 55190";
const MARKER: &str = "second space, after the removal: marker 30917";

#[test]
fn events_arrive_without_sync_across_a_restart_and_stop_at_removal() {
    let mut relay = Relay::start();
    let url = relay.base_url();
    sealroom_tests::runtime().block_on(async {
        let w = StaffSpace::new(&url, &relay.setup_token()).await;
        let (staff, space) = (&w.sam, w.space_id.clone());
        staff.client.set_live_options(options(3600)).unwrap();

        // An invitee registers: the staff's loop says so (point 7), without any sync.
        let cust = counted(&url);
        let cust_user = w
            .register_customer(&cust.device, &space, "Cara", "phone")
            .await;
        let seen = until(&staff.client, |e| {
            matches!(e, ClientEvent::MemberWaiting { .. })
        })
        .await;
        assert!(
            seen.iter().any(
                |e| matches!(e, ClientEvent::MemberWaiting { space_id, user_id }
                if *space_id == space && *user_id == cust_user)
            ),
            "{seen:?}"
        );

        // Added: the customer's first call catches up in full and joins.
        staff.client.add_member(&space, &cust_user).await.unwrap();
        cust.device.client.set_live_options(options(3600)).unwrap();
        let seen = until(&cust.device.client, |e| {
            matches!(e, ClientEvent::JoinedSpace { .. })
        })
        .await;
        assert!(seen
            .iter()
            .any(|e| matches!(e, ClientEvent::JoinedSpace { space_id, .. } if *space_id == space)));

        // A message and a file of the staff device arrive by the long poll.
        staff
            .client
            .post_message(&space, text(HELLO))
            .await
            .unwrap();
        until(&cust.device.client, is_message(HELLO)).await;
        let content = b"live file content 4410".to_vec();
        let uploaded = staff
            .client
            .upload_file(
                &space,
                &NewFile {
                    name: "live.txt".into(),
                    ..NewFile::default()
                },
                content.len() as u64,
                content.as_slice(),
                |_, _| {},
            )
            .await
            .unwrap();
        let seen = until(&cust.device.client, |e| {
            matches!(e, ClientEvent::NewFile { .. })
        })
        .await;
        assert!(seen
            .iter()
            .any(|e| matches!(e, ClientEvent::NewFile { file_id, .. }
            if *file_id == uploaded.file_id)));
        let cursor = cust.device.client.live_cursor().unwrap().unwrap();

        // The relay restarts while the customer waits: the loop backs off and reconnects.
        let waiting = {
            let client = cust.device.client.clone();
            tokio::spawn(async move { until(&client, is_message(AFTER_RESTART)).await })
        };
        let failures_before = cust.failures.load(Ordering::SeqCst);
        let sleeps_before = cust.sleeps.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(relay.stop(), "graceful stop");
        // Relaunched only once the loop has failed to reach the stopped relay and paused.
        while cust.sleeps.load(Ordering::SeqCst) == sleeps_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(cust.failures.load(Ordering::SeqCst) > failures_before);
        relay.launch();
        staff
            .client
            .post_message(&space, text(AFTER_RESTART))
            .await
            .unwrap();
        waiting.await.unwrap();
        assert!(cust.device.client.live_cursor().unwrap().unwrap() > cursor);

        // A second space for the customer, joined through the loop.
        let space2 = staff
            .client
            .create_space(&w.org_id, false)
            .await
            .unwrap()
            .space_id;
        staff.client.add_member(&space2, &cust_user).await.unwrap();
        until(
            &cust.device.client,
            |e| matches!(e, ClientEvent::JoinedSpace { space_id, .. } if *space_id == space2),
        )
        .await;

        // Removed from the first space: the long poll reports it, without a full sync (the
        // relay shows the removing commit to the devices it removed; their sync of the room
        // is then refused) ...
        staff
            .client
            .remove_member(&space, &cust_user)
            .await
            .unwrap();
        // (A bound, not a speed check: without the event the loop would wait for a full sync
        // that is an hour away.)
        tokio::time::timeout(
            Duration::from_secs(120),
            until(
                &cust.device.client,
                |e| matches!(e, ClientEvent::RemovedFromSpace { space_id } if *space_id == space),
            ),
        )
        .await
        .expect("the long poll reports the removal without a full sync");

        // ... and yields nothing of that space afterwards, while the other space goes on.
        staff
            .client
            .post_message(&space, text(SECRET))
            .await
            .unwrap();
        staff
            .client
            .post_message(&space2, text(MARKER))
            .await
            .unwrap();
        let seen = until(&cust.device.client, is_message(MARKER)).await;
        let leaked: Vec<&ClientEvent> = seen
            .iter()
            .filter(|e| match e {
                ClientEvent::NewMessage { message: m } => m.space_id == space || m.body == SECRET,
                ClientEvent::MemberAdded { space_id, .. }
                | ClientEvent::MemberRemoved { space_id, .. }
                | ClientEvent::NewFile { space_id, .. } => *space_id == space,
                _ => false,
            })
            .collect();
        assert!(leaked.is_empty(), "after removal: {leaked:?}");
        assert!(cust
            .device
            .client
            .messages(&space, None)
            .unwrap()
            .iter()
            .all(|m| m.body != SECRET));
    });
}
