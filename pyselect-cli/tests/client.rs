//! End-to-end tests of the `pyselect-client` binary against tiny in-test servers written with
//! `std::net::TcpListener` on loopback, ephemeral ports.
//!
//! Synchronisation is by the data itself (a server reads the client's message before acting),
//! never by sleeping; every wait is bounded (see `testkit::LIMIT`).

use std::net::{IpAddr, TcpListener};
use std::process::Command;

use nix::sys::signal::Signal;
use testkit::child::Output;
use testkit::client::*;
use testkit::server::welcome;

/// A server for one connection: read `msg_len` bytes, answer `answer`, close. Returns what
/// it read.
fn one_shot(listener: TcpListener, msg_len: usize, answer: Vec<u8>) -> ServerThread<Vec<u8>> {
    serve(listener, move |listener| {
        let (mut stream, _) = accept(&listener);
        let msg = read_message(&mut stream, msg_len);
        reply(stream, &answer);
        msg
    })
}

fn assert_one_error_line(out: &Output, expected: &str) {
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(out.stderr, format!("{expected}\n"), "{out:?}");
}

// ---- single mode ----------------------------------------------------------------------

#[test]
fn single_mode_prints_the_seeds_line_for_the_port_reached() {
    let (listener, port) = tcp_listener_v4();
    let server = one_shot(listener, 2, welcome(port));
    let out = run_client(&["--port", &port.to_string()]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("resp from server : b'welcome {port}!'\n")
    );
    assert_eq!(out.stderr, "");
    assert_eq!(server.join(), b"hi", "the seed's default message");
}

#[test]
fn single_mode_sends_the_message_given_and_accepts_the_blocking_servers_reply() {
    let (listener, port) = tcp_listener_v4();
    let server = one_shot(listener, 11, b"welcome!".to_vec());
    let out = run_client(&[
        "--host",
        "127.0.0.1",
        &format!("--port={port}"),
        "--message",
        "hello there",
    ]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, "resp from server : b'welcome!'\n");
    assert_eq!(server.join(), b"hello there");
}

#[test]
fn single_mode_prints_the_reply_as_python_bytes_repr() {
    let (listener, port) = tcp_listener_v4();
    let server = one_shot(listener, 2, b"welcome 'back'\n\x00\xff".to_vec());
    let out = run_client(&["--port", &port.to_string()]);
    assert_eq!(out.code(), 0, "{out:?}");
    // Python: print("resp from server : {}".format(b"welcome 'back'\n\x00\xff"))
    assert_eq!(
        out.stdout,
        "resp from server : b\"welcome 'back'\\n\\x00\\xff\"\n"
    );
    server.join();
}

#[test]
fn single_mode_over_ipv6_uses_af_inet6() {
    let Some((listener, port)) = tcp_listener_v6() else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let server = serve(listener, |listener| {
        let (mut stream, peer) = accept(&listener);
        let msg = read_message(&mut stream, 2);
        let port = listener.local_addr().unwrap().port();
        reply(stream, &welcome(port));
        (msg, peer.ip())
    });
    let out = run_client(&["--host", "::1", "--port", &port.to_string()]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("resp from server : b'welcome {port}!'\n")
    );
    let (msg, peer) = server.join();
    assert_eq!(msg, b"hi");
    assert!(matches!(peer, IpAddr::V6(ip) if ip.is_loopback()), "{peer}");
}

#[test]
fn oob_sends_one_urgent_byte_before_the_message() {
    let (listener, port) = tcp_listener_v4();
    let server = serve(listener, move |listener| {
        let (mut stream, _) = accept(&listener);
        let urgent = recv_urgent(&stream);
        let msg = read_message(&mut stream, 2);
        reply(stream, &welcome(port));
        (msg, urgent)
    });
    let out = run_client(&["--port", &port.to_string(), "--oob"]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("resp from server : b'welcome {port}!'\n")
    );
    let (msg, urgent) = server.join();
    assert_eq!(
        msg, b"hi",
        "the urgent byte is not part of the ordinary data"
    );
    assert_eq!(urgent, b"!");
}

#[test]
fn refused_connection_is_one_line_and_exit_1() {
    let (_bound, port) = refusing_port();
    let out = run_client(&["--port", &port.to_string()]);
    assert_one_error_line(
        &out,
        &format!(
            "pyselect-client: cannot connect to 127.0.0.1:{port}: [Errno 111] Connection refused"
        ),
    );
}

#[test]
fn reset_is_one_line_and_exit_1() {
    let (listener, port) = tcp_listener_v4();
    let server = serve(listener, |listener| {
        let (mut stream, _) = accept(&listener);
        let msg = read_message(&mut stream, 2);
        reset(stream);
        msg
    });
    let out = run_client(&["--port", &port.to_string()]);
    assert_one_error_line(
        &out,
        &format!(
            "pyselect-client: cannot receive from 127.0.0.1:{port}: [Errno 104] Connection reset by peer"
        ),
    );
    assert_eq!(server.join(), b"hi");
}

#[test]
fn eof_without_a_reply_is_one_line_and_exit_1() {
    let (listener, port) = tcp_listener_v4();
    let server = one_shot(listener, 2, Vec::new());
    let out = run_client(&["--port", &port.to_string()]);
    assert_one_error_line(
        &out,
        &format!(
            "pyselect-client: no reply from 127.0.0.1:{port}: the server closed the connection"
        ),
    );
    server.join();
}

#[test]
fn a_reply_not_starting_with_welcome_is_shown_and_exit_1() {
    let (listener, port) = tcp_listener_v4();
    let server = one_shot(listener, 2, b"go away\n".to_vec());
    let out = run_client(&["--port", &port.to_string()]);
    assert_one_error_line(
        &out,
        &format!("pyselect-client: unexpected reply from 127.0.0.1:{port}: b'go away\\n'"),
    );
    server.join();
}

#[test]
fn single_mode_timeout_gives_up_on_a_silent_server() {
    // The kernel completes the handshake from the backlog; nobody ever accepts or replies.
    let (_listener, port) = tcp_listener_v4();
    let out = run_client(&["--port", &port.to_string(), "--timeout", "0.2"]);
    assert_one_error_line(
        &out,
        &format!("pyselect-client: cannot receive from 127.0.0.1:{port}: timed out"),
    );
}

#[test]
fn an_unknown_host_name_is_one_line_and_exit_1() {
    let out = run_client(&["--host", "no.such.host.invalid", "--port", "5050"]);
    assert_one_error_line(
        &out,
        "pyselect-client: cannot use host \"no.such.host.invalid\": [Errno -2] Name or service not known \
         (give an IPv4 or IPv6 address, or localhost; no names are resolved)",
    );
}

// ---- arguments ------------------------------------------------------------------------

#[test]
fn bad_arguments_exit_2_with_the_reason_and_a_usage_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unknown option \"--bogus\""),
        (&["stray"], "unexpected argument \"stray\""),
        (&["--port", "abc"], "bad port \"abc\": expected 1-65535"),
        (&["--port", "0"], "bad port \"0\": expected 1-65535"),
        (&["--port", "65536"], "bad port \"65536\": expected 1-65535"),
        (&["--port=-1"], "bad port \"-1\": expected 1-65535"),
        (&["--port"], "--port needs a value"),
        (&["--host"], "--host needs a value"),
        (&["--oob=yes"], "--oob takes no value"),
        (&["--connections", "0"], "bad --connections \"0\""),
        (&["--connections", "-5"], "bad --connections \"-5\""),
        (
            &["--connections", "5", "--concurrency", "0"],
            "bad --concurrency \"0\"",
        ),
        (&["--concurrency", "4"], "--concurrency needs --connections"),
        (
            &["--connections", "5000", "--concurrency", "1001"],
            "--concurrency 1001 is too high: select() only handles fds below FD_SETSIZE (1024)",
        ),
        (&["--timeout", "0"], "bad --timeout \"0\""),
        (&["--timeout", "nan"], "bad --timeout \"nan\""),
        (&["--timeout", "-1"], "bad --timeout \"-1\""),
    ];
    for &(args, reason) in cases {
        let out = run_client(args);
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{args:?}: {out:?}");
        assert!(
            lines[0].starts_with(&format!("pyselect-client: {reason}")),
            "{args:?}: {:?}",
            lines[0]
        );
        assert!(
            lines[0].ends_with(" (see pyselect-client --help)"),
            "{args:?}: {:?}",
            lines[0]
        );
    }
}

#[test]
fn help_prints_the_usage_on_stdout_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = run_client(&[flag]);
        assert_eq!(out.code(), 0, "{out:?}");
        assert!(out.stdout.starts_with("usage: pyselect-client"), "{out:?}");
        assert!(out.stdout.contains("--connections N"));
        assert_eq!(out.stderr, "");
    }
}

// ---- load mode ------------------------------------------------------------------------

/// A sequential server for `n` connections: read the 2-byte message, answer with
/// `answer(k)` (`None`: reset), close. Returns the messages read.
fn serve_n(
    listener: TcpListener,
    n: usize,
    answer: impl Fn(usize, u16) -> Option<Vec<u8>> + Send + 'static,
) -> ServerThread<Vec<Vec<u8>>> {
    serve(listener, move |listener| {
        let port = listener.local_addr().unwrap().port();
        (0..n)
            .map(|k| {
                let (mut stream, _) = accept(&listener);
                let msg = read_message(&mut stream, 2);
                match answer(k, port) {
                    Some(data) => reply(stream, &data),
                    None => reset(stream),
                }
                msg
            })
            .collect()
    })
}

#[test]
fn load_mode_runs_every_transaction_and_prints_one_summary_line() {
    let (listener, port) = tcp_listener_v4();
    let server = serve_n(listener, 500, |_, port| Some(welcome(port)));
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        "500",
        "--concurrency",
        "16",
    ]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stderr, "", "no progress when stderr is not a terminal");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "transactions"), 500);
    assert_eq!(num::<u64>(&summary, "errors"), 0);
    let seconds: f64 = num(&summary, "seconds");
    let rate: f64 = num(&summary, "tx/s");
    assert!(seconds > 0.0 && rate > 0.0, "{summary:?}");
    let (p50, p99, max): (u32, u32, u32) = (
        num(&summary, "p50_us"),
        num(&summary, "p99_us"),
        num(&summary, "max_us"),
    );
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{summary:?}");
    assert!(f64::from(max) <= seconds * 1e6 + 1e3, "{summary:?}");
    let messages = server.join();
    assert_eq!(messages.len(), 500);
    assert!(messages.iter().all(|m| m == b"hi"));
}

#[test]
fn load_mode_keeps_concurrency_transactions_in_flight_and_no_more() {
    const C: usize = 4;
    const ROUNDS: usize = 3;
    let (listener, port) = tcp_listener_v4();
    // Each round the server holds C connections open, each with its message read, before
    // answering any: a client that did not multiplex C sockets would never get there.
    let server = serve(listener, move |listener| {
        let mut extra = 0;
        for _ in 0..ROUNDS {
            let streams: Vec<_> = (0..C)
                .map(|_| {
                    let (mut stream, _) = accept(&listener);
                    assert_eq!(read_message(&mut stream, 2), b"hi");
                    stream
                })
                .collect();
            // All C transactions wait for their replies: a (C+1)th connection would be a bug.
            extra += usize::from(connection_pending(&listener));
            for stream in streams {
                reply(stream, &welcome(port));
            }
        }
        extra
    });
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        &(C * ROUNDS).to_string(),
        "--concurrency",
        &C.to_string(),
    ]);
    assert_eq!(out.code(), 0, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<usize>(&summary, "transactions"), C * ROUNDS);
    assert_eq!(num::<u64>(&summary, "errors"), 0);
    assert_eq!(
        server.join(),
        0,
        "more than {C} connections were open at once"
    );
}

#[test]
fn load_mode_counts_broken_connections_and_still_prints_the_summary() {
    let (listener, port) = tcp_listener_v4();
    // Of every 5: reset, a reply for the wrong port, EOF without a reply, and two good ones
    // (the select server's `welcome <port>!` and the blocking server's `welcome!`).
    let server = serve_n(listener, 40, |k, port| match k % 5 {
        1 => None,
        2 => Some(b"welcome 1!".to_vec()),
        3 => Some(Vec::new()),
        4 => Some(b"welcome!".to_vec()),
        _ => Some(welcome(port)),
    });
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        "40",
        "--concurrency",
        "4",
    ]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "transactions"), 40);
    assert_eq!(num::<u64>(&summary, "errors"), 24);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with(
            "pyselect-client: 24 of 40 transactions failed (reset=8 eof=8 bad_reply=8); first: "
        ),
        "{lines:?}"
    );
    assert_eq!(server.join().len(), 40);
}

#[test]
fn load_mode_counts_refused_connections() {
    let (_bound, port) = refusing_port();
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        "6",
        "--concurrency",
        "3",
    ]);
    assert_eq!(out.code(), 1, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "transactions"), 6);
    assert_eq!(num::<u64>(&summary, "errors"), 6);
    assert_eq!(summary["p50_us"], "0", "no latency without a success");
    assert_eq!(
        out.stderr,
        format!(
            "pyselect-client: 6 of 6 transactions failed (refused=6); first: cannot connect to \
             127.0.0.1:{port}: [Errno 111] Connection refused\n"
        )
    );
}

#[test]
fn load_mode_times_out_transactions_of_a_silent_server() {
    // Connections complete in the backlog; nobody accepts, nobody replies.
    let (_listener, port) = tcp_listener_v4();
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        "3",
        "--concurrency",
        "3",
        "--timeout",
        "0.2",
    ]);
    assert_eq!(out.code(), 1, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "transactions"), 3);
    assert_eq!(num::<u64>(&summary, "errors"), 3);
    let seconds: f64 = num(&summary, "seconds");
    assert!(seconds >= 0.2, "{summary:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "pyselect-client: 3 of 3 transactions failed (timeout=3); first: no complete reply \
             from 127.0.0.1:{port} within 200ms: timed out"
        )),
        "{out:?}"
    );
}

#[test]
fn load_mode_with_oob_sends_the_urgent_byte_on_every_connection() {
    let (listener, port) = tcp_listener_v4();
    let server = serve(listener, move |listener| {
        (0..3)
            .map(|_| {
                let (mut stream, _) = accept(&listener);
                let urgent = recv_urgent(&stream);
                let msg = read_message(&mut stream, 2);
                reply(stream, &welcome(port));
                (msg, urgent)
            })
            .collect::<Vec<_>>()
    });
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--oob",
        "--connections",
        "3",
        "--concurrency",
        "2",
    ]);
    assert_eq!(out.code(), 0, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "errors"), 0);
    for (msg, urgent) in server.join() {
        assert_eq!((msg.as_slice(), urgent.as_slice()), (&b"hi"[..], &b"!"[..]));
    }
}

/// The documented longest `--timeout` (a year) is the client's own wait: on every backend it
/// is waited in parts no longer than poll(2) and epoll_wait(2) take (INT_MAX ms), so the run
/// goes through instead of failing at its first wait.
#[test]
fn load_mode_takes_the_longest_timeout_on_every_backend() {
    for backend in ["select", "poll", "epoll"] {
        let (listener, port) = tcp_listener_v4();
        let server = serve(listener, move |listener| {
            for _ in 0..3 {
                let (mut stream, _) = accept(&listener);
                assert_eq!(read_message(&mut stream, 2), b"hi");
                reply(stream, &welcome(port));
            }
        });
        let out = run_client(&[
            "--port",
            &port.to_string(),
            "--connections",
            "3",
            "--backend",
            backend,
            "--timeout",
            "31536000",
        ]);
        assert_eq!(out.code(), 0, "{backend}: {out:?}");
        let summary = parse_summary(out.stdout.trim_end());
        assert_eq!(num::<u64>(&summary, "transactions"), 3, "{backend}");
        assert_eq!(num::<u64>(&summary, "errors"), 0, "{backend}");
        server.join();
    }
}

/// Start a load run against a server that never replies, wait until both in-flight
/// transactions have sent their message (so the client is in its select loop), signal it.
fn interrupt_load_run(sig: Signal) -> Output {
    let (listener, port) = tcp_listener_v4();
    let client = spawn_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        "10",
        "--concurrency",
        "2",
        "--timeout",
        "5",
    ]);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (mut stream, _) = accept(&listener);
            assert_eq!(read_message(&mut stream, 2), b"hi");
            stream
        })
        .collect();
    client.signal(sig);
    let out = client.finish();
    drop(held);
    out
}

#[test]
fn sigint_stops_a_load_run_with_the_summary_so_far() {
    for (sig, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let out = interrupt_load_run(sig);
        assert_eq!(out.code(), code, "{sig}: {out:?}");
        assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
        let summary = parse_summary(out.stdout.trim_end());
        assert!(num::<u64>(&summary, "transactions") < 10, "{summary:?}");
        let last = out.stderr_lines().last().copied().unwrap_or_default();
        assert!(
            last.starts_with(&format!("pyselect-client: interrupted by {sig} after ")),
            "{out:?}"
        );
        assert!(last.ends_with(" of 10 transactions"), "{out:?}");
    }
}

/// `EMFILE` while filling the slots (the open-files limit below `--concurrency`) stops the run:
/// the summary counts what never finished (`unfinished=`; `errors=` only counts what finished
/// badly), and the last line says why the run stopped and what to change.
#[test]
fn load_mode_stopped_by_the_fd_limit_says_so_and_counts_the_unfinished() {
    // Nobody accepts: the connections complete in the backlog and wait there.
    let (_listener, port) = tcp_listener_v4();
    let mut client = Command::new(testkit::client_exe());
    client.args(["--port", &port.to_string()]).args([
        "--connections",
        "100",
        "--concurrency",
        "100",
    ]);
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=40:40", "--"]);
    let out = testkit::child::run(testkit::child::wrap(cmd, &client), "");
    assert_eq!(out.code(), 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "transactions"), 0, "{summary:?}");
    assert_eq!(num::<u64>(&summary, "errors"), 0, "{summary:?}");
    assert_eq!(num::<u64>(&summary, "unfinished"), 100, "{summary:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    let abandoned: u64 = lines[0]
        .strip_prefix("pyselect-client: the run stopped after 0 of 100 transactions (")
        .and_then(|rest| rest.split_once(" in flight abandoned, 100 unfinished): "))
        .filter(|(_, cause)| {
            *cause
                == "cannot create a socket: [Errno 24] Too many open files (the open-files \
                    limit, ulimit -n, is below what --concurrency plus --hold need: lower them, \
                    or raise the limit)"
        })
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{out:?}"));
    // Every fd the limit left after stdio held a transaction in flight.
    assert!((20..40).contains(&abandoned), "{out:?}");
}

/// `held=` counts the held connections still open at the end, not those asked for: a server
/// that ends some of them during the run (FIN or RST, as at its idle timeout or fd limit) is
/// named on stderr, and the run exits 1.
#[test]
fn load_mode_held_counts_only_the_connections_the_server_kept() {
    const HOLD: usize = 6;
    let (listener, port) = tcp_listener_v4();
    let server = serve(listener, move |listener| {
        // The held connections come first, in order; they send nothing.
        let held: Vec<_> = (0..HOLD).map(|_| accept(&listener)).collect();
        let mut kept = Vec::new();
        let mut ended = Vec::new();
        for (k, (stream, peer)) in held.into_iter().enumerate() {
            match k {
                0 | 3 => drop(stream),
                4 => reset(stream),
                _ => {
                    kept.push(stream);
                    continue;
                }
            }
            ended.push((peer.port(), k != 4));
        }
        // The client's kernel has taken each FIN (its socket in CLOSE_WAIT) or RST (its socket
        // no longer listed) before the load starts.
        for (client_port, fin) in ended {
            assert!(
                testkit::wait_until(testkit::LIMIT, || {
                    let state = testkit::proc::tcp_state_on(client_port, port);
                    if fin {
                        state.as_deref() == Some("08")
                    } else {
                        state.is_none()
                    }
                }),
                "the client's end of port {client_port} is in {:?}",
                testkit::proc::tcp_state_on(client_port, port)
            );
        }
        for _ in 0..5 {
            let (mut stream, _) = accept(&listener);
            assert_eq!(read_message(&mut stream, 2), b"hi");
            reply(stream, &welcome(port));
        }
        kept
    });
    let out = run_client(&[
        "--port",
        &port.to_string(),
        "--connections",
        "5",
        "--concurrency",
        "2",
        "--hold",
        &HOLD.to_string(),
    ]);
    drop(server.join());
    assert_eq!(out.code(), 1, "{out:?}");
    let summary = parse_summary(out.stdout.trim_end());
    assert_eq!(num::<u64>(&summary, "transactions"), 5, "{summary:?}");
    assert_eq!(num::<u64>(&summary, "errors"), 0, "{summary:?}");
    assert_eq!(num::<u64>(&summary, "held"), 3, "{summary:?}");
    assert_eq!(
        out.stderr,
        "pyselect-client: 3 of 6 held connections were ended by the server during the run \
         (eof=2 reset=1); held=3 counts those still open (give the server a longer \
         --idle-timeout, or room for more fds)\n",
        "{out:?}"
    );
}
