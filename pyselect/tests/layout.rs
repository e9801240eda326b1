//! The workspace's shape, held: the library's C layer is a leaf (no file under `sys/` names the
//! rest of the crate) and the library's modules import one another without a cycle; `unsafe` is
//! written only in a crate's `sys` files; no source is shared by `#[path]` (one compiled copy of
//! each module).

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, recursively, in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The workspace's sources: each member's `src`, `tests`, `examples`, `benches` and build script.
fn workspace_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for member in ["pyselect", "pyselect-cli", "testkit"] {
        let dir = root().join(member);
        assert!(dir.is_dir(), "missing member {}", dir.display());
        for sub in ["src", "tests", "examples", "benches"] {
            if dir.join(sub).is_dir() {
                out.extend(rust_files(&dir.join(sub)));
            }
        }
        if dir.join("build.rs").is_file() {
            out.push(dir.join("build.rs"));
        }
    }
    out
}

/// The lines of `text` that are code, not comments (`//`, `//!`, `///`).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// `line` without its string literals (`"..."`, escapes honoured) and its trailing comment.
fn code_only(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (false, '"') => in_string = true,
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, c) => out.push(c),
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
        }
    }
    out
}

/// The folder of the library's C layer, `src/sys/`, whose files all belong to `sys`.
fn sys_dir() -> PathBuf {
    root().join("pyselect/src/sys")
}

/// A file of a crate's C layer: a `sys.rs`, or any file under a `src/sys/` folder.
fn is_sys(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "sys.rs")
        || path.ancestors().skip(1).any(|a| a.ends_with("src/sys"))
}

/// How many modules `path` lies below `sys` itself: 0 for `sys/mod.rs`, 1 for `sys/poll.rs`
/// (`super::` there is `sys`), 2 for `sys/a/b.rs` or `sys/a/b/mod.rs`.
fn depth_below_sys(path: &Path) -> usize {
    let rel = path.strip_prefix(sys_dir()).expect("a file under sys/");
    let n = rel.components().count();
    if rel.file_name().is_some_and(|f| f == "mod.rs") {
        n - 1
    } else {
        n
    }
}

/// Why `code` (one line of a file `depth` modules below `sys`) names a module above `sys`, if
/// it does: a `crate::` path other than `crate::sys`, or more `super::`s than lead back to `sys`.
fn names_above_sys(code: &str, depth: usize) -> Option<String> {
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let next = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if next != "sys" {
            return Some(format!("`crate::{next}` is above sys"));
        }
    }
    for (at, _) in code.match_indices("super::") {
        // Count only the first `super` of a chain.
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut chain = 0;
        let mut rest = &code[at..];
        while let Some(after) = rest.strip_prefix("super::") {
            chain += 1;
            rest = after;
        }
        if chain > depth {
            return Some(format!("{chain} `super::` from {depth} below sys leave it"));
        }
    }
    None
}

#[test]
fn the_library_sys_layer_uses_nothing_from_the_crate_above_it() {
    assert!(
        sys_dir().join("mod.rs").is_file(),
        "the library's C layer is the folder {}",
        sys_dir().display()
    );
    let files = rust_files(&sys_dir());
    assert!(files.len() > 1, "sys/ holds one file per man-page family");
    for path in files {
        assert!(
            is_sys(&path),
            "{} is not seen as a sys file",
            path.display()
        );
        let depth = depth_below_sys(&path);
        let text = fs::read_to_string(&path).expect("read a sys file");
        for (n, line) in code_lines(&text) {
            if let Some(why) = names_above_sys(&code_only(line), depth) {
                panic!(
                    "{}:{}: the C layer names the crate above it ({why}): {line}",
                    path.display(),
                    n + 1
                );
            }
        }
    }
}

#[test]
fn the_leaf_rule_tells_sibling_imports_from_imports_above_sys() {
    // The checker itself, on the lines it must tell apart.
    assert_eq!(names_above_sys("use super::cvt;", 1), None);
    assert_eq!(names_above_sys("use crate::sys::fd::owned;", 1), None);
    assert_eq!(names_above_sys("use crate::sys;", 0), None);
    assert!(names_above_sys("use crate::output::Stream;", 1).is_some());
    assert!(names_above_sys("use crate::{sys, signals};", 1).is_some());
    assert!(names_above_sys("crate::signals::record(sig);", 1).is_some());
    assert!(names_above_sys("use super::super::error::Error;", 1).is_some());
    assert!(names_above_sys("use super::error::Error;", 0).is_some());
    assert_eq!(names_above_sys("use super::super::cvt;", 2), None);
}

#[test]
fn unsafe_is_written_only_in_sys_files() {
    // The shipped code: both crates' src/ and examples. Tests, benches and the testkit call C
    // directly as oracles (an FD_ISSET to check FdSet by, a fork to test in) and are not held
    // to the rule.
    let shipped = ["pyselect/src", "pyselect-cli/src", "pyselect-cli/examples"];
    let files = shipped.iter().flat_map(|dir| rust_files(&root().join(dir)));
    for path in files {
        if is_sys(&path) {
            continue;
        }
        let text = fs::read_to_string(&path).expect("read a source file");
        for (n, line) in code_lines(&text) {
            let code = code_only(line);
            let words = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            assert!(
                !words.into_iter().any(|w| w == "unsafe"),
                "{}:{}: unsafe outside a sys file: {line}",
                path.display(),
                n + 1
            );
        }
    }
}

#[test]
fn no_source_is_shared_by_a_path_attribute() {
    for path in workspace_sources() {
        let text = fs::read_to_string(&path).expect("read a source file");
        for (n, line) in code_lines(&text) {
            assert!(
                !code_only(line).trim_start().starts_with("#[path"),
                "{}:{}: a module included by #[path]: {line}",
                path.display(),
                n + 1
            );
        }
    }
}

/// The library's top-level modules, each with the modules it names (`crate::x`, `crate::{x, y}`),
/// read from the code lines of its files (`src/x.rs` and everything under `src/x/`).
fn library_imports() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = root().join("pyselect/src");
    let module_of = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(&src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let name = first.strip_suffix(".rs").unwrap_or(first);
        (name != "lib").then(|| name.to_string())
    };
    let files = rust_files(&src);
    let modules: std::collections::BTreeSet<String> =
        files.iter().filter_map(|p| module_of(p)).collect();
    let mut graph = std::collections::BTreeMap::new();
    for path in &files {
        let Some(from) = module_of(path) else {
            continue;
        };
        let text = fs::read_to_string(path).expect("read a source file");
        let uses: &mut std::collections::BTreeSet<String> = graph.entry(from.clone()).or_default();
        for (_, line) in code_lines(&text) {
            let code = code_only(line);
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                // `crate::{a, b::c}` names a and b; `crate::a::...` names a.
                let names = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").to_string(),
                    None => rest.to_string(),
                };
                for part in names.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if modules.contains(&name) && name != from {
                        uses.insert(name);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn the_library_modules_import_one_another_without_a_cycle() {
    let graph = library_imports();
    assert!(
        graph.get("signals").is_some_and(|u| u.contains("error")),
        "the import reader misses signals -> error: {graph:?}"
    );
    // Depth-first, keeping the path walked, so that a cycle is reported as the modules on it.
    fn walk(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!(
                "the library's modules import in a circle: {} -> {node}",
                path[at..].join(" -> ")
            );
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            walk(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = std::collections::BTreeSet::new();
    for node in graph.keys() {
        walk(node, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_timeout_module_is_arithmetic_and_the_retry_loop_is_apart() {
    // timeout.rs rounds and counts down; what an EINTR means is signals', and the one loop
    // that joins the two is retry.rs. timeout may name only the error it returns.
    let graph = library_imports();
    let timeout = graph
        .get("timeout")
        .expect("the import reader sees timeout.rs");
    let beyond_error: Vec<_> = timeout.iter().filter(|m| *m != "error").collect();
    assert!(
        beyond_error.is_empty(),
        "timeout.rs imports {beyond_error:?}: its arithmetic should need only crate::error"
    );
    let retry = graph.get("retry").expect("the import reader sees retry.rs");
    for needed in ["timeout", "signals"] {
        assert!(
            retry.contains(needed),
            "the import reader misses retry -> {needed}: {retry:?}"
        );
    }
}
