//! The per-connection syscall sequences that docs/STRACE.md documents, checked against real
//! `strace -f` traces of `pyselect-server` (every mode, `--syscall select`, and multiplex mode's
//! `--backend poll` and `--backend epoll`), of the seed's CPython select server
//! (testkit/fixtures/seed_select_server.py) and of CPython's `selectors` servers
//! (testkit/fixtures/selectors_server.py with `PollSelector` and `EpollSelector`), so that the
//! guide cannot drift from the code.
//!
//! Each test starts a server under strace with `--ports 0,0` (or the fixture with port 0),
//! waits for its "listening on" line, connects once from the test (send `hi`, read the reply to
//! EOF), lets the server exit (`--count 1`, or a signal for the Python server, which never
//! exits by itself), and compares the trace lines from the one after "listening on" to the
//! close of the client's fd with the sequence below, exactly, after putting the ports in.
//!
//! Placeholders in the sequences: `P1` is the first listening port, `{WLEN}` the byte count of
//! the reply `welcome P1!` (13 for the Makefile's 5050 that docs/STRACE.md shows, 14 for the
//! five-digit ports of `--ports 0,0`), `CPORT` the client's port (five digits, as every port in
//! Linux's ephemeral range has, so the message line's byte count is fixed); `{TIMEOUT}`/`{LEFT}`
//! stand for timevals that depend on the clock and are checked for range separately.

use nix::sys::signal::Signal;
use testkit::fixture;
use testkit::python::cpython311;
use testkit::server::seed_client;
use testkit::server_exe;
use testkit::strace::{
    last_arg, normalise_poll_line, require_strace, take_timeval, Trace, TracedProcess,
};

/// `select` mode, one client on the first port (docs/STRACE.md, "select mode").
const SELECT_MODE: &[&str] = &[
    "pselect6(5, [3 4], NULL, NULL, NULL, NULL) = 1 (in [3])",
    r#"write(1, "hello socket1\n", 14) = 14"#,
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#,
    r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
    r#"sendto(5, "welcome P1!", {WLEN}, MSG_NOSIGNAL, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// `multiplex` mode, one client on the first port (docs/STRACE.md, "multiplex mode").
const MULTIPLEX_MODE: &[&str] = &[
    "pselect6(5, [3 4], NULL, NULL, NULL, NULL) = 1 (in [3])",
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#,
    r#"write(1, "hello socket1\n", 14) = 14"#,
    // Accept until EAGAIN (issue 12): the listener's queue is empty.
    "accept4(3, ADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
    "pselect6(6, [3 4 5], NULL, [5], {TIMEOUT}, NULL) = 1 (in [5], left {LEFT})",
    r#"recvfrom(5, "hi", 1024, MSG_DONTWAIT, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
    r#"sendto(5, "welcome P1!", {WLEN}, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// `--syscall select` (select and multiplex modes): the kernel's own select(2), five
/// arguments and no signal mask, in place of the first `pselect6` of [`SELECT_MODE`] and the
/// first two of [`MULTIPLEX_MODE`].
const RAW_SELECT: &[&str] = &[
    "select(5, [3 4], NULL, NULL, NULL) = 1 (in [3])",
    "select(6, [3 4 5], NULL, [5], {TIMEOUT}) = 1 (in [5], left {LEFT})",
];

/// `timeout` mode, one client on the first port, from the `hello socket1` before the poll
/// that saw it (docs/STRACE.md, "timeout mode").
const TIMEOUT_MODE: &[&str] = &[
    r#"write(1, "hello socket1\n", 14) = 14"#,
    "poll([{fd=3, events=POLLIN}], 1, {MS}) = 1 ([{fd=3, revents=POLLIN}])",
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#,
    "ioctl(5, FIONBIO, [0]) = 0",
    r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
    r#"sendto(5, "welcome P1!", {WLEN}, MSG_NOSIGNAL, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// `blocking` mode, one port (docs/STRACE.md, "blocking mode").
const BLOCKING_MODE: &[&str] = &[
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 4"#,
    r#"write(1, "hi\n", 3) = 3"#,
    r#"recvfrom(4, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
    r#"sendto(4, "welcome!", 8, MSG_NOSIGNAL, NULL, 0) = 8"#,
    "close(4) = 0",
];

/// The seed's select server under CPython 3.11 with `python3 -u` (or PYTHONUNBUFFERED=1)
/// (docs/STRACE.md, "select mode", right column).
const CPYTHON_SELECT_UNBUFFERED: &[&str] = &[
    "pselect6(5, [3 4], NULL, NULL, NULL, NULL) = 1 (in [3])",
    r#"write(1, "hello socket1", 13) = 13"#,
    r#"write(1, "\n", 1) = 1"#,
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5"#,
    r#"getsockname(5, {sa_family=AF_INET, sin_port=htons(P1), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 0"#,
    r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'", 38) = 38"#,
    r#"write(1, "\n", 1) = 1"#,
    r#"sendto(5, "welcome P1!", {WLEN}, 0, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// The same with stdout a pipe and no `-u`: print() only fills a buffer.
const CPYTHON_SELECT_BUFFERED: &[&str] = &[
    "pselect6(5, [3 4], NULL, NULL, NULL, NULL) = 1 (in [3])",
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5"#,
    r#"getsockname(5, {sa_family=AF_INET, sin_port=htons(P1), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 0"#,
    r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"sendto(5, "welcome P1!", {WLEN}, 0, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// `multiplex --backend poll`, one client on the first port (docs/STRACE.md, "poll and
/// epoll"). `{IDLE_MS}` is the time to the idle deadline in whole ms (rounded up).
const POLL_BACKEND: &[&str] = &[
    "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN}], 2, -1) = 1 ([{fd=3, revents=POLLIN}])",
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#,
    r#"write(1, "hello socket1\n", 14) = 14"#,
    "accept4(3, ADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
    "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN}, {fd=5, events=POLLIN|POLLPRI}], 3, {IDLE_MS}) = 1 ([{fd=5, revents=POLLIN}])",
    r#"recvfrom(5, "hi", 1024, MSG_DONTWAIT, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
    r#"sendto(5, "welcome P1!", {WLEN}, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// `multiplex --backend epoll`, before the "listening on" line: the epoll instance (fd 5,
/// after the two listeners) and the listeners' registrations.
const EPOLL_SETUP: &[&str] = &[
    "epoll_create1(EPOLL_CLOEXEC) = 5",
    "epoll_ctl(5, EPOLL_CTL_ADD, 3, {events=EPOLLIN, data={u32=3, u64=3}}) = 0",
    "epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, data={u32=4, u64=4}}) = 0",
];

/// `multiplex --backend epoll`, one client on the first port: one `epoll_ctl` to register the
/// client after `accept4`, one to unregister it before `close`.
const EPOLL_BACKEND: &[&str] = &[
    "epoll_wait(5, [{events=EPOLLIN, data={u32=3, u64=3}}], 1023, -1) = 1",
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 6"#,
    "epoll_ctl(5, EPOLL_CTL_ADD, 6, {events=EPOLLIN|EPOLLPRI, data={u32=6, u64=6}}) = 0",
    r#"write(1, "hello socket1\n", 14) = 14"#,
    "accept4(3, ADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
    "epoll_wait(5, [{events=EPOLLIN, data={u32=6, u64=6}}], 1023, {IDLE_MS}) = 1",
    r#"recvfrom(6, "hi", 1024, MSG_DONTWAIT, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
    r#"sendto(6, "welcome P1!", {WLEN}, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0) = {WLEN}"#,
    "epoll_ctl(5, EPOLL_CTL_DEL, 6, ADDR) = 0",
    "close(6) = 0",
];

/// CPython 3.11's `selectors.PollSelector` doing the same job
/// (testkit/fixtures/selectors_server.py, `python3 -u`).
const CPYTHON_POLL_SELECTOR: &[&str] = &[
    "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN}], 2, -1) = 1 ([{fd=3, revents=POLLIN}])",
    r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 5"#,
    r#"getsockname(5, {sa_family=AF_INET, sin_port=htons(P1), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 0"#,
    r#"write(1, "hello socket1", 13) = 13"#,
    r#"write(1, "\n", 1) = 1"#,
    "ioctl(5, FIONBIO, [1]) = 0",
    "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN}, {fd=5, events=POLLIN}], 3, -1) = 1 ([{fd=5, revents=POLLIN}])",
    r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'", 38) = 38"#,
    r#"write(1, "\n", 1) = 1"#,
    r#"sendto(5, "welcome P1!", {WLEN}, 0, NULL, 0) = {WLEN}"#,
    "close(5) = 0",
];

/// CPython 3.11's `selectors.EpollSelector` doing the same job: its epoll fd is 3 (made
/// before the listeners). The `u64` of the `ADD` line is shown with its upper 32 bits cleared:
/// CPython leaves them uninitialised (the trace shows a large number, e.g. 140204912410630).
const CPYTHON_EPOLL_SELECTOR: &[&str] = &[
    "epoll_wait(3, [{events=EPOLLIN, data={u32=4, u64=4}}], 2, -1) = 1",
    r#"accept4(4, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 6"#,
    r#"getsockname(6, {sa_family=AF_INET, sin_port=htons(P1), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 0"#,
    r#"write(1, "hello socket1", 13) = 13"#,
    r#"write(1, "\n", 1) = 1"#,
    "ioctl(6, FIONBIO, [1]) = 0",
    "epoll_ctl(3, EPOLL_CTL_ADD, 6, {events=EPOLLIN, data={u32=6, u64=6}}) = 0",
    "epoll_wait(3, [{events=EPOLLIN, data={u32=6, u64=6}}], 3, -1) = 1",
    r#"recvfrom(6, "hi", 1024, 0, NULL, NULL) = 2"#,
    r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'", 38) = 38"#,
    r#"write(1, "\n", 1) = 1"#,
    r#"sendto(6, "welcome P1!", {WLEN}, 0, NULL, 0) = {WLEN}"#,
    "epoll_ctl(3, EPOLL_CTL_DEL, 6, ADDR) = 0",
    "close(6) = 0",
];

/// The lines a trace shows before the server's first `socket`, each explained in
/// docs/STRACE.md section 2, as the start of the line (handler addresses vary): the dynamic
/// loader's closes, Rust's runtime checking fds 0-2, ignoring SIGPIPE, reading
/// /proc/self/maps and installing its stack-overflow handlers, then pyselect's own handlers.
const STARTUP: &[&str] = &[
    "close(3) = 0",
    "poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}], 3, 0) = ",
    "rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, ",
    "rt_sigaction(SIGSEGV, NULL, ",
    "rt_sigaction(SIGSEGV, {sa_handler=0x",
    "rt_sigaction(SIGBUS, NULL, ",
    "rt_sigaction(SIGBUS, {sa_handler=0x",
    "rt_sigaction(SIGINT, {sa_handler=0x",
    "rt_sigaction(SIGTERM, {sa_handler=0x",
];

/// Every line before the first `socket` is one docs/STRACE.md explains, and pyselect's own
/// SIGINT and SIGTERM handlers are among them.
fn assert_startup_explained(trace: &Trace) {
    let first_socket = trace
        .lines
        .iter()
        .position(|l| l.name() == "socket")
        .unwrap_or_else(|| panic!("no socket() in the trace:\n{}", trace.dump()));
    let startup = &trace.lines[..first_socket];
    for line in startup {
        assert!(
            STARTUP.iter().any(|p| line.text.starts_with(p)),
            "a start-up line docs/STRACE.md (section 2) does not explain: {}\n--- whole trace:\n{}",
            line.text,
            trace.dump()
        );
    }
    for own in &STARTUP[STARTUP.len() - 2..] {
        assert!(
            startup.iter().any(|l| l.text.starts_with(own)),
            "no {own}... before the first socket:\n{}",
            trace.dump()
        );
    }
}

/// The first port of the Makefile's `PORTS`, which `make strace-server` uses and the guide's
/// traces show.
fn makefile_first_port() -> u16 {
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Makefile"))
        .expect("read the Makefile");
    makefile
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once("?=").or_else(|| l.split_once(":="))?;
            (name.trim() == "PORTS").then(|| value.trim().split(',').next()?.parse().ok())?
        })
        .expect("the Makefile sets PORTS ?= P1,P2")
}

/// The sequence with the ports, and the reply's length for the first port, put in.
fn expected(template: &[&str], p1: u16, cport: u16) -> Vec<String> {
    assert!(
        cport >= 10000,
        "the sequences assume a five-digit (ephemeral) client port, got {cport}"
    );
    let wlen = format!("welcome {p1}!").len().to_string();
    template
        .iter()
        .map(|l| {
            l.replace("CPORT", &cport.to_string())
                .replace("P1", &p1.to_string())
                .replace("{WLEN}", &wlen)
        })
        .collect()
}

fn assert_sequence(got: &[String], want: &[String], trace: &Trace) {
    assert_eq!(
        got,
        want,
        "per-connection syscalls differ from docs/STRACE.md\n--- whole trace:\n{}",
        trace.dump()
    );
}

/// What the seed's servers print for one `hi` from the client port `cport` on the first port.
fn seed_stdout(cport: u16) -> String {
    format!("hello socket1\n[('127.0.0.1', {cport})] message : b'hi'\n")
}

/// Run `pyselect-server --count 1 ARGS` (`args`: words split at spaces) under strace, serve
/// one `hi` on the first port, and return (first port, client port, the connection's trace
/// lines, stdout, whole trace).
fn one_connection(tag: &str, args: &str) -> (u16, u16, Vec<String>, String, Trace) {
    require_strace();
    let args: Vec<&str> = args.split_whitespace().collect();
    let mut all = vec!["--count", "1"];
    all.extend_from_slice(&args);
    let mut server = TracedProcess::spawn(tag, server_exe(), &all, &[]);
    let ports = server.wait_listening();
    let p1 = ports[0];
    let (reply, cport) = seed_client(p1, b"hi");
    let want = match args.contains(&"blocking") {
        true => "welcome!".to_string(), // the seed's first server names no port
        false => format!("welcome {p1}!"),
    };
    assert_eq!(String::from_utf8_lossy(&reply), want);
    let (status, stdout, trace) = server.finish();
    assert!(status.success(), "server exit: {status:?}");
    (p1, cport, trace.first_connection(), stdout, trace)
}

/// After the connection, `--count 1` ends the server: listeners closed, totals on stderr, the
/// signal handlers put back, exit 0.
fn assert_clean_exit(trace: &Trace, listeners: &[i32]) {
    let texts: Vec<&str> = trace.lines.iter().map(|l| l.text.as_str()).collect();
    let tail = &texts[texts.len() - (listeners.len() + 4)..];
    for (line, fd) in tail.iter().zip(listeners) {
        assert_eq!(*line, format!("close({fd}) = 0"));
    }
    let tail = &tail[listeners.len()..];
    assert!(
        tail[0].starts_with(r#"write(2, "pyselect-server: 1 served, 0 errors, 0 idle-closed, 0 closed silently, 0 refused in "#),
        "{}",
        tail[0]
    );
    assert!(tail[1].starts_with("rt_sigaction(SIGTERM, {sa_handler=SIG_DFL,"));
    assert!(tail[2].starts_with("rt_sigaction(SIGINT, {sa_handler=SIG_DFL,"));
    assert_eq!(tail[3], "+++ exited with 0 +++");
}

#[test]
fn select_mode_sequence() {
    let (p1, cport, got, stdout, trace) = one_connection("select", "--ports 0,0 --mode select");
    assert_sequence(&got, &expected(SELECT_MODE, p1, cport), &trace);
    assert_eq!(stdout, seed_stdout(cport));
    assert_clean_exit(&trace, &[3, 4]);
    assert_startup_explained(&trace);
}

#[test]
fn select_mode_raw_select_syscall() {
    let (p1, cport, got, _, trace) =
        one_connection("select-raw", "--ports 0,0 --mode select --syscall select");
    let mut want = expected(SELECT_MODE, p1, cport);
    want[0] = RAW_SELECT[0].into();
    assert_sequence(&got, &want, &trace);
    assert!(
        !trace.lines.iter().any(|l| l.name() == "pselect6"),
        "--syscall select still issued pselect6:\n{}",
        trace.dump()
    );
}

/// The multiplex mode's second round: `{TIMEOUT}` is the time left to the client's idle
/// deadline (`--idle-timeout 30`), whole microseconds; `{LEFT}` is the kernel's write-back.
fn check_multiplex(got: &mut [String], after: &str, usec: bool) {
    // The failed accept4's address buffer is a stack pointer: not part of the sequence.
    if let Some(rest) = got[3].strip_prefix("accept4(3, 0x") {
        let hex = rest.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(0);
        got[3] = format!("accept4(3, ADDR{}", &rest[hex..]);
    }
    let (timeout, sub, is_usec, line) = take_timeval(&got[4], after, "TIMEOUT");
    assert_eq!(is_usec, usec, "{}", got[4]);
    assert!(
        timeout > 20.0 && timeout <= 30.0,
        "idle timeout {timeout} in {}",
        got[4]
    );
    if !usec {
        assert_eq!(sub % 1000, 0, "whole microseconds: {}", got[4]);
    }
    let (left, _, _, line) = take_timeval(&line, "left ", "LEFT");
    assert!(left <= timeout, "{}", got[4]);
    got[4] = line;
}

#[test]
fn multiplex_mode_sequence() {
    let (p1, cport, mut got, stdout, trace) = one_connection(
        "multiplex",
        "--ports 0,0 --mode multiplex --idle-timeout 30",
    );
    check_multiplex(&mut got, "[5], ", false);
    assert_sequence(&got, &expected(MULTIPLEX_MODE, p1, cport), &trace);
    assert_eq!(stdout, seed_stdout(cport));
    assert_clean_exit(&trace, &[3, 4]);
    // The listeners are non-blocking (settimeout(0.0)): one ioctl each, before bind.
    let ioctls: Vec<&str> = trace
        .lines
        .iter()
        .filter(|l| l.name() == "ioctl")
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        ioctls,
        ["ioctl(3, FIONBIO, [1]) = 0", "ioctl(4, FIONBIO, [1]) = 0"]
    );
}

#[test]
fn multiplex_mode_raw_select_syscall() {
    let (p1, cport, mut got, _, trace) = one_connection(
        "multiplex-raw",
        "--ports 0,0 --mode multiplex --idle-timeout 30 --syscall select",
    );
    check_multiplex(&mut got, "[5], ", true);
    let mut want = expected(MULTIPLEX_MODE, p1, cport);
    want[0] = RAW_SELECT[0].into();
    want[4] = RAW_SELECT[1].into();
    assert_sequence(&got, &want, &trace);
}

/// A poll/epoll trace line made comparable ([`normalise_poll_line`]): addresses become
/// `ADDR`, an epoll `u64` keeps its low 32 bits. Returns whether a `u64` had garbage upper bits.
fn normalised(lines: &[String]) -> (Vec<String>, bool) {
    let mut garbage = false;
    let lines = lines
        .iter()
        .map(|l| {
            let (line, g) = normalise_poll_line(l);
            garbage |= g;
            line
        })
        .collect();
    (lines, garbage)
}

/// The second wait's timeout (its last argument): the time to the idle deadline of
/// `--idle-timeout 30` in whole ms, rounded up; replaced by `{IDLE_MS}`.
fn check_idle_ms(line: &mut String) {
    let ms: i64 = last_arg(line)
        .parse()
        .unwrap_or_else(|_| panic!("no timeout in {line}"));
    assert!((20_000..=30_000).contains(&ms), "{line}");
    *line = line.replacen(&format!(", {ms}) = "), ", {IDLE_MS}) = ", 1);
}

#[test]
fn multiplex_poll_backend_sequence() {
    let (p1, cport, got, stdout, trace) =
        one_connection("poll", "--ports 0,0 --backend poll --idle-timeout 30");
    let (mut got, garbage) = normalised(&got);
    assert!(!garbage);
    check_idle_ms(&mut got[4]);
    assert_sequence(&got, &expected(POLL_BACKEND, p1, cport), &trace);
    assert_eq!(stdout, seed_stdout(cport));
    assert_clean_exit(&trace, &[3, 4]);
    assert!(
        !trace.lines.iter().any(|l| l.name().starts_with("pselect")),
        "{}",
        trace.dump()
    );
}

#[test]
fn multiplex_epoll_backend_sequence() {
    let (p1, cport, got, stdout, trace) =
        one_connection("epoll", "--ports 0,0 --backend epoll --idle-timeout 30");
    let (mut got, garbage) = normalised(&got);
    assert!(!garbage, "pyselect's epoll data is the fd, upper bits zero");
    check_idle_ms(&mut got[5]);
    assert_sequence(&got, &expected(EPOLL_BACKEND, p1, cport), &trace);
    assert_eq!(stdout, seed_stdout(cport));
    // The epoll instance and the listeners' registrations come just before "listening on".
    let listening = trace
        .lines
        .iter()
        .position(|l| l.text.contains("listening on"))
        .expect("the listening line");
    let setup: Vec<&str> = trace.lines[listening - 3..listening]
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(setup, EPOLL_SETUP, "{}", trace.dump());
    assert_clean_exit(&trace, &[3, 4]);
}

/// Run `python3 PYTHON_ARGS testkit/fixtures/SCRIPT SCRIPT_ARGS 0 0 127.0.0.1` (CPython 3.11,
/// `env_remove` taken out of its environment) under strace, serve one `hi` on the first port,
/// then stop it with `stop`, as it never exits by itself. Returns (first port, client port,
/// stdout, whole trace).
fn cpython_connection(
    tag: &str,
    python_args: &[&str],
    script: &str,
    script_args: &[&str],
    env_remove: &[&str],
    stop: Signal,
) -> (u16, u16, String, Trace) {
    require_strace();
    // CPython 3.11 is the project's reference: a missing or different python3 is a failure
    // to report, not a reason to pass without checking.
    let python = cpython311().expect(
        "these tests compare with CPython 3.11 (`python3`); install it (.ci/deps does on Debian)",
    );
    let script = fixture(script).display().to_string();
    let mut args = python_args.to_vec();
    args.push(&script);
    args.extend_from_slice(script_args);
    args.extend_from_slice(&["0", "0", "127.0.0.1"]);
    let mut server = TracedProcess::spawn(tag, python, &args, env_remove);
    let p1 = server.wait_listening()[0];
    let (reply, cport) = seed_client(p1, b"hi");
    assert_eq!(reply, format!("welcome {p1}!").into_bytes());
    // The client saw EOF: the close has run.
    server.signal(stop);
    let (_, stdout, trace) = server.finish();
    (p1, cport, stdout, trace)
}

/// Run testkit/fixtures/selectors_server.py with `selector` under CPython 3.11 (`-u`) and serve
/// one `hi` on the first port; the connection's lines, normalised.
fn cpython_selectors(selector: &str, template: &[&str]) {
    let (p1, cport, stdout, trace) = cpython_connection(
        selector,
        &["-u"],
        "selectors_server.py",
        &[selector],
        &[],
        Signal::SIGTERM,
    );
    let (got, _) = normalised(&trace.first_connection());
    assert_sequence(&got, &expected(template, p1, cport), &trace);
    assert_eq!(stdout, seed_stdout(cport));
}

#[test]
fn cpython_poll_selector_sequence() {
    cpython_selectors("PollSelector", CPYTHON_POLL_SELECTOR);
}

#[test]
fn cpython_epoll_selector_sequence() {
    cpython_selectors("EpollSelector", CPYTHON_EPOLL_SELECTOR);
}

#[test]
fn timeout_mode_sequence() {
    let (p1, cport, got, stdout, trace) = one_connection("timeout", "--ports 0,0 --mode timeout");
    // On a slow machine the client may land after a poll or two timed out: start at the
    // `hello socket1` that preceded the successful poll.
    let hello = r#"write(1, "hello socket1\n", 14) = 14"#;
    let start = got.iter().rposition(|l| l == hello).expect("hello socket1");
    let mut got = got[start..].to_vec();
    // The poll waits for what is left of the 1 s timeout, rounded up to whole ms: 1000 unless
    // the thread was descheduled between taking the deadline and polling.
    let ms: i32 = got[1]
        .strip_prefix("poll([{fd=3, events=POLLIN}], 1, ")
        .and_then(|r| r.split(')').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{}", got[1]));
    assert!((900..=1000).contains(&ms), "{}", got[1]);
    got[1] = got[1].replacen(&format!(", {ms})"), ", {MS})", 1);
    assert_sequence(&got, &expected(TIMEOUT_MODE, p1, cport), &trace);
    // Every earlier round timed out without an accept4: print, poll, nothing.
    assert!(stdout.ends_with(&seed_stdout(cport)));
    assert_clean_exit(&trace, &[3, 4]);
}

#[test]
fn blocking_mode_sequence() {
    let (_, cport, got, stdout, trace) = one_connection("blocking", "--ports 0 --mode blocking");
    assert_sequence(&got, &expected(BLOCKING_MODE, 10000, cport), &trace);
    assert_eq!(
        stdout,
        format!("hi\n[('127.0.0.1', {cport})] message : b'hi'\n")
    );
    assert_clean_exit(&trace, &[3]);
}

/// Run the seed's select server under CPython 3.11 and serve one `hi` on the first port.
fn cpython_select(tag: &str, env_remove: &[&str], args: &[&str], stop: Signal) {
    let (p1, cport, stdout, trace) =
        cpython_connection(tag, args, "seed_select_server.py", &[], env_remove, stop);
    let got = trace.first_connection();
    let message = format!("[('127.0.0.1', {cport})] message : b'hi'");
    let template = if env_remove.is_empty() {
        CPYTHON_SELECT_UNBUFFERED
    } else {
        CPYTHON_SELECT_BUFFERED
    };
    assert_sequence(&got, &expected(template, p1, cport), &trace);
    assert_eq!(stdout, format!("hello socket1\n{message}\n"));
    if !env_remove.is_empty() {
        // Buffered: both lines leave in one write(2), when KeyboardInterrupt ends the program.
        let flush = format!(
            r#"write(1, "hello socket1\n{message}\n", {}) = {0}"#,
            14 + message.len() + 1
        );
        assert!(
            trace.lines.iter().any(|l| l.text == flush),
            "no {flush}\n{}",
            trace.dump()
        );
    }
}

#[test]
fn cpython_select_sequence_unbuffered() {
    cpython_select("cpython-u", &[], &["-u"], Signal::SIGTERM);
}

#[test]
fn cpython_select_sequence_buffered() {
    // SIGINT: KeyboardInterrupt, and the buffer is flushed at exit (SIGTERM would lose it).
    cpython_select("cpython-buf", &["PYTHONUNBUFFERED"], &[], Signal::SIGINT);
}

/// docs/STRACE.md shows every tested line, with the ports of its traces (the server on the
/// Makefile's 5050, as `make strace-server` runs it; the client shown as 50001): change a
/// sequence here and the guide must change too.
#[test]
fn guide_shows_the_tested_sequences() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/STRACE.md"))
        .expect("read docs/STRACE.md")
        .replace("\\|", "|"); // a `|` inside a Markdown table cell
    let all: &[(&str, &[&str])] = &[
        ("SELECT_MODE", SELECT_MODE),
        ("MULTIPLEX_MODE", MULTIPLEX_MODE),
        ("TIMEOUT_MODE", TIMEOUT_MODE),
        ("BLOCKING_MODE", BLOCKING_MODE),
        ("CPYTHON_SELECT_UNBUFFERED", CPYTHON_SELECT_UNBUFFERED),
        ("CPYTHON_SELECT_BUFFERED", CPYTHON_SELECT_BUFFERED),
        ("RAW_SELECT", RAW_SELECT),
        ("POLL_BACKEND", POLL_BACKEND),
        ("EPOLL_SETUP", EPOLL_SETUP),
        ("EPOLL_BACKEND", EPOLL_BACKEND),
        ("CPYTHON_POLL_SELECTOR", CPYTHON_POLL_SELECTOR),
        ("CPYTHON_EPOLL_SELECTOR", CPYTHON_EPOLL_SELECTOR),
    ];
    for prefix in STARTUP {
        assert!(
            guide.contains(prefix),
            "docs/STRACE.md (section 2) does not show the start-up line {prefix}..."
        );
    }
    for (name, lines) in all {
        for line in expected(lines, makefile_first_port(), 50001) {
            // The failed accept4's buffer address is shown with a sample value.
            let line = line
                .replace("{MS}", "1000")
                .replace("{IDLE_MS}", "10000")
                .replace("ADDR", "0x7ffd3a0e1c10");
            // The clock-dependent part of a timeval line is shown with sample values.
            let shown = line.split("{TIMEOUT}").next().unwrap();
            assert!(
                guide.contains(shown),
                "docs/STRACE.md lacks this line of {name}:\n{shown}"
            );
        }
    }
}

/// The exit lines docs/STRACE.md section 2 describes: the `ioctl(2, TCGETS, ...)` that asks
/// whether stderr is a terminal comes after SIGINT only (a `^C` may have been echoed); after
/// SIGTERM the totals line is written without it. Both restore the default handlers.
#[test]
fn the_exit_asks_whether_stderr_is_a_terminal_after_sigint_only() {
    require_strace();
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let mut traced = TracedProcess::spawn("exit-lines", server_exe(), &["--ports", "0"], &[]);
        traced.wait_listening();
        traced.signal(sig);
        let (status, _, trace) = traced.finish();
        assert!(status.success(), "{sig}: {status}");
        let texts: Vec<&str> = trace.lines.iter().map(|l| l.text.as_str()).collect();
        let totals = texts
            .iter()
            .rposition(|t| t.starts_with("write(2, \"pyselect-server: ") && t.contains(" served, "))
            .unwrap_or_else(|| panic!("{sig}: no totals write in {texts:#?}"));
        let tcgets = texts.iter().position(|t| t.starts_with("ioctl(2, TCGETS"));
        match sig {
            Signal::SIGINT => assert!(
                tcgets.is_some_and(|i| i < totals),
                "{sig}: no ioctl(2, TCGETS) before the totals: {texts:#?}"
            ),
            _ => assert_eq!(tcgets, None, "{sig}: {texts:#?}"),
        }
        assert!(
            texts[totals..]
                .iter()
                .any(|t| t.starts_with("rt_sigaction(SIGINT, {sa_handler=SIG_DFL")),
            "{sig}: {texts:#?}"
        );
    }
}
