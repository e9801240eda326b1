//! `select()` under arbitrary input: fds from `i32::MIN` to `i32::MAX`, lists from empty to past
//! `FD_SETSIZE` entries, and the awkward timeouts (NaN, ±inf, -0.0, subnormals, 1e300, the
//! edges of the nanosecond range). It never panics, and its result is exactly what a model of
//! CPython's rules predicts; the model itself is checked against `python3` on a batch of cases.
//!
//! - `select_agrees_with_the_model_*`: fds in `0..FD_SETSIZE` stand for fixture fds whose
//!   readiness is known (a pipe with data, its write end, a readable and writable socket, a
//!   writable one, a just-closed fd), so the model predicts the exact outcome: CPython's
//!   validation error, EBADF, or the ready input items in input order.
//! - `model_and_library_agree_with_cpython`: the same kind of cases run through CPython's
//!   `select.select` and through pyselect; outcomes compared as `ExceptionName|str(exc)`.
//! - `no_fd_leaks_*`: the set of open fds is unchanged after failing and succeeding `select()`
//!   calls and after `Socket` error paths.
//!
//! All tests of this file hold one lock: they depend on which fds are open in the process.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use pyselect::{select, Error, FileNo, Socket, FD_SETSIZE};

use testkit::fd::{pipe, socketpair, write_fd};
use testkit::serial;

// ---------------------------------------------------------------------------------------------
// Cases and the model of CPython's rules
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Case {
    lists: [Vec<RawFd>; 3],
    timeout: Option<f64>,
}

/// What CPython does with a case, up to the syscall: fail with an exception (class name and
/// message), or pass it to the kernel with this timeout (µs; `None` waits for ever).
#[derive(Clone, Debug, PartialEq)]
enum Checked {
    Fails(&'static str, String),
    Valid(Option<i64>),
}

/// CPython 3.11 `pytime.c` with `_PyTime_ROUND_TIMEOUT`, then `select`'s own check.
fn model_timeout(t: f64) -> Result<i64, (&'static str, String)> {
    if t.is_nan() {
        return Err(("ValueError", "Invalid value NaN (not a number)".into()));
    }
    let ns = t * 1e9; // one multiply, as _PyTime_FromDouble
    let ns = if ns >= 0.0 { ns.ceil() } else { ns.floor() };
    let limit = 9_223_372_036_854_775_808.0; // 2^63
    if !(-limit <= ns && ns < limit) {
        return Err((
            "OverflowError",
            "timestamp out of range for platform time_t".into(),
        ));
    }
    let ns = ns as i64;
    // Nanoseconds to microseconds, away from zero.
    let us = if ns % 1000 == 0 {
        ns / 1000
    } else if ns > 0 {
        ns / 1000 + 1
    } else {
        ns / 1000 - 1
    };
    if us < 0 {
        return Err(("ValueError", "timeout must be non-negative".into()));
    }
    Ok(us)
}

/// CPython's order of work: the timeout, then rlist, wlist, xlist entry by entry.
fn model_check(case: &Case) -> Checked {
    let us = match case.timeout.map(model_timeout).transpose() {
        Ok(us) => us,
        Err((kind, msg)) => return Checked::Fails(kind, msg),
    };
    for list in &case.lists {
        for (i, &fd) in list.iter().enumerate() {
            if fd < 0 {
                return Checked::Fails(
                    "ValueError",
                    format!("file descriptor cannot be a negative integer ({fd})"),
                );
            }
            if fd >= FD_SETSIZE as RawFd {
                return Checked::Fails(
                    "ValueError",
                    "filedescriptor out of range in select()".into(),
                );
            }
            if i >= FD_SETSIZE {
                return Checked::Fails(
                    "ValueError",
                    "too many file descriptors in select()".into(),
                );
            }
        }
    }
    Checked::Valid(us)
}

/// Any fd at all, with the interesting values often.
fn fd_strategy() -> impl Strategy<Value = RawFd> {
    prop_oneof![
        12 => 0..FD_SETSIZE as RawFd,
        1 => FD_SETSIZE as RawFd..1100,
        1 => prop::sample::select(vec![i32::MIN, -5, -1, 1023, 1024, i32::MAX]),
        1 => -6..0i32,
        1 => any::<i32>(),
    ]
}

/// Timeouts that pass CPython's checks.
fn valid_timeout() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1e-320,
            f64::MIN_POSITIVE,
            1e-7,
            1e-9,
            9.2e9
        ])
        .prop_map(Some),
        (0.0..0.002f64).prop_map(Some),
    ]
}

/// Any timeout, with the awkward values often.
fn timeout_strategy() -> impl Strategy<Value = Option<f64>> {
    let special = vec![
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e-320,
        -1e-320,
        f64::MIN_POSITIVE,
        1e-7,
        1e-9,
        -1e-9,
        -1e-10,
        -1.0,
        1e300,
        -1e300,
        9.2e9,
        9.223372036854775e9,
        9.3e9,
        -9.2e9,
        -9.3e9,
    ];
    prop_oneof![
        1 => Just(None),
        4 => prop::sample::select(special).prop_map(Some),
        2 => (0.0..0.002f64).prop_map(Some),
        2 => any::<f64>().prop_map(Some),
    ]
}

fn short_case() -> impl Strategy<Value = Case> {
    let any_list = || prop::collection::vec(fd_strategy(), 0..6);
    let good_list = || prop::collection::vec(0..FD_SETSIZE as RawFd, 0..6);
    let case = |(r, w, x, timeout)| Case {
        lists: [r, w, x],
        timeout,
    };
    prop_oneof![
        // Anything goes: mostly CPython's checks at work.
        3 => (any_list(), any_list(), any_list(), timeout_strategy()).prop_map(case),
        // Good entries and timeouts: mostly the syscall at work.
        3 => (good_list(), good_list(), good_list(), valid_timeout()).prop_map(case),
        // Three empty lists: the timeout alone.
        1 => timeout_strategy().prop_map(|timeout| Case {
            lists: [vec![], vec![], vec![]],
            timeout,
        }),
    ]
}

/// One list of 1000..1100 entries (around FD_SETSIZE), mostly one good fd with now and then a
/// bad one, beside two short lists.
fn long_case() -> impl Strategy<Value = Case> {
    let bad = prop::collection::vec(
        (
            0..1100usize,
            prop::sample::select(vec![-1, -7, 1024, i32::MAX]),
        ),
        0..2,
    );
    (
        0..3usize,
        1000..1100usize,
        prop::sample::select(vec![1, 2, 3]),
        bad,
        prop::collection::vec(fd_strategy(), 0..3),
        timeout_strategy(),
    )
        .prop_map(|(which, len, good, bad, other, timeout)| {
            let mut long = vec![good; len];
            for (at, fd) in bad {
                if at < long.len() {
                    long[at] = fd;
                }
            }
            let mut lists = [other.clone(), other.clone(), other];
            lists[which] = long;
            Case { lists, timeout }
        })
}

// ---------------------------------------------------------------------------------------------
// The library against the model, on fixture fds
// ---------------------------------------------------------------------------------------------

/// An entry of a list: an fd and a tag unique to its place in the case, so the test can tell
/// which input item came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    fd: RawFd,
    tag: usize,
}

impl FileNo for Entry {
    fn fileno(&self) -> RawFd {
        self.fd
    }
}

/// Fds whose readiness is known and fixed for the whole run.
struct Fixtures {
    _pipe_r: OwnedFd,
    _pipe_w: OwnedFd,
    _sock_rw: UnixStream,
    _sock_w: UnixStream,
    _peers: (UnixStream, UnixStream),
    /// (fd, readable, writable); exceptional is never set for these.
    known: Vec<(RawFd, bool, bool)>,
    closed: RawFd,
}

impl Fixtures {
    fn new() -> Fixtures {
        let (pipe_r, pipe_w) = pipe();
        write_fd(&pipe_w, b"x");
        let (sock_rw, peer_rw) = socketpair();
        write_fd(&peer_rw, b"y");
        let (sock_w, peer_w) = socketpair();
        // Wait until the data is visibly there (it already is for pipes and unix sockets,
        // but the test must not assume it).
        select([&pipe_r], [], [], Some(testkit::LIMIT_SECS)).unwrap();
        select([&sock_rw], [], [], Some(testkit::LIMIT_SECS)).unwrap();
        let known = vec![
            (pipe_r.as_raw_fd(), true, false),
            (pipe_w.as_raw_fd(), false, true),
            (sock_rw.as_raw_fd(), true, true),
            (sock_w.as_raw_fd(), false, true),
        ];
        let closed = testkit::fd::closed_low_fd();
        Fixtures {
            _pipe_r: pipe_r,
            _pipe_w: pipe_w,
            _sock_rw: sock_rw,
            _sock_w: sock_w,
            _peers: (peer_rw, peer_w),
            known,
            closed,
        }
    }

    /// The fd a case's in-range value stands for: one of the known fds, or (for one value in
    /// 16) the closed one.
    fn map(&self, fd: RawFd) -> RawFd {
        if !(0..FD_SETSIZE as RawFd).contains(&fd) {
            fd
        } else if fd % 16 == 15 {
            self.closed
        } else {
            self.known[fd as usize % self.known.len()].0
        }
    }

    fn readiness(&self, fd: RawFd) -> Option<(bool, bool)> {
        self.known
            .iter()
            .find(|&&(k, _, _)| k == fd)
            .map(|&(_, r, w)| (r, w))
    }
}

/// Longest wait a case may make (µs) when nothing is ready: longer ones are not run.
const MAX_IDLE_WAIT_US: i64 = 10_000;

fn check_against_model(fx: &Fixtures, case: &Case) -> Result<(), TestCaseError> {
    let mut tag = 0;
    let lists: Vec<Vec<Entry>> = case
        .lists
        .iter()
        .map(|list| {
            list.iter()
                .map(|&fd| {
                    tag += 1;
                    Entry {
                        fd: fx.map(fd),
                        tag,
                    }
                })
                .collect()
        })
        .collect();
    let mapped = Case {
        lists: [
            lists[0].iter().map(|e| e.fd).collect(),
            lists[1].iter().map(|e| e.fd).collect(),
            lists[2].iter().map(|e| e.fd).collect(),
        ],
        timeout: case.timeout,
    };
    let checked = model_check(&mapped);
    // What the kernel will say, when the checks pass.
    let any_closed = mapped.lists.iter().flatten().any(|&fd| fd == fx.closed);
    let ready = |i: usize| -> Vec<Entry> {
        lists[i]
            .iter()
            .copied()
            .filter(|e| match (i, fx.readiness(e.fd)) {
                (0, Some((r, _))) => r,
                (1, Some((_, w))) => w,
                _ => false,
            })
            .collect()
    };
    let expected_ready = (ready(0), ready(1), ready(2));
    if let Checked::Valid(us) = checked {
        let nothing_ready = expected_ready.0.is_empty()
            && expected_ready.1.is_empty()
            && expected_ready.2.is_empty();
        if !any_closed && nothing_ready && us.is_none_or(|us| us > MAX_IDLE_WAIT_US) {
            return Ok(()); // would wait (for ever, or longer than a test should)
        }
    }

    let [r, w, x] = <[Vec<Entry>; 3]>::try_from(lists).unwrap();
    let got = select(r, w, x, case.timeout);
    match (&checked, got) {
        (Checked::Fails(kind, msg), Err(e)) => {
            prop_assert_eq!(e.python_name(), *kind, "{:?}", e);
            prop_assert_eq!(&e.to_string(), msg);
            let right_variant = match *kind {
                "ValueError" => matches!(e, Error::Value(_)),
                "OverflowError" => matches!(e, Error::Overflow(_)),
                _ => false,
            };
            prop_assert!(right_variant, "{:?}", e);
        }
        (Checked::Valid(_), Err(e)) if any_closed => {
            prop_assert!(matches!(e, Error::Os(_)), "{:?}", e);
            prop_assert_eq!(e.errno(), Some(libc::EBADF));
        }
        (Checked::Valid(_), Ok(got)) if !any_closed => {
            prop_assert_eq!(got, expected_ready);
        }
        (_, got) => {
            prop_assert!(
                false,
                "model says {:?} (closed fd in lists: {}), select gave {:?}",
                checked,
                any_closed,
                got
            );
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    })
}

#[test]
fn select_agrees_with_the_model_on_short_lists() {
    let _lock = serial();
    let fx = Fixtures::new();
    runner(512)
        .run(&short_case(), |case| check_against_model(&fx, &case))
        .unwrap();
}

#[test]
fn select_agrees_with_the_model_around_fd_setsize_entries() {
    let _lock = serial();
    let fx = Fixtures::new();
    runner(24)
        .run(&long_case(), |case| check_against_model(&fx, &case))
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The model and the library against CPython
// ---------------------------------------------------------------------------------------------

const PY_SELECT_BATCH: &str = r#"
import os, select, struct, sys
r, w = os.pipe()
os.close(r)
os.close(w)
closed = r  # a just-closed low fd: select() on it fails with EBADF

def parse(text):
    out = []
    for tok in filter(None, text.split(',')):
        v, _, n = tok.partition('*')
        out.extend([closed if v == 'C' else int(v)] * (int(n) if n else 1))
    return out

for line in sys.stdin:
    t, rl, wl, xl = line.rstrip('\n').split(';')
    timeout = None if t == 'None' else struct.unpack('<d', bytes.fromhex(t))[0]
    try:
        res = select.select(parse(rl), parse(wl), parse(xl), timeout)
        print('OK|%d|%d|%d' % tuple(map(len, res)))
    except Exception as e:
        print('%s|%s' % (type(e).__name__, e))
"#;

/// Every in-range fd stands for one just-closed fd (`C` for Python), so a case that passes the
/// checks ends in EBADF at once instead of depending on what the process has open; and a case
/// with three empty lists only polls, instead of sleeping.
fn for_cpython(mut case: Case) -> Case {
    if case.lists.iter().all(Vec::is_empty) {
        if let Ok(us) = case.timeout.map(model_timeout).transpose() {
            if us.is_none_or(|us| us > 1000) {
                case.timeout = Some(0.0);
            }
        }
    }
    case
}

fn encode_list(list: &[RawFd]) -> String {
    let token = |fd: RawFd| {
        if (0..FD_SETSIZE as RawFd).contains(&fd) {
            "C".to_string()
        } else {
            fd.to_string()
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let t = token(list[i]);
        let mut n = 1;
        while i + n < list.len() && token(list[i + n]) == t {
            n += 1;
        }
        out.push(if n == 1 { t } else { format!("{t}*{n}") });
        i += n;
    }
    out.join(",")
}

fn encode(case: &Case) -> String {
    let t = match case.timeout {
        None => "None".to_string(),
        Some(t) => t.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect(),
    };
    let [r, w, x] = &case.lists;
    format!(
        "{t};{};{};{}",
        encode_list(r),
        encode_list(w),
        encode_list(x)
    )
}

fn outcome<T>(res: pyselect::Result<(Vec<T>, Vec<T>, Vec<T>)>) -> String {
    match res {
        Ok((r, w, x)) => format!("OK|{}|{}|{}", r.len(), w.len(), x.len()),
        Err(e) => format!("{}|{}", e.python_name(), e),
    }
}

fn model_outcome(case: &Case) -> String {
    match model_check(case) {
        Checked::Fails(kind, msg) => format!("{kind}|{msg}"),
        Checked::Valid(_) if case.lists.iter().all(Vec::is_empty) => "OK|0|0|0".into(),
        Checked::Valid(_) => "OSError|[Errno 9] Bad file descriptor".into(),
    }
}

#[test]
fn model_and_library_agree_with_cpython() {
    let _lock = serial();
    let mut gen = TestRunner::deterministic();
    let mut cases: Vec<Case> = Vec::new();
    for _ in 0..400 {
        cases.push(short_case().new_tree(&mut gen).unwrap().current());
    }
    for _ in 0..24 {
        cases.push(long_case().new_tree(&mut gen).unwrap().current());
    }
    // And the hand-picked edges.
    for t in [
        None,
        Some(f64::NAN),
        Some(-0.0),
        Some(-1e-10),
        Some(f64::INFINITY),
    ] {
        cases.push(Case {
            lists: [vec![5; FD_SETSIZE], vec![5; FD_SETSIZE + 1], vec![-1]],
            timeout: t,
        });
        cases.push(Case {
            lists: [vec![], vec![1024], vec![-1]],
            timeout: t,
        });
    }
    let cases: Vec<Case> = cases.into_iter().map(for_cpython).collect();

    let input: String = cases.iter().map(|c| encode(c) + "\n").collect();
    let stdout = testkit::python::run(PY_SELECT_BATCH, &[], input.as_bytes());
    let python: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        python.len(),
        cases.len(),
        "python3 answered {} of {} cases",
        python.len(),
        cases.len()
    );

    // An older 3.11's known differences, as the reference words them (see `testkit::python`).
    let python: Vec<String> = python
        .iter()
        .zip(&cases)
        .map(|(line, case)| {
            testkit::python::outcome_as_reference(testkit::python::Call::Select, case.timeout, line)
        })
        .collect();

    let closed = testkit::fd::closed_low_fd();
    let mut mismatches = Vec::new();
    for (case, py) in cases.iter().zip(&python) {
        let lists: Vec<Vec<RawFd>> = case
            .lists
            .iter()
            .map(|l| {
                l.iter()
                    .map(|&fd| {
                        if (0..FD_SETSIZE as RawFd).contains(&fd) {
                            closed
                        } else {
                            fd
                        }
                    })
                    .collect()
            })
            .collect();
        let [r, w, x] = <[Vec<RawFd>; 3]>::try_from(lists).unwrap();
        let ours = outcome(select(r, w, x, case.timeout));
        let model = model_outcome(case);
        if ours != *py || model != *py {
            mismatches.push(format!(
                "case {}\n  cpython: {py}\n  pyselect: {ours}\n  model:   {model}",
                encode(case)
            ));
        }
    }
    testkit::python::assert_no_mismatches(&mismatches, cases.len(), "cases");
    // The batch exercised every kind of outcome.
    let kinds: BTreeSet<&str> = python
        .iter()
        .map(|l| l.split('|').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["OK", "OSError", "OverflowError", "ValueError"]),
        "the batch missed an outcome"
    );
}

// ---------------------------------------------------------------------------------------------
// No fd leaks
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_same_fds(before: &std::collections::BTreeMap<RawFd, String>) {
    let after = testkit::fd::open_fds();
    let leaked: Vec<_> = after
        .iter()
        .filter(|(fd, _)| !before.contains_key(fd))
        .collect();
    let lost: Vec<_> = before
        .iter()
        .filter(|(fd, _)| !after.contains_key(fd))
        .collect();
    assert!(
        leaked.is_empty() && lost.is_empty(),
        "open fds changed: new {leaked:?}, gone {lost:?}"
    );
}

#[test]
fn no_fd_leaks_from_select() {
    let _lock = serial();
    let before = testkit::fd::open_fds();
    for _ in 0..3 {
        let (a, b) = socketpair();
        let fa = a.as_raw_fd();
        let closed = testkit::fd::closed_low_fd();
        let results = [
            outcome(select([fa], [fa], [fa], Some(0.0))),
            outcome(select([&a, &b], [&a], [], Some(1e-7))),
            outcome(select([-1], [], [], None)),
            outcome(select([fa], [1024], [], None)),
            outcome(select(vec![fa; FD_SETSIZE + 1], [], [], None)),
            outcome(select(vec![fa; FD_SETSIZE], [], [], Some(0.0))),
            outcome(select([fa], [], [], Some(f64::NAN))),
            outcome(select([fa], [], [], Some(f64::INFINITY))),
            outcome(select([fa], [], [], Some(-1.0))),
            outcome(select([fa, closed], [], [], None)),
            outcome(select::<RawFd, _, _, _>([], [], [], Some(1e-6))),
        ];
        assert_eq!(
            results.map(|r| r.split('|').next().unwrap().to_string()),
            [
                "OK",
                "OK",
                "ValueError",
                "ValueError",
                "ValueError",
                "OK",
                "ValueError",
                "OverflowError",
                "ValueError",
                "OSError",
                "OK"
            ]
        );
    }
    assert_same_fds(&before);
}

#[test]
fn no_fd_leaks_from_socket_error_paths() {
    let _lock = serial();
    let before = testkit::fd::open_fds();
    for _ in 0..3 {
        // bind to a port in use
        let listener = Socket::tcp_v4().unwrap();
        listener.bind(("127.0.0.1", 0)).unwrap();
        listener.listen(None).unwrap();
        let port = listener.getsockname().unwrap().port();
        let second = Socket::tcp_v4().unwrap();
        let err = second.bind(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EADDRINUSE));
        assert_eq!(err.to_string(), "[Errno 98] Address already in use");
        drop(second);

        // connect refused: a bound, non-listening socket holds the port, so nobody listens
        let holder = Socket::tcp_v4().unwrap();
        holder.bind(("127.0.0.1", 0)).unwrap();
        let closed_port = holder.getsockname().unwrap().port();
        let client = Socket::tcp_v4().unwrap();
        let err = client.connect(("127.0.0.1", closed_port)).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ECONNREFUSED));
        assert_eq!(err.to_string(), "[Errno 111] Connection refused");
        drop(client);
        // the same through the timeout path (non-blocking connect, poll, SO_ERROR)
        let mut client = Socket::tcp_v4().unwrap();
        client.settimeout(Some(testkit::LIMIT_SECS)).unwrap();
        let err = client.connect(("127.0.0.1", closed_port)).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ECONNREFUSED));
        drop(client);
        drop(holder);

        // accept on a socket that is not listening
        let idle = Socket::tcp_v4().unwrap();
        let err = idle.accept().unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL));
        assert_eq!(err.to_string(), "[Errno 22] Invalid argument");
        drop(idle);

        // accept that times out on a listener nobody connects to
        let mut listener = listener;
        listener.settimeout(Some(0.001)).unwrap();
        let err = listener.accept().unwrap_err();
        assert!(matches!(err, Error::Timeout), "{err:?}");
        assert_eq!(err.to_string(), "timed out");

        // an address of the wrong family
        let v4 = Socket::tcp_v4().unwrap();
        let err = v4.bind(("::1", 0)).unwrap_err();
        assert!(matches!(err, Error::AddrInfo(..)), "{err:?}");

        // close twice, then drop
        let mut sock = Socket::tcp_v4().unwrap();
        sock.close().unwrap();
        sock.close().unwrap();
    }
    assert_same_fds(&before);
}
