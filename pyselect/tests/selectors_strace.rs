//! pyselect's selectors make CPython's syscalls: the same `pselect6`, `poll`,
//! `epoll_create1`, `epoll_ctl`, `epoll_wait` and `close` lines under strace, call for call,
//! and the same timeout argument for every timeout.
//!
//! One Rust child (this test binary re-executed, running only `selectors_child_entry`) and one Python
//! program (`testkit/fixtures/selectors_calls.py --fixed-fds`) set up the same fds at the same
//! numbers (40..=43, see `testkit::pyref::FIXED_FDS`), make the same selector operations between two
//! `getppid()` markers under `strace -f`, and the traced calls between the markers are
//! compared. Normalised: the epoll fd's number, the address strace prints for
//! `EPOLL_CTL_DEL`'s event pointer, CPython's uninitialised upper 32 bits of `data.u64`
//! (bpo-35561), and the kernel's `left {...}` write-back.
//!
//! Needs `python3` and `strace`; without them the tests fail with a message saying so.

use testkit::pyref;
use testkit::selectors::{python_run, rust_run, Kind, Op, KINDS, R, RW, W};
use testkit::strace::last_arg;

/// Not a test: the traced Rust child ([`testkit::selectors::CHILD_ENTRY`]). It sets up the fixed
/// fds, reads operations from stdin and makes them between two `getppid()` marks.
#[test]
#[ignore = "entry point of the traced child process, run by the other tests"]
fn selectors_child_entry() {
    if pyref::is_child() {
        testkit::selectors::child_main();
    }
}

/// The operations every selector goes through: fds 40 (readable and writable), 41 (writable),
/// 42 (never ready), 43 (writable); every syscall kind, and the timeouts of R§3.8.
fn lifecycle(kind: Kind) -> Vec<Op> {
    use Op::*;
    let t = |x: f64| Sel(Some(x));
    vec![
        New(kind),
        Reg(40, R, 1),
        Reg(41, W, 2),
        Reg(42, RW, 3),
        Sel(None),
        t(0.0),
        t(-1.0),
        t(0.009),
        t(0.013),
        t(1e-9),
        t(1.5),
        Mod(41, R, 4),
        Mod(41, R, 5),
        Unreg(42),
        t(0.0),
        Reg(43, W, 6),
        Mod(43, 0, 7),
        t(0.0),
        Close,
    ]
}

fn show(lines: &[String]) -> String {
    lines.iter().map(|l| format!("  {l}\n")).collect()
}

#[test]
fn syscall_lines_match_cpython_call_for_call() {
    for kind in KINDS {
        let ops = lifecycle(kind);
        let (py_out, py_calls) = python_run(&ops);
        let (rs_out, rs_calls) = rust_run(&ops);
        assert_eq!(rs_out, py_out, "{kind:?}: outcomes differ");
        assert_eq!(
            rs_calls,
            py_calls,
            "{kind:?}: pyselect's syscalls (left) differ from CPython's (right)\n\
             pyselect:\n{}CPython:\n{}",
            show(&rs_calls),
            show(&py_calls)
        );
    }
}

#[test]
fn cpython_reference_is_as_the_research_says() {
    // Pins the points the comparison above is about to CPython's own trace, so that the two
    // runs cannot agree on something else (say, no syscall at all).
    let (_, select) = python_run(&lifecycle(Kind::Select));
    assert_eq!(
        select.len(),
        9,
        "SelectSelector: one pselect6 per select():\n{}",
        show(&select)
    );
    assert_eq!(
        select[0],
        "pselect6(43, [40 42], [41 42], NULL, NULL, NULL) = 2 (in [40], out [41])"
    );
    assert!(
        select[3].contains("{tv_sec=0, tv_nsec=9000000}"),
        "{}",
        select[3]
    );
    assert!(
        select[2].contains("{tv_sec=0, tv_nsec=0}"),
        "-1 is max(-1, 0): {}",
        select[2]
    );

    let (_, poll) = python_run(&lifecycle(Kind::Poll));
    assert!(poll[0].starts_with(
        "poll([{fd=40, events=POLLIN}, {fd=41, events=POLLOUT}, {fd=42, events=POLLIN|POLLOUT}], 3, -1)"
    ), "{}", poll[0]);
    let poll_ms: Vec<&str> = poll[..7].iter().map(|l| last_arg(l)).collect();
    assert_eq!(poll_ms, ["-1", "0", "0", "9", "13", "1", "1500"]);

    let (_, epoll) = python_run(&lifecycle(Kind::Epoll));
    assert_eq!(epoll[0], "epoll_create1(EPOLL_CLOEXEC) = EPFD");
    assert_eq!(
        epoll[1],
        "epoll_ctl(EPFD, EPOLL_CTL_ADD, 40, {events=EPOLLIN, data={u32=40, u64=40}}) = 0"
    );
    let waits: Vec<&String> = epoll
        .iter()
        .filter(|l| l.starts_with("epoll_wait("))
        .collect();
    let epoll_ms: Vec<&str> = waits[..7].iter().map(|l| last_arg(l)).collect();
    assert_eq!(
        epoll_ms,
        ["-1", "0", "0", "10", "14", "1", "1500"],
        "the +1 ms quirk"
    );
    assert!(
        waits[0].contains("], 3, -1)"),
        "maxevents is the number of keys: {}",
        waits[0]
    );
    assert!(epoll.contains(&"epoll_ctl(EPFD, EPOLL_CTL_DEL, 42, PTR) = 0".to_owned()));
    assert_eq!(epoll.last().unwrap(), "close(EPFD) = 0");
}

// ---------------------------------------------------------------------------------------------
// Timeout conversion: a model of Lib/selectors.py's arithmetic, checked under strace against
// CPython and pyselect on a few hundred values.
// ---------------------------------------------------------------------------------------------

/// `PollSelector`: `math.ceil(t * 1e3)` ms for t > 0, else 0.
fn model_poll_ms(t: f64) -> i64 {
    if t <= 0.0 {
        0
    } else {
        (t * 1e3).ceil() as i64
    }
}

/// `EpollSelector`: `math.ceil(t * 1e3) * 1e-3` seconds, which `epoll.poll` turns into
/// `ceil(s * 1e9)` ns and then ms rounded up.
fn model_epoll_ms(t: f64) -> i64 {
    if t <= 0.0 {
        return 0;
    }
    let s = (t * 1e3).ceil() * 1e-3;
    let ns = (s * 1e9).ceil() as i64;
    (ns + 999_999) / 1_000_000
}

/// A few hundred timeouts: every n/1000 s for n in 1..=100 (where the epoll quirk lives),
/// random mantissas from 1 µs to 100 s, and edge values. Deterministic.
fn timeout_values() -> Vec<f64> {
    let mut v: Vec<f64> = (1..=100).map(|n| n as f64 / 1000.0).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..250 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mantissa = 1.0 + (x % 9_000_000) as f64 / 1_000_000.0;
        let exp = (x >> 32) % 8; // 1e-6 .. 1e1
        v.push(mantissa * 10f64.powi(exp as i32 - 6));
    }
    v.extend([
        1e-9,
        1e-7,
        0.0005,
        0.0015,
        0.1 + 0.2,
        1.0000000001,
        2.675,
        -0.0001,
        -0.0,
        0.0,
    ]);
    v
}

#[test]
fn timeouts_match_cpython_and_the_model_on_hundreds_of_values() {
    let values = timeout_values();
    for (kind, model) in [
        (Kind::Poll, model_poll_ms as fn(f64) -> i64),
        (Kind::Epoll, model_epoll_ms),
    ] {
        // Fd 41 is writable, so every call returns at once whatever its timeout.
        let mut ops = vec![Op::New(kind), Op::Reg(41, W, 1)];
        ops.extend(values.iter().map(|&t| Op::Sel(Some(t))));
        ops.push(Op::Close);
        let (_, py) = python_run(&ops);
        let (_, rs) = rust_run(&ops);
        let wait = |calls: &[String]| -> Vec<i64> {
            calls
                .iter()
                .filter(|c| c.starts_with("poll(") || c.starts_with("epoll_wait("))
                .map(|c| last_arg(c).parse().expect("a number"))
                .collect()
        };
        let (py_ms, rs_ms) = (wait(&py), wait(&rs));
        assert_eq!(
            py_ms.len(),
            values.len(),
            "{kind:?}: CPython's calls:\n{}",
            show(&py)
        );
        let mut bad = Vec::new();
        for ((&t, &p), &r) in values.iter().zip(&py_ms).zip(&rs_ms) {
            if p != r || p != model(t) {
                bad.push(format!(
                    "{t:?}: CPython {p}, pyselect {r}, model {}",
                    model(t)
                ));
            }
        }
        assert_eq!(
            rs_ms.len(),
            py_ms.len(),
            "{kind:?}: pyselect's calls:\n{}",
            show(&rs)
        );
        assert!(
            bad.is_empty(),
            "{kind:?}: {} of {} differ:\n{}",
            bad.len(),
            values.len(),
            bad.join("\n")
        );
    }
    // The values do reach the quirk: EpollSelector waits n + 1 ms for some n / 1000 s.
    let quirky = (1..=100)
        .filter(|&n| model_epoll_ms(n as f64 / 1000.0) == n + 1)
        .count();
    assert!(quirky >= 5, "only {quirky} of n/1000 show the +1 ms");
    assert_eq!(model_epoll_ms(0.009), 10);
    assert_eq!(model_poll_ms(0.009), 9);
}
