//! `pyselect::output`: lines that never block ([`LineQueue`]) and blocking lines that a watched
//! signal ends ([`write_all`]), on real pipes.

mod util;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use pyselect::output::{write_all, Detached, LineQueue};
use pyselect::signals::{self, Signal};
use pyselect::{Error, FileNo};

use util::fd::one_page_pipe;

/// A pipe with a one-page buffer; both ends non-blocking.
fn small_pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = one_page_pipe();
    fcntl(&w, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    (std::fs::File::from(r), w)
}

/// Everything the pipe holds now.
fn read_available(r: &mut std::fs::File) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn lines_wait_in_order_while_the_pipe_is_full_and_follow_when_it_drains() {
    let (mut r, w) = small_pipe();
    let mut q = LineQueue::new(w.as_raw_fd(), 1 << 20);
    let line = "x".repeat(99); // 100 bytes with the newline
    for _ in 0..100 {
        q.write_line(&line); // 10,000 bytes: 4,096 fit the pipe, the rest waits
    }
    assert!(q.pending());
    assert_eq!(q.dropped(), 0);
    assert_eq!(q.fileno(), w.as_raw_fd());
    let mut got = Vec::new();
    // Bounded: every round reads what the pipe holds and flushes more into it.
    for _ in 0..100 {
        got.extend(read_available(&mut r));
        if q.flush() && got.len() == 10_000 {
            break;
        }
    }
    assert!(!q.pending());
    let want = format!("{line}\n").repeat(100);
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn a_line_that_does_not_fit_the_queue_is_dropped_whole_and_counted() {
    let (mut r, w) = small_pipe();
    let mut q = LineQueue::new(w.as_raw_fd(), 1000);
    let line = "y".repeat(99);
    for _ in 0..60 {
        // 40 lines fill the pipe (a pipe write of at most 4096 bytes is all or nothing),
        // 10 wait in the queue, 10 are dropped.
        q.write_line(&line);
    }
    assert_eq!(q.dropped(), 10);
    // What does arrive is whole lines, in order.
    let mut got = Vec::new();
    for _ in 0..10 {
        got.extend(read_available(&mut r));
        if q.flush() && got.len() == 5000 {
            break;
        }
    }
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("{line}\n").repeat(50)
    );
}

#[test]
fn a_closed_reader_counts_the_lines_as_dropped() {
    let (r, w) = small_pipe();
    drop(r);
    let mut q = LineQueue::new(w.as_raw_fd(), 1000);
    q.write_line("lost"); // EPIPE (the test harness ignores SIGPIPE, as Rust programs do)
    assert_eq!(q.dropped(), 1);
    assert!(!q.pending());
}

#[test]
fn detach_gives_a_pipe_a_private_nonblocking_description() {
    let (_r, w) = nix::unistd::pipe().expect("pipe");
    let shared = w.try_clone().expect("dup");
    assert_eq!(
        LineQueue::detach(w.as_raw_fd()).unwrap(),
        Detached::PrivatePipe
    );
    let nonblocking = |fd: &OwnedFd| {
        OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).unwrap()).contains(OFlag::O_NONBLOCK)
    };
    assert!(nonblocking(&w));
    assert!(!nonblocking(&shared), "the shared description changed");
    let file = tempfile_fd();
    assert_eq!(
        LineQueue::detach(file.as_raw_fd()).unwrap(),
        Detached::Unchanged
    );
}

fn tempfile_fd() -> std::fs::File {
    std::fs::File::open("Cargo.toml").expect("open a regular file")
}

#[test]
fn a_watched_signal_ends_a_blocking_write() {
    let (_r, w) = nix::unistd::pipe().expect("pipe");
    let _guard = signals::notify(&[Signal::SIGUSR1]).unwrap();
    nix::sys::signal::raise(Signal::SIGUSR1).unwrap();
    // The pipe would take these bytes; the pending signal ends the write first and stays
    // pending for the program's next call.
    let err = write_all(w.as_raw_fd(), b"never written\n").unwrap_err();
    let inner = err.into_inner().expect("an Error payload");
    assert!(matches!(
        inner.downcast_ref::<Error>(),
        Some(Error::Interrupted(Signal::SIGUSR1))
    ));
    assert_eq!(signals::take_pending(), Some(Signal::SIGUSR1));
}
