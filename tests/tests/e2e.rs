//! Every end-to-end test of `tests/tests/` in one test binary: each file is a module of it
//! (`cargo test -p sealroom-tests --test e2e relay_dos::` runs one file's tests).
//!
//! One binary instead of one per file: each of them linked the relay, the SDK and openmls again
//! (about 90 MB of a debug build each, 3 GB for the 36 files) and the links took minutes of
//! every cold build; a CI disk ran full. `Cargo.toml` turns off cargo's automatic test targets,
//! so a new file must be named below: `every_file_of_tests_is_a_suite` fails until it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

macro_rules! suites {
    ($($name:ident),* $(,)?) => {
        $(mod $name;)*
        /// The suites, one per file or directory of `tests/tests/`.
        const SUITES: &[&str] = &[$(stringify!($name)),*, "attack_relay", "crash_recovery", "relay_authz"];
    };
}

suites!(
    attack_member,
    client_admin,
    client_e2e,
    client_files,
    client_files_tamper,
    client_labels,
    client_live,
    client_profiles,
    client_scenario,
    client_sync_files,
    client_upload_checkpoint,
    device_vouching,
    openapi_routes,
    relay_api_conformance,
    relay_audit,
    relay_audit_coverage,
    relay_backup,
    relay_blobs,
    relay_commit_race,
    relay_dos,
    relay_durability,
    relay_enrolment,
    relay_events,
    relay_invitations,
    relay_migrate,
    relay_notify,
    relay_platform,
    relay_retention,
    relay_revoke,
    relay_rooms,
    relay_s3,
    relay_secrets,
    relay_signature,
    relay_tls,
    scale_out,
    scale_out_live,
    scanner,
    scanner_attacks,
);

// The suites that span several files live in a directory of their own.
#[path = "attack_relay/main.rs"]
mod attack_relay;
#[path = "crash_recovery/main.rs"]
mod crash_recovery;
#[path = "relay_authz/main.rs"]
mod relay_authz;

/// A file of `tests/tests/` that is not a module here would never be compiled nor run.
#[test]
fn every_file_of_tests_is_a_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = if path.is_dir() {
            path.join("main.rs")
                .exists()
                .then(|| path.file_name().unwrap().to_string_lossy().into_owned())
        } else {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .strip_suffix(".rs")
                .map(str::to_owned)
        };
        let Some(name) = name else { continue };
        if name != "e2e" && !SUITES.contains(&name.as_str()) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "add to tests/tests/e2e.rs: {missing:?}");
}
