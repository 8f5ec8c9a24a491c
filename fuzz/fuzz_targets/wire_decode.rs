//! cargo-fuzz target `wire_decode`: the body is [`sealroom_fuzz_targets::wire_decode`], shared with the stable
//! corpus replay (fuzz/targets/tests/corpus.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealroom_fuzz_targets::wire_decode(data));
