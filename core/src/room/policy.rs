//! The membership policy every client enforces, on the commits it builds and on the proposals
//! and commits it receives (`docs/rooms.md`, "Membership policy").
//!
//! The room's provider organisation is authenticated by MLS: the creator puts its org id into
//! a custom GroupContext extension, which every Welcome and every epoch's key schedule covers.

use openmls::prelude::*;

use super::{identity_of, RoomKind, CIPHERSUITE};
use crate::identity::CredentialIdentity;

/// Custom GroupContext extension type carrying the provider org id (private-use range).
pub(super) const PROVIDER_EXTENSION: u16 = 0xF5A1;

/// Why the membership policy refuses a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Only a device of the room's provider organisation may add devices or remove devices
    /// of other users (a member may remove its own leaf and its own user's other devices).
    NotProvider,
    /// The internal room admits only devices of the provider organisation.
    InternalOutsider,
    /// The proposal type is never allowed in a Sealroom room (GroupContextExtensions, ReInit,
    /// ExternalInit, PreSharedKey, AppAck and custom proposals).
    ProposalType,
    /// A leaf update changes the credential (org, user or device) of the leaf.
    CredentialChange,
    /// A credential is not a Sealroom identity.
    NotSealroomCredential,
    /// A document version above 1 from a device that is neither of the user who published
    /// version 1 nor of the provider organisation.
    NotDocumentOwner,
    /// A space policy or a release approval from a device outside the provider organisation.
    NotStaff,
    /// A classification label, space policy or release that is malformed.
    InvalidClassification,
}

impl std::fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotProvider => "only provider staff may add devices or remove others",
            Self::InternalOutsider => "the internal room admits provider staff only",
            Self::ProposalType => "this kind of proposal is never allowed in a room",
            Self::CredentialChange => "a leaf update may not change its credential",
            Self::NotSealroomCredential => "the credential is not a Sealroom identity",
            Self::NotDocumentOwner => {
                "only the document's first author or provider staff may publish a new version"
            }
            Self::NotStaff => "only provider staff may set the space policy or release a file",
            Self::InvalidClassification => "malformed classification, policy or release",
        })
    }
}

/// The leaf capabilities of every Sealroom leaf: the one ciphersuite and the provider extension.
pub(super) fn leaf_capabilities(last_resort: bool) -> Capabilities {
    let mut extensions = vec![
        ExtensionType::Unknown(PROVIDER_EXTENSION),
        ExtensionType::Unknown(super::profile::PROFILE_CARD_EXTENSION),
    ];
    if last_resort {
        extensions.push(ExtensionType::LastResort);
    }
    Capabilities::builder()
        .ciphersuites(vec![CIPHERSUITE])
        .extensions(extensions)
        .build()
}

/// The GroupContext extensions of a new room: the provider org and the requirement that every
/// member supports that extension.
pub(super) fn group_context_extensions(
    provider_org: &str,
) -> Result<Extensions<GroupContext>, InvalidExtensionError> {
    Extensions::from_vec(vec![
        Extension::Unknown(
            PROVIDER_EXTENSION,
            UnknownExtension(provider_org.as_bytes().to_vec()),
        ),
        Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
            &[ExtensionType::Unknown(PROVIDER_EXTENSION)],
            &[],
            &[],
        )),
    ])
}

/// The provider org id of a group, if its GroupContext carries a valid one.
pub(super) fn provider_org(group: &MlsGroup) -> Option<String> {
    let ext = group.extensions().unknown(PROVIDER_EXTENSION)?;
    let org = std::str::from_utf8(&ext.0).ok()?;
    sealroom_wire::check_id(org).ok()?;
    Some(org.to_owned())
}

/// The policy of one room: its provider org (`None`: nobody is provider) and kind.
pub(super) struct Policy<'a> {
    pub(super) provider_org: Option<&'a str>,
    pub(super) kind: RoomKind,
}

impl Policy<'_> {
    /// Whether `id` is a device of the room's provider organisation.
    pub(super) fn is_provider(&self, id: &CredentialIdentity) -> bool {
        self.provider_org == Some(id.org_id.as_str())
    }

    /// Whether `actor` may add `added` to the room.
    pub(super) fn check_add(
        &self,
        actor: &CredentialIdentity,
        added: &CredentialIdentity,
    ) -> Result<(), PolicyViolation> {
        if !self.is_provider(actor) {
            return Err(PolicyViolation::NotProvider);
        }
        if self.kind == RoomKind::Internal && !self.is_provider(added) {
            return Err(PolicyViolation::InternalOutsider);
        }
        Ok(())
    }

    /// Whether `actor` (at leaf `actor_leaf`) may remove the member at leaf `removed_leaf`
    /// (whose identity is `removed`, `None` for a blank or foreign leaf): a provider device
    /// anyone, every device its own leaf and the other devices of its own user (a revoked
    /// device), nothing more.
    pub(super) fn check_remove(
        &self,
        actor: &CredentialIdentity,
        actor_leaf: Option<LeafNodeIndex>,
        removed_leaf: LeafNodeIndex,
        removed: Option<&CredentialIdentity>,
    ) -> Result<(), PolicyViolation> {
        if self.is_provider(actor)
            || actor_leaf == Some(removed_leaf)
            || removed.is_some_and(|r| same_user(actor, r))
        {
            Ok(())
        } else {
            Err(PolicyViolation::NotProvider)
        }
    }

    /// Checks one proposal: `proposer` made it (at leaf `proposer_leaf`), `committer` commits
    /// it (the same device for proposals inline in a commit; `None` while it is only stored).
    pub(super) fn check_proposal(
        &self,
        group: &MlsGroup,
        proposal: &Proposal,
        proposer: &CredentialIdentity,
        proposer_leaf: Option<LeafNodeIndex>,
        committer: Option<&CredentialIdentity>,
    ) -> Result<(), PolicyViolation> {
        match proposal {
            Proposal::Add(a) => {
                let added = identity_of(a.key_package().leaf_node().credential())
                    .ok_or(PolicyViolation::NotSealroomCredential)?;
                self.check_add(proposer, &added)?;
                if let Some(c) = committer {
                    self.check_add(c, &added)?;
                }
                Ok(())
            }
            Proposal::Remove(r) => {
                // Committing a remove is allowed to whoever could propose it, and to anyone
                // for a member's own leave.
                let removed = group
                    .member_at(r.removed())
                    .and_then(|m| identity_of(&m.credential));
                self.check_remove(proposer, proposer_leaf, r.removed(), removed.as_ref())?;
                if let Some(c) = committer {
                    let own_leave = proposer_leaf == Some(r.removed());
                    let own_user = removed.as_ref().is_some_and(|r| same_user(c, r));
                    if !self.is_provider(c) && !own_leave && !own_user {
                        return Err(PolicyViolation::NotProvider);
                    }
                }
                Ok(())
            }
            Proposal::Update(u) => {
                let leaf = proposer_leaf.ok_or(PolicyViolation::NotProvider)?;
                same_credential(group, leaf, u.leaf_node().credential())
            }
            _ => Err(PolicyViolation::ProposalType),
        }
    }

    /// Checks a received commit of `committer` (at leaf `committer_leaf`).
    pub(super) fn check_commit(
        &self,
        group: &MlsGroup,
        staged: &StagedCommit,
        committer: &CredentialIdentity,
        committer_leaf: LeafNodeIndex,
    ) -> Result<(), PolicyViolation> {
        for q in staged.queued_proposals() {
            let (proposer, leaf) = match q.sender() {
                Sender::Member(idx) => (
                    group
                        .member_at(*idx)
                        .and_then(|m| identity_of(&m.credential))
                        .ok_or(PolicyViolation::NotSealroomCredential)?,
                    *idx,
                ),
                _ => return Err(PolicyViolation::NotProvider),
            };
            self.check_proposal(group, q.proposal(), &proposer, Some(leaf), Some(committer))?;
        }
        if let Some(leaf) = staged.update_path_leaf_node() {
            same_credential(group, committer_leaf, leaf.credential())?;
        }
        Ok(())
    }
}

/// Whether two identities are devices of the same user (organisation and user id).
pub(super) fn same_user(a: &CredentialIdentity, b: &CredentialIdentity) -> bool {
    a.org_id == b.org_id && a.user_id == b.user_id
}

/// A leaf update keeps the leaf's Sealroom identity.
fn same_credential(
    group: &MlsGroup,
    leaf: LeafNodeIndex,
    new: &Credential,
) -> Result<(), PolicyViolation> {
    let old = group
        .member_at(leaf)
        .and_then(|m| identity_of(&m.credential))
        .ok_or(PolicyViolation::NotSealroomCredential)?;
    let new = identity_of(new).ok_or(PolicyViolation::NotSealroomCredential)?;
    if old == new {
        Ok(())
    } else {
        Err(PolicyViolation::CredentialChange)
    }
}
