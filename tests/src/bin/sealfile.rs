//! `sealfile`: seals and opens files with the native sealed-file implementation, so that other
//! implementations (the WASM build, run from Node) can be checked against it byte for byte.
//!
//! ```text
//! sealfile seal <key-hex> <name> <media-type> <classification> <created> <in> <out>
//! sealfile open <key-hex> <in> <out>        # prints the metadata as JSON on stdout
//! sealfile bench <MiB>                      # seal+open throughput of the push API, JSON on stdout
//! ```
//! Exit code 2 with a one-line error on stderr for any failure (the error's stable code first).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use sealroom_core::format::{
    FileKey, FormatError, Metadata, OpenReader, Opener, SealWriter, Sealer,
};

const USAGE: &str =
    "usage: sealfile seal <key-hex> <name> <media-type> <classification> <created> <in> <out>
       sealfile open <key-hex> <in> <out>
       sealfile bench <MiB>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("seal") if args.len() == 8 => seal(&args[1..]),
        Some("open") if args.len() == 4 => open(&args[1..]),
        Some("bench") if args.len() == 2 => bench(&args[1]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn key(hex_key: &str) -> Result<FileKey, String> {
    let bytes = hex::decode(hex_key).map_err(|e| format!("invalid_key: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "invalid_key: a file key is 32 bytes".to_owned())?;
    Ok(FileKey::from_bytes(bytes))
}

fn fail(error: FormatError) -> String {
    format!("format: {error}")
}

fn io_fail(error: io::Error) -> String {
    format!("io: {error}")
}

fn seal(args: &[String]) -> Result<(), String> {
    let input = File::open(&args[5]).map_err(io_fail)?;
    let length = input.metadata().map_err(io_fail)?.len();
    let metadata = Metadata {
        name: args[1].clone(),
        media_type: args[2].clone(),
        classification: args[3].clone(),
        created: args[4]
            .parse()
            .map_err(|e| format!("invalid created: {e}"))?,
        length: Some(length),
    };
    let output = BufWriter::new(File::create(&args[6]).map_err(io_fail)?);
    let mut writer = SealWriter::new(&key(&args[0])?, &metadata, output).map_err(fail)?;
    io::copy(&mut BufReader::new(input), &mut writer).map_err(io_fail)?;
    writer.finish().map_err(fail)?.flush().map_err(io_fail)?;
    Ok(())
}

fn open(args: &[String]) -> Result<(), String> {
    let input = BufReader::new(File::open(&args[1]).map_err(io_fail)?);
    let mut reader = OpenReader::new(&key(&args[0])?, input).map_err(fail)?;
    let mut output = BufWriter::new(File::create(&args[2]).map_err(io_fail)?);
    io::copy(&mut reader, &mut output).map_err(io_fail)?;
    output.flush().map_err(io_fail)?;
    let m = reader.metadata();
    let json = serde_json::json!({
        "name": m.name,
        "mediaType": m.media_type,
        "classification": m.classification,
        "created": m.created,
        "length": m.length,
    });
    println!("{json}");
    Ok(())
}

/// Seals then opens `mib` MiB through the push API in 64 KiB pieces, the same work the WASM
/// benchmark does, and prints MiB/s for each direction.
fn bench(mib: &str) -> Result<(), String> {
    let mib: usize = mib.parse().map_err(|e| format!("invalid size: {e}"))?;
    let piece = vec![0x5a_u8; 64 * 1024];
    let pieces = mib * 16;
    let key = FileKey::generate().map_err(fail)?;
    let metadata = Metadata {
        name: "bench".into(),
        length: Some((pieces * piece.len()) as u64),
        ..Metadata::default()
    };

    let start = Instant::now();
    let (mut sealer, header) = Sealer::new(&key, &metadata).map_err(fail)?;
    let mut sealed = header;
    for _ in 0..pieces {
        sealed.extend_from_slice(&sealer.push(&piece).map_err(fail)?);
    }
    sealed.extend_from_slice(&sealer.finish().map_err(fail)?);
    let seal_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut opener = Opener::new(&key);
    let mut opened = 0usize;
    for part in sealed.chunks(64 * 1024) {
        opened += opener.push(part).map_err(fail)?.len();
    }
    opened += opener.finish().map_err(fail)?.len();
    let open_secs = start.elapsed().as_secs_f64();
    if opened != pieces * piece.len() {
        return Err("bench: opened length differs".into());
    }
    let json = serde_json::json!({
        "mib": mib,
        "sealMiBps": mib as f64 / seal_secs,
        "openMiBps": mib as f64 / open_secs,
    });
    println!("{json}");
    Ok(())
}
