//! `pyselect-server` against the attacks of a hostile first run (issue 12): a stdout or stderr
//! nobody reads, SIGTERM while a write is blocked, urgent bytes as keep-alive, messages longer
//! than 1024 bytes, more listeners than an `fd_set` holds, connection bursts, bracketed IPv6
//! hosts and names, `--version`, and the totals line after Ctrl-C on a terminal.
//!
//! Each test runs the real binary on ephemeral loopback ports, under the one process guard
//! (`testkit::child::ChildGuard`, through `testkit::server::ServerProcess` where the server's
//! stderr is piped to the test). Where the server's stdout or stderr must be a pipe the test
//! controls (filled, unread) or a terminal, `testkit::child::Setup` chooses that stream. Every
//! wait is bounded by `testkit::LIMIT`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::Signal;
use testkit::child::{ChildGuard, Lines, Setup};
use testkit::fd::{is_nonblocking, one_page_pipe};
use testkit::server::{
    client, connect, find_totals, parse_listening, read_to_end, server, set_linger_zero, transact,
    welcome, ServerProcess, Totals,
};
use testkit::{client_exe, serial, server_exe, LIMIT};

// ---------------------------------------------------------------------------------------------
// A server whose stdout or stderr is the test's own pipe or terminal
// ---------------------------------------------------------------------------------------------

/// A pipe whose buffer (shrunk to one page) is full: the next blocking write to it waits until
/// somebody reads. Returns (read end, write end); the write end is blocking again.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = one_page_pipe();
    fcntl(&w, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    let chunk = [b'.'; 512];
    // Bounded: a 4 KiB pipe takes at most 8 chunks.
    for _ in 0..64 {
        match nix::unistd::write(&w, &chunk) {
            Ok(_) => continue,
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    fcntl(&w, FcntlArg::F_SETFL(OFlag::empty())).expect("clear O_NONBLOCK");
    (r, w)
}

/// `(totals, dropped lines)` from the totals line, which may end with
/// `; N output lines dropped (...)`.
fn totals_and_dropped(stderr: &[String]) -> (Totals, u64) {
    let line = stderr
        .iter()
        .rev()
        .find(|l| l.contains(" served, "))
        .unwrap_or_else(|| panic!("no totals line in {stderr:?}"));
    let (head, dropped) = match line.split_once("; ") {
        Some((head, tail)) => {
            let n = tail
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .expect("dropped count");
            assert!(tail.contains("output lines dropped"), "{line}");
            (head.to_string(), n)
        }
        None => (line.clone(), 0),
    };
    (find_totals(&[head]).expect("totals line"), dropped)
}

// ---------------------------------------------------------------------------------------------
// Item 1: an unread stdout or stderr, and SIGTERM while a write is blocked
// ---------------------------------------------------------------------------------------------

/// On every backend (the stdout fd waits in the readiness call's write interest).
#[test]
fn multiplex_serves_a_load_while_nobody_reads_its_stdout() {
    for backend in ["select", "poll", "epoll"] {
        serves_a_load_while_nobody_reads_its_stdout(backend);
    }
}

fn serves_a_load_while_nobody_reads_its_stdout(backend: &str) {
    let _serial = serial();
    let (_r, w) = full_pipe();
    let ours = w.try_clone().expect("dup");
    let mut srv = ServerProcess::start_with(
        &["--ports", "0,0", "--backend", backend],
        Setup::default().stdout(w),
    );
    // The server's stdout is now its own non-blocking description of the pipe; the one this
    // test (the "shell") shares stays blocking.
    assert!(
        !is_nonblocking(ours.as_raw_fd()),
        "O_NONBLOCK leaked to the shared pipe"
    );
    let port = srv.port(0).to_string();
    // 1,500 connections print ~3,000 lines, far more than the pipe and the 64 KiB queue hold.
    let out = client(&[
        "--port",
        &port,
        "--connections",
        "1500",
        "--concurrency",
        "20",
        "--timeout",
        "20",
    ])
    .run_to_exit();
    assert!(
        out.status.success(),
        "clients waited on the server's stdout: {:?} {:?}",
        out.stdout,
        out.stderr
    );
    srv.signal(Signal::SIGTERM);
    assert!(srv.wait_exit().success());
    let err = srv.stderr_all();
    let (totals, dropped) = totals_and_dropped(&err);
    assert_eq!(totals, Totals::served(1500), "{backend}: {err:?}");
    assert!(dropped > 0, "{backend}: no line reported dropped: {err:?}");
}

#[test]
fn multiplex_serves_while_nobody_reads_its_stderr() {
    let _serial = serial();
    let (r, w) = full_pipe();
    let mut cmd = Command::new(server_exe());
    cmd.args(["--ports", "0,0"]);
    let setup = Setup::default().stdout(Stdio::null()).stderr(w);
    let mut srv = ChildGuard::spawn_with(&mut cmd, "pyselect-server", setup);
    // The listening line waits in the server's queue behind the test's filler: take the
    // filler, then the line.
    let mut r = std::fs::File::from(r);
    let mut filler = vec![0u8; 4096];
    r.read_exact(&mut filler).expect("read the filler");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        r.read_exact(&mut byte).expect("the listening line");
        line.push(byte[0]);
    }
    let listening = parse_listening(String::from_utf8_lossy(&line).trim_end()).unwrap();
    let addr = listening.addrs[0];
    // Then nobody reads: 1,500 resets make ~1,500 error lines (~100 KiB) on stderr.
    for _ in 0..1500 {
        let s = TcpStream::connect(addr).expect("connect");
        set_linger_zero(&s);
    }
    assert_eq!(transact(addr.port()), welcome(addr.port()));
    // Read again, then stop: the queue flushes, the totals line follows.
    let rest = Lines::read(r);
    srv.signal(Signal::SIGTERM);
    assert!(srv.wait_exit().success());
    assert!(
        rest.wait_eof(Instant::now() + LIMIT),
        "stderr not at EOF; lines so far: {:?}",
        rest.lines()
    );
    let err = rest.lines();
    let (totals, dropped) = totals_and_dropped(&err);
    assert_eq!(totals.served, 1, "{err:?}");
    assert!(
        dropped > 0,
        "no line reported dropped: {:?}",
        &err[err.len() - 1..]
    );
}

/// In every serial mode, a server blocked writing a line to a full stdout ends on SIGTERM.
#[test]
fn sigterm_ends_a_server_blocked_writing_to_stdout() {
    let _serial = serial();
    for mode in ["select", "timeout", "blocking"] {
        let (_r, w) = full_pipe();
        let mut srv = ServerProcess::start_with(
            &["--ports", "0,0", "--mode", mode],
            Setup::default().stdout(w),
        );
        // select and blocking modes print after a client arrives; timeout mode at once.
        let _client = (mode != "timeout").then(|| {
            let mut s = connect(srv.addr(0));
            s.write_all(b"hi").expect("send");
            s
        });
        srv.wait_blocked(&[libc::SYS_write]);
        srv.signal(Signal::SIGTERM);
        let status = srv.wait_exit();
        assert!(status.success(), "{mode}: {status:?}");
        let err = srv.stderr_all();
        assert!(find_totals(&err).is_some(), "{mode}: {err:?}");
    }
}

/// A terminal is never switched to non-blocking: the shell shares it.
#[test]
fn multiplex_leaves_a_terminal_blocking() {
    let _serial = serial();
    let (_master, slave) = open_pty();
    let ours = slave.try_clone().expect("dup");
    let mut srv = ServerProcess::start_with(&["--ports", "0"], Setup::default().stdout(slave));
    assert!(
        !is_nonblocking(ours.as_raw_fd()),
        "the terminal became non-blocking"
    );
    srv.signal(Signal::SIGTERM);
    assert!(srv.wait_exit().success());
}

/// A socket given as stdout (the parent's end of a socketpair, say) is written without
/// blocking through `send(MSG_DONTWAIT)`, never by setting `O_NONBLOCK` on the description
/// the parent shares: while the server runs and after it exits, the parent's end stays
/// blocking, on every backend and in every mode, and the lines still arrive.
#[test]
fn a_socket_as_stdout_keeps_its_blocking_description() {
    let _serial = serial();
    let runs = [
        &["--backend", "select"][..],
        &["--backend", "poll"],
        &["--backend", "epoll"],
        &["--mode", "select"],
    ];
    for args in runs {
        let (ours, mut reader) = testkit::fd::socketpair();
        reader.set_read_timeout(Some(LIMIT)).expect("SO_RCVTIMEO");
        let stdout = OwnedFd::from(ours.try_clone().expect("dup"));
        let mut all = vec!["--ports", "0"];
        all.extend(args);
        let mut srv = ServerProcess::start_with(&all, Setup::default().stdout(stdout));
        assert_eq!(transact(srv.port(0)), welcome(srv.port(0)), "{args:?}");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains("message : b'hi'") {
            let n = reader.read(&mut buf).expect("the server's lines");
            assert!(n > 0, "{args:?}: stdout closed early: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(!is_nonblocking(ours.as_raw_fd()), "{args:?}: while running");
        srv.signal(Signal::SIGTERM);
        assert!(
            srv.wait_exit().success(),
            "{args:?}: {:?}",
            srv.stderr_all()
        );
        assert!(
            !is_nonblocking(ours.as_raw_fd()),
            "{args:?}: after the exit"
        );
    }
}

/// Stdout on a full device (`/dev/full`): in every mode the server names the errno once on
/// stderr, counts the lines it lost in the totals line, and exits 1.
#[test]
fn a_full_device_as_stdout_is_named_counted_and_fails_the_exit() {
    let _serial = serial();
    for mode in ["multiplex", "select", "timeout", "blocking"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut srv = ServerProcess::start_with(
            &["--ports", "0,0", "--mode", mode],
            Setup::default().stdout(full),
        );
        // The reply follows the message line: both lines were written (and lost) by then.
        let reply = if mode == "blocking" {
            b"welcome!".to_vec()
        } else {
            welcome(srv.port(0))
        };
        assert_eq!(transact(srv.port(0)), reply, "{mode}");
        srv.signal(Signal::SIGTERM);
        let status = srv.wait_exit();
        let err = srv.stderr_all();
        assert_eq!(status.code(), Some(1), "{mode}: {err:?}");
        let named = err
            .iter()
            .filter(|l| {
                l.as_str()
                    == "pyselect-server: cannot write to stdout: OSError: [Errno 28] No space \
                        left on device; its lines are lost and counted"
            })
            .count();
        assert_eq!(named, 1, "{mode}: {err:?}");
        let totals = err.last().expect("a totals line");
        let (head, tail) = totals.split_once("; ").expect("a lost count");
        assert_eq!(
            find_totals(&[head.to_string()]),
            Some(Totals::served(1)),
            "{mode}"
        );
        let lost: u64 = tail
            .strip_suffix(" output lines lost (a write failed)")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{mode}: {totals}"));
        // hello (select, timeout, multiplex: at least one) or hi (blocking), and the message.
        assert!(lost >= 2, "{mode}: {totals}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 2: urgent bytes are not activity
// ---------------------------------------------------------------------------------------------

/// On every backend (the except set, POLLPRI, EPOLLPRI).
#[test]
fn urgent_bytes_do_not_keep_an_idle_client_open() {
    for backend in ["select", "poll", "epoll"] {
        urgent_bytes_do_not_keep_an_idle_client_open_on(backend);
    }
}

fn urgent_bytes_do_not_keep_an_idle_client_open_on(backend: &str) {
    let mut srv =
        ServerProcess::start(&["--ports", "0", "--idle-timeout", "1", "--backend", backend]);
    let s = connect(srv.addr(0));
    let started = Instant::now();
    // One urgent byte every 0.3 s (the attack's pace), never a message: closed after ~1 s.
    // Bounded: 40 bytes are 12 s, far past the idle timeout.
    let mut closed = false;
    for _ in 0..40 {
        let sent = nix::sys::socket::send(s.as_raw_fd(), b"!", nix::sys::socket::MsgFlags::MSG_OOB);
        if sent.is_err() {
            closed = true; // reset by the server's close
            break;
        }
        let mut fds = [nix::poll::PollFd::new(
            s.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(300u16)).unwrap();
        if ready > 0 {
            closed = true; // EOF or reset: the server closed it
            break;
        }
    }
    assert!(
        closed,
        "{backend}: a client sending only urgent bytes stayed open {:?}",
        started.elapsed()
    );
    srv.wait_stderr(|l| l.ends_with("closed: idle for 1.0 s"));
}

// ---------------------------------------------------------------------------------------------
// Item 3: messages longer than 1024 bytes
// ---------------------------------------------------------------------------------------------

/// On every backend: while the rest of the message drains, the client stays watched for
/// reading.
#[test]
fn multiplex_replies_to_messages_longer_than_1024_bytes() {
    for backend in ["select", "poll", "epoll"] {
        replies_to_messages_longer_than_1024_bytes(backend);
    }
}

fn replies_to_messages_longer_than_1024_bytes(backend: &str) {
    let _serial = serial();
    let mut srv = ServerProcess::start(&["--ports", "0,0", "--quiet", "--backend", backend]);
    let idle_fds = srv.fd_count();
    let message = "x".repeat(1500);
    let port = srv.port(0).to_string();
    let out = client(&[
        "--port",
        &port,
        "--message",
        &message,
        "--connections",
        "200",
        "--concurrency",
        "10",
    ])
    .run_to_exit();
    assert!(out.status.success(), "{:?} {:?}", out.stdout, out.stderr);
    assert!(
        out.stdout[0].starts_with("transactions=200 errors=0 "),
        "{:?}",
        out.stdout
    );
    // A long message's connection is counted once the client's close is read, which may come
    // after the client has exited: stop the server only when it holds no client any more.
    assert!(
        testkit::wait_until(LIMIT, || srv.fd_count() == idle_fds),
        "{backend}: the server still holds {} client fds",
        srv.fd_count().saturating_sub(idle_fds)
    );
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
    assert_eq!(
        find_totals(&srv.stderr_all()),
        Some(Totals::served(200)),
        "{backend}"
    );
}

/// The drain is bounded: a client that streams without end is cut off after 64 KiB past its
/// message, and counted as an error.
#[test]
fn multiplex_drains_at_most_64_kib_after_a_long_message() {
    let mut srv = ServerProcess::start(&["--ports", "0", "--quiet"]);
    let mut s = connect(srv.addr(0));
    let writer = {
        let mut s = s.try_clone().expect("dup");
        std::thread::spawn(move || {
            // Far more than the drain bound, and twice what loopback's socket buffers can
            // take fully grown (Linux autotunes them up to the tcp_rmem/tcp_wmem maximums), so
            // only a server that kept reading would take it all; the server's close ends it
            // with a reset.
            let chunk = [b'z'; 64 * 1024];
            for _ in 0..(2 * socket_buffers_max()).div_ceil(chunk.len()) {
                if s.write_all(&chunk).is_err() {
                    return true;
                }
            }
            false
        })
    };
    let _ = read_to_end(&mut s);
    let line = srv.wait_stderr(|l| l.contains("bytes past the first 1024 with more unread"));
    assert!(writer.join().unwrap(), "the server read everything");
    // The server's own verdict, not a failed call: no Python exception names it.
    let discarded = line
        .strip_prefix(&format!(
            "pyselect-server: {} closed after discarding ",
            peer(&s)
        ))
        .and_then(|rest| {
            rest.strip_suffix(
                " bytes past the first 1024 with more unread: the kernel reset the connection",
            )
        })
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(
        discarded.parse::<usize>().is_ok_and(|n| n > 64 * 1024),
        "{line:?}"
    );
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
    let totals = find_totals(&srv.stderr_all()).expect("totals");
    assert_eq!((totals.served, totals.errors), (0, 1));
}

/// A message of more than 64 KiB past its first 1024 bytes, then a half-close: the client gets
/// its reply and a clean EOF, and the server counts it served, on every backend (no line
/// claims a reset that never happened).
#[test]
fn multiplex_serves_a_message_past_the_drain_bound_followed_by_a_half_close() {
    for backend in ["select", "poll", "epoll"] {
        let mut srv = ServerProcess::start(&["--ports", "0", "--quiet", "--backend", backend]);
        let idle_fds = srv.fd_count();
        // The bound itself, and one byte past it (the case: the read that passes the
        // bound takes the last byte, and the EOF comes next).
        for extra in [64 * 1024, 64 * 1024 + 1] {
            let mut s = connect(srv.addr(0));
            s.write_all(&vec![b'x'; 1024 + extra]).expect("send");
            s.shutdown(std::net::Shutdown::Write).expect("half-close");
            let (reply, end) = read_to_end(&mut s);
            assert_eq!(
                (reply, end),
                (welcome(srv.port(0)), testkit::server::End::Eof),
                "{backend}, {extra}"
            );
            // The reply and EOF come before the server reads the rest: wait for its close.
            assert!(testkit::wait_until(LIMIT, || srv.fd_count() == idle_fds));
        }
        srv.signal(Signal::SIGTERM);
        srv.wait_exit();
        let stderr = srv.stderr_all();
        assert_eq!(
            find_totals(&stderr),
            Some(Totals::served(2)),
            "{backend}: {stderr:?}"
        );
        assert!(!stderr.iter().any(|l| l.contains("reset")), "{stderr:?}");
    }
}

/// How the server names this connection's peer: `[('127.0.0.1', 40000)]`.
fn peer(s: &std::net::TcpStream) -> String {
    let local = s.local_addr().expect("getsockname");
    format!("[('{}', {})]", local.ip(), local.port())
}

/// The most a loopback connection's two socket buffers can hold: the maximums of
/// `net.ipv4.tcp_rmem` and `tcp_wmem` (32 MiB + 4 MiB on a stock kernel; 64 MiB if unreadable).
fn socket_buffers_max() -> usize {
    let max = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()
            .and_then(|t| {
                t.split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<usize>().ok())
            })
    };
    match (max("tcp_rmem"), max("tcp_wmem")) {
        (Some(r), Some(w)) => r + w,
        _ => 64 << 20,
    }
}

/// The serial modes keep the seed's one recv(1024), and its reset; they do not call the
/// connection served.
#[test]
fn serial_modes_count_a_reset_by_unread_bytes_as_an_error() {
    for mode in ["select", "timeout", "blocking"] {
        let mut srv = ServerProcess::start(&["--ports", "0", "--mode", mode]);
        let mut s = connect(srv.addr(0));
        s.write_all(&[b'x'; 1500]).expect("send");
        let _ = read_to_end(&mut s);
        let line = srv.wait_stderr(|l| l.contains("unread"));
        // The server's own verdict, not a failed call: no Python exception names it.
        assert_eq!(
            line,
            format!(
                "pyselect-server: {} closed with bytes past the first 1024 unread: the kernel \
                 reset the connection",
                peer(&s)
            ),
            "{mode}"
        );
        srv.signal(Signal::SIGTERM);
        srv.wait_exit();
        let totals = find_totals(&srv.stderr_all()).expect("totals");
        assert_eq!((totals.served, totals.errors), (0, 1), "{mode}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 4: listeners and FD_SETSIZE
// ---------------------------------------------------------------------------------------------

fn zeros(n: usize) -> String {
    vec!["0"; n].join(",")
}

#[test]
fn select_modes_refuse_more_listeners_than_an_fd_set_holds() {
    let ports = zeros(1100);
    // The refusal names the remedy that lifts the limit, not only fewer ports.
    for (mode, remedy) in [
        (
            "select",
            "use fewer ports, or --mode multiplex --backend poll|epoll",
        ),
        ("multiplex", "use fewer ports, or --backend poll|epoll"),
    ] {
        let out = server(&["--mode", mode, "--ports", &ports]).run_to_exit();
        assert_eq!(out.status.code(), Some(2), "{mode}: {:?}", out.stderr);
        assert_eq!(out.stderr.len(), 1, "{mode}: {:?}", out.stderr);
        let line = &out.stderr[0];
        assert!(
            line.contains("FD_SETSIZE (1024)") && line.ends_with(remedy),
            "{line}"
        );
        assert!(!line.contains("listening"), "{line}");
    }
}

#[test]
fn select_modes_warn_when_few_fds_remain_for_clients() {
    let _serial = serial();
    let ports = zeros(990);
    let mut srv = server(&["--mode", "select", "--ports", &ports]).listening();
    let err = srv.stderr_all();
    // fds 3..=992 are the listeners, at best: 1024 - 993 = 31 remain (fewer when the test
    // harness leaked fds into the server).
    let left: usize = err[0]
        .strip_prefix("pyselect-server: only ")
        .and_then(|r| {
            r.strip_suffix(
                " fds below FD_SETSIZE (1024) remain for clients after 990 listeners; use fewer \
             ports, or --mode multiplex --backend poll|epoll",
            )
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no warning: {err:?}"));
    assert!(left <= 31, "{}", err[0]);
    assert!(err[1].contains("listening on"), "{err:?}");
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
}

// ---------------------------------------------------------------------------------------------
// Item 5: bursts
// ---------------------------------------------------------------------------------------------

/// Connections that queued while the server was stopped are all accepted in one round: every
/// `hello` comes before the first message line.
#[test]
fn multiplex_accepts_every_queued_connection_in_one_round() {
    let srv = ServerProcess::start(&["--ports", "0"]);
    srv.signal(Signal::SIGSTOP);
    let clients: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect(srv.addr(0));
            s.write_all(b"hi").expect("send");
            s
        })
        .collect();
    srv.signal(Signal::SIGCONT);
    assert!(srv.wait_stdout_count("message", 10));
    let out = srv.stdout_all();
    assert!(
        out[..10].iter().all(|l| l == "hello socket1"),
        "accepted one per round: {out:?}"
    );
    drop(clients);
}

#[test]
fn a_burst_of_5000_connections_with_a_larger_backlog_has_no_errors() {
    let _serial = serial();
    let mut srv = server(&["--quiet", "--backlog", "1024"]).listening();
    let port = srv.port(0).to_string();
    let out = client(&[
        "--port",
        &port,
        "--connections",
        "5000",
        "--concurrency",
        "500",
    ])
    .run_to_exit();
    assert!(out.status.success(), "{:?} {:?}", out.stdout, out.stderr);
    assert!(
        out.stdout[0].starts_with("transactions=5000 errors=0 "),
        "{:?}",
        out.stdout
    );
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
}

// ---------------------------------------------------------------------------------------------
// Item 6: one host rule
// ---------------------------------------------------------------------------------------------

#[test]
fn both_binaries_take_a_bracketed_ipv6_host() {
    let mut srv = ServerProcess::start(&["--host", "[::1]", "--ports", "0"]);
    let addr = srv.addr(0);
    assert_eq!(addr.ip().to_string(), "::1");
    let port = addr.port().to_string();
    let out = client(&["--host", "[::1]", "--port", &port]).run_to_exit();
    assert!(out.status.success(), "{:?}", out.stderr);
    assert_eq!(
        out.stdout,
        [format!("resp from server : b'welcome {port}!'")]
    );
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
}

#[test]
fn both_binaries_say_plainly_that_no_names_are_resolved() {
    let srv = server(&["--host", "example.invalid", "--ports", "0"]).run_to_exit();
    let cli = client(&["--host", "example.invalid", "--port", "9"]).run_to_exit();
    let rule = "cannot use host \"example.invalid\": [Errno -2] Name or service not known \
                (give an IPv4 or IPv6 address, or localhost; no names are resolved)";
    assert_eq!(srv.stderr, [format!("pyselect-server: {rule}")]);
    assert_eq!(cli.stderr, [format!("pyselect-client: {rule}")]);
    assert!(!srv.status.success() && !cli.status.success());
    for program in [server_exe(), client_exe()] {
        let help =
            ChildGuard::spawn(Command::new(program).arg("--help"), program).output_raw(LIMIT);
        let help = String::from_utf8(help.stdout).unwrap();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains("bare or in brackets") && help.contains("no other names are resolved"),
            "{program}: {help}"
        );
    }
}

#[test]
fn localhost_is_127_0_0_1_for_both_binaries() {
    let mut srv = ServerProcess::start(&["--host", "localhost", "--ports", "0"]);
    assert_eq!(srv.addr(0).ip().to_string(), "127.0.0.1");
    let port = srv.port(0).to_string();
    let out = client(&["--host", "localhost", "--port", &port]).run_to_exit();
    assert!(out.status.success(), "{:?}", out.stderr);
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
}

// ---------------------------------------------------------------------------------------------
// Item 12: --version, and the totals line after ^C on a terminal
// ---------------------------------------------------------------------------------------------

#[test]
fn both_binaries_print_their_version() {
    for (program, name) in [
        (server_exe(), "pyselect-server"),
        (client_exe(), "pyselect-client"),
    ] {
        for flag in ["--version", "-V"] {
            let out = ChildGuard::spawn(Command::new(program).arg(flag), program).output_raw(LIMIT);
            assert!(out.status.success());
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
            );
        }
    }
}

/// `--help` and `--version` on a stdout that refuses them (`/dev/full`): the text was not
/// shown, so both binaries exit 1, as for any other output they could not write.
#[test]
fn both_binaries_fail_when_stdout_refuses_the_help_or_version() {
    for program in [server_exe(), client_exe()] {
        for flag in ["--help", "--version"] {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full");
            let setup = Setup::default().stdout(full).stderr(Stdio::null());
            let mut child = ChildGuard::spawn_with(Command::new(program).arg(flag), program, setup);
            assert_eq!(child.wait_exit().code(), Some(1), "{program} {flag}");
        }
    }
}

/// A pseudo-terminal: (master, slave).
fn open_pty() -> (OwnedFd, OwnedFd) {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt returns a new fd or -1; it is owned by `master` alone.
    let raw = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(
        raw >= 0,
        "posix_openpt: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `raw` is a fresh fd nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: grantpt/unlockpt take the master fd; ptsname_r writes a NUL-terminated name
    // of at most `name.len()` bytes into the live buffer.
    unsafe {
        assert_eq!(libc::grantpt(raw), 0);
        assert_eq!(libc::unlockpt(raw), 0);
        assert_eq!(libc::ptsname_r(raw, name.as_mut_ptr(), name.len()), 0);
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated string.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path.to_str().unwrap())
        .expect("open the pty slave");
    (master, OwnedFd::from(slave))
}

/// Read the terminal until `want` shows (or the server is gone: EIO at the master); each
/// read waits at most [`LIMIT`].
fn read_until(term: &mut std::fs::File, shown: &mut Vec<u8>, want: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(shown).contains(want) {
        let mut fds = [nix::poll::PollFd::new(
            term.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let limit = nix::poll::PollTimeout::try_from(LIMIT).unwrap();
        if nix::poll::poll(&mut fds, limit).unwrap_or(0) == 0 {
            panic!(
                "the terminal showed no {want:?}: {:?}",
                String::from_utf8_lossy(shown)
            );
        }
        match term.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => shown.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn after_ctrl_c_on_a_terminal_the_totals_start_on_a_fresh_line() {
    let _serial = serial();
    let (master, slave) = open_pty();
    let mut cmd = Command::new(server_exe());
    cmd.args(["--ports", "0"]);
    // The server leads a session whose controlling terminal is its stdin: it is then the
    // terminal's foreground process group, so a typed ^C reaches it as SIGINT.
    let setup = Setup::default()
        .stdin(slave.try_clone().unwrap())
        .stdout(Stdio::null())
        .stderr(slave.try_clone().unwrap())
        .terminal_session();
    let mut srv = ChildGuard::spawn_with(&mut cmd, "pyselect-server on a terminal", setup);
    drop(slave);
    let mut term = std::fs::File::from(master);
    let mut shown = Vec::new();
    read_until(&mut term, &mut shown, "mode)\r\n");
    // The user types Ctrl-C: the terminal echoes ^C and sends SIGINT.
    term.write_all(b"\x03").expect("type ^C");
    read_until(&mut term, &mut shown, " s\r\n");
    assert!(srv.wait_exit().success());
    let shown = String::from_utf8_lossy(&shown).into_owned();
    assert!(
        shown.contains("^C\r\npyselect-server: 0 served, "),
        "totals glued to ^C: {shown:?}"
    );
}
