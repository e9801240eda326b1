//! The tests compare pyselect with whatever CPython 3.11 `python3` is. Older 3.11 patch releases
//! (Debian 12's 3.11.2) differ from the reference (3.11.7) in two known ways, which
//! `util::python` maps to the reference's text. These tests hold that mapping exact: it changes
//! only those two outcomes, only on an old 3.11, and the interpreter found here really behaves
//! as the mapping assumes.

mod util;

use util::python::{
    self, as_reference_for, is_old_311, outcome_as_reference_for, EDGE, LAST_OLD_PATCH,
    OLD_OVERFLOW, OVERFLOW,
};

const DEBIAN: (u32, u32, u32) = (3, 11, 2);
const REFERENCE: (u32, u32, u32) = (3, 11, 7);

#[test]
fn the_edge_is_two_to_the_63_nanoseconds() {
    assert_eq!(EDGE, (1u64 << 63) as f64 / 1e9);
    assert_eq!(EDGE.to_bits(), 0x4201_2e0b_e826_d695);
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
    assert_eq!(
        outcome_as_reference_for("CPython", DEBIAN, Some(EDGE), old),
        new
    );
    // The fuzz batch's `Class|message` form keeps its separator.
    assert_eq!(
        outcome_as_reference_for(
            "CPython",
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
        None,
    ] {
        assert_eq!(
            outcome_as_reference_for("CPython", DEBIAN, t, old),
            old,
            "{t:?}"
        );
    }
    // On the reference the edge is compared as printed.
    assert_eq!(
        outcome_as_reference_for("CPython", REFERENCE, Some(EDGE), old),
        old
    );
    // Another line at the edge is not touched.
    assert_eq!(
        outcome_as_reference_for("CPython", DEBIAN, Some(EDGE), "OK r=[] w=[43] x=[]"),
        "OK r=[] w=[43] x=[]"
    );
}

/// The interpreter found here says exactly what the mapping assumes for its release: the
/// reference's text on a newer 3.11, the old text (and nothing else) on an old one.
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
import select, sys
for t in map(float, sys.argv[1:]):
    try:
        select.select([], [], [], t)
        print("OK")
    except Exception as e:
        print("%s: %s" % (type(e).__name__, e))
"#;
    let edge = format!("{EDGE:.17e}");
    let lines = python::run_lines(script, &["1e300", &edge], b"");
    let old = is_old_311(&found.implementation, found.release());
    let (overflow, at_edge) = if old {
        (
            format!("OverflowError: {OLD_OVERFLOW}"),
            "ValueError: timeout must be non-negative".to_string(),
        )
    } else {
        let text = format!("OverflowError: {OVERFLOW}");
        (text.clone(), text)
    };
    assert_eq!(lines, [overflow, at_edge], "python3 {:?}", found.release());
}
