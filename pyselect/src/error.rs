//! The crate's one error type, shaped after the Python exceptions that `select.select` and the
//! socket methods raise.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::sys::Signal;

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
    /// blocking call. Python's `KeyboardInterrupt` when the signal is `SIGINT`. The signal is
    /// a [`crate::signals::Signal`] (`nix`'s type, re-exported there).
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
    /// The error of the host's check ([`crate::signals::set_eintr_check`]) that ended a wait
    /// after `EINTR`: in Python, the exception a signal handler raised. Carried whole, so the
    /// host gets its own error back with `downcast`.
    Check(Box<dyn std::error::Error + Send + Sync>),
}

/// Python's messages, word for word, each built next to the variant that carries it. Every
/// other module raises these errors through these constructors, so a message that must match
/// CPython's is spelled in this one place.
impl Error {
    /// `ValueError`: `select()` or [`crate::FdSet`] was given a negative fd. CPython prints the
    /// number as given.
    pub(crate) fn negative_fd(fd: RawFd) -> Self {
        Error::Value(format!(
            "file descriptor cannot be a negative integer ({fd})"
        ))
    }

    /// `ValueError`: an fd at or above `FD_SETSIZE`, spelled as CPython spells it.
    pub(crate) fn fd_out_of_range() -> Self {
        Error::value("filedescriptor out of range in select()")
    }

    /// `ValueError`: a list of more than `FD_SETSIZE` entries.
    pub(crate) fn too_many_fds() -> Self {
        Error::value("too many file descriptors in select()")
    }

    /// `ValueError`: a NaN timeout (CPython's `_PyTime_FromSecondsObject`).
    pub(crate) fn timeout_nan() -> Self {
        Error::value("Invalid value NaN (not a number)")
    }

    /// `ValueError`: a negative `select.select` timeout.
    pub(crate) fn timeout_negative() -> Self {
        Error::value("timeout must be non-negative")
    }

    /// `ValueError`: a negative `socket.settimeout` value.
    pub(crate) fn socket_timeout_out_of_range() -> Self {
        Error::value("Timeout value out of range")
    }

    /// `OverflowError`: a timeout that does not fit `i64` nanoseconds.
    pub(crate) fn timeout_overflow() -> Self {
        Error::Overflow("timestamp out of range for platform time_t".into())
    }

    /// `socket.gaierror` `EAI_NONAME` (-2): a host that is not a number, `""` or `"localhost"`.
    pub(crate) fn gai_noname() -> Self {
        Error::AddrInfo(-2, "Name or service not known".into())
    }

    /// `socket.gaierror` `EAI_ADDRFAMILY` (-9): an address of the other family.
    pub(crate) fn gai_family() -> Self {
        Error::AddrInfo(-9, "Address family for hostname not supported".into())
    }

    /// `OverflowError`: a poll/epoll timeout whose milliseconds do not fit a C `int`.
    pub(crate) fn timeout_too_large() -> Self {
        Error::Overflow("timeout is too large".into())
    }

    /// `ValueError` of every `select.epoll` method once the object is closed.
    pub(crate) fn epoll_closed() -> Self {
        Error::value("I/O operation on closed epoll object")
    }

    /// `ValueError` of `select.epoll(sizehint)` for a sizehint of 0 or below -1 (CPython says
    /// "negative" for 0 too).
    pub(crate) fn negative_sizehint() -> Self {
        Error::value("negative sizehint")
    }

    /// `OSError('invalid flags')` of `select.epoll(flags=...)`: an `OSError` with no errno.
    pub(crate) fn invalid_flags() -> Self {
        Error::Os(io::Error::new(io::ErrorKind::InvalidInput, "invalid flags"))
    }

    /// `ValueError("maxevents must be greater than 0, got N")` of `epoll.poll`.
    pub(crate) fn maxevents(n: i32) -> Self {
        Error::Value(format!("maxevents must be greater than 0, got {n}"))
    }

    /// `KeyError(fd)`, as `select.poll.unregister` raises it for an fd not registered; its
    /// text is `repr(fd)`.
    pub(crate) fn key_fd(fd: RawFd) -> Self {
        Error::Key(fd.to_string())
    }

    /// `RuntimeError` of the selectors once closed (`BaseSelector.get_key`'s message).
    pub(crate) fn selector_closed() -> Self {
        Error::Runtime("Selector is closed".into())
    }

    /// `ValueError` of `math.ceil(nan)` (`PollSelector`/`EpollSelector` timeouts).
    pub(crate) fn ceil_nan() -> Self {
        Error::value("cannot convert float NaN to integer")
    }

    /// `OverflowError` of `math.ceil(inf)` (`PollSelector`/`EpollSelector` timeouts).
    pub(crate) fn ceil_infinity() -> Self {
        Error::Overflow("cannot convert float infinity to integer".into())
    }

    /// `OverflowError` of an int millisecond timeout whose nanoseconds do not fit an `i64`
    /// (the int path of `_PyTime_FromMillisecondsObject`, which `PollSelector` reaches).
    pub(crate) fn timestamp_too_large() -> Self {
        Error::Overflow("timestamp too large to convert to C _PyTime_t".into())
    }

    /// `ValueError("Invalid events: N")` of `selectors` `register`.
    pub(crate) fn invalid_events(events: u8) -> Self {
        Error::Value(format!("Invalid events: {events}"))
    }

    /// `ValueError("Invalid file descriptor: N")` of `selectors`' `_fileobj_to_fd`.
    pub(crate) fn invalid_fd(fd: RawFd) -> Self {
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

    /// `ValueError` of `signal.set_wakeup_fd` for an fd without `O_NONBLOCK`.
    pub(crate) fn wakeup_fd_blocking(fd: RawFd) -> Self {
        Error::Value(format!("the fd {fd} must be in non-blocking mode"))
    }

    /// `NotImplementedError` (pyselect's own message): `Syscall::Select` off x86-64 Linux.
    pub(crate) fn raw_select_unavailable() -> Self {
        Error::NotImplemented(
            "the raw select syscall exists only on x86-64 Linux; use Syscall::Libc".into(),
        )
    }
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
            // Whatever the handler raised; its class is the host's.
            Error::Check(_) => "Exception",
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
            Error::Check(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os(e) => Some(e),
            Error::Check(e) => Some(e.as_ref()),
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
            Error::Runtime(_) | Error::Check(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
