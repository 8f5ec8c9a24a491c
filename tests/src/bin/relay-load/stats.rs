//! Process measurements (RSS, CPU, load average) and the relay's data directory size.

use std::path::Path;
use std::time::{Duration, Instant};

use sealroom_tests::relay::Relay;

use crate::StoreProbe;

/// The relay process: the `sealroom-server` whose working directory is the relay's temp dir.
pub(crate) fn relay_pid(relay: &Relay) -> Option<u32> {
    let dir = relay.data_dir().parent()?.canonicalize().ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        let is_relay = exe
            .as_ref()
            .and_then(|e| e.file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("sealroom-server"));
        if is_relay && cwd.as_deref() == Some(dir.as_path()) {
            return Some(pid);
        }
    }
    None
}

/// `VmRSS` of a process in KiB (0 when unreadable).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of a process in seconds (`/proc/<pid>/stat`, 100 ticks/s).
pub(crate) fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// CPU seconds of the relay (all its instances) and of this load generator between two points.
pub(crate) struct CpuMeter {
    pub(crate) pids: Vec<u32>,
    pub(crate) relay: f64,
    pub(crate) me: f64,
    pub(crate) at: Instant,
}

/// CPU seconds of all of `pids`.
fn cpu_all(pids: &[u32]) -> f64 {
    pids.iter().map(|p| cpu_secs(&p.to_string())).sum()
}

impl CpuMeter {
    pub(crate) fn start(pid: u32) -> Self {
        Self::start_all(&[pid])
    }

    pub(crate) fn start_all(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            relay: cpu_all(pids),
            me: cpu_secs("self"),
            at: Instant::now(),
        }
    }

    /// (relay CPU s, load generator CPU s, wall s).
    pub(crate) fn read(&self) -> (f64, f64, f64) {
        (
            cpu_all(&self.pids) - self.relay,
            cpu_secs("self") - self.me,
            self.at.elapsed().as_secs_f64(),
        )
    }
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Bytes of the files under `dir` (the relay's data directory: store and blobs).
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// What [`sample_rss`] saw.
pub(crate) struct RssTrace {
    /// (seconds since the start, KiB summed over the instances), one per second.
    pub(crate) samples: Vec<(f64, u64)>,
    /// Stored bytes at the first sample, at the end of the warm-up and at the last sample.
    pub(crate) store: [u64; 3],
}

/// Samples the summed RSS of `pids` every second until `deadline`, and the store's size at the
/// start, at `warmup_end` and at the end.
pub(crate) async fn sample_rss(
    pids: Vec<u32>,
    probe: StoreProbe,
    start: Instant,
    warmup_end: Instant,
    deadline: Instant,
) -> RssTrace {
    let mut samples = Vec::new();
    let first = probe.bytes();
    let mut warm = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        samples.push((
            start.elapsed().as_secs_f64(),
            pids.iter().map(|p| rss_kib(*p)).sum(),
        ));
        if warm.is_none() && Instant::now() >= warmup_end {
            warm = Some(probe.bytes());
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let last = probe.bytes();
    RssTrace {
        samples,
        store: [first, warm.unwrap_or(last), last],
    }
}

/// Least-squares slope of RSS (MiB per minute) over samples at or after `from` seconds.
pub(crate) fn rss_slope(samples: &[(f64, u64)], from: f64) -> f64 {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(t, _)| *t >= from)
        .map(|(t, k)| (*t, *k as f64 / 1024.0))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return 0.0;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx * 60.0
    }
}

/// Mean RSS (KiB) of the samples taken in `[from, to)` seconds (0 when there are none). One
/// sample of a busy relay swings by tens of MiB (append bodies in flight, the allocator's
/// decay); a minute's mean does not.
pub(crate) fn rss_mean(samples: &[(f64, u64)], from: f64, to: f64) -> u64 {
    let window: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, k)| *k)
        .collect();
    if window.is_empty() {
        0
    } else {
        window.iter().sum::<u64>() / window.len() as u64
    }
}

/// Appends `name<TAB>value` lines to `path` (`--figures`: the requests and upload figures
/// for scripts, as `--summary` is for the mixed ones).
pub(crate) fn write_figures(
    path: Option<&Path>,
    figures: &[(String, String)],
) -> std::io::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let text: String = figures.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_means_and_slope() {
        let samples: Vec<(f64, u64)> = (0..300)
            .map(|t| (t as f64, 1024 * (100 + t / 60)))
            .collect();
        assert_eq!(rss_mean(&samples, 0.0, 60.0), 100 * 1024);
        assert_eq!(rss_mean(&samples, 240.0, 300.0), 104 * 1024);
        assert_eq!(rss_mean(&samples, 400.0, 500.0), 0);
        let slope = rss_slope(&samples, 0.0);
        assert!((slope - 1.0).abs() < 0.05, "{slope}");
    }
}
