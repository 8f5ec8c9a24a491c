//! cargo-fuzz target `relay_request`: the body is [`sealroom_fuzz_targets::relay_request`], shared with the stable
//! corpus replay (fuzz/targets/tests/corpus.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealroom_fuzz_targets::relay_request(data));
