//! `LineQueue::flush_within` at the edges of its limit: a limit too large for the monotonic
//! clock (`Duration::MAX`) is no deadline, never a panic.

use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use pyselect_cli::output::LineQueue;

use testkit::fd::one_page_pipe;

#[test]
fn an_empty_queue_flushes_within_duration_max_at_once() {
    let (_r, w) = one_page_pipe();
    let mut q = LineQueue::new(w.as_raw_fd(), 1 << 20);
    q.flush_within(Duration::MAX);
    assert!(!q.pending());
    assert_eq!(q.dropped(), 0);
}

#[test]
fn queued_lines_for_a_closed_reader_are_counted_within_duration_max() {
    let (r, w) = one_page_pipe();
    fcntl(&w, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    let mut q = LineQueue::new(w.as_raw_fd(), 1 << 20);
    let line = "z".repeat(99); // 100 bytes with the newline
    for _ in 0..100 {
        // 40 lines fill the one-page pipe (a write of at most 4096 bytes is all or nothing);
        // 60 wait in the queue.
        q.write_line(&line);
    }
    assert!(q.pending());
    assert_eq!(q.dropped(), 0);
    drop(r);
    // No deadline: the wait ends because the fd fails (EPIPE; the test harness ignores
    // SIGPIPE), and the 60 queued lines are counted as lost.
    q.flush_within(Duration::MAX);
    assert!(!q.pending());
    assert_eq!(q.dropped(), 60);
}
