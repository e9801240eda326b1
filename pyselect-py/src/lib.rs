//! pyselect as a CPython extension module, `pyselect_py._select`: what Python's `select`
//! module offers on Linux (`select`, `poll`, `epoll`, `error`, the `POLL*`/`EPOLL*`
//! constants, `PIPE_BUF`) and pyselect's selectors, so that CPython's own test suites can run
//! against the library.
//!
//! Thin on purpose: ordering, validation, timeout rounding, messages and retries are the
//! library's. This file turns Python objects into what the library takes (an fd from an int or
//! `fileno()`, as `PyObject_AsFileDescriptor`; a timeout into an `f64`; a mask into its C
//! type, with the converter errors CPython's argument parsing raises), releases the GIL around
//! every wait, maps [`pyselect::Error`] to the Python exception it names, and hands back the
//! very objects it was given.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use pyo3::exceptions::{
    PyInterruptedError, PyKeyError, PyKeyboardInterrupt, PyNotImplementedError, PyOSError,
    PyOverflowError, PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyList, PyTuple};

use pyselect::selectors::{self as sels, Selector as _};
use pyselect::signals::Signal;
use pyselect::{Error, FileNo};

/// The library's error as the Python exception it names.
fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Value(m) => PyValueError::new_err(m),
        Error::Overflow(m) => PyOverflowError::new_err(m),
        Error::Os(ref io) => match io.raw_os_error() {
            // OSError(errno, strerror) is the subclass for errno (FileNotFoundError ...).
            Some(n) => {
                let text = e.to_string();
                let strerror = text.split_once("] ").map_or(text.as_str(), |(_, s)| s);
                PyOSError::new_err((n, strerror.to_owned()))
            }
            None => PyOSError::new_err(io.to_string()),
        },
        Error::Timeout => PyTimeoutError::new_err("timed out"),
        Error::Interrupted(Signal::SIGINT) => PyKeyboardInterrupt::new_err(()),
        Error::Interrupted(sig) => PyInterruptedError::new_err(format!("interrupted by {sig}")),
        Error::NotImplemented(m) => PyNotImplementedError::new_err(m),
        // The library holds str(KeyError(x)), i.e. repr(x): an fd, or a quoted message.
        Error::Key(m) => match m.parse::<i64>() {
            Ok(n) => PyKeyError::new_err(n),
            Err(_) => PyKeyError::new_err(unquote(&m)),
        },
        Error::Runtime(m) => PyRuntimeError::new_err(m),
        // A signal handler's exception, raised from the check below: the very PyErr.
        Error::Check(inner) => match inner.downcast::<PyErr>() {
            Ok(err) => *err,
            Err(other) => PyRuntimeError::new_err(other.to_string()),
        },
        other => {
            let _ = py;
            PyRuntimeError::new_err(other.to_string())
        }
    }
}

/// The text of a Python str repr ('...' or "..."), as the library spells a KeyError message.
fn unquote(m: &str) -> String {
    let inner = m
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| m.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
    match inner {
        Some(s) => s.replace("\\'", "'"),
        None => m.to_owned(),
    }
}

/// CPython's PyErr_CheckSignals() as the library's EINTR check: run the interpreter's signal
/// handlers; one that raises ends the wait with its exception.
fn check_signals() -> pyselect::Result<()> {
    Python::with_gil(|py| py.check_signals()).map_err(|e| Error::Check(Box::new(e)))
}

/// `PyObject_AsFileDescriptor` up to the negative check (the library's): an int, or what
/// `fileno()` returns, as a C int.
fn as_fd(obj: &Bound<'_, PyAny>) -> PyResult<RawFd> {
    let value = if obj.is_instance_of::<PyInt>() {
        obj.clone()
    } else if let Ok(meth) = obj.getattr("fileno") {
        let v = meth.call0()?;
        if !v.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err("fileno() returned a non-integer"));
        }
        v
    } else {
        return Err(PyTypeError::new_err(
            "argument must be an int, or have a fileno() method.",
        ));
    };
    c_int(&value)
}

/// An int as a C int: `OverflowError("Python int too large to convert to C int")` otherwise.
fn c_int(value: &Bound<'_, PyAny>) -> PyResult<i32> {
    match value.extract::<i64>() {
        Ok(n) => i32::try_from(n)
            .map_err(|_| PyOverflowError::new_err("Python int too large to convert to C int")),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => Err(PyOverflowError::new_err(
            "Python int too large to convert to C int",
        )),
        Err(e) => Err(e),
    }
}

/// `_PyLong_UnsignedShort_Converter`: poll's event masks.
fn ushort(value: &Bound<'_, PyAny>) -> PyResult<u16> {
    if !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err("an integer is required"));
    }
    let too_large = || PyOverflowError::new_err("Python int too large for C unsigned short");
    match value.extract::<i64>() {
        Ok(n) if n < 0 => Err(PyValueError::new_err("value must be positive")),
        Ok(n) => u16::try_from(n).map_err(|_| too_large()),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            // Below i64::MIN is negative too.
            if value.lt(0)? {
                Err(PyValueError::new_err("value must be positive"))
            } else {
                Err(too_large())
            }
        }
        Err(e) => Err(e),
    }
}

/// epoll's masks: `unsigned int` with C's truncation of any int (`I` format), as CPython.
fn uint_mask(value: &Bound<'_, PyAny>) -> PyResult<u32> {
    if !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err("an integer is required"));
    }
    let masked = value.call_method1("__and__", (0xffff_ffffu64,))?;
    masked.extract::<u32>()
}

/// A timeout as a float, for the library's conversion; `None` is `None`. `what` is CPython's
/// TypeError text for anything else.
fn timeout_f64(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<f64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyFloat>() {
        return value.extract::<f64>().map(Some);
    }
    if value.is_instance_of::<PyInt>() {
        // An int beyond f64 is beyond every timeout anyway: the library's OverflowError.
        return Ok(Some(value.extract::<f64>().unwrap_or(f64::INFINITY)));
    }
    Err(PyTypeError::new_err(what.to_owned()))
}

/// One entry of a `select()` list: the object given and its fd.
struct Item {
    obj: PyObject,
    fd: RawFd,
}

impl FileNo for Item {
    fn fileno(&self) -> RawFd {
        self.fd
    }
}

fn items(seq: &Bound<'_, PyAny>) -> PyResult<Vec<Item>> {
    let list = seq
        .try_iter()
        .map_err(|_| PyTypeError::new_err("arguments 1-3 must be sequences"))?;
    let mut out = Vec::new();
    for obj in list {
        let obj = obj?;
        let fd = as_fd(&obj)?;
        out.push(Item {
            obj: obj.unbind(),
            fd,
        });
    }
    Ok(out)
}

/// `select.select(rlist, wlist, xlist, timeout=None)`: [`pyselect::select()`], the GIL released
/// while it waits; the ready lists hold the very objects given.
#[pyfunction]
#[pyo3(signature = (rlist, wlist, xlist, timeout = None, /))]
fn select<'py>(
    py: Python<'py>,
    rlist: &Bound<'py, PyAny>,
    wlist: &Bound<'py, PyAny>,
    xlist: &Bound<'py, PyAny>,
    timeout: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let timeout = timeout_f64(timeout, "timeout must be a float or None")?;
    // The library checks the timeout before the lists; so must the fileno() calls here.
    if let Some(t) = timeout {
        pyselect::timeout::select_timeval(t).map_err(|e| to_py(py, e))?;
    }
    let (r, w, x) = (items(rlist)?, items(wlist)?, items(xlist)?);
    let ready = py
        .allow_threads(|| pyselect::select(r, w, x, timeout))
        .map_err(|e| to_py(py, e))?;
    let list = |v: Vec<Item>| PyList::new(py, v.into_iter().map(|i| i.obj));
    PyTuple::new(py, [list(ready.0)?, list(ready.1)?, list(ready.2)?])
}

/// `select.poll()`: a [`pyselect::Poll`].
#[pyclass(name = "poll", module = "select")]
struct Poll {
    inner: pyselect::Poll,
}

#[pymethods]
impl Poll {
    /// As CPython's: the type cannot be called, only `select.poll()` makes one.
    #[new]
    fn new() -> PyResult<Self> {
        Err(PyTypeError::new_err(
            "cannot create 'select.poll' instances",
        ))
    }

    #[pyo3(signature = (fd, eventmask = None, /))]
    fn register(
        &mut self,
        fd: &Bound<'_, PyAny>,
        eventmask: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (py, fd) = (fd.py(), as_fd(fd)?);
        let mask = eventmask.map(ushort).transpose()?;
        self.inner.register(fd, mask).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (fd, eventmask, /))]
    fn modify(&mut self, fd: &Bound<'_, PyAny>, eventmask: &Bound<'_, PyAny>) -> PyResult<()> {
        let (py, fd) = (fd.py(), as_fd(fd)?);
        let mask = ushort(eventmask)?;
        self.inner.modify(fd, mask).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (fd, /))]
    fn unregister(&mut self, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        let (py, fd) = (fd.py(), as_fd(fd)?);
        self.inner.unregister(fd).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (timeout = None, /))]
    fn poll(
        &mut self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<(i32, u16)>> {
        let timeout = timeout_f64(timeout, "timeout must be an integer or None")?;
        let inner = &mut self.inner;
        py.allow_threads(|| inner.poll(timeout))
            .map_err(|e| to_py(py, e))
    }
}

/// `select.poll()`.
#[pyfunction(name = "poll")]
fn new_poll() -> Poll {
    Poll {
        inner: pyselect::Poll::new(),
    }
}

/// `select.epoll(sizehint=-1, flags=0)`: a [`pyselect::Epoll`].
#[pyclass(name = "epoll", module = "select")]
struct Epoll {
    inner: pyselect::Epoll,
}

#[pymethods]
impl Epoll {
    #[new]
    #[pyo3(signature = (sizehint = -1, flags = 0))]
    fn new(py: Python<'_>, sizehint: i32, flags: i32) -> PyResult<Self> {
        let inner = pyselect::Epoll::with_options(sizehint, flags).map_err(|e| to_py(py, e))?;
        Ok(Epoll { inner })
    }

    /// `epoll.fromfd(fd)`: the epoll owns the fd from now on, as CPython's does.
    #[classmethod]
    fn fromfd(_cls: &Bound<'_, pyo3::types::PyType>, fd: i32) -> PyResult<Self> {
        if fd < 0 {
            // CPython's epoll.fromfd(-1) creates a new epoll; the library takes an fd it owns.
            return Err(PyValueError::new_err(format!(
                "file descriptor cannot be a negative integer ({fd})"
            )));
        }
        // SAFETY: epoll.fromfd hands the number's ownership to the new object, as CPython's
        // does (its dealloc closes it); the caller keeps it open until then.
        #[allow(unsafe_code)]
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            inner: pyselect::Epoll::fromfd(owned),
        })
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed()
    }

    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.inner.close().map_err(|e| to_py(py, e))
    }

    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        self.inner.fileno().map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (fd, eventmask = None))]
    fn register(
        &self,
        fd: &Bound<'_, PyAny>,
        eventmask: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (py, fd) = (fd.py(), as_fd(fd)?);
        let mask = eventmask.map(uint_mask).transpose()?;
        self.inner.register(fd, mask).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (fd, eventmask))]
    fn modify(&self, fd: &Bound<'_, PyAny>, eventmask: &Bound<'_, PyAny>) -> PyResult<()> {
        let (py, fd) = (fd.py(), as_fd(fd)?);
        let mask = uint_mask(eventmask)?;
        self.inner.modify(fd, mask).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (fd))]
    fn unregister(&self, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        let (py, fd) = (fd.py(), as_fd(fd)?);
        self.inner.unregister(fd).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (timeout = None, maxevents = None))]
    fn poll(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
        maxevents: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<(i32, u32)>> {
        // Closed first, then the timeout, then maxevents: the library's order.
        if self.inner.closed() {
            self.inner.fileno().map_err(|e| to_py(py, e))?;
        }
        let timeout = timeout_f64(timeout, "timeout must be an integer or None")?;
        let maxevents = maxevents.map(c_int).transpose()?;
        let inner = &self.inner;
        py.allow_threads(|| inner.poll(timeout, maxevents))
            .map_err(|e| to_py(py, e))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        slf.inner.fileno().map_err(|e| to_py(slf.py(), e))?;
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
    }
}

/// A selector's file object: the object given, shared with its keys, and its fd.
#[derive(Clone)]
struct PyFile {
    obj: Arc<PyObject>,
    fd: RawFd,
}

impl FileNo for PyFile {
    fn fileno(&self) -> RawFd {
        self.fd
    }
}

type Data = Arc<PyObject>;
/// A key as the Python layer builds its `SelectorKey`: (fileobj, fd, events, data).
type KeyTuple = (PyObject, i32, u8, PyObject);

fn key_tuple(py: Python<'_>, k: &sels::SelectorKey<PyFile, Data>) -> KeyTuple {
    (
        k.fileobj.obj.clone_ref(py),
        k.fd,
        k.events,
        k.data.clone_ref(py),
    )
}

/// The events argument as the library's `u8`; a value beyond it is the library's message.
fn events_u8(events: &Bound<'_, PyAny>) -> PyResult<u8> {
    let n: i64 = events.extract()?;
    u8::try_from(n).map_err(|_| PyValueError::new_err(format!("Invalid events: {n}")))
}

macro_rules! selector_class {
    ($name:ident, $pyname:literal, $inner:ty $(, $extra:item)*) => {
        /// pyselect's selector behind `pyselect_py.selectors` (which adds `SelectorKey`,
        /// the mapping and the context manager in Python).
        #[pyclass(name = $pyname, module = "pyselect_py._select")]
        struct $name {
            inner: $inner,
        }

        #[pymethods]
        impl $name {
            #[new]
            fn new(py: Python<'_>) -> PyResult<Self> {
                let inner = <$inner>::new().map_err(|e| to_py(py, e))?;
                Ok($name { inner })
            }

            /// `register(fileobj, fd, events, data)`: the fd comes from the Python layer's
            /// `_fileobj_to_fd` (it may be negative: the library says so).
            fn register(
                &mut self,
                py: Python<'_>,
                fileobj: PyObject,
                fd: i32,
                events: &Bound<'_, PyAny>,
                data: PyObject,
            ) -> PyResult<KeyTuple> {
                let events = events_u8(events)?;
                let file = PyFile {
                    obj: Arc::new(fileobj),
                    fd,
                };
                let key = self
                    .inner
                    .register(file, events, Arc::new(data))
                    .map_err(|e| to_py(py, e))?;
                Ok(key_tuple(py, key))
            }

            fn unregister(&mut self, py: Python<'_>, fd: i32) -> PyResult<KeyTuple> {
                let key = self.inner.unregister(fd).map_err(|e| to_py(py, e))?;
                Ok(key_tuple(py, &key))
            }

            fn modify(
                &mut self,
                py: Python<'_>,
                fileobj: PyObject,
                fd: i32,
                events: &Bound<'_, PyAny>,
                data: PyObject,
            ) -> PyResult<KeyTuple> {
                let events = events_u8(events)?;
                let file = PyFile {
                    obj: Arc::new(fileobj),
                    fd,
                };
                let key = self
                    .inner
                    .modify(file, events, Arc::new(data))
                    .map_err(|e| to_py(py, e))?;
                Ok(key_tuple(py, key))
            }

            #[pyo3(signature = (timeout = None))]
            fn select(
                &mut self,
                py: Python<'_>,
                timeout: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<Vec<(KeyTuple, u8)>> {
                let timeout = timeout_f64(timeout, "timeout must be a float or None")?;
                let inner = &mut self.inner;
                let ready = py
                    .allow_threads(|| inner.select(timeout))
                    .map_err(|e| to_py(py, e))?;
                Ok(ready
                    .iter()
                    .map(|(k, ev)| (key_tuple(py, k), *ev))
                    .collect())
            }

            fn get_key(&self, py: Python<'_>, fd: i32) -> PyResult<KeyTuple> {
                let key = self.inner.get_key(fd).map_err(|e| to_py(py, e))?;
                Ok(key_tuple(py, key))
            }

            /// Every key in fd order, or `None` once closed.
            fn keys(&self, py: Python<'_>) -> Option<Vec<KeyTuple>> {
                let map = self.inner.get_map()?;
                Some(map.values().map(|k| key_tuple(py, k)).collect())
            }

            fn close(&mut self, py: Python<'_>) -> PyResult<()> {
                self.inner.close().map_err(|e| to_py(py, e))
            }

            $($extra)*
        }
    };
}

selector_class!(SelectSelector, "SelectSelector", sels::SelectSelector<PyFile, Data>);
selector_class!(PollSelector, "PollSelector", sels::PollSelector<PyFile, Data>);
selector_class!(
    EpollSelector,
    "EpollSelector",
    sels::EpollSelector<PyFile, Data>,
    /// `EpollSelector.fileno()`: the epoll fd; the closed ValueError once closed.
    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        self.inner.fileno().map_err(|e| to_py(py, e))
    }
);

/// The module: `select`'s names, pyselect's selectors, and the marker the test runner checks.
#[pymodule]
fn _select(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Every wait the library retries after EINTR runs the interpreter's signal handlers first.
    pyselect::signals::set_eintr_check(Some(check_signals));
    m.add_function(wrap_pyfunction!(select, m)?)?;
    m.add_function(wrap_pyfunction!(new_poll, m)?)?;
    m.add_class::<Epoll>()?;
    m.add_class::<SelectSelector>()?;
    m.add_class::<PollSelector>()?;
    m.add_class::<EpollSelector>()?;
    m.add("error", py.get_type::<PyOSError>())?;
    m.add("PIPE_BUF", libc::PIPE_BUF)?;
    let poll = [
        ("POLLIN", pyselect::POLLIN),
        ("POLLPRI", pyselect::POLLPRI),
        ("POLLOUT", pyselect::POLLOUT),
        ("POLLERR", pyselect::POLLERR),
        ("POLLHUP", pyselect::POLLHUP),
        ("POLLNVAL", pyselect::POLLNVAL),
        ("POLLRDNORM", pyselect::POLLRDNORM),
        ("POLLRDBAND", pyselect::POLLRDBAND),
        ("POLLWRNORM", pyselect::POLLWRNORM),
        ("POLLWRBAND", pyselect::POLLWRBAND),
        ("POLLMSG", pyselect::POLLMSG),
        ("POLLRDHUP", pyselect::POLLRDHUP),
    ];
    for (name, value) in poll {
        m.add(name, value)?;
    }
    let epoll = [
        ("EPOLLIN", pyselect::EPOLLIN),
        ("EPOLLPRI", pyselect::EPOLLPRI),
        ("EPOLLOUT", pyselect::EPOLLOUT),
        ("EPOLLERR", pyselect::EPOLLERR),
        ("EPOLLHUP", pyselect::EPOLLHUP),
        ("EPOLLRDNORM", pyselect::EPOLLRDNORM),
        ("EPOLLRDBAND", pyselect::EPOLLRDBAND),
        ("EPOLLWRNORM", pyselect::EPOLLWRNORM),
        ("EPOLLWRBAND", pyselect::EPOLLWRBAND),
        ("EPOLLMSG", pyselect::EPOLLMSG),
        ("EPOLLRDHUP", pyselect::EPOLLRDHUP),
        ("EPOLLEXCLUSIVE", pyselect::EPOLLEXCLUSIVE),
        ("EPOLLONESHOT", pyselect::EPOLLONESHOT),
        ("EPOLLET", pyselect::EPOLLET),
    ];
    for (name, value) in epoll {
        m.add(name, value)?;
    }
    m.add("EPOLL_CLOEXEC", pyselect::EPOLL_CLOEXEC)?;
    // The stand-in's marker: the test runner refuses to run unless it finds it.
    m.add("PYSELECT_STAND_IN", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
