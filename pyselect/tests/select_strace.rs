//! pyselect makes the same `select` syscall as CPython: same `nfds`, same three sets (NULL for
//! an empty list), same timeout, seen by strace.
//!
//! One Rust child (this test binary re-executed, running only `child_entry`) and one Python
//! program (`testkit/fixtures/select_calls.py`) each set up the same fds at the same numbers
//! (40..=43, see `testkit::pyref::FIXED_FDS`), make the same list of `select` calls under
//! `strace -f -e trace=pselect6,select`, and the traced calls are compared line by line (the
//! kernel's `left {...}` write-back and the pids ignored).
//!
//! Needs `python3` and `strace`; without them the tests fail with a message saying so.

use std::sync::OnceLock;

use testkit::pyref::{self, Call, Via};
use testkit::strace::Syscall;

/// Not a test: the traced Rust child. The other tests run it in a fresh process (see
/// `testkit::pyref::rust_child_cmd`); it makes the calls it reads from stdin on the fixed fds.
#[test]
#[ignore = "entry point of the traced child process, run by the other tests"]
fn child_entry() {
    if pyref::is_child() {
        pyref::child_main();
    }
}

/// A scenario: a call, the argument text strace must show for it in both programs (`None`
/// when the call must fail before any syscall), and what `select` returns, as Python prints it.
struct Case {
    what: &'static str,
    call: Call,
    args: Option<&'static str>,
    outcome: &'static str,
}

fn case(what: &'static str, call: Call, args: Option<&'static str>, outcome: &'static str) -> Case {
    Case {
        what,
        call,
        args,
        outcome,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "None timeout on two sockets, one readable: NULL timeval",
            Call::new(&[40, 41], &[], &[], None),
            Some("42, [40 41], NULL, NULL, NULL, NULL"),
            "OK r=[40] w=[] x=[]",
        ),
        case(
            "1e-7 s waits 1 us, never 0",
            Call::new(&[42], &[], &[], Some(1e-7)),
            Some("43, [42], NULL, NULL, {tv_sec=0, tv_nsec=1000}, NULL"),
            "OK r=[] w=[] x=[]",
        ),
        case(
            "0.1 + 0.2 rounds up to 300001 us",
            Call::new(&[40, 42], &[], &[], Some(0.1 + 0.2)),
            Some("43, [40 42], NULL, NULL, {tv_sec=0, tv_nsec=300001000}, NULL"),
            "OK r=[40] w=[] x=[]",
        ),
        case(
            "1.5 s with a ready fd",
            Call::new(&[40], &[], &[], Some(1.5)),
            Some("41, [40], NULL, NULL, {tv_sec=1, tv_nsec=500000000}, NULL"),
            "OK r=[40] w=[] x=[]",
        ),
        case(
            "-0.0 is a poll",
            Call::new(&[41, 42], &[], &[40], Some(-0.0)),
            Some("43, [41 42], NULL, [40], {tv_sec=0, tv_nsec=0}, NULL"),
            "OK r=[] w=[] x=[]",
        ),
        case(
            "empty lists: a 0.01 s sleep with nfds 0 and three NULL sets",
            Call::new(&[], &[], &[], Some(0.01)),
            Some("0, NULL, NULL, NULL, {tv_sec=0, tv_nsec=10000000}, NULL"),
            "OK r=[] w=[] x=[]",
        ),
        case(
            "wlist only, unsorted: the set is sorted, the result keeps input order",
            Call::new(&[], &[43, 41, 40], &[], Some(0.0)),
            Some("44, NULL, [40 41 43], NULL, {tv_sec=0, tv_nsec=0}, NULL"),
            "OK r=[] w=[43, 41, 40] x=[]",
        ),
        case(
            "all three lists, None timeout",
            Call::new(&[42, 40], &[41], &[40, 41, 42], None),
            Some("43, [40 42], [41], [40 41 42], NULL, NULL"),
            "OK r=[40] w=[41] x=[]",
        ),
        case(
            "duplicates collapse in the set and are kept in the result",
            Call::new(&[40, 40, 42, 40], &[43, 43], &[], Some(0.0)),
            Some("44, [40 42], [43], NULL, {tv_sec=0, tv_nsec=0}, NULL"),
            "OK r=[40, 40, 40] w=[43, 43] x=[]",
        ),
        case(
            "a negative fd in wlist fails before any syscall",
            Call::new(&[40], &[-1], &[], Some(0.0)),
            None,
            "ERR ValueError: file descriptor cannot be a negative integer (-1)",
        ),
        case(
            "a NaN timeout fails before fd 1024 is looked at, and before any syscall",
            Call::new(&[1024], &[], &[], Some(f64::NAN)),
            None,
            "ERR ValueError: Invalid value NaN (not a number)",
        ),
        case(
            "1025 entries fail before any syscall",
            Call::new(&[40; 1025], &[], &[], Some(0.0)),
            None,
            "ERR ValueError: too many file descriptors in select()",
        ),
        case(
            "a closed fd reaches the kernel, which answers EBADF",
            Call::new(&[40, 44], &[], &[], Some(0.0)),
            Some("45, [40 44], NULL, NULL, {tv_sec=0, tv_nsec=0}, NULL"),
            "ERR OSError: [Errno 9] Bad file descriptor",
        ),
    ]
}

/// The pselect6 line CPython shows, as the kernel's own `select` shows the same call:
/// no sixth (sigmask) argument, microseconds instead of nanoseconds.
fn as_raw_select(t: &Syscall) -> Syscall {
    let args = t
        .args
        .strip_suffix(", NULL")
        .unwrap_or_else(|| panic!("pselect6 without a NULL sigmask: {}", t.line()));
    let args = match args.find("{tv_sec=") {
        None => args.to_owned(),
        Some(i) => {
            let tv = &args[i..];
            let nsec_at = tv.find("tv_nsec=").expect("tv_nsec") + "tv_nsec=".len();
            let end = tv.find('}').expect("}");
            let nsec: u64 = tv[nsec_at..end].parse().expect("nsec");
            assert_eq!(nsec % 1000, 0, "a select timeval is whole microseconds");
            format!(
                "{}{}tv_usec={}{}",
                &args[..i],
                &tv[..nsec_at - "tv_nsec=".len()],
                nsec / 1000,
                &tv[end..]
            )
        }
    };
    Syscall {
        name: "select".into(),
        args,
        result: t.result.clone(),
    }
}

fn show(calls: &[Syscall]) -> String {
    calls.iter().map(|t| format!("  {}\n", t.line())).collect()
}

/// CPython's run of every case, once per test binary: its printed outcomes and its trace.
fn cpython() -> &'static (Vec<String>, Vec<Syscall>) {
    static CPYTHON: OnceLock<(Vec<String>, Vec<Syscall>)> = OnceLock::new();
    CPYTHON.get_or_init(|| {
        let calls: Vec<Call> = cases().into_iter().map(|c| c.call).collect();
        let (out, trace) = pyref::trace(
            testkit::python::script_command(&testkit::fixture("select_calls.py"), &["--fixed-fds"]),
            &pyref::calls_text(&calls),
            "py-calls",
        );
        let outcomes = out.stdout.lines().map(str::to_owned).collect();
        (outcomes, trace)
    })
}

/// pyselect's run of every case with `via`, in a traced Rust child.
fn pyselect(via: Via) -> (Vec<String>, Vec<Syscall>) {
    let calls: Vec<Call> = cases().into_iter().map(|c| c.call.via(via)).collect();
    let (out, trace) = pyref::trace(
        pyref::rust_child_cmd("child_entry"),
        &pyref::calls_text(&calls),
        "rs-calls",
    );
    (pyref::child_results(&out.stdout), trace)
}

/// The cases that make a syscall, in order (the ones the trace lines belong to).
fn syscall_cases(cases: &[Case]) -> Vec<&Case> {
    cases.iter().filter(|c| c.args.is_some()).collect()
}

#[test]
fn cpython_reference_is_as_the_table_says() {
    // Pins the table (and the fixed fd layout) to CPython, so the comparisons below compare
    // the calls they claim to.
    let cases = cases();
    let (outcomes, trace) = cpython();
    let expected: Vec<&str> = cases.iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, &expected, "CPython's outcomes");
    let with_syscall = syscall_cases(&cases);
    assert_eq!(
        trace.len(),
        with_syscall.len(),
        "CPython's trace:\n{}",
        show(trace)
    );
    for (case, py) in with_syscall.iter().zip(trace) {
        assert_eq!(py.name, "pselect6", "{}", case.what);
        assert_eq!(Some(py.args.as_str()), case.args, "{}", case.what);
    }
}

#[test]
fn pselect6_lines_match_cpython() {
    let cases = cases();
    let (py_outcomes, py_trace) = cpython();
    let (rs_outcomes, rs_trace) = pyselect(Via::Libc);
    assert_eq!(&rs_outcomes, py_outcomes, "select results differ");
    assert_eq!(
        rs_trace.len(),
        py_trace.len(),
        "pyselect's trace:\n{}CPython's trace:\n{}",
        show(&rs_trace),
        show(py_trace)
    );
    for ((case, py), rs) in syscall_cases(&cases).iter().zip(py_trace).zip(&rs_trace) {
        assert_eq!(
            rs.line(),
            py.line(),
            "{}: pyselect's call (left) differs from CPython's (right)",
            case.what
        );
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn raw_select_syscall_has_cpythons_arguments() {
    let cases = cases();
    let (py_outcomes, py_trace) = cpython();
    let (rs_outcomes, rs_trace) = pyselect(Via::Select);
    assert_eq!(&rs_outcomes, py_outcomes, "select results differ");
    assert_eq!(
        rs_trace.len(),
        py_trace.len(),
        "pyselect's trace:\n{}CPython's trace:\n{}",
        show(&rs_trace),
        show(py_trace)
    );
    for ((case, py), rs) in syscall_cases(&cases).iter().zip(py_trace).zip(&rs_trace) {
        assert_eq!(
            rs.line(),
            as_raw_select(py).line(),
            "{}: Syscall::Select (left) against CPython's pselect6 in select form (right)",
            case.what
        );
    }
}
