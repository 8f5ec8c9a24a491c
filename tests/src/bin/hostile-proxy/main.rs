//! `hostile-proxy`: the hostile relay of `tests/src/hostile.rs` as a process, for attack tests
//! whose victims are not Rust (the WASM SDK in Node, the portal in a browser).
//!
//! ```text
//! hostile-proxy <relay base URL, http://host:port>
//! ```
//!
//! Prints one JSON line, `{"proxy": "http://…", "control": "http://…"}`, then serves until its
//! standard input closes. Victims talk to `proxy`, which forwards everything to the relay and
//! applies the rules the test sets; the test drives it over `control` (loopback, JSON bodies):
//!
//! | Request | Does |
//! |---|---|
//! | `POST /rules` | adds a rule ([`HostileRelay::add_spec`]: inject, replace, drop, respond, withhold, replay) |
//! | `DELETE /rules` | removes every rule: the relay is honest again |
//! | `GET /exchanges?method=M&path=P` | what passed: request and delivered status/JSON |
//! | `GET /welcome-recipients` | secrets count of every Welcome the victims posted |
//! | `POST /mallory` | registers the attacker's device (`token`, `name`) with raw openmls |
//! | `POST /mallory/key-package` | a fresh key package of it (base64) |
//! | `GET /mallory/welcomes?name=N` | how many Welcomes its mailbox holds |
//! | `POST /attack/external-proposal` | injects its external join proposal into `space_id`'s room |
//! | `POST /attack/external-commit` | injects an external commit (on the registered GroupInfo, else on one it forges) |
//! | `POST /mallory/join` | joins from its Welcome, reads the history keys it was sent |
//! | `POST /mallory/poison` | sends history keys for epochs it cannot know, `document_id` at `u64::MAX` |
//! | `POST /mallory/document` | a `document` version (`document_id`, `version`, `file_id`) signed by itself |
//! | `POST /mallory/manifest` | a sealed file and a manifest blob claiming `claims`; returns its id |
//! | `POST /mallory/try-unwrap` | tries every key it holds on `file_id`'s stored manifest (`data_dir`) |
//!
//! The attacker (a relay operator, or a malicious member "Mallory") is Rust: it crafts MLS
//! messages with openmls the way `tests/tests/attack_relay.rs` and `attack_member.rs` do.
//! Mallory talks to the relay directly; the victims only ever see the proxy. An attack step
//! that fails answers 500 with `{"error": …}`; the proxy keeps running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test tooling: its helpers assert

mod attacker;
mod control;

use std::io::{BufRead as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use sealroom_tests::hostile::HostileRelay;

fn main() {
    let Some(upstream) = std::env::args().nth(1) else {
        eprintln!("usage: hostile-proxy <relay base URL>");
        std::process::exit(2);
    };
    let addr: SocketAddr = match upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hostile-proxy: {upstream} is not http://ip:port: {e}");
            std::process::exit(2);
        }
    };
    let proxy = Arc::new(HostileRelay::start(addr));
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hostile-proxy: bind: {e}");
            std::process::exit(1);
        }
    };
    let control = listener.local_addr().map(|a| format!("http://{a}"));
    let control = control.unwrap_or_default();
    println!(
        "{}",
        serde_json::json!({ "proxy": proxy.base_url(), "control": control })
    );
    let _ = std::io::stdout().flush();
    // Ends the process when the test that started it goes away.
    std::thread::spawn(|| {
        let mut sink = String::new();
        let stdin = std::io::stdin();
        while stdin
            .lock()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            sink.clear();
        }
        std::process::exit(0);
    });
    let state = Mutex::new(attacker::Attacker::new(addr, proxy));
    for stream in listener.incoming().flatten() {
        control::serve(stream, &state);
    }
}
