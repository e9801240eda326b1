//! `pyselect_cli::output`: lines that never block ([`LineQueue`]) and blocking lines that a watched
//! signal ends ([`write_all`]), on real pipes.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use pyselect::signals::{self, Signal};
use pyselect::{Error, FileNo};
use pyselect_cli::output::{write_all, Detached, LineQueue, Stream};

use testkit::fd::one_page_pipe;

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
    // detach rewires the process's own stderr, so this runs in a child process; stderr is
    // put back before anything is asserted, so a failure still shows.
    testkit::child::in_child(
        "detach_gives_a_pipe_a_private_nonblocking_description",
        || {
            // Raw libc calls: fds 1 and 2 belong to no `OwnedFd`.
            let nonblocking = |fd: RawFd| {
                // SAFETY: F_GETFL takes no argument; `fd` is open for the whole check.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                assert!(flags >= 0, "F_GETFL on fd {fd}");
                flags & libc::O_NONBLOCK != 0
            };
            let dup2 = |from: RawFd, to: RawFd| {
                // SAFETY: dup2(2) takes two integers; `to` is stderr, which this child owns.
                assert_eq!(unsafe { libc::dup2(from, to) }, to, "dup2({from}, {to})");
            };
            // SAFETY: dup(2) takes an integer; the new fd is this closure's, closed below.
            let saved = unsafe { libc::dup(2) };
            assert!(saved >= 0, "dup stderr");
            let (_r, w) = nix::unistd::pipe().expect("pipe");
            dup2(w.as_raw_fd(), 2);
            let on_pipe = LineQueue::detach(Stream::Stderr);
            let (stderr_nb, shared_nb) = (nonblocking(2), nonblocking(w.as_raw_fd()));
            let file = tempfile_fd();
            dup2(file.as_raw_fd(), 2);
            let on_file = LineQueue::detach(Stream::Stderr);
            let file_nb = nonblocking(2);
            dup2(saved, 2);
            // SAFETY: `saved` is this closure's own fd, used no more.
            unsafe { libc::close(saved) };

            assert_eq!(on_pipe.unwrap(), Detached::PrivatePipe);
            assert!(stderr_nb, "stderr is not non-blocking");
            assert!(!shared_nb, "the shared description changed");
            assert_eq!(on_file.unwrap(), Detached::Unchanged);
            assert!(!file_nb, "a regular file became non-blocking");
        },
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
