//! [`FileNo`]: "an int, or an object with a `fileno()` method".

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// What `select()` accepts in its lists: the Rust face of Python's "an int, or an object with
/// a `fileno()` method" (`PyObject_AsFileDescriptor`).
///
/// `select()` calls `fileno()` once per entry, before any syscall.
pub trait FileNo {
    /// The file descriptor number; -1 for a closed [`crate::Socket`], as in Python.
    fn fileno(&self) -> RawFd;
}

impl FileNo for RawFd {
    fn fileno(&self) -> RawFd {
        *self
    }
}

impl<T: FileNo + ?Sized> FileNo for &T {
    fn fileno(&self) -> RawFd {
        (**self).fileno()
    }
}

impl<T: FileNo + ?Sized> FileNo for &mut T {
    fn fileno(&self) -> RawFd {
        (**self).fileno()
    }
}

impl<T: FileNo + ?Sized> FileNo for Box<T> {
    fn fileno(&self) -> RawFd {
        (**self).fileno()
    }
}

macro_rules! fileno_via_as_raw_fd {
    ($($ty:ty),* $(,)?) => {$(
        impl FileNo for $ty {
            fn fileno(&self) -> RawFd {
                self.as_raw_fd()
            }
        }
    )*};
}

fileno_via_as_raw_fd!(
    OwnedFd,
    BorrowedFd<'_>,
    std::fs::File,
    std::net::TcpListener,
    std::net::TcpStream,
    std::net::UdpSocket,
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixListener,
    std::os::unix::net::UnixDatagram,
    std::io::Stdin,
    std::io::Stdout,
    std::io::Stderr,
);

/// An fd with a tag of the caller's: `select()` returns the very tuples given, so the tag
/// says what each ready fd stands for (a listener's index, a client's slot, ...).
impl<T> FileNo for (RawFd, T) {
    fn fileno(&self) -> RawFd {
        self.0
    }
}
