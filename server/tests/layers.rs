//! The relay's layers (issue 19, "Layers you can see"): HTTP routes on top, domain services in
//! the middle that know neither warp nor the storage backend, storage backends and plain helpers
//! at the bottom. Imports run downward only and never in a cycle.
//!
//! The test reads `server/src/**/*.rs`, builds the graph of top-level modules from every
//! `crate::<module>` path (`use crate::{a, b::c}` included), leaving out `#[cfg(test)]` items and
//! `*tests.rs` files, and checks it against [`LAYERS`].

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, top first. A module may import modules of its own layer or of a lower one.
/// `crate` stands for items of `lib.rs` itself (`run`, and re-exports such as `open_store`): the
/// crate root sits above every layer, so no module may import from it.
const LAYERS: &[(&str, &[&str])] = &[
    // warp: route filters, handlers, replies, rejection handling, request-signature glue.
    ("http", &["http"]),
    // Domain services: no warp (checked below); state through `AppState` and the `Store` trait.
    (
        "domain",
        &[
            "accounts",
            "audit",
            "auth",
            "backup",
            "blobs",
            "directory",
            "erasure",
            "events",
            "live",
            "notify",
            "quota",
            "recovery",
            "retention",
            "rooms",
        ],
    ),
    // Storage behind the `Store` trait, the shared context, and helpers that know no domain.
    (
        "bottom",
        &[
            "config",
            "contention",
            "error",
            "ids",
            "metrics",
            "ratelimit",
            "reply",
            "sealing",
            "startup",
            "state",
            "store",
            "tls",
            "totp",
        ],
    ),
];

/// The crate root's pseudo-module name in the graph.
const ROOT: &str = "crate";

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments removed and the contents of string and char literals blanked, so
/// that braces and paths inside them count for nothing.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 1 + ch_len)
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().expect("char boundary");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Drops every item marked `#[cfg(test)]` (a `mod tests { ... }`, a `use`, a function).
fn without_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let semi = after.find(';');
        let brace = after.find('{');
        rest = match (semi, brace) {
            (Some(s), Some(o)) if s < o => &after[s + 1..],
            (Some(s), None) => &after[s + 1..],
            (_, Some(o)) => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (k, ch) in after[o..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                &after[end..]
            }
            (None, None) => "",
        };
    }
    out.push_str(rest);
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first path segment after every `crate::` (each top-level name of a `crate::{...}` group).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("crate::") {
        let at = from + p;
        from = at + "crate::".len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        found.insert(ident_at(&group[k..]).to_owned());
                        item_start = false;
                    }
                    c if c.is_whitespace() => {}
                    _ => item_start = false,
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.insert(name.to_owned());
            }
        }
    }
    found
}

struct Crate {
    /// module -> imported module -> files that import it
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// module -> its files that name `warp::`
    warp_users: BTreeMap<String, BTreeSet<String>>,
    modules: BTreeSet<String>,
}

fn read_crate() -> Crate {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&src).ok()?;
            let first = rel.components().next()?.as_os_str().to_str()?;
            let name = first.strip_suffix(".rs").unwrap_or(first);
            (name != "lib" && name != "main").then(|| name.to_owned())
        })
        .collect();
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut warp_users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let rel_name = rel.to_string_lossy().replace('\\', "/");
        let first = rel_name.split('/').next().expect("a component");
        let module = first.strip_suffix(".rs").unwrap_or(first);
        if module == "lib" || module == "main" || rel_name.ends_with("tests.rs") {
            continue;
        }
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("read {rel_name}: {e}"));
        let code = without_test_items(&code_only(&text));
        for name in crate_paths(&code) {
            let target = if modules.contains(&name) {
                name
            } else {
                ROOT.to_owned()
            };
            if target != module {
                edges
                    .entry(module.to_owned())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(rel_name.clone());
            }
        }
        let names_warp = code.match_indices("warp::").any(|(i, _)| {
            !code[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if names_warp {
            warp_users
                .entry(module.to_owned())
                .or_default()
                .insert(rel_name.clone());
        }
    }
    Crate {
        edges,
        warp_users,
        modules,
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, members)| members.contains(&module))
}

/// A cycle of the graph, if any, as the list of modules along it.
fn find_cycle(edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flat_map(|m| m.keys()) {
            match marks.get(next.as_str()).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|s| s == next).expect("on the stack");
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if marks.get(node.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(node, edges, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn describe_cycle(c: &Crate, cycle: &[String]) -> String {
    cycle
        .windows(2)
        .map(|w| {
            let files = &c.edges[&w[0]][&w[1]];
            format!(
                "  {} -> {}  ({})",
                w[0],
                w[1],
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn parser_reads_paths_groups_and_skips_tests_and_literals() {
    let src = r#"
use crate::a::X;
use crate::{b, c::{D, E}, self as _};
pub(crate) fn f() { let _ = "crate::notme"; let _c = '{'; crate::e::run(); }
// crate::comment
#[cfg(test)]
mod tests { use crate::t; fn g() { let _ = "}"; } }
#[cfg(test)]
use crate::u;
fn h<'a>(x: &'a str) -> &'a str { $crate::m::n; x }
"#;
    let found = crate_paths(&without_test_items(&code_only(src)));
    let want: BTreeSet<String> = ["a", "b", "c", "e", "self"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
}

#[test]
fn every_module_has_a_layer() {
    let c = read_crate();
    let missing: Vec<&String> = c.modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        missing.is_empty(),
        "top-level modules of server/src missing from LAYERS in server/tests/layers.rs: {missing:?}"
    );
}

#[test]
fn no_import_cycles() {
    let c = read_crate();
    if let Some(cycle) = find_cycle(&c.edges) {
        panic!(
            "server/src modules import each other in a cycle:\n{}",
            describe_cycle(&c, &cycle)
        );
    }
}

#[test]
fn imports_run_downward() {
    let c = read_crate();
    let mut bad = Vec::new();
    for (from, targets) in &c.edges {
        let Some(from_layer) = layer_of(from) else {
            continue;
        };
        for (to, files) in targets {
            let allowed = to != ROOT && layer_of(to).is_some_and(|l| l >= from_layer);
            if !allowed {
                let to_layer = if to == ROOT {
                    "crate root"
                } else {
                    layer_of(to).map_or("no layer", |l| LAYERS[l].0)
                };
                bad.push(format!(
                    "  {from} ({}) -> {to} ({to_layer})  in {}",
                    LAYERS[from_layer].0,
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports that go up a layer (LAYERS in server/tests/layers.rs):\n{}",
        bad.join("\n")
    );
}

#[test]
fn domain_knows_no_warp() {
    let c = read_crate();
    let domain = LAYERS
        .iter()
        .find(|(name, _)| *name == "domain")
        .expect("a domain layer")
        .1;
    let bad: Vec<String> = c
        .warp_users
        .iter()
        .filter(|(m, _)| domain.contains(&m.as_str()))
        .flat_map(|(_, files)| files.iter().cloned())
        .collect();
    assert!(bad.is_empty(), "domain files that use warp: {bad:?}");
}

/// The concrete blob backends: their types and modules live in the storage layer
/// (`server/src/store/blobs/`); the domain uses the `BlobStore` trait and
/// `store::blobs::open`, which picks one from the configuration.
const CONCRETE_BLOB_BACKENDS: &[&str] = &["LocalBlobs", "S3Blobs", "blobs::local", "blobs::s3"];

/// The concrete-backend names `code` mentions (whole identifiers or paths, not parts of longer
/// ones), comments and literals already removed.
fn concrete_backends_named(code: &str) -> BTreeSet<&'static str> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    CONCRETE_BLOB_BACKENDS
        .iter()
        .copied()
        .filter(|name| {
            code.match_indices(name).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                let after = code[i + name.len()..].chars().next();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            })
        })
        .collect()
}

#[test]
fn backend_names_are_found_in_code_only() {
    let src = r#"
use crate::store::blobs::{self, LocalBlobs};
fn f() { let _ = "S3Blobs"; crate::store::blobs::s3::PART_SIZE; }
// blobs::local
fn g(_: &dyn BlobStore, _: MyLocalBlobsLike, _: blobs::s3x) {}
"#;
    let found = concrete_backends_named(&without_test_items(&code_only(src)));
    let want: BTreeSet<&str> = ["LocalBlobs", "blobs::s3"].into_iter().collect();
    assert_eq!(found, want);
}

#[test]
fn domain_names_no_concrete_blob_backend() {
    let src = src_dir();
    let domain = LAYERS
        .iter()
        .find(|(name, _)| *name == "domain")
        .expect("a domain layer")
        .1;
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    let mut defined = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let rel_name = rel.to_string_lossy().replace('\\', "/");
        let first = rel_name.split('/').next().expect("a component");
        let module = first.strip_suffix(".rs").unwrap_or(first);
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("read {rel_name}: {e}"));
        let code = without_test_items(&code_only(&text));
        if rel_name.starts_with("store/blobs/") {
            for ty in ["LocalBlobs", "S3Blobs"] {
                if code.contains(&format!("pub struct {ty}")) {
                    defined.insert(ty);
                }
            }
        }
        if !domain.contains(&module) || rel_name.ends_with("tests.rs") {
            continue;
        }
        for name in concrete_backends_named(&code) {
            bad.push(format!("  {rel_name} names {name}"));
        }
    }
    assert_eq!(
        defined,
        ["LocalBlobs", "S3Blobs"].into_iter().collect(),
        "the blob backends are expected in server/src/store/blobs/"
    );
    assert!(
        bad.is_empty(),
        "domain modules name a concrete blob backend (use the BlobStore trait and \
         store::blobs::open):\n{}",
        bad.join("\n")
    );
}
