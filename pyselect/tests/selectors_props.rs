//! Each selector against a model of `Lib/selectors.py`: random sequences of register /
//! modify / unregister / get_key / select / close over a pool of fds in known states
//! (readable, writable, both, neither, an fd that is not open, a negative fd). After every
//! step the result or error (class and text) is the model's, the map is the model's, and the
//! process holds exactly the fds it held before plus the epoll fd while an `EpollSelector` is
//! open: no fd leaks on any path, error paths included (`/proc/self/fd`). And at the fd limit,
//! `EpollSelector::new` fails with the kernel's `EMFILE` and leaves nothing behind.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use proptest::prelude::*;
use pyselect::selectors::{
    EpollSelector, PollSelector, SelectSelector, Selector, SelectorKey, EVENT_READ, EVENT_WRITE,
};
use pyselect::Error;

use testkit::child::in_child;
use testkit::fd::{pipe, socketpair, write_fd};
use testkit::serial;

/// The numbers of the open fds of this process ([`testkit::fd::open_fds`]).
fn open_fds() -> BTreeSet<RawFd> {
    testkit::fd::open_fds().into_keys().collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Select,
    Poll,
    Epoll,
}

/// One entry of the fd pool: its number and what the kernel says of it.
#[derive(Clone, Copy, Debug)]
struct Slot {
    fd: RawFd,
    readable: bool,
    writable: bool,
    /// Not an open fd (POLLNVAL for poll, EBADF for select and epoll).
    closed: bool,
}

/// The fds: a pipe with data (read end readable, write end writable), an empty pipe's read
/// end (never ready), a socket pair with data waiting on one end (readable and writable) and
/// the other end (writable), an fd that was just closed, and -1.
struct Pool {
    slots: Vec<Slot>,
    _keep: Vec<OwnedFd>,
}

impl Pool {
    fn new() -> Pool {
        let (r1, w1) = pipe();
        write_fd(&w1, b"x");
        let (r2, w2) = pipe();
        let (sa, sb) = socketpair();
        write_fd(&sb, b"y");
        // A number that is not open and that nothing here will open (the lowest free number
        // goes to the epoll fd), inside the fd table: Linux's select(2) skips an fd beyond
        // the table's size instead of failing with EBADF, so the table is grown past it.
        let closed = 200;
        let grow =
            nix::fcntl::fcntl(&r1, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(250)).expect("dup at 250");
        nix::unistd::close(grow).expect("close");
        assert!(!open_fds().contains(&closed), "fd {closed} must be free");
        let slot = |fd: RawFd, readable, writable| Slot {
            fd,
            readable,
            writable,
            closed: false,
        };
        let slots = vec![
            slot(r1.as_raw_fd(), true, false),
            slot(w1.as_raw_fd(), false, true),
            slot(r2.as_raw_fd(), false, false),
            slot(sa.as_raw_fd(), true, true),
            slot(sb.as_raw_fd(), false, true),
            Slot {
                fd: closed,
                readable: false,
                writable: false,
                closed: true,
            },
            Slot {
                fd: -1,
                readable: false,
                writable: false,
                closed: true,
            },
        ];
        Pool {
            slots,
            _keep: vec![r1, w1, r2, w2, sa.into(), sb.into()],
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Reg(usize, u8, i64),
    Mod(usize, u8, i64),
    Unreg(usize),
    GetKey(usize),
    Select,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..7usize;
    let events = prop_oneof![4 => 1..=3u8, 1 => 0..=7u8];
    prop_oneof![
        6 => (slot.clone(), events.clone(), 0..100i64).prop_map(|(s, e, d)| Op::Reg(s, e, d)),
        4 => (slot.clone(), events, 0..100i64).prop_map(|(s, e, d)| Op::Mod(s, e, d)),
        3 => slot.clone().prop_map(Op::Unreg),
        2 => slot.prop_map(Op::GetKey),
        4 => Just(Op::Select),
        1 => Just(Op::Close),
    ]
}

/// What a step gives: a key `(fd, events, data)`, a ready list, nothing, or an error's class
/// and text.
#[derive(Clone, Debug, PartialEq)]
enum Out {
    Key(RawFd, u8, i64),
    Ready(Vec<(RawFd, u8, i64)>),
    Done,
    Err(&'static str, String),
}

fn err(e: Error) -> Out {
    Out::Err(e.python_name(), e.to_string())
}

fn key(k: &SelectorKey<RawFd, i64>) -> Out {
    Out::Key(k.fd, k.events, k.data)
}

/// `Lib/selectors.py` as a model, with pyselect's refusal after close for Select/Poll.
struct Model {
    kind: Kind,
    /// (fd, events, data) in registration order (the order PollSelector reports in).
    keys: Vec<(RawFd, u8, i64)>,
    closed: bool,
}

fn value(text: String) -> Out {
    Out::Err("ValueError", text)
}

fn not_registered(fd: RawFd) -> Out {
    Out::Err("KeyError", format!("'{fd} is not registered'"))
}

fn closed_selector() -> Out {
    Out::Err("RuntimeError", "Selector is closed".into())
}

fn closed_epoll() -> Out {
    value("I/O operation on closed epoll object".into())
}

impl Model {
    fn find(&self, fd: RawFd) -> Option<usize> {
        self.keys.iter().position(|k| k.0 == fd)
    }

    fn step(&mut self, op: &Op, pool: &[Slot]) -> Out {
        match *op {
            Op::Reg(s, ev, data) => {
                let fd = pool[s].fd;
                if ev == 0 || ev & !3 != 0 {
                    return value(format!("Invalid events: {ev}"));
                }
                if fd < 0 {
                    return value(format!("Invalid file descriptor: {fd}"));
                }
                if self.find(fd).is_some() {
                    return Out::Err(
                        "KeyError",
                        format!("'{fd} (FD {fd}) is already registered'"),
                    );
                }
                if self.closed {
                    return match self.kind {
                        Kind::Epoll => closed_epoll(),
                        _ => closed_selector(),
                    };
                }
                if self.kind == Kind::Epoll && pool[s].closed {
                    return Out::Err("OSError", "[Errno 9] Bad file descriptor".into());
                }
                self.keys.push((fd, ev, data));
                Out::Key(fd, ev, data)
            }
            Op::Unreg(s) => {
                let fd = pool[s].fd;
                if fd < 0 {
                    return value(format!("Invalid file descriptor: {fd}"));
                }
                match self.find(fd) {
                    None => not_registered(fd),
                    Some(i) => {
                        let k = self.keys.remove(i);
                        Out::Key(k.0, k.1, k.2)
                    }
                }
            }
            Op::Mod(s, ev, data) => {
                let fd = pool[s].fd;
                if fd < 0 {
                    return value(format!("Invalid file descriptor: {fd}"));
                }
                if self.closed && self.kind != Kind::Epoll {
                    return closed_selector();
                }
                let Some(i) = self.find(fd) else {
                    return not_registered(fd);
                };
                if self.kind == Kind::Select && self.keys[i].1 != ev {
                    // unregister + register: the fd moves last, or is gone on bad events.
                    self.keys.remove(i);
                    if ev == 0 || ev & !3 != 0 {
                        return value(format!("Invalid events: {ev}"));
                    }
                    self.keys.push((fd, ev, data));
                } else {
                    self.keys[i].1 = ev;
                    self.keys[i].2 = data;
                }
                Out::Key(fd, ev, data)
            }
            Op::GetKey(s) => {
                let fd = pool[s].fd;
                if self.closed {
                    return closed_selector();
                }
                if fd < 0 {
                    return value(format!("Invalid file descriptor: {fd}"));
                }
                match self.find(fd) {
                    None => not_registered(fd),
                    Some(i) => Out::Key(self.keys[i].0, self.keys[i].1, self.keys[i].2),
                }
            }
            Op::Select => {
                if self.closed {
                    return match self.kind {
                        Kind::Epoll => closed_epoll(),
                        _ => closed_selector(),
                    };
                }
                let slot = |fd: RawFd| *pool.iter().find(|s| s.fd == fd).expect("pool fd");
                if self.kind == Kind::Select
                    && self.keys.iter().any(|k| k.1 & 3 != 0 && slot(k.0).closed)
                {
                    return Out::Err("OSError", "[Errno 9] Bad file descriptor".into());
                }
                let mut ready = Vec::new();
                for &(fd, ev, data) in &self.keys {
                    let s = slot(fd);
                    if s.closed {
                        // POLLNVAL: both events, masked (possibly to 0).
                        ready.push((fd, ev & 3, data));
                        continue;
                    }
                    let mut got = 0;
                    if s.readable && ev & EVENT_READ != 0 {
                        got |= EVENT_READ;
                    }
                    if s.writable && ev & EVENT_WRITE != 0 {
                        got |= EVENT_WRITE;
                    }
                    if got != 0 {
                        ready.push((fd, got, data));
                    }
                }
                match self.kind {
                    // Poll: registration order. Select: ascending fd. Epoll: compared as a set.
                    Kind::Poll => {}
                    Kind::Select | Kind::Epoll => ready.sort(),
                }
                Out::Ready(ready)
            }
            Op::Close => {
                self.keys.clear();
                self.closed = true;
                Out::Done
            }
        }
    }

    fn map(&self) -> Option<Vec<(RawFd, u8, i64)>> {
        if self.closed {
            return None;
        }
        let mut keys = self.keys.clone();
        keys.sort();
        Some(keys)
    }
}

fn run_step<S: Selector<RawFd, i64>>(sel: &mut S, op: &Op, pool: &[Slot], kind: Kind) -> Out {
    match *op {
        Op::Reg(s, ev, data) => sel.register(pool[s].fd, ev, data).map_or_else(err, key),
        Op::Mod(s, ev, data) => sel.modify(pool[s].fd, ev, data).map_or_else(err, key),
        Op::Unreg(s) => sel.unregister(pool[s].fd).map_or_else(err, |k| key(&k)),
        Op::GetKey(s) => sel.get_key(pool[s].fd).map_or_else(err, key),
        Op::Select => match sel.select(Some(0.0)) {
            Err(e) => err(e),
            Ok(ready) => {
                let mut r: Vec<(RawFd, u8, i64)> =
                    ready.iter().map(|(k, ev)| (k.fd, *ev, k.data)).collect();
                if kind == Kind::Epoll {
                    r.sort();
                }
                Out::Ready(r)
            }
        },
        Op::Close => sel.close().map_or_else(err, |()| Out::Done),
    }
}

fn check_sequence<S: Selector<RawFd, i64>>(
    kind: Kind,
    mut sel: S,
    ops: &[Op],
    pool: &Pool,
    baseline: &BTreeSet<RawFd>,
) -> Result<(), TestCaseError> {
    let mut model = Model {
        kind,
        keys: Vec::new(),
        closed: false,
    };
    for (i, op) in ops.iter().enumerate() {
        let want = model.step(op, &pool.slots);
        let got = run_step(&mut sel, op, &pool.slots, kind);
        prop_assert_eq!(&got, &want, "step {} {:?}", i, op);
        let map = sel.get_map().map(|m| {
            m.values()
                .map(|k| (k.fd, k.events, k.data))
                .collect::<Vec<_>>()
        });
        prop_assert_eq!(map, model.map(), "map after step {} {:?}", i, op);
        // No fd appears or goes missing on any path; an open EpollSelector holds one.
        let now = open_fds();
        let extra: Vec<RawFd> = now.difference(baseline).copied().collect();
        let missing: Vec<RawFd> = baseline.difference(&now).copied().collect();
        prop_assert!(missing.is_empty(), "fds closed under us: {:?}", missing);
        let held = usize::from(kind == Kind::Epoll && !model.closed);
        prop_assert_eq!(
            extra.len(),
            held,
            "fds after step {} {:?}: {:?}",
            i,
            op,
            extra
        );
    }
    drop(sel);
    prop_assert_eq!(
        &open_fds(),
        baseline,
        "fds left after the selector was dropped"
    );
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn property(kind: Kind) {
    let _serial = serial();
    let pool = Pool::new();
    let baseline = open_fds();
    proptest!(config(), |(ops in prop::collection::vec(op(), 1..40))| {
        match kind {
            Kind::Select => check_sequence(kind, SelectSelector::new().unwrap(), &ops, &pool, &baseline)?,
            Kind::Poll => check_sequence(kind, PollSelector::new().unwrap(), &ops, &pool, &baseline)?,
            Kind::Epoll => check_sequence(kind, EpollSelector::new().unwrap(), &ops, &pool, &baseline)?,
        }
    });
}

#[test]
fn select_selector_follows_the_model() {
    property(Kind::Select);
}

#[test]
fn poll_selector_follows_the_model() {
    property(Kind::Poll);
}

#[test]
fn epoll_selector_follows_the_model() {
    property(Kind::Epoll);
}

#[test]
fn epoll_selector_new_fails_cleanly_at_the_fd_limit() {
    // Spawning the child opens pipes here: not while another test counts fds.
    let _serial = serial();
    in_child("epoll_selector_new_fails_cleanly_at_the_fd_limit", || {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        // The number the next fd would get: with the limit there, no fd can be made.
        let next = {
            let probe = std::fs::File::open("/dev/null").expect("open /dev/null");
            probe.as_raw_fd()
        };
        let before = open_fds();
        setrlimit(Resource::RLIMIT_NOFILE, next as u64, hard).expect("setrlimit");
        let res = EpollSelector::<RawFd, ()>::new().map(drop);
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("restore the limit");
        let after = open_fds();
        let e = res.expect_err("epoll_create1 at the fd limit");
        assert_eq!(e.errno(), Some(libc::EMFILE));
        assert_eq!(e.to_string(), "[Errno 24] Too many open files");
        assert_eq!(after, before, "no fd appeared or vanished");
        // The two selectors that own no fd do not care.
        setrlimit(Resource::RLIMIT_NOFILE, next as u64, hard).expect("setrlimit");
        let others = (
            SelectSelector::<RawFd, ()>::new().is_ok(),
            PollSelector::<RawFd, ()>::new().is_ok(),
        );
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("restore the limit");
        assert_eq!(others, (true, true));
    });
}

/// One selector used again and again (its kept buffers carry over from call to call) gives at
/// every `select()` what a new selector with the same keys gives, while the fds' readiness
/// changes between the calls: readable, read back, ready on both, unregistered, registered
/// again with other events.
fn reused_matches_fresh<S: Selector<RawFd, i64>>(new: impl Fn() -> S) {
    let (a, b) = socketpair();
    let (c, d) = socketpair();
    let (fa, fb, fc) = (a.as_raw_fd(), b.as_raw_fd(), c.as_raw_fd());
    let regs = [
        (fa, EVENT_READ, 1),
        (fb, EVENT_WRITE, 2),
        (fc, EVENT_READ | EVENT_WRITE, 3),
    ];
    let mut reused = new();
    for &(fd, events, data) in &regs {
        reused.register(fd, events, data).unwrap();
    }
    let ready = |sel: &mut S| -> Vec<(RawFd, u8, i64)> {
        let mut got: Vec<_> = (sel.select(Some(0.0)).unwrap().into_iter())
            .map(|(k, ev)| (k.fd, ev, k.data))
            .collect();
        got.sort();
        got
    };
    let fresh = |live: &[(RawFd, u8, i64)]| -> Vec<(RawFd, u8, i64)> {
        let mut sel = new();
        for &(fd, events, data) in live {
            sel.register(fd, events, data).unwrap();
        }
        ready(&mut sel)
    };
    let mut live = regs.to_vec();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    for step in 0..6 {
        match step {
            1 => write_fd(&b, b"x"),
            2 => {
                nix::unistd::read(&a, &mut byte).unwrap();
            }
            3 => write_fd(&d, b"y"),
            4 => {
                reused.unregister(fc).unwrap();
                live.retain(|&(fd, _, _)| fd != fc);
            }
            5 => {
                reused.register(fc, EVENT_READ, 4).unwrap();
                live.push((fc, EVENT_READ, 4));
            }
            _ => {}
        }
        let got = ready(&mut reused);
        assert_eq!(got, fresh(&live), "step {step}");
        seen.push(got);
    }
    // The readiness did change under the reused selector: a's READ came and went.
    assert!(seen[1]
        .iter()
        .any(|&(fd, ev, _)| fd == fa && ev == EVENT_READ));
    assert!(!seen[2].iter().any(|&(fd, _, _)| fd == fa));
    drop((c, d));
}

#[test]
fn a_reused_selector_gives_what_a_new_one_gives() {
    // It opens fds: not while another test counts them.
    let _serial = serial();
    reused_matches_fresh(|| SelectSelector::new().unwrap());
    reused_matches_fresh(|| PollSelector::new().unwrap());
    reused_matches_fresh(|| EpollSelector::new().unwrap());
}
