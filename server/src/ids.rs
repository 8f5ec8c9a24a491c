//! Random identifiers and tokens.

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// A new random identifier: 16 random bytes as 32 lower-case hex characters (valid for
/// [`sealroom_wire::check_id`]).
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A new random secret token: 32 random bytes as 64 lower-case hex characters.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// SHA-256 of a token, hex: tokens are stored only as this digest.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let a = random_id();
        assert!(sealroom_wire::check_id(&a).is_ok());
        assert_ne!(a, random_id());
        assert_eq!(random_token().len(), 64);
        assert_eq!(token_digest("x").len(), 64);
    }
}
