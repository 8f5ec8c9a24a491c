//! cargo-fuzz target `sealed_file`: the body is [`sealroom_fuzz_targets::sealed_file`], shared with the stable
//! corpus replay (fuzz/targets/tests/corpus.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealroom_fuzz_targets::sealed_file(data));
