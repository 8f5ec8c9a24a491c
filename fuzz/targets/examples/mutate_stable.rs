//! A stable-toolchain stand-in for libFuzzer when nightly is unavailable or still building:
//! random byte-level mutations (flip, insert, delete, splice, truncate) of each target's
//! committed corpus through the same target bodies, for `SECONDS` (default 30) per target.
//! Saves any input that panics under `target/fuzz-artifacts/<target>/` and prints executions
//! and executions per second. No coverage feedback: use `scripts/fuzz.sh` for real fuzzing.
//! Run: `cargo run -p sealroom-fuzz-targets --example mutate_stable [SECONDS] [TARGET]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => input.insert(rng.below(len + 1), rng.next() as u8),
            2 if len > 0 => {
                let i = rng.below(len);
                let end = (i + 1 + rng.below(16)).min(len);
                input.drain(i..end);
            }
            3 if !other.is_empty() => {
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                let end = (j + 1 + rng.below(64)).min(other.len());
                input.splice(i..i, other[j..end].iter().copied());
            }
            4 => input.truncate(rng.below(len + 1)),
            _ if len > 0 => {
                let i = rng.below(len);
                input[i] = [0, 0xff, b'"', b'{', b'0', 0x7f][rng.below(6)];
            }
            _ => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let only = args.get(2).cloned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let mut findings = 0;
    for (name, body) in sealroom_fuzz_targets::TARGETS {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let corpus: Vec<Vec<u8>> = std::fs::read_dir(root.join(name))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        body(&corpus[0]); // builds the world outside the timed loop
        let start = Instant::now();
        let mut execs = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            let mut input = corpus[rng.below(corpus.len())].clone();
            let other = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, &mut input, other);
            execs += 1;
            if std::panic::catch_unwind(|| body(&input)).is_err() {
                findings += 1;
                let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/fuzz-artifacts")
                    .join(name);
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("crash-{execs}"));
                std::fs::write(&path, &input).unwrap();
                println!("{name}: panic, input saved to {}", path.display());
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name}: {execs} executions in {secs:.0}s ({:.0} exec/s), {} corpus files",
            execs as f64 / secs,
            corpus.len()
        );
    }
    println!("findings: {findings}");
}
