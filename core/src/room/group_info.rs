//! GroupInfo messages that leave this device: without the `external_pub` extension.
//!
//! openmls adds `external_pub` to every GroupInfo it exports (RFC 9420 §12.4.3.1): with it,
//! whoever holds the GroupInfo (the relay) can build an external commit and join the room.
//! Sealroom rooms admit members only by Welcome, so the extension is removed and the GroupInfo
//! is signed again by this device, which is the signer the GroupInfo names (its own leaf).

use openmls::messages::group_info::GroupInfo;
use openmls::prelude::tls_codec::{Serialize as _, Size as _, VLBytes};
use openmls::prelude::*;

use super::error::mls;
use super::RoomError;
use crate::identity::DeviceIdentity;

/// `SignWithLabel` label of a GroupInfo (RFC 9420 §5.1.2: "MLS 1.0 " + "GroupInfoTBS").
const GROUP_INFO_LABEL: &[u8] = b"MLS 1.0 GroupInfoTBS";
/// MLSMessage header of a GroupInfo: version mls10 (1), wire format mls_group_info (4).
const MLS_MESSAGE_GROUP_INFO: [u8; 4] = [0, 1, 0, 4];

/// Encodes `group_info` (signed by `signer`'s own leaf) as an MLSMessage without the
/// `external_pub` extension, re-signed by `signer`.
pub(super) fn without_external_pub(
    group_info: &GroupInfo,
    signer: &DeviceIdentity,
) -> Result<Vec<u8>, RoomError> {
    // GroupInfo = GroupInfoTBS || signature, GroupInfoTBS = group_context || extensions ||
    // confirmation_tag || signer. Only the extensions change: the bytes around them are kept.
    let bytes = group_info.tls_serialize_detached().map_err(mls)?;
    let context_len = group_info.group_context().tls_serialized_len();
    let extensions_len = group_info.extensions().tls_serialized_len();
    let signature_len = group_info.signature().tls_serialized_len();
    let tail_start = context_len + extensions_len;
    let tail_end = bytes
        .len()
        .checked_sub(signature_len)
        .filter(|end| *end >= tail_start)
        .ok_or_else(|| RoomError::Mls("group info shorter than its parts".into()))?;
    let kept: Vec<Extension> = group_info
        .extensions()
        .iter()
        .filter(|e| e.extension_type() != ExtensionType::ExternalPub)
        .cloned()
        .collect();
    let extensions = Extensions::<GroupInfo>::from_vec(kept).map_err(mls)?;

    let mut tbs = bytes[..context_len].to_vec();
    tbs.extend_from_slice(&extensions.tls_serialize_detached().map_err(mls)?);
    tbs.extend_from_slice(&bytes[tail_start..tail_end]);

    let mut sign_content = VLBytes::new(GROUP_INFO_LABEL.to_vec())
        .tls_serialize_detached()
        .map_err(mls)?;
    sign_content.extend_from_slice(
        &VLBytes::new(tbs.clone())
            .tls_serialize_detached()
            .map_err(mls)?,
    );
    let signature = signer.sign(&sign_content).to_vec();

    let mut out = MLS_MESSAGE_GROUP_INFO.to_vec();
    out.extend_from_slice(&tbs);
    out.extend_from_slice(
        &VLBytes::new(signature)
            .tls_serialize_detached()
            .map_err(mls)?,
    );
    Ok(out)
}
