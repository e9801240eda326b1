//! `signals::set_wakeup_fd`, Python's `signal.set_wakeup_fd`: its checks and messages beside
//! CPython's, and what the handler writes. Alone in its own test binary (so in its own
//! process): the wakeup fd, the handlers and the pending signal are process-wide.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use pyselect::signals::{self, Signal};
use pyselect::Error;

/// Holds the test lock and unsets the wakeup fd when the test ends, however it ends.
struct Serial {
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl Serial {
    fn start() -> Serial {
        let lock = testkit::serial();
        assert_eq!(signals::set_wakeup_fd(-1).expect("unset"), -1, "left set");
        Serial { _lock: lock }
    }
}

impl Drop for Serial {
    fn drop(&mut self) {
        let _ = signals::set_wakeup_fd(-1);
    }
}

fn set_nonblocking(fd: impl AsFd) {
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL).expect("F_GETFL"));
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).expect("F_SETFL");
}

/// A pipe whose both ends are non-blocking: (read end, write end).
fn nonblocking_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = testkit::fd::pipe();
    set_nonblocking(&r);
    set_nonblocking(&w);
    (r, w)
}

/// Everything the non-blocking `r` holds now.
fn drain(r: &OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match nix::unistd::read(r, &mut buf) {
            Ok(0) | Err(Errno::EAGAIN) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The outcome of one call as the CPython script below prints it, the numbers `fds` spelled `N`.
fn outcome(r: pyselect::Result<i32>, fds: &[i32]) -> String {
    let mut text = match r {
        Ok(n) => n.to_string(),
        Err(e) => format!("{}: {e}", e.python_name()),
    };
    for fd in fds {
        text = text.replace(&fd.to_string(), "N");
    }
    text
}

#[test]
fn the_fd_set_before_is_returned_and_minus_one_unsets() {
    let _serial = Serial::start();
    let (_r, w) = nonblocking_pipe();
    let fd = w.as_raw_fd();
    assert_eq!(signals::set_wakeup_fd(fd).unwrap(), -1);
    assert_eq!(signals::set_wakeup_fd(fd).unwrap(), fd);
    assert_eq!(signals::set_wakeup_fd(-1).unwrap(), fd);
    assert_eq!(signals::set_wakeup_fd(-1).unwrap(), -1);
}

#[test]
fn a_blocking_fd_is_refused_and_the_fd_set_before_stays() {
    let _serial = Serial::start();
    let (_r, w) = nonblocking_pipe();
    let (_br, bw) = testkit::fd::pipe();
    signals::set_wakeup_fd(w.as_raw_fd()).unwrap();
    let e = signals::set_wakeup_fd(bw.as_raw_fd()).unwrap_err();
    assert!(matches!(e, Error::Value(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("the fd {} must be in non-blocking mode", bw.as_raw_fd())
    );
    assert_eq!(signals::set_wakeup_fd(-1).unwrap(), w.as_raw_fd());
}

#[test]
fn a_closed_or_negative_fd_is_the_oserror_of_fstat() {
    let _serial = Serial::start();
    for fd in [testkit::fd::closed_low_fd(), -5, -2] {
        let e = signals::set_wakeup_fd(fd).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBADF), "{fd}: {e:?}");
        assert_eq!(e.to_string(), "[Errno 9] Bad file descriptor");
    }
    assert_eq!(signals::set_wakeup_fd(-1).unwrap(), -1);
}

#[test]
fn the_results_and_messages_are_cpythons() {
    let _serial = Serial::start();
    // The same cases on both sides, each on fds of its own process; the fd numbers are
    // spelled N so that the lines compare.
    let script = r#"
import os, signal
def show(fd, *fds):
    try:
        out = str(signal.set_wakeup_fd(fd))
    except Exception as e:
        out = "%s: %s" % (type(e).__name__, e)
    for n in fds:
        out = out.replace(str(n), "N")
    print(out)
br, bw = os.pipe()
r, w = os.pipe()
os.set_blocking(w, False)
closed, other = os.pipe()
os.close(closed)
os.close(other)
show(bw, bw)
show(closed)
show(-7)
show(w, w)
show(bw, bw)
show(w, w)
show(-1, w)
show(-1)
"#;
    let cpython = testkit::python::run_lines(script, &[], b"");
    let (_br, bw) = testkit::fd::pipe();
    let (_r, w) = nonblocking_pipe();
    let (bw, w) = (bw.as_raw_fd(), w.as_raw_fd());
    let closed = testkit::fd::closed_low_fd();
    let ours = vec![
        outcome(signals::set_wakeup_fd(bw), &[bw]),
        outcome(signals::set_wakeup_fd(closed), &[]),
        outcome(signals::set_wakeup_fd(-7), &[]),
        outcome(signals::set_wakeup_fd(w), &[w]),
        outcome(signals::set_wakeup_fd(bw), &[bw]),
        outcome(signals::set_wakeup_fd(w), &[w]),
        outcome(signals::set_wakeup_fd(-1), &[w]),
        outcome(signals::set_wakeup_fd(-1), &[]),
    ];
    assert_eq!(ours, cpython);
}

#[test]
fn a_caught_signal_is_written_to_the_wakeup_fd_as_one_byte() {
    let _serial = Serial::start();
    let (r, w) = nonblocking_pipe();
    let _guard = signals::notify(&[Signal::SIGUSR1]).expect("install");
    signals::set_wakeup_fd(w.as_raw_fd()).unwrap();
    // The handler runs in raise(), before it returns.
    nix::sys::signal::raise(Signal::SIGUSR1).expect("raise");
    assert_eq!(drain(&r), [libc::SIGUSR1 as u8]);
    assert_eq!(signals::take_pending(), Some(Signal::SIGUSR1));
    // Unset, the handler writes nothing.
    signals::set_wakeup_fd(-1).unwrap();
    nix::sys::signal::raise(Signal::SIGUSR1).expect("raise");
    assert_eq!(signals::take_pending(), Some(Signal::SIGUSR1));
    assert_eq!(drain(&r), b"");
}

#[test]
fn a_full_wakeup_pipe_loses_the_byte_not_the_signal_and_errno_is_kept() {
    let _serial = Serial::start();
    let (r, w) = testkit::fd::one_page_pipe();
    set_nonblocking(&r);
    set_nonblocking(&w);
    let page = [b'x'; 4096];
    assert_eq!(nix::unistd::write(&w, &page), Ok(4096));
    assert_eq!(nix::unistd::write(&w, b"y"), Err(Errno::EAGAIN), "not full");
    let _guard = signals::notify(&[Signal::SIGUSR2]).expect("install");
    signals::set_wakeup_fd(w.as_raw_fd()).unwrap();
    // The handler's write fails with EAGAIN; the interrupted code must still read its own
    // errno afterwards (raise() itself leaves errno alone when it succeeds).
    Errno::set_raw(libc::E2BIG);
    nix::sys::signal::raise(Signal::SIGUSR2).expect("raise");
    assert_eq!(
        Errno::last_raw(),
        libc::E2BIG,
        "errno changed by the handler"
    );
    assert_eq!(signals::take_pending(), Some(Signal::SIGUSR2));
    assert_eq!(drain(&r), page);
}
