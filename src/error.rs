//! The crate's one error type, shaped after the Python exceptions that `select.select` and the
//! socket methods raise.

use std::fmt;
use std::io;

use nix::sys::signal::Signal;

/// An error from `select()`, `FdSet` or a socket method, one variant per Python exception class.
///
/// `Display` prints exactly what Python's `str(exception)` prints, so a message can be compared
/// with CPython's word for word.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Python's `ValueError`: a bad argument (negative or out-of-range fd, bad timeout, ...).
    Value(String),
    /// Python's `OverflowError`: a number that does not fit the C type it must become.
    Overflow(String),
    /// Python's `OSError`: the kernel refused. Shown as `[Errno 9] Bad file descriptor`.
    Os(io::Error),
    /// Python's `socket.timeout` (`TimeoutError`): a socket timeout expired. Shown as `timed out`.
    Timeout,
    /// A signal the program asked to be told about (see [`crate::signals`]) interrupted a
    /// blocking call. Python's `KeyboardInterrupt` when the signal is `SIGINT`.
    Interrupted(Signal),
    /// Python's `socket.gaierror`: a host name that could not be turned into an address.
    /// Holds the `EAI_*` code and its text.
    AddrInfo(i32, String),
    /// Python's `NotImplementedError`: the operation does not exist on this target.
    NotImplemented(String),
    /// Python's `KeyError`: a lookup of something not there (`Poll::unregister` of an fd never
    /// registered). Holds what `str(KeyError(x))` prints, which is `repr(x)`: `3` for the fd 3.
    Key(String),
    /// Python's `RuntimeError`: the object is in a state that forbids the call.
    Runtime(String),
}

impl Error {
    /// The OS error number, for [`Error::Os`]; `None` for the others, as Python's
    /// `exc.errno` is `None` for `TimeoutError('timed out')` and `KeyboardInterrupt` has none.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os(e) => e.raw_os_error(),
            _ => None,
        }
    }

    /// The name of the Python exception class this error mirrors (`"ValueError"`, ...).
    pub fn python_name(&self) -> &'static str {
        match self {
            Error::Value(_) => "ValueError",
            Error::Overflow(_) => "OverflowError",
            Error::Os(_) => "OSError",
            Error::Timeout => "TimeoutError",
            Error::Interrupted(Signal::SIGINT) => "KeyboardInterrupt",
            Error::Interrupted(_) => "InterruptedError",
            Error::AddrInfo(..) => "gaierror",
            Error::NotImplemented(_) => "NotImplementedError",
            Error::Key(_) => "KeyError",
            Error::Runtime(_) => "RuntimeError",
        }
    }

    pub(crate) fn value(msg: impl Into<String>) -> Self {
        Error::Value(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value(m) | Error::Overflow(m) | Error::NotImplemented(m) => f.write_str(m),
            Error::Key(m) | Error::Runtime(m) => f.write_str(m),
            Error::Os(e) => match e.raw_os_error() {
                Some(n) => write!(f, "[Errno {}] {}", n, crate::sys::strerror(n)),
                None => write!(f, "{e}"),
            },
            Error::Timeout => f.write_str("timed out"),
            // str(KeyboardInterrupt()) is the empty string in Python.
            Error::Interrupted(Signal::SIGINT) => Ok(()),
            Error::Interrupted(sig) => write!(f, "interrupted by {}", sig.as_str()),
            Error::AddrInfo(code, m) => write!(f, "[Errno {code}] {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Os(e)
    }
}

/// An [`Error::Os`] becomes its `io::Error` again; any other error is carried whole as the
/// payload of an `io::Error` (get it back with `get_ref()`/`into_inner()` and `downcast`).
/// `Interrupted` maps to `ErrorKind::Other`, not `ErrorKind::Interrupted`: std's `read_exact`
/// and `write_all` silently retry the latter, which would swallow a Ctrl-C.
impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::Os(inner) => return inner,
            Error::Value(_) | Error::Overflow(_) => io::ErrorKind::InvalidInput,
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Interrupted(_) => io::ErrorKind::Other,
            Error::AddrInfo(..) => io::ErrorKind::NotFound,
            Error::NotImplemented(_) => io::ErrorKind::Unsupported,
            Error::Key(_) => io::ErrorKind::NotFound,
            Error::Runtime(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

// ---------------------------------------------------------------------------------------------
// CPython's messages for `select.poll` and `select.epoll` (Modules/selectmodule.c and
// Python/pytime.c, 3.11.7), used by `Poll`, `Epoll` and their timeout conversions.
// ---------------------------------------------------------------------------------------------

/// `ValueError` for a NaN timeout (`_PyTime_FromSecondsObject`, `_PyTime_FromMillisecondsObject`).
pub(crate) const MSG_TIMEOUT_NAN: &str = "Invalid value NaN (not a number)";
/// `OverflowError` for a float timeout whose nanoseconds do not fit an `i64`.
pub(crate) const MSG_TIMESTAMP_OUT_OF_RANGE: &str = "timestamp out of range for platform time_t";
/// `OverflowError` for a poll/epoll timeout whose milliseconds do not fit a C `int`.
pub(crate) const MSG_TIMEOUT_TOO_LARGE: &str = "timeout is too large";
/// `ValueError` of every `select.epoll` method once the object is closed.
pub(crate) const MSG_EPOLL_CLOSED: &str = "I/O operation on closed epoll object";
/// `ValueError` of `select.epoll(sizehint)` for a sizehint of 0 or below -1.
pub(crate) const MSG_NEGATIVE_SIZEHINT: &str = "negative sizehint";
/// The text of the plain `OSError('invalid flags')` of `select.epoll(flags=...)`.
pub(crate) const MSG_INVALID_FLAGS: &str = "invalid flags";

impl Error {
    /// `ValueError("maxevents must be greater than 0, got N")` of `epoll.poll`.
    pub(crate) fn maxevents(n: i32) -> Self {
        Error::Value(format!("maxevents must be greater than 0, got {n}"))
    }

    /// `KeyError(fd)`, as `select.poll.unregister` raises it for an fd not registered; its
    /// text is `repr(fd)`.
    pub(crate) fn key_fd(fd: std::os::fd::RawFd) -> Self {
        Error::Key(fd.to_string())
    }

    /// `OSError('invalid flags')`: an `OSError` with no errno, as `select.epoll` raises it.
    pub(crate) fn invalid_flags() -> Self {
        Error::Os(io::Error::new(
            io::ErrorKind::InvalidInput,
            MSG_INVALID_FLAGS,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// CPython's messages for the `selectors` module (Lib/selectors.py, 3.11.7) and for the float to
// int conversions its `PollSelector`/`EpollSelector` make (`math.ceil`, Objects/floatobject.c;
// the int path of `_PyTime_FromMillisecondsObject`, Python/pytime.c).
// ---------------------------------------------------------------------------------------------

/// `RuntimeError` of `BaseSelector.get_key` once the selector is closed.
pub(crate) const MSG_SELECTOR_CLOSED: &str = "Selector is closed";
/// `ValueError` of `math.ceil(nan)`.
pub(crate) const MSG_CEIL_NAN: &str = "cannot convert float NaN to integer";
/// `OverflowError` of `math.ceil(inf)`.
pub(crate) const MSG_CEIL_INFINITY: &str = "cannot convert float infinity to integer";
/// `OverflowError` of an int millisecond timeout whose nanoseconds do not fit an `i64`.
pub(crate) const MSG_TIMESTAMP_TOO_LARGE: &str = "timestamp too large to convert to C _PyTime_t";

impl Error {
    /// `ValueError("Invalid events: N")` of `selectors` `register`.
    pub(crate) fn invalid_events(events: u8) -> Self {
        Error::Value(format!("Invalid events: {events}"))
    }

    /// `ValueError("Invalid file descriptor: N")` of `selectors`' `_fileobj_to_fd`.
    pub(crate) fn invalid_fd(fd: std::os::fd::RawFd) -> Self {
        Error::Value(format!("Invalid file descriptor: {fd}"))
    }

    /// `KeyError(message)`: `str()` of it is `repr(message)`, the text in quotes.
    pub(crate) fn key_message(message: &str) -> Self {
        // Python's str repr: single quotes unless the text holds one and no double quote.
        // (Selector messages hold no backslash or control character to escape.)
        if message.contains('\'') && !message.contains('"') {
            Error::Key(format!("\"{message}\""))
        } else {
            Error::Key(format!("'{}'", message.replace('\'', "\\'")))
        }
    }
}
