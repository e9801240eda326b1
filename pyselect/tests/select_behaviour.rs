//! `pyselect::select` as a user of Python's `select.select` relies on it: readiness in each of
//! the three lists on pipes, socketpairs and loopback TCP; the very items given coming back in
//! input order with repeats; every call shape of the SPEC; and every error with CPython's exact
//! message, kind and order of checks. Expected values were checked against CPython 3.11 on Linux
//! (see each test); the rules of order are also compared with CPython itself in
//! `tests/select_fuzz.rs`.
//!
//! Tests that depend on specific fd numbers (a just-closed fd, fds 1023/1024) run in a child
//! process: other tests of this binary open fds concurrently.

use std::cell::Cell;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use pyselect::consts::MSG_OOB;
use pyselect::{select, select_with, Error, FileNo, Socket, Syscall, FD_SETSIZE};

use testkit::fd::{pipe, socketpair, write_fd};
use testkit::sock::tcp_pair;
use testkit::LIMIT_SECS;

/// Are `a` and `b` the same object? (The address of the data, for references to trait objects
/// and to sized values alike.)
fn same<A: ?Sized, B: ?Sized>(a: &A, b: &B) -> bool {
    std::ptr::eq(a as *const A as *const u8, b as *const B as *const u8)
}

/// Assert that `got` holds exactly the objects of `want`, in order.
#[track_caller]
fn assert_items<A: ?Sized, B: ?Sized>(got: &[&A], want: &[&B]) {
    assert_eq!(got.len(), want.len(), "wrong number of items returned");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            same(*g, *w),
            "item {i} is not the object given at that place"
        );
    }
}

#[track_caller]
fn value_err<T>(res: pyselect::Result<T>) -> String {
    match res {
        Err(Error::Value(msg)) => msg,
        Err(other) => panic!("expected Error::Value (ValueError), got {other:?}"),
        Ok(_) => panic!("expected Error::Value (ValueError), got Ok"),
    }
}

#[track_caller]
fn overflow_err<T>(res: pyselect::Result<T>) -> String {
    match res {
        Err(Error::Overflow(msg)) => msg,
        Err(other) => panic!("expected Error::Overflow (OverflowError), got {other:?}"),
        Ok(_) => panic!("expected Error::Overflow (OverflowError), got Ok"),
    }
}

// ---------------------------------------------------------------------------------------------
// Readiness in each list
// ---------------------------------------------------------------------------------------------

#[test]
fn pipe_readiness_in_each_list() {
    let (r, w) = pipe();
    // Empty pipe: the write end is writable; nothing is readable; pipes never show in xlist.
    let (rr, ww, xx) = select([&r, &w], [&r, &w], [&r, &w], Some(0.0)).unwrap();
    assert_items(&rr, &[] as &[&OwnedFd]);
    assert_items(&ww, &[&w]);
    assert_items(&xx, &[] as &[&OwnedFd]);

    write_fd(&w, b"x");
    let (rr, ww, xx) = select([&r, &w], [&r, &w], [&r, &w], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[&r]);
    assert_items(&ww, &[&w]);
    assert_items(&xx, &[] as &[&OwnedFd]);

    // Drained: not readable any more (level-triggered, as the kernel reports it now).
    let mut buf = [0u8; 8];
    assert_eq!(nix::unistd::read(&r, &mut buf).unwrap(), 1);
    let (rr, _, _) = select([&r], [], [], Some(0.0)).unwrap();
    assert!(rr.is_empty());

    // The writer goes away: EOF is in rlist, not xlist.
    drop(w);
    let (rr, _, xx) = select([&r], [], [&r], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[&r]);
    assert!(xx.is_empty(), "EOF on a pipe must not show in xlist");
}

#[test]
fn pipe_with_no_reader_shows_the_error_in_rlist_and_wlist_not_xlist() {
    // CPython: r, w = os.pipe(); os.close(r); select([w], [w], [w], 5) == ([w], [w], [])
    let (r, w) = pipe();
    drop(r);
    let (rr, ww, xx) = select([&w], [&w], [&w], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[&w]);
    assert_items(&ww, &[&w]);
    assert!(xx.is_empty(), "an error condition must not show in xlist");
}

#[test]
fn socketpair_readiness_in_each_list() {
    let (mut a, b) = socketpair();
    let (rr, ww, xx) = select([&a, &b], [&a, &b], [&a, &b], Some(0.0)).unwrap();
    assert!(rr.is_empty());
    assert_items(&ww, &[&a, &b]);
    assert!(xx.is_empty());

    a.write_all(b"hi").unwrap();
    let (rr, ww, xx) = select([&a, &b], [&a, &b], [&a, &b], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[&b]);
    assert_items(&ww, &[&a, &b]);
    assert!(xx.is_empty());

    let mut buf = [0u8; 2];
    (&b).read_exact(&mut buf).unwrap();
    let (rr, _, _) = select([&a, &b], [], [], Some(0.0)).unwrap();
    assert!(rr.is_empty(), "drained socket still reported readable");

    drop(a);
    let (rr, _, xx) = select([&b], [], [&b], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[&b]);
    assert!(xx.is_empty(), "EOF must show in rlist, not xlist");
}

#[test]
fn tcp_readiness_in_each_list() {
    let p = tcp_pair();
    let (c, s) = (&p.client, &p.server);
    let (rr, ww, xx) = select([c, s], [c, s], [c, s], Some(0.0)).unwrap();
    assert!(rr.is_empty());
    assert_items(&ww, &[c, s]);
    assert!(xx.is_empty());

    assert_eq!(c.send(b"hi").unwrap(), 2);
    let (rr, _, xx) = select([c, s], [], [c, s], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[s]);
    assert!(xx.is_empty(), "ordinary data must not show in xlist");
    assert_eq!(s.recv(16).unwrap(), b"hi");
}

#[test]
fn listener_with_a_pending_connection_is_readable() {
    let listener = Socket::tcp_v4().unwrap();
    listener.bind(("127.0.0.1", 0)).unwrap();
    listener.listen(None).unwrap();
    let (rr, _, _) = select([&listener], [], [], Some(0.0)).unwrap();
    assert!(rr.is_empty());
    let client = Socket::tcp_v4().unwrap();
    client
        .connect(("127.0.0.1", listener.getsockname().unwrap().port()))
        .unwrap();
    let (rr, _, xx) = select([&listener], [], [&listener], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[&listener]);
    assert!(xx.is_empty());
}

#[test]
fn tcp_urgent_data_shows_in_xlist_only() {
    let p = tcp_pair();
    let (c, s) = (&p.client, &p.server);
    assert_eq!(c.send_flags(b"!", MSG_OOB).unwrap(), 1);
    let (_, _, xx) = select([], [], [c, s], Some(LIMIT_SECS)).unwrap();
    assert_items(&xx, &[s]);
    // As CPython shows on Linux: a lone urgent byte is not readable in-band.
    let (rr, ww, xx) = select([c, s], [s], [c, s], Some(0.0)).unwrap();
    assert!(
        rr.is_empty(),
        "a lone urgent byte must not make the socket readable"
    );
    assert_items(&ww, &[s]);
    assert_items(&xx, &[s]);

    assert_eq!(s.recv_oob(1).unwrap(), b"!");
    let (rr, _, xx) = select([s], [], [s], Some(0.0)).unwrap();
    assert!(rr.is_empty());
    assert!(
        xx.is_empty(),
        "urgent data taken: xlist must be empty again"
    );
}

#[test]
fn tcp_eof_shows_in_rlist_not_xlist() {
    let p = tcp_pair();
    p.client.shutdown(Shutdown::Write).unwrap();
    let s = &p.server;
    let (rr, _, xx) = select([s], [], [s], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[s]);
    assert!(xx.is_empty());
    let (rr, ww, xx) = select([s], [s], [s], Some(0.0)).unwrap();
    assert_items(&rr, &[s]);
    assert_items(&ww, &[s]);
    assert!(xx.is_empty(), "EOF must not show in xlist");
    assert_eq!(s.recv(16).unwrap(), b"");
}

#[test]
fn tcp_reset_shows_in_rlist_and_wlist_not_xlist() {
    let mut p = tcp_pair();
    p.client.set_linger(Some(0)).unwrap();
    p.client.close().unwrap(); // RST
    let s = &p.server;
    let (rr, _, _) = select([s], [], [], Some(LIMIT_SECS)).unwrap();
    assert_items(&rr, &[s]);
    let (rr, ww, xx) = select([s], [s], [s], Some(0.0)).unwrap();
    assert_items(&rr, &[s]);
    assert_items(&ww, &[s]);
    assert!(xx.is_empty(), "a reset must not show in xlist");
    let err = s.recv(16).unwrap_err();
    assert_eq!(err.errno(), Some(libc::ECONNRESET));
    assert_eq!(err.to_string(), "[Errno 104] Connection reset by peer");
}

// ---------------------------------------------------------------------------------------------
// Results: the very items, input order, repeats
// ---------------------------------------------------------------------------------------------

#[test]
fn repeats_are_kept_in_input_order() {
    let (a, b) = socketpair();
    // As select([w, w, 1, w], ...) in Python: all writable, the same sequence comes back.
    let (_, ww, _) = select([], [&a, &a, &b, &a], [], Some(0.0)).unwrap();
    assert_items(&ww, &[&a, &a, &b, &a]);

    // Raw fds too.
    let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
    let (_, ww, _) = select(vec![], vec![fa, fa, fb, fa], vec![], Some(0.0)).unwrap();
    assert_eq!(ww, vec![fa, fa, fb, fa]);
}

#[test]
fn results_follow_input_order_not_fd_order() {
    let (mut a1, b1) = socketpair();
    let (mut a2, b2) = socketpair();
    let (quiet, _quiet_peer) = socketpair();
    a1.write_all(b"1").unwrap();
    a2.write_all(b"2").unwrap();
    select([&b1], [], [], Some(LIMIT_SECS)).unwrap();
    select([&b2], [], [], Some(LIMIT_SECS)).unwrap();
    // The higher fd first: the kernel's set is in fd order, the result must not be.
    let (hi, lo) = if b1.as_raw_fd() > b2.as_raw_fd() {
        (&b1, &b2)
    } else {
        (&b2, &b1)
    };
    let (rr, _, _) = select([hi, &quiet, lo, hi], [], [], Some(0.0)).unwrap();
    assert_items(&rr, &[hi, lo, hi]);
}

#[test]
fn ready_items_are_the_objects_given_not_copies() {
    // Two distinct objects for the same fd are told apart: each comes back as itself.
    let (a, _b) = socketpair();
    let dup = a.try_clone().unwrap();
    let first: &dyn FileNo = &a;
    let second: &dyn FileNo = &dup;
    let (_, ww, _) = select([], [second, first, second], [], Some(0.0)).unwrap();
    assert_items(&ww, &[second, first, second]);
}

// ---------------------------------------------------------------------------------------------
// The SPEC's call shapes
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_shape_two_socket_refs_no_timeout() {
    let p1 = tcp_pair();
    let p2 = tcp_pair();
    let (s1, s2) = (&p1.server, &p2.server);
    p2.client.send(b"x").unwrap();
    let (r, w, x) = select([s1, s2], [], [], None).unwrap();
    assert_items(&r, &[s2]);
    assert!(w.is_empty() && x.is_empty());
}

#[test]
fn spec_shape_vecs_of_sockets_by_reference() {
    let pairs: Vec<_> = (0..3).map(|_| tcp_pair()).collect();
    let mut clients: Vec<Socket> = Vec::new();
    let mut pending: Vec<Socket> = Vec::new();
    let mut keep = Vec::new();
    for p in pairs {
        clients.push(p.server);
        pending.push(p.client);
        keep.push(p.listener);
    }
    pending[1].send(b"ping").unwrap();
    select([&clients[1]], [], [], Some(LIMIT_SECS)).unwrap();

    let (r, w, _) = select(&clients, &pending, [], Some(0.5)).unwrap();
    assert_items(&r, &[&clients[1]]);
    assert_items(&w, &[&pending[0], &pending[1], &pending[2]]);
}

#[test]
fn spec_shape_mixed_kinds_through_dyn_fileno() {
    let listener = Socket::tcp_v4().unwrap();
    listener.bind(("127.0.0.1", 0)).unwrap();
    listener.listen(None).unwrap();
    let _client = TcpStream::connect(listener.getsockname().unwrap()).unwrap();
    select([&listener], [], [], Some(LIMIT_SECS)).unwrap();
    let (empty_pipe, _w) = pipe();
    let fd: RawFd = empty_pipe.as_raw_fd();

    let (r, _, _) = select([&listener as &dyn FileNo, &fd], [], [], Some(0.0)).unwrap();
    assert_eq!(r.len(), 1);
    assert!(same(r[0], &listener));
}

#[test]
fn mixed_kinds_each_come_back_as_themselves() {
    let p = tcp_pair();
    p.client.send(b"s").unwrap();
    let (mut ua, ub) = socketpair();
    ua.write_all(b"u").unwrap();
    let (pr, pw) = pipe();
    write_fd(&pw, b"p");
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut std_client = TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
    let (std_server, _) = std_listener.accept().unwrap();
    std_client.write_all(b"t").unwrap();
    let (fr, fw) = pipe();
    write_fd(&fw, b"f");
    let file = File::from(fr);
    let (quiet, _quiet_peer) = socketpair();
    let raw: RawFd = ub.as_raw_fd();

    // Wait until every one of them is readable, then poll once with all of them.
    let all: Vec<&dyn FileNo> = vec![&p.server, &ub, &pr, &std_server, &file, &quiet, &raw];
    for item in &all[..5] {
        select([*item], [], [], Some(LIMIT_SECS)).unwrap();
    }
    let (r, w, x) = select(all.iter().copied(), [], [], Some(0.0)).unwrap();
    let want: Vec<&dyn FileNo> = vec![&p.server, &ub, &pr, &std_server, &file, &raw];
    assert_items(&r, &want);
    assert!(w.is_empty() && x.is_empty());
}

#[test]
fn spec_shape_raw_fds_with_duplicates() {
    let (r, w) = pipe();
    write_fd(&w, b"x");
    let (r3, w3) = (r.as_raw_fd(), w.as_raw_fd());
    select([r3], [], [], Some(LIMIT_SECS)).unwrap();
    let (rr, ww, xx) = select(vec![r3, r3, w3], [w3], [], Some(0.0)).unwrap();
    assert_eq!(rr, vec![r3, r3]);
    assert_eq!(ww, vec![w3]);
    assert!(xx.is_empty());
}

#[test]
fn spec_shape_empty_lists_are_a_sleep() {
    let start = Instant::now();
    let (r, w, x) = select::<RawFd, _, _, _>([], [], [], Some(0.25)).unwrap();
    let elapsed = start.elapsed();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    assert!(
        elapsed >= Duration::from_millis(250),
        "slept only {elapsed:?}"
    );

    let start = Instant::now();
    pyselect::sleep(0.05).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn timeout_returns_three_empty_lists_after_the_timeout() {
    let (r, w) = pipe();
    let start = Instant::now();
    let (rr, ww, xx) = select([&r], [], [&r, &w], Some(0.1)).unwrap();
    let elapsed = start.elapsed();
    assert!(rr.is_empty() && ww.is_empty() && xx.is_empty());
    assert!(
        elapsed >= Duration::from_millis(100),
        "returned after {elapsed:?}"
    );
}

#[test]
fn tiny_and_negative_zero_timeouts_are_polls() {
    let (a, _b) = socketpair();
    for t in [0.0, -0.0, 1e-7, 1e-320, f64::MIN_POSITIVE] {
        let (r, w, x) = select([&a], [&a], [&a], Some(t)).unwrap();
        assert!(r.is_empty() && x.is_empty(), "timeout {t:e}");
        assert_items(&w, &[&a]);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: messages, kinds, order of checks
// ---------------------------------------------------------------------------------------------

#[test]
fn negative_fd_message_names_the_number() {
    // CPython: ValueError('file descriptor cannot be a negative integer (-1)')
    for (fd, msg) in [
        (-1, "file descriptor cannot be a negative integer (-1)"),
        (-5, "file descriptor cannot be a negative integer (-5)"),
        (
            i32::MIN,
            "file descriptor cannot be a negative integer (-2147483648)",
        ),
    ] {
        assert_eq!(value_err(select([fd], [], [], Some(0.0))), msg);
        assert_eq!(value_err(select([], [fd], [], Some(0.0))), msg);
        assert_eq!(value_err(select([], [], [fd], None)), msg);
        let err = select([fd], [], [], None).unwrap_err();
        assert_eq!(err.to_string(), msg);
        assert_eq!(err.python_name(), "ValueError");
        assert_eq!(err.errno(), None);
    }
}

#[test]
fn fd_at_or_above_fd_setsize_is_out_of_range() {
    assert_eq!(FD_SETSIZE, 1024);
    let msg = "filedescriptor out of range in select()";
    for fd in [FD_SETSIZE as RawFd, 1025, 1099, i32::MAX] {
        assert_eq!(value_err(select([fd], [], [], None)), msg, "fd {fd}");
        assert_eq!(value_err(select([], [fd], [], None)), msg, "fd {fd}");
        assert_eq!(value_err(select([], [], [fd], None)), msg, "fd {fd}");
    }
}

#[test]
fn more_than_fd_setsize_entries_is_too_many_but_exactly_fd_setsize_is_fine() {
    let (a, _b) = socketpair();
    let exactly: Vec<&UnixStream> = vec![&a; FD_SETSIZE];
    let (r, w, x) = select(exactly.clone(), exactly.clone(), exactly.clone(), Some(0.0)).unwrap();
    assert!(r.is_empty() && x.is_empty());
    assert_eq!(w.len(), FD_SETSIZE);
    assert!(w.iter().all(|item| same(*item, &a)));

    let msg = "too many file descriptors in select()";
    let too_many: Vec<&UnixStream> = vec![&a; FD_SETSIZE + 1];
    assert_eq!(value_err(select(too_many.clone(), [], [], None)), msg);
    assert_eq!(value_err(select([], too_many.clone(), [], None)), msg);
    assert_eq!(value_err(select([], [], too_many, None)), msg);
    // Entries are counted per list, not across lists.
    let (_, w, _) = select(exactly.clone(), exactly.clone(), [], Some(0.0)).unwrap();
    assert_eq!(w.len(), FD_SETSIZE);
}

#[test]
fn timeout_errors_have_pythons_kind_and_message() {
    let nan = "Invalid value NaN (not a number)";
    assert_eq!(
        value_err(select::<RawFd, _, _, _>([], [], [], Some(f64::NAN))),
        nan
    );
    assert_eq!(
        value_err(select::<RawFd, _, _, _>([], [], [], Some(-f64::NAN))),
        nan
    );
    let overflow = "timestamp out of range for platform time_t";
    for t in [
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        9.3e9,
        -9.3e9,
    ] {
        assert_eq!(
            overflow_err(select::<RawFd, _, _, _>([], [], [], Some(t))),
            overflow,
            "timeout {t:e}"
        );
        let err = select::<RawFd, _, _, _>([], [], [], Some(t)).unwrap_err();
        assert_eq!(err.python_name(), "OverflowError");
    }
    let negative = "timeout must be non-negative";
    for t in [-1e-10, -1e-9, -1.0, -9.2e9] {
        assert_eq!(
            value_err(select::<RawFd, _, _, _>([], [], [], Some(t))),
            negative,
            "timeout {t:e}"
        );
    }
}

#[test]
fn a_bad_timeout_is_reported_before_a_bad_fd() {
    assert_eq!(
        value_err(select([-1], [1024], [], Some(f64::NAN))),
        "Invalid value NaN (not a number)"
    );
    assert_eq!(
        overflow_err(select([1024], [-1], [], Some(f64::INFINITY))),
        "timestamp out of range for platform time_t"
    );
    assert_eq!(
        value_err(select([-1], [], [], Some(-1.0))),
        "timeout must be non-negative"
    );
}

#[test]
fn lists_are_checked_left_to_right_entry_by_entry() {
    let (a, _b) = socketpair();
    let fa = a.as_raw_fd();
    assert_eq!(
        value_err(select([1024], [-1], [-2], None)),
        "filedescriptor out of range in select()"
    );
    assert_eq!(
        value_err(select([fa, -3, 1024], [-1], [], None)),
        "file descriptor cannot be a negative integer (-3)"
    );
    assert_eq!(
        value_err(select([fa], [-1], [1024], None)),
        "file descriptor cannot be a negative integer (-1)"
    );
    assert_eq!(
        value_err(select([fa], [fa, 1024], [-7], None)),
        "filedescriptor out of range in select()"
    );
    assert_eq!(
        value_err(select([fa], [fa], [-7, 1024], None)),
        "file descriptor cannot be a negative integer (-7)"
    );
    // A bad entry after FD_SETSIZE good ones: the entry is checked before the count (CPython).
    let mut long = vec![fa; FD_SETSIZE];
    long.push(-9);
    assert_eq!(
        value_err(select(long, [], [], None)),
        "file descriptor cannot be a negative integer (-9)"
    );
}

/// An item that counts its `fileno()` calls.
#[derive(Debug)]
struct Counted<'a> {
    fd: RawFd,
    calls: &'a Cell<usize>,
}

impl FileNo for Counted<'_> {
    fn fileno(&self) -> RawFd {
        self.calls.set(self.calls.get() + 1);
        self.fd
    }
}

#[test]
fn fileno_is_called_once_per_entry_and_not_after_the_first_bad_one() {
    let (a, _b) = socketpair();
    let fa = a.as_raw_fd();
    let counters: Vec<Cell<usize>> = (0..7).map(|_| Cell::new(0)).collect();
    let item = |i: usize, fd: RawFd| Counted {
        fd,
        calls: &counters[i],
    };
    let calls = || counters.iter().map(Cell::get).collect::<Vec<_>>();
    let reset = || counters.iter().for_each(|c| c.set(0));

    // Success: exactly one call per entry, none after the syscall (CPython: 6 calls for 6).
    let res = select(
        [item(0, fa), item(1, fa)],
        [item(2, fa), item(3, fa), item(4, fa)],
        [item(5, fa)],
        Some(0.0),
    )
    .unwrap();
    assert_eq!((res.0.len(), res.1.len(), res.2.len()), (0, 3, 0));
    assert_eq!(calls(), [1, 1, 1, 1, 1, 1, 0]);
    drop(res);
    assert_eq!(calls(), [1, 1, 1, 1, 1, 1, 0]);

    // The second wlist entry is bad: rlist fully converted, wlist up to it, xlist untouched
    // (CPython: 4 calls).
    reset();
    let err = select(
        [item(0, fa), item(1, fa)],
        [item(2, fa), item(3, -3), item(4, fa)],
        [item(5, fa)],
        Some(0.0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "file descriptor cannot be a negative integer (-3)"
    );
    assert_eq!(calls(), [1, 1, 1, 1, 0, 0, 0]);

    // A bad first entry: one call in all.
    reset();
    let err = select([item(0, 1024), item(1, fa)], [item(2, fa)], [], Some(0.0)).unwrap_err();
    assert_eq!(err.to_string(), "filedescriptor out of range in select()");
    assert_eq!(calls(), [1, 0, 0, 0, 0, 0, 0]);

    // A bad timeout: no fileno() call at all (CPython: 0 calls).
    reset();
    let err = select([item(0, fa)], [item(1, fa)], [item(2, fa)], Some(f64::NAN)).unwrap_err();
    assert_eq!(err.to_string(), "Invalid value NaN (not a number)");
    assert_eq!(calls(), [0; 7]);
}

#[test]
fn too_many_entries_is_found_after_the_extra_entrys_fileno() {
    // CPython calls fileno() on the 1025th entry, then fails: 1025 calls, and none for the
    // lists after the long one.
    let (a, _b) = socketpair();
    let fa = a.as_raw_fd();
    let calls = Cell::new(0);
    let make = |n: usize| -> Vec<Counted<'_>> {
        (0..n)
            .map(|_| Counted {
                fd: fa,
                calls: &calls,
            })
            .collect()
    };
    let err = select(make(FD_SETSIZE + 1), make(1), make(1), Some(0.0)).unwrap_err();
    assert_eq!(err.to_string(), "too many file descriptors in select()");
    assert_eq!(calls.get(), FD_SETSIZE + 1);

    calls.set(0);
    let err = select(make(1), make(FD_SETSIZE + 5), make(1), Some(0.0)).unwrap_err();
    assert_eq!(err.to_string(), "too many file descriptors in select()");
    assert_eq!(calls.get(), 1 + FD_SETSIZE + 1);
}

#[test]
fn a_closed_socket_reports_minus_one_and_select_refuses_it() {
    let mut s = Socket::tcp_v4().unwrap();
    assert!(s.fileno() >= 0);
    s.close().unwrap();
    assert_eq!(s.fileno(), -1);
    assert_eq!(FileNo::fileno(&s), -1);
    s.close().unwrap(); // idempotent
    assert_eq!(
        value_err(select([&s], [], [], None)),
        "file descriptor cannot be a negative integer (-1)"
    );
    let (a, _b) = socketpair();
    assert_eq!(
        value_err(select([&a as &dyn FileNo], [&s as &dyn FileNo], [], None)),
        "file descriptor cannot be a negative integer (-1)"
    );
}

#[test]
fn a_just_closed_fd_fails_the_whole_call_with_ebadf() {
    testkit::child::in_child("a_just_closed_fd_fails_the_whole_call_with_ebadf", || {
        let (a, _b) = socketpair();
        let fa = a.as_raw_fd();
        let closed = testkit::fd::closed_low_fd();
        let syscalls: &[Syscall] = if Syscall::raw_select_available() {
            &[Syscall::Libc, Syscall::Select]
        } else {
            &[Syscall::Libc]
        };
        for &sys in syscalls {
            for (r, w, x) in [
                (vec![closed], vec![], vec![]),
                (vec![fa], vec![fa, closed], vec![]),
                (vec![], vec![fa], vec![closed]),
            ] {
                let err = select_with(sys, r, w, x, None).unwrap_err();
                assert!(matches!(err, Error::Os(_)), "{sys:?}: {err:?}");
                assert_eq!(err.errno(), Some(libc::EBADF));
                assert_eq!(err.to_string(), "[Errno 9] Bad file descriptor");
                assert_eq!(err.python_name(), "OSError");
                let io: std::io::Error = err.into();
                assert_eq!(io.raw_os_error(), Some(libc::EBADF));
            }
        }
    });
}

#[test]
fn fd_1023_works_and_fd_1024_is_refused() {
    testkit::child::in_child("fd_1023_works_and_fd_1024_is_refused", || {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        if soft < 1100 {
            assert!(
                hard >= 1100,
                "RLIMIT_NOFILE hard limit {hard} is too low to open fd 1024"
            );
            setrlimit(Resource::RLIMIT_NOFILE, 1100, hard).unwrap();
        }
        let (r, w) = pipe();
        let dup_to = |fd: &OwnedFd, target: RawFd| -> OwnedFd {
            assert!(!testkit::fd::is_open(target), "fd {target} already open");
            // SAFETY: dup2 onto a free fd number; the new fd is owned by the returned OwnedFd.
            let got = unsafe { libc::dup2(fd.as_raw_fd(), target) };
            assert_eq!(got, target, "dup2: {}", std::io::Error::last_os_error());
            // SAFETY: `target` is now a fresh fd that nothing else owns.
            unsafe { OwnedFd::from_raw_fd(target) }
        };
        let r1023 = dup_to(&r, 1023);
        let w1022 = dup_to(&w, 1022);
        let w1024 = dup_to(&w, 1024);
        write_fd(&w, b"x");

        let (rr, ww, xx) = select([&r1023], [&w1022], [&r1023], Some(LIMIT_SECS)).unwrap();
        assert_items(&rr, &[&r1023]);
        assert_items(&ww, &[&w1022]);
        assert!(xx.is_empty());
        let (rr, ww, _) = select([1023], [1022, 1023], [], Some(0.0)).unwrap();
        assert_eq!((rr, ww), (vec![1023], vec![1022]));

        // fd 1024 is open and valid, but cannot go into an fd_set: refused, no crash, nothing
        // else happens.
        let msg = "filedescriptor out of range in select()";
        assert_eq!(value_err(select([&w1024], [], [], None)), msg);
        assert_eq!(value_err(select([&r1023], [&w1024], [], None)), msg);
        assert_eq!(value_err(select([1023], [], [1024], None)), msg);
        if Syscall::raw_select_available() {
            let (rr, _, _) = select_with(Syscall::Select, [1023], [], [], Some(0.0)).unwrap();
            assert_eq!(rr, vec![1023]);
            assert_eq!(
                value_err(select_with(Syscall::Select, [1024], [], [], None)),
                msg
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The raw select syscall
// ---------------------------------------------------------------------------------------------

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn raw_select_gives_the_same_results_as_libc() {
    assert!(Syscall::raw_select_available());
    let p = tcp_pair();
    p.client.send(b"data").unwrap();
    p.client.send_flags(b"!", MSG_OOB).unwrap();
    let (mut ua, ub) = socketpair();
    ua.write_all(b"u").unwrap();
    let (pr, pw) = pipe();
    let (quiet, _peer) = socketpair();
    // Wait until the state is settled: data and urgent byte in, the unix socket readable.
    select([&p.server], [], [], Some(LIMIT_SECS)).unwrap();
    select([], [], [&p.server], Some(LIMIT_SECS)).unwrap();
    select([&ub], [], [], Some(LIMIT_SECS)).unwrap();

    let items: Vec<&dyn FileNo> = vec![&p.server, &p.client, &ub, &ua, &pr, &pw, &quiet];
    let run = |sys: Syscall| {
        let (r, w, x) =
            select_with(sys, items.clone(), items.clone(), items.clone(), Some(0.0)).unwrap();
        let fds = |v: Vec<&dyn FileNo>| v.iter().map(|i| i.fileno()).collect::<Vec<_>>();
        (fds(r), fds(w), fds(x))
    };
    let libc_result = run(Syscall::Libc);
    let raw_result = run(Syscall::Select);
    assert_eq!(raw_result, libc_result);
    // And the result is the expected one, so both are right, not merely equal.
    let fd = |f: &dyn FileNo| f.fileno();
    assert_eq!(libc_result.0, vec![fd(&p.server), fd(&ub)]);
    assert_eq!(
        libc_result.1,
        vec![
            fd(&p.server),
            fd(&p.client),
            fd(&ub),
            fd(&ua),
            fd(&pw),
            fd(&quiet)
        ]
    );
    assert_eq!(libc_result.2, vec![fd(&p.server)]);

    // Same checks, same messages.
    for (r, w) in [(vec![-1], vec![]), (vec![3], vec![1024])] {
        let a = select_with(Syscall::Libc, r.clone(), w.clone(), vec![], None).unwrap_err();
        let b = select_with(Syscall::Select, r, w, vec![], None).unwrap_err();
        assert_eq!(a.to_string(), b.to_string());
    }
    // A timeout: three empty lists, after at least the timeout.
    let start = Instant::now();
    let (r, w, x) = select_with(Syscall::Select, [&quiet], [], [&quiet], Some(0.05)).unwrap();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// The kernel's view of the blocked thread (`/proc/self/task/<tid>/syscall`) shows which
/// syscall each option issues, glibc's `select()` being `pselect6` and `Syscall::Select` the
/// kernel's own `select`, and what it gets: `nfds` = highest fd + 1, NULL for an empty list, a
/// set for a non-empty one, NULL for no timeout (strace: `pselect6(5, [3], NULL, [4], NULL, ..)`).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn each_syscall_option_blocks_in_the_syscall_it_names_with_the_args_python_passes() {
    for (sys, nr) in [
        (Syscall::Libc, testkit::proc::SYS_PSELECT6),
        (Syscall::Select, testkit::proc::SYS_SELECT),
    ] {
        for timeout in [None, Some(LIMIT_SECS)] {
            let (r, w) = pipe();
            let (quiet, _quiet_w) = pipe();
            let nfds = r.as_raw_fd().max(quiet.as_raw_fd()) as u64 + 1;
            let (tx, rx) = std::sync::mpsc::channel();
            let waiter = std::thread::spawn(move || {
                tx.send(testkit::proc::gettid()).unwrap();
                // A pipe is never exceptional: only the data on `r` ends the wait.
                let (rr, _, _) = select_with(sys, [&r], [], [&quiet], timeout).unwrap();
                rr.len()
            });
            let tid = rx.recv().unwrap();
            let seen = testkit::proc::wait_until_blocked_in(tid, nr, || waiter.is_finished());
            let args = testkit::proc::blocked_syscall_args(tid);
            write_fd(&w, b"x");
            assert_eq!(waiter.join().unwrap(), 1);
            assert!(seen, "{sys:?}: thread never blocked in syscall {nr}");
            let args = args.expect("syscall args while blocked");
            assert_eq!(args[0], nfds, "{sys:?}: nfds");
            assert_ne!(args[1], 0, "{sys:?}: rlist given as NULL");
            assert_eq!(args[2], 0, "{sys:?}: empty wlist not NULL");
            assert_ne!(args[3], 0, "{sys:?}: xlist given as NULL");
            assert_eq!(
                args[4] == 0,
                timeout.is_none(),
                "{sys:?}: timeout {timeout:?}"
            );
        }
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
#[test]
fn raw_select_is_a_clear_error_where_it_does_not_exist() {
    assert!(!Syscall::raw_select_available());
    let err = select_with(Syscall::Select, [0], [], [], Some(0.0)).unwrap_err();
    assert!(matches!(err, Error::NotImplemented(_)), "{err:?}");
}

/// Lists of every length around the inline/heap boundary, from iterators that do and do not
/// tell their length in advance, give the same items back, in order, repeats kept.
#[test]
fn long_and_unsized_lists_keep_order_and_repeats() {
    let (ready_a, ready_b) = UnixStream::pair().unwrap();
    let (idle_a, _idle_b) = UnixStream::pair().unwrap();
    (&ready_b).write_all(b"x").unwrap();
    let (r, i) = (ready_a.as_raw_fd(), idle_a.as_raw_fd());
    for n in [1, 15, 16, 17, 33, 64, 200] {
        // Every third entry is the readable fd; the others an idle one.
        let fds: Vec<RawFd> = (0..n).map(|k| if k % 3 == 0 { r } else { i }).collect();
        let expected: Vec<RawFd> = fds.iter().copied().filter(|&fd| fd == r).collect();
        let sized = select(fds.iter().copied(), [], [], Some(0.0)).unwrap().0;
        // filter() reports no lower bound: the list grows entry by entry.
        let unsized_ = select(fds.iter().copied().filter(|_| true), [], [], Some(0.0))
            .unwrap()
            .0;
        assert_eq!(sized, expected, "n = {n}");
        assert_eq!(unsized_, expected, "n = {n}, unsized");
    }
}

/// The size of this process's fd table (`FDSize` in `/proc/self/status`): the kernel's
/// `select(2)` looks at no fd at or above it.
fn fd_table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("FDSize:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("FDSize in /proc/self/status")
}

/// A closed fd fails with EBADF only inside the fd table: `select(2)` caps `nfds` at the
/// table's size, so an fd beyond it (below `FD_SETSIZE`) is never looked at, its bit is left as
/// given, and the fd comes back "ready". CPython reports it the same way; `select()`'s doc says
/// so. In a fresh process, whose table is small.
#[test]
fn a_closed_fd_beyond_the_fd_table_is_not_checked_and_comes_back_as_given() {
    let script = "import select\n\
                  size = int([l.split()[1] for l in open('/proc/self/status') if l.startswith('FDSize:')][0])\n\
                  print(size < 1024 and select.select([size], [size], [size], 0) == ([size], [size], [size]))\n";
    assert_eq!(
        testkit::python::run(script, &[], b"").trim(),
        "True",
        "CPython"
    );
    testkit::child::in_child(
        "a_closed_fd_beyond_the_fd_table_is_not_checked_and_comes_back_as_given",
        || {
            let size = fd_table_size();
            assert!(size < FD_SETSIZE, "the fd table already holds {size} fds");
            let beyond = size as RawFd;
            assert!(!testkit::fd::is_open(beyond));
            let ready = pyselect::select([beyond], [beyond], [beyond], Some(0.0)).expect("select");
            assert_eq!(ready, (vec![beyond], vec![beyond], vec![beyond]));
            // Inside the table a closed fd is EBADF.
            let closed = testkit::fd::closed_low_fd();
            assert!((closed as usize) < size);
            let err = pyselect::select([closed], [], [], Some(0.0)).expect_err("EBADF");
            assert_eq!(err.errno(), Some(libc::EBADF));
        },
    );
}
