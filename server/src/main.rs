//! The Sealroom relay binary.
#![forbid(unsafe_code)]

fn main() {}
