//! Second devices, TOTP, preferences and administration: linking a new device to an existing
//! user (approved by one of the user's devices, or by a TOTP code), notification and retention
//! settings, the audit log, and erasing users.

use zeroize::Zeroizing;

use sealroom_wire::accounts::{
    ApproveDevice, DeviceList, DeviceRequestCreate, DeviceRequestInfo as DeviceRequestBody,
    DeviceRequestStatus, Me, Registered, TotpCode, TotpEnrolment,
};
use sealroom_wire::audit::{
    decode_hash, head_signing_bytes, AuditChainPage, AuditEntry, AuditLink, AuditPage, AuditQuery,
    AuditVerifyReport, SignedAuditHead, GENESIS_PREV_HASH, MAX_AUDIT_PAGE,
};
use sealroom_wire::notify::{NotifyMode, NotifyPreference, RetentionPolicy};

use super::api::{seg, Call, Signer};
use super::{fresh_device_key, Account, ClientError, DeviceRequestInfo, Inner, SealroomClient};
use super::{from_json, to_json};

/// Key in the device's encrypted state of the last audit head this device verified.
const AUDIT_SEEN_KEY: &str = "audit/seen-head";

/// Why the client's own check of the relay's audit chain failed. Each means the relay (or
/// whoever controls its store) served a history that is not the one it served before, or not a
/// chain at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditCheckError {
    /// The head's signature does not verify under the relay's audit key.
    #[error("the audit head signature does not verify")]
    BadSignature,
    /// The relay's audit key differs from the one this device pinned at its first check.
    #[error("the relay's audit key changed")]
    KeyChanged,
    /// The head is older than one this device already saw: history was rolled back.
    #[error("audit history rolled back: head {head_seq}, this device saw {seen_seq}")]
    RolledBack {
        /// Sequence number of the head served now.
        head_seq: u64,
        /// Sequence number of the head this device saw before.
        seen_seq: u64,
    },
    /// The entry at the head this device saw has another hash now: history was rewritten.
    #[error("audit history rewritten at entry {seq}")]
    Rewritten {
        /// Sequence number of the remembered head.
        seq: u64,
    },
    /// An entry's hash, link or sequence number is wrong.
    #[error("audit chain broken at entry {seq}")]
    Broken {
        /// Sequence number of the first bad link.
        seq: u64,
    },
    /// The downloaded chain does not end at the signed head.
    #[error("the audit chain does not end at the signed head")]
    HeadMismatch,
}

/// The result of a successful client-side audit check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    /// Sequence number of the verified, signed head.
    pub head_seq: u64,
    /// Its hash (hex).
    pub head_hash: String,
    /// Entries whose hash this device recomputed (entries it may read).
    pub entries_verified: u64,
    /// Links of other organisations, checked by their hashes only.
    pub links_hidden: u64,
    /// The relay's audit public key (hex), pinned by this device.
    pub relay_key: String,
}

/// The head this device verified last, kept in its encrypted state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SeenHead {
    seq: u64,
    hash: String,
    public_key: String,
}

fn audit_err(e: AuditCheckError) -> ClientError {
    ClientError::AuditHistory(e)
}

/// `SHA-256(prev_hash_bytes || canonical_json(entry))` in hex, as the relay computes it.
fn entry_hash(entry: &AuditEntry) -> Option<String> {
    use sha2::{Digest, Sha256};
    let prev = decode_hash(&entry.prev_hash)?;
    let mut h = Sha256::new();
    h.update(prev);
    h.update(entry.canonical_json());
    Some(hex::encode(h.finalize()))
}

fn verify_head_signature(head: &SignedAuditHead) -> Result<(), AuditCheckError> {
    let mut pk = [0u8; 32];
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&head.public_key, &mut pk).map_err(|_| AuditCheckError::BadSignature)?;
    hex::decode_to_slice(&head.signature, &mut sig).map_err(|_| AuditCheckError::BadSignature)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| AuditCheckError::BadSignature)?;
    let msg = head_signing_bytes(head.seq, &head.hash).ok_or(AuditCheckError::BadSignature)?;
    key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| AuditCheckError::BadSignature)
}

/// Walks links in order from `prev`/`next_seq`, checking sequence, linkage and (for visible
/// entries) the hash; checks the remembered head on the way. Returns the new `(prev, next_seq)`.
fn check_links(
    links: &[AuditLink],
    mut prev: String,
    mut next_seq: u64,
    until: u64,
    seen: Option<&SeenHead>,
    counts: &mut (u64, u64),
) -> Result<(String, u64), AuditCheckError> {
    for link in links.iter().take_while(|l| l.seq <= until) {
        let broken = AuditCheckError::Broken { seq: link.seq };
        if link.seq != next_seq || link.prev_hash != prev {
            return Err(broken);
        }
        match &link.entry {
            Some(entry) => {
                if entry.seq != link.seq
                    || entry.prev_hash != link.prev_hash
                    || entry_hash(entry).as_deref() != Some(link.hash.as_str())
                {
                    return Err(broken);
                }
                counts.0 += 1;
            }
            None => {
                if decode_hash(&link.hash).is_none() {
                    return Err(broken);
                }
                counts.1 += 1;
            }
        }
        if let Some(seen) = seen {
            if seen.seq == link.seq && seen.hash != link.hash {
                return Err(AuditCheckError::Rewritten { seq: link.seq });
            }
        }
        prev = link.hash.clone();
        next_seq += 1;
    }
    Ok((prev, next_seq))
}

/// A device link waiting for approval: the new device's secret stays in memory until then.
pub(crate) struct PendingLink {
    secret: Zeroizing<[u8; 32]>,
    /// The one-time X25519 secret the approving device seals the identity key to.
    kx: crate::primitives::X25519Secret,
    request: DeviceRequestBody,
}

/// Audit export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum AuditFormat {
    /// A JSON array of records.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

fn push_param(out: &mut Vec<String>, name: &str, value: Option<String>) {
    if let Some(v) = value {
        out.push(format!("{name}={}", seg(&v)));
    }
}

fn audit_query_string(query: &AuditQuery, format: Option<AuditFormat>) -> String {
    let mut params = Vec::new();
    push_param(&mut params, "from_ms", query.from_ms.map(|v| v.to_string()));
    push_param(&mut params, "to_ms", query.to_ms.map(|v| v.to_string()));
    push_param(&mut params, "actor", query.actor.clone());
    push_param(&mut params, "action", query.action.clone());
    push_param(&mut params, "object", query.object.clone());
    push_param(&mut params, "after", query.after.map(|v| v.to_string()));
    push_param(&mut params, "limit", query.limit.map(|v| v.to_string()));
    push_param(
        &mut params,
        "format",
        format.map(|f| match f {
            AuditFormat::Json => "json".to_owned(),
            AuditFormat::Csv => "csv".to_owned(),
        }),
    );
    if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    }
}

impl SealroomClient {
    // ----- a second device ---------------------------------------------------------------

    /// On a new, unregistered client: asks to add this device to the existing user `user_id`.
    /// Show the returned fingerprint (the new device's public key) on both devices; approve it
    /// on an existing device with [`SealroomClient::approve_device`] or here with a TOTP code
    /// ([`SealroomClient::approve_device_link_with_totp`]); then call
    /// [`SealroomClient::finish_device_link`]. The pending key lives in this client object
    /// until then.
    pub async fn request_device_link(
        &self,
        user_id: &str,
        device_name: &str,
    ) -> Result<DeviceRequestInfo, ClientError> {
        if self.is_registered() {
            return Err(ClientError::AlreadyRegistered);
        }
        let (secret, public_key) = fresh_device_key();
        let kx = crate::primitives::X25519Secret::generate()
            .map_err(|_| ClientError::Protocol("no randomness for the link key".into()))?;
        let body = DeviceRequestCreate {
            user_id: user_id.to_owned(),
            device_name: device_name.to_owned(),
            public_key,
            kx_public_key: Some(hex::encode(kx.public_key())),
        };
        let request: DeviceRequestBody = self
            .api
            .json(Call::json("POST", "/v1/device-requests", &body)?, None)
            .await?;
        let view = DeviceRequestInfo::from(&request);
        *self.pending_link()? = Some(PendingLink {
            secret,
            kx,
            request,
        });
        Ok(view)
    }

    fn pending_link(&self) -> Result<std::sync::MutexGuard<'_, Option<PendingLink>>, ClientError> {
        self.pending_link
            .lock()
            .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))
    }

    /// On an existing device: approves a pending device of the same user after the user
    /// compared `public_key` (hex) with what the new device shows. When this device holds the
    /// user's identity key it vouches for the new device: it signs the device's certificate
    /// (over the compared key) and seals the identity key to the new device's one-time link
    /// key, so the new device shows verified and can vouch in turn. Also confirms a device
    /// already linked by a TOTP code alone (it becomes verified).
    pub async fn approve_device(
        &self,
        request_id: &str,
        public_key: &str,
    ) -> Result<(), ClientError> {
        let mut body = ApproveDevice {
            public_key: public_key.to_owned(),
            certificate: None,
            bundle: None,
        };
        if let Some(key) = self.identity_key()? {
            let request: DeviceRequestBody = self
                .api
                .json(
                    Call::get(format!("/v1/device-requests/{}", seg(request_id))),
                    None,
                )
                .await?;
            let user_id = self.account()?.user_id;
            let mut device_key = [0u8; 32];
            hex::decode_to_slice(public_key, &mut device_key).map_err(|_| {
                ClientError::InvalidInput("public_key is not 32 bytes of hex".into())
            })?;
            // The certificate covers the key the user compared, whatever the relay says the
            // request holds; the relay refuses the approval if they differ.
            if request.user_id == user_id {
                body.certificate = Some(hex::encode(key.certify(
                    &user_id,
                    &request.device_id,
                    &device_key,
                )));
                let mut kx_pub = [0u8; 32];
                if let Some(kx) = &request.kx_public_key {
                    if hex::decode_to_slice(kx, &mut kx_pub).is_ok() {
                        body.bundle = crate::certificate::seal_handover(
                            &key,
                            &kx_pub,
                            &request.request_id,
                            &user_id,
                        )
                        .map(|b| super::b64(&b));
                    }
                }
            }
        }
        self.signed(Call::json(
            "POST",
            format!("/v1/device-requests/{}/approve", seg(request_id)),
            &body,
        )?)
        .await?;
        Ok(())
    }

    /// On the new device: approves the pending link with a code from the user's enrolled
    /// authenticator (the second factor).
    pub async fn approve_device_link_with_totp(&self, code: &str) -> Result<(), ClientError> {
        let request_id = self
            .pending_link()?
            .as_ref()
            .map(|p| p.request.request_id.clone())
            .ok_or_else(|| ClientError::InvalidInput("no device link is pending".into()))?;
        self.api
            .send(
                Call::json(
                    "POST",
                    format!("/v1/device-requests/{}/totp", seg(&request_id)),
                    &TotpCode {
                        code: code.to_owned(),
                    },
                )?,
                None,
            )
            .await?;
        Ok(())
    }

    /// On the new device: once approved, creates this device's state and publishes its key
    /// packages. Returns `Ok(None)` while the request still waits for approval. Another device
    /// of the user then adds this one to the user's spaces
    /// ([`SealroomClient::add_member`] with the user's own id).
    pub async fn finish_device_link(&self) -> Result<Option<Account>, ClientError> {
        let (request_id, secret, kx) = {
            let guard = self.pending_link()?;
            let pending = guard
                .as_ref()
                .ok_or_else(|| ClientError::InvalidInput("no device link is pending".into()))?;
            (
                pending.request.request_id.clone(),
                Zeroizing::new(*pending.secret),
                crate::primitives::X25519Secret::from_bytes(pending.kx.expose_bytes()),
            )
        };
        let status: DeviceRequestBody = self
            .api
            .json(
                Call::get(format!("/v1/device-requests/{}", seg(&request_id))),
                None,
            )
            .await?;
        if status.status != DeviceRequestStatus::Approved {
            return Ok(None);
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&secret);
        let sign = |m: &[u8]| {
            use ed25519_dalek::Signer as _;
            key.sign(m).to_bytes()
        };
        let signer = Signer {
            device_id: status.device_id.clone(),
            sign: &sign,
        };
        let me: Me = self.api.json(Call::get("/v1/me"), Some(&signer)).await?;
        let kv = {
            let mut guard = self.lock()?;
            match &mut *guard {
                Inner::Ready(_) => return Err(ClientError::AlreadyRegistered),
                Inner::Unregistered { kv, .. } => {
                    kv.take().ok_or(ClientError::AlreadyRegistered)?
                }
            }
        };
        let registered = Registered {
            org_id: me.org_id,
            user_id: me.user_id,
            device_id: me.device_id,
            role: me.role,
            space_id: None,
        };
        let user_id = registered.user_id.clone();
        let account = self.finish_registration(kv, &secret, registered).await?;
        *self.pending_link()? = None;
        // Approved by a device that holds the identity key: take it over. The device is
        // registered whatever happens here; a bundle that does not open, or holds another key
        // than the one the relay publishes for the user (one the relay made up), is ignored
        // and this device stays unverified rather than trusting it.
        if let Some(bundle) = &status.bundle {
            // A failure (network, storage) leaves the device registered and unverified; it
            // can be certified later (`certify_device`, recovery backup).
            let _ = self
                .take_over_identity(bundle, &kx, &request_id, &user_id)
                .await;
        }
        Ok(Some(account))
    }

    async fn take_over_identity(
        &self,
        bundle: &str,
        kx: &crate::primitives::X25519Secret,
        request_id: &str,
        user_id: &str,
    ) -> Result<(), ClientError> {
        let Ok(sealed) = super::unb64(bundle) else {
            return Ok(());
        };
        let Some(key) = crate::certificate::open_handover(kx, &sealed, request_id, user_id) else {
            return Ok(());
        };
        let devices: DeviceList = self.signed_json(Call::get("/v1/me/devices")).await?;
        if devices.identity_key.as_deref() == Some(hex::encode(key.public_key()).as_str()) {
            self.keep_identity_key(&key)?;
        }
        Ok(())
    }

    // ----- TOTP --------------------------------------------------------------------------

    /// Starts TOTP enrolment: load the secret into an authenticator app, then confirm.
    pub async fn enrol_totp(&self) -> Result<TotpEnrolment, ClientError> {
        self.signed_json(Call::raw("POST", "/v1/me/totp", Vec::new()))
            .await
    }

    /// Confirms TOTP enrolment with a current code.
    pub async fn confirm_totp(&self, code: &str) -> Result<(), ClientError> {
        self.signed(Call::json(
            "POST",
            "/v1/me/totp/confirm",
            &TotpCode {
                code: code.to_owned(),
            },
        )?)
        .await?;
        Ok(())
    }

    // ----- preferences -------------------------------------------------------------------

    /// This user's notification preference.
    pub async fn notification_preference(&self) -> Result<NotifyPreference, ClientError> {
        self.signed_json(Call::get("/v1/me/notifications")).await
    }

    /// Sets how this user is told about new content: immediately, hourly or daily digest, or
    /// off; `email` overrides the registered address.
    pub async fn set_notification_mode(
        &self,
        mode: NotifyMode,
        email: Option<&str>,
    ) -> Result<NotifyPreference, ClientError> {
        self.signed_json(Call::json(
            "PUT",
            "/v1/me/notifications",
            &NotifyPreference {
                mode,
                email: email.map(str::to_owned),
                mail_configured: None,
            },
        )?)
        .await
    }

    /// A space's retention policy (ciphertext older than `days` is deleted by the relay).
    pub async fn retention(&self, space_id: &str) -> Result<RetentionPolicy, ClientError> {
        self.signed_json(Call::get(format!("/v1/spaces/{}/retention", seg(space_id))))
            .await
    }

    /// Sets a space's retention (staff); `None` keeps everything.
    pub async fn set_retention(
        &self,
        space_id: &str,
        days: Option<u32>,
    ) -> Result<RetentionPolicy, ClientError> {
        self.signed_json(Call::json(
            "PUT",
            format!("/v1/spaces/{}/retention", seg(space_id)),
            &RetentionPolicy { days },
        )?)
        .await
    }

    // ----- administration ----------------------------------------------------------------

    /// Queries the audit log (organisation admins).
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, ClientError> {
        self.signed_json(Call::get(format!(
            "/v1/audit{}",
            audit_query_string(query, None)
        )))
        .await
    }

    /// Exports the audit log as JSON or CSV bytes (organisation admins).
    pub async fn audit_export(
        &self,
        query: &AuditQuery,
        format: AuditFormat,
    ) -> Result<Vec<u8>, ClientError> {
        let response = self
            .signed(Call::get(format!(
                "/v1/audit/export{}",
                audit_query_string(query, Some(format))
            )))
            .await?;
        Ok(response.body)
    }

    /// Asks the relay to verify the audit hash chain (the relay vouching for itself; see
    /// [`SealroomClient::check_audit`] for the check this device does on its own).
    pub async fn verify_audit(&self) -> Result<AuditVerifyReport, ClientError> {
        self.signed_json(Call::get("/v1/audit/verify")).await
    }

    /// Checks the relay's audit chain on this device (organisation admins): fetches the head
    /// signed by the relay's audit key, downloads every link up to it, recomputes the hash of
    /// every entry this admin may read (the others are checked by their links), and compares
    /// with the head this device verified last, kept in its encrypted state. A rolled-back or
    /// rewritten history, a changed relay key or a broken chain is a
    /// [`ClientError::AuditHistory`]; on success the new head is remembered.
    pub async fn check_audit(&self) -> Result<AuditCheck, ClientError> {
        let head: SignedAuditHead = self.signed_json(Call::get("/v1/audit/head")).await?;
        verify_head_signature(&head).map_err(audit_err)?;
        let seen: Option<SeenHead> = self.with(|r| match r.rooms.app_get(AUDIT_SEEN_KEY)? {
            Some(bytes) => Ok(Some(from_json(&bytes)?)),
            None => Ok(None),
        })?;
        if let Some(seen) = &seen {
            if seen.public_key != head.public_key {
                return Err(audit_err(AuditCheckError::KeyChanged));
            }
            if head.seq < seen.seq {
                return Err(audit_err(AuditCheckError::RolledBack {
                    head_seq: head.seq,
                    seen_seq: seen.seq,
                }));
            }
        }
        let (mut prev, mut next_seq) = (GENESIS_PREV_HASH.to_owned(), 1u64);
        let mut counts = (0u64, 0u64);
        while next_seq <= head.seq {
            let page: AuditChainPage = self
                .signed_json(Call::get(format!(
                    "/v1/audit/chain?after={}&limit={MAX_AUDIT_PAGE}",
                    next_seq - 1
                )))
                .await?;
            if page.links.is_empty() {
                break;
            }
            (prev, next_seq) = check_links(
                &page.links,
                prev,
                next_seq,
                head.seq,
                seen.as_ref(),
                &mut counts,
            )
            .map_err(audit_err)?;
            if page.next_after.is_none() {
                break;
            }
        }
        if next_seq != head.seq + 1 || prev != head.hash {
            return Err(audit_err(AuditCheckError::HeadMismatch));
        }
        let remembered = SeenHead {
            seq: head.seq,
            hash: head.hash.clone(),
            public_key: head.public_key.clone(),
        };
        let bytes = to_json(&remembered)?;
        self.with(|r| {
            Ok(r.rooms
                .app_commit(vec![(AUDIT_SEEN_KEY.into(), Some(bytes))])?)
        })?;
        Ok(AuditCheck {
            head_seq: head.seq,
            head_hash: head.hash,
            entries_verified: counts.0,
            links_hidden: counts.1,
            relay_key: head.public_key,
        })
    }

    /// Erases a user: devices, key packages, mailboxes, preferences (organisation admins).
    /// Their MLS leaves stay until a member removes them from each space
    /// ([`SealroomClient::remove_member`]).
    pub async fn erase_user(&self, user_id: &str) -> Result<serde_json::Value, ClientError> {
        self.signed_json(Call::json(
            "POST",
            format!("/v1/users/{}/erase", seg(user_id)),
            &serde_json::json!({}),
        )?)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditLink> {
        let mut prev = GENESIS_PREV_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    action: sealroom_wire::audit::AuditAction::OrgCreate,
                    actor_user: None,
                    detail: Some(format!("e{seq}")),
                    device: None,
                    ip: None,
                    object_id: None,
                    org: None,
                    prev_hash: prev.clone(),
                    seq,
                    size: None,
                    time_ms: seq,
                    user_agent: None,
                };
                let hash = entry_hash(&entry).unwrap();
                prev = hash.clone();
                AuditLink {
                    seq,
                    prev_hash: entry.prev_hash.clone(),
                    hash,
                    entry: Some(entry),
                }
            })
            .collect()
    }

    #[test]
    fn links_verify_and_tampering_is_detected() {
        let links = chain(5);
        let mut counts = (0, 0);
        let (prev, next) =
            check_links(&links, GENESIS_PREV_HASH.into(), 1, 5, None, &mut counts).unwrap();
        assert_eq!((next, counts), (6, (5, 0)));
        assert_eq!(prev, links[4].hash);
        // A rewritten entry (content changed, stored hash kept).
        let mut bad = links.clone();
        bad[2].entry.as_mut().unwrap().detail = Some("rewritten".into());
        assert_eq!(
            check_links(&bad, GENESIS_PREV_HASH.into(), 1, 5, None, &mut (0, 0)),
            Err(AuditCheckError::Broken { seq: 3 })
        );
        // A hidden link still binds: a changed hash breaks the next link.
        let mut hidden = links.clone();
        hidden[1].entry = None;
        hidden[1].hash = "ab".repeat(32);
        assert_eq!(
            check_links(&hidden, GENESIS_PREV_HASH.into(), 1, 5, None, &mut (0, 0)),
            Err(AuditCheckError::Broken { seq: 3 })
        );
        // A consistent but different history at a remembered head.
        let seen = SeenHead {
            seq: 4,
            hash: "cd".repeat(32),
            public_key: String::new(),
        };
        assert_eq!(
            check_links(
                &links,
                GENESIS_PREV_HASH.into(),
                1,
                5,
                Some(&seen),
                &mut (0, 0)
            ),
            Err(AuditCheckError::Rewritten { seq: 4 })
        );
    }

    #[test]
    fn audit_query_strings_escape_values() {
        let q = AuditQuery {
            action: Some("blob.download".into()),
            object: Some("a b/c".into()),
            limit: Some(5),
            ..AuditQuery::default()
        };
        assert_eq!(
            audit_query_string(&q, Some(AuditFormat::Csv)),
            "?action=blob.download&object=a%20b%2Fc&limit=5&format=csv"
        );
        assert_eq!(audit_query_string(&AuditQuery::default(), None), "");
    }
}
