//! Peak memory of sealing and then opening a 1 GiB stream through the `std::io` adaptors.
//!
//! Run: `cargo run --release -p sealroom-core --example rss` (set `SEALROOM_RSS_MIB` to change
//! the size). The plaintext is generated on the fly, sealed with `SealWriter` into a temporary
//! file, then read back with `OpenReader` and compared with the regenerated plaintext, all in
//! 1 MiB steps. Prints the process's peak resident set size (`VmHWM` from `/proc/self/status`)
//! after each phase. Measures only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::time::Instant;

use sealroom_core::format::{FileKey, Metadata, OpenReader, SealWriter};

const STEP: usize = 1024 * 1024;

fn fill(buf: &mut [u8], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        let x = offset + i as u64;
        *b = (x ^ (x >> 11) ^ (x >> 23)) as u8;
    }
}

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unavailable (no /proc/self/status)".into())
}

fn main() {
    let mib: u64 = std::env::var("SEALROOM_RSS_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mib * 1024 * 1024;
    println!("baseline peak RSS: {}", vm_hwm());

    let key = FileKey::generate().unwrap();
    let metadata = Metadata {
        name: "large.bin".into(),
        media_type: "application/octet-stream".into(),
        classification: "internal".into(),
        created: 0,
        length: Some(total),
    };
    let mut file = tempfile::tempfile().unwrap();
    let started = Instant::now();
    let mut writer = SealWriter::new(&key, &metadata, BufWriter::new(&mut file)).unwrap();
    let mut buf = vec![0u8; STEP];
    let mut done = 0u64;
    while done < total {
        let n = STEP.min((total - done) as usize);
        fill(&mut buf[..n], done);
        writer.write_all(&buf[..n]).unwrap();
        done += n as u64;
    }
    writer.finish().unwrap().flush().unwrap();
    let sealed_len = file.seek(SeekFrom::End(0)).unwrap();
    println!(
        "sealed {mib} MiB -> {sealed_len} bytes in {:.1} s; peak RSS: {}",
        started.elapsed().as_secs_f64(),
        vm_hwm()
    );

    file.seek(SeekFrom::Start(0)).unwrap();
    let started = Instant::now();
    let mut reader = OpenReader::new(&key, BufReader::new(&mut file)).unwrap();
    assert_eq!(reader.metadata(), &metadata);
    let mut expected = vec![0u8; STEP];
    let mut done = 0u64;
    loop {
        let mut filled = 0;
        while filled < STEP {
            let n = reader.read(&mut buf[filled..]).unwrap();
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        fill(&mut expected[..filled], done);
        assert_eq!(
            buf[..filled],
            expected[..filled],
            "plaintext differs at {done}"
        );
        done += filled as u64;
    }
    assert_eq!(done, total);
    println!(
        "opened and verified {mib} MiB in {:.1} s; peak RSS: {}",
        started.elapsed().as_secs_f64(),
        vm_hwm()
    );
}
