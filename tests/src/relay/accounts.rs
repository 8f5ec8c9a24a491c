//! Account helpers on a running relay: bootstrap the first administrator, invite and register
//! users, create organisations and spaces.

use ed25519_dalek::{Signer, SigningKey};
use rand_core::OsRng;
use serde_json::{json, Value};

use super::device::Device;
use super::process::Relay;

/// The body of `POST /v1/register` for the user `name` with the invitation `token` and the public
/// half of the first device's key (e-mail `<name>@example.test`, device "device-1").
pub fn registration(token: &str, name: &str, key: &SigningKey) -> Value {
    json!({
        "token": token,
        "user_name": name,
        "email": format!("{}@example.test", name.to_lowercase()),
        "device_name": "device-1",
        "public_key": hex::encode(key.verifying_key().to_bytes()),
    })
}

impl Relay {
    /// Bootstraps the first administrator of the provider organisation "Provider".
    pub fn bootstrap_admin(&self) -> Device {
        let key = SigningKey::generate(&mut OsRng);
        let r = self.anon().post_json(
            "/v1/bootstrap",
            &json!({
                "setup_token": self.setup_token(),
                "org_name": "Provider",
                "user_name": "Admin",
                "email": "admin@provider.example",
                "device_name": "admin-laptop",
                "public_key": hex::encode(key.verifying_key().to_bytes()),
            }),
        );
        assert_eq!(r.status, 201, "bootstrap: {}", r.text());
        Device::from_response(&r.json(), key)
    }

    /// Registers a new user with an invitation token; returns their first device.
    pub fn register(&self, token: &str, name: &str) -> Device {
        let key = SigningKey::generate(&mut OsRng);
        let r = self
            .anon()
            .post_json("/v1/register", &registration(token, name, &key));
        assert_eq!(r.status, 201, "register: {}", r.text());
        Device::from_response(&r.json(), key)
    }

    /// Gives `device`'s user a new identity key (published with `PUT /v1/me/identity`) that
    /// certifies `device`, as the SDK does for a user's first device; returns the key. Raw
    /// devices need this to count as verified (e.g. to be added to an internal room).
    pub fn certify_with_new_identity(&self, device: &Device) -> SigningKey {
        let identity = SigningKey::generate(&mut OsRng);
        let message = sealroom_wire::accounts::device_certificate_message(
            &device.user_id,
            &device.device_id,
            &device.key.verifying_key().to_bytes(),
        );
        let r = self.client(device).put_json(
            "/v1/me/identity",
            &json!({
                "public_key": hex::encode(identity.verifying_key().to_bytes()),
                "certificate": hex::encode(identity.sign(&message).to_bytes()),
            }),
        );
        assert!(r.status / 100 == 2, "publish identity: {}", r.text());
        identity
    }

    /// Admin creates a customer organisation; returns its id.
    pub fn create_customer_org(&self, admin: &Device, name: &str) -> String {
        let r = self
            .client(admin)
            .post_json("/v1/orgs", &json!({ "name": name }));
        assert_eq!(r.status, 201, "create org: {}", r.text());
        r.json()["org_id"].as_str().unwrap().to_owned()
    }

    /// Admin invites and registers a staff user.
    pub fn add_staff(&self, admin: &Device, name: &str) -> Device {
        let r = self
            .client(admin)
            .post_json("/v1/invitations", &json!({ "role": "staff" }));
        assert_eq!(r.status, 201, "invite staff: {}", r.text());
        let token = r.json()["token"].as_str().unwrap().to_owned();
        self.register(&token, name)
    }

    /// Staff creates a space with a customer organisation; returns the space id.
    pub fn create_space(&self, staff: &Device, customer_org_id: &str) -> String {
        let r = self
            .client(staff)
            .post_json("/v1/spaces", &json!({ "customer_org_id": customer_org_id }));
        assert_eq!(r.status, 201, "create space: {}", r.text());
        r.json()["space_id"].as_str().unwrap().to_owned()
    }

    /// The usual set-up of a test: the bootstrap admin, a customer organisation `org_name`, a staff
    /// member `staff_name` and a space of that organisation created by the staff member. Returns
    /// the staff device and the space id.
    pub fn staffed_space(&self, org_name: &str, staff_name: &str) -> (Device, String) {
        let admin = self.bootstrap_admin();
        let org = self.create_customer_org(&admin, org_name);
        let staff = self.add_staff(&admin, staff_name);
        let space_id = self.create_space(&staff, &org);
        (staff, space_id)
    }

    /// Staff invites a customer member into a space, who registers.
    pub fn add_customer(&self, staff: &Device, space_id: &str, name: &str) -> Device {
        let r = self.client(staff).post_json(
            "/v1/invitations",
            &json!({ "role": "customer", "space_id": space_id }),
        );
        assert_eq!(r.status, 201, "invite customer: {}", r.text());
        let token = r.json()["token"].as_str().unwrap().to_owned();
        self.register(&token, name)
    }
}
