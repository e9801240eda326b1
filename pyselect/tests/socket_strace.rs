//! The syscalls of a small socket scenario, pyselect beside CPython 3.11, under `strace`.
//!
//! The same scenario runs twice under
//! `strace -f -e trace=<TRACE_FILTER> -o FILE`: once as a Python program, once as this test
//! binary re-executed in a child process (the test `pyselect_trace_matches_cpython_line_for_line`
//! plays the child when `testkit::child::CHILD_ENV` is set). Both traces are cut to the scenario
//! (from its first `socket(` to the `close()` of its first socket), fds are renamed by
//! creation order (`s1`, `s2`, .. for `socket()`, `a1`, .. for `accept4()`) and non-zero ports
//! by first appearance (`p1`, ..); then each trace must equal its expected text line for line,
//! arguments and results included.
//!
//! What CPython 3.11 does that pyselect does not (the study guide documents these):
//! - after every `accept4(.., SOCK_CLOEXEC)` CPython calls `getsockname(newfd, .., [128 => 16])`
//!   (socket.socket(fileno=fd) validates the fd), always, whatever the listener's timeout;
//!   then `ioctl(newfd, FIONBIO, [0])` only when the listener has a positive timeout (and the
//!   default timeout is None); after an accept from a `settimeout(0.0)` listener, nothing.
//!   pyselect skips the `getsockname` and makes the same `ioctl` choice.
//! - `send` is `sendto(fd, "hi", 2, 0, NULL, 0)` in CPython and
//!   `sendto(fd, "hi", 2, MSG_NOSIGNAL, NULL, 0)` in pyselect (intended: no SIGPIPE death).
//! - Trace detail, normalised here: pyselect passes `sizeof(struct sockaddr_storage)` as the
//!   address length to `getsockname`/`accept4`, so strace shows `[128 => 16]` where CPython's
//!   `sock.getsockname()` and `accept()` show `[16]`.
//! - Trace detail, tolerated here: CPython's first `poll()` of a call gets exactly the timeout
//!   (1000 ms for `settimeout(1)`); pyselect recomputes "deadline - now" before that first
//!   poll, so on a loaded machine it may pass 999.

use std::collections::HashMap;
use std::sync::OnceLock;

use pyselect::{select, Error, Family, Socket, Type};

use testkit::child::{self, assert_one_test_passed, test_command, ChildGuard};
use testkit::python::interpreter;
use testkit::strace::{self, Trace};
use testkit::{TempPath, LIMIT};

/// The calls worth comparing: the brief's filter plus `getsockname` (CPython's extra call after
/// `accept4`), `fcntl` (pyselect must make none), and the other socket calls, so that any extra
/// call in the scenario shows.
const TRACE_FILTER: &str = "trace=socket,bind,listen,accept,accept4,recvfrom,sendto,ioctl,poll,\
                            close,setsockopt,getsockopt,connect,getsockname,getpeername,fcntl,\
                            shutdown";

const ROLE: &str = "strace-scenario";
const CHILD_TEST: &str = "pyselect_trace_matches_cpython_line_for_line";

/// The scenario in Python. Each line has its twin in [`rust_scenario`].
const PY_SCENARIO: &str = r#"
import select, socket
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen()
srv.settimeout(1)
try:
    srv.accept()
except TimeoutError:
    pass
else:
    raise SystemExit("accept did not time out")
srv.settimeout(30)
cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli.connect(srv.getsockname())
conn, addr = srv.accept()
assert cli.send(b"hi") == 2
assert conn.recv(1024) == b"hi"
cli.settimeout(30)
assert conn.send(b"ok") == 2
assert cli.recv(1024) == b"ok"
srv.settimeout(0.0)
cli2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli2.connect(srv.getsockname())
assert select.select([srv], [], [], 30)[0] == [srv]
conn2, addr2 = srv.accept()
srv.listen(-5)
conn2.close()
cli2.close()
conn.close()
cli.close()
srv.close()
print("SCENARIO-DONE")
"#;

/// The scenario in pyselect, run in the traced child.
fn rust_scenario() -> pyselect::Result<()> {
    let mut srv = Socket::new(Family::Inet, Type::Stream)?;
    srv.bind(("127.0.0.1", 0))?;
    srv.listen(None)?;
    srv.settimeout(Some(1.0))?;
    match srv.accept() {
        Err(Error::Timeout) => {}
        other => panic!("accept did not time out: {other:?}"),
    }
    srv.settimeout(Some(30.0))?;
    let mut cli = Socket::new(Family::Inet, Type::Stream)?;
    cli.connect(srv.getsockname()?)?;
    let (mut conn, _addr) = srv.accept()?;
    assert_eq!(cli.send(b"hi")?, 2);
    assert_eq!(conn.recv(1024)?, b"hi");
    cli.settimeout(Some(30.0))?;
    assert_eq!(conn.send(b"ok")?, 2);
    assert_eq!(cli.recv(1024)?, b"ok");
    srv.settimeout(Some(0.0))?;
    let mut cli2 = Socket::new(Family::Inet, Type::Stream)?;
    cli2.connect(srv.getsockname()?)?;
    assert_eq!(select([&srv], [], [], Some(30.0))?.0.len(), 1);
    let (mut conn2, _addr2) = srv.accept()?;
    srv.listen(Some(-5))?;
    conn2.close()?;
    cli2.close()?;
    conn.close()?;
    cli.close()?;
    srv.close()?;
    Ok(())
}

const SOCKET: &str = "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)";

fn sin(port: &str) -> String {
    format!("{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")}}")
}

/// What a trace must read, for CPython (`python == true`) or pyselect.
fn expected(python: bool) -> Vec<String> {
    let send_flags = if python { "0" } else { "MSG_NOSIGNAL" };
    let mut v = vec![
        format!("{SOCKET} = s1"),
        format!("bind(s1, {}, 16) = 0", sin("0")),
        "listen(s1, 128) = 0".into(),
        "ioctl(s1, FIONBIO, [1]) = 0".into(),
        "poll([{fd=s1, events=POLLIN}], 1, 1000) = 0 (Timeout)".into(),
        "ioctl(s1, FIONBIO, [1]) = 0".into(),
        format!("{SOCKET} = s2"),
        format!("getsockname(s1, {}, [16]) = 0", sin("p1")),
        format!("connect(s2, {}, 16) = 0", sin("p1")),
        "poll([{fd=s1, events=POLLIN}], 1, 30000) = 1 ([{fd=s1, revents=POLLIN}])".into(),
        format!("accept4(s1, {}, [16], SOCK_CLOEXEC) = a1", sin("p2")),
    ];
    if python {
        v.push(format!("getsockname(a1, {}, [128 => 16]) = 0", sin("p1")));
    }
    v.extend([
        "ioctl(a1, FIONBIO, [0]) = 0".into(),
        format!("sendto(s2, \"hi\", 2, {send_flags}, NULL, 0) = 2"),
        "recvfrom(a1, \"hi\", 1024, 0, NULL, NULL) = 2".into(),
        "ioctl(s2, FIONBIO, [1]) = 0".into(),
        format!("sendto(a1, \"ok\", 2, {send_flags}, NULL, 0) = 2"),
        "poll([{fd=s2, events=POLLIN}], 1, 30000) = 1 ([{fd=s2, revents=POLLIN}])".into(),
        "recvfrom(s2, \"ok\", 1024, 0, NULL, NULL) = 2".into(),
        "ioctl(s1, FIONBIO, [1]) = 0".into(),
        format!("{SOCKET} = s3"),
        format!("getsockname(s1, {}, [16]) = 0", sin("p1")),
        format!("connect(s3, {}, 16) = 0", sin("p1")),
        // A settimeout(0.0) listener: accept4 straight away, and no ioctl afterwards.
        format!("accept4(s1, {}, [16], SOCK_CLOEXEC) = a2", sin("p3")),
    ]);
    if python {
        v.push(format!("getsockname(a2, {}, [128 => 16]) = 0", sin("p1")));
    }
    v.extend([
        "listen(s1, 0) = 0".into(),
        "close(a2) = 0".into(),
        "close(s3) = 0".into(),
        "close(a1) = 0".into(),
        "close(s2) = 0".into(),
        "close(s1) = 0".into(),
    ]);
    v
}

/// Replace every `{key}{digits}` in `s` using `f(digits)`.
fn replace_numbers(s: &str, key: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n > 0 {
            out.push_str(&f(&rest[..n]));
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// The scenario's lines of a raw `strace -f -o` file, with symbolic fds and ports.
/// `pyselect_side` applies the two normalisations described in the module docs.
fn normalize(raw: &str, pyselect_side: bool) -> Result<Vec<String>, String> {
    let trace = Trace::parse(raw);
    // `+++ exited` and `--- SIG...` lines have no name.
    let lines: Vec<&strace::Line> = trace
        .lines
        .iter()
        .filter(|l| !l.name().is_empty())
        .collect();
    let start = lines
        .iter()
        .position(|l| l.text.starts_with("socket("))
        .ok_or("no socket() call in the trace")?;

    let mut fds: HashMap<String, String> = HashMap::new();
    let mut ports: HashMap<String, String> = HashMap::new();
    let (mut sockets, mut accepted) = (0, 0);
    let mut out = Vec::new();
    for line in &lines[start..] {
        if line.joined {
            return Err(format!(
                "interleaved threads in the scenario: {}",
                line.text
            ));
        }
        let (name, args, ret) = line
            .split()
            .ok_or_else(|| format!("unparsable trace line: {}", line.text))?;
        let mut ret = ret.to_string();
        if name == "socket" || name == "accept4" {
            let fd = ret.split_whitespace().next().unwrap_or("").to_string();
            let sym = if name == "socket" {
                sockets += 1;
                format!("s{sockets}")
            } else {
                accepted += 1;
                format!("a{accepted}")
            };
            fds.insert(fd, sym.clone());
            ret = sym;
        }
        let fd_name = |n: &str| fds.get(n).cloned().unwrap_or_else(|| n.to_string());
        // The first argument is the fd for every call here but socket() and poll().
        let mut args = match args.split_once(", ") {
            Some((first, rest)) if name != "socket" => format!("{}, {rest}", fd_name(first)),
            None if name != "socket" => fd_name(args),
            _ => args.to_string(),
        };
        args = replace_numbers(&args, "fd=", fd_name);
        ret = replace_numbers(&ret, "fd=", fd_name);
        args = replace_numbers(&args, "htons(", |p| {
            if p == "0" {
                return p.to_string();
            }
            let k = ports.len() + 1;
            ports
                .entry(p.to_string())
                .or_insert(format!("p{k}"))
                .clone()
        });
        if pyselect_side {
            args = args.replace("[128 => 16]", "[16]");
            if name == "poll" {
                // "deadline - now" may lose a millisecond before the first poll (module docs).
                if let Some((head, ms)) = args.rsplit_once(", ") {
                    if let Ok(ms) = ms.parse::<i64>() {
                        let up = (ms + 999) / 1000 * 1000;
                        if ms > 0 && up - ms <= 10 {
                            args = format!("{head}, {up}");
                        }
                    }
                }
            }
        }
        let norm = format!("{name}({args}) = {ret}");
        let last = norm == "close(s1) = 0";
        out.push(norm);
        if last {
            return Ok(out);
        }
    }
    Err("the trace never closes the first socket".into())
}

#[derive(Debug)]
struct Traces {
    python: Vec<String>,
    pyselect: Vec<String>,
    raw_python: String,
    raw_pyselect: String,
}

/// Trace both programs (concurrently, once per test binary run) and normalise the traces.
fn traces() -> &'static Traces {
    static TRACES: OnceLock<Traces> = OnceLock::new();
    TRACES.get_or_init(|| {
        let py_file = TempPath::new("strace-python");
        let rs_file = TempPath::new("strace-pyselect");

        // The interpreter itself, not a wrapper such as a pyenv shim (a shell script whose
        // own syscalls would land in the trace under `strace -f`).
        let mut python = std::process::Command::new(&interpreter().exe);
        python.args(["-I", "-c", PY_SCENARIO]);
        let mut py_cmd = strace::command(&py_file, TRACE_FILTER, &[], &python);
        let py = ChildGuard::spawn(&mut py_cmd, "strace (CPython scenario)");
        let mut rs_cmd =
            strace::command(&rs_file, TRACE_FILTER, &[], &test_command(CHILD_TEST, ROLE));
        let rs = ChildGuard::spawn(&mut rs_cmd, "strace (pyselect scenario)");

        let py_out = py.output(LIMIT);
        let rs_out = rs.output(LIMIT);
        assert!(
            py_out.status.success() && py_out.stdout.contains("SCENARIO-DONE"),
            "the Python scenario failed under strace ({}):\n{}{}",
            py_out.status,
            py_out.stdout,
            py_out.stderr
        );
        assert_one_test_passed(&rs_out, "the pyselect scenario under strace");
        let raw_python = py_file.read();
        let raw_pyselect = rs_file.read();
        let python = normalize(&raw_python, false)
            .unwrap_or_else(|e| panic!("CPython trace: {e}\n{raw_python}"));
        let pyselect = normalize(&raw_pyselect, true)
            .unwrap_or_else(|e| panic!("pyselect trace: {e}\n{raw_pyselect}"));
        Traces {
            python,
            pyselect,
            raw_python,
            raw_pyselect,
        }
    })
}

fn show(lines: &[String]) -> String {
    lines.iter().map(|l| format!("  {l}\n")).collect()
}

#[test]
fn pyselect_trace_matches_cpython_line_for_line() {
    if child::role().as_deref() == Some(ROLE) {
        // The traced child: run the scenario, nothing else.
        rust_scenario().expect("pyselect scenario");
        return;
    }
    let t = traces();
    // CPython's trace minus the documented differences is pyselect's trace.
    let python_adjusted: Vec<String> = t
        .python
        .iter()
        .filter(|l| !l.starts_with("getsockname(a"))
        .map(|l| {
            if l.starts_with("sendto(") {
                l.replace(", 0, NULL, 0)", ", MSG_NOSIGNAL, NULL, 0)")
            } else {
                l.clone()
            }
        })
        .collect();
    assert_eq!(
        t.pyselect,
        python_adjusted,
        "pyselect:\n{}CPython:\n{}",
        show(&t.pyselect),
        show(&t.python)
    );
}

#[test]
fn cpython_trace_is_as_recorded() {
    let t = traces();
    assert_eq!(
        t.python,
        expected(true),
        "CPython's trace changed; normalised:\n{}raw:\n{}",
        show(&t.python),
        t.raw_python
    );
}

#[test]
fn pyselect_trace_is_as_expected() {
    let t = traces();
    assert_eq!(
        t.pyselect,
        expected(false),
        "normalised:\n{}raw:\n{}",
        show(&t.pyselect),
        t.raw_pyselect
    );
}

#[test]
fn socket_creation_listen_and_timeouts_are_the_documented_calls() {
    // The contract's named lines, checked one by one, so a failure says which one broke.
    let t = traces();
    for (who, lines) in [("CPython", &t.python), ("pyselect", &t.pyselect)] {
        let has = |want: &str| lines.iter().any(|l| l == want);
        for want in [
            format!("{SOCKET} = s1"),
            "listen(s1, 128) = 0".to_string(),
            "listen(s1, 0) = 0".to_string(),
            "ioctl(s1, FIONBIO, [1]) = 0".to_string(),
            "poll([{fd=s1, events=POLLIN}], 1, 1000) = 0 (Timeout)".to_string(),
            "recvfrom(a1, \"hi\", 1024, 0, NULL, NULL) = 2".to_string(),
            format!("accept4(s1, {}, [16], SOCK_CLOEXEC) = a1", sin("p2")),
        ] {
            assert!(has(&want), "{who} trace lacks `{want}`:\n{}", show(lines));
        }
        assert!(
            !lines.iter().any(|l| l.starts_with("fcntl(")),
            "{who} made an fcntl call:\n{}",
            show(lines)
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("setsockopt(")),
            "{who} made a setsockopt call nobody asked for:\n{}",
            show(lines)
        );
    }
    let sends = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("sendto("))
            .cloned()
            .collect()
    };
    assert_eq!(
        sends(&t.python),
        [
            "sendto(s2, \"hi\", 2, 0, NULL, 0) = 2",
            "sendto(a1, \"ok\", 2, 0, NULL, 0) = 2"
        ]
    );
    assert_eq!(
        sends(&t.pyselect),
        [
            "sendto(s2, \"hi\", 2, MSG_NOSIGNAL, NULL, 0) = 2",
            "sendto(a1, \"ok\", 2, MSG_NOSIGNAL, NULL, 0) = 2"
        ]
    );
}
