//! cargo-fuzz target `mls_incoming`: the body is [`sealroom_fuzz_targets::mls_incoming`], shared with the stable
//! corpus replay (fuzz/targets/tests/corpus.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealroom_fuzz_targets::mls_incoming(data));
