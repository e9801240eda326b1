//! `pyselect-server --backend poll|epoll`: past select()'s 1,024 fds.
//!
//! The 10,000-client tests hold 10,000 loopback connections open at once against one server,
//! then send `hi` on each and read every reply to EOF, driving all the sockets from this one
//! thread with the library's own `Epoll` (no thread per socket). Connections are opened in
//! waves that each wait until the server has accepted them (its fd count in `/proc`), so the
//! listen backlog never overflows and no SYN waits for a retransmit. Also: the RLIMIT_NOFILE
//! rules of both binaries, and that every backend keeps multiplex mode's promises (urgent
//! data, replies that wait for room, the idle timeout, the totals line).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use nix::sys::signal::Signal;
use pyselect::{Epoll, EPOLLIN};
use testkit::proc::{SYS_EPOLL_WAIT, SYS_POLL, SYS_PSELECT6};
use testkit::server::{
    client, connect, find_totals, nofile_of, nofile_or_skip, read_to_eof, server, transact,
    welcome, Totals,
};
use testkit::{serial, wait_until, LIMIT, LIMIT_SECS};

/// Connections held open at once.
const CLIENTS: usize = 10_000;

/// Connections opened before waiting for the server to accept them: well below the
/// `--backlog` the server is given, so the accept queue never overflows.
const WAVE: usize = 1_000;

/// `--backlog` for these servers (Linux caps it at `net.core.somaxconn`, 4096 by default).
const BACKLOG: &str = "4096";

fn ten_thousand_clients(backend: &str) {
    let _serial = serial();
    // This process holds the clients' 10,000 fds; the server holds as many.
    if !nofile_or_skip(
        &format!("ten_thousand_clients({backend})"),
        CLIENTS as u64 + 256,
    ) {
        return;
    }
    let mut srv = server(&[
        "--ports",
        "0",
        "--backend",
        backend,
        "--backlog",
        BACKLOG,
        "--idle-timeout",
        "600",
        "--quiet",
    ])
    .listening();
    assert_eq!(srv.listening.backend.as_deref(), Some(backend));
    let addr = srv.addr(0);
    let port = addr.port();
    let idle_fds = srv.fd_count();

    // 1. 10,000 connections, in waves, each wave accepted before the next.
    let mut conns: Vec<TcpStream> = Vec::with_capacity(CLIENTS);
    while conns.len() < CLIENTS {
        let wave = WAVE.min(CLIENTS - conns.len());
        for _ in 0..wave {
            conns.push(connect_nodelay(addr));
        }
        let want = idle_fds + conns.len();
        assert!(
            wait_until(LIMIT, || srv.fd_count() >= want),
            "the server accepted {} of {} connections (fds {} of {want})",
            srv.fd_count().saturating_sub(idle_fds),
            conns.len(),
            srv.fd_count()
        );
    }
    assert_eq!(srv.fd_count(), idle_fds + CLIENTS, "every connection held");

    // 2. Responsive with 10,000 idle clients watched: a new client is served at once.
    assert_eq!(transact(port), welcome(port));

    // 3. Every one sends `hi` and gets exactly `welcome PORT!`, then EOF.
    let ep = Epoll::new().expect("epoll_create1");
    let mut open: HashMap<RawFd, (TcpStream, Vec<u8>)> = HashMap::with_capacity(CLIENTS);
    for mut s in conns.drain(..) {
        s.write_all(b"hi").expect("send hi");
        s.set_nonblocking(true).expect("O_NONBLOCK");
        ep.register(s.as_raw_fd(), Some(EPOLLIN))
            .expect("epoll_ctl(ADD)");
        open.insert(s.as_raw_fd(), (s, Vec::new()));
    }
    let mut buf = [0u8; 64];
    let mut served = 0;
    while !open.is_empty() {
        let ready = ep.poll(Some(LIMIT_SECS), Some(1024)).expect("epoll_wait");
        assert!(
            !ready.is_empty(),
            "no reply within {LIMIT:?}; {} clients still waiting",
            open.len()
        );
        for (fd, _) in ready {
            let (s, reply) = open.get_mut(&fd).expect("a ready fd is an open client");
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        assert_eq!(
                            String::from_utf8_lossy(reply),
                            format!("welcome {port}!"),
                            "client fd {fd}"
                        );
                        ep.unregister(fd).expect("epoll_ctl(DEL)");
                        open.remove(&fd); // closes it
                        served += 1;
                        break;
                    }
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("client fd {fd}: {e} after {reply:?}"),
                }
            }
        }
    }
    assert_eq!(served, CLIENTS);

    // 4. All closed: the server is back to its idle fds, and still serves.
    assert!(
        wait_until(LIMIT, || srv.fd_count() == idle_fds),
        "server fds {} after every client closed, {idle_fds} when idle",
        srv.fd_count()
    );
    assert_eq!(transact(port), welcome(port));
    srv.signal(Signal::SIGTERM);
    assert!(srv.wait_exit().success());
    let stderr = srv.stderr_all();
    assert!(
        !stderr.iter().any(|l| l.contains("RLIMIT_NOFILE")),
        "{stderr:?}"
    );
    assert_eq!(
        find_totals(&stderr),
        Some(Totals::served(CLIENTS as u64 + 2)),
        "{stderr:?}"
    );
}

/// A blocking connect (bounded by [`LIMIT`]) with Nagle off, as the seed's client.
fn connect_nodelay(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, LIMIT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_nodelay(true).expect("TCP_NODELAY");
    s
}

#[test]
fn ten_thousand_clients_epoll() {
    ten_thousand_clients("epoll");
}

#[test]
fn ten_thousand_clients_poll() {
    ten_thousand_clients("poll");
}

// ---- RLIMIT_NOFILE ----------------------------------------------------------------------

/// poll and epoll raise the soft limit to the hard one at start; select leaves it alone.
#[test]
fn poll_and_epoll_raise_the_soft_fd_limit_to_the_hard_limit() {
    let _serial = serial();
    for (backend, raised) in [("poll", true), ("epoll", true), ("select", false)] {
        let mut srv = server(&["--backend", backend]).nofile_soft(256).listening();
        let (soft, hard) = nofile_of(srv.pid());
        if hard <= 256 {
            println!("SKIPPED the raise check: the hard RLIMIT_NOFILE is only {hard}");
            return;
        }
        match raised {
            true => assert_eq!(soft, hard, "{backend}"),
            false => assert_eq!(soft, 256, "{backend}"),
        }
        srv.signal(Signal::SIGTERM);
        assert!(srv.wait_exit().success());
    }
}

/// A hard limit below 10,000 connections' worth: one stderr line saying so, and the server
/// runs; select does not ask.
#[test]
fn a_low_hard_limit_is_one_line_on_stderr() {
    for backend in ["poll", "epoll", "select"] {
        let mut srv = server(&["--backend", backend]).nofile(64).listening();
        assert_eq!(transact(srv.port(0)), welcome(srv.port(0)));
        srv.signal(Signal::SIGTERM);
        assert!(srv.wait_exit().success());
        let lines: Vec<String> = srv
            .stderr_all()
            .into_iter()
            .filter(|l| l.contains("RLIMIT_NOFILE"))
            .collect();
        if backend == "select" {
            assert!(lines.is_empty(), "{lines:?}");
        } else {
            assert_eq!(
                lines,
                [
                    "pyselect-server: RLIMIT_NOFILE allows 64 open files (hard limit 64), fewer \
                  than the 10010 asked for; raise the hard limit (ulimit -Hn, or limits.conf) \
                  to use more"
                ],
                "{backend}"
            );
        }
    }
}

/// The load client says so too, for its poll and epoll backends, and still runs.
#[test]
fn the_load_client_reports_a_low_hard_limit() {
    let srv = server(&["--quiet"]).listening();
    let port = srv.port(0).to_string();
    for backend in ["poll", "epoll"] {
        let args = [
            "--port",
            port.as_str(),
            "--connections",
            "20",
            "--concurrency",
            "40",
            "--backend",
            backend,
        ];
        let out = client(&args).nofile(48).run_to_exit();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            out.stderr,
            [
                "pyselect-client: RLIMIT_NOFILE allows 48 open files (hard limit 48), fewer than \
              the 52 asked for; raise the hard limit (ulimit -Hn, or limits.conf) to use more"
            ],
            "{backend}"
        );
        assert!(out.stdout[0].starts_with("transactions=20 errors=0 "));
    }
}

// ---- Every backend keeps multiplex mode's promises -----------------------------------

/// Urgent data is printed (the except set, POLLPRI, EPOLLPRI) before the message.
#[test]
fn urgent_data_is_printed_on_every_backend() {
    for backend in ["select", "poll", "epoll"] {
        let mut srv = server(&["--backend", backend]).listening();
        let mut s = connect(srv.addr(0));
        let peer = s.local_addr().unwrap();
        send_oob(&s, b"!");
        let urgent = format!("[{}] urgent : b'!'", testkit::server::py_addr(&peer));
        assert!(
            srv.wait_stdout_lines(|l| l.contains(&urgent)),
            "{backend}: {:?}",
            srv.stdout_all()
        );
        s.write_all(b"hi").unwrap();
        assert_eq!(read_to_eof(&mut s), welcome(srv.port(0)), "{backend}");
        srv.signal(Signal::SIGTERM);
        assert!(srv.wait_exit().success());
    }
}

fn send_oob(s: &TcpStream, data: &[u8]) {
    nix::sys::socket::send(s.as_raw_fd(), data, nix::sys::socket::MsgFlags::MSG_OOB)
        .expect("send MSG_OOB");
}

/// A client that says nothing is closed after the idle timeout, while others are served; the
/// totals line counts it.
#[test]
fn idle_clients_are_closed_on_every_backend() {
    for backend in ["select", "poll", "epoll"] {
        let mut srv = server(&["--backend", backend, "--idle-timeout", "0.3"]).listening();
        let mut silent = connect(srv.addr(0));
        assert_eq!(transact(srv.port(1)), welcome(srv.port(1)));
        let started = Instant::now();
        let (data, end) = testkit::server::read_to_end(&mut silent);
        assert_eq!(
            (data.len(), end),
            (0, testkit::server::End::Eof),
            "{backend}"
        );
        assert!(started.elapsed() < LIMIT);
        srv.wait_stderr(|l| l.contains("closed: idle for 0.3 s"));
        srv.signal(Signal::SIGTERM);
        assert!(srv.wait_exit().success());
        let totals = find_totals(&srv.stderr_all()).expect("totals line");
        assert_eq!((totals.served, totals.idle_closed), (1, 1), "{backend}");
    }
}

/// An idle timeout longer than one poll(2) or epoll_wait(2) takes (INT_MAX ms, 24.8 days)
/// is the server's own wait, waited in parts: every backend serves under it, up to the
/// largest value the option takes.
#[test]
fn idle_timeouts_past_int_max_milliseconds_serve_on_every_backend() {
    for backend in ["select", "poll", "epoll"] {
        for idle in ["2147483.648", "999999999"] {
            let mut srv = server(&["--backend", backend, "--idle-timeout", idle]).listening();
            let mut waiting = connect(srv.addr(0));
            assert_eq!(
                transact(srv.port(1)),
                welcome(srv.port(1)),
                "{backend} {idle}"
            );
            waiting.write_all(b"hi").expect("send");
            assert_eq!(
                read_to_eof(&mut waiting),
                welcome(srv.port(0)),
                "{backend} {idle}"
            );
            srv.signal(Signal::SIGTERM);
            let status = srv.wait_exit();
            let stderr = srv.stderr_all();
            assert!(status.success(), "{backend} {idle}: {status:?}; {stderr:?}");
            let totals = find_totals(&stderr).expect("totals line");
            assert_eq!(totals, Totals::served(2), "{backend} {idle}: {stderr:?}");
        }
    }
}

/// The process's state letter in `/proc/PID/stat` (`T` once stopped).
fn proc_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    stat[stat.rfind(')').expect("(comm)") + 2..]
        .chars()
        .next()
        .expect("a state")
}

/// A server stopped (SIGSTOP, as Ctrl-Z) for longer than its idle timeout while its clients
/// send their messages: once continued (SIGCONT), it serves every one of them, and closes
/// none as idle. (epoll_wait fails with EINTR on SIGCONT, and Python's retry then finds its
/// deadline passed and returns nothing: that round did not look at the fds, so its idle
/// sweep must not close what it did not see.) The clients' deadlines are known to fall in the
/// stop when it starts within the idle timeout of the first connect; on a machine too slow
/// for that, the run is repeated with a longer timeout.
#[test]
fn a_server_stopped_past_its_idle_timeout_serves_what_came_meanwhile() {
    const N: usize = 50;
    for backend in ["select", "poll", "epoll"] {
        let mut decided = false;
        for idle in [0.2, 1.0, 5.0] {
            let idle_arg = idle.to_string();
            let mut srv = server(&[
                "--ports",
                "0",
                "--backend",
                backend,
                "--idle-timeout",
                &idle_arg,
            ])
            .listening();
            let first_connect = Instant::now();
            let mut clients: Vec<TcpStream> = (0..N).map(|_| connect(srv.addr(0))).collect();
            assert!(
                srv.wait_stdout_count("hello socket1", N),
                "{backend}: accepted"
            );
            srv.wait_blocked(&[SYS_PSELECT6, SYS_POLL, SYS_EPOLL_WAIT]);
            srv.signal(Signal::SIGSTOP);
            assert!(
                wait_until(LIMIT, || proc_state(srv.pid()) == 'T'),
                "stopped"
            );
            let stopped = Instant::now();
            if stopped.duration_since(first_connect).as_secs_f64() >= idle {
                // Some deadline may have passed before the stop: inconclusive, try longer.
                srv.signal(Signal::SIGCONT);
                continue;
            }
            for c in &mut clients {
                c.write_all(b"hi")
                    .expect("send while the server is stopped");
            }
            // Every client's deadline (its accept + idle, both before `stopped`) passes while
            // the server is stopped: a condition on the clock, not a wait for an event.
            let all_due = stopped + std::time::Duration::from_secs_f64(idle);
            assert!(wait_until(LIMIT, || Instant::now() > all_due));
            assert_eq!(proc_state(srv.pid()), 'T', "{backend}: still stopped");
            srv.signal(Signal::SIGCONT);
            for (i, c) in clients.iter_mut().enumerate() {
                let (data, end) = testkit::server::read_to_end(c);
                assert_eq!(
                    (data, end),
                    (welcome(srv.port(0)), testkit::server::End::Eof),
                    "{backend}, idle {idle}: client {i} of {N}; stderr: {:?}",
                    srv.stderr_all()
                );
            }
            srv.signal(Signal::SIGTERM);
            assert!(srv.wait_exit().success());
            let totals = find_totals(&srv.stderr_all()).expect("totals line");
            assert_eq!(totals, Totals::served(N as u64), "{backend}, idle {idle}");
            decided = true;
            break;
        }
        assert!(decided, "{backend}: never stopped within the idle timeout");
    }
}

/// Fifty clients connected at once, then each sends `hi`: every one is answered, served in
/// the same rounds of the one loop.
#[test]
fn fifty_clients_at_once_on_every_backend() {
    for backend in ["select", "poll", "epoll"] {
        let mut srv = server(&["--backend", backend]).listening();
        let mut clients: Vec<TcpStream> = (0..50).map(|_| connect(srv.addr(0))).collect();
        for c in &mut clients {
            c.write_all(b"hi").unwrap();
        }
        for c in &mut clients {
            assert_eq!(read_to_eof(c), welcome(srv.port(0)), "{backend}");
        }
        srv.signal(Signal::SIGINT);
        assert!(srv.wait_exit().success());
        assert_eq!(
            find_totals(&srv.stderr_all()),
            Some(Totals::served(50)),
            "{backend}"
        );
    }
}

/// SIGINT and SIGTERM end a server asleep in `poll` or `epoll_wait` with a silent client
/// watched: exit 0, the totals line last on stderr.
#[test]
fn signals_end_poll_and_epoll_servers_with_the_totals_line() {
    for (backend, nr) in [("poll", libc::SYS_poll), ("epoll", libc::SYS_epoll_wait)] {
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            let mut srv = server(&["--backend", backend]).listening();
            let port = srv.port(0);
            assert_eq!(transact(port), welcome(port));
            let silent = connect(srv.addr(0));
            assert!(srv.wait_stdout_count("hello socket1", 2));
            srv.wait_blocked_in(nr);
            srv.signal(sig);
            assert_eq!(srv.wait_exit().code(), Some(0), "{backend}, {sig}");
            let stderr = srv.stderr_all();
            testkit::server::assert_no_panic(&stderr);
            let last = &stderr[stderr.len() - 1..];
            assert_eq!(find_totals(last), Some(Totals::served(1)), "{stderr:?}");
            drop(silent);
        }
    }
}

// ---- The load client's backends and --hold -----------------------------------------

/// `--backend poll|epoll --hold 1500`: 1,500 idle connections held for the whole run (more
/// than select() could watch), the load beside them; the summary says `held=1500`; the server
/// counts each held connection closed silently at the end, so they were open all along.
#[test]
fn the_load_client_holds_idle_connections_on_poll_and_epoll() {
    let _serial = serial();
    if !nofile_or_skip("the_load_client_holds_idle_connections", 2_000) {
        return;
    }
    for backend in ["poll", "epoll"] {
        // The server on the same backend: select would refuse the fds above 1,023.
        let mut srv = server(&[
            "--ports",
            "0",
            "--quiet",
            "--idle-timeout",
            "600",
            "--backend",
            backend,
        ])
        .listening();
        let port = srv.port(0).to_string();
        let idle_fds = srv.fd_count();
        let out = client(&[
            "--port",
            &port,
            "--connections",
            "3000",
            "--concurrency",
            "100",
            "--backend",
            backend,
            "--hold",
            "1500",
        ])
        .run_to_exit();
        assert!(out.status.success(), "{backend}: {out:?}");
        assert_eq!(out.stdout.len(), 1, "{out:?}");
        let summary = testkit::client::parse_summary(&out.stdout[0]);
        assert_eq!(summary["transactions"], "3000", "{summary:?}");
        assert_eq!(summary["errors"], "0", "{summary:?}");
        assert_eq!(summary["held"], "1500", "{summary:?}");
        // The client closed the held connections as it exited: the server reads each EOF.
        assert!(
            wait_until(LIMIT, || srv.fd_count() == idle_fds),
            "{backend}: {} fds left",
            srv.fd_count()
        );
        srv.signal(Signal::SIGTERM);
        assert!(srv.wait_exit().success());
        let totals = find_totals(&srv.stderr_all()).expect("totals");
        assert_eq!(
            (
                totals.served,
                totals.silent,
                totals.idle_closed,
                totals.errors
            ),
            (3000, 1500, 0, 0),
            "{backend}"
        );
    }
}

/// select caps held plus in-flight sockets below FD_SETSIZE, with one clear line.
#[test]
fn the_load_client_on_select_refuses_more_sockets_than_an_fd_set_holds() {
    let out = client(&[
        "--connections",
        "10",
        "--concurrency",
        "10",
        "--hold",
        "995",
    ])
    .run_to_exit();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr[0].starts_with(
            "pyselect-client: --concurrency 10 with --hold 995 is too high: select() only \
             handles fds below FD_SETSIZE (1024), so at most 1000 sockets can be in flight or \
             held; use --backend poll or epoll for more"
        ),
        "{:?}",
        out.stderr
    );
}
