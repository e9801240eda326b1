//! `select()`'s timeout conversion against CPython 3.11.
//!
//! Three layers, each checked against the next:
//! 1. real `select.select(.., [43], .., t)` calls in CPython under strace (fd 43 is a writable
//!    pipe end, so every call returns at once whatever the timeout), on ~60 representative
//!    values: the SPEC's, the rounding edges and both ends of the time_t range;
//! 2. `testkit/fixtures/timeout_model.py`, an exact integer model of CPython's pytime code,
//!    which must agree with (1) on all of them;
//! 3. `pyselect::timeout` (and pyselect's own traced syscalls), which must agree with (1)
//!    and, on thousands of generated values, with (2).
//!
//! Needs `python3` and `strace`; without them the tests fail with a message saying so.

use std::os::fd::RawFd;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use pyselect::timeout::{seconds_to_ns, select_timeval};
use testkit::pyref::{self, Call};
use testkit::strace::Syscall;

/// Not a test: the traced Rust child (see `testkit::pyref::rust_child_cmd`).
#[test]
#[ignore = "entry point of the traced child process, run by the other tests"]
fn child_entry() {
    if pyref::is_child() {
        pyref::child_main();
    }
}

// EDGE: 2^63 ns in seconds, the edge of CPython's range, as the nearest f64.
use testkit::python::EDGE;

/// Values worth a real CPython call each.
fn representative() -> Vec<f64> {
    let up = |x: f64, k: i64| f64::from_bits((x.to_bits() as i64 + k) as u64);
    let mut v = vec![
        0.0,
        -0.0,
        1e-7,
        0.1 + 0.2,
        1.5,
        1e-6,
        up(1e-6, 1),
        up(1e-6, -1),
        1e-9,
        up(1e-9, 1),
        up(1e-9, -1),
        2.5e-7,
        5e-324,
        1e-320,
        f64::MIN_POSITIVE,
        -5e-324,
        -1e-320,
        -1e-10,
        -1e-9,
        -1e-6,
        -1.0,
        0.3,
        0.7,
        1.0,
        up(1.0, 1),
        1.000_000_5,
        999_999.999_999_5,
        86_400.0,
        1e9,
        4_294_967_296.5,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        9.2233720368547e9,
        -9.2233720368547e9,
    ];
    for k in -4..=4 {
        v.push(up(EDGE, k));
        v.push(up(-EDGE, k));
    }
    v
}

/// The SPEC's values and what both CPython and pyselect must make of them.
const SPEC: [(f64, &str); 11] = [
    (1e-7, "tv=0,1"),
    (0.1 + 0.2, "tv=0,300001"),
    (1.5, "tv=1,500000"),
    (-0.0, "tv=0,0"),
    (0.0, "tv=0,0"),
    (-1e-10, "ERR ValueError: timeout must be non-negative"),
    (f64::NAN, "ERR ValueError: Invalid value NaN (not a number)"),
    (
        1e300,
        "ERR OverflowError: timestamp out of range for platform time_t",
    ),
    (
        f64::INFINITY,
        "ERR OverflowError: timestamp out of range for platform time_t",
    ),
    (
        f64::NEG_INFINITY,
        "ERR OverflowError: timestamp out of range for platform time_t",
    ),
    (-1.0, "ERR ValueError: timeout must be non-negative"),
];

/// What a caller of `select()` observes: the timeval the kernel gets, or the error.
fn pyselect_observed(t: f64) -> String {
    match select_timeval(t) {
        Ok(tv) => format!("tv={},{}", tv.tv_sec, tv.tv_usec),
        Err(e) => format!("ERR {}: {e}", e.python_name()),
    }
}

/// The model's line format, from pyselect: `ns=.. tv=..`, `ns=.. ERR ..` or `ERR ..`.
fn pyselect_model_line(t: f64) -> String {
    match seconds_to_ns(t) {
        Err(e) => format!("ERR {}: {e}", e.python_name()),
        Ok(ns) => format!("ns={ns} {}", pyselect_observed(t)),
    }
}

/// A model line without its `ns=..` part.
fn observed_of_model(line: &str) -> &str {
    match line.strip_prefix("ns=") {
        Some(rest) => rest.split_once(' ').expect("ns=.. then more").1,
        None => line,
    }
}

/// The calls: `select([], [43], [], t)`; 43 is writable, so none of them waits.
fn calls(values: &[f64]) -> Vec<Call> {
    values
        .iter()
        .map(|&t| Call::new(&[], &[43], &[], Some(t)))
        .collect()
}

/// Per value, what a traced run observed: the timeval from the strace line (`tv=S,U`) when
/// the call reached the kernel, else the error the program printed.
fn observed(outcomes: &[String], trace: &[Syscall], values: &[f64]) -> Vec<String> {
    assert_eq!(outcomes.len(), values.len(), "one outcome per call");
    let mut lines = trace.iter();
    outcomes
        .iter()
        .zip(values)
        .map(|(outcome, t)| {
            if outcome.starts_with("ERR ") {
                return outcome.clone();
            }
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("no traced call for {t:e}"));
            let tv = line
                .args
                .split_once('{')
                .and_then(|(_, tv)| tv.split_once('}'))
                .map(|(tv, _)| tv)
                .unwrap_or_else(|| panic!("no timeval in {}", line.line()));
            let (sec, nsec) = tv
                .strip_prefix("tv_sec=")
                .and_then(|tv| tv.split_once(", tv_nsec="))
                .unwrap_or_else(|| panic!("unexpected timeval {tv:?}"));
            let nsec: u64 = nsec.parse().expect("tv_nsec");
            assert_eq!(nsec % 1000, 0, "{t:e}: not whole microseconds: {tv}");
            format!("tv={sec},{}", nsec / 1000)
        })
        .collect()
}

/// CPython's real calls on the representative values: (outcomes, trace, observed).
fn cpython() -> &'static (Vec<String>, Vec<Syscall>, Vec<String>) {
    static CPYTHON: OnceLock<(Vec<String>, Vec<Syscall>, Vec<String>)> = OnceLock::new();
    CPYTHON.get_or_init(|| {
        let values = representative();
        let (out, trace) = pyref::trace(
            testkit::python::script_command(&testkit::fixture("select_calls.py"), &["--fixed-fds"]),
            &pyref::calls_text(&calls(&values)),
            "py-timeouts",
        );
        // An older 3.11's known differences, as the reference words them (see `testkit::python`).
        let outcomes: Vec<String> = out
            .stdout
            .lines()
            .zip(&values)
            .map(|(line, &t)| {
                testkit::python::outcome_as_reference(testkit::python::Call::Select, Some(t), line)
            })
            .collect();
        let seen = observed(&outcomes, &trace, &values);
        (outcomes, trace, seen)
    })
}

/// The Python model's lines for `values`, from one python3 process.
fn model(values: &[f64]) -> Vec<String> {
    let input: String = values
        .iter()
        .map(|t| format!("{:016x}\n", t.to_bits()))
        .collect();
    let out = testkit::child::run(
        testkit::python::script_command(&testkit::fixture("timeout_model.py"), &[]),
        &input,
    )
    .success("python3 timeout_model.py");
    let lines: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), values.len(), "one model line per value");
    lines
}

/// Lines of `values` where `left` and `right` differ, for a failure message.
fn differences(values: &[f64], left: &[String], right: &[String], names: (&str, &str)) -> String {
    values
        .iter()
        .zip(left.iter().zip(right))
        .filter(|(_, (l, r))| l != r)
        .map(|(t, (l, r))| {
            format!(
                "  {t:e} (bits {:016x}):\n    {}: {l}\n    {}: {r}\n",
                t.to_bits(),
                names.0,
                names.1
            )
        })
        .collect()
}

#[test]
fn spec_values_in_pyselect_and_cpython() {
    let values = representative();
    let (_, _, seen) = cpython();
    for (t, expected) in SPEC {
        assert_eq!(pyselect_observed(t), expected, "pyselect, timeout {t:e}");
        let i = values
            .iter()
            .position(|v| v.to_bits() == t.to_bits())
            .expect("every SPEC value is a representative one");
        assert_eq!(seen[i], expected, "CPython, timeout {t:e}");
    }
    // select() itself reports the conversion errors, before looking at the (bad) fd lists.
    for (t, expected) in SPEC.iter().filter(|(_, e)| e.starts_with("ERR")) {
        let err = pyselect::select::<RawFd, _, _, _>([-1], [], [], Some(*t)).unwrap_err();
        assert_eq!(format!("ERR {}: {err}", err.python_name()), *expected);
    }
}

#[test]
fn python_model_matches_real_cpython_select() {
    let values = representative();
    let (_, _, seen) = cpython();
    let modelled: Vec<String> = model(&values)
        .iter()
        .map(|l| observed_of_model(l).to_owned())
        .collect();
    let diff = differences(&values, &modelled, seen, ("model", "CPython"));
    assert!(diff.is_empty(), "the model is wrong:\n{diff}");
}

#[test]
fn pyselect_syscalls_match_cpython_on_representative_values() {
    let values = representative();
    let (py_outcomes, py_trace, seen) = cpython();
    let (out, rs_trace) = pyref::trace(
        pyref::rust_child_cmd("child_entry"),
        &pyref::calls_text(&calls(&values)),
        "rs-timeouts",
    );
    let rs_outcomes = pyref::child_results(&out.stdout);
    let rs_seen = observed(&rs_outcomes, &rs_trace, &values);
    let diff = differences(&values, &rs_seen, seen, ("pyselect", "CPython"));
    assert!(diff.is_empty(), "timeouts differ:\n{diff}");
    assert_eq!(&rs_outcomes, py_outcomes);
    // Whole lines too: nfds, sets, the timeval as strace prints it, the result.
    let rs_lines: Vec<String> = rs_trace.iter().map(Syscall::line).collect();
    let py_lines: Vec<String> = py_trace.iter().map(Syscall::line).collect();
    assert_eq!(rs_lines, py_lines);
}

/// Values across the whole f64 range, concentrated where the rounding has edges.
fn interesting_f64() -> impl Strategy<Value = f64> {
    let nudge = |x: f64, d: i64| f64::from_bits((x.to_bits() as i64 + d) as u64);
    let signed = |x: f64, neg: bool| if neg { -x } else { x };
    prop_oneof![
        // Any bit pattern: NaNs, infinities, subnormals, huge and tiny values.
        2 => any::<u64>().prop_map(f64::from_bits),
        // Any mantissa, exponents from 2^-40 to 2^36 s (the interesting part of the range).
        4 => (any::<bool>(), 983u64..=1059, 0u64..(1 << 52)).prop_map(|(neg, e, m)| {
            f64::from_bits((u64::from(neg) << 63) | (e << 52) | m)
        }),
        // Both edges of the i64 nanosecond range, a few thousand ulps either way.
        2 => (any::<bool>(), -3000i64..=3000)
            .prop_map(move |(neg, d)| signed(nudge(EDGE, d), neg)),
        // Subnormals.
        1 => (any::<bool>(), 1u64..(1 << 52))
            .prop_map(move |(neg, m)| signed(f64::from_bits(m), neg)),
        // Whole microseconds (k * 1e-6 and k / 1e6), give or take a few ulps.
        3 => (any::<bool>(), 0u64..10_000_000_000_000, any::<bool>(), -3i64..=3).prop_map(
            move |(neg, k, div, d)| {
                let x = if div { k as f64 / 1e6 } else { k as f64 * 1e-6 };
                signed(if x == 0.0 { x } else { nudge(x, d) }, neg)
            }
        ),
        // Whole nanoseconds, likewise.
        2 => (any::<bool>(), 0u64..10_000_000_000_000, -3i64..=3).prop_map(
            move |(neg, k, d)| {
                let x = k as f64 * 1e-9;
                signed(if x == 0.0 { x } else { nudge(x, d) }, neg)
            }
        ),
        // Around zero, where the sign decides between a poll and an error.
        1 => -2e-6f64..2e-6,
    ]
}

#[test]
fn select_timeval_matches_the_model_on_generated_values() {
    // A fixed seed: the same 4000 values on every run, so a failure reproduces.
    let mut runner = TestRunner::deterministic();
    let strategy = interesting_f64();
    let mut values: Vec<f64> = (0..4000)
        .map(|_| strategy.new_tree(&mut runner).expect("value").current())
        .collect();
    values.extend(representative());

    let theirs = model(&values);
    let ours: Vec<String> = values.iter().map(|&t| pyselect_model_line(t)).collect();
    let diff = differences(&values, &ours, &theirs, ("pyselect", "model"));
    assert!(
        diff.is_empty(),
        "{} of {} values differ:\n{diff}",
        diff.matches("pyselect:").count(),
        values.len()
    );

    // The sample must reach every outcome, or it proves little.
    for needle in [
        " tv=0,",
        " tv=1",
        "ERR ValueError: timeout must be non-negative",
        "ERR OverflowError",
        "ERR ValueError: Invalid value NaN",
    ] {
        assert!(
            theirs.iter().any(|l| l.contains(needle)),
            "no generated value gave {needle:?}"
        );
    }
}
