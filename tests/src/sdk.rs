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
    open_with(url, transport(), dir, key)
}

/// [`open_at`] on another transport (one that counts, delays or fails calls).
pub fn open_with(
    url: &str,
    transport: Arc<dyn Transport>,
    dir: &Path,
    key: [u8; 32],
) -> SealroomClient {
    let kv = FileKv::open(dir).unwrap();
    SealroomClient::open(url, transport, Box::new(kv), StorageKey::from_bytes(key)).unwrap()
}

/// One SDK device: its client, its store's directory and the store's key.
pub struct SdkDevice {
    /// The client (shared, so a test can hand it to a spawned task).
    pub client: Arc<SealroomClient>,
    /// The store's directory (deleted with the device).
    pub dir: tempfile::TempDir,
    /// The store's key.
    pub key: [u8; 32],
}

impl SdkDevice {
    /// A new, unregistered device talking to `url` (the relay, or a proxy in front of it).
    pub fn new(url: &str) -> Self {
        Self::with_transport(url, transport())
    }

    /// A new, unregistered device talking to `url` through `transport`.
    pub fn with_transport(url: &str, transport: Arc<dyn Transport>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate().expose_bytes();
        let client = Arc::new(open_with(url, transport, dir.path(), key));
        Self { client, dir, key }
    }

    /// This device's user.
    pub fn user_id(&self) -> String {
        self.client.account().unwrap().user_id
    }
}

/// The names [`StaffSpace::with`] registers: the administrator's and the staff member's display
/// names and the customer organisation's name.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The administrator (default "Ada").
    pub admin: &'static str,
    /// The staff member (default "Sam").
    pub staff: &'static str,
    /// The customer organisation (default "Kestrel").
    pub org: &'static str,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            admin: "Ada",
            staff: "Sam",
            org: "Kestrel",
        }
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
    /// The customer organisation.
    pub org_id: String,
    /// The space Sam created.
    pub space_id: String,
}

impl StaffSpace {
    /// Sets it up on the relay at `url` with its `setup_token`.
    pub async fn new(url: &str, setup_token: &str) -> Self {
        Self::with(url, setup_token, Names::default()).await
    }

    /// [`StaffSpace::new`] with other names.
    pub async fn with(url: &str, setup_token: &str, names: Names) -> Self {
        let admin = SdkDevice::new(url);
        admin
            .client
            .bootstrap(setup_token, "Provider", names.admin, None, "laptop")
            .await
            .unwrap();
        let org_id = admin
            .client
            .create_customer_org(names.org)
            .await
            .unwrap()
            .org_id;
        let sam = SdkDevice::new(url);
        let invite = admin.client.invite(Role::Staff, None).await.unwrap();
        sam.client
            .register(&invite.token, names.staff, None, "laptop")
            .await
            .unwrap();
        let space_id = sam
            .client
            .create_space(&org_id, false)
            .await
            .unwrap()
            .space_id;
        Self {
            admin,
            sam,
            org_id,
            space_id,
        }
    }

    /// A further customer organisation named `name`, created by the administrator.
    pub async fn customer_org(&self, name: &str) -> String {
        self.admin
            .client
            .create_customer_org(name)
            .await
            .unwrap()
            .org_id
    }

    /// Sam invites a customer to `space_id` and the unregistered `device` registers with the
    /// invitation as `name` (its device called `device_name`); Sam has not added them to the
    /// space's rooms yet. Returns the new user's id.
    pub async fn register_customer(
        &self,
        device: &SdkDevice,
        space_id: &str,
        name: &str,
        device_name: &str,
    ) -> String {
        let invite = self
            .sam
            .client
            .invite(Role::Customer, Some(space_id))
            .await
            .unwrap();
        device
            .client
            .register(&invite.token, name, None, device_name)
            .await
            .unwrap()
            .user_id
    }
}
