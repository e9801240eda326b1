//! `Poll::poll`'s and `Epoll::poll`'s timeout conversions against CPython 3.11.
//!
//! Three layers, each checked against the next, as `tests/timeout_cpython.rs` does for
//! `select()`:
//! 1. real `p.poll(t)` and `ep.poll(t)` calls in CPython under strace, on a few hundred
//!    generated values (rounding edges, both signs, every magnitude, the ends of the `int` and
//!    `i64` nanosecond ranges), with a writable fd registered so that no call waits;
//! 2. `testkit/fixtures/poll_epoll_timeout_model.py`, an exact integer model of CPython's
//!    pytime code, which must agree with (1) on every value;
//! 3. pyselect: its own traced calls (the same script in a re-executed test binary) must
//!    agree with (1), and `pyselect::timeout::{poll_timeout, epoll_timeout}` with (2) on
//!    thousands more values.
//!
//! Needs `python3` and `strace`; without them the tests fail with a message saying so.

use pyselect::timeout::{epoll_timeout, poll_timeout};
use testkit::pyref::{self, timeout_token as t};
use testkit::strace::{last_arg, Trace};
use testkit::twins::{self, *};
use testkit::{child, fixture, python, serial};

/// Not a test: the re-executed child that runs a script through pyselect.
#[test]
#[ignore = "entry point of the child process, run by the other tests"]
fn twins_child_entry() {
    if pyref::is_child() {
        twins::child_main();
    }
}

/// A small deterministic generator (xorshift64*), so the values are the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A value of magnitude about 10^e, either sign, for e in [lo, hi).
    fn magnitude(&mut self, lo: i32, hi: i32) -> f64 {
        let e = lo as f64 + self.unit() * (hi - lo) as f64;
        let x = 10f64.powf(e);
        if self.next() & 1 == 0 {
            x
        } else {
            -x
        }
    }
}

/// The hand-picked values: CPython's documented rows, the rounding edges, the range ends.
fn edges() -> Vec<f64> {
    let up = |x: f64, k: i64| f64::from_bits((x.to_bits() as i64 + k) as u64);
    let mut v = vec![
        0.0,
        -0.0,
        1e-9,
        -1e-9,
        1e-7,
        0.0001,
        -0.0001,
        -0.0009999,
        -0.001,
        -0.0011,
        0.0015,
        0.001,
        up(0.001, 1),
        up(0.001, -1),
        1.0,
        1.5,
        -1.5,
        1.0000000001,
        0.1 + 0.2,
        5e-324,
        -5e-324,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        2147483647.0,
        2147483647.5,
        2147483648.0,
        -2147483648.0,
        -2147483648.5,
        -2147483649.0,
        2147483.647,
        2147483.6475,
        2147483.648,
        -2147483.648,
        -2147483.649,
        -3000000.0,
        9.3e12,
        -9.3e12,
        9.2233720368547e9,
        9.2233720368547e12,
    ];
    for k in -3..=3 {
        v.push(up(2147483647.0, k));
        v.push(up(-2147483648.0, k));
        v.push(up(2147483.647, k));
        v.push(up(9_223_372_036_854_775_808.0 / 1e6, k));
        v.push(up(9_223_372_036_854_775_808.0 / 1e9, k));
    }
    v
}

/// `n` generated values across every magnitude that matters to either conversion.
fn generated(seed: u64, n: usize) -> Vec<f64> {
    let mut g = Gen(seed);
    (0..n)
        .map(|i| match i % 4 {
            0 => g.magnitude(-10, 1),
            1 => g.magnitude(-3, 7),
            2 => g.magnitude(6, 14),
            // Whole and half milliseconds/seconds near small integers.
            _ => ((g.next() % 4001) as f64 - 2000.0) / 2.0 + g.magnitude(-12, -6),
        })
        .collect()
}

/// The model's lines for `kind` ("poll" or "epoll") on `values`.
fn model(kind: &str, values: &[f64]) -> Vec<String> {
    let input: String = values
        .iter()
        .map(|t| format!("{kind} {:016x}\n", t.to_bits()))
        .collect();
    let out = child::run(
        python::script_command(&fixture("poll_epoll_timeout_model.py"), &[]),
        &input,
    )
    .success("python3 poll_epoll_timeout_model.py");
    let lines: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), values.len());
    lines
}

/// pyselect's conversion in the model's format.
fn ours(kind: &str, t: f64) -> String {
    let r = if kind == "poll" {
        poll_timeout(t)
    } else {
        epoll_timeout(t)
    };
    match r {
        Ok(m) => format!("ms={}", m.ms),
        Err(e) => format!("ERR {}: {e}", e.python_name()),
    }
}

/// Per value, what a traced run of the script observed: `ms=N` from the syscall's last
/// argument when the call reached the kernel, else the error the program printed.
fn observed(kind: &str, results: &[String], log: &Trace) -> Vec<String> {
    let name = if kind == "poll" {
        "poll("
    } else {
        "epoll_wait("
    };
    let lines = log.between_marks();
    let mut calls = lines.iter().filter(|l| l.starts_with(name));
    results
        .iter()
        .map(|r| {
            if r.starts_with("ERR ") {
                return r.clone();
            }
            let line = calls
                .next()
                .unwrap_or_else(|| panic!("no traced {name} for {r}"));
            format!("ms={}", last_arg(line))
        })
        .collect()
}

fn script_for(kind: &str, values: &[f64]) -> String {
    let mut lines = vec!["mark".to_owned()];
    if kind == "poll" {
        lines.push("pnew".into());
        lines.push(format!("preg {EMPTY_W} 4"));
        lines.extend(values.iter().map(|&v| format!("ppoll {}", t(Some(v)))));
    } else {
        lines.push("enew".into());
        lines.push(format!("ereg {EMPTY_W} 4"));
        lines.extend(values.iter().map(|&v| format!("epoll {} -", t(Some(v)))));
    }
    lines.push("mark".into());
    script(&lines)
}

/// CPython and pyselect, both under strace, against the model, on edges + 300 values.
fn check_traced(kind: &str, seed: u64) {
    let mut values = edges();
    values.extend(generated(seed, 300));
    let expected = model(kind, &values);
    let _serial = serial();
    let world = World::new();
    let fds = world.numbers();
    let text = script_for(kind, &values);
    let filter = "trace=poll,epoll_wait,close";
    let (py_out, py_log) = traced(python_cmd(vec![]), &fds, &text, "py-tmo", filter);
    let (rs_out, rs_log) = traced(child_cmd(vec![]), &fds, &text, "rs-tmo", filter);
    // The first two results are the constructor and the registration.
    let py_results: Vec<String> = py_out.lines().skip(2).map(str::to_owned).collect();
    let rs_results: Vec<String> = pyref::child_results(&rs_out).into_iter().skip(2).collect();
    // An older 3.11's known differences, as the reference words them (see `testkit::python`).
    let call = if kind == "poll" {
        python::Call::Poll
    } else {
        python::Call::Epoll
    };
    let cpython: Vec<String> = observed(kind, &py_results, &py_log)
        .iter()
        .zip(&values)
        .map(|(line, &t)| python::outcome_as_reference(call, Some(t), line))
        .collect();
    let pyselect = observed(kind, &rs_results, &rs_log);
    let mut bad = Vec::new();
    for (i, t) in values.iter().enumerate() {
        if cpython[i] != expected[i] || pyselect[i] != cpython[i] {
            bad.push(format!(
                "{t:e} ({:016x}): CPython {}, model {}, pyselect {}",
                t.to_bits(),
                cpython[i],
                expected[i],
                pyselect[i]
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{kind}: {} of {} values disagree:\n{}",
        bad.len(),
        values.len(),
        bad.join("\n")
    );
    // The generated values really exercise both outcomes.
    assert!(cpython.iter().filter(|l| l.starts_with("ms=")).count() > 100);
    assert!(cpython.iter().any(|l| l == "ms=-1"));
    assert!(cpython.iter().any(|l| l.contains("timeout is too large")));
}

#[test]
fn poll_timeouts_match_cpython_under_strace() {
    check_traced("poll", 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn epoll_timeouts_match_cpython_under_strace() {
    check_traced("epoll", 0xd1b5_4a32_d192_ed03);
}

#[test]
fn conversions_match_the_model_on_thousands_of_values() {
    for (kind, seed) in [("poll", 7u64), ("epoll", 11u64)] {
        let mut values = edges();
        values.extend(generated(seed, 5000));
        let expected = model(kind, &values);
        for (t, want) in values.iter().zip(&expected) {
            assert_eq!(&ours(kind, *t), want, "{kind} {t:e} ({:016x})", t.to_bits());
        }
    }
}

#[test]
fn the_documented_rows() {
    // R§1.4 and R§2.3, spelled out.
    for (t, ms) in [
        (0.0001, 1),
        (1e-9, 1),
        (1.5, 2),
        (1.0000000001, 2),
        (-0.0001, -1),
        (-5.0, -1),
    ] {
        assert_eq!(ours("poll", t), format!("ms={ms}"), "poll {t}");
    }
    for (t, ms) in [
        (-0.0001, 0),
        (-0.0009999, 0),
        (-0.001, -1),
        (1e-9, 1),
        (0.0015, 2),
        (1.0000000001, 1001),
        (2147483.647, i32::MAX),
    ] {
        assert_eq!(ours("epoll", t), format!("ms={ms}"), "epoll {t}");
    }
    assert_eq!(
        ours("epoll", 2147483.648),
        "ERR OverflowError: timeout is too large"
    );
    assert_eq!(
        ours("poll", 9.3e12),
        "ERR OverflowError: timestamp out of range for platform time_t"
    );
}
