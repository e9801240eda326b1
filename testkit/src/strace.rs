//! `strace`: run a program under it, and parse what it wrote. Every strace test uses this one
//! runner ([`run`] for a program that exits by itself, [`TracedProcess`] for a server driven
//! while it runs) and this one parser ([`Trace::parse`]; [`Trace::between_marks`],
//! [`Trace::between_calls_of`], [`normalise_poll_line`] and [`normalise_epoll_line`] for the
//! poll/epoll/selectors comparisons).
//!
//! Nothing sleeps to synchronise: a traced server's "listening on" line on stderr says its
//! listeners are ready, and EOF on its stdout says the program and strace have both exited, so
//! the trace file is complete.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::child::{wrap, ChildGuard, Lines, Output, Setup};
use super::fd::pass_fds;
use super::proc::{children_of, parse_syscall};
use super::server::listed_ports;
use super::{wait_until, TempPath, LIMIT};

/// Panics with a clear message unless `strace` runs here (installed, and ptrace allowed).
/// Checked once per test binary.
pub fn require_strace() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        if let Err(why) = strace_works() {
            panic!("{why}");
        }
    });
}

/// Whether `strace` runs here (installed, and ptrace allowed); if not, a sentence saying what
/// is missing.
pub fn strace_works() -> Result<(), String> {
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=none",
        "-o",
        "/dev/null",
        "--",
        "true",
    ]);
    let out = ChildGuard::try_spawn_with(&mut cmd, "strace", Setup::default())
        .map_err(|e| {
            format!(
                "cannot run `strace` ({e}): comparing syscalls needs strace on PATH \
                 (install it with `make deps`)"
            )
        })?
        .output_raw(LIMIT);
    if !out.status.success() {
        return Err(format!(
            "`strace` cannot trace here (in a container, ptrace must be allowed): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The Makefile's `STRACE_FILTER` (read from the Makefile, so that the tests trace exactly
/// what `make strace-server` traces): the syscalls worth reading in a trace of these programs.
pub fn filter() -> String {
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Makefile"))
        .expect("read the Makefile");
    makefile
        .lines()
        .find_map(|l| l.strip_prefix("STRACE_FILTER := "))
        .expect("the Makefile defines STRACE_FILTER := trace=...")
        .trim()
        .to_string()
}

/// `strace -f OPTIONS -e FILTER -o FILE -- program args...` (with `program`'s environment
/// changes).
pub fn command(file: &TempPath, filter: &str, options: &[&str], program: &Command) -> Command {
    require_strace();
    let mut cmd = Command::new("strace");
    cmd.arg("-f")
        .args(options)
        .args(["-e", filter, "-o"])
        .arg(&file.0)
        .arg("--");
    wrap(cmd, program)
}

/// Run `program` under strace (see [`command`]) with `stdin` as its input, within [`LIMIT`];
/// its output and the parsed trace. The caller judges the exit status.
/// `stem` names the trace file.
pub fn run(
    program: &Command,
    filter: &str,
    options: &[&str],
    stdin: &str,
    stem: &str,
) -> (Output, Trace) {
    run_passing(program, &[], filter, options, stdin, stem)
}

/// [`run`], with strace and `program` inheriting `fds` at their numbers (a `pass_fds` set on
/// `program` itself would not carry over to the strace command).
pub fn run_passing(
    program: &Command,
    fds: &[RawFd],
    filter: &str,
    options: &[&str],
    stdin: &str,
    stem: &str,
) -> (Output, Trace) {
    let file = TempPath::new(stem);
    let mut cmd = command(&file, filter, options, program);
    pass_fds(&mut cmd, fds.to_vec());
    let out = super::child::run(cmd, stdin);
    let trace = Trace::parse(&file.read());
    (out, trace)
}

// ---------------------------------------------------------------------------------------------
// A traced program driven while it runs
// ---------------------------------------------------------------------------------------------

/// A program (a server) running under `strace -f -s 256 -e FILTER -o FILE`, built on the one
/// process guard: strace leads a process group that the traced program shares, and the guard
/// kills that group and reaps strace on drop.
pub struct TracedProcess {
    strace: ChildGuard,
    /// The traced program itself (strace's child), once known.
    tracee: Option<i32>,
    stdout: Lines,
    stderr: Lines,
    file: TempPath,
}

impl TracedProcess {
    /// Start `program args...` under strace with the Makefile's [`filter`]. `env_remove` names
    /// variables to drop (e.g. `PYTHONUNBUFFERED`, to see CPython's buffered stdout).
    pub fn spawn(
        tag: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        env_remove: &[&str],
    ) -> TracedProcess {
        Self::spawn_filtered(tag, program, args, env_remove, &filter())
    }

    /// [`spawn`](Self::spawn) with another `-e` filter (e.g. the Makefile's plus the epoll
    /// calls).
    pub fn spawn_filtered(
        tag: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        env_remove: &[&str],
        filter: &str,
    ) -> TracedProcess {
        let mut inner = Command::new(program);
        inner.args(args);
        for name in env_remove {
            inner.env_remove(name);
        }
        TracedProcess::start(tag, &inner, filter, &["-s", "256"])
    }

    /// Start `program` under `strace -f OPTIONS -e FILTER` (see [`command`]); `tag` names the
    /// trace file.
    pub fn start(tag: &str, program: &Command, filter: &str, options: &[&str]) -> TracedProcess {
        let file = TempPath::new(tag);
        let mut cmd = command(&file, filter, options, program);
        // A test harness started from a non-interactive shell may inherit SIGINT ignored;
        // CPython then installs no KeyboardInterrupt handler. Start from the default.
        // SAFETY: between fork and exec only async-signal-safe calls are allowed; signal(2)
        // (sigaction) is one, and nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut strace = ChildGuard::spawn(&mut cmd, "strace");
        let stdout = Lines::read(strace.take_stdout());
        let stderr = Lines::read(strace.take_stderr());
        TracedProcess {
            strace,
            tracee: None,
            stdout,
            stderr,
            file,
        }
    }

    /// The traced program's stdout, read line by line while it runs.
    pub fn stdout(&mut self) -> &mut Lines {
        &mut self.stdout
    }

    /// Everything read from stderr so far, one line per line.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Wait (at most [`LIMIT`]) for the stderr line containing "listening on" and return
    /// the ports it names, in order.
    pub fn wait_listening(&mut self) -> Vec<u16> {
        self.try_wait_listening().unwrap_or_else(|stderr| {
            panic!("no 'listening on' line from the server; stderr so far:\n{stderr}")
        })
    }

    /// [`wait_listening`](Self::wait_listening), or everything the program wrote on stderr
    /// when it exited (or stayed silent for [`LIMIT`]) without that line: a usage error, say.
    pub fn try_wait_listening(&mut self) -> Result<Vec<u16>, String> {
        let until = Instant::now() + LIMIT;
        loop {
            let Some(line) = self.stderr.next(until) else {
                return Err(self.stderr());
            };
            if line.contains("listening on") {
                self.tracee = children_of(self.strace.id()).first().copied();
                return Ok(listed_ports(&line));
            }
        }
    }

    /// Wait (at most [`LIMIT`]) until the traced program sleeps in one of `syscalls` (numbers
    /// as `/proc/PID/syscall` shows them): e.g. back in its select after a connection, so that
    /// a signal sent next cannot cut that connection short. False when `/proc` cannot say.
    pub fn wait_blocked(&self, syscalls: &[i64]) -> bool {
        let pid = self
            .tracee
            .expect("the traced program's pid (after wait_listening)");
        let path = format!("/proc/{pid}/syscall");
        let now = || {
            std::fs::read_to_string(&path)
                .ok()
                .map(|text| parse_syscall(&text))
        };
        if now().is_none() {
            return false;
        }
        wait_until(LIMIT, || {
            now().flatten().is_some_and(|nr| syscalls.contains(&nr))
        })
    }

    /// Send `sig` to the traced program (for the seed's Python servers, which never exit by
    /// themselves).
    pub fn signal(&self, sig: Signal) {
        let pid = self
            .tracee
            .expect("the traced program's pid (after wait_listening)");
        kill(Pid::from_raw(pid), sig).expect("signal the traced program");
    }

    /// Wait (at most [`LIMIT`]) for the program and strace to exit by themselves; return
    /// strace's status (the program's own exit status), the program's stdout, and the trace.
    pub fn finish(mut self) -> (ExitStatus, String, Trace) {
        // EOF on stdout: every holder of the pipe (the program, strace) has exited.
        assert!(
            self.stdout.wait_eof(Instant::now() + LIMIT),
            "the traced program did not exit"
        );
        let out = self.stdout.text();
        let status = self
            .strace
            .wait_until(Instant::now() + LIMIT)
            .unwrap_or_else(|| panic!("strace closed its stdout but did not exit"));
        // Failures print the whole trace; the file goes with `self`.
        (status, out, Trace::parse(&self.file.read()))
    }

    /// Kill the traced program (SIGKILL, by pid; it must still be running), then
    /// [`finish`](Self::finish): strace exits after its program, so the trace is complete.
    pub fn kill(self) -> (ExitStatus, String, Trace) {
        let pid = self
            .tracee
            .expect("the traced program's pid (after wait_listening)");
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("the traced program is still running");
        self.finish()
    }
}

impl Drop for TracedProcess {
    fn drop(&mut self) {
        // The traced program by pid, in case it left strace's process group (only while strace
        // is unreaped, so the pid is still its child's); the guard then kills that group (strace
        // and what is left in it) and reaps strace.
        if self.strace.reaped() {
            return;
        }
        if let Some(pid) = self.tracee {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------------

/// One line of an `strace -f` trace: the pid (0 when strace printed none) and the rest, with
/// strace's column padding before ` = ` squeezed to one space and an `<unfinished ...>` line
/// joined with its `<... resumed>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub pid: i32,
    pub text: String,
    /// Whether the call was interrupted by another process's or thread's line in the trace
    /// (an `<unfinished ...>`/`<... resumed>` pair, joined here).
    pub joined: bool,
}

impl Line {
    /// The syscall name (`pselect6`), or "" for `+++`/`---` lines.
    pub fn name(&self) -> &str {
        match self.text.find('(') {
            Some(i) if !self.text.starts_with(['+', '-']) => &self.text[..i],
            _ => "",
        }
    }

    /// `name(args) = ret` split into its three parts, honouring quotes and nested brackets in
    /// the arguments; `None` for a line that is not a completed call.
    pub fn split(&self) -> Option<(&str, &str, &str)> {
        let line = self.text.as_str();
        let open = line.find('(')?;
        let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
        for (i, c) in line.char_indices().skip(open) {
            if quoted {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => quoted = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => quoted = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        let ret = line[i + 1..].trim_start().strip_prefix("= ")?;
                        return Some((&line[..open], &line[open + 1..i], ret));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The return value, for a completed syscall line.
    pub fn ret(&self) -> Option<i64> {
        let (_, _, ret) = self.split()?;
        ret.split_whitespace().next()?.parse().ok()
    }

    /// A `write(FD, "TEXT", N) = R` line: the fd, the bytes written (strace's escapes decoded,
    /// see [`unquote`]) and the result; `None` for any other line.
    pub fn write(&self) -> Option<(i32, Vec<u8>, i64)> {
        if self.name() != "write" {
            return None;
        }
        let (_, args, _) = self.split()?;
        let (fd, rest) = args.split_once(", ")?;
        let (quoted, _count) = rest.rsplit_once(", ")?;
        Some((fd.trim().parse().ok()?, unquote(quoted)?, self.ret()?))
    }
}

/// The bytes of a string argument as strace prints it: `"hi\n"`, with C escapes, `\xHH` and
/// octal `\NNN` for other bytes. `None` unless `arg` is exactly one quoted string.
pub fn unquote(arg: &str) -> Option<Vec<u8>> {
    let mut chars = arg.strip_prefix('"')?.bytes();
    let mut text = Vec::new();
    loop {
        match chars.next()? {
            b'"' => break,
            b'\\' => match chars.next()? {
                b'n' => text.push(b'\n'),
                b't' => text.push(b'\t'),
                b'r' => text.push(b'\r'),
                b'v' => text.push(0x0b),
                b'f' => text.push(0x0c),
                b'"' => text.push(b'"'),
                b'\\' => text.push(b'\\'),
                b'x' => {
                    let hex = [chars.next()?, chars.next()?];
                    text.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                }
                d @ b'0'..=b'7' => {
                    // Octal: up to three digits.
                    let mut v = u32::from(d - b'0');
                    let mut it = chars.clone();
                    for _ in 0..2 {
                        match it.next() {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                chars.next();
                            }
                            _ => break,
                        }
                    }
                    text.push(v as u8);
                }
                _ => return None,
            },
            b => text.push(b),
        }
    }
    chars.next().is_none().then_some(text)
}

/// A parsed trace file.
#[derive(Clone, Debug)]
pub struct Trace {
    pub lines: Vec<Line>,
}

impl Trace {
    pub fn parse(text: &str) -> Trace {
        let mut pending: HashMap<i32, String> = HashMap::new();
        let mut lines = Vec::new();
        for raw in text.lines() {
            let (pid, rest) = match raw.split_once(char::is_whitespace) {
                Some((pid, rest)) if pid.bytes().all(|b| b.is_ascii_digit()) => {
                    (pid.parse().unwrap_or(0), rest.trim_start())
                }
                _ => (0, raw.trim_start()),
            };
            if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
                pending.insert(pid, head.to_owned());
                continue;
            }
            let (text, joined) = match rest.strip_prefix("<... ") {
                Some(resumed) => {
                    let Some(after) = resumed
                        .find(" resumed>")
                        .map(|i| &resumed[i + " resumed>".len()..])
                    else {
                        continue;
                    };
                    match pending.remove(&pid) {
                        Some(head) => (format!("{head}{after}"), true),
                        None => continue,
                    }
                }
                None => (rest.to_owned(), false),
            };
            lines.push(Line {
                pid,
                text: squeeze_padding(text.trim_end()),
                joined,
            });
        }
        Trace { lines }
    }

    /// Every `pselect6`/`select` call, in order.
    pub fn selects(&self) -> Vec<Syscall> {
        self.lines
            .iter()
            .filter(|l| matches!(l.name(), "pselect6" | "select"))
            .map(|l| {
                let (name, args, result) = l
                    .split()
                    .unwrap_or_else(|| panic!("unexpected strace line {:?}", l.text));
                Syscall {
                    name: name.to_owned(),
                    args: args.to_owned(),
                    result: drop_left(result),
                }
            })
            .collect()
    }

    /// The lines after the program's "listening on" line, up to and including the close of
    /// the first accepted connection's fd: one connection's syscalls, from the wake-up that
    /// announced it to its close.
    pub fn first_connection(&self) -> Vec<String> {
        let start = self
            .lines
            .iter()
            .position(|l| l.name() == "write" && l.text.contains("listening on"))
            .expect("a 'listening on' write in the trace")
            + 1;
        // `python3 -u` writes print()'s newline separately.
        let start = match self.lines.get(start) {
            Some(l) if l.text == r#"write(2, "\n", 1) = 1"# => start + 1,
            _ => start,
        };
        let accept = start
            + self.lines[start..]
                .iter()
                .position(|l| l.name() == "accept4")
                .unwrap_or_else(|| panic!("no accept4 in the trace:\n{}", self.dump()));
        let fd = self.lines[accept].ret().expect("accept4's fd");
        let close = format!("close({fd}) = 0");
        let end = accept
            + self.lines[accept..]
                .iter()
                .position(|l| l.text == close)
                .unwrap_or_else(|| panic!("no {close} in the trace:\n{}", self.dump()));
        self.lines[start..=end]
            .iter()
            .map(|l| l.text.clone())
            .collect()
    }

    /// The text of the lines between the first two `close(-1)` lines: the markers a traced
    /// program writes around the calls a test compares (`os.close(-1)` in Python).
    pub fn between_marks(&self) -> Vec<String> {
        self.marked("close(-1)", false)
    }

    /// The text of the lines of one process between its first two calls starting with `mark`
    /// (e.g. `getppid(`): the markers a traced program makes around the calls a test compares,
    /// with every other process's and thread's lines (libtest's, CPython's) left out.
    pub fn between_calls_of(&self, mark: &str) -> Vec<String> {
        self.marked(mark, true)
    }

    fn marked(&self, mark: &str, one_process: bool) -> Vec<String> {
        let marks: Vec<usize> = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.text.starts_with(mark))
            .map(|(i, _)| i)
            .collect();
        assert!(
            marks.len() >= 2,
            "no two {mark} marks in the trace:\n{}",
            self.dump()
        );
        let pid = self.lines[marks[0]].pid;
        self.lines[marks[0] + 1..marks[1]]
            .iter()
            .filter(|l| !one_process || l.pid == pid)
            .map(|l| l.text.clone())
            .collect()
    }

    /// The trace as text, for failure messages.
    pub fn dump(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{} {}\n", l.pid, l.text))
            .collect()
    }
}

/// One select-family syscall: the name, the argument text as strace printed it on entry, and
/// the result text with the kernel's `left {...}` write-back removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syscall {
    pub name: String,
    pub args: String,
    pub result: String,
}

impl Syscall {
    /// `name(args) = result`.
    pub fn line(&self) -> String {
        format!("{}({}) = {}", self.name, self.args, self.result)
    }
}

/// A `poll`/`epoll_*` line of two different programs made comparable: addresses become `ADDR`,
/// and each `u64=M` of an `epoll_event`'s data keeps only M's low 32 bits (CPython leaves the
/// upper ones uninitialised). Also squeezes the padding before ` = `. Returns the line and
/// whether any `u64` had upper bits set.
///
/// An address is told by the line's shape, not by its length (a small heap, as CPython 3.11.2's,
/// has 8-digit addresses such as `0x31afd100`): a hex number that is a whole argument, right
/// after `(` or `, ` and right before `,` or `)`. strace prints integers in decimal and flags
/// by name, an unknown flag bit as `|0x4800` or `0x4000 /* EPOLL_??? */`, so those hex numbers
/// and `NULL` are kept as printed.
pub fn normalise_poll_line(line: &str) -> (String, bool) {
    let s = match line.rfind(" = ") {
        Some(i) => format!("{} = {}", line[..i].trim_end(), &line[i + 3..]),
        None => line.to_owned(),
    };
    let mut out = String::with_capacity(s.len());
    let mut garbage = false;
    let mut rest = s.as_str();
    loop {
        let hex = rest.find("0x");
        let u64_at = rest.find("u64=");
        let i = match (hex, u64_at) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        if let Some(digits) = tail.strip_prefix("0x") {
            let n = digits.bytes().take_while(u8::is_ascii_hexdigit).count();
            let starts_argument = out.ends_with('(') || out.ends_with(", ");
            let ends_argument = matches!(digits.as_bytes().get(n), Some(b',' | b')'));
            if n > 0 && starts_argument && ends_argument {
                out.push_str("ADDR");
            } else {
                out.push_str(&tail[..2 + n]);
            }
            rest = &digits[n..];
        } else {
            let digits = &tail[4..];
            let n = digits.bytes().take_while(u8::is_ascii_digit).count();
            let v: u64 = digits[..n].parse().expect("u64 value");
            garbage |= v >> 32 != 0;
            out.push_str(&format!("u64={}", v & 0xffff_ffff));
            rest = &digits[n..];
        }
    }
    out.push_str(rest);
    (out, garbage)
}

/// An `epoll_ctl`/`epoll_wait` line of two different programs made comparable, on top of
/// [`normalise_poll_line`]: the event pointer `EPOLL_CTL_DEL` passes (ignored by the kernel;
/// CPython passes one, and it must not be NULL) becomes `PTR`, and each `data={u32=N, u64=M}`
/// must have M's low 32 bits equal to N (the fd), which the helper checks; the line is then
/// `data={u32=N, u64=N}`.
pub fn normalise_epoll_line(line: &str) -> String {
    let (mut out, _) = normalise_poll_line(line);
    if let Some(i) = out.find("EPOLL_CTL_DEL, ") {
        let ptr = i
            + out[i..]
                .find(", ADDR)")
                .unwrap_or_else(|| panic!("DEL without a pointer: {line}"))
            + 2;
        out.replace_range(ptr..ptr + "ADDR".len(), "PTR");
    }
    let mut rest = out.as_str();
    while let Some(i) = rest.find("data={u32=") {
        let tail = &rest[i + "data={u32=".len()..];
        let (u32v, after) = tail.split_once(", u64=").expect("u64 after u32");
        let end = after.find('}').expect("}");
        assert_eq!(
            &after[..end],
            u32v,
            "data.u64's low half is not the fd: {line}"
        );
        rest = &after[end..];
    }
    out
}

/// The last argument of a finished call's line (`poll([...], 14, 2)` gives `2`: the timeout of
/// `poll` and `epoll_wait`).
pub fn last_arg(line: &str) -> &str {
    let (args, _) = line
        .rsplit_once(") = ")
        .unwrap_or_else(|| panic!("not a finished call: {line:?}"));
    args.rsplit(", ").next().expect("an argument")
}

/// Remove `, left {...}` (the kernel's write-back of a `pselect6` timeout) from a text.
pub fn drop_left(result: &str) -> String {
    match result.find(", left {") {
        Some(i) => {
            let end = result[i..].find('}').map_or(result.len(), |j| i + j + 1);
            format!("{}{}", &result[..i], &result[end..])
        }
        None => result.to_owned(),
    }
}

/// strace pads the call to column 40 before ` = `: `close(5)        = 0` becomes
/// `close(5) = 0`. Only the padding after the closing parenthesis is touched.
fn squeeze_padding(line: &str) -> String {
    match line.rfind(") ") {
        Some(i) => {
            let rest = line[i + 1..].trim_start();
            if rest.starts_with("= ") {
                format!("{} {rest}", &line[..=i])
            } else {
                line.to_string()
            }
        }
        None => line.to_string(),
    }
}

/// A `{tv_sec=S, tv_nsec=N}` (or `tv_usec`) in `text` after `after`: (seconds as f64, the
/// sub-second field, whether it was `tv_usec`), and `text` with that braced value replaced
/// by `{placeholder}`.
pub fn take_timeval(text: &str, after: &str, placeholder: &str) -> (f64, i64, bool, String) {
    let from = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {text:?}"))
        + after.len();
    let open = from
        + text[from..]
            .find("{tv_sec=")
            .unwrap_or_else(|| panic!("no timeval after {after:?} in {text:?}"));
    let close = open + text[open..].find('}').expect("closing brace");
    let inner = &text[open + 1..close]; // tv_sec=9, tv_nsec=999997000
    let (sec, sub) = inner.split_once(", ").expect("two fields");
    let sec: i64 = sec.strip_prefix("tv_sec=").unwrap().parse().unwrap();
    let (usec, sub) = match sub.split_once('=').unwrap() {
        ("tv_nsec", v) => (false, v.parse::<i64>().unwrap()),
        ("tv_usec", v) => (true, v.parse::<i64>().unwrap()),
        (f, _) => panic!("unexpected timeval field {f}"),
    };
    let seconds = sec as f64 + sub as f64 / if usec { 1e6 } else { 1e9 };
    let replaced = format!("{}{{{placeholder}}}{}", &text[..open], &text[close + 1..]);
    (seconds, sub, usec, replaced)
}
