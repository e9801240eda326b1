//! `Poll` and `Epoll` and file descriptors: past FD_SETSIZE, past `maxevents`, and never a
//! leak.
//! - `Epoll::poll()` with 1,100 ready fds returns 1,023 (CPython's default `maxevents`,
//!   `FD_SETSIZE - 1`), the next call the rest; with `maxevents` 2,000 all 1,100 (CPython too);
//! - both accept fds above 1,024 (`select()` cannot);
//! - the epoll fd is close-on-exec, `Drop` closes it, `close()` reports a failing `close(2)`
//!   (CPython swallows it) and is idempotent;
//! - no error path of either type leaves an fd open (`/proc/self/fd` before and after).
//!
//! Every test runs in its own process (the test binary re-executed): they raise
//! RLIMIT_NOFILE, count the process's fds, or close an fd behind an object's back.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use pyselect::{
    Epoll, Error, Poll, EPOLLIN, EPOLLOUT, EPOLL_CLOEXEC, FD_SETSIZE, POLLIN, POLLNVAL, POLLOUT,
};

use testkit::child::in_child;
use testkit::fd::{dup_at_least, is_open, open_fds, pipe, write_fd};
use testkit::server::ensure_nofile;

#[test]
fn epoll_poll_returns_1023_of_1100_ready_fds_as_cpython() {
    in_child(
        "epoll_poll_returns_1023_of_1100_ready_fds_as_cpython",
        || {
            ensure_nofile(1300);
            let (_r, w) = pipe();
            let dups: Vec<OwnedFd> = (0..1100).map(|_| dup_at_least(w.as_raw_fd(), 3)).collect();
            let ep = Epoll::new().unwrap();
            for fd in &dups {
                ep.register(fd, Some(EPOLLOUT)).unwrap();
            }
            let first = ep.poll(Some(0.0), None).unwrap();
            assert_eq!(first.len(), FD_SETSIZE - 1);
            assert_eq!(ep.poll(Some(0.0), Some(-1)).unwrap().len(), 1023);
            let all = ep.poll(Some(0.0), Some(2000)).unwrap();
            assert_eq!(all.len(), 1100);
            assert!(all.iter().all(|&(_, ev)| ev == EPOLLOUT));
            let mut fds: Vec<RawFd> = all.iter().map(|&(fd, _)| fd).collect();
            fds.sort_unstable();
            let mut want: Vec<RawFd> = dups.iter().map(AsRawFd::as_raw_fd).collect();
            want.sort_unstable();
            assert_eq!(fds, want);

            // CPython, on the same setup.
            let out = testkit::python::run(
                "import os, resource, select\n\
             soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
             resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n\
             r, w = os.pipe()\n\
             ep = select.epoll()\n\
             for fd in [os.dup(w) for _ in range(1100)]:\n    ep.register(fd, select.EPOLLOUT)\n\
             print(len(ep.poll(0)), len(ep.poll(0, -1)), len(ep.poll(0, 2000)))\n",
                &[],
                b"",
            );
            assert_eq!(out.trim(), "1023 1023 1100");
        },
    );
}

#[test]
fn poll_and_epoll_accept_fds_above_1024() {
    in_child("poll_and_epoll_accept_fds_above_1024", || {
        ensure_nofile(1600);
        let (r, w) = pipe();
        write_fd(&w, b"x");
        let r1500 = dup_at_least(r.as_raw_fd(), 1500);
        let w1501 = dup_at_least(w.as_raw_fd(), 1501);
        let (hi_r, hi_w) = (r1500.as_raw_fd(), w1501.as_raw_fd());
        assert_eq!((hi_r, hi_w), (1500, 1501));

        let mut p = Poll::new();
        p.register(hi_r, Some(POLLIN)).unwrap();
        p.register(hi_w, Some(POLLOUT)).unwrap();
        p.register(5000, None).unwrap(); // not open: POLLNVAL, no error
        assert_eq!(
            p.poll(Some(0.0)).unwrap(),
            vec![(hi_r, POLLIN), (hi_w, POLLOUT), (5000, POLLNVAL)]
        );

        let ep = Epoll::new().unwrap();
        ep.register(hi_r, Some(EPOLLIN)).unwrap();
        ep.register(hi_w, Some(EPOLLOUT)).unwrap();
        assert_eq!(
            ep.poll(Some(0.0), None).unwrap(),
            vec![(hi_r, EPOLLIN), (hi_w, EPOLLOUT)]
        );
        // select() refuses the same fd, with CPython's message.
        let err = pyselect::select([hi_r], [], [], Some(0.0)).unwrap_err();
        assert_eq!(err.to_string(), "filedescriptor out of range in select()");
    });
}

#[test]
fn the_epoll_fd_is_cloexec_closed_by_drop_and_close_reports_errors() {
    in_child(
        "the_epoll_fd_is_cloexec_closed_by_drop_and_close_reports_errors",
        || {
            let ep = Epoll::with_options(-1, EPOLL_CLOEXEC).unwrap();
            let fd = ep.fileno().unwrap();
            // SAFETY: F_GETFD only reads the flags of an fd.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0, "flags {flags}");
            // Even flags 0 gives a close-on-exec fd, as CPython's.
            let ep0 = Epoll::with_options(5, 0).unwrap();
            // SAFETY: as above.
            let flags0 = unsafe { libc::fcntl(ep0.fileno().unwrap(), libc::F_GETFD) };
            assert!(flags0 & libc::FD_CLOEXEC != 0);
            drop(ep0);
            drop(ep);
            assert!(!is_open(fd), "Drop left fd {fd} open");

            // close(): once closes, twice does nothing.
            let mut ep = Epoll::new().unwrap();
            let fd = ep.fileno().unwrap();
            ep.close().unwrap();
            assert!(ep.closed() && !is_open(fd));
            // As CPython's epoll.fileno() after close; the FileNo impl gives -1.
            let err = ep.fileno().unwrap_err();
            assert_eq!(err.to_string(), "I/O operation on closed epoll object");
            assert!(matches!(err, Error::Value(_)));
            assert_eq!(pyselect::FileNo::fileno(&ep), -1);
            ep.close().unwrap();

            // close(2) failing is reported (CPython's epoll.close() swallows it, gh-146205),
            // and the object counts as closed afterwards.
            let mut ep = Epoll::new().unwrap();
            // SAFETY: closes the epoll's fd behind its back, on purpose; this process has no
            // other thread that could be handed the number in between.
            assert_eq!(unsafe { libc::close(ep.fileno().unwrap()) }, 0);
            let err = ep.close().unwrap_err();
            assert_eq!(err.errno(), Some(libc::EBADF));
            assert_eq!(err.to_string(), "[Errno 9] Bad file descriptor");
            assert!(ep.closed());
            ep.close().unwrap();

            // fromfd wraps what it is given and owns it.
            let inner = Epoll::new().unwrap();
            let dup = dup_at_least(inner.fileno().unwrap(), 3);
            let dup_fd = dup.as_raw_fd();
            let mut outer = Epoll::fromfd(dup);
            assert_eq!(outer.fileno().unwrap(), dup_fd);
            outer.close().unwrap();
            assert!(!is_open(dup_fd) && is_open(inner.fileno().unwrap()));
        },
    );
}

#[test]
fn no_fd_is_leaked_on_any_error_path() {
    in_child("no_fd_is_leaked_on_any_error_path", || {
        let (r, w) = pipe();
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let before = open_fds();
        let mut errors: Vec<Error> = Vec::new();
        for _ in 0..3 {
            errors.extend(Epoll::with_options(0, 0).err());
            errors.extend(Epoll::with_options(-2, 0).err());
            errors.extend(Epoll::with_options(-1, 1).err());
            let mut ep = Epoll::new().unwrap();
            let own = ep.fileno().unwrap();
            errors.extend(
                ep.register(&r, None)
                    .and_then(|()| ep.register(&r, None))
                    .err(),
            );
            errors.extend(ep.modify(&w, EPOLLIN).err());
            errors.extend(ep.unregister(&w).err());
            errors.extend(ep.register(9999, None).err());
            errors.extend(ep.register(&file, None).err());
            errors.extend(ep.register(own, None).err());
            errors.extend(ep.register(-1, None).err());
            errors.extend(ep.register(&w, Some(u32::MAX)).err());
            errors.extend(ep.poll(Some(f64::NAN), None).err());
            errors.extend(ep.poll(Some(1e300), None).err());
            errors.extend(ep.poll(Some(3e6), None).err());
            errors.extend(ep.poll(Some(0.0), Some(0)).err());
            // Too large to allocate or refused by the kernel: an error either way.
            errors.extend(ep.poll(Some(0.0), Some(i32::MAX)).err());
            ep.close().unwrap();
            errors.extend(ep.register(&r, None).err());
            errors.extend(ep.poll(Some(0.0), None).err());
            // fromfd of a pipe: the kernel refuses the wait.
            let not_epoll = Epoll::fromfd(dup_at_least(r.as_raw_fd(), 3));
            errors.extend(not_epoll.poll(Some(0.0), None).err());
            drop(not_epoll);

            let mut p = Poll::new();
            errors.extend(p.unregister(&r).err());
            errors.extend(p.modify(&r, POLLIN).err());
            errors.extend(p.register(-3, None).err());
            errors.extend(p.poll(Some(f64::INFINITY)).err());
            errors.extend(p.poll(Some(3e9)).err());
        }
        assert_eq!(errors.len(), 3 * 24, "{errors:#?}");
        assert_eq!(open_fds(), before, "an error path left an fd open");
    });
}

#[test]
fn poll_with_more_fds_than_rlimit_nofile_is_einval_as_cpython() {
    in_child(
        "poll_with_more_fds_than_rlimit_nofile_is_einval_as_cpython",
        || {
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
            setrlimit(Resource::RLIMIT_NOFILE, 64, hard).expect("setrlimit");
            let mut p = Poll::new();
            for fd in 0..100 {
                p.register(fd, None).unwrap();
            }
            let err = p.poll(Some(0.0)).unwrap_err();
            assert_eq!(err.errno(), Some(libc::EINVAL));
            let ours = format!("{}: {err}", err.python_name());
            // CPython, under the same limit (inherited).
            let theirs = testkit::python::run(
                "import select\n\
                 p = select.poll()\n\
                 for fd in range(100):\n    p.register(fd)\n\
                 try:\n    p.poll(0)\n\
                 except OSError as e:\n    print(f'OSError: {e}')\n",
                &[],
                b"",
            );
            assert_eq!(ours, theirs.trim());
            assert_eq!(ours, "OSError: [Errno 22] Invalid argument");
        },
    );
}

#[test]
fn both_types_can_move_between_threads_and_epoll_can_be_shared() {
    // CPython lets two threads wait on one epoll object (R§2.6); `Epoll::poll` takes `&self`,
    // so an `Arc<Epoll>` does the same. A `Poll` can move to another thread but not be polled
    // from two at once (`&mut self`).
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Epoll>();
    send_sync::<Poll>();
    let (r, w) = pipe();
    let ep = std::sync::Arc::new(Epoll::new().unwrap());
    ep.register(&r, Some(EPOLLIN)).unwrap();
    let waiter = {
        let ep = std::sync::Arc::clone(&ep);
        std::thread::spawn(move || ep.poll(Some(20.0), None))
    };
    write_fd(&w, b"x");
    let seen = waiter.join().unwrap().unwrap();
    assert_eq!(seen, vec![(r.as_raw_fd(), EPOLLIN)]);
    assert_eq!(
        ep.poll(Some(0.0), None).unwrap(),
        vec![(r.as_raw_fd(), EPOLLIN)]
    );
}
