//! The scanner's loop: sync, scan what has no verdict yet, post verdicts, wait for the relay's
//! next live event, again.
//!
//! What is done is what the SDK's store knows: a version with a verdict of this scanner (its
//! own, stored when it posted it, or one that came back through the room) is never scanned
//! again, so a restart neither rescans a finished file nor skips one that arrived meanwhile.
//! A scan cut short (a crash, a kill) left no verdict and is simply done again.
//!
//! Failures: a download that fails (relay unreachable, file not complete yet) is left for the
//! next pass, without a verdict. A clamd that cannot be reached or answers an error is tried
//! [`CLAMD_ATTEMPTS`] times with growing pauses; then the version gets a `failed` verdict, which
//! staff can override (`docs/scanner.md`, "Failures").

use std::time::Duration;

use sealroom_core::client::{ScanState, SealroomClient, Verdict};

use crate::clamd::{self, ClamdAddr, ScanResult};
use crate::say;

/// Attempts at clamd before a `failed` verdict.
pub(crate) const CLAMD_ATTEMPTS: u32 = 3;

enum ScanError {
    /// The download failed: try again on a later pass.
    Download(String),
    /// clamd failed: retried, then `failed`.
    Clamd(String),
}

/// Runs until an error it cannot get past (or after one pass with `once`).
pub(crate) async fn run(
    client: &SealroomClient,
    clamd: &ClamdAddr,
    once: bool,
) -> Result<(), String> {
    let account = client.account().map_err(|e| format!("account: {e}"))?;
    if let Err(e) = clamd::ping(clamd).await {
        // Not fatal: a verdict waits for clamd (and ends `failed` after the retries).
        eprintln!(
            "sealroom-scanner: clamd at {} does not answer: {e}",
            clamd.0
        );
    }
    say(&format!("ready {} {}", account.user_id, account.device_id));
    if let Err(e) = client.sync().await {
        eprintln!("sealroom-scanner: sync: {e}");
    }
    loop {
        if let Err(e) = pass(client, clamd, &account.user_id).await {
            eprintln!("sealroom-scanner: {e}");
        }
        say("idle");
        if once {
            return Ok(());
        }
        // Until something changes for this device (new rooms, messages, files).
        if let Err(e) = client.next_events().await {
            eprintln!("sealroom-scanner: live events: {e}");
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

/// One pass over every space whose policy names this scanner.
async fn pass(client: &SealroomClient, clamd: &ClamdAddr, me: &str) -> Result<(), String> {
    let spaces = client.spaces().await.map_err(|e| format!("spaces: {e}"))?;
    for space in spaces {
        let space_id = space.space_id;
        match client.space_policy(&space_id) {
            Ok(p) if p.scanner.as_deref() == Some(me) => {}
            Ok(_) => continue,
            Err(e) => {
                eprintln!("sealroom-scanner: policy of {space_id}: {e}");
                continue;
            }
        }
        if let Err(e) = client.refresh_files(&space_id).await {
            eprintln!("sealroom-scanner: files of {space_id}: {e}");
        }
        let files = client
            .files(&space_id)
            .map_err(|e| format!("files of {space_id}: {e}"))?;
        for f in files {
            // The scanner sits in the customer room; internal files are staff's own.
            if f.internal || !matches!(f.scan, ScanState::Waiting | ScanState::NotRequired) {
                continue;
            }
            scan_one(client, clamd, &space_id, &f.file_id).await?;
        }
    }
    Ok(())
}

/// Scans one version and posts the verdict (or leaves it for a later pass).
async fn scan_one(
    client: &SealroomClient,
    clamd: &ClamdAddr,
    space_id: &str,
    file_id: &str,
) -> Result<(), String> {
    say(&format!("scanning {space_id} {file_id}"));
    let mut attempt = 0;
    let verdict = loop {
        attempt += 1;
        match scan_stream(client, clamd, space_id, file_id).await {
            Ok(ScanResult::Clean) => break Verdict::Clean,
            Ok(ScanResult::Found(name)) => break Verdict::Infected(name),
            Err(ScanError::Download(e)) => {
                eprintln!("sealroom-scanner: download of {file_id}: {e} (retried later)");
                say(&format!("deferred {space_id} {file_id}"));
                return Ok(());
            }
            Err(ScanError::Clamd(e)) if attempt < CLAMD_ATTEMPTS => {
                eprintln!("sealroom-scanner: clamd, attempt {attempt}: {e}");
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            }
            Err(ScanError::Clamd(e)) => {
                eprintln!("sealroom-scanner: clamd, attempt {attempt}: {e}; verdict failed");
                break Verdict::Failed;
            }
        }
    };
    client
        .post_scan_verdict(space_id, file_id, verdict.clone())
        .await
        .map_err(|e| format!("verdict on {file_id}: {e} ({})", e.code()))?;
    let text = match &verdict {
        Verdict::Clean => "clean".to_owned(),
        Verdict::Infected(name) => format!("infected {name}"),
        Verdict::Failed => "failed".to_owned(),
    };
    say(&format!("verdict {space_id} {file_id} {text}"));
    Ok(())
}

/// Streams one version's plaintext into clamd, piece by piece as the SDK opens it. The verdict
/// counts only when the whole download checked out (the SDK checks the announced SHA-256 on
/// its last piece).
async fn scan_stream(
    client: &SealroomClient,
    clamd: &ClamdAddr,
    space_id: &str,
    file_id: &str,
) -> Result<ScanResult, ScanError> {
    let mut stream = clamd::Stream::start(clamd)
        .await
        .map_err(|e| ScanError::Clamd(e.to_string()))?;
    let mut download = client
        .start_download(space_id, file_id, None)
        .await
        .map_err(|e| ScanError::Download(format!("{e} ({})", e.code())))?;
    while let Some(piece) = client
        .download_next(&mut download)
        .await
        .map_err(|e| ScanError::Download(format!("{e} ({})", e.code())))?
    {
        stream
            .send(&piece)
            .await
            .map_err(|e| ScanError::Clamd(e.to_string()))?;
    }
    stream
        .finish()
        .await
        .map_err(|e| ScanError::Clamd(e.to_string()))
}
