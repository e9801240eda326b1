//! The buffer-reusing calls against the Python-shaped ones, on random inputs.
//!
//! - `select_into` must return exactly what `select()` returns for the same three lists and
//!   timeout: the same ready items in the same order, or the same error (kind and message),
//!   whatever its `ReadyLists` held before (each case reuses one buffer across many calls, so
//!   it always starts with the previous call's results, or with stale items put there).
//! - `Poll::poll_into` must return what `Poll::poll` returns on the same object, after random
//!   registrations, for random timeouts (errors included).
//! - `Epoll::poll_into` must return what `Epoll::poll` returns, for random `maxevents` and
//!   timeouts. Two epoll instances get the same registrations and the same number of calls in
//!   lockstep, one asked with `poll` and one with `poll_into`: with `maxevents` below the number
//!   ready, the kernel rotates its ready list from call to call, and identical histories give
//!   identical rotations.
//!
//! The fds: pipe read ends with data, write ends (writable), an empty read end, a hung-up read
//! end, a number that is not open (`EBADF` for `select`, `POLLNVAL` for `poll`), and for
//! `select` also -1 and `FD_SETSIZE` (its two `ValueError`s).

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use proptest::prelude::*;
use pyselect::{
    select, select_into, Epoll, EpollEvents, Error, Poll, ReadyLists, FD_SETSIZE, POLLIN,
};

/// A number that is not open in this process (checked in [`fds`]).
const CLOSED: RawFd = 900;

/// Pipes kept open for the test; `numbers` the fds to draw from, open or not.
struct Fds {
    _open: Vec<OwnedFd>,
    numbers: Vec<RawFd>,
}

fn fds() -> Fds {
    let mut open = Vec::new();
    for i in 0..4 {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
        if i < 2 {
            std::fs::File::from(w.try_clone().unwrap())
                .write_all(b"data")
                .unwrap();
        }
        open.push(r);
        // The last pipe's writer is dropped: a hung-up read end.
        if i < 3 {
            open.push(w);
        }
    }
    let mut numbers: Vec<RawFd> = open.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: F_GETFD only reads the fd table.
    assert_eq!(
        unsafe { libc::fcntl(CLOSED, libc::F_GETFD) },
        -1,
        "fd {CLOSED} is open"
    );
    numbers.push(CLOSED);
    Fds {
        _open: open,
        numbers,
    }
}

/// An error as a comparable text: its Debug form shows the variant, the errno and the message.
fn err_text(e: &Error) -> String {
    format!("{e:?} / {e}")
}

/// `select()` timeouts in seconds: polls, and each of its timeout errors (NaN, negative,
/// out of range). None of them waits.
fn seconds() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        6 => Just(Some(0.0)),
        1 => Just(Some(-0.0)),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(-1.0)),
        1 => Just(Some(1e300)),
    ]
}

/// `poll`/`epoll` timeouts in seconds that never wait (a negative one blocks there): polls,
/// NaN, out of range, and too large for a C int of milliseconds.
fn poll_seconds() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        6 => Just(Some(0.0)),
        1 => Just(Some(-0.0)),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(1e300)),
        1 => Just(Some(1e7)),
    ]
}

/// One select() list: indexes into the fd pool, then and again -1 or FD_SETSIZE; up to 40
/// entries, so that lists both kept inline (up to 16) and on the heap are compared.
fn list(pool: usize) -> impl Strategy<Value = Vec<RawFd>> {
    let entry = prop_oneof![
        40 => (0..pool).prop_map(|i| i as RawFd),
        1 => Just(-1 - 1000),
        1 => Just(-2 - 1000),
    ];
    prop::collection::vec(entry, 0..40)
}

/// The pool index (or marker) to a real fd number.
fn resolve(fds: &Fds, list: &[RawFd]) -> Vec<RawFd> {
    list.iter()
        .map(|&i| match i {
            -1001 => -1,
            -1002 => FD_SETSIZE as RawFd,
            i => fds.numbers[i as usize],
        })
        .collect()
}

/// Poll registrations: (pool index, mask); masks from the usual ones and any 16 bits.
fn registrations(pool: usize) -> impl Strategy<Value = Vec<(usize, u16)>> {
    let mask = prop_oneof![
        3 => prop::sample::select(vec![1u16, 2, 4, 5, 7, 0x2000, 0x2005]),
        1 => any::<u16>(),
    ];
    prop::collection::vec((0..pool, mask), 0..12)
}

/// `maxevents` worth trying: the defaults, the two errors, small limits, a large buffer.
fn maxevents() -> impl Strategy<Value = Option<i32>> {
    prop::sample::select(vec![
        None,
        Some(-1),
        Some(0),
        Some(-5),
        Some(1),
        Some(2),
        Some(3),
        Some(2000),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn select_into_returns_what_select_returns(
        calls in prop::collection::vec(
            (list(8), list(8), list(8), seconds()),
            1..12,
        )
    ) {
        let fds = fds();
        assert_eq!(fds.numbers.len(), 8);
        let mut ready = ReadyLists::new();
        // Stale items from no call at all: the first call must drop them too.
        ready.readable.extend([CLOSED, -7]);
        ready.exceptional.push(12345);
        for (r, w, x, timeout) in calls {
            let (r, w, x) = (resolve(&fds, &r), resolve(&fds, &w), resolve(&fds, &x));
            let want = select(r.iter().copied(), w.iter().copied(), x.iter().copied(), timeout);
            let got = select_into(
                r.iter().copied(),
                w.iter().copied(),
                x.iter().copied(),
                timeout,
                &mut ready,
            );
            match (want, got) {
                (Ok((wr, ww, wx)), Ok(())) => {
                    prop_assert_eq!(&ready.readable, &wr);
                    prop_assert_eq!(&ready.writable, &ww);
                    prop_assert_eq!(&ready.exceptional, &wx);
                }
                (Err(want), Err(got)) => {
                    prop_assert_eq!(err_text(&got), err_text(&want));
                    // Nothing stale is left behind a failed call.
                    prop_assert!(ready.readable.is_empty());
                    prop_assert!(ready.writable.is_empty());
                    prop_assert!(ready.exceptional.is_empty());
                }
                (want, got) => prop_assert!(false, "select {:?} vs select_into {:?}", want, got),
            }
        }
    }

    #[test]
    fn poll_into_returns_what_poll_returns(
        steps in prop::collection::vec((registrations(8), poll_seconds()), 1..10)
    ) {
        let fds = fds();
        let mut p = Poll::new();
        let mut ready = vec![(CLOSED, POLLIN), (-7, 0)];
        for (regs, seconds) in steps {
            for (i, mask) in regs {
                p.register(fds.numbers[i], Some(mask)).unwrap();
            }
            // Poll's timeout is in ms: the same values, scaled, reach its own conversion.
            let ms = seconds.map(|s| s * 1e3);
            let want = p.poll(ms);
            let got = p.poll_into(ms, &mut ready);
            match (want, got) {
                (Ok(want), Ok(())) => prop_assert_eq!(&ready, &want),
                (Err(want), Err(got)) => {
                    prop_assert_eq!(err_text(&got), err_text(&want));
                    prop_assert!(ready.is_empty());
                }
                (want, got) => prop_assert!(false, "poll {:?} vs poll_into {:?}", want, got),
            }
        }
    }

    #[test]
    fn epoll_poll_into_returns_what_poll_returns(
        regs in prop::collection::vec((0..8usize, 1u32..8), 0..10),
        calls in prop::collection::vec((maxevents(), poll_seconds()), 1..10),
        close_at in prop::option::of(0..10usize),
    ) {
        let fds = fds();
        let (mut a, mut b) = (Epoll::new().unwrap(), Epoll::new().unwrap());
        for (i, mask) in regs {
            // The same outcome for both (File exists for a second register of one fd).
            let fd = fds.numbers[i];
            prop_assert_eq!(
                a.register(fd, Some(mask)).err().and_then(|e| e.errno()),
                b.register(fd, Some(mask)).err().and_then(|e| e.errno())
            );
        }
        let mut events = EpollEvents::with_capacity(1);
        for (n, (maxevents, timeout)) in calls.into_iter().enumerate() {
            if close_at == Some(n) {
                a.close().unwrap();
                b.close().unwrap();
            }
            let want = a.poll(timeout, maxevents);
            let got = b.poll_into(timeout, maxevents, &mut events);
            match (want, got) {
                (Ok(want), Ok(())) => {
                    prop_assert_eq!(events.iter().collect::<Vec<_>>(), want.clone());
                    prop_assert_eq!(events.len(), want.len());
                    prop_assert_eq!(events.get(0), want.first().copied());
                }
                (Err(want), Err(got)) => {
                    prop_assert_eq!(err_text(&got), err_text(&want));
                    prop_assert!(events.is_empty());
                }
                (want, got) => prop_assert!(false, "poll {:?} vs poll_into {:?}", want, got),
            }
        }
    }
}

/// `select_into` with references hands back the very objects given, as `select()` does.
#[test]
fn select_into_returns_the_objects_given() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let (c, _d) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    let mut ready = ReadyLists::with_capacity(4);
    select_into([&a, &c, &a], [&c], [], Some(0.0), &mut ready).unwrap();
    assert_eq!(ready.readable.len(), 2);
    assert!(ready.readable.iter().all(|s| std::ptr::eq(*s, &a)));
    assert!(std::ptr::eq(ready.writable[0], &c));
    assert!(ready.exceptional.is_empty());
    let (r, w, x) = ready.into_ready();
    assert_eq!((r.len(), w.len(), x.len()), (2, 1, 0));
}

/// A list of `FD_SETSIZE + 1` entries is `select()`'s "too many file descriptors" for
/// `select_into` as well, and leaves nothing in the buffer.
#[test]
fn select_into_refuses_too_many_entries_as_select_does() {
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let many = vec![fd; FD_SETSIZE + 1];
    let want = select(many.iter().copied(), [], [], Some(0.0)).unwrap_err();
    let mut ready = ReadyLists::new();
    ready.writable.push(fd);
    let got = select_into(many.iter().copied(), [], [], Some(0.0), &mut ready).unwrap_err();
    assert_eq!(err_text(&got), err_text(&want));
    assert!(ready.readable.is_empty() && ready.writable.is_empty());
    // Exactly FD_SETSIZE entries are fine, for both, and come back whole (the fd is writable).
    let full = &many[..FD_SETSIZE];
    let (_, w, _) = select([], full.iter().copied(), [], Some(0.0)).unwrap();
    select_into([], full.iter().copied(), [], Some(0.0), &mut ready).unwrap();
    assert_eq!(ready.writable, w);
    assert_eq!(w.len(), FD_SETSIZE);
}
