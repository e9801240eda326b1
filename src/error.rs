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
        };
        io::Error::new(kind, e)
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
