//! End-to-end tests of the `pyselect-server` binary, driven over loopback TCP.
//!
//! Every server runs on kernel-chosen ports (`--ports 0,0`) and is synchronised on its
//! `listening on` line and on its output lines, never on sleeps. Each test asserts the exact
//! lines the seed's Python servers print for the same clients, the replies, the exit status and
//! the totals line.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::socket::{send, MsgFlags};

use testkit::proc::waiting_syscalls;
use testkit::server::{
    connect, hold_port, message_line, parse_totals, py_addr, read_some, run_to_exit, transact_from,
    welcome, ServerProcess, Totals,
};
use testkit::strace::{self, Trace};
use testkit::TempPath;

/// `pyselect-server: 2 served, ...`: the totals line, parsed, or a panic showing `line`.
fn totals(line: &str) -> Totals {
    parse_totals(line).unwrap_or_else(|| panic!("not a totals line: {line:?}"))
}

fn assert_loopback_v4(server: &ServerProcess, n: usize) {
    let addrs = &server.listening.addrs;
    assert_eq!(addrs.len(), n, "listening line: {}", server.listening.line);
    for a in addrs {
        assert_eq!(a.ip().to_string(), "127.0.0.1", "{}", server.listening.line);
        assert_ne!(
            a.port(),
            0,
            "the real port, not 0: {}",
            server.listening.line
        );
    }
}

/// The syscall an idle server of `mode` sleeps in, where this test knows it for sure.
fn idle_syscall(mode: &str, raw_select: bool) -> Option<i64> {
    match (mode, raw_select) {
        #[cfg(target_arch = "x86_64")]
        ("select" | "multiplex", true) => Some(libc::SYS_select),
        ("select" | "multiplex", false) => Some(libc::SYS_pselect6),
        ("blocking", _) => Some(libc::SYS_accept4),
        _ => None,
    }
}

/// One client per port, one after the other (as the seed's two client scripts), against a
/// `--count 2` server in `mode`; checks replies, stdout, exit status and stderr.
fn serve_seed_clients(mode: &str, extra: &[&str]) {
    let mut args = vec!["--mode", mode, "--ports", "0,0", "--count", "2"];
    args.extend_from_slice(extra);
    let mut server = ServerProcess::start(&args);
    assert_eq!(server.listening.mode, mode);
    assert_loopback_v4(&server, 2);
    assert_ne!(server.port(0), server.port(1));

    let raw_select = extra.contains(&"select");
    if let Some(nr) = idle_syscall(mode, raw_select) {
        assert_eq!(
            server.wait_blocked(&waiting_syscalls()),
            nr,
            "{mode} mode (raw select: {raw_select}) waits in syscall {nr}"
        );
    }

    let (c1, r1) = transact_from(server.addr(0), b"hi");
    assert_eq!(
        r1,
        welcome(server.port(0)),
        "{}",
        String::from_utf8_lossy(&r1)
    );
    let (c2, r2) = transact_from(server.addr(1), b"hi");
    assert_eq!(
        r2,
        welcome(server.port(1)),
        "{}",
        String::from_utf8_lossy(&r2)
    );

    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "--count 2 ends with exit 0");

    let out = server.stdout_all().to_vec();
    if mode == "timeout" {
        assert_timeout_lines(&out, &[(1, c1), (2, c2)]);
    } else {
        assert_eq!(
            out,
            [
                "hello socket1".to_string(),
                message_line(&c1),
                "hello socket2".to_string(),
                message_line(&c2),
            ],
            "{mode} mode prints the seed's select-server lines"
        );
    }

    let err = server.stderr_all();
    assert_eq!(err.len(), 2, "listening line and totals only: {err:?}");
    assert_eq!(totals(&err[1]), Totals::served(2));
}

/// Timeout mode: `hello socket1` / `hello socket2` alternate from the start, each client's
/// message line comes right after the `hello socketN` of its port, in client order, and the
/// server stops right after the last client (`--count`).
fn assert_timeout_lines(out: &[String], clients: &[(usize, SocketAddr)]) {
    let mut expected_hello = 1;
    let mut next_client = 0;
    for (i, line) in out.iter().enumerate() {
        if let Some(n) = line.strip_prefix("hello socket") {
            assert_eq!(
                n,
                expected_hello.to_string(),
                "hello lines alternate; line {i} of {out:?}"
            );
            expected_hello = 3 - expected_hello;
            continue;
        }
        let (number, peer) = clients
            .get(next_client)
            .unwrap_or_else(|| panic!("unexpected line {i}: {line:?} in {out:?}"));
        assert_eq!(line, &message_line(peer), "line {i} of {out:?}");
        assert!(i > 0, "a message line needs its hello line first: {out:?}");
        assert_eq!(
            out[i - 1],
            format!("hello socket{number}"),
            "the message comes right after its port's hello: {out:?}"
        );
        next_client += 1;
    }
    assert_eq!(next_client, clients.len(), "every client's line: {out:?}");
    assert_eq!(
        out.last(),
        Some(&message_line(&clients[clients.len() - 1].1)),
        "--count stops right after the last client: {out:?}"
    );
}

#[test]
fn blocking_mode_serves_the_seed_first_server_on_the_first_port_only() {
    // The second port is held by a listener of ours (no SO_REUSEADDR): a server that tried to
    // bind it would fail with EADDRINUSE, so starting at all shows it opens the first port only.
    let (_held, held_port) = hold_port();
    let ports = format!("0,{held_port}");
    let mut server =
        ServerProcess::start(&["--mode", "blocking", "--ports", &ports, "--count", "2"]);
    assert_eq!(server.listening.mode, "blocking");
    assert_loopback_v4(&server, 1);
    assert_eq!(
        server.wait_blocked(&waiting_syscalls()),
        libc::SYS_accept4,
        "the first server waits in accept()"
    );

    let (c1, r1) = transact_from(server.addr(0), b"hi");
    assert_eq!(r1, b"welcome!");
    let (c2, r2) = transact_from(server.addr(0), b"hi");
    assert_eq!(r2, b"welcome!");

    assert_eq!(server.wait_exit().code(), Some(0));
    assert_eq!(
        server.stdout_all(),
        [
            "hi".to_string(),
            message_line(&c1),
            "hi".to_string(),
            message_line(&c2),
        ]
    );
    let err = server.stderr_all();
    assert_eq!(err.len(), 2, "{err:?}");
    assert_eq!(totals(&err[1]), Totals::served(2));
}

#[test]
fn timeout_mode_polls_both_ports_and_serves_one_client_on_each() {
    serve_seed_clients("timeout", &[]);
}

#[test]
fn select_mode_prints_exactly_the_seed_lines() {
    serve_seed_clients("select", &[]);
}

#[test]
fn multiplex_mode_prints_exactly_the_seed_lines() {
    serve_seed_clients("multiplex", &[]);
}

#[test]
fn multiplex_is_the_default_mode() {
    let server = ServerProcess::start(&["--ports", "0,0"]);
    assert_eq!(server.listening.mode, "multiplex");
    assert_loopback_v4(&server, 2);
}

/// A server started with SIGINT ignored (as a background job of a script is) still stops on
/// `kill -INT`, with its totals: it installs its handler whatever it inherited. CPython, for
/// the seed's servers, leaves an inherited SIG_IGN alone (shown here with the same start).
#[test]
fn a_server_started_with_sigint_ignored_still_stops_on_sigint() {
    // `trap '' INT` sets SIG_IGN, which exec keeps.
    let ignoring = |program: &str| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' INT; exec \"$0\" \"$@\"", program]);
        cmd
    };
    let mut py = ignoring("python3");
    py.args([
        "-I",
        "-c",
        "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)",
    ]);
    let out = testkit::child::run(py, "");
    assert_eq!(out.stdout, "True\n", "{out:?}");

    let mut cmd = ignoring(testkit::server_exe());
    cmd.args(["--ports", "0", "--quiet"]);
    let mut server = ServerProcess::start_command(cmd);
    server.signal(Signal::SIGINT);
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{:?}", server.stderr_all());
    let stderr = server.stderr_all();
    assert_eq!(
        totals(stderr.last().expect("a totals line")),
        Totals::served(0)
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn raw_select_syscall_in_select_mode_gives_the_same_output() {
    serve_seed_clients("select", &["--syscall", "select"]);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn raw_select_syscall_in_multiplex_mode_gives_the_same_output() {
    serve_seed_clients("multiplex", &["--syscall", "select"]);
}

#[test]
fn ipv6_loopback_message_line_shows_the_four_tuple() {
    if let Err(e) = TcpListener::bind("[::1]:0") {
        eprintln!("NOTE: skipping the IPv6 test: this machine has no IPv6 loopback ({e})");
        return;
    }
    for mode in ["multiplex", "select", "blocking"] {
        let mut server = ServerProcess::start(&[
            "--host", "::1", "--mode", mode, "--ports", "0,0", "--count", "1",
        ]);
        let port = server.port(0);
        assert_eq!(
            server.listening.line,
            if mode == "blocking" {
                format!("pyselect-server: listening on [::1]:{port} (blocking mode)")
            } else {
                format!(
                    "pyselect-server: listening on [::1]:{port} [::1]:{} ({mode} mode)",
                    server.port(1)
                )
            }
        );
        let (client, reply) = transact_from(server.addr(0), b"hi");
        let expected_reply = if mode == "blocking" {
            b"welcome!".to_vec()
        } else {
            welcome(port)
        };
        assert_eq!(reply, expected_reply);
        assert_eq!(server.wait_exit().code(), Some(0));
        let line = format!("[('::1', {}, 0, 0)] message : b'hi'", client.port());
        assert_eq!(line, message_line(&client), "the helper agrees");
        let first = if mode == "blocking" {
            "hi"
        } else {
            "hello socket1"
        };
        assert_eq!(server.stdout_all(), [first.to_string(), line], "{mode}");
        assert_eq!(totals(&server.stderr_all()[1]), Totals::served(1));
    }
}

/// Serve one client (so the server's side of it sits in TIME_WAIT on the port), stop the
/// server with `sig` while it waits, check exit 0 and the totals, then start a second server on
/// the same ports at once: SO_REUSEADDR lets it listen.
fn stops_cleanly_on(mode: &str, sig: Signal) {
    let mut server = ServerProcess::start(&["--mode", mode, "--ports", "0,0"]);
    let (client, reply) = transact_from(server.addr(0), b"hi");
    let first_port_reply = if mode == "blocking" {
        b"welcome!".to_vec()
    } else {
        welcome(server.port(0))
    };
    assert_eq!(reply, first_port_reply);
    let message = message_line(&client);
    // Wait for the client's line, so the counts include it.
    let mut seen = Vec::new();
    loop {
        let line = server.next_stdout();
        if line == message {
            break;
        }
        seen.push(line);
        assert!(seen.len() < 10_000, "no message line in {seen:?}");
    }

    // The signal must land while the server sleeps in its wait, not in the instants before it.
    server.wait_blocked(&waiting_syscalls());
    server.signal(sig);
    assert_eq!(server.wait_exit().code(), Some(0), "{sig} ends with exit 0");
    let err = server.stderr_all().to_vec();
    assert_eq!(err.len(), 2, "listening line and totals: {err:?}");
    assert_eq!(totals(&err[1]), Totals::served(1), "{sig}: {err:?}");

    let ports: Vec<String> = server
        .listening
        .addrs
        .iter()
        .map(|a| a.port().to_string())
        .collect();
    let ports = ports.join(",");
    let again = ServerProcess::start(&["--mode", mode, "--ports", &ports]);
    assert_eq!(
        again.listening.addrs, server.listening.addrs,
        "the restarted server listens on the same ports"
    );
    let reply = transact_from(again.addr(0), b"hi").1;
    assert_eq!(reply, first_port_reply, "and serves");
}

#[test]
fn sigterm_in_select_mode_exits_0_with_totals_and_frees_the_ports() {
    stops_cleanly_on("select", Signal::SIGTERM);
}

#[test]
fn sigint_in_multiplex_mode_exits_0_with_totals_and_frees_the_ports() {
    stops_cleanly_on("multiplex", Signal::SIGINT);
}

#[test]
fn sigint_in_timeout_mode_exits_0_with_totals_and_frees_the_ports() {
    stops_cleanly_on("timeout", Signal::SIGINT);
}

#[test]
fn sigterm_in_blocking_mode_exits_0_with_totals_and_frees_the_port() {
    stops_cleanly_on("blocking", Signal::SIGTERM);
}

#[test]
fn sigterm_in_multiplex_mode_exits_0_with_totals_and_frees_the_ports() {
    stops_cleanly_on("multiplex", Signal::SIGTERM);
}

fn assert_one_line_failure(args: &[&str], code: i32) -> String {
    let run = run_to_exit(args);
    assert_eq!(run.status.code(), Some(code), "{args:?}: {run:?}");
    assert!(
        run.stdout.is_empty(),
        "{args:?}: nothing on stdout: {run:?}"
    );
    assert_eq!(run.stderr.len(), 1, "{args:?}: one line on stderr: {run:?}");
    let line = run.stderr[0].clone();
    assert!(line.starts_with("pyselect-server: "), "{args:?}: {line:?}");
    assert!(!line.contains("panicked"), "{args:?}: {line:?}");
    line
}

#[test]
fn port_in_use_exits_1_naming_the_address_and_errno_98() {
    let (_held, port) = hold_port();
    let expected = format!(
        "pyselect-server: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use"
    );
    let only = port.to_string();
    let second = format!("0,{port}");
    for args in [
        ["--mode", "select", "--ports", only.as_str()],
        ["--mode", "multiplex", "--ports", second.as_str()],
        ["--mode", "timeout", "--ports", second.as_str()],
        ["--mode", "blocking", "--ports", only.as_str()],
    ] {
        assert_eq!(assert_one_line_failure(&args, 1), expected, "{args:?}");
    }
}

#[test]
fn unassignable_address_exits_1_with_the_python_error() {
    // 192.0.2.1 (TEST-NET-1) is never a local address.
    assert_eq!(
        assert_one_line_failure(&["--host", "192.0.2.1", "--ports", "0"], 1),
        "pyselect-server: cannot listen on 192.0.2.1:0: [Errno 99] Cannot assign requested address"
    );
}

#[test]
fn bad_host_exits_1_with_pythons_gaierror() {
    // pyselect resolves no names (no DNS in a trace made to study select): as Python's
    // socket.gaierror for a name that does not resolve.
    assert_eq!(
        assert_one_line_failure(&["--host", "nosuch", "--ports", "0,0"], 1),
        "pyselect-server: cannot use host \"nosuch\": [Errno -2] Name or service not known \
         (give an IPv4 or IPv6 address, or localhost; no names are resolved)"
    );
}

#[test]
fn usage_errors_exit_2_with_the_reason_and_a_usage_line() {
    for (args, needle) in [
        (&["--mode", "nosuch"][..], "\"nosuch\""),
        (&["--ports", "70000"][..], "70000"),
        (&["--ports", "0,70000"][..], "70000"),
        (&["--ports", "5050,x"][..], "\"x\""),
        (&["--ports"][..], "--ports"),
        (&["--count", "0"][..], "--count"),
        (&["--idle-timeout", "-1"][..], "--idle-timeout"),
        (&["--syscall", "epoll"][..], "\"epoll\""),
        (&["--bogus"][..], "\"--bogus\""),
    ] {
        // The dialect both binaries share: one line, the reason, then where to read more.
        let run = run_to_exit(args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert_eq!(run.stderr.len(), 1, "{args:?}: {run:?}");
        assert!(run.stderr[0].starts_with("pyselect-server: "), "{run:?}");
        assert!(run.stderr[0].contains(needle), "{args:?}: {run:?}");
        assert!(
            run.stderr[0].ends_with(" (see pyselect-server --help)"),
            "{args:?}: {run:?}"
        );
    }
}

#[test]
fn help_exits_0_with_the_usage_on_stdout() {
    for flag in ["--help", "-h"] {
        let run = run_to_exit(&[flag]);
        assert_eq!(run.status.code(), Some(0), "{run:?}");
        assert!(run.stderr.is_empty(), "{run:?}");
        assert!(
            run.stdout[0]
                .starts_with("usage: pyselect-server [--host 127.0.0.1] [--ports 5050,5060]"),
            "{run:?}"
        );
        let text = run.stdout.join("\n");
        for word in [
            "multiplex",
            "select",
            "timeout",
            "blocking",
            "--count",
            "--idle-timeout",
            "--quiet",
            "--syscall",
        ] {
            assert!(text.contains(word), "{word} in {text}");
        }
    }
}

/// A multiplex client that sends `first` (with `first_flags`), then `second` (if any, plain),
/// and reads the reply with one `recv(1024)`, as the seed's client; the server (`--count 1`)
/// prints the urgent line before the message. Returns the client, for a look at what follows.
fn urgent_then_message(first: &[u8], first_flags: MsgFlags, second: &[u8]) -> TcpStream {
    let mut server = ServerProcess::start(&["--ports", "0,0", "--count", "1"]);
    let mut client = connect(server.addr(0));
    let local = client.local_addr().expect("getsockname");
    let n = send(client.as_raw_fd(), first, first_flags).expect("send");
    assert_eq!(n, first.len());
    if !second.is_empty() {
        client.write_all(second).expect("send");
    }
    // The reply is one sendto() of a few bytes: one read returns all of it.
    let mut buf = [0u8; 1024];
    let n = read_some(&mut client, &mut buf).expect("the reply");
    assert_eq!(buf[..n], welcome(server.port(0)));
    assert_eq!(server.wait_exit().code(), Some(0));
    assert_eq!(
        server.stdout_all(),
        [
            "hello socket1".to_string(),
            format!("[{}] urgent : b'!'", py_addr(&local)),
            message_line(&local),
        ]
    );
    assert_eq!(totals(&server.stderr_all()[1]), Totals::served(1));
    client
}

/// After the reply the server closes the connection: the client's next read is EOF.
fn assert_clean_close(mut client: TcpStream) {
    let mut buf = [0u8; 16];
    match read_some(&mut client, &mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("EOF expected after the reply, got {:?}", &buf[..n]),
        Err(e) => panic!("EOF expected after the reply, got {e}"),
    }
}

#[test]
fn multiplex_prints_urgent_byte_sent_with_the_message() {
    // b"hi" then the urgent b"!" in one send (Linux marks the last byte of a MSG_OOB send):
    // both arrive in one segment, so one select() reports the socket readable and exceptional,
    // and the except set is handled first.
    urgent_then_message(b"hi!", MsgFlags::MSG_OOB, b"");
}

#[test]
fn multiplex_closes_cleanly_after_urgent_data_sent_with_the_message() {
    // recv(1024) stops at the urgent mark after b"hi"; the byte recv(MSG_OOB) took still
    // occupies one sequence number, and Linux resets a socket closed with unread data. The
    // server reads past it (one MSG_DONTWAIT recv) before closing, so the client sees EOF.
    assert_clean_close(urgent_then_message(b"hi!", MsgFlags::MSG_OOB, b""));
}

#[test]
fn multiplex_prints_urgent_byte_sent_before_the_message() {
    // The urgent byte alone makes the socket exceptional but not readable; b"hi" follows.
    let client = urgent_then_message(b"!", MsgFlags::MSG_OOB, b"hi");
    // Here recv() starts at the urgent mark and steps over it: nothing is left unread.
    assert_clean_close(client);
}

#[test]
fn multiplex_closes_an_idle_client_and_serves_the_others() {
    let mut server = ServerProcess::start(&["--ports", "0,0", "--idle-timeout", "0.2"]);
    let started = Instant::now();
    let mut silent = connect(server.addr(0));
    let silent_addr = silent.local_addr().expect("getsockname");
    assert_eq!(server.next_stdout(), "hello socket1", "the silent client");

    let (c1, r1) = transact_from(server.addr(0), b"hi");
    assert_eq!(r1, welcome(server.port(0)));
    let (c2, r2) = transact_from(server.addr(1), b"hi");
    assert_eq!(r2, welcome(server.port(1)));

    let mut buf = [0u8; 16];
    let n = read_some(&mut silent, &mut buf)
        .expect("the server closes the idle client: EOF, not an error or a timeout");
    assert_eq!(n, 0, "EOF, got {:?}", &buf[..n]);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not closed before its idle timeout: {:?}",
        started.elapsed()
    );
    let idle_line = format!(
        "pyselect-server: [{}] closed: idle for 0.2 s",
        py_addr(&silent_addr)
    );
    server.wait_stderr(|l| l == idle_line);

    server.wait_blocked(&waiting_syscalls());
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0));
    assert_eq!(
        server.stdout_all(),
        [
            "hello socket1".to_string(),
            "hello socket1".to_string(),
            message_line(&c1),
            "hello socket2".to_string(),
            message_line(&c2),
        ]
    );
    let err = server.stderr_all();
    assert_eq!(err.len(), 3, "{err:?}");
    assert_eq!(err[1], idle_line);
    assert_eq!(
        totals(&err[2]),
        Totals {
            idle_closed: 1,
            ..Totals::served(2)
        }
    );
}

/// Needs `strace` (and ptrace allowed): without it the test fails, showing strace's error.
#[test]
fn each_output_line_is_a_single_write() {
    let trace = TempPath::new("server-e2e-writes.trace");
    let mut program = Command::new(testkit::server_exe());
    program.args(["--mode", "select", "--ports", "0,0", "--count", "1"]);
    let cmd = strace::command(&trace, "trace=write", &["-qq", "-s", "65536"], &program);
    let mut server = ServerProcess::start_command(cmd);
    let (client, reply) = transact_from(server.addr(0), b"hi");
    assert_eq!(reply, welcome(server.port(0)));
    assert_eq!(server.wait_exit().code(), Some(0));
    let text = trace.read();

    let writes: Vec<(i32, Vec<u8>, i64)> = Trace::parse(&text)
        .lines
        .iter()
        .filter(|l| l.name() == "write")
        .map(|l| {
            l.write()
                .unwrap_or_else(|| panic!("unparsed strace line {:?}", l.text))
        })
        .collect();
    let to = |fd: i32| -> Vec<String> {
        writes
            .iter()
            .filter(|w| w.0 == fd)
            .map(|(_, t, r)| {
                assert_eq!(*r, t.len() as i64, "a complete write: {t:?}");
                String::from_utf8(t.clone()).expect("utf-8")
            })
            .collect()
    };
    assert_eq!(
        to(1),
        [
            "hello socket1\n".to_string(),
            format!("{}\n", message_line(&client)),
        ],
        "one write per stdout line; trace:\n{text}"
    );
    let stderr_writes = to(2);
    let stderr_lines: Vec<String> = server
        .stderr_all()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        stderr_writes, stderr_lines,
        "one write per stderr line; trace:\n{text}"
    );
    assert_eq!(writes.len(), 4, "no other writes; trace:\n{text}");
}
