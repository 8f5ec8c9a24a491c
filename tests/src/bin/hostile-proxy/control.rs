//! The control API: one HTTP/1.1 request per connection, JSON in and out, served one at a
//! time (a test drives it step by step).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::attacker::Attacker;

/// Bodies larger than this are refused (rules and claims are small).
const MAX_BODY: usize = 4 << 20;

/// A parsed control request.
pub(crate) struct Call {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Query parameters, percent-decoded.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Value,
}

impl Call {
    /// The query parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request from `stream`, runs it, writes the answer.
pub(crate) fn serve(stream: TcpStream, state: &Mutex<Attacker>) {
    let (status, body) = match read(&stream) {
        Ok(call) => {
            let mut attacker = state.lock().unwrap_or_else(|p| p.into_inner());
            match std::panic::catch_unwind(AssertUnwindSafe(|| attacker.handle(&call))) {
                Ok(Ok(v)) => (200, v),
                Ok(Err(e)) => (400, json!({ "error": e })),
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "attack step failed".into());
                    (500, json!({ "error": text }))
                }
            }
        }
        Err(e) => (400, json!({ "error": e })),
    };
    let body = body.to_string();
    let reason = if status == 200 { "OK" } else { "Error" };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn read(stream: &TcpStream) -> Result<Call, String> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or("empty request")?.to_ascii_uppercase();
    let target = parts.next().ok_or("no request target")?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).map_err(|e| e.to_string())?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().map_err(|_| "bad content-length")?;
            }
        }
    }
    if length > MAX_BODY {
        return Err("body too large".into());
    }
    let mut raw = vec![0u8; length];
    reader.read_exact(&mut raw).map_err(|e| e.to_string())?;
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw).map_err(|e| format!("body is not JSON: {e}"))?
    };
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    Ok(Call {
        method,
        path: path.to_owned(),
        query,
        body,
    })
}

/// Percent-decoding of a query component (`+` is a space); bad escapes stay as they are.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
