//! Differential test: `pyselect::Poll` and `pyselect::Epoll` against CPython's `select.poll()`
//! and `select.epoll()` on the very same file descriptions.
//!
//! This process sets up pipes, socket pairs and loopback TCP connections in known states at
//! fixed fd numbers (`tests/twins/mod.rs`: readable, writable, urgent data, EOF, hang-up,
//! broken pipe, reset, a regular file, a closed number), then runs one script of operations in
//! two children that inherit them: the test binary re-executed (pyselect) and `python3` with
//! `tests/fixtures/poll_epoll_calls.py`. Neither reads nor writes data, so readiness is the
//! same for both. Every line (results in order, or the exception class and text) must match.
//!
//! Needs `python3`; without it the test fails with a message saying so.

mod pyref;
mod twins;

use twins::*;

/// Not a test: the re-executed child that runs a script through pyselect.
#[test]
#[ignore = "entry point of the child process, run by the other tests"]
fn twins_child_entry() {
    if pyref::is_child() {
        twins::child_main();
    }
}

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// A script from (operation, arguments...) lines; timeouts are given with [`t`].
fn script(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn poll_script() -> Vec<String> {
    let tm = |x: f64| t(Some(x));
    let mut s: Vec<String> = vec![
        "pnew".into(),
        // Nothing registered: poll([], 0, 0), a plain sleep.
        format!("ppoll {}", tm(0.0)),
    ];
    // Every kind of fd, with the default mask or a chosen one.
    for (fd, mask) in [
        (EMPTY_R, "-"),
        (EMPTY_W, "-"),
        (DATA_R, "1"),
        (UA, "-"),
        (UB, "4"),
        (PENDING, "1"),
        (IDLE, "1"),
        (OOB, "3"),
        (PLAIN, "-"),
        (EOF, "8199"), // POLLIN|POLLPRI|POLLOUT|POLLRDHUP
        (HUP_R, "-"),
        (BROKEN_W, "-"),
        (RESET, "8199"),
        (FILE, "-"),
        (CLOSED, "-"), // not open: POLLNVAL, no error
    ] {
        s.push(format!("preg {fd} {mask}"));
    }
    s.extend([
        format!("ppoll {}", tm(0.0)),
        format!("ppoll {}", t(None)),
        // Registering again overwrites the mask and keeps the place.
        format!("preg {EMPTY_R} 4"),
        format!("ppoll {}", tm(0.0)),
        // unregister + register moves the fd last.
        format!("punreg {EMPTY_W}"),
        format!("preg {EMPTY_W} -"),
        format!("ppoll {}", tm(0.0)),
        // Mask 0: only what the kernel always reports (ERR, HUP, NVAL).
        format!("pmod {DATA_R} 0"),
        format!("pmod {HUP_R} 0"),
        format!("pmod {BROKEN_W} 0"),
        format!("ppoll {}", tm(0.0)),
        // Any 16-bit mask is taken.
        format!("pmod {UB} 65535"),
        format!("ppoll {}", tm(0.0)),
        // Errors: unknown fds, negative fds.
        "pmod 71 1".into(),
        "punreg 71".into(),
        format!("punreg {CLOSED}"),
        format!("punreg {CLOSED}"),
        "punreg -1".into(),
        "preg -5 -".into(),
        "pmod -1 1".into(),
        // Timeouts (milliseconds) that return at once because fds are ready...
        format!("ppoll {}", tm(-1.0)),
        format!("ppoll {}", tm(-0.0001)),
        format!("ppoll {}", tm(0.0001)),
        format!("ppoll {}", tm(1.5)),
        format!("ppoll {}", tm(-0.0)),
        format!("ppoll {}", tm(2147483647.0)),
        format!("ppoll {}", tm(-2147483648.0)),
        // ... and the ones that fail.
        format!("ppoll {}", tm(NAN)),
        format!("ppoll {}", tm(INF)),
        format!("ppoll {}", tm(-INF)),
        format!("ppoll {}", tm(2147483648.0)),
        format!("ppoll {}", tm(-2147483649.0)),
        format!("ppoll {}", tm(9.3e12)),
        format!("ppoll {}", tm(1e300)),
        // A fresh object with nothing ready: empty results.
        "pnew".into(),
        format!("preg {EMPTY_R} -"),
        format!("preg {IDLE} -"),
        format!("ppoll {}", tm(0.0)),
        format!("ppoll {}", tm(1.0)),
        format!("punreg {EMPTY_R}"),
        format!("punreg {IDLE}"),
        format!("ppoll {}", tm(0.5)),
    ]);
    s
}

fn epoll_script() -> Vec<String> {
    let tm = |x: f64| t(Some(x));
    let mut s: Vec<String> = vec!["enew".into(), "eclosed".into()];
    for (fd, mask) in [
        (EMPTY_R, "-"),
        (EMPTY_W, "-"),
        (DATA_R, "1"),
        (UA, "-"),
        (UB, "4"),
        (PENDING, "1"),
        (IDLE, "1"),
        (OOB, "3"),
        (PLAIN, "-"),
        (EOF, "8199"),
        (HUP_R, "-"),
        (BROKEN_W, "-"),
        (RESET, "8199"),
    ] {
        s.push(format!("ereg {fd} {mask}"));
    }
    s.extend([
        // The kernel's ready order, then round robin with a small maxevents.
        format!("epoll {} -", tm(0.0)),
        format!("epoll {} -", t(None)),
        format!("epoll {} 1", tm(0.0)),
        format!("epoll {} 1", tm(0.0)),
        format!("epoll {} 2", tm(0.0)),
        // Kernel errors, each from its errno.
        format!("ereg {EMPTY_W} -"),
        format!("emod {CLOSED} 1"),
        format!("eunreg {IDLE}"),
        format!("eunreg {IDLE}"),
        format!("emod {IDLE} 1"),
        format!("ereg {CLOSED} -"),
        format!("ereg {FILE} -"),
        "ereg E -".into(),
        format!("ereg {IDLE} 4294967295"),
        "ereg -1 -".into(),
        "emod -3 1".into(),
        "eunreg -1".into(),
        // Edge-triggered: reported once, then not until the state changes.
        format!("emod {EMPTY_W} 2147483652"),
        format!("epoll {} 64", tm(0.0)),
        format!("epoll {} 64", tm(0.0)),
        format!("emod {EMPTY_W} 4"),
        // maxevents and timeouts (seconds).
        format!("epoll {} 0", tm(0.0)),
        format!("epoll {} -2", tm(0.0)),
        format!("epoll {} -1", tm(0.0)),
        format!("epoll {} 0", tm(NAN)),
        format!("epoll {} 3", tm(-0.0001)),
        format!("epoll {} 3", tm(-0.001)),
        format!("epoll {} 3", tm(2147483.647)),
        format!("epoll {} 3", tm(2147483.648)),
        format!("epoll {} 3", tm(-3000000.0)),
        format!("epoll {} 3", tm(1e20)),
        format!("epoll {} 3", tm(INF)),
        format!("epoll {} 3", tm(1e-9)),
        // Closed: every method but close/closed fails, after the fd check.
        "eclose".into(),
        "eclosed".into(),
        "eclose".into(),
        format!("ereg {DATA_R} -"),
        "ereg -1 -".into(),
        format!("emod {DATA_R} 1"),
        format!("eunreg {DATA_R}"),
        format!("epoll {} 0", tm(NAN)),
        format!("epoll {} -", tm(0.0)),
        // The constructor's checks.
        "eopts 0 0".into(),
        "eopts -2 0".into(),
        "eopts 0 1".into(),
        "eopts -1 1".into(),
        "eopts -1 7".into(),
        "eopts 5 524288".into(),
        format!("ereg {DATA_R} 1"),
        format!("epoll {} -", tm(0.0)),
        // fromfd of something that is not an epoll: the kernel refuses the wait.
        format!("efromdup {EMPTY_W}"),
        format!("epoll {} -", tm(0.0)),
        "eclose".into(),
        // A new epoll with nothing registered: a plain 1 ms sleep.
        "enew".into(),
        format!("epoll {} -", tm(0.001)),
        format!("ereg {EMPTY_R} -"),
        format!("epoll {} -", tm(0.0)),
    ]);
    s
}

fn compare(name: &str, lines: &[String]) -> Vec<String> {
    let _serial = serial();
    let world = World::new();
    let text = script(lines);
    let (ours, theirs) = both(&world.numbers(), &text);
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
