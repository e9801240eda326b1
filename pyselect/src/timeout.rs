//! Python's timeout arithmetic (`Python/pytime.c`), reproduced bit for bit.
//!
//! CPython turns a float timeout into whole nanoseconds with one `f64` multiply rounded away
//! from zero (`_PyTime_ROUND_TIMEOUT`), rejects what does not fit an `i64`, and then divides
//! nanoseconds down to microseconds or milliseconds, again away from zero. The consequence a
//! user sees: any positive timeout, however small, waits at least 1 µs, and `0.1 + 0.2` waits
//! 300001 µs. `Duration::from_secs_f64` rounds differently and is not used here.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const NS_PER_US: i64 = 1_000;
const NS_PER_MS: i64 = 1_000_000;
const US_PER_SEC: i64 = 1_000_000;

/// Seconds as a float to whole nanoseconds, as CPython's `_PyTime_FromSecondsObject` with
/// `_PyTime_ROUND_TIMEOUT` does: NaN is a `ValueError`, anything outside `i64` nanoseconds an
/// `OverflowError`. Negative results are returned as they are; callers decide.
#[inline]
pub fn seconds_to_ns(seconds: f64) -> Result<i64> {
    float_to_ns(seconds, 1e9)
}

/// Integer division rounded away from zero, without overflow at the i64 extremes.
#[inline]
fn div_away(t: i64, k: i64) -> i64 {
    debug_assert!(k > 0);
    if t >= 0 {
        // Unsigned: the division by a constant `k` is a multiply without sign fix-ups.
        return (t as u64).div_ceil(k as u64) as i64;
    }
    let q = t / k;
    match t % k {
        0 => q,
        _ if t > 0 => q + 1,
        _ => q - 1,
    }
}

/// Nanoseconds to a `timeval`, microseconds rounded away from zero, seconds by floor division
/// with a non-negative `tv_usec` (as CPython's `_PyTime_AsTimeval`).
#[inline]
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
#[inline]
pub(crate) fn select_timeout(seconds: f64) -> Result<(libc::timeval, Duration)> {
    let ns = seconds_to_ns(seconds)?;
    // A negative tv_sec is exactly a negative ns: any negative ns rounds away from zero to at
    // least -1 µs.
    let Ok(ns) = u64::try_from(ns) else {
        return Err(Error::timeout_negative());
    };
    // ns_to_timeval for ns >= 0, in unsigned arithmetic.
    let us = ns.div_ceil(NS_PER_US as u64);
    let tv = libc::timeval {
        tv_sec: (us / US_PER_SEC as u64) as libc::time_t,
        tv_usec: (us % US_PER_SEC as u64) as libc::suseconds_t,
    };
    Ok((tv, Duration::from_nanos(ns)))
}

/// What is left of a wait, as a `timeval` rounded up to whole microseconds (the value CPython
/// retries `select()` with after `EINTR`).
pub(crate) fn remaining_timeval(left: Duration) -> libc::timeval {
    let ns = i64::try_from(left.as_nanos()).unwrap_or(i64::MAX);
    ns_to_timeval(ns)
}

/// Whole milliseconds for `poll()`, rounded up and clamped to `c_int` (CPython's socket
/// timeouts wait with `_PyTime_AsMilliseconds(.., _PyTime_ROUND_CEILING)`).
pub fn poll_ms(left: Duration) -> i32 {
    let ns = i64::try_from(left.as_nanos()).unwrap_or(i64::MAX);
    let ms = div_away(ns, NS_PER_MS);
    i32::try_from(ms).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------------------------------------
// Milliseconds for poll(2) and epoll_wait(2): `select.poll.poll(timeout_ms)` and
// `select.epoll.poll(timeout_s)`.
// ---------------------------------------------------------------------------------------------

/// The `timeout` argument of `poll(2)`/`epoll_wait(2)`: the C `int` milliseconds the first
/// syscall gets (`-1` for "for ever"), and the whole nanoseconds an `EINTR` retry counts down
/// from (`None` when the wait has no deadline: no timeout, or a negative one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsTimeout {
    /// The syscall's `timeout` argument.
    pub ms: i32,
    /// The wait, for the monotonic deadline; `None` when there is none.
    pub wait: Option<Duration>,
}

/// Integer division rounded toward +inf (`_PyTime_ROUND_CEILING`), without overflow.
#[inline]
fn div_ceil(t: i64, k: i64) -> i64 {
    debug_assert!(k > 0);
    if t >= 0 {
        return (t as u64).div_ceil(k as u64) as i64;
    }
    let q = t / k;
    if t % k > 0 {
        q + 1
    } else {
        q
    }
}

/// A float timeout in `unit`s (1e6 ns for milliseconds, 1e9 ns for seconds) to whole
/// nanoseconds, as `pytime_from_double` with `_PyTime_ROUND_TIMEOUT`: one `f64` multiply,
/// rounded away from zero; NaN a `ValueError`, outside `i64` an `OverflowError`.
#[inline]
fn float_to_ns(value: f64, unit: f64) -> Result<i64> {
    if value.is_nan() {
        return Err(Error::timeout_nan());
    }
    let ns = value * unit;
    // i64::MIN as f64 is exactly -2^63; the half-open range is exactly the i64 range. Checking
    // before rounding is the same as after: rounding away from zero never brings a value back
    // into range, and never carries one out of it (every f64 of magnitude 2^52 or more is
    // already whole).
    let min = i64::MIN as f64;
    if !(min <= ns && ns < -min) {
        return Err(Error::timeout_overflow());
    }
    // Truncation toward zero is exact for a whole `ns`; otherwise |ns| < 2^52, `t` converts
    // back exactly, and one step away from zero is the rounding (without `ceil`/`floor`, which
    // are library calls on baseline x86-64).
    let t = ns as i64;
    let back = t as f64;
    Ok(if ns > back {
        t + 1
    } else if ns < back {
        t - 1
    } else {
        t
    })
}

/// Whole milliseconds to the C `int` poll(2)/epoll_wait(2) take: outside `int` is CPython's
/// `OverflowError("timeout is too large")`; any negative value becomes exactly -1.
#[inline]
fn ms_to_c_int(ms: i64, ns: i64) -> Result<MsTimeout> {
    let ms = i32::try_from(ms).map_err(|_| Error::timeout_too_large())?;
    Ok(MsTimeout {
        ms: if ms < 0 { -1 } else { ms },
        // A negative nanosecond count has no deadline: the retry keeps the same argument.
        wait: u64::try_from(ns).ok().map(Duration::from_nanos),
    })
}

/// The `timeout` argument of `poll(2)` for `Poll::poll(timeout_ms)` (Python's
/// `select.poll().poll(timeout)`), from a float in **milliseconds**:
/// `timeout * 1e6` ns rounded away from zero, then ms rounded away from zero
/// (`_PyTime_ROUND_TIMEOUT` twice), so `0.0001` gives 1 and `-0.0001` gives -1; every negative
/// result is -1 (block). Errors: NaN, `timestamp out of range for platform time_t`, and
/// `timeout is too large` beyond `INT_MAX` ms.
///
/// ```
/// use pyselect::timeout::poll_timeout;
/// assert_eq!(poll_timeout(1.5)?.ms, 2);
/// assert_eq!(poll_timeout(0.0001)?.ms, 1);
/// assert_eq!(poll_timeout(-0.0001)?.ms, -1);
/// assert_eq!(poll_timeout(2147483648.0).unwrap_err().to_string(), "timeout is too large");
/// # Ok::<(), pyselect::Error>(())
/// ```
#[inline]
pub fn poll_timeout(timeout_ms: f64) -> Result<MsTimeout> {
    let ns = float_to_ns(timeout_ms, 1e6)?;
    ms_to_c_int(div_away(ns, NS_PER_MS), ns)
}

/// The `timeout` argument of `epoll_wait(2)` for `Epoll::poll(timeout)` (Python's
/// `select.epoll().poll(timeout)`), from a float in **seconds**:
/// `timeout * 1e9` ns rounded away from zero, then ms rounded toward +inf
/// (`_PyTime_ROUND_CEILING`), so `-0.0001` gives 0 (return at once) while `-0.001` gives -1
/// (block); every negative result is -1. Errors as [`poll_timeout`].
///
/// ```
/// use pyselect::timeout::epoll_timeout;
/// assert_eq!(epoll_timeout(1.5)?.ms, 1500);
/// assert_eq!(epoll_timeout(1e-9)?.ms, 1);
/// assert_eq!(epoll_timeout(-0.0001)?.ms, 0);
/// assert_eq!(epoll_timeout(-0.001)?.ms, -1);
/// # Ok::<(), pyselect::Error>(())
/// ```
#[inline]
pub fn epoll_timeout(timeout_s: f64) -> Result<MsTimeout> {
    let ns = float_to_ns(timeout_s, 1e9)?;
    ms_to_c_int(div_ceil(ns, NS_PER_MS), ns)
}

/// The monotonic deadline of a wait that has a timeout: what an `EINTR` retry (PEP 475) or a
/// socket's next wait counts down from. A wait without a timeout has no `Deadline` (callers
/// hold an `Option<Deadline>`). The one deadline of the crate: `select()`, `Poll::poll`,
/// `Epoll::poll` and socket timeouts use it (and `pyselect-cli`'s `LineQueue::flush_within`).
#[derive(Clone, Copy, Debug)]
pub enum Deadline {
    /// A zero wait: it has passed as soon as it is looked at, without a clock read (the hot
    /// path of a poll with timeout 0 reads no clock at all).
    Now,
    /// The wait ends then.
    At(Instant),
    /// A wait beyond what `Instant` represents: it cannot run out in practice, so what is left
    /// is always the whole wait.
    Beyond(Duration),
}

impl Deadline {
    /// Read the monotonic clock now (unless `wait` is zero): call it just before the first
    /// syscall, as CPython does.
    #[inline]
    pub fn start(wait: Duration) -> Self {
        if wait.is_zero() {
            return Deadline::Now;
        }
        match Instant::now().checked_add(wait) {
            Some(at) => Deadline::At(at),
            None => Deadline::Beyond(wait),
        }
    }

    /// The time left, or `None` once the deadline has passed. Exactly at the deadline this is
    /// `Some(Duration::ZERO)`: CPython gives up only on a negative interval.
    pub fn left(self) -> Option<Duration> {
        match self {
            Deadline::Now => None,
            Deadline::At(at) => at.checked_duration_since(Instant::now()),
            Deadline::Beyond(wait) => Some(wait),
        }
    }
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

    /// `float_to_ns` as CPython writes it: round away from zero with `ceil`/`floor`, then the
    /// range check.
    fn float_to_ns_reference(value: f64, unit: f64) -> Option<i64> {
        let ns = value * unit;
        let ns = if ns >= 0.0 { ns.ceil() } else { ns.floor() };
        let min = i64::MIN as f64;
        (min <= ns && ns < -min).then_some(ns as i64)
    }

    #[test]
    fn float_to_ns_rounds_as_ceil_and_floor() {
        let two63 = 9_223_372_036_854_775_808.0_f64;
        let mut values = vec![
            0.0,
            -0.0,
            1e-320,
            -1e-320,
            0.5,
            -0.5,
            1.0,
            -1.0,
            0.1 + 0.2,
            4_503_599_627_370_495.5,
            -4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9_007_199_254_740_993.0,
            two63,
            -two63,
            f64::from_bits(two63.to_bits() - 1),
            -f64::from_bits(two63.to_bits() - 1),
            f64::from_bits(two63.to_bits() + 1),
            -f64::from_bits(two63.to_bits() + 1),
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        // Every binade, both signs, a few mantissas each (a fixed sequence: deterministic).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for exp in 0..2047u64 {
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let bits = (exp << 52) | (x & ((1 << 52) - 1));
                values.push(f64::from_bits(bits));
                values.push(-f64::from_bits(bits));
            }
        }
        for v in values {
            for unit in [1e9, 1e6, 1.0] {
                if v.is_nan() || (v * unit).is_nan() {
                    continue;
                }
                assert_eq!(
                    float_to_ns(v, unit).ok(),
                    float_to_ns_reference(v, unit),
                    "{v:e} * {unit:e}"
                );
            }
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

    #[test]
    fn poll_and_epoll_ms() {
        let p = |t| poll_timeout(t).map(|m| m.ms);
        let e = |t| epoll_timeout(t).map(|m| m.ms);
        assert_eq!(p(1.0000000001).unwrap(), 2);
        assert_eq!(p(-0.0).unwrap(), 0);
        assert_eq!(p(2147483647.0).unwrap(), i32::MAX);
        assert_eq!(p(-2147483648.0).unwrap(), -1);
        assert!(matches!(p(-2147483649.0), Err(Error::Overflow(_))));
        assert_eq!(e(1.0000000001).unwrap(), 1001);
        assert_eq!(e(-0.0009999).unwrap(), 0);
        assert_eq!(e(-0.0011).unwrap(), -1);
        assert_eq!(e(2147483.647).unwrap(), i32::MAX);
        assert!(matches!(e(2147483.648), Err(Error::Overflow(_))));
        assert!(matches!(e(f64::NAN), Err(Error::Value(_))));
        assert!(matches!(e(1e20), Err(Error::Overflow(_))));
        // A negative timeout has no deadline; zero has one that is already due.
        assert_eq!(poll_timeout(-5.0).unwrap().wait, None);
        assert_eq!(epoll_timeout(0.0).unwrap().wait, Some(Duration::ZERO));
    }

    #[test]
    fn deadline_left() {
        // A zero wait has passed at once; one past the clock's range never runs out.
        assert_eq!(Deadline::start(Duration::ZERO).left(), None);
        assert_eq!(Deadline::start(Duration::MAX).left(), Some(Duration::MAX));
        let hour = Duration::from_secs(3600);
        let left = Deadline::start(hour)
            .left()
            .expect("an hour has not passed");
        assert!(left <= hour);
    }

    #[test]
    fn div_ceil_signs() {
        assert_eq!(div_ceil(-100_000, NS_PER_MS), 0);
        assert_eq!(div_ceil(-1_000_000, NS_PER_MS), -1);
        assert_eq!(div_ceil(-1_000_001, NS_PER_MS), -1);
        assert_eq!(div_ceil(1, NS_PER_MS), 1);
        assert_eq!(div_ceil(i64::MAX, NS_PER_MS), i64::MAX / NS_PER_MS + 1);
        assert_eq!(div_ceil(i64::MIN, NS_PER_MS), i64::MIN / NS_PER_MS);
    }
}
