//! Differential test: `pyselect::Poll` and `pyselect::Epoll` against CPython's `select.poll()`
//! and `select.epoll()` on the very same file descriptions.
//!
//! This process sets up pipes, socket pairs and loopback TCP connections in known states at
//! fixed fd numbers (`testkit/src/twins.rs`: readable, writable, urgent data, EOF, hang-up,
//! broken pipe, reset, a regular file, a closed number), then runs one script of operations in
//! two children that inherit them: the test binary re-executed (pyselect) and `python3` with
//! `testkit/fixtures/poll_epoll_calls.py`. Neither reads nor writes data, so readiness is the
//! same for both. Every line (results in order, or the exception class and text) must match.
//!
//! Needs `python3`; without it the test fails with a message saying so.

use testkit::pyref;
use testkit::python;
use testkit::serial;
use testkit::twins::{self, *};

/// Not a test: the re-executed child that runs a script through pyselect.
#[test]
#[ignore = "entry point of the child process, run by the other tests"]
fn twins_child_entry() {
    if pyref::is_child() {
        twins::child_main();
    }
}

fn compare(name: &str, lines: &[String]) -> Vec<String> {
    let _serial = serial();
    let world = World::new();
    let text = script(lines);
    let (ours, theirs) = both(&world.numbers(), &text);
    // An older 3.11 (Debian 12's 3.11.2) words one overflow differently: read it as 3.11.7.
    let theirs: Vec<String> = theirs.iter().map(|t| python::as_reference(t)).collect();
    assert_eq!(ours.len(), lines.len(), "pyselect printed {ours:#?}");
    assert_eq!(theirs.len(), lines.len(), "python3 printed {theirs:#?}");
    let diffs: Vec<String> = lines
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (o, t))| o != t)
        .map(|(op, (o, t))| format!("{op}\n  pyselect: {o}\n  CPython:  {t}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{name}: {} of {} operations differ from CPython:\n{}",
        diffs.len(),
        lines.len(),
        diffs.join("\n")
    );
    ours
}

/// The line of `lines` for the operation `op` (the first one).
fn outcome<'a>(lines: &[String], out: &'a [String], op: &str) -> &'a str {
    let i = lines
        .iter()
        .position(|l| l == op)
        .unwrap_or_else(|| panic!("no {op}"));
    &out[i]
}

#[test]
fn poll_matches_cpython_on_the_same_fds() {
    let lines = poll_script();
    let out = compare("select.poll", &lines);
    // Keep the scenarios honest: the states each fd stands for really show.
    let first = &out[lines.iter().position(|l| l.starts_with("ppoll ")).unwrap() + 16];
    for pair in [
        format!("({EMPTY_W}, 4)"),
        format!("({DATA_R}, 1)"),
        format!("({UA}, 5)"),
        format!("({PENDING}, 1)"),
        format!("({OOB}, 2)"),
        format!("({EOF}, 8197)"),
        format!("({HUP_R}, 16)"),
        format!("({BROKEN_W}, 12)"),
        format!("({CLOSED}, 32)"),
        format!("({FILE}, 5)"),
    ] {
        assert!(first.contains(&pair), "{pair} missing from {first}");
    }
    assert!(!first.contains(&format!("({EMPTY_R},")), "{first}");
    assert!(!first.contains(&format!("({IDLE},")), "{first}");
    assert_eq!(outcome(&lines, &out, "punreg 71"), "ERR KeyError: 71");
    assert_eq!(
        outcome(&lines, &out, "pmod 71 1"),
        "ERR OSError: [Errno 2] No such file or directory"
    );
}

#[test]
fn epoll_matches_cpython_on_the_same_fds() {
    let lines = epoll_script();
    let out = compare("select.epoll", &lines);
    let first = &out[lines.iter().position(|l| l.starts_with("epoll ")).unwrap()];
    for pair in [
        format!("({EMPTY_W}, 4)"),
        format!("({DATA_R}, 1)"),
        format!("({OOB}, 2)"),
        format!("({EOF}, 8197)"),
        format!("({HUP_R}, 16)"),
        format!("({BROKEN_W}, 12)"),
    ] {
        assert!(first.contains(&pair), "{pair} missing from {first}");
    }
    assert_eq!(
        outcome(&lines, &out, &format!("ereg {FILE} -")),
        "ERR OSError: [Errno 1] Operation not permitted"
    );
    assert_eq!(
        outcome(&lines, &out, "eopts -1 1"),
        "ERR OSError: invalid flags"
    );
}
