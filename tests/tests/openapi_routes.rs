//! Checks that `docs/api/openapi.yaml` and the relay's routes agree: every route declared in
//! `server/src` (each `warp::path!(...)` with its method filter) is in the spec, and every
//! path and method of the spec is declared in the code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `"v1" / "rooms" / String / "messages"` -> `/v1/rooms/{}/messages`.
fn normalize_macro_path(args: &str) -> String {
    let mut path = String::new();
    for seg in args.split('/') {
        let seg = seg.trim();
        if seg.is_empty() || seg == ".." {
            continue;
        }
        path.push('/');
        if let Some(lit) = seg.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            path.push_str(lit);
        } else {
            path.push_str("{}");
        }
    }
    path
}

/// `/v1/rooms/{room_id}/messages` -> `/v1/rooms/{}/messages`.
fn normalize_spec_path(p: &str) -> String {
    p.split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn code_routes() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(&workspace().join("server/src"), &mut files);
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may build ad-hoc filters; only production code declares routes.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut rest = text;
        while let Some(i) = rest.find("warp::path!(") {
            let after = &rest[i + "warp::path!(".len()..];
            let close = after.find(')').expect("unclosed warp::path!");
            let path = normalize_macro_path(&after[..close]);
            // The method filter follows in the same filter chain, before the next `let` or `;`.
            let chain_end = after.find(';').unwrap_or(after.len());
            let chain = &after[..chain_end];
            let chain = chain.split("warp::path!(").next().unwrap_or(chain);
            let mut found = false;
            for m in METHODS {
                if chain.contains(&format!("warp::{m}()")) {
                    routes.insert((m.to_uppercase(), path.clone()));
                    found = true;
                }
            }
            assert!(
                found,
                "{}: route {path} has no method filter",
                file.display()
            );
            rest = after;
        }
    }
    routes
}

fn spec_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(workspace().join("docs/api/openapi.yaml")).unwrap();
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            current = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            if !p.starts_with(' ') {
                let p = p.trim_end().trim_end_matches(':');
                current = Some(normalize_spec_path(&format!("/{p}")));
                continue;
            }
        }
        if let (Some(path), Some(m)) = (current.as_ref(), line.strip_prefix("    ")) {
            if !m.starts_with(' ') {
                let m = m.trim_end().trim_end_matches(':');
                if METHODS.contains(&m) {
                    routes.insert((m.to_uppercase(), path.clone()));
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_is_in_the_spec_and_the_reverse() {
    let code = code_routes();
    let spec = spec_routes();
    assert!(
        code.len() > 10,
        "found too few routes in the code: {code:?}"
    );
    let missing_in_spec: Vec<_> = code.difference(&spec).collect();
    let missing_in_code: Vec<_> = spec.difference(&code).collect();
    assert!(
        missing_in_spec.is_empty() && missing_in_code.is_empty(),
        "routes in the code but not in docs/api/openapi.yaml: {missing_in_spec:?}\n\
         paths in the spec but not in the code: {missing_in_code:?}"
    );
}

#[test]
fn path_normalization() {
    assert_eq!(
        normalize_macro_path(r#""v1" / "rooms" / String / "blobs""#),
        "/v1/rooms/{}/blobs"
    );
    assert_eq!(
        normalize_spec_path("/v1/rooms/{room_id}/blobs"),
        "/v1/rooms/{}/blobs"
    );
}
