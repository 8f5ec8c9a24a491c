//! Writes the built-in seeds of every fuzz target (valid sealed files, recorded SDK traffic
//! through the in-process relay, MLS messages of a real room) into `fuzz/corpus/<target>/`
//! as `seed-<name>`. Run: `cargo run -p sealroom-fuzz-targets --example seed_corpus`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut count = 0;
    for (target, name, data) in sealroom_fuzz_targets::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        count += 1;
    }
    println!("wrote {count} seeds under {}", root.display());
}
