//! Prometheus metrics in the text exposition format, served at `/metrics`.
//!
//! Request counts and latencies are recorded for every response. Other modules register their
//! own counters with [`Metrics::counter`] and gauges with [`Metrics::gauge`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Current value.
    pub fn value(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Current value.
    pub fn value(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The relay's metrics registry.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<Histogram>,
    counters: Mutex<BTreeMap<String, (String, Arc<Counter>)>>,
    gauges: Mutex<BTreeMap<String, (String, Arc<Gauge>)>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, status: u16, elapsed: Duration) {
        {
            let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *r.entry((method.to_owned(), status)).or_insert(0) += 1;
        }
        let secs = elapsed.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The counter `name` (created on first use with `help`). Names should end in `_total`.
    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = c
            .entry(name.to_owned())
            .or_insert_with(|| (help.to_owned(), Arc::new(Counter::default())));
        Arc::clone(&entry.1)
    }

    /// The gauge `name` (created on first use with `help`).
    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        let mut g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        let entry = g
            .entry(name.to_owned())
            .or_insert_with(|| (help.to_owned(), Arc::new(Gauge::default())));
        Arc::clone(&entry.1)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP sealroom_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE sealroom_http_requests_total counter\n");
        {
            let r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            for ((method, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "sealroom_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP sealroom_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE sealroom_http_request_duration_seconds histogram\n");
        {
            let h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "sealroom_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "sealroom_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "sealroom_http_request_duration_seconds_sum {}", h.sum);
            let _ = writeln!(
                out,
                "sealroom_http_request_duration_seconds_count {}",
                h.count
            );
        }
        {
            let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
            for (name, (help, counter)) in c.iter() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                let _ = writeln!(out, "{name} {}", counter.value());
            }
        }
        {
            let g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
            for (name, (help, gauge)) in g.iter() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                let _ = writeln!(out, "{name} {}", gauge.value());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_histogram_and_counters() {
        let m = Metrics::new();
        m.observe_request("GET", 200, Duration::from_millis(3));
        m.observe_request("GET", 200, Duration::from_millis(30));
        m.counter("sealroom_x_total", "X.").add(5);
        m.gauge("sealroom_g", "G.").set(-2);
        let text = m.render();
        assert!(text.contains("sealroom_http_requests_total{method=\"GET\",status=\"200\"} 2"));
        assert!(text.contains("sealroom_http_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("sealroom_http_request_duration_seconds_count 2"));
        assert!(text.contains("sealroom_x_total 5"));
        assert!(text.contains("sealroom_g -2"));
    }
}
