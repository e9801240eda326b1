//! `pyselect::Socket` against the contract (SPEC.md, "Socket") and against CPython 3.11.
//!
//! Loopback only, ephemeral ports. Where a behaviour is "as Python", the test runs the same
//! operation in `python3` and compares the exception class and `str()` word for word. Tests
//! that need process-wide state (the fd table, the SIGPIPE disposition) re-run themselves in a
//! child process (see `testkit::child::run_test`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::FdFlag;
use nix::sys::signal::{SigHandler, Signal};
use pyselect::consts::{MSG_OOB, SOL_SOCKET, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SO_TYPE};
use pyselect::{select, Error, Family, FileNo, Socket, Type};

use testkit::child::{self, assert_one_test_passed, run_test};
use testkit::fd::{fd_flags, is_nonblocking};
use testkit::python;
use testkit::sock::{listener, listener_v4, os_errno, pair, pair_v4, recv_exact, wait_readable};
use testkit::LIMIT_SECS;

/// `"{python_name}: {Display}"`, the shape the Python oracles print as
/// `"%s: %s" % (type(e).__name__, e)`.
fn py_style(e: &Error) -> String {
    format!("{}: {}", e.python_name(), e)
}

// ---------------------------------------------------------------------------------------------
// Creation, CLOEXEC, Debug

#[test]
fn new_and_accepted_sockets_are_close_on_exec() {
    let v4 = Socket::tcp_v4().unwrap();
    let v6 = Socket::tcp_v6().unwrap();
    let udp = Socket::new(Family::Inet, Type::Dgram).unwrap();
    for s in [&v4, &v6, &udp] {
        assert!(
            fd_flags(s.fileno()).contains(FdFlag::FD_CLOEXEC),
            "{s:?} lacks FD_CLOEXEC"
        );
    }
    let (cli, conn) = pair_v4();
    assert!(fd_flags(cli.fileno()).contains(FdFlag::FD_CLOEXEC));
    assert!(
        fd_flags(conn.fileno()).contains(FdFlag::FD_CLOEXEC),
        "accepted socket lacks FD_CLOEXEC: accept4 must pass SOCK_CLOEXEC"
    );
}

#[test]
fn debug_speaks_strace() {
    assert_eq!(format!("{:?}", Family::Inet), "AF_INET");
    assert_eq!(format!("{:?}", Family::Inet6), "AF_INET6");
    assert_eq!(format!("{:?}", Type::Stream), "SOCK_STREAM");
    assert_eq!(format!("{:?}", Type::Dgram), "SOCK_DGRAM");

    let v4 = Socket::tcp_v4().unwrap();
    let d = format!("{v4:?}");
    assert!(
        d.contains("AF_INET") && !d.contains("AF_INET6") && d.contains("SOCK_STREAM"),
        "{d}"
    );
    assert!(
        d.contains(&v4.fileno().to_string()),
        "{d} should show the fd"
    );
    let d6 = format!("{:?}", Socket::tcp_v6().unwrap());
    assert!(
        d6.contains("AF_INET6") && d6.contains("SOCK_STREAM"),
        "{d6}"
    );
    let du = format!("{:?}", Socket::new(Family::Inet, Type::Dgram).unwrap());
    assert!(du.contains("SOCK_DGRAM"), "{du}");
    assert_eq!(v4.family(), Family::Inet);
    assert_eq!(v4.socket_type(), Type::Stream);
}

// ---------------------------------------------------------------------------------------------
// Addresses

#[test]
fn bind_empty_host_is_any_address_and_localhost_is_loopback() {
    let any4 = Socket::tcp_v4().unwrap();
    any4.bind(("", 0)).unwrap();
    let a = any4.getsockname().unwrap();
    assert_eq!(
        a.ip(),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "('', 0) is INADDR_ANY"
    );
    assert_ne!(a.port(), 0);

    let any6 = Socket::tcp_v6().unwrap();
    any6.bind(("", 0)).unwrap();
    let a6 = any6.getsockname().unwrap();
    assert_eq!(
        a6.ip(),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        "('', 0) is in6addr_any"
    );
    assert_ne!(a6.port(), 0);

    let local = Socket::tcp_v4().unwrap();
    local.bind(("localhost", 0)).unwrap();
    assert_eq!(
        local.getsockname().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
}

/// Hosts that glibc rejects without a DNS query (checked with strace), so the result does not
/// depend on the network.
const GAI_CASES: &[(&str, &str)] = &[
    ("AF_INET", "no such host"),
    ("AF_INET", "a..b"),
    ("AF_INET", "256.1.1.1"),
    ("AF_INET", "::1"),
    ("AF_INET6", "127.0.0.1"),
];

#[test]
fn bad_host_names_fail_as_python_gaierror() {
    let script = r#"
import socket, sys
args = sys.argv[1:]
for fam, host in zip(args[::2], args[1::2]):
    for op in ("bind", "connect"):
        s = socket.socket(getattr(socket, fam), socket.SOCK_STREAM)
        try:
            getattr(s, op)((host, 0 if op == "bind" else 9))
            print("ok")
        except Exception as e:
            print("%s: %s" % (type(e).__name__, e))
        s.close()
"#;
    let args: Vec<&str> = GAI_CASES.iter().flat_map(|(f, h)| [*f, *h]).collect();
    let want = python::run_lines(script, &args, b"");
    let mut got = Vec::new();
    for (fam, host) in GAI_CASES {
        let family = if *fam == "AF_INET" {
            Family::Inet
        } else {
            Family::Inet6
        };
        let s = Socket::new(family, Type::Stream).unwrap();
        got.push(py_style(&s.bind((*host, 0)).unwrap_err()));
        got.push(py_style(&s.connect((*host, 9)).unwrap_err()));
    }
    assert_eq!(got, want, "cases {GAI_CASES:?}");
    // And the two messages the contract names, literally.
    assert_eq!(got[0], "gaierror: [Errno -2] Name or service not known");
    assert_eq!(
        got[6],
        "gaierror: [Errno -9] Address family for hostname not supported"
    );
    assert!(matches!(
        Socket::tcp_v4().unwrap().bind(("no such host", 0)),
        Err(Error::AddrInfo(-2, _))
    ));
}

fn round_trip(family: Family, host: &str) {
    let (lst, addr) = listener(family, host);
    let cli = Socket::new(family, Type::Stream).unwrap();
    cli.connect(addr).unwrap();
    let (conn, peer) = lst.accept().unwrap();
    assert_eq!(
        peer,
        cli.getsockname().unwrap(),
        "accept reports the client's address"
    );
    assert_eq!(conn.getpeername().unwrap(), peer);
    assert_eq!(cli.getpeername().unwrap(), addr);
    assert_eq!(conn.getsockname().unwrap(), addr);
    assert_eq!(conn.family(), family);
    assert_eq!(Family::of(&peer), family);
    assert_eq!(peer.ip(), addr.ip());

    // Blocking sockets; each recv starts only once select says the data is there.
    assert_eq!(cli.send(b"hello").unwrap(), 5);
    wait_readable(&conn);
    assert_eq!(conn.recv(1024).unwrap(), b"hello");
    conn.sendall(b"welcome!").unwrap();
    wait_readable(&cli);
    assert_eq!(cli.recv(1024).unwrap(), b"welcome!");
    // recv(n) never returns more than n.
    cli.sendall(b"abcdef").unwrap();
    wait_readable(&conn);
    assert_eq!(conn.recv(2).unwrap(), b"ab");
    let mut buf = [0u8; 16];
    assert_eq!(conn.recv_into(&mut buf, 0).unwrap(), 4);
    assert_eq!(&buf[..4], b"cdef");
}

#[test]
fn ipv4_round_trip_and_accept_address() {
    round_trip(Family::Inet, "127.0.0.1");
}

#[test]
fn ipv6_round_trip_and_accept_address() {
    round_trip(Family::Inet6, "::1");
    let (_cli, _conn, peer) = pair(Family::Inet6, "::1");
    match peer {
        SocketAddr::V6(a) => {
            assert_eq!(*a.ip(), Ipv6Addr::LOCALHOST);
            assert_eq!((a.flowinfo(), a.scope_id()), (0, 0));
        }
        SocketAddr::V4(a) => panic!("IPv6 accept gave an IPv4 address {a}"),
    }
}

#[test]
fn connect_refused_as_python() {
    let script = r#"
import socket
for _ in range(5):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", port))
    except OSError as e:
        print(e)
        break
"#;
    let want = python::run_lines(script, &[], b"");
    assert_eq!(want, ["[Errno 111] Connection refused"]);
    // A port that was just bound and closed is free; if some other process takes it in
    // between, try a fresh one (bounded).
    for timeout in [None, Some(LIMIT_SECS)] {
        let mut refused = None;
        for _ in 0..5 {
            let (lst, addr) = listener_v4();
            drop(lst);
            let mut cli = Socket::tcp_v4().unwrap();
            cli.settimeout(timeout).unwrap();
            if let Err(e) = cli.connect(addr) {
                refused = Some(e);
                break;
            }
        }
        let e = refused.expect("five freshly freed ports all accepted a connection");
        assert_eq!(
            e.errno(),
            Some(libc::ECONNREFUSED),
            "timeout {timeout:?}: {e:?}"
        );
        assert!(matches!(e, Error::Os(_)), "{e:?}");
        assert_eq!(e.to_string(), want[0], "timeout {timeout:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// recv / send

#[test]
fn recv_returns_empty_at_eof() {
    let (mut cli, mut conn) = pair_v4();
    conn.settimeout(Some(LIMIT_SECS)).unwrap(); // an upper bound only
    cli.sendall(b"last").unwrap();
    cli.close().unwrap();
    assert_eq!(recv_exact(&conn, 4), b"last");
    assert_eq!(conn.recv(16).unwrap(), b"", "EOF is an empty read");
    assert_eq!(conn.recv(16).unwrap(), b"", "and stays so");
}

#[test]
fn recv_oob_reads_the_urgent_byte() {
    let (cli, mut conn) = pair_v4();
    cli.sendall(b"ab").unwrap();
    assert_eq!(cli.send_flags(b"!", MSG_OOB).unwrap(), 1);
    let (_, _, x) = select([], [], [&conn], Some(LIMIT_SECS)).unwrap();
    assert_eq!(x.len(), 1, "urgent data shows in the exception set");
    assert_eq!(conn.recv_oob(1).unwrap(), b"!");
    conn.settimeout(Some(LIMIT_SECS)).unwrap();
    // As CPython: the in-band bytes come without the urgent one.
    assert_eq!(conn.recv(16).unwrap(), b"ab");
    // No urgent data left: on a blocking socket Linux says EINVAL, as CPython's
    // `recv(1, MSG_OOB)` shows ([Errno 22] Invalid argument).
    conn.settimeout(None).unwrap();
    let e = conn.recv_oob(1).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e:?}");
    assert_eq!(e.to_string(), "[Errno 22] Invalid argument");
}

/// A connected client whose peer closed with SO_LINGER 0 (a reset), once the reset arrived.
fn reset_client() -> Socket {
    let (cli, conn) = pair_v4();
    conn.set_linger(Some(0)).unwrap();
    drop(conn);
    wait_readable(&cli); // the RST makes the client readable
    cli
}

fn restore_default_sigpipe() {
    // SAFETY: this child process runs one test; installing the default disposition runs no
    // handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();
}

#[test]
fn send_to_reset_peer_is_an_error_not_sigpipe() {
    const ROLE: &str = "sigpipe-nosignal";
    if child::role().as_deref() == Some(ROLE) {
        restore_default_sigpipe();
        let cli = reset_client();
        // The first send after a reset reports ECONNRESET; the next one is EPIPE, which
        // would raise SIGPIPE without MSG_NOSIGNAL.
        let mut errnos = Vec::new();
        for _ in 0..4 {
            let e = cli.send(b"x").unwrap_err();
            assert!(matches!(e, Error::Os(_)), "{e:?}");
            errnos.push(e.errno().unwrap());
            if errnos.last() == Some(&libc::EPIPE) {
                break;
            }
        }
        assert!(
            errnos
                .iter()
                .all(|&n| n == libc::EPIPE || n == libc::ECONNRESET),
            "{errnos:?}"
        );
        assert_eq!(errnos.last(), Some(&libc::EPIPE), "{errnos:?}");
        let e = cli.sendall(b"more").unwrap_err();
        assert_eq!(e.to_string(), "[Errno 32] Broken pipe");
        let e = cli.send_flags(b"!", MSG_OOB).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EPIPE));
        return;
    }
    let out = run_test("send_to_reset_peer_is_an_error_not_sigpipe", ROLE);
    assert_ne!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "the child died of SIGPIPE: sends must use MSG_NOSIGNAL\n{}",
        out.stdout
    );
    assert_one_test_passed(&out, ROLE);
}

/// The control for the test above: the same scenario with a plain `send(fd, .., 0)` kills
/// the child, so surviving there proves something.
#[test]
fn control_plain_send_to_reset_peer_dies_of_sigpipe() {
    const ROLE: &str = "sigpipe-control";
    const MARK: &str = "CONTROL: sending without MSG_NOSIGNAL";
    if child::role().as_deref() == Some(ROLE) {
        restore_default_sigpipe();
        let cli = reset_client();
        println!("{MARK}");
        for _ in 0..4 {
            let _ = nix::sys::socket::send(cli.fileno(), b"x", nix::sys::socket::MsgFlags::empty());
        }
        return;
    }
    let out = run_test("control_plain_send_to_reset_peer_dies_of_sigpipe", ROLE);
    assert!(out.stdout.contains(MARK), "{}", out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "control child should die of SIGPIPE: {}",
        out.status
    );
}

fn sendall_delivers(timeout: Option<f64>) {
    const LEN: usize = 4 << 20;
    let (mut cli, mut conn) = pair_v4();
    cli.settimeout(timeout).unwrap();
    conn.settimeout(Some(60.0)).unwrap(); // an upper bound only
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let reader = thread::spawn(move || {
        let mut got = Vec::with_capacity(LEN);
        // Bounded: at least one byte per pass, and never more than LEN + 1 bytes expected.
        for _ in 0..=LEN {
            let chunk = conn.recv(1 << 16).expect("reader recv");
            if chunk.is_empty() {
                break;
            }
            got.extend_from_slice(&chunk);
            assert!(got.len() <= LEN, "more bytes than were sent");
        }
        got
    });
    cli.sendall(&data).unwrap();
    cli.shutdown(Shutdown::Write).unwrap();
    let got = reader.join().expect("reader thread");
    assert_eq!(got.len(), LEN, "timeout {timeout:?}");
    assert!(got == data, "the bytes differ (timeout {timeout:?})");
}

#[test]
fn sendall_delivers_4_mib_blocking() {
    sendall_delivers(None);
}

#[test]
fn sendall_delivers_4_mib_with_timeout() {
    sendall_delivers(Some(60.0));
}

/// A client with small buffers towards a peer, so that the pipe fills fast.
fn small_buffer_pair() -> (Socket, Socket) {
    let (cli, conn) = pair_v4();
    cli.setsockopt(SOL_SOCKET, SO_SNDBUF, 64 << 10).unwrap();
    conn.setsockopt(SOL_SOCKET, SO_RCVBUF, 64 << 10).unwrap();
    (cli, conn)
}

#[test]
fn sendall_times_out_against_a_peer_that_never_reads() {
    let (mut cli, _conn) = small_buffer_pair();
    cli.settimeout(Some(0.3)).unwrap();
    let data = vec![7u8; 16 << 20];
    let start = Instant::now();
    let e = cli.sendall(&data).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert_eq!(e.to_string(), "timed out");
    assert!(
        took >= Duration::from_millis(300),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// One deadline for the whole transfer: a reader that keeps draining slowly (so every single
/// wait succeeds) must not keep `sendall` going past its timeout.
#[test]
fn sendall_timeout_is_one_deadline_for_the_whole_transfer() {
    let (mut cli, mut conn) = small_buffer_pair();
    conn.settimeout(Some(LIMIT_SECS)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let reader = thread::spawn(move || {
        // ~1.6 MB/s: 32 MiB would take ~20 s, far past the 0.5 s deadline. Bounded to ~20 s.
        for _ in 0..2000 {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            match conn.recv(16 << 10) {
                Ok(c) if c.is_empty() => break,
                Ok(_) => {}
                Err(_) => break,
            }
            // Pacing for a slow reader, not synchronisation.
            thread::sleep(Duration::from_millis(10));
        }
    });
    cli.settimeout(Some(0.5)).unwrap();
    let data = vec![1u8; 32 << 20];
    let start = Instant::now();
    let r = cli.sendall(&data);
    let took = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    drop(cli);
    reader.join().unwrap();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(
        took < Duration::from_secs(5),
        "sendall ran {took:?}: the timeout must bound the whole call, not each wait"
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[test]
fn settimeout_and_gettimeout_as_python() {
    let cases = [
        "None",
        "0.0",
        "-0.0",
        "0.30000000000000004",
        "1e-10",
        "2.5e-10",
        "1e-09",
        "1.5",
        "123.456",
        "1000000000.0",
        "-1.0",
        "-1e-10",
        "nan",
        "inf",
        "-inf",
        "1e10",
        "0.05",
        "None",
    ];
    let script = r#"
import socket, sys
s = socket.socket()
for a in sys.argv[1:]:
    v = None if a == "None" else float(a)
    try:
        s.settimeout(v)
        r = "ok"
    except Exception as e:
        r = "%s: %s" % (type(e).__name__, e)
    print(r + " | " + repr(s.gettimeout()))
"#;
    // An older 3.11's known wording, as the reference words it (see `testkit::python`).
    let want: Vec<String> = python::run_lines(script, &cases, b"")
        .iter()
        .map(|l| python::as_reference(l))
        .collect();
    assert_eq!(want.len(), cases.len());
    let mut s = Socket::tcp_v4().unwrap();
    for (case, line) in cases.iter().zip(&want) {
        let (want_result, want_timeout) = line.split_once(" | ").unwrap();
        let value = (*case != "None").then(|| case.parse::<f64>().unwrap());
        let result = match s.settimeout(value) {
            Ok(()) => "ok".to_string(),
            Err(e) => py_style(&e),
        };
        assert_eq!(result, want_result, "settimeout({case})");
        let want_timeout = (want_timeout != "None").then(|| want_timeout.parse::<f64>().unwrap());
        assert_eq!(
            s.gettimeout().map(f64::to_bits),
            want_timeout.map(f64::to_bits),
            "gettimeout() after settimeout({case}): {:?} vs Python {want_timeout:?}",
            s.gettimeout()
        );
        // None is blocking; any number (0.0 included) is a non-blocking fd.
        assert_eq!(
            is_nonblocking(s.fileno()),
            s.gettimeout().is_some(),
            "O_NONBLOCK after settimeout({case})"
        );
    }

    // The values the contract names, literally.
    s.settimeout(Some(0.1 + 0.2)).unwrap();
    assert_eq!(s.gettimeout(), Some(0.300000001));
    s.settimeout(Some(1e-10)).unwrap();
    assert_eq!(s.gettimeout(), Some(1e-9));
    let e = s.settimeout(Some(-1.0)).unwrap_err();
    assert!(
        matches!(&e, Error::Value(m) if m == "Timeout value out of range"),
        "{e:?}"
    );
    let e = s.settimeout(Some(f64::NAN)).unwrap_err();
    assert!(
        matches!(&e, Error::Value(m) if m == "Invalid value NaN (not a number)"),
        "{e:?}"
    );
    assert_eq!(
        s.gettimeout(),
        Some(1e-9),
        "a failed settimeout changes nothing"
    );
    s.setblocking(false).unwrap();
    assert_eq!(s.gettimeout(), Some(0.0));
    s.setblocking(true).unwrap();
    assert_eq!(s.gettimeout(), None);
    assert!(!is_nonblocking(s.fileno()));
}

#[test]
fn recv_with_timeout_and_no_data_times_out() {
    let (mut cli, _conn) = pair_v4();
    cli.settimeout(Some(0.05)).unwrap();
    let start = Instant::now();
    let e = cli.recv(16).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert_eq!(e.to_string(), "timed out");
    assert_eq!(e.python_name(), "TimeoutError");
    assert!(took >= Duration::from_millis(50), "returned after {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The socket is still usable afterwards.
    assert_eq!(cli.send(b"x").unwrap(), 1);
}

#[test]
fn accept_with_timeout_and_no_client_times_out() {
    let (mut lst, _) = listener_v4();
    lst.settimeout(Some(0.05)).unwrap();
    let start = Instant::now();
    let e = lst.accept().unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn zero_timeout_recv_without_data_is_eagain_as_python() {
    let script = r#"
import socket
a, b = socket.socketpair()
a.settimeout(0.0)
try:
    a.recv(1)
except OSError as e:
    print(type(e).__name__)
    print(e)
"#;
    let want = python::run_lines(script, &[], b"");
    assert_eq!(
        want,
        [
            "BlockingIOError",
            "[Errno 11] Resource temporarily unavailable"
        ]
    );
    let (mut cli, _conn) = pair_v4();
    cli.settimeout(Some(0.0)).unwrap();
    let e = cli.recv(16).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EAGAIN), "{e:?}");
    assert!(matches!(e, Error::Os(_)));
    assert_eq!(e.to_string(), want[1]);
    let mut buf = [0u8; 4];
    assert_eq!(os_errno(cli.recv_into(&mut buf, 0)), libc::EAGAIN);
}

#[test]
fn accepted_socket_is_blocking_whatever_the_listener_timeout() {
    let (mut lst, addr) = listener_v4();
    lst.settimeout(Some(LIMIT_SECS)).unwrap();
    assert!(is_nonblocking(lst.fileno()));
    let cli = Socket::tcp_v4().unwrap();
    cli.connect(addr).unwrap();
    let (conn, _) = lst.accept().unwrap();
    assert_eq!(conn.gettimeout(), None);
    assert!(
        !is_nonblocking(conn.fileno()),
        "a socket accepted from a listener with a timeout is blocking"
    );

    // settimeout(0.0): the listener is non-blocking; the accepted fd is left alone (Linux's
    // accept4 does not inherit O_NONBLOCK), and is blocking too.
    lst.settimeout(Some(0.0)).unwrap();
    assert!(is_nonblocking(lst.fileno()));
    assert_eq!(os_errno(lst.accept()), libc::EAGAIN, "no client yet");
    let cli2 = Socket::tcp_v4().unwrap();
    cli2.connect(addr).unwrap();
    wait_readable(&lst);
    let (conn2, peer2) = lst.accept().unwrap();
    assert_eq!(peer2, cli2.getsockname().unwrap());
    assert_eq!(conn2.gettimeout(), None);
    assert!(!is_nonblocking(conn2.fileno()));
    assert!(
        is_nonblocking(lst.fileno()),
        "accept does not change the listener"
    );
}

// ---------------------------------------------------------------------------------------------
// close, Drop, options, shutdown

#[test]
fn close_is_idempotent_and_fileno_is_minus_one() {
    let mut s = Socket::tcp_v4().unwrap();
    assert!(s.fileno() >= 0);
    s.close().unwrap();
    assert_eq!(s.fileno(), -1);
    assert_eq!(FileNo::fileno(&s), -1);
    s.close().unwrap();
    assert_eq!(s.fileno(), -1);
}

#[test]
fn drop_and_close_release_their_fds() {
    const ROLE: &str = "fd-count";
    if child::role().as_deref() == Some(ROLE) {
        // Alone in this process, so the fd table is ours to count.
        let open_fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let baseline = open_fds();
        {
            let (lst, addr) = listener_v4();
            let cli = Socket::tcp_v4().unwrap();
            cli.connect(addr).unwrap();
            let (_conn, _) = lst.accept().unwrap();
            let _v6 = Socket::tcp_v6().unwrap();
            assert_eq!(open_fds(), baseline + 4);
        }
        assert_eq!(open_fds(), baseline, "Drop closes every socket");

        // close() then Drop must not close the fd number again once it has been reused.
        let mut s = Socket::tcp_v4().unwrap();
        let fd = s.fileno();
        s.close().unwrap();
        assert_eq!(open_fds(), baseline);
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(file.as_raw_fd(), fd, "the lowest free fd is reused");
        s.close().unwrap();
        drop(s);
        assert!(
            fd_flags(file.as_raw_fd()).contains(FdFlag::FD_CLOEXEC),
            "the reused fd is still open"
        );
        assert_eq!(open_fds(), baseline + 1);
        return;
    }
    let out = run_test("drop_and_close_release_their_fds", ROLE);
    assert_one_test_passed(&out, ROLE);
}

const CLOSED_OPS: &[&str] = &[
    "recv",
    "recv_oob",
    "send",
    "sendall",
    "bind",
    "listen",
    "connect",
    "accept",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "shutdown",
    "settimeout",
];

fn closed_op(s: &mut Socket, op: &str) -> String {
    let r = match op {
        "recv" => s.recv(1).map(drop),
        "recv_oob" => s.recv_oob(1).map(drop),
        "send" => s.send(b"x").map(drop),
        "sendall" => s.sendall(b"x"),
        "bind" => s.bind(("127.0.0.1", 0)),
        "listen" => s.listen(None),
        "connect" => s.connect(("127.0.0.1", 9)),
        "accept" => s.accept().map(drop),
        "getsockname" => s.getsockname().map(drop),
        "getpeername" => s.getpeername().map(drop),
        "setsockopt" => s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1),
        "getsockopt" => s.getsockopt(SOL_SOCKET, SO_REUSEADDR).map(drop),
        "shutdown" => s.shutdown(Shutdown::Write),
        "settimeout" => s.settimeout(Some(1.0)),
        _ => unreachable!("{op}"),
    };
    match r {
        Ok(()) => "ok".into(),
        Err(e) => py_style(&e),
    }
}

const CLOSED_SCRIPT: &str = r#"
import socket, sys
ops = {
    "recv": lambda s: s.recv(1),
    "recv_oob": lambda s: s.recv(1, socket.MSG_OOB),
    "send": lambda s: s.send(b"x"),
    "sendall": lambda s: s.sendall(b"x"),
    "bind": lambda s: s.bind(("127.0.0.1", 0)),
    "listen": lambda s: s.listen(),
    "connect": lambda s: s.connect(("127.0.0.1", 9)),
    "accept": lambda s: s.accept(),
    "getsockname": lambda s: s.getsockname(),
    "getpeername": lambda s: s.getpeername(),
    "setsockopt": lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1),
    "getsockopt": lambda s: s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
    "shutdown": lambda s: s.shutdown(socket.SHUT_WR),
    "settimeout": lambda s: s.settimeout(1.0),
}
timeout = None if sys.argv[1] == "None" else float(sys.argv[1])
for op in sys.argv[2:]:
    s = socket.socket()
    s.settimeout(timeout)
    s.close()
    try:
        ops[op](s)
        print("ok")
    except Exception as e:
        print("%s: %s" % (type(e).__name__, e))
"#;

#[test]
fn operations_on_a_closed_socket_fail_as_python() {
    let mut args = vec!["None"];
    args.extend_from_slice(CLOSED_OPS);
    let want = python::run_lines(CLOSED_SCRIPT, &args, b"");
    let got: Vec<String> = CLOSED_OPS
        .iter()
        .map(|op| {
            let mut s = Socket::tcp_v4().unwrap();
            s.close().unwrap();
            closed_op(&mut s, op)
        })
        .collect();
    assert_eq!(got, want, "ops {CLOSED_OPS:?}");
    assert_eq!(got[0], "OSError: [Errno 9] Bad file descriptor");
}

/// CPython checks for a closed socket before waiting, so a closed socket that had a timeout
/// fails at once with EBADF; it never waits out the timeout on fd -1.
#[test]
fn operations_on_a_closed_socket_with_a_timeout_fail_at_once_as_python() {
    let mut args = vec!["1.0"];
    args.extend_from_slice(CLOSED_OPS);
    let want = python::run_lines(CLOSED_SCRIPT, &args, b"");
    let mut got = Vec::new();
    let mut slow = Vec::new();
    for op in CLOSED_OPS {
        let mut s = Socket::tcp_v4().unwrap();
        s.settimeout(Some(1.0)).unwrap();
        s.close().unwrap();
        let start = Instant::now();
        got.push(closed_op(&mut s, op));
        if start.elapsed() >= Duration::from_millis(500) {
            slow.push((*op, start.elapsed()));
        }
    }
    assert_eq!(got, want, "ops {CLOSED_OPS:?} (these waited: {slow:?})");
    assert!(slow.is_empty(), "waited on a closed socket: {slow:?}");
}

#[test]
fn setsockopt_reuseaddr_then_getsockopt() {
    let s = Socket::tcp_v4().unwrap();
    assert_eq!(s.getsockopt(SOL_SOCKET, SO_REUSEADDR).unwrap(), 0);
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1).unwrap();
    assert_ne!(s.getsockopt(SOL_SOCKET, SO_REUSEADDR).unwrap(), 0);
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 0).unwrap();
    assert_eq!(s.getsockopt(SOL_SOCKET, SO_REUSEADDR).unwrap(), 0);
    assert_eq!(
        s.getsockopt(SOL_SOCKET, SO_TYPE).unwrap(),
        libc::SOCK_STREAM
    );
}

#[test]
fn shutdown_write_gives_the_peer_eof() {
    let (mut cli, mut conn) = pair_v4();
    cli.settimeout(Some(LIMIT_SECS)).unwrap(); // upper bounds only
    conn.settimeout(Some(LIMIT_SECS)).unwrap();
    cli.sendall(b"bye").unwrap();
    cli.shutdown(Shutdown::Write).unwrap();
    assert_eq!(recv_exact(&conn, 3), b"bye");
    assert_eq!(conn.recv(16).unwrap(), b"", "the peer reads EOF");
    // Half-close: the other direction still works.
    conn.sendall(b"still here").unwrap();
    assert_eq!(recv_exact(&cli, 10), b"still here");
    // Writing after shutdown(SHUT_WR) is EPIPE, as Python's BrokenPipeError.
    let e = cli.send(b"x").unwrap_err();
    assert_eq!(e.errno(), Some(libc::EPIPE));
    assert_eq!(e.to_string(), "[Errno 32] Broken pipe");
}
