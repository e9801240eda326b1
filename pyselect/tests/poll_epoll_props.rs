//! `Poll` and `Epoll` against a model, on random register/modify/unregister sequences.
//!
//! - `Poll`'s model is Python's dict: fd -> mask in insertion order (registering again keeps
//!   the place, unregister + register moves the fd last). After every step `poll(0)` must
//!   return exactly what one `poll(2)` over the model's array, in the model's order, returns
//!   (the kernel is the oracle for `revents`), and every error must be the model's: `Key` for
//!   unregistering an absent fd, `[Errno 2]` for modifying one.
//! - `Epoll`'s model is the set of registered fds and masks. Every `epoll_ctl` error must be
//!   the model's (`[Errno 17]` twice registered, `[Errno 2]` absent); `poll(0, 2000)` must
//!   return each registered fd whose mask meets what the fd has to report, with that `events`,
//!   and nothing else.
//!
//! The fds: pipe ends with data (readable), writable ends, an empty read end, a hung-up read
//! end, and numbers that are not open (POLLNVAL for `poll`, `[Errno 9]` for `epoll`).

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use proptest::prelude::*;
use pyselect::{Epoll, Error, Poll};

#[derive(Clone, Debug)]
enum Op {
    Register(usize, Option<u16>),
    Modify(usize, u16),
    Unregister(usize),
}

/// Masks worth trying: the usual ones, 0, and any 16 bits.
fn mask() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(vec![1u16, 2, 4, 5, 7, 0x2000, 0x2005]),
        1 => Just(0u16),
        1 => any::<u16>(),
    ]
}

fn op(nfds: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..nfds, prop::option::of(mask())).prop_map(|(i, m)| Op::Register(i, m)),
        2 => (0..nfds, mask()).prop_map(|(i, m)| Op::Modify(i, m)),
        3 => (0..nfds).prop_map(Op::Unregister),
    ]
}

/// The fds of the test, kept open for its whole run; `numbers` includes closed ones.
struct Fds {
    _open: Vec<OwnedFd>,
    numbers: Vec<RawFd>,
}

fn fds() -> Fds {
    let mut open = Vec::new();
    for i in 0..4 {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
        match i {
            0 | 1 => std::fs::File::from(w.try_clone().unwrap())
                .write_all(b"data")
                .unwrap(),
            2 => {}
            _ => {
                // A hung-up read end: its writer is gone.
                open.push(r);
                continue;
            }
        }
        open.push(r);
        open.push(w);
    }
    let mut numbers: Vec<RawFd> = open.iter().map(AsRawFd::as_raw_fd).collect();
    for closed in [900, 901, 902] {
        // SAFETY: F_GETFD only reads the fd table.
        assert_eq!(
            unsafe { libc::fcntl(closed, libc::F_GETFD) },
            -1,
            "fd {closed} is open"
        );
        numbers.push(closed);
    }
    Fds {
        _open: open,
        numbers,
    }
}

/// One `poll(2)` over `array`, timeout 0: the (fd, revents) with a non-zero revents, in order.
fn oracle(array: &[(RawFd, u16)]) -> Vec<(RawFd, u16)> {
    let mut pfds: Vec<libc::pollfd> = array
        .iter()
        .map(|&(fd, mask)| libc::pollfd {
            fd,
            events: mask as i16,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a live, writable array of exactly `pfds.len()` pollfds.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 0) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    pfds.iter()
        .filter(|p| p.revents != 0)
        .map(|p| (p.fd, p.revents as u16))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn poll_follows_the_dict_model(ops in prop::collection::vec(op(10), 1..80)) {
        let fds = fds();
        prop_assume!(fds.numbers.len() == 10);
        let mut p = Poll::new();
        let mut model: Vec<(RawFd, u16)> = Vec::new();
        for op in ops {
            match op {
                Op::Register(i, m) => {
                    let fd = fds.numbers[i];
                    let mask = m.unwrap_or(7);
                    p.register(fd, m).unwrap();
                    match model.iter_mut().find(|(f, _)| *f == fd) {
                        Some(entry) => entry.1 = mask,
                        None => model.push((fd, mask)),
                    }
                }
                Op::Modify(i, m) => {
                    let fd = fds.numbers[i];
                    match (p.modify(fd, m), model.iter_mut().find(|(f, _)| *f == fd)) {
                        (Ok(()), Some(entry)) => entry.1 = m,
                        (Err(e), None) => prop_assert_eq!(
                            e.to_string(),
                            "[Errno 2] No such file or directory"
                        ),
                        (got, want) => prop_assert!(false, "modify {}: {:?} vs {:?}", fd, got, want),
                    }
                }
                Op::Unregister(i) => {
                    let fd = fds.numbers[i];
                    let at = model.iter().position(|(f, _)| *f == fd);
                    match (p.unregister(fd), at) {
                        (Ok(()), Some(at)) => {
                            model.remove(at);
                        }
                        (Err(Error::Key(text)), None) => prop_assert_eq!(text, fd.to_string()),
                        (got, want) => prop_assert!(false, "unregister {}: {:?} vs {:?}", fd, got, want),
                    }
                }
            }
            prop_assert_eq!(p.poll(Some(0.0)).unwrap(), oracle(&model));
        }
    }

    #[test]
    fn epoll_follows_the_set_model(ops in prop::collection::vec(op(10), 1..60)) {
        let fds = fds();
        let ep = Epoll::new().unwrap();
        let mut model: Vec<(RawFd, u32)> = Vec::new();
        for op in ops {
            let (fd, result, want) = match op {
                Op::Register(i, m) => {
                    let fd = fds.numbers[i];
                    let mask = m.map_or(7, u32::from);
                    let want = if fd >= 900 {
                        Some(9)
                    } else if model.iter().any(|(f, _)| *f == fd) {
                        Some(17)
                    } else {
                        model.push((fd, mask));
                        None
                    };
                    (fd, ep.register(fd, m.map(u32::from)), want)
                }
                Op::Modify(i, m) => {
                    let fd = fds.numbers[i];
                    let want = match model.iter_mut().find(|(f, _)| *f == fd) {
                        _ if fd >= 900 => Some(9),
                        Some(entry) => {
                            entry.1 = u32::from(m);
                            None
                        }
                        None => Some(2),
                    };
                    (fd, ep.modify(fd, u32::from(m)), want)
                }
                Op::Unregister(i) => {
                    let fd = fds.numbers[i];
                    let at = model.iter().position(|(f, _)| *f == fd);
                    let want = match at {
                        _ if fd >= 900 => Some(9),
                        Some(at) => {
                            model.remove(at);
                            None
                        }
                        None => Some(2),
                    };
                    (fd, ep.unregister(fd), want)
                }
            };
            prop_assert_eq!(result.err().and_then(|e| e.errno()), want, "fd {}", fd);
            // What each registered fd has to report, by the kernel's own poll(2); epoll's bits
            // for IN/PRI/OUT/ERR/HUP/RDHUP are poll's.
            let mut want: Vec<(RawFd, u32)> = model
                .iter()
                .flat_map(|&(fd, mask)| {
                    oracle(&[(fd, mask as u16)])
                        .into_iter()
                        .map(|(fd, rev)| (fd, u32::from(rev)))
                })
                .collect();
            let mut got = ep.poll(Some(0.0), Some(2000)).unwrap();
            want.sort_unstable();
            got.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }
}
