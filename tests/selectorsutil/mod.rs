//! The selector operations the `selectors` tests share: one operation per line, in the format
//! of `tests/fixtures/selectors_calls.py`, run on pyselect's three selectors with the outcome
//! printed as that fixture prints CPython's.
//!
//! Include it after `mod pyref;` with `mod selectorsutil;` from a file directly under `tests/`.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::HashMap;
use std::os::fd::{OwnedFd, RawFd};

use pyselect::selectors::{
    EpollSelector, PollSelector, SelectSelector, Selector, SelectorKey, EVENT_READ, EVENT_WRITE,
};

pub const R: u8 = EVENT_READ;
pub const W: u8 = EVENT_WRITE;
pub const RW: u8 = EVENT_READ | EVENT_WRITE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Select,
    Poll,
    Epoll,
}

pub const KINDS: [Kind; 3] = [Kind::Select, Kind::Poll, Kind::Epoll];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Select => "select",
            Kind::Poll => "poll",
            Kind::Epoll => "epoll",
        }
    }
}

/// One operation, in the line format of `tests/fixtures/selectors_calls.py`.
#[derive(Clone, Debug)]
pub enum Op {
    New(Kind),
    Reg(RawFd, u8, i64),
    Mod(RawFd, u8, i64),
    Unreg(RawFd),
    Key(RawFd),
    Map,
    Sel(Option<f64>),
    Close,
    Dup(RawFd, RawFd),
    CloseFd(RawFd),
}

impl Op {
    pub fn line(&self) -> String {
        match self {
            Op::New(k) => format!("new {}", k.name()),
            Op::Reg(fd, ev, data) => format!("reg {fd} {ev} {data}"),
            Op::Mod(fd, ev, data) => format!("mod {fd} {ev} {data}"),
            Op::Unreg(fd) => format!("unreg {fd}"),
            Op::Key(fd) => format!("key {fd}"),
            Op::Map => "map".into(),
            Op::Sel(None) => "sel none".into(),
            Op::Sel(Some(t)) => format!("sel {:016x}", t.to_bits()),
            Op::Close => "close".into(),
            Op::Dup(fd, at) => format!("dup {fd} {at}"),
            Op::CloseFd(fd) => format!("closefd {fd}"),
        }
    }
}

impl Op {
    /// The inverse of [`Op::line`].
    pub fn parse(line: &str) -> Op {
        let mut words = line.split(' ');
        let op = words.next().expect("an operation");
        let rest: Vec<&str> = words.collect();
        let n = |i: usize| -> i64 {
            rest[i]
                .parse()
                .unwrap_or_else(|_| panic!("bad line {line:?}"))
        };
        match op {
            "new" => Op::New(match rest[0] {
                "select" => Kind::Select,
                "poll" => Kind::Poll,
                "epoll" => Kind::Epoll,
                other => panic!("bad kind {other:?}"),
            }),
            "reg" => Op::Reg(n(0) as RawFd, n(1) as u8, n(2)),
            "mod" => Op::Mod(n(0) as RawFd, n(1) as u8, n(2)),
            "unreg" => Op::Unreg(n(0) as RawFd),
            "key" => Op::Key(n(0) as RawFd),
            "map" => Op::Map,
            "sel" if rest[0] == "none" => Op::Sel(None),
            "sel" => Op::Sel(Some(f64::from_bits(
                u64::from_str_radix(rest[0], 16).expect("timeout bits"),
            ))),
            "close" => Op::Close,
            "dup" => Op::Dup(n(0) as RawFd, n(1) as RawFd),
            "closefd" => Op::CloseFd(n(0) as RawFd),
            other => panic!("bad operation {other:?}"),
        }
    }
}

/// The operations as the stdin text of `selectors_calls.py`.
pub fn ops_text(ops: &[Op]) -> String {
    ops.iter().map(|op| op.line() + "\n").collect()
}

pub type Key = SelectorKey<RawFd, i64>;

pub fn key_text(k: &Key) -> String {
    format!("key(fd={},events={},data={})", k.fd, k.events, k.data)
}

pub fn err_text(e: &pyselect::Error) -> String {
    format!("ERR {}: {e}", e.python_name())
}

pub fn ready_text(ready: &[(Key, u8)]) -> String {
    let items: Vec<String> = ready
        .iter()
        .map(|(k, ev)| format!("({},{ev},{})", k.fd, k.data))
        .collect();
    format!("OK [{}]", items.join(", "))
}

/// One selector operation on any of the three, as the fixture prints its outcome.
pub fn apply<S: Selector<RawFd, i64>>(sel: &mut S, op: &Op) -> String {
    let key = |r: pyselect::Result<&Key>| match r {
        Ok(k) => format!("OK {}", key_text(k)),
        Err(e) => err_text(&e),
    };
    match *op {
        Op::Reg(fd, ev, data) => key(sel.register(fd, ev, data)),
        Op::Mod(fd, ev, data) => key(sel.modify(fd, ev, data)),
        Op::Unreg(fd) => match sel.unregister(fd) {
            Ok(k) => format!("OK {}", key_text(&k)),
            Err(e) => err_text(&e),
        },
        Op::Key(fd) => key(sel.get_key(fd)),
        Op::Map => match sel.get_map() {
            None => "OK None".into(),
            Some(m) => format!("OK {:?}", m.keys().collect::<Vec<_>>()),
        },
        Op::Sel(t) => match sel.select(t) {
            Ok(ready) => ready_text(&ready),
            Err(e) => err_text(&e),
        },
        Op::Close => match sel.close() {
            Ok(()) => "OK".into(),
            Err(e) => err_text(&e),
        },
        _ => unreachable!("not a selector operation: {op:?}"),
    }
}

pub enum AnySel {
    Select(SelectSelector<RawFd, i64>),
    Poll(PollSelector<RawFd, i64>),
    Epoll(EpollSelector<RawFd, i64>),
}

/// Run `ops` in this process: one outcome line per operation. `source(fd)` gives a copy of
/// the fd a `dup` operation copies.
pub fn run(ops: &[Op], source: impl Fn(RawFd) -> OwnedFd) -> Vec<String> {
    let mut sel: Option<AnySel> = None;
    let mut dups: HashMap<RawFd, OwnedFd> = HashMap::new();
    let out = ops
        .iter()
        .map(|op| match op {
            Op::New(kind) => {
                // The previous selector goes first (its epoll fd closed), as in the fixture.
                sel = None;
                sel = Some(match kind {
                    Kind::Select => AnySel::Select(SelectSelector::new().unwrap()),
                    Kind::Poll => AnySel::Poll(PollSelector::new().unwrap()),
                    Kind::Epoll => AnySel::Epoll(EpollSelector::new().unwrap()),
                });
                "OK".into()
            }
            Op::Dup(fd, at) => {
                let copy = source(*fd);
                dups.insert(*at, crate::pyref::move_fd(copy, *at));
                "OK".into()
            }
            Op::CloseFd(fd) => {
                let owned = dups.remove(fd).expect("closefd of a dup");
                nix::unistd::close(owned).expect("close");
                "OK".into()
            }
            op => match sel.as_mut().expect("a selector (new first)") {
                AnySel::Select(s) => apply(s, op),
                AnySel::Poll(s) => apply(s, op),
                AnySel::Epoll(s) => apply(s, op),
            },
        })
        .collect();
    assert!(
        dups.is_empty(),
        "a scenario left a dup open: {:?}",
        dups.keys()
    );
    out
}

/// A `SelectSelector` ready list with its items in ascending fd order (CPython's order is its
/// set layout): `OK [(9,1,0), (5,1,0)]` -> `OK [(5,1,0), (9,1,0)]`.
pub fn sorted_ready(line: &str) -> String {
    let Some(inner) = line.strip_prefix("OK [").and_then(|l| l.strip_suffix(']')) else {
        return line.to_owned();
    };
    if inner.is_empty() {
        return line.to_owned();
    }
    let mut items: Vec<&str> = inner.split(", ").collect();
    let fd = |s: &&str| -> RawFd { s[1..].split(',').next().unwrap().parse().unwrap() };
    items.sort_by_key(fd);
    format!("OK [{}]", items.join(", "))
}
