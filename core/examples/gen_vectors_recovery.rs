//! Generates the recovery-backup test vectors in `core/tests/vectors/recovery/recovery.json`
//! (schema in `docs/format.md`, "Recovery test vectors").
//!
//! Run: `cargo run -p sealroom-core --example gen_vectors_recovery`
//!
//! Deterministic: each case's salt and nonce are derived from its name. Passing cases use small
//! Argon2id costs so the vectors check quickly; failing cases are built from a valid backup by
//! tampering. Before writing a case the generator checks that the implementation gives the
//! expected result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use sealroom_core::format::recovery::{open, seal_with_salt, RecoveryError, RecoveryParams};
use sealroom_core::primitives::hkdf_sha256;
use serde_json::{json, Value};

const PASSPHRASE: &str = "correct horse battery staple";
const USER: &str = "u-3f2a9c";

fn derive<const N: usize>(name: &str, what: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    hkdf_sha256(
        b"sealroom/recovery/test-vectors",
        name.as_bytes(),
        what,
        &mut out,
    )
    .unwrap();
    out
}

fn params(m_kib: u32, t_cost: u32, p_cost: u32) -> RecoveryParams {
    RecoveryParams {
        m_kib,
        t_cost,
        p_cost,
    }
}

fn sealed(name: &str, passphrase: &str, user: &str, plain: &[u8], p: RecoveryParams) -> Vec<u8> {
    seal_with_salt(
        passphrase,
        user,
        plain,
        p,
        &derive(name, b"salt"),
        &derive(name, b"nonce"),
    )
    .unwrap()
}

fn error_name(e: &RecoveryError) -> &'static str {
    match e {
        RecoveryError::NotRecovery => "not_recovery",
        RecoveryError::UnsupportedVersion(_) => "unsupported_version",
        RecoveryError::ExcessiveCost => "excessive_cost",
        RecoveryError::InvalidParameters => "invalid_parameters",
        RecoveryError::Decrypt => "decrypt",
        other => panic!("unexpected {other:?}"),
    }
}

struct Out(Vec<Value>);

impl Out {
    fn case(&mut self, name: &str, description: &str, passphrase: &str, user: &str, sealed: &[u8]) {
        self.case_expecting(name, description, passphrase, user, sealed, None);
    }

    fn case_expecting(
        &mut self,
        name: &str,
        description: &str,
        passphrase: &str,
        user: &str,
        sealed: &[u8],
        plaintext: Option<&[u8]>,
    ) {
        let result = open(passphrase, user, sealed);
        let mut case = json!({
            "name": name,
            "description": description,
            "passphrase": passphrase,
            "user_id": user,
            "sealed": hex::encode(sealed),
        });
        match (result, plaintext) {
            (Ok(plain), Some(expected)) => {
                assert_eq!(plain.as_slice(), expected, "{name}");
                case["expected"] = json!("ok");
                case["plaintext"] = json!(hex::encode(expected));
            }
            (Err(e), None) => case["expected"] = json!(error_name(&e)),
            (other, _) => panic!("{name}: unexpected {:?}", other.map(|_| ())),
        }
        self.0.push(case);
    }
}

fn main() {
    let mut out = Out(Vec::new());
    let bundle = br#"{"v":1,"user_id":"u-3f2a9c","rooms":[],"files":[],"messages":[]}"#;

    let cheap = params(64, 1, 1);
    let base = sealed("ok_minimal_cost", PASSPHRASE, USER, bundle, cheap);
    out.case_expecting(
        "ok_minimal_cost",
        "Argon2id m=64 KiB, t=1, p=1; a JSON bundle",
        PASSPHRASE,
        USER,
        &base,
        Some(bundle),
    );
    let two_lanes = params(256, 2, 2);
    let s = sealed("ok_two_lanes", PASSPHRASE, USER, bundle, two_lanes);
    out.case_expecting(
        "ok_two_lanes",
        "Argon2id m=256 KiB, t=2, p=2",
        PASSPHRASE,
        USER,
        &s,
        Some(bundle),
    );
    let s = sealed("ok_empty_plaintext", PASSPHRASE, USER, b"", cheap);
    out.case_expecting(
        "ok_empty_plaintext",
        "an empty plaintext: header and tag only (61 bytes)",
        PASSPHRASE,
        USER,
        &s,
        Some(b""),
    );
    let unicode = "ünïcödé pässphrase ✓";
    let s = sealed("ok_unicode_passphrase", unicode, USER, bundle, cheap);
    out.case_expecting(
        "ok_unicode_passphrase",
        "a non-ASCII passphrase, used as its UTF-8 bytes without normalisation",
        unicode,
        USER,
        &s,
        Some(bundle),
    );

    out.case(
        "fail_short",
        "60 bytes: shorter than header and tag",
        PASSPHRASE,
        USER,
        &base[..60],
    );
    let mut bad = base.clone();
    bad[0] = b'X';
    out.case("fail_bad_magic", "magic XRRB", PASSPHRASE, USER, &bad);
    let mut bad = base.clone();
    bad[4] = 2;
    out.case("fail_version_2", "version byte 2", PASSPHRASE, USER, &bad);
    for (name, at, value) in [
        ("fail_excessive_memory", 5, 1024 * 1024 + 1),
        ("fail_excessive_passes", 9, 17),
        ("fail_excessive_lanes", 13, 9),
    ] {
        let mut bad = base.clone();
        bad[at..at + 4].copy_from_slice(&u32::to_be_bytes(value));
        out.case(
            name,
            "a cost parameter above the limit: refused before Argon2id runs",
            PASSPHRASE,
            USER,
            &bad,
        );
    }
    for (name, at, value, what) in [
        ("fail_zero_passes", 9, 0, "t = 0"),
        ("fail_zero_lanes", 13, 0, "p = 0"),
        ("fail_memory_below_lanes", 5, 7, "m_kib = 7 < 8 * p"),
    ] {
        let mut bad = base.clone();
        bad[at..at + 4].copy_from_slice(&u32::to_be_bytes(value));
        out.case(name, what, PASSPHRASE, USER, &bad);
    }
    out.case(
        "fail_wrong_passphrase",
        "another passphrase",
        "correct horse battery stapler",
        USER,
        &base,
    );
    out.case(
        "fail_other_user",
        "the backup of another user id",
        PASSPHRASE,
        "u-3f2a9d",
        &base,
    );
    // A backup sealed at t=2 relabelled t=1: the header is authenticated.
    let s = sealed(
        "fail_lowered_cost",
        PASSPHRASE,
        USER,
        bundle,
        params(64, 2, 1),
    );
    let mut bad = s.clone();
    bad[9..13].copy_from_slice(&1u32.to_be_bytes());
    out.case(
        "fail_lowered_cost",
        "sealed with t=2, header rewritten to t=1",
        PASSPHRASE,
        USER,
        &bad,
    );
    for (name, at) in [
        ("fail_flip_salt", 17),
        ("fail_flip_nonce", 33),
        ("fail_flip_ciphertext", 45),
        ("fail_flip_tag", base.len() - 1),
    ] {
        let mut bad = base.clone();
        bad[at] ^= 0x01;
        out.case(name, "one flipped bit", PASSPHRASE, USER, &bad);
    }
    let mut longer = base.clone();
    longer.push(0);
    out.case(
        "fail_trailing_byte",
        "one byte appended",
        PASSPHRASE,
        USER,
        &longer,
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/recovery");
    std::fs::create_dir_all(&dir).unwrap();
    let text = serde_json::to_string_pretty(&json!({ "cases": out.0 })).unwrap();
    std::fs::write(dir.join("recovery.json"), text + "\n").unwrap();
    println!("wrote {} cases to {}", out.0.len(), dir.display());
}
