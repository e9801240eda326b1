//! The workspace's shape, held: the library's C layer is a leaf (nothing in it names the rest of
//! the crate), `unsafe` is written only in a crate's `sys` files, and no source is shared by
//! `#[path]` (one compiled copy of each module).

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

fn is_sys(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "sys.rs")
        || path.parent().is_some_and(|p| p.ends_with("src/sys"))
}

#[test]
fn the_library_sys_layer_uses_nothing_from_the_crate_above_it() {
    let src = root().join("pyselect/src");
    let files: Vec<PathBuf> = rust_files(&src).into_iter().filter(|p| is_sys(p)).collect();
    assert!(!files.is_empty(), "no sys files under {}", src.display());
    for path in files {
        let text = fs::read_to_string(&path).expect("read a sys file");
        for (n, line) in code_lines(&text) {
            assert!(
                !code_only(line).contains("crate::"),
                "{}:{}: the C layer names the crate above it: {line}",
                path.display(),
                n + 1
            );
        }
    }
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
