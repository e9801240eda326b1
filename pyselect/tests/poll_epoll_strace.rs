//! strace line equality: each `Poll`/`Epoll` operation makes exactly the syscall CPython's
//! `select.poll()`/`select.epoll()` makes, printed identically by strace.
//!
//! The scripts of the differential test (`testkit/src/twins.rs`) run under `strace -f` in a
//! re-executed test binary and in `python3`, both inheriting the same fds at the same numbers;
//! the `poll`, `epoll_create1`, `epoll_ctl`, `epoll_wait` and `close` lines between two
//! `close(-1)` markers must be equal after normalising only addresses (CPython's and
//! pyselect's buffers and the `EPOLL_CTL_DEL` event pointer) and the upper 32 bits of
//! `data.u64`, which CPython leaves uninitialised. pyselect's own `u64` must have none.
//!
//! Needs `python3` and `strace`; without them the tests fail with a message saying so.

use testkit::strace::normalise_poll_line;
use testkit::twins::{self, *};
use testkit::{child, pyref, serial};

/// Not a test: the re-executed child that runs a script through pyselect.
#[test]
#[ignore = "entry point of the child process, run by the other tests"]
fn twins_child_entry() {
    if pyref::is_child() {
        twins::child_main();
    }
}

/// Run `lines` between two markers under strace on both sides; the normalised lines of each.
fn traced_pair(lines: &[String], stem: &str) -> (Vec<String>, Vec<String>, bool) {
    let _serial = serial();
    let world = World::new();
    let mut all = vec!["mark".to_owned()];
    all.extend(lines.iter().cloned());
    all.push("mark".to_owned());
    let text = script(&all);
    let fds = world.numbers();
    let (_, ours) = traced(child_cmd(vec![]), &fds, &text, &format!("{stem}-rs"), TRACE);
    let (_, theirs) = traced(
        python_cmd(vec![]),
        &fds,
        &text,
        &format!("{stem}-py"),
        TRACE,
    );
    let ours: Vec<(String, bool)> = ours
        .between_marks()
        .iter()
        .map(|l| normalise_poll_line(l))
        .collect();
    let theirs: Vec<String> = theirs
        .between_marks()
        .iter()
        .map(|l| normalise_poll_line(l).0)
        .collect();
    let garbage = ours.iter().any(|(_, g)| *g);
    (ours.into_iter().map(|(l, _)| l).collect(), theirs, garbage)
}

fn assert_same(what: &str, ours: &[String], theirs: &[String]) {
    let n = ours.len().max(theirs.len());
    let diffs: Vec<String> = (0..n)
        .filter(|&i| ours.get(i) != theirs.get(i))
        .map(|i| {
            format!(
                "line {i}:\n  pyselect: {}\n  CPython:  {}",
                ours.get(i).map_or("(none)", String::as_str),
                theirs.get(i).map_or("(none)", String::as_str)
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "{what}: {} of {n} strace lines differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn poll_strace_lines_equal_cpythons() {
    let (ours, theirs, garbage) = traced_pair(&poll_script(), "poll");
    assert!(!garbage);
    assert_same("select.poll", &ours, &theirs);
    let nval = format!("{{fd={DATA_R}, revents=POLLNVAL}}");
    assert!(!ours.iter().any(|l| l.contains(&nval)), "fds not inherited");
    // The calls that reach the kernel are all there: one poll( per successful ppoll.
    let polls = ours.iter().filter(|l| l.starts_with("poll(")).count();
    let expected = poll_script()
        .iter()
        .zip(pyref_results(&poll_script()))
        .filter(|(op, r)| op.starts_with("ppoll ") && r.starts_with("OK"))
        .count();
    assert_eq!(polls, expected, "{ours:#?}");
    // Registration order, -1 for negative timeouts, 0.0001 ms as 1 and 1.5 ms as 2.
    assert!(ours.iter().any(|l| l.starts_with(&format!(
        "poll([{{fd={EMPTY_R}, events=POLLIN|POLLPRI|POLLOUT}}, {{fd={EMPTY_W}, events=POLLIN|POLLPRI|POLLOUT}}, {{fd={DATA_R}, events=POLLIN}}"
    ))));
    for ms in ["-1", "1", "2", "2147483647"] {
        assert!(
            ours.iter().any(|l| l.contains(&format!("], 14, {ms}) = "))),
            "no poll with timeout {ms}: {ours:#?}"
        );
    }
}

#[test]
fn epoll_strace_lines_equal_cpythons() {
    let (ours, theirs, garbage) = traced_pair(&epoll_script(), "epoll");
    assert!(!garbage, "pyselect passed uninitialised u64 bits");
    assert_same("select.epoll", &ours, &theirs);
    assert!(
        ours[0].starts_with("epoll_create1(EPOLL_CLOEXEC) = "),
        "{}",
        ours[0]
    );
    // EPOLL_CTL_DEL with a pointer, not NULL, as CPython.
    assert!(
        ours.iter()
            .any(|l| l.contains("EPOLL_CTL_DEL") && l.contains(", ADDR) = 0")),
        "{ours:#?}"
    );
    assert!(ours
        .iter()
        .any(|l| l.starts_with("epoll_wait(") && l.contains("], 1023, 0) = ")));
    assert!(ours.iter().any(|l| l.contains("], 1023, -1) = ")));
}

/// What pyselect answers to `lines` (the differential test checks these equal CPython's).
fn pyref_results(lines: &[String]) -> Vec<String> {
    let _serial = serial();
    let world = World::new();
    let out = child::run(child_cmd(world.numbers()), &script(lines)).success("pyselect child");
    pyref::child_results(&out.stdout)
}

/// The normaliser hides an address of any length where the line's shape says it is one (a
/// whole argument), and nothing else: flag bits, `NULL`, fds, counts and results stay.
#[test]
fn the_normaliser_hides_addresses_and_only_addresses() {
    let norm = |l: &str| normalise_poll_line(l).0;
    // A 12-digit stack address (3.11.7, pyselect) and an 8-digit heap one (3.11.2) read alike.
    let long = "epoll_wait(3, 0x7ffd5c3e2a10, 1023, 0) = -1 EINVAL (Invalid argument)";
    let short = "epoll_wait(3, 0x2edc9170, 1023, 0) = -1 EINVAL (Invalid argument)";
    assert_eq!(
        norm(long),
        "epoll_wait(3, ADDR, 1023, 0) = -1 EINVAL (Invalid argument)"
    );
    assert_eq!(norm(short), norm(long));
    assert_eq!(
        norm("poll(0x1f, 3, 0) = -1 EFAULT (Bad address)"),
        "poll(ADDR, 3, 0) = -1 EFAULT (Bad address)"
    );
    assert_eq!(
        norm("epoll_ctl(3, EPOLL_CTL_DEL, 5, 0x31afd100)        = 0"),
        "epoll_ctl(3, EPOLL_CTL_DEL, 5, ADDR) = 0"
    );
    // Not addresses: flag bits, a hex value with a comment, NULL, and decimal numbers.
    for line in [
        "epoll_ctl(3, EPOLL_CTL_ADD, 5, {events=EPOLLIN|0x4800, data={u32=5, u64=5}}) = 0",
        "epoll_ctl(3, EPOLL_CTL_ADD, 5, {events=0x4800, data={u32=5, u64=5}}) = 0",
        "epoll_ctl(3, 0x4 /* EPOLL_CTL_??? */, 5, NULL) = -1 EINVAL (Invalid argument)",
        "epoll_ctl(3, EPOLL_CTL_DEL, 5, NULL) = 0",
        "poll([{fd=4, events=POLLIN|0x800}], 1, 0) = 1 ([{fd=4, revents=POLLIN|0x800}])",
        "epoll_wait(3, [], 1023, 1000) = 0",
    ] {
        assert_eq!(norm(line), line);
    }
    // So a pointer still differs from NULL, and one flag bit from another.
    assert_ne!(
        norm("epoll_ctl(3, EPOLL_CTL_DEL, 5, 0x31afd100) = 0"),
        norm("epoll_ctl(3, EPOLL_CTL_DEL, 5, NULL) = 0")
    );
    assert_ne!(
        norm("poll([{fd=4, events=POLLIN|0x800}], 1, 0) = 0"),
        norm("poll([{fd=4, events=POLLIN|0x400}], 1, 0) = 0")
    );
}
