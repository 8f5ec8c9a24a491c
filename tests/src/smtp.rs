//! A real SMTP listener for notification tests: Python's `aiosmtpd` (from PyPI) with its
//! `Mailbox` handler, which stores every accepted message in a Maildir before answering `250`.
//!
//! ```no_run
//! use sealroom_tests::smtp::SmtpSink;
//! let Some(sink) = SmtpSink::start() else { return }; // prints why when aiosmtpd is missing
//! // point the relay at 127.0.0.1:sink.port() ...
//! let mails = sink.wait_for(1, std::time::Duration::from_secs(60));
//! ```

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One received mail.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Raw message as stored.
    pub raw: String,
    /// `To` header value.
    pub to: String,
    /// `Subject` header value.
    pub subject: String,
    /// Body (after the blank line; quoted-printable soft breaks joined).
    pub body: String,
}

impl Mail {
    fn parse(raw: String) -> Self {
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .or_else(|| raw.split_once("\n\n"))
            .map(|(h, b)| (h.to_owned(), b.to_owned()))
            .unwrap_or_else(|| (raw.clone(), String::new()));
        // Unfold continued header lines.
        let head = head.replace("\r\n ", " ").replace("\n ", " ");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let quoted_printable =
            header("Content-Transfer-Encoding").eq_ignore_ascii_case("quoted-printable");
        let body = if quoted_printable {
            body.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        } else {
            body
        };
        Self {
            to: header("To"),
            subject: header("Subject"),
            body,
            raw,
        }
    }
}

/// A running `aiosmtpd` process writing to a temporary Maildir.
pub struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl SmtpSink {
    /// Starts the listener on a free loopback port. Returns `None` (after printing why) when
    /// `python3` or `aiosmtpd` is not installed (`pip install aiosmtpd`); panics instead under
    /// `CI=true`, where every test that needs it must run.
    pub fn start() -> Option<Self> {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.map(|s| s.success()).unwrap_or(false) {
            // Under CI a missing listener is a failure, never a pass by skipping
            // (scripts/setup.sh installs aiosmtpd).
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: python3 with aiosmtpd is required for the notification tests \
                 (scripts/setup.sh installs it; pip install aiosmtpd)"
            );
            eprintln!(
                "SKIPPED: python3 with aiosmtpd is not available (scripts/setup.sh installs it; \
                 pip install aiosmtpd)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("maildir");
        // Pick a free port; aiosmtpd binds it right after (loopback, a tiny race at most).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::fs::File::create(dir.path().join("smtpd.log")).expect("log");
        let log2 = log.try_clone().expect("log");
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("spawn aiosmtpd");
        let mut sink = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!("aiosmtpd exited ({status}): {}", sink.log());
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen: {}",
                sink.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(sink)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What aiosmtpd printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("smtpd.log")).unwrap_or_default()
    }

    fn maildir_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) {
                files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        files.sort();
        files
    }

    /// Every mail received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.maildir_files()
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(Mail::parse)
            .collect()
    }

    /// Mails addressed to `addr` (matched inside the `To` header).
    pub fn mails_to(&self, addr: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.contains(addr))
            .collect()
    }

    /// Polls until `pred` holds for the received mails or `deadline` passes (generous; never
    /// a timing assertion): returns the mails either way.
    pub fn wait_until(&self, deadline: Duration, pred: impl Fn(&[Mail]) -> bool) -> Vec<Mail> {
        let end = Instant::now() + deadline;
        loop {
            let mails = self.mails();
            if pred(&mails) || Instant::now() > end {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls until at least `n` mails arrived (or `deadline` passes).
    pub fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Mail> {
        self.wait_until(deadline, |m| m.len() >= n)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
