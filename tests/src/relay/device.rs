//! A registered device and the request signatures it makes.

use ed25519_dalek::{Signer, SigningKey};
use serde_json::Value;

use sealroom_wire::auth::{nonce_from_bytes, sign_request, RequestParts};

/// A registered device and its signing key (test material only).
#[derive(Clone)]
pub struct Device {
    /// Organisation id.
    pub org_id: String,
    /// User id.
    pub user_id: String,
    /// Device id.
    pub device_id: String,
    /// The device's Ed25519 key.
    pub key: SigningKey,
    /// Last signing timestamp used (kept so tests can reason about what was signed; every
    /// request also carries a fresh random nonce, so identical requests never collide).
    pub last_ts: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Builds a device from a registration answer (`org_id`, `user_id`, `device_id`).
    pub fn from_response(v: &Value, key: SigningKey) -> Self {
        Self {
            org_id: v["org_id"].as_str().expect("org_id").to_owned(),
            user_id: v["user_id"].as_str().expect("user_id").to_owned(),
            device_id: v["device_id"].as_str().expect("device_id").to_owned(),
            key,
            last_ts: Default::default(),
        }
    }

    /// Hex of the public key.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The four signature headers for a request to `authority` (`host:port` as in the `Host`
    /// header). Of `headers`, those the signature covers (`Content-Type`, `Range`,
    /// `Upload-Offset`, `Upload-Checksum`) are signed; send them unchanged.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        method: &str,
        authority: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let mut nonce_bytes = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce_bytes);
        let nonce = nonce_from_bytes(&nonce_bytes);
        let parts = RequestParts {
            method,
            authority,
            path,
            query,
            headers,
            timestamp,
            nonce: &nonce,
            body,
        };
        let h = sign_request(&self.device_id, &parts, |m| self.key.sign(m).to_bytes());
        h.pairs()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}
