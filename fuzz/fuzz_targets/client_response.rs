//! cargo-fuzz target `client_response`: the body is [`sealroom_fuzz_targets::client_response`], shared with the stable
//! corpus replay (fuzz/targets/tests/corpus.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealroom_fuzz_targets::client_response(data));
