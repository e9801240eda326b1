//! `python3`, the CPython these tests compare pyselect with: run a script, and find the real
//! interpreter behind `python3`. Both fail the calling test loudly when `python3` is missing or
//! fails: a test never passes without its reference.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::child::ChildGuard;
use super::LIMIT;

/// Run `python3 -I -c script args...` with `input` on stdin and return its stdout. Panics, with
/// python3's stderr, when the script fails.
pub fn run(script: &str, args: &[&str], input: &[u8]) -> String {
    let mut cmd = Command::new("python3");
    cmd.args(["-I", "-c", script]).args(args);
    let what = "python3 (CPython, the reference these tests compare with)";
    let out = ChildGuard::spawn_with_input(&mut cmd, what, input).output(LIMIT);
    assert!(
        out.status.success(),
        "python3 failed ({}):\n--- stderr\n{}",
        out.status,
        out.stderr
    );
    out.stdout
}

/// [`run`], its stdout split into lines.
pub fn run_lines(script: &str, args: &[&str], input: &[u8]) -> Vec<String> {
    run(script, args, input)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The interpreter behind `python3`.
#[derive(Debug)]
pub struct Interpreter {
    /// `sys.executable`: the real binary, not a wrapper such as a pyenv shim (a shell script
    /// that forks, whose own processes and syscalls would land in a `strace -f` trace).
    pub exe: PathBuf,
    /// `platform.python_implementation()`, e.g. `CPython`.
    pub implementation: String,
    /// `sys.version_info[:2]`.
    pub version: (u32, u32),
    /// `sys.version_info[2]`, the patch release.
    pub patch: u32,
}

impl Interpreter {
    /// Is this CPython `major.minor`?
    pub fn is_cpython(&self, major: u32, minor: u32) -> bool {
        self.implementation == "CPython" && self.version == (major, minor)
    }
}

impl Interpreter {
    /// The release as `(major, minor, patch)`.
    pub fn release(&self) -> (u32, u32, u32) {
        (self.version.0, self.version.1, self.patch)
    }
}

/// The interpreter behind `python3`, asked once per test binary.
pub fn interpreter() -> &'static Interpreter {
    static INTERPRETER: OnceLock<Interpreter> = OnceLock::new();
    INTERPRETER.get_or_init(|| {
        let text = run(
            "import sys, platform; print(sys.executable); \
             print(platform.python_implementation()); print(*sys.version_info[:3])",
            &[],
            b"",
        );
        let lines: Vec<&str> = text.lines().collect();
        let [exe, implementation, version] = lines[..] else {
            panic!("unexpected output from python3: {text:?}");
        };
        assert!(!exe.is_empty(), "python3 did not report sys.executable");
        let numbers: Vec<u32> = version
            .split(' ')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()
            .unwrap_or_default();
        let [major, minor, patch] = numbers[..] else {
            panic!("python3 reported version {version:?}");
        };
        Interpreter {
            exe: PathBuf::from(exe),
            implementation: implementation.to_owned(),
            version: (major, minor),
            patch,
        }
    })
}

/// The real CPython executable behind `python3` (`sys.executable`, so that a pyenv shim script
/// is not what strace follows). Panics with an explanation unless it is Python 3.
pub fn exe() -> &'static Path {
    let python = interpreter();
    assert_eq!(
        python.version.0, 3,
        "python3 is version {:?}; CPython 3 (3.11 is the reference) is required",
        python.version
    );
    &python.exe
}

/// The real interpreter behind `python3` (see [`Interpreter::exe`]) if it is CPython 3.11.
/// Panics when `python3` cannot be run at all.
pub fn cpython311() -> Option<&'static Path> {
    let python = interpreter();
    python.is_cpython(3, 11).then_some(python.exe.as_path())
}

/// `python3 -I script args...`, with the real interpreter ([`exe`]).
pub fn script_command(script: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe());
    cmd.arg("-I").arg(script).args(args);
    cmd
}

// ---------------------------------------------------------------------------------------------
// Older 3.11 patch releases
// ---------------------------------------------------------------------------------------------
//
// The reference is CPython 3.11.7 (SPEC's wording; pyselect keeps it). Debian 12's own python3
// is 3.11.2, whose float-to-`_PyTime_t` conversion (used by `select.select` and
// `socket.settimeout`) differs in exactly two known ways:
//
// 1. its OverflowError says [`OLD_OVERFLOW`] where 3.11.7 says [`OVERFLOW`];
// 2. the float nearest 2**63 ns, 9223372036.854775808 s ([`EDGE`]), passes its range check
//    and wraps negative, so `select` raises "ValueError: timeout must be non-negative" where
//    3.11.7 raises the OverflowError.
//
// Tests that compare with whatever CPython 3.11 they find pass CPython's output through
// [`as_reference`] (or [`outcome_as_reference`] where the timeout is known). Only these two
// differences are mapped, and only for CPython 3.11.0 up to [`LAST_OLD_PATCH`]: every other
// line, every other interpreter and every later 3.11 release is compared as printed.
// (3.11.3 to 3.11.6 have not been checked here; they are held to the reference wording.)

/// The reference's (3.11.7's) OverflowError text for an out-of-range timeout.
pub const OVERFLOW: &str = "timestamp out of range for platform time_t";

/// The same error's text in older 3.11 patch releases.
pub const OLD_OVERFLOW: &str = "timestamp too large to convert to C _PyTime_t";

/// The last 3.11 patch release known to differ (Debian 12's python3, checked by
/// `tests/python_versions.rs`).
pub const LAST_OLD_PATCH: u32 = 2;

/// 2^63 ns in seconds (9223372036.854775808), the edge of CPython's range, as the nearest f64
/// (one correctly rounded division): the value older releases let through.
pub const EDGE: f64 = 9_223_372_036_854_775_808.0 / 1e9;

/// What older releases say (as a ValueError) for [`EDGE`] instead of the OverflowError.
const OLD_EDGE_TEXT: &str = "timeout must be non-negative";

/// Is `release` a CPython 3.11 patch release with the old behaviour (`implementation` as
/// `platform.python_implementation()` prints it)?
pub fn is_old_311(implementation: &str, release: (u32, u32, u32)) -> bool {
    implementation == "CPython" && release.0 == 3 && release.1 == 11 && release.2 <= LAST_OLD_PATCH
}

/// `line` of CPython output as the reference release would have printed it, for an interpreter
/// `implementation` `release`: [`OLD_OVERFLOW`] becomes [`OVERFLOW`] on an old 3.11, and
/// nothing else changes.
pub fn as_reference_for(implementation: &str, release: (u32, u32, u32), line: &str) -> String {
    if is_old_311(implementation, release) {
        line.replace(OLD_OVERFLOW, OVERFLOW)
    } else {
        line.to_owned()
    }
}

/// [`as_reference_for`], plus the [`EDGE`] value: the outcome line of a `select` call with
/// `timeout`, where an old 3.11 says `ValueError` + separator + `timeout must be non-negative`
/// for exactly [`EDGE`] (the line ends with that text), becomes the reference's OverflowError
/// with the same separator.
pub fn outcome_as_reference_for(
    implementation: &str,
    release: (u32, u32, u32),
    timeout: Option<f64>,
    line: &str,
) -> String {
    let line = as_reference_for(implementation, release, line);
    let at_edge = timeout.is_some_and(|t| t.to_bits() == EDGE.to_bits());
    if !at_edge || !is_old_311(implementation, release) {
        return line;
    }
    let Some(head) = line.strip_suffix(OLD_EDGE_TEXT) else {
        return line;
    };
    for sep in [": ", "|"] {
        if let Some(before) = head.strip_suffix(&format!("ValueError{sep}")) {
            return format!("{before}OverflowError{sep}{OVERFLOW}");
        }
    }
    line
}

/// [`as_reference_for`] for the interpreter behind `python3`.
pub fn as_reference(line: &str) -> String {
    let python = interpreter();
    as_reference_for(&python.implementation, python.release(), line)
}

/// [`outcome_as_reference_for`] for the interpreter behind `python3`.
pub fn outcome_as_reference(timeout: Option<f64>, line: &str) -> String {
    let python = interpreter();
    outcome_as_reference_for(&python.implementation, python.release(), timeout, line)
}

/// Panics, listing them, when any of `total` `what` (cases, scenarios...) differed from
/// CPython: `mismatches` holds one description per difference.
pub fn assert_no_mismatches(mismatches: &[String], total: usize, what: &str) {
    assert!(
        mismatches.is_empty(),
        "{} of {total} {what} differ from CPython:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
