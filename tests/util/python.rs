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
}

impl Interpreter {
    /// Is this CPython `major.minor`?
    pub fn is_cpython(&self, major: u32, minor: u32) -> bool {
        self.implementation == "CPython" && self.version == (major, minor)
    }
}

/// The interpreter behind `python3`, asked once per test binary.
pub fn interpreter() -> &'static Interpreter {
    static INTERPRETER: OnceLock<Interpreter> = OnceLock::new();
    INTERPRETER.get_or_init(|| {
        let text = run(
            "import sys, platform; print(sys.executable); \
             print(platform.python_implementation()); print(*sys.version_info[:2])",
            &[],
            b"",
        );
        let lines: Vec<&str> = text.lines().collect();
        let [exe, implementation, version] = lines[..] else {
            panic!("unexpected output from python3: {text:?}");
        };
        assert!(!exe.is_empty(), "python3 did not report sys.executable");
        let version = version
            .split_once(' ')
            .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
            .unwrap_or_else(|| panic!("python3 reported version {version:?}"));
        Interpreter {
            exe: PathBuf::from(exe),
            implementation: implementation.to_owned(),
            version,
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
