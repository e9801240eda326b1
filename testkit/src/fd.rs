//! File descriptors: pipes and socket pairs, the process's open fds, fd flags, and fds moved
//! to fixed numbers or handed to a child at the same numbers.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::LIMIT;

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

/// A pipe (both ends close-on-exec) whose buffer is shrunk to one page (4096 bytes), so that a
/// few writes fill it: (read end, write end).
pub fn one_page_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = pipe();
    fcntl(&w, FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    (r, w)
}

/// A connected pair of Unix stream sockets.
pub fn socketpair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

/// Write all of `data` (a few bytes: one `write(2)`) to `fd`.
pub fn write_fd(fd: impl AsFd, data: &[u8]) {
    let n = nix::unistd::write(fd, data).expect("write");
    assert_eq!(n, data.len(), "short write");
}

/// Wait (at most [`LIMIT`]) until the kernel reports one of `events` on `fd` (a connection to
/// accept, urgent data, a FIN or RST from the peer); panics if it never does.
pub fn wait_ready(fd: impl AsFd, events: PollFlags) {
    let mut fds = [PollFd::new(fd.as_fd(), events)];
    let timeout = PollTimeout::try_from(LIMIT).expect("LIMIT fits poll");
    let ready = poll(&mut fds, timeout).expect("poll");
    assert_eq!(
        ready, 1,
        "the fd never became ready for {events:?} within {LIMIT:?}"
    );
    let got = fds[0].revents().expect("revents");
    assert!(got.intersects(events), "{got:?} lacks {events:?}");
}

/// The process's open fds and what they point to, from `/proc/self/fd`. The directory handle
/// used to read the listing is left out.
pub fn open_fds() -> BTreeMap<RawFd, String> {
    let dir = std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd");
    let mut fds = BTreeMap::new();
    for entry in dir {
        let entry = entry.expect("readdir /proc/self/fd");
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        // The fd of the directory being read has vanished by the time we readlink it, or is
        // the directory itself: either way it is not the process's own.
        match std::fs::read_link(entry.path()) {
            Ok(target) if !target.to_string_lossy().starts_with("/proc/") => {
                fds.insert(fd, target.to_string_lossy().into_owned());
            }
            _ => {}
        }
    }
    fds
}

/// Is `fd` open in this process?
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: fcntl(F_GETFD) only reads the fd table; any int is a valid argument.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The number of a pipe end that has just been closed: a low fd that is now free (select on it
/// gives EBADF). Only meaningful while no other thread of the process opens fds, so callers hold
/// [`super::serial`] or run in a child process.
pub fn closed_low_fd() -> RawFd {
    let (r, w) = pipe();
    let fd = r.as_raw_fd();
    drop(r);
    drop(w);
    assert!(!is_open(fd), "fd {fd} should be closed");
    fd
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    assert!(fd >= 0, "fd {fd} is closed");
    // SAFETY: only used for one fcntl call on an fd the caller keeps open for the duration of
    // that call; the borrow never escapes the helpers below.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// `fcntl(fd, F_GETFD)`: the fd flags (`FD_CLOEXEC`).
pub fn fd_flags(fd: RawFd) -> FdFlag {
    let raw = fcntl(borrow(fd), FcntlArg::F_GETFD).expect("fcntl(F_GETFD)");
    FdFlag::from_bits_truncate(raw)
}

/// `fcntl(fd, F_GETFL)`: the file status flags (`O_NONBLOCK`).
pub fn status_flags(fd: RawFd) -> OFlag {
    let raw = fcntl(borrow(fd), FcntlArg::F_GETFL).expect("fcntl(F_GETFL)");
    OFlag::from_bits_truncate(raw)
}

/// Whether `fd` has `O_NONBLOCK` set.
pub fn is_nonblocking(fd: RawFd) -> bool {
    status_flags(fd).contains(OFlag::O_NONBLOCK)
}

/// A close-on-exec duplicate of `fd` at the lowest free number >= `min`.
pub fn dup_at_least(fd: RawFd, min: RawFd) -> OwnedFd {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes integers only and never closes anything: it makes a
    // new fd, the lowest free one >= `min`, so unlike dup2 it cannot close an fd another thread
    // just opened there. The new fd is owned by the returned OwnedFd alone; `fd` is only read.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    assert!(
        new >= min,
        "fcntl(F_DUPFD_CLOEXEC): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fcntl just returned this new fd; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(new) }
}

/// Move `fd` to the number `target`, which must not be open.
pub fn move_fd(fd: OwnedFd, target: RawFd) -> OwnedFd {
    let new = dup_at_least(fd.as_raw_fd(), target);
    assert_eq!(
        new.as_raw_fd(),
        target,
        "fd {target} is already open; the fixed fd layout needs it free"
    );
    new
}

/// Clear `FD_CLOEXEC` on `fds` in the child between fork and exec, so that it inherits them
/// at the same numbers (Python's `pass_fds`). The fds must be open in the parent at spawn.
pub fn pass_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: the closure runs in the forked child before exec and calls only fcntl(2), which
    // is async-signal-safe; it allocates nothing (the Vec was built before the fork) and
    // touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}
