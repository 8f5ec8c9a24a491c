//! Registration, key packages and the account-level calls of [`SealroomClient`].

use super::*;

impl SealroomClient {
    // ----- accounts ----------------------------------------------------------------------

    /// Whether this client holds a registered device.
    pub fn is_registered(&self) -> bool {
        matches!(self.lock().as_deref(), Ok(Inner::Ready(_)))
    }

    /// This device's account.
    pub fn account(&self) -> Result<Account, ClientError> {
        self.with(|r| Ok(r.account.clone()))
    }

    /// This device's Ed25519 public key (hex): what the relay and other members see.
    pub fn device_public_key(&self) -> Result<String, ClientError> {
        Ok(hex::encode(self.signing_device()?.public_key()))
    }

    /// Takes the store out of an unregistered client, with a fresh device secret.
    pub(super) fn take_unregistered(&self) -> Result<Unregistered, ClientError> {
        let mut guard = self.lock()?;
        match &mut *guard {
            Inner::Ready(_) => Err(ClientError::AlreadyRegistered),
            Inner::Unregistered { kv, .. } => {
                let kv = kv.take().ok_or(ClientError::AlreadyRegistered)?;
                let (secret, public_key) = fresh_device_key();
                Ok((kv, secret, public_key))
            }
        }
    }

    /// Puts the store back after a failed registration.
    pub(super) fn restore_unregistered(&self, kv: Box<dyn KvStore>) {
        if let Ok(mut guard) = self.lock() {
            if let Inner::Unregistered { kv: slot, .. } = &mut *guard {
                *slot = Some(kv);
            }
        }
    }

    /// Creates the device state after the relay registered it, then publishes key packages.
    pub(super) async fn finish_registration(
        &self,
        kv: Box<dyn KvStore>,
        secret: &[u8; 32],
        registered: Registered,
    ) -> Result<Account, ClientError> {
        self.finish_registration_named(kv, secret, registered, None)
            .await
    }

    /// [`SealroomClient::finish_registration`] that first keeps `name` as the user's profile,
    /// so the first key packages already carry it as their card.
    pub(super) async fn finish_registration_named(
        &self,
        kv: Box<dyn KvStore>,
        secret: &[u8; 32],
        registered: Registered,
        name: Option<&str>,
    ) -> Result<Account, ClientError> {
        let identity = CredentialIdentity::new(
            &registered.org_id,
            &registered.user_id,
            &registered.device_id,
        )
        .map_err(|_| ClientError::Protocol("the relay returned invalid ids".into()))?;
        let account = Account {
            org_id: registered.org_id,
            user_id: registered.user_id,
            device_id: registered.device_id,
            role: registered.role,
        };
        {
            let mut guard = self.lock()?;
            let storage_key = match &*guard {
                Inner::Unregistered { storage_key, .. } => {
                    StorageKey::from_bytes(storage_key.expose_bytes())
                }
                Inner::Ready(_) => return Err(ClientError::AlreadyRegistered),
            };
            let mut rooms = room::Client::create_with_secret(kv, &storage_key, identity, secret)?;
            rooms.app_commit(vec![(ACCOUNT_KEY.into(), Some(to_json(&account)?))])?;
            *self
                .signer
                .lock()
                .map_err(|_| ClientError::State(crate::state::StateError::Corrupt))? =
                Some(Arc::new(rooms.device().clone()));
            *guard = Inner::Ready(Box::new(Ready {
                rooms,
                account: account.clone(),
            }));
        }
        if let Some(name) = name {
            self.initial_profile(name)?;
        }
        self.publish_key_packages(KEY_PACKAGE_BATCH, true).await?;
        Ok(account)
    }

    /// Registers this device with an invitation token (staff invited by an admin, customer
    /// members invited into a space by staff).
    pub async fn register(
        &self,
        invite_token: &str,
        user_name: &str,
        email: Option<&str>,
        device_name: &str,
    ) -> Result<Account, ClientError> {
        self.register_at("/v1/register", user_name, |public_key| RegisterRequest {
            token: invite_token.to_owned(),
            user_name: user_name.to_owned(),
            email: email.map(str::to_owned),
            device_name: device_name.to_owned(),
            public_key,
        })
        .await
    }

    /// Asks the relay what an invitation token leads to before registering with it: whether it
    /// can still be used and, while it can, the role, the organisation's and the inviter's names
    /// as the relay holds them. Show these, never names written into an invitation link. An
    /// unknown token is `Relay { status: 401 }` (code `relay_unauthenticated`) and counts
    /// towards the caller's failure limit on the relay. Needs no registered device.
    pub async fn check_invitation(
        &self,
        invite_token: &str,
    ) -> Result<InvitationCheck, ClientError> {
        let call = Call::json(
            "POST",
            "/v1/invitations/check",
            &InvitationCheckRequest {
                token: invite_token.to_owned(),
            },
        )?;
        self.api.json(call, None).await
    }

    /// Adds the space of a customer invitation to this account, with no second registration:
    /// for a customer whose device already exists, invited into a further space of the same
    /// organisation. The relay uses the invitation up and lists the user as a member; staff
    /// then admit this user's devices into the space's room (the next `sync` joins it). Returns
    /// the space's id. An invitation for another organisation, or a staff invitation, fails
    /// with `Relay { status: 403 }`; a used or expired one with 410.
    pub async fn accept_invitation(&self, invite_token: &str) -> Result<String, ClientError> {
        let info: SpaceInfo = self
            .signed_json(Call::json(
                "POST",
                "/v1/invitations/accept",
                &InvitationCheckRequest {
                    token: invite_token.to_owned(),
                },
            )?)
            .await?;
        Ok(info.space_id)
    }

    /// Creates the provider organisation and its first admin with the relay's one-time setup
    /// token (printed at the relay's first start).
    pub async fn bootstrap(
        &self,
        setup_token: &str,
        org_name: &str,
        user_name: &str,
        email: Option<&str>,
        device_name: &str,
    ) -> Result<Account, ClientError> {
        self.register_at("/v1/bootstrap", user_name, |public_key| BootstrapRequest {
            setup_token: setup_token.to_owned(),
            org_name: org_name.to_owned(),
            user_name: user_name.to_owned(),
            email: email.map(str::to_owned),
            device_name: device_name.to_owned(),
            public_key,
        })
        .await
    }

    /// Registers a fresh device key at `path` with the body `make_body(public_key_hex)`; on
    /// failure the store goes back to the unregistered client.
    pub(super) async fn register_at<B: Serialize>(
        &self,
        path: &'static str,
        user_name: &str,
        make_body: impl FnOnce(String) -> B,
    ) -> Result<Account, ClientError> {
        let (kv, secret, public_key) = self.take_unregistered()?;
        let registered: Result<Registered, _> =
            match Call::json("POST", path, &make_body(public_key)) {
                Ok(call) => self.api.json(call, None).await,
                Err(e) => Err(e),
            };
        match registered {
            Ok(r) => {
                // The registration name becomes the user's first profile (signed by this
                // device), so staff admitting the device see a name it signed.
                let account = self
                    .finish_registration_named(kv, &secret, r, Some(user_name))
                    .await?;
                // The user's first device creates the user's identity key. The device is
                // registered whatever happens here; a failed publication is retried when this
                // device next looks at its own user's devices (`spaces`, `space`).
                // The key is kept locally before it is sent, so nothing is lost on failure.
                let _ = self.create_identity().await;
                Ok(account)
            }
            Err(e) => {
                self.restore_unregistered(kv);
                Err(e)
            }
        }
    }

    /// Generates and uploads `count` key packages (and a last-resort one when asked).
    pub(super) async fn publish_key_packages(
        &self,
        count: usize,
        last_resort: bool,
    ) -> Result<(), ClientError> {
        let card = self.own_card()?;
        let packages = self.with(|r| {
            let mut kps = r
                .rooms
                .generate_key_packages_with_card(count, card.as_ref())?;
            if last_resort {
                kps.push(r.rooms.last_resort_key_package_with_card(card.as_ref())?);
            }
            Ok(kps)
        })?;
        let body = UploadKeyPackagesRequest {
            key_packages: packages.iter().map(|k| b64(k)).collect(),
        };
        self.signed(Call::json("POST", "/v1/keypackages", &body)?)
            .await?;
        Ok(())
    }

    /// Lists this user's devices.
    pub async fn my_devices(&self) -> Result<DeviceList, ClientError> {
        self.signed_json(Call::get("/v1/me/devices")).await
    }

    /// Creates a customer organisation (admins).
    pub async fn create_customer_org(&self, name: &str) -> Result<OrgInfo, ClientError> {
        self.signed_json(Call::json(
            "POST",
            "/v1/orgs",
            &CreateOrg { name: name.into() },
        )?)
        .await
    }

    /// Invites a staff member (admins) or, with `space_id`, a customer member into a space
    /// (staff). The token goes to the invitee out of band. It stays usable for the relay's
    /// default lifetime (7 days); see [`SealroomClient::invite_for`].
    pub async fn invite(
        &self,
        role: Role,
        space_id: Option<&str>,
    ) -> Result<Invitation, ClientError> {
        self.invite_for(role, space_id, None).await
    }

    /// Like [`SealroomClient::invite`], with a lifetime in seconds: from one hour to 30 days
    /// (`MIN_INVITATION_LIFETIME_SECS`..=`MAX_INVITATION_LIFETIME_SECS`); `None` takes the
    /// default of 7 days. A lifetime outside the bounds fails with `InvalidInput` before any
    /// request is sent.
    pub async fn invite_for(
        &self,
        role: Role,
        space_id: Option<&str>,
        lifetime_secs: Option<u64>,
    ) -> Result<Invitation, ClientError> {
        use sealroom_wire::accounts::{MAX_INVITATION_LIFETIME_SECS, MIN_INVITATION_LIFETIME_SECS};
        if let Some(secs) = lifetime_secs {
            if !(MIN_INVITATION_LIFETIME_SECS..=MAX_INVITATION_LIFETIME_SECS).contains(&secs) {
                return Err(ClientError::InvalidInput(format!(
                    "an invitation lives from {MIN_INVITATION_LIFETIME_SECS} s (one hour) to \
                     {MAX_INVITATION_LIFETIME_SECS} s (30 days), not {secs} s"
                )));
            }
        }
        let body = CreateInvitation {
            role,
            space_id: space_id.map(str::to_owned),
            lifetime_secs,
        };
        self.signed_json(Call::json("POST", "/v1/invitations", &body)?)
            .await
    }

    /// The open invitations into a space (neither used nor revoked; expired ones with their
    /// state), newest first: for the space's staff and provider admins. Never the tokens.
    pub async fn space_invitations(
        &self,
        space_id: &str,
    ) -> Result<Vec<InvitationInfo>, ClientError> {
        let list: InvitationList = self
            .signed_json(Call::get(format!(
                "/v1/spaces/{}/invitations",
                seg(space_id)
            )))
            .await?;
        Ok(list.invitations)
    }

    /// Revokes an unused invitation (the space's staff, or an administrator): its link is
    /// refused from now on, on the invitation page and at registration. Revoking a revoked
    /// invitation succeeds; a used one fails with a relay `conflict` (409).
    pub async fn revoke_invitation(&self, invitation_id: &str) -> Result<(), ClientError> {
        let response = self
            .signed_raw(Call::delete(format!(
                "/v1/invitations/{}",
                seg(invitation_id)
            )))
            .await?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(relay_error(&response)),
        }
    }
}
