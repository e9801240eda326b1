//! Python's timeout arithmetic (`Python/pytime.c`), reproduced bit for bit.
//!
//! CPython turns a float timeout into whole nanoseconds with one `f64` multiply rounded away
//! from zero (`_PyTime_ROUND_TIMEOUT`), rejects what does not fit an `i64`, and then divides
//! nanoseconds down to microseconds or milliseconds, again away from zero. The consequence a
//! user sees: any positive timeout, however small, waits at least 1 µs, and `0.1 + 0.2` waits
//! 300001 µs. `Duration::from_secs_f64` rounds differently and is not used here.

use std::time::Duration;

use crate::error::{Error, Result};

const NS_PER_US: i64 = 1_000;
const NS_PER_MS: i64 = 1_000_000;
const US_PER_SEC: i64 = 1_000_000;

/// Seconds as a float to whole nanoseconds, as CPython's `_PyTime_FromSecondsObject` with
/// `_PyTime_ROUND_TIMEOUT` does: NaN is a `ValueError`, anything outside `i64` nanoseconds an
/// `OverflowError`. Negative results are returned as they are; callers decide.
pub fn seconds_to_ns(seconds: f64) -> Result<i64> {
    if seconds.is_nan() {
        return Err(Error::timeout_nan());
    }
    let ns = seconds * 1e9;
    let ns = if ns >= 0.0 { ns.ceil() } else { ns.floor() };
    // i64::MIN as f64 is exactly -2^63; the half-open range is exactly the i64 range.
    let min = i64::MIN as f64;
    if !(min <= ns && ns < -min) {
        return Err(Error::timeout_overflow());
    }
    Ok(ns as i64)
}

/// Integer division rounded away from zero, without overflow at the i64 extremes.
fn div_away(t: i64, k: i64) -> i64 {
    let q = t / k;
    match t % k {
        0 => q,
        _ if t > 0 => q + 1,
        _ => q - 1,
    }
}

/// Nanoseconds to a `timeval`, microseconds rounded away from zero, seconds by floor division
/// with a non-negative `tv_usec` (as CPython's `_PyTime_AsTimeval`).
pub(crate) fn ns_to_timeval(ns: i64) -> libc::timeval {
    let us = div_away(ns, NS_PER_US);
    libc::timeval {
        tv_sec: us.div_euclid(US_PER_SEC) as libc::time_t,
        tv_usec: us.rem_euclid(US_PER_SEC) as libc::suseconds_t,
    }
}

/// `select.select`'s timeout argument to the `timeval` its syscall gets, with CPython's three
/// errors: NaN, out of range, and negative (`timeout must be non-negative`; `-0.0` is a poll
/// and `-1e-10` is an error, because it rounds to -1 µs).
pub fn select_timeval(seconds: f64) -> Result<libc::timeval> {
    select_timeout(seconds).map(|(tv, _)| tv)
}

/// [`select_timeval`] plus the same timeout as a `Duration` of whole nanoseconds, for the
/// monotonic deadline that an `EINTR` retry recomputes from. One conversion serves both.
pub(crate) fn select_timeout(seconds: f64) -> Result<(libc::timeval, Duration)> {
    let ns = seconds_to_ns(seconds)?;
    let tv = ns_to_timeval(ns);
    if tv.tv_sec < 0 {
        return Err(Error::timeout_negative());
    }
    // tv_sec >= 0 means ns >= 0: any negative ns rounds away from zero to at least -1 µs.
    Ok((tv, Duration::from_nanos(ns as u64)))
}

/// What is left of a wait, as a `timeval` rounded up to whole microseconds (the value CPython
/// retries `select()` with after `EINTR`).
pub(crate) fn remaining_timeval(left: Duration) -> libc::timeval {
    let ns = i64::try_from(left.as_nanos()).unwrap_or(i64::MAX);
    ns_to_timeval(ns)
}

/// Whole milliseconds for `poll()`, rounded up and clamped to `c_int` (CPython's socket
/// timeouts wait with `_PyTime_AsMilliseconds(.., _PyTime_ROUND_CEILING)`).
pub(crate) fn poll_ms(left: Duration) -> i32 {
    let ns = i64::try_from(left.as_nanos()).unwrap_or(i64::MAX);
    let ms = div_away(ns, NS_PER_MS);
    i32::try_from(ms).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv(seconds: f64) -> (i64, i64) {
        let t = select_timeval(seconds).unwrap();
        (t.tv_sec as i64, t.tv_usec as i64)
    }

    #[test]
    fn spec_values() {
        assert_eq!(tv(1e-7), (0, 1));
        assert_eq!(tv(0.1 + 0.2), (0, 300_001));
        assert_eq!(tv(1.5), (1, 500_000));
        assert_eq!(tv(-0.0), (0, 0));
        assert_eq!(tv(0.0), (0, 0));
        assert_eq!(tv(1e-320), (0, 1));
    }

    #[test]
    fn errors() {
        assert_eq!(
            select_timeval(-1e-10).unwrap_err().to_string(),
            "timeout must be non-negative"
        );
        assert_eq!(
            select_timeval(f64::NAN).unwrap_err().to_string(),
            "Invalid value NaN (not a number)"
        );
        for t in [f64::INFINITY, f64::NEG_INFINITY, 9.3e9, -9.3e9] {
            assert!(matches!(select_timeval(t), Err(Error::Overflow(_))), "{t}");
        }
    }

    #[test]
    fn div_away_extremes() {
        assert_eq!(div_away(i64::MIN, 1000), i64::MIN / 1000 - 1);
        assert_eq!(div_away(i64::MAX, 1000), i64::MAX / 1000 + 1);
        assert_eq!(div_away(-1, 1000), -1);
        assert_eq!(div_away(1, 1000), 1);
    }

    #[test]
    fn poll_ms_rounds_up() {
        assert_eq!(poll_ms(Duration::from_nanos(1)), 1);
        assert_eq!(poll_ms(Duration::from_millis(1000)), 1000);
        assert_eq!(poll_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }
}
