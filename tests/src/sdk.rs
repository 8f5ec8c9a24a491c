//! SDK devices for the client tests: a `SealroomClient` on the real HTTP transport with its
//! own encrypted store (`FileKv`) in a temporary directory, and the key to open that store
//! again (a restart, or a crash and recovery, of the same device).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use sealroom_core::client::{HttpTransport, Role, SealroomClient, Transport};
use sealroom_core::state::{FileKv, StorageKey};

/// The real HTTP transport of the SDK.
pub fn transport() -> Arc<dyn Transport> {
    Arc::new(HttpTransport::new().unwrap())
}

/// Opens the store in `dir`, sealed with `key`, as a client of the relay at `url`.
pub fn open_at(url: &str, dir: &Path, key: [u8; 32]) -> SealroomClient {
    let kv = FileKv::open(dir).unwrap();
    SealroomClient::open(url, transport(), Box::new(kv), StorageKey::from_bytes(key)).unwrap()
}

/// One SDK device: its client, its store's directory and the store's key.
pub struct SdkDevice {
    /// The client.
    pub client: SealroomClient,
    /// The store's directory (deleted with the device).
    pub dir: tempfile::TempDir,
    /// The store's key.
    pub key: [u8; 32],
}

impl SdkDevice {
    /// A new, unregistered device talking to `url` (the relay, or a proxy in front of it).
    pub fn new(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate().expose_bytes();
        let client = open_at(url, dir.path(), key);
        Self { client, dir, key }
    }
}

/// A provider set up for a customer: the relay's first administrator (Ada) bootstraps it and
/// creates the customer organisation "Kestrel", staff member Sam registers by invitation and
/// creates a space for it.
pub struct StaffSpace {
    /// The administrator's device.
    pub admin: SdkDevice,
    /// Sam's device (staff).
    pub sam: SdkDevice,
    /// The space Sam created.
    pub space_id: String,
}

impl StaffSpace {
    /// Sets it up on the relay at `url` with its `setup_token`.
    pub async fn new(url: &str, setup_token: &str) -> Self {
        let admin = SdkDevice::new(url);
        admin
            .client
            .bootstrap(setup_token, "Provider", "Ada", None, "laptop")
            .await
            .unwrap();
        let org = admin.client.create_customer_org("Kestrel").await.unwrap();
        let sam = SdkDevice::new(url);
        let invite = admin.client.invite(Role::Staff, None).await.unwrap();
        sam.client
            .register(&invite.token, "Sam", None, "laptop")
            .await
            .unwrap();
        let space_id = sam
            .client
            .create_space(&org.org_id, false)
            .await
            .unwrap()
            .space_id;
        Self {
            admin,
            sam,
            space_id,
        }
    }
}
