//! The tests compare pyselect with whatever CPython 3.11 `python3` is. Older 3.11 patch releases
//! (Debian 12's 3.11.2) differ from the reference (3.11.7) in two known ways (an overflow's
//! wording, and what `select`, `poll` and `epoll` do with the one timeout that is exactly 2^63
//! ns), which `testkit::python` maps to the reference's text. These tests hold that mapping exact:
//! it changes only those outcomes, only on an old 3.11, and the interpreter found here really
//! behaves as the mapping assumes.

use testkit::python::{
    self, as_reference_for, is_old_311, outcome_as_reference_for, Call, EDGE, EDGE_MS,
    LAST_OLD_PATCH, OLD_EDGES, OLD_OVERFLOW, OVERFLOW,
};

const DEBIAN: (u32, u32, u32) = (3, 11, 2);
const REFERENCE: (u32, u32, u32) = (3, 11, 7);

#[test]
fn the_edge_is_two_to_the_63_nanoseconds() {
    assert_eq!(EDGE, (1u64 << 63) as f64 / 1e9);
    assert_eq!(EDGE.to_bits(), 0x4201_2e0b_e826_d695);
    assert_eq!(EDGE_MS, (1u64 << 63) as f64 / 1e6);
    assert_eq!(EDGE_MS.to_bits(), 0x42a0_c6f7_a0b5_ed8d);
    // Python prints it as `9223372036854.775`, the value the poll tests name.
    assert_eq!(EDGE_MS, 9.223372036854775e12);
    // Each is the only float whose nanosecond count is exactly 2^63: its neighbours are not.
    let two63 = (1u64 << 63) as f64;
    for (edge, per_ns) in [(EDGE, 1e9), (EDGE_MS, 1e6)] {
        assert_eq!(edge * per_ns, two63);
        for k in [-1i64, 1] {
            let next = f64::from_bits((edge.to_bits() as i64 + k) as u64);
            assert_ne!(next * per_ns, two63, "{next:e}");
        }
    }
}

#[test]
fn only_cpython_311_up_to_the_last_old_patch_counts_as_old() {
    assert_eq!(LAST_OLD_PATCH, 2);
    for patch in 0..=LAST_OLD_PATCH {
        assert!(is_old_311("CPython", (3, 11, patch)), "3.11.{patch}");
    }
    for release in [
        (3, 11, 3),
        REFERENCE,
        (3, 11, 9),
        (3, 10, 2),
        (3, 12, 0),
        (2, 11, 2),
    ] {
        assert!(!is_old_311("CPython", release), "{release:?}");
    }
    assert!(!is_old_311("PyPy", DEBIAN));
}

#[test]
fn the_old_overflow_wording_is_mapped_only_on_an_old_311() {
    let old = format!("ERR OverflowError: {OLD_OVERFLOW}");
    let new = format!("ERR OverflowError: {OVERFLOW}");
    assert_eq!(as_reference_for("CPython", DEBIAN, &old), new);
    assert_eq!(as_reference_for("CPython", (3, 11, 0), &old), new);
    // A newer release, or another implementation, is compared as printed.
    assert_eq!(as_reference_for("CPython", REFERENCE, &old), old);
    assert_eq!(as_reference_for("CPython", (3, 11, 3), &old), old);
    assert_eq!(as_reference_for("PyPy", DEBIAN, &old), old);
    // Any other line passes through untouched, also on an old 3.11.
    for line in [
        new.as_str(),
        "ERR ValueError: timeout must be non-negative",
        "ERR OverflowError: timeout doesn't fit into C timeval",
        "ERR OverflowError: timestamp too large",
        "OK r=[40] w=[] x=[]",
        "",
    ] {
        assert_eq!(as_reference_for("CPython", DEBIAN, line), line);
    }
}

#[test]
fn the_edge_value_is_mapped_only_for_exactly_that_timeout_on_an_old_311() {
    let old = "ERR ValueError: timeout must be non-negative";
    let new = format!("ERR OverflowError: {OVERFLOW}");
    let select =
        |release, t, line| outcome_as_reference_for("CPython", release, Call::Select, t, line);
    assert_eq!(select(DEBIAN, Some(EDGE), old), new);
    // The fuzz batch's `Class|message` form keeps its separator.
    assert_eq!(
        select(
            DEBIAN,
            Some(EDGE),
            "ValueError|timeout must be non-negative"
        ),
        format!("OverflowError|{OVERFLOW}")
    );
    // A negative timeout's ValueError is real, whatever the release.
    for t in [
        Some(-1.0),
        Some(f64::from_bits(EDGE.to_bits() - 1)),
        Some(f64::from_bits(EDGE.to_bits() + 1)),
        Some(-EDGE),
        Some(EDGE_MS),
        None,
    ] {
        assert_eq!(select(DEBIAN, t, old), old, "{t:?}");
    }
    // On the reference the edge is compared as printed.
    assert_eq!(select(REFERENCE, Some(EDGE), old), old);
    // Another line at the edge is not touched.
    assert_eq!(
        select(DEBIAN, Some(EDGE), "OK r=[] w=[43] x=[]"),
        "OK r=[] w=[43] x=[]"
    );
}

/// `poll` (milliseconds) at [`EDGE_MS`] and `epoll` (seconds) at [`EDGE`]: an old 3.11's
/// "timeout is too large" there is the reference's overflow; anywhere else it is real.
#[test]
fn the_poll_and_epoll_edges_are_mapped_only_for_exactly_their_timeouts_on_an_old_311() {
    let old = "ERR OverflowError: timeout is too large";
    let new = format!("ERR OverflowError: {OVERFLOW}");
    for (call, edge) in [(Call::Poll, EDGE_MS), (Call::Epoll, EDGE)] {
        let map = |release, t, line| outcome_as_reference_for("CPython", release, call, t, line);
        assert_eq!(map(DEBIAN, Some(edge), old), new, "{call:?}");
        assert_eq!(map((3, 11, 0), Some(edge), old), new, "{call:?}");
        // Only that exact float: its neighbours, its negation, the other call's edge and no
        // timeout keep their "too large" (epoll says it for 2147483.648 s on every release).
        let other = if call == Call::Poll { EDGE } else { EDGE_MS };
        for t in [
            Some(f64::from_bits(edge.to_bits() - 1)),
            Some(f64::from_bits(edge.to_bits() + 1)),
            Some(-edge),
            Some(other),
            Some(2147483.648),
            None,
        ] {
            assert_eq!(map(DEBIAN, t, old), old, "{call:?} {t:?}");
        }
        // Not on the reference, not on a later 3.11, not on another implementation.
        assert_eq!(map(REFERENCE, Some(edge), old), old, "{call:?}");
        assert_eq!(map((3, 11, 3), Some(edge), old), old, "{call:?}");
        assert_eq!(
            outcome_as_reference_for("PyPy", DEBIAN, call, Some(edge), old),
            old,
            "{call:?}"
        );
        // Only that outcome: select's edge wording, a result, another error stay as printed.
        for line in [
            "ERR ValueError: timeout must be non-negative",
            "ms=-1",
            "ERR OverflowError: timeout doesn't fit into C timeval",
            "ERR ValueError: timeout is too large",
        ] {
            assert_eq!(map(DEBIAN, Some(edge), line), line, "{call:?}");
        }
        // The old overflow wording is still read as the reference's, at the edge or not.
        let old_overflow = format!("ERR OverflowError: {OLD_OVERFLOW}");
        assert_eq!(map(DEBIAN, Some(1e300), &old_overflow), new, "{call:?}");
    }
    // Exactly three edges, one per call.
    let calls: Vec<Call> = OLD_EDGES.iter().map(|e| e.0).collect();
    assert_eq!(calls, [Call::Select, Call::Poll, Call::Epoll]);
}

/// The interpreter found here says exactly what the mapping assumes for its release: the
/// reference's text on a newer 3.11, the old text and the old edge outcomes (and nothing
/// else) on an old one, for `select`, `poll` and `epoll`; and the old text for an int on both.
#[test]
fn python3_behaves_as_the_mapping_assumes() {
    let found = python::interpreter();
    assert!(
        found.is_cpython(3, 11),
        "these tests compare with CPython 3.11; python3 is {} {:?}",
        found.implementation,
        found.release()
    );
    let script = r#"
import os, select, sys
r, w = os.pipe()
p = select.poll()
p.register(w, select.POLLOUT)
ep = select.epoll()
ep.register(w, select.EPOLLOUT)
calls = {
    "select": lambda t: select.select([], [w], [], t),
    "poll": p.poll,
    "epoll": ep.poll,
}
for arg in sys.argv[1:]:
    name, t = arg.split("=")
    try:
        calls[name](int(t) if t.lstrip("-").isdigit() else float(t))
        print("OK")
    except Exception as e:
        print("%s: %s" % (type(e).__name__, e))
"#;
    // Per call: a float far out of range, and exactly at the edge; for select and poll also the
    // float just below the edge, which every release converts (select then returns at once,
    // the fd being writable; poll's milliseconds are still beyond INT_MAX).
    let below = |x: f64| f64::from_bits(x.to_bits() - 1);
    let mut args = Vec::new();
    for (name, edge) in [("select", EDGE), ("poll", EDGE_MS), ("epoll", EDGE)] {
        for t in [1e300, edge] {
            args.push(format!("{name}={t:.17e}"));
        }
        if name != "epoll" {
            args.push(format!("{name}={:.17e}", below(edge)));
        }
    }
    // An int out of range, in every call: the old text on every 3.11, so never mapped.
    let ints = ["select", "poll", "epoll"].map(|name| format!("{name}=-{}", 10u128.pow(30)));
    args.extend(ints);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let lines = python::run_lines(script, &args, b"");
    let old = is_old_311(&found.implementation, found.release());
    let overflow = format!(
        "OverflowError: {}",
        if old { OLD_OVERFLOW } else { OVERFLOW }
    );
    let at_edge = |call: Call| {
        if old {
            let (_, _, class, text) = OLD_EDGES.iter().find(|e| e.0 == call).unwrap();
            format!("{class}: {text}")
        } else {
            format!("OverflowError: {OVERFLOW}")
        }
    };
    let expected = [
        overflow.clone(),
        at_edge(Call::Select),
        "OK".to_string(),
        overflow.clone(),
        at_edge(Call::Poll),
        // Just below 2^63 ns is still far beyond INT_MAX ms.
        "OverflowError: timeout is too large".to_string(),
        overflow,
        at_edge(Call::Epoll),
    ]
    .into_iter()
    .chain(vec![format!("OverflowError: {OLD_OVERFLOW}"); 3])
    .collect::<Vec<_>>();
    assert_eq!(lines, expected, "python3 {:?}", found.release());
}
