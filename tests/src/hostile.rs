//! A hostile relay for tests: an HTTP/1.1 proxy in front of the real relay binary that
//! forwards every request unchanged (method, path, query, headers including `Host`, body) and
//! lets a test tamper with the answers.
//!
//! A test registers [`Rule`]s by method and path pattern (`*` matches one path segment, a
//! trailing `**` any rest; the query is not part of the match). A rule can
//! - rewrite the relay's real answer (status, headers, JSON body): inject, replace, drop or
//!   reorder entries of a list, replay an earlier answer ([`HostileRelay::exchanges`]);
//! - answer itself without asking the relay ([`Action::Respond`]);
//! - withhold the answer (the connection is closed without a response).
//!
//! Every exchange that passed is recorded with what the client finally saw. The proxy runs on
//! its own thread and Tokio runtime, so it works from synchronous and asynchronous tests alike,
//! and can serve a client in another process (point it at [`HostileRelay::base_url`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A request as the client sent it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Upper-case method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string (without `?`), if any.
    pub query: Option<String>,
    /// Header name/value pairs as received.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Seen {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path segment at `index` (`/v1/rooms/{id}/handshakes`: segment 2 is the id).
    pub fn segment(&self, index: usize) -> Option<&str> {
        self.path.trim_start_matches('/').split('/').nth(index)
    }
}

/// A response, as the relay gave it or as a rule makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header name/value pairs (framing headers are recomputed by the proxy).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap(),
        }
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Replaces the body with `value`.
    pub fn set_json(&mut self, value: &Value) {
        self.body = serde_json::to_vec(value).unwrap();
    }

    /// Edits the JSON body in place.
    pub fn edit_json(&mut self, f: impl FnOnce(&mut Value)) {
        let mut value = self.body_json();
        f(&mut value);
        self.set_json(&value);
    }
}

/// A rewrite of a real answer.
pub type RewriteFn = dyn Fn(&Seen, &mut Reply) + Send + Sync;
/// An answer made without the relay.
pub type RespondFn = dyn Fn(&Seen) -> Reply + Send + Sync;

/// What a rule does with a matching request.
#[derive(Clone)]
pub enum Action {
    /// Forward, then change the relay's answer.
    Rewrite(Arc<RewriteFn>),
    /// Do not forward; answer this.
    Respond(Arc<RespondFn>),
    /// Forward (the relay acts on it), then close the connection without an answer.
    Withhold,
}

/// One tampering rule.
#[derive(Clone)]
pub struct Rule {
    method: String,
    pattern: String,
    action: Action,
    /// How many more requests it applies to (`None`: all).
    remaining: Option<usize>,
}

impl Rule {
    /// A rule for `method` (or `*`) and `pattern`.
    pub fn new(method: &str, pattern: &str, action: Action) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            pattern: pattern.to_owned(),
            action,
            remaining: None,
        }
    }

    /// Applies to the next `n` matching requests only.
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(n);
        self
    }

    fn matches(&self, seen: &Seen) -> bool {
        (self.method == "*" || self.method == seen.method)
            && path_matches(&self.pattern, &seen.path)
            && self.remaining != Some(0)
    }
}

/// Whether `path` matches `pattern` (`*` one segment, trailing `**` the rest).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut pat = pattern.trim_start_matches('/').split('/');
    let mut segs = path.trim_start_matches('/').split('/');
    loop {
        match (pat.next(), segs.next()) {
            (Some("**"), _) => return true,
            (Some(p), Some(s)) if p == "*" || p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One exchange that passed through the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: Seen,
    /// What the relay answered (`None` when a rule answered without it).
    pub upstream: Option<Reply>,
    /// What the client got (`None` when withheld).
    pub delivered: Option<Reply>,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Exchange>>,
}

/// The proxy. Dropping it stops it.
pub struct HostileRelay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostileRelay {
    /// Starts a proxy on `127.0.0.1:0` in front of the relay at `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let shared = Arc::new(Shared::default());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = crate::runtime();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                loop {
                    let tcp = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _)) => tcp,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => break,
                    };
                    let state = state.clone();
                    let client = client.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(req, upstream, client.clone(), state.clone())
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tcp), service)
                            .await;
                    });
                }
            });
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`: give this to the client under attack.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule; the first matching rule (in the order added) applies.
    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    /// Forwards and then rewrites answers to `method pattern`.
    pub fn rewrite(
        &self,
        method: &str,
        pattern: &str,
        f: impl Fn(&Seen, &mut Reply) + Send + Sync + 'static,
    ) {
        self.add(Rule::new(method, pattern, Action::Rewrite(Arc::new(f))));
    }

    /// Answers `method pattern` without the relay.
    pub fn respond(
        &self,
        method: &str,
        pattern: &str,
        f: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) {
        self.add(Rule::new(method, pattern, Action::Respond(Arc::new(f))));
    }

    /// Forwards `method pattern` but withholds the answer.
    pub fn withhold(&self, method: &str, pattern: &str) {
        self.add(Rule::new(method, pattern, Action::Withhold));
    }

    /// Removes every rule: the proxy is honest again.
    pub fn clear_rules(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Everything that passed so far, oldest first.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Exchanges for `method pattern`.
    pub fn exchanges_for(&self, method: &str, pattern: &str) -> Vec<Exchange> {
        let method = method.to_ascii_uppercase();
        self.exchanges()
            .into_iter()
            .filter(|e| {
                (method == "*" || e.request.method == method)
                    && path_matches(pattern, &e.request.path)
            })
            .collect()
    }
}

/// Rules written as JSON, for a proxy driven from another process (the `hostile-proxy`
/// binary's control API). A spec is an object with `method` (or `*`), `path` (a pattern as in
/// [`Rule::new`]), optional `times`, and `action` with its fields:
///
/// * `inject`: appends `entries` (a list) to the answer's list `field` (default `entries`);
///   with `when_empty` only when that list is empty; with `once_per_device` once per signing
///   device (`X-Sealroom-Device`).
/// * `replace`: sets the JSON value at `pointer` (RFC 6901; `""` is the whole body) to
///   `value`, and the status to `status` when given.
/// * `drop`: removes from the list `field` (default `entries`) every entry whose fields equal
///   all of `where` (every entry when `where` is absent or empty).
/// * `respond`: answers `status` (default 200) and `json` without asking the relay.
/// * `withhold`: forwards, then closes the connection without an answer.
/// * `replay`: answers what the client got in the `index`-th (0-based, default 0) earlier
///   exchange for `from_method` / `from_path` (defaults: this rule's method and path), without
///   asking the relay.
impl HostileRelay {
    /// Hands `message` to every device that reads `room`'s handshake log, once per device, at
    /// the end of the log (when it has nothing newer), as if `sender` had posted it as `kind`
    /// (`"commit"` or `"proposal"`): a relay injecting a handshake.
    pub fn inject_handshake(&self, room: &str, kind: &'static str, sender: &str, message: &[u8]) {
        let served: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let sender = sender.to_owned();
        let message = crate::rooms::b64(message);
        self.rewrite(
            "GET",
            &format!("/v1/rooms/{room}/handshakes"),
            move |seen, reply| {
                if reply.status != 200 {
                    return;
                }
                let mut body = reply.body_json();
                if !body["entries"].as_array().is_some_and(|e| e.is_empty()) {
                    return;
                }
                let device = seen.header("x-sealroom-device").unwrap_or("").to_owned();
                if !served
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(device)
                {
                    return;
                }
                let after: u64 = seen
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("after="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                body["entries"] = serde_json::json!([{
                    "seq": after,
                    "epoch": 0,
                    "kind": kind,
                    "sender_device": sender,
                    "message": message,
                    "received_at": 0,
                }]);
                reply.set_json(&body);
            },
        );
    }
}

impl HostileRelay {
    /// Adds the rule described by `spec` (see above); an error names what is wrong with it.
    pub fn add_spec(&self, spec: &Value) -> Result<(), String> {
        let text = |key: &str, default: Option<&str>| -> Result<String, String> {
            match spec.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                None => default
                    .map(str::to_owned)
                    .ok_or(format!("missing \"{key}\"")),
                Some(_) => Err(format!("\"{key}\" must be a string")),
            }
        };
        let method = text("method", Some("*"))?;
        let path = text("path", None)?;
        let field = text("field", Some("entries"))?;
        let action = match text("action", None)?.as_str() {
            "inject" => {
                let entries = match spec.get("entries") {
                    Some(Value::Array(a)) => a.clone(),
                    _ => return Err("inject needs a list \"entries\"".into()),
                };
                let when_empty = spec["when_empty"].as_bool().unwrap_or(false);
                let once = spec["once_per_device"].as_bool().unwrap_or(false);
                let served: Mutex<std::collections::HashSet<String>> = Mutex::default();
                Action::Rewrite(Arc::new(move |seen: &Seen, reply: &mut Reply| {
                    if reply.status != 200 {
                        return;
                    }
                    let mut body = reply.body_json();
                    let Some(list) = body.get_mut(&field).and_then(Value::as_array_mut) else {
                        return;
                    };
                    if when_empty && !list.is_empty() {
                        return;
                    }
                    if once {
                        let device = seen.header("x-sealroom-device").unwrap_or("").to_owned();
                        let mut served = served.lock().unwrap_or_else(|p| p.into_inner());
                        if !served.insert(device) {
                            return;
                        }
                    }
                    list.extend(entries.iter().cloned());
                    reply.set_json(&body);
                }))
            }
            "replace" => {
                let pointer = text("pointer", Some(""))?;
                let value = spec.get("value").cloned();
                let status = spec["status"].as_u64().map(|s| s as u16);
                Action::Rewrite(Arc::new(move |_: &Seen, reply: &mut Reply| {
                    if let Some(status) = status {
                        reply.status = status;
                    }
                    let Some(value) = &value else { return };
                    let mut body = reply.body_json();
                    if let Some(slot) = body.pointer_mut(&pointer) {
                        *slot = value.clone();
                        reply.set_json(&body);
                    }
                }))
            }
            "drop" => {
                let filter = match spec.get("where") {
                    Some(Value::Object(m)) => m.clone(),
                    None => serde_json::Map::new(),
                    Some(_) => return Err("\"where\" must be an object".into()),
                };
                Action::Rewrite(Arc::new(move |_: &Seen, reply: &mut Reply| {
                    let mut body = reply.body_json();
                    let Some(list) = body.get_mut(&field).and_then(Value::as_array_mut) else {
                        return;
                    };
                    list.retain(|e| !filter.iter().all(|(k, v)| e.get(k) == Some(v)));
                    reply.set_json(&body);
                }))
            }
            "respond" => {
                let status = spec["status"].as_u64().unwrap_or(200) as u16;
                let json = spec.get("json").cloned().unwrap_or(Value::Null);
                Action::Respond(Arc::new(move |_: &Seen| Reply::json(status, &json)))
            }
            "withhold" => Action::Withhold,
            "replay" => {
                let from_method = text("from_method", Some(&method))?.to_ascii_uppercase();
                let from_path = text("from_path", Some(&path))?;
                let index = spec["index"].as_u64().unwrap_or(0) as usize;
                let shared = self.shared.clone();
                let recorded = {
                    let log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
                    log.iter()
                        .filter(|e| {
                            (from_method == "*" || e.request.method == from_method)
                                && path_matches(&from_path, &e.request.path)
                        })
                        .filter_map(|e| e.delivered.clone())
                        .nth(index)
                };
                let Some(recorded) = recorded else {
                    return Err(format!(
                        "no exchange {index} for {from_method} {from_path} to replay"
                    ));
                };
                Action::Respond(Arc::new(move |_: &Seen| recorded.clone()))
            }
            other => return Err(format!("unknown action \"{other}\"")),
        };
        let mut rule = Rule::new(&method, &path, action);
        if let Some(n) = spec.get("times") {
            rule = rule.times(n.as_u64().ok_or("\"times\" must be a number")? as usize);
        }
        self.add(rule);
        Ok(())
    }
}

impl Drop for HostileRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Why a connection was closed without an answer.
#[derive(Debug)]
struct Withheld;

impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer withheld by the hostile relay")
    }
}

impl std::error::Error for Withheld {}

/// Headers the proxy recomputes instead of copying.
fn framing(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

async fn handle(
    req: Request<Incoming>,
    upstream: SocketAddr,
    client: reqwest::Client,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Withheld> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Err(Withheld),
    };
    let seen = Seen {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    let action = {
        let mut rules = shared.rules.lock().unwrap_or_else(|p| p.into_inner());
        match rules.iter_mut().find(|r| r.matches(&seen)) {
            Some(rule) => {
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                }
                Some(rule.action.clone())
            }
            None => None,
        }
    };
    let (upstream_reply, delivered) = match action {
        Some(Action::Respond(f)) => (None, Some(f(&seen))),
        other => {
            let real = forward(&client, upstream, &seen).await;
            let delivered = match other {
                Some(Action::Rewrite(f)) => {
                    let mut reply = real.clone();
                    f(&seen, &mut reply);
                    Some(reply)
                }
                Some(Action::Withhold) => None,
                _ => Some(real.clone()),
            };
            (Some(real), delivered)
        }
    };
    shared
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Exchange {
            request: seen,
            upstream: upstream_reply,
            delivered: delivered.clone(),
        });
    let Some(reply) = delivered else {
        return Err(Withheld);
    };
    let mut builder = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        if !framing(k) {
            builder = builder.header(k.as_str(), v.as_str());
        }
    }
    builder
        .header("connection", "close")
        .body(Full::new(Bytes::from(reply.body)))
        .map_err(|_| Withheld)
}

async fn forward(client: &reqwest::Client, upstream: SocketAddr, seen: &Seen) -> Reply {
    let url = match &seen.query {
        Some(q) => format!("http://{upstream}{}?{q}", seen.path),
        None => format!("http://{upstream}{}", seen.path),
    };
    let method = reqwest::Method::from_bytes(seen.method.as_bytes()).unwrap();
    let mut builder = client.request(method, url);
    for (k, v) in &seen.headers {
        if !framing(k) {
            builder = builder.header(k.as_str(), v.as_str());
        }
    }
    match builder.body(seen.body.clone()).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            Reply {
                status,
                headers,
                body,
            }
        }
        Err(e) => Reply::json(
            502,
            &serde_json::json!({ "code": "bad_gateway", "message": e.to_string() }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{path_matches, HostileRelay};
    use serde_json::json;

    #[test]
    fn specs_are_checked() {
        let proxy = HostileRelay::start("127.0.0.1:9".parse().unwrap());
        for bad in [
            json!({ "action": "drop" }),
            json!({ "path": "/v1/x", "action": "explode" }),
            json!({ "path": "/v1/x", "action": "inject" }),
            json!({ "path": "/v1/x", "action": "drop", "where": [1] }),
            json!({ "path": "/v1/x", "action": "respond", "times": "twice" }),
            // Nothing passed yet: nothing to replay.
            json!({ "path": "/v1/audit/head", "action": "replay" }),
        ] {
            assert!(proxy.add_spec(&bad).is_err(), "{bad}");
        }
        for good in [
            json!({ "path": "/v1/x", "action": "inject", "entries": [1], "once_per_device": true }),
            json!({ "method": "GET", "path": "/v1/*", "action": "replace", "pointer": "/a", "value": 1 }),
            json!({ "path": "/v1/x", "action": "drop", "where": { "kind": "commit" }, "times": 1 }),
            json!({ "path": "/v1/x", "action": "respond", "status": 404, "json": {} }),
            json!({ "path": "/v1/x", "action": "withhold" }),
        ] {
            assert!(proxy.add_spec(&good).is_ok(), "{good}");
        }
    }

    #[test]
    fn patterns() {
        assert!(path_matches(
            "/v1/rooms/*/handshakes",
            "/v1/rooms/ab/handshakes"
        ));
        assert!(!path_matches(
            "/v1/rooms/*/handshakes",
            "/v1/rooms/ab/messages"
        ));
        assert!(!path_matches("/v1/rooms/*", "/v1/rooms/ab/messages"));
        assert!(path_matches("/v1/rooms/**", "/v1/rooms/ab/messages"));
        assert!(path_matches("/v1/spaces/*", "/v1/spaces/s1"));
    }
}
