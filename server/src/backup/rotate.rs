//! `sealroom-server rotate-key`: re-seals every relay secret of the store under a new relay key.
//! It lives with the other offline commands because it reaches into the accounts (TOTP secrets)
//! and the audit trail (its signing key), which [`crate::sealing`] sits below.

use std::path::Path;

use crate::config::Config;
use crate::sealing::{check_outside, RelayKey};
use crate::store::Txn;
use crate::{accounts, audit};

/// `sealroom-server rotate-key --new FILE` (relay stopped): re-seals every relay secret of the
/// store from the current key to the key in `new_file` (created with mode 0600 when absent),
/// then moves the current key file to `<key file>.retired-<old id>` and `new_file` into its
/// place. Returns (old id, new id, re-sealed values).
pub fn rotate_key(config: &Config, new_file: &Path) -> Result<(String, String, usize), String> {
    let path = config.relay_key_path();
    let old = RelayKey::load(&path).map_err(|e| e.to_string())?;
    check_outside(new_file, &config.data_dir).map_err(|e| e.to_string())?;
    let new = RelayKey::load_or_create(new_file).map_err(|e| e.to_string())?;
    if old.id_hex() == new.id_hex() {
        return Err("the new key is the current key".to_owned());
    }
    let store = crate::startup::open_store(config).map_err(|e| e.to_string())?;
    // Every sealed secret in one transaction: the store is sealed under one key or the other.
    let mut txn = Txn::new();
    let totp = accounts::reseal_totp(store.as_ref(), &mut txn, &old, &new)
        .map_err(|e| format!("re-sealing TOTP secrets: {e}"))?;
    let audit = audit::signing::reseal(store.as_ref(), &mut txn, &old, &new)
        .map_err(|e| format!("re-sealing the audit signing key: {e}"))?;
    store.commit(&txn).map_err(|e| e.to_string())?;
    store.flush().map_err(|e| e.to_string())?;
    drop(store);
    let retired = path.with_file_name(format!(
        "{}.retired-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        old.id_hex()
    ));
    std::fs::rename(&path, &retired).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::rename(new_file, &path).map_err(|e| format!("{}: {e}", new_file.display()))?;
    Ok((old.id_hex(), new.id_hex(), totp + audit))
}
