//! `Error`'s Python face and its conversion into `std::io::Error`, and `recv` with a size that
//! cannot be allocated.

use std::io;

use pyselect::{Error, Socket};

#[test]
fn errno_is_there_only_for_os_errors_as_in_python() {
    let os = Error::Os(io::Error::from_raw_os_error(libc::ECONNREFUSED));
    assert_eq!(os.errno(), Some(libc::ECONNREFUSED));
    // Python: TimeoutError('timed out').errno is None; KeyboardInterrupt has no errno.
    assert_eq!(Error::Timeout.errno(), None);
    assert_eq!(
        Error::Interrupted(pyselect::signals::Signal::SIGINT).errno(),
        None
    );
    assert_eq!(Error::Value("x".into()).errno(), None);
}

#[test]
fn os_errors_display_as_python_oserror() {
    // python3 is needed: these tests compare with CPython.
    let expected = testkit::python::run(
        "import os\nfor n in (9, 32, 98, 104, 111): print('[Errno {}] {}'.format(n, os.strerror(n)))",
        &[],
        b"",
    );
    let ours: String = [9, 32, 98, 104, 111]
        .iter()
        .map(|&n| format!("{}\n", Error::Os(io::Error::from_raw_os_error(n))))
        .collect();
    assert_eq!(ours, expected);
}

#[test]
fn into_io_error_keeps_the_os_error_and_carries_the_others_whole() {
    let e: io::Error = Error::Os(io::Error::from_raw_os_error(libc::EBADF)).into();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));

    let e: io::Error = Error::Timeout.into();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert_eq!(e.to_string(), "timed out");
    let inner = e.into_inner().expect("payload");
    assert!(matches!(
        inner.downcast_ref::<Error>(),
        Some(Error::Timeout)
    ));

    let e: io::Error = Error::Value("timeout must be non-negative".into()).into();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(e.to_string(), "timeout must be non-negative");
}

#[test]
fn interrupted_does_not_become_a_kind_std_retries() {
    // read_exact/write_all retry ErrorKind::Interrupted silently: a Ctrl-C must not vanish.
    let e: io::Error = Error::Interrupted(pyselect::signals::Signal::SIGINT).into();
    assert_ne!(e.kind(), io::ErrorKind::Interrupted);
    let inner = e.into_inner().expect("payload");
    assert!(matches!(
        inner.downcast_ref::<Error>(),
        Some(Error::Interrupted(pyselect::signals::Signal::SIGINT))
    ));
}

#[test]
fn recv_of_an_unallocatable_size_is_an_error_not_a_panic() {
    let s = Socket::tcp_v4().unwrap();
    // Python raises MemoryError; pyselect returns ENOMEM before any syscall.
    for n in [usize::MAX, usize::MAX / 2, 1 << 62] {
        let e = s.recv(n).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOMEM), "recv({n}): {e:?}");
    }
}
