//! The `selectors` tests (`tests/selectors_*.rs`): selector operations, one per line in the
//! format of `testkit/fixtures/selectors_calls.py`, run on pyselect's three selectors ([`run`])
//! with each outcome printed as that fixture prints CPython's, so the two can be compared line
//! for line. Built on the tree's pieces: [`super::twins::World`] for fds in known states,
//! [`super::pyref`]'s fixed fds, child protocol and timeout tokens, [`super::fd`], and the one
//! strace runner and parser ([`super::strace`]).

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{OwnedFd, RawFd};
use std::process::Command;

use pyselect::selectors::{
    EpollSelector, PollSelector, SelectSelector, Selector, SelectorKey, EVENT_READ, EVENT_WRITE,
};

use super::child::assert_one_test_passed;
use super::fd::{move_fd, pass_fds};
use super::fixture;
use super::pyref::{
    child_results, parse_timeout_token, rust_child_cmd, setup_fixed_fds, timeout_token,
    RESULT_PREFIX,
};
use super::python::script_command;
use super::strace::{self, drop_left, normalise_epoll_line};

pub const R: u8 = EVENT_READ;
pub const W: u8 = EVENT_WRITE;
pub const RW: u8 = EVENT_READ | EVENT_WRITE;

/// Which of the three selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Select,
    Poll,
    Epoll,
}

pub const KINDS: [Kind; 3] = [Kind::Select, Kind::Poll, Kind::Epoll];

impl Kind {
    /// The fixture's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Select => "select",
            Kind::Poll => "poll",
            Kind::Epoll => "epoll",
        }
    }
}

/// One operation, in the line format of `testkit/fixtures/selectors_calls.py`.
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
    /// The fixture's line for it (a timeout as a [`timeout_token`]).
    pub fn line(&self) -> String {
        match self {
            Op::New(k) => format!("new {}", k.name()),
            Op::Reg(fd, ev, data) => format!("reg {fd} {ev} {data}"),
            Op::Mod(fd, ev, data) => format!("mod {fd} {ev} {data}"),
            Op::Unreg(fd) => format!("unreg {fd}"),
            Op::Key(fd) => format!("key {fd}"),
            Op::Map => "map".into(),
            Op::Sel(t) => format!("sel {}", timeout_token(*t)),
            Op::Close => "close".into(),
            Op::Dup(fd, at) => format!("dup {fd} {at}"),
            Op::CloseFd(fd) => format!("closefd {fd}"),
        }
    }

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
            "sel" => Op::Sel(parse_timeout_token(rest[0])),
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

/// A key as the fixture prints one.
pub fn key_text(k: &Key) -> String {
    format!("key(fd={},events={},data={})", k.fd, k.events, k.data)
}

/// An error as the fixture prints one: `ERR <class>: <str(exc)>`.
pub fn err_text(e: &pyselect::Error) -> String {
    format!("ERR {}: {e}", e.python_name())
}

/// A ready list as the fixture prints one: `OK [(fd,events,data), ...]`.
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

/// Any of the three selectors.
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
                dups.insert(*at, move_fd(source(*fd), *at));
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

/// `python3 -I testkit/fixtures/selectors_calls.py args...`, inheriting `fds` at their numbers.
pub fn python_cmd(fds: Vec<RawFd>, args: &[&str]) -> Command {
    let mut cmd = script_command(&fixture("selectors_calls.py"), args);
    pass_fds(&mut cmd, fds);
    cmd
}

// ---------------------------------------------------------------------------------------------
// Under strace: the fixed fds of `super::pyref`, the operations between two getppid() marks
// ---------------------------------------------------------------------------------------------

/// The `#[ignore]`d entry test a test file using [`rust_run`] defines; it runs [`child_main`]
/// when [`super::pyref::is_child`].
pub const CHILD_ENTRY: &str = "selectors_child_entry";

/// The syscalls the strace comparison traces; `getppid` is the mark.
pub const TRACE: &str = "trace=getppid,pselect6,poll,epoll_create1,epoll_ctl,epoll_wait,close";

/// The body of [`CHILD_ENTRY`] in a re-executed child: set up the fixed fds, read operations
/// from stdin, make them between two `getppid()` marks, print one prefixed line per outcome.
pub fn child_main() {
    let _fds = setup_fixed_fds();
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("stdin");
    let ops: Vec<Op> = text.lines().map(Op::parse).collect();
    nix::unistd::getppid(); // mark: the operations start
    let out = run(&ops, |fd| panic!("no dup of {fd} here"));
    nix::unistd::getppid(); // mark: the operations end
    for line in out {
        println!("{RESULT_PREFIX}{line}");
    }
}

/// Run `program` under strace with `ops` on stdin; its outcome lines and the traced calls of
/// the marking process between its two marks, normalised by [`normalise`]. `rust`: the program
/// is the re-executed child (its outcome lines are prefixed; it must have run one test).
fn traced(program: Command, ops: &[Op], stem: &str, rust: bool) -> (Vec<String>, Vec<String>) {
    let shown = format!("{program:?}");
    let (out, trace) = strace::run(&program, TRACE, &["-qq"], &ops_text(ops), stem);
    let out = out.success(&format!("strace {shown}"));
    let outcomes = if rust {
        assert_one_test_passed(&out, &shown);
        child_results(&out.stdout)
    } else {
        out.stdout.lines().map(str::to_owned).collect()
    };
    let marks = trace.lines.iter().filter(|l| l.name() == "getppid").count();
    assert_eq!(marks, 2, "two getppid() marks expected:\n{}", trace.dump());
    let mut epfds = Vec::new();
    let calls = trace
        .between_calls_of("getppid(")
        .iter()
        .map(|c| normalise(c, &mut epfds))
        .collect();
    (outcomes, calls)
}

/// `ops` made by pyselect (the re-executed child, [`CHILD_ENTRY`]) under strace.
pub fn rust_run(ops: &[Op]) -> (Vec<String>, Vec<String>) {
    traced(rust_child_cmd(CHILD_ENTRY), ops, "rs-selectors", true)
}

/// `ops` made by CPython (`selectors_calls.py --fixed-fds`) under strace.
pub fn python_run(ops: &[Op]) -> (Vec<String>, Vec<String>) {
    let cmd = python_cmd(Vec::new(), &["--fixed-fds"]);
    traced(cmd, ops, "py-selectors", false)
}

/// Replace what legitimately differs between two runs: the epoll fd (`EPFD`, each number
/// `epoll_create1` returned so far), then [`normalise_epoll_line`] (the `EPOLL_CTL_DEL`
/// pointer, CPython's garbage upper bits of `data.u64`), and the kernel's `left {...}`.
fn normalise(call: &str, epfds: &mut Vec<String>) -> String {
    if let Some(fd) = call.strip_prefix("epoll_create1(EPOLL_CLOEXEC) = ") {
        epfds.push(fd.to_owned());
        return "epoll_create1(EPOLL_CLOEXEC) = EPFD".into();
    }
    let mut call = call.to_owned();
    for fd in epfds.iter() {
        for name in ["epoll_ctl(", "epoll_wait(", "close("] {
            for end in [", ", ")"] {
                let from = format!("{name}{fd}{end}");
                if call.starts_with(&from) {
                    call = format!("{name}EPFD{end}{}", &call[from.len()..]);
                }
            }
        }
    }
    drop_left(&normalise_epoll_line(&call))
}
