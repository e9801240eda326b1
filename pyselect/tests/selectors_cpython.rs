//! Differential test: `pyselect::selectors` against CPython's `selectors` module, for all three
//! selectors, on the very same file descriptions.
//!
//! This process sets up pipes, socket pairs, loopback TCP connections and a regular file in
//! known states at fixed numbers (`testkit::twins::World`: readable, writable, hung up, broken,
//! pending connection, urgent data, EOF; plus a closed fd and fd 1500),
//! runs every scenario through `SelectSelector`, `PollSelector` and `EpollSelector` with raw fd
//! numbers, then hands the fds to one `python3` process at the same numbers, which runs the
//! same operations with `testkit/fixtures/selectors_calls.py`. Selectors read and write no data,
//! so each fd's readiness is the same for both. Every line (keys, ready lists with their
//! events and data, errors with class and text) must be identical, with one documented
//! exception: `SelectSelector`'s ready list is compared as a set (CPython's order is its `set`
//! layout, pyselect's ascending fd order, checked separately).
//!
//! Where pyselect refuses on purpose (Select/PollSelector after `close()`), a separate test
//! pins both behaviours.
//!
//! Needs `python3`; without it the tests fail with a message saying so.

use std::os::fd::RawFd;

use testkit::selectors::{python_cmd, sorted_ready, Kind, Op, KINDS, R, RW, W};
use testkit::twins::{
    World, BROKEN_W, DATA_R, EMPTY_R, EMPTY_W, EOF, FILE, HUP_R, IDLE, OOB, PENDING, UA, UB,
};
use testkit::{fd::is_open, python, serial, server::ensure_nofile};

/// The fd numbers the scenarios put copies at (free in both processes).
const DUP_AT: RawFd = 700;
const HIGH_FD: RawFd = 1500;
/// A number that is never open in either process. Below 64, so inside both processes' fd
/// tables: Linux's select(2) silently skips (and leaves set) an fd beyond the table's size,
/// so a closed fd 900 reads as "ready" in a small process and as EBADF in a large one. (Not
/// [`testkit::twins::CLOSED`], which is 70; the world's fds are 50 to 63.)
const CLOSED: RawFd = 49;

/// The world of fds in known states (see [`testkit::twins::World`]), with the numbers the
/// scenarios need free checked.
fn world() -> World {
    let world = World::new();
    assert!(
        !is_open(CLOSED) && !is_open(DUP_AT) && !is_open(HIGH_FD),
        "fds {CLOSED}, {DUP_AT} and {HIGH_FD} must be free"
    );
    world
}

/// RLIMIT_NOFILE must allow fd 1500 in this process (and the Python child, which inherits it).
fn allow_high_fds() {
    ensure_nofile(HIGH_FD as u64 + 100);
}

// ---------------------------------------------------------------------------------------------
// pyselect's side: the same operations on the crate's selectors.
// ---------------------------------------------------------------------------------------------

/// Run `ops` in this process: one outcome line per operation.
fn run_ours(world: &World, ops: &[Op]) -> Vec<String> {
    testkit::selectors::run(ops, |fd| world.copy(fd))
}

/// Run `ops` in CPython on the world's fds.
fn run_cpython(world: &World, ops: &[Op]) -> Vec<String> {
    let text = testkit::selectors::ops_text(ops);
    let cmd = python_cmd(world.numbers(), &[]);
    let out = testkit::child::run(cmd, &text).success("python3 selectors_calls.py");
    out.stdout.lines().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

struct Scenario {
    what: &'static str,
    kinds: &'static [Kind],
    ops: Vec<Op>,
}

fn scenarios() -> Vec<Scenario> {
    use Op::*;
    let (er, ew, dr, hup, broken) = (EMPTY_R, EMPTY_W, DATA_R, HUP_R, BROKEN_W);
    let (ua, ub, pending, idle) = (UA, UB, PENDING, IDLE);
    let (oob, eof, file) = (OOB, EOF, FILE);
    let t = |x: f64| Sel(Some(x));
    let all: &'static [Kind] = &KINDS;
    vec![
        Scenario {
            what: "readiness of pipes, sockets and listeners, in registration order",
            kinds: all,
            ops: vec![
                Reg(eof, RW, 1),
                Reg(ua, RW, 2),
                Reg(er, R, 3),
                Reg(ew, W, 4),
                Reg(dr, RW, 5),
                Reg(pending, R, 6),
                Reg(idle, R, 7),
                Reg(oob, R, 8),
                Reg(ub, R, 9),
                t(0.0),
                Map,
                Key(dr),
                Unreg(dr),
                t(0.0),
                Reg(dr, R, 10),
                t(0.0),
                Sel(None),
            ],
        },
        Scenario {
            what: "hang-up and broken pipe: HUP and ERR count as both events, then masked",
            kinds: all,
            ops: vec![
                Reg(hup, R, 1),
                Reg(broken, W, 2),
                t(0.0),
                Mod(hup, RW, 3),
                Mod(broken, RW, 4),
                t(0.0),
                Mod(broken, R, 5),
                t(0.0),
            ],
        },
        Scenario {
            what: "register, unregister, modify and get_key errors, in CPython's order",
            kinds: all,
            ops: vec![
                Reg(dr, 0, 1),
                Reg(dr, 4, 1),
                Reg(dr, 7, 1),
                Reg(-1, R, 1),
                Reg(-1, 0, 1),
                Reg(dr, R, 1),
                Reg(dr, W, 2),
                Reg(dr, 0, 2),
                Unreg(ew),
                Unreg(-5),
                Mod(ew, R, 1),
                Mod(-1, R, 1),
                Key(ew),
                Key(-1),
                Map,
                Unreg(dr),
                Unreg(dr),
                Map,
            ],
        },
        Scenario {
            what: "modify: data only, events, then 0 and 4 (Select unregisters, the others store)",
            kinds: all,
            ops: vec![
                Reg(ew, R, 1),
                t(0.0),
                Mod(ew, W, 2),
                t(0.0),
                Mod(ew, W, 3),
                Key(ew),
                Mod(ew, 0, 4),
                Key(ew),
                t(0.0),
                Mod(ew, 4, 5),
                Key(ew),
                t(0.0),
                Map,
            ],
        },
        Scenario {
            what: "timeouts and their errors, with a ready fd so that nothing waits",
            kinds: all,
            ops: vec![
                Reg(ew, W, 1),
                Sel(None),
                t(-1.0),
                t(-0.0),
                t(0.0),
                t(1e-9),
                t(0.009),
                t(f64::NEG_INFINITY),
                t(f64::NAN),
                t(f64::INFINITY),
                t(3e6),
                t(2147483.647),
                t(9.3e9),
                t(1e13),
                t(2f64.powi(70)),
                t(1e300),
                t(1e306),
            ],
        },
        Scenario {
            what: "an empty selector still honours the timeout",
            kinds: all,
            ops: vec![t(0.001), Map],
        },
        Scenario {
            what: "an fd that is not open",
            kinds: all,
            ops: vec![Reg(CLOSED, R, 1), Reg(ew, W, 2), Key(CLOSED), Map, t(0.0)],
        },
        Scenario {
            what: "a regular file",
            kinds: all,
            ops: vec![Reg(file, RW, 1), Map, t(0.0)],
        },
        Scenario {
            what: "fd 1500: Select refuses it in select(), poll and epoll take it",
            kinds: all,
            ops: vec![
                Dup(dr, HIGH_FD),
                Reg(HIGH_FD, R, 1),
                Reg(ew, W, 2),
                t(0.0),
                Unreg(HIGH_FD),
                t(0.0),
                CloseFd(HIGH_FD),
            ],
        },
        Scenario {
            what: "an fd closed while registered: modify, select, unregister",
            kinds: all,
            ops: vec![
                Reg(ew, W, 1),
                Dup(dr, DUP_AT),
                Reg(DUP_AT, R, 2),
                t(0.0),
                CloseFd(DUP_AT),
                Mod(DUP_AT, W, 3),
                Key(DUP_AT),
                t(0.0),
                Unreg(DUP_AT),
                Map,
            ],
        },
        Scenario {
            what: "unregister of an fd closed since: the epoll error is ignored",
            kinds: all,
            ops: vec![
                Dup(ew, DUP_AT),
                Reg(DUP_AT, W, 1),
                CloseFd(DUP_AT),
                Unreg(DUP_AT),
                Map,
            ],
        },
        Scenario {
            what: "after close(): get_key, get_map, unregister, close again",
            kinds: all,
            ops: vec![
                Reg(dr, R, 1),
                Close,
                Key(dr),
                Key(-1),
                Map,
                Unreg(dr),
                Close,
            ],
        },
        Scenario {
            what: "after close(): EpollSelector's register, modify and select",
            kinds: &[Kind::Epoll],
            ops: vec![
                Reg(dr, R, 1),
                Close,
                Reg(ew, W, 2),
                Reg(-1, W, 2),
                Reg(ew, 0, 2),
                Mod(dr, W, 3),
                t(0.0),
                t(f64::NAN),
                Sel(None),
                Map,
            ],
        },
    ]
}

#[test]
fn selectors_match_cpython_on_the_same_fds() {
    let _serial = serial();
    allow_high_fds();
    let world = world();
    let mut names = Vec::new();
    let mut ops = Vec::new();
    for s in scenarios() {
        for &kind in s.kinds {
            ops.push(Op::New(kind));
            names.push((s.what, kind, "new".to_owned()));
            for op in &s.ops {
                names.push((s.what, kind, op.line()));
                ops.push(op.clone());
            }
        }
    }
    // pyselect first, then CPython: no data moves, so readiness is the same for both.
    let ours = run_ours(&world, &ops);
    let theirs = run_cpython(&world, &ops);
    assert_eq!(theirs.len(), ops.len(), "python3 printed:\n{theirs:#?}");

    let mut mismatches = Vec::new();
    for (((what, kind, line), ours), theirs) in names.iter().zip(&ours).zip(&theirs) {
        // An older 3.11 (Debian 12's 3.11.2) words a float timeout's overflow differently: read
        // it as the reference does (see `testkit::python`). `SelectSelector` and `EpollSelector`
        // pass a float on; `PollSelector` passes `math.ceil(t * 1e3)`, an int, whose overflow
        // every 3.11 words alike, so its lines are compared as printed. No scenario passes an
        // edge value (and the selectors' rounding never makes one), so the text is all.
        let theirs = &if *kind == Kind::Poll {
            theirs.clone()
        } else {
            python::as_reference(theirs)
        };
        let (ours, theirs) = if *kind == Kind::Select && line.starts_with("sel") {
            (sorted_ready(ours), sorted_ready(theirs))
        } else {
            (ours.clone(), theirs.clone())
        };
        if ours != theirs {
            mismatches.push(format!(
                "{} / {what} / {line}:\n  pyselect: {ours}\n  CPython:  {theirs}",
                kind.name()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} operations differ from CPython:\n{}",
        mismatches.len(),
        ops.len(),
        mismatches.join("\n")
    );
}

/// The points of R§3 the differential test covers, spelled out on pyselect's side, so that a
/// scenario cannot silently degrade (say, into "nothing ready" on both sides).
#[test]
fn outcomes_are_the_ones_the_spec_names() {
    let _serial = serial();
    allow_high_fds();
    let world = world();
    let (dr, ew, hup, broken) = (DATA_R, EMPTY_W, HUP_R, BROKEN_W);
    let file = FILE;
    let run = |kind: Kind, ops: Vec<Op>| {
        let mut all = vec![Op::New(kind)];
        all.extend(ops);
        let mut out = run_ours(&world, &all);
        out.remove(0);
        out
    };
    use Op::*;
    for kind in KINDS {
        let out = run(
            kind,
            vec![
                Reg(dr, 0, 1),
                Reg(-1, R, 1),
                Reg(dr, R, 1),
                Reg(dr, W, 2),
                Unreg(ew),
                Reg(hup, R, 3),
                Reg(broken, W, 4),
                Sel(Some(0.0)),
            ],
        );
        let mut ready = vec![format!("({hup},1,3)"), format!("({broken},2,4)")];
        ready.sort_by_key(|s| s[1..].split(',').next().unwrap().parse::<i32>().unwrap());
        if kind != Kind::Select {
            // Registration order.
            ready = vec![format!("({hup},1,3)"), format!("({broken},2,4)")];
        }
        // dr holds data too: it is ready first or in fd order.
        let mut all_ready = vec![format!("({dr},1,1)")];
        all_ready.extend(ready);
        if kind == Kind::Select {
            all_ready.sort_by_key(|s| s[1..].split(',').next().unwrap().parse::<i32>().unwrap());
        }
        assert_eq!(
            out,
            [
                "ERR ValueError: Invalid events: 0".to_owned(),
                "ERR ValueError: Invalid file descriptor: -1".to_owned(),
                format!("OK key(fd={dr},events=1,data=1)"),
                format!("ERR KeyError: '{dr} (FD {dr}) is already registered'"),
                format!("ERR KeyError: '{ew} is not registered'"),
                format!("OK key(fd={hup},events=1,data=3)"),
                format!("OK key(fd={broken},events=2,data=4)"),
                format!("OK [{}]", all_ready.join(", ")),
            ],
            "{kind:?}"
        );
    }
    // The selector-specific points.
    let select = run(Kind::Select, vec![Reg(ew, R, 1), Mod(ew, 0, 2), Key(ew)]);
    assert_eq!(select[1], "ERR ValueError: Invalid events: 0");
    assert_eq!(select[2], format!("ERR KeyError: '{ew} is not registered'"));
    let epoll = run(Kind::Epoll, vec![Reg(file, R, 1), Reg(CLOSED, R, 1), Map]);
    assert_eq!(
        epoll,
        [
            "ERR OSError: [Errno 1] Operation not permitted".to_owned(),
            "ERR OSError: [Errno 9] Bad file descriptor".to_owned(),
            "OK []".to_owned(),
        ]
    );
    let poll = run(Kind::Poll, vec![Reg(CLOSED, R, 1), Sel(Some(0.0))]);
    assert_eq!(
        poll[1],
        format!("OK [({CLOSED},1,1)]"),
        "POLLNVAL reads as READ"
    );
    let timeouts = [
        (f64::NAN, "ERR ValueError: Invalid value NaN (not a number)"),
        (
            f64::INFINITY,
            "ERR OverflowError: timestamp out of range for platform time_t",
        ),
    ];
    for (t, want) in timeouts {
        assert_eq!(run(Kind::Select, vec![Sel(Some(t))]), [want], "Select {t}");
    }
    for kind in [Kind::Poll, Kind::Epoll] {
        let out = run(
            kind,
            vec![
                Sel(Some(f64::NAN)),
                Sel(Some(f64::INFINITY)),
                Sel(Some(3e6)),
            ],
        );
        assert_eq!(
            out,
            [
                "ERR ValueError: cannot convert float NaN to integer",
                "ERR OverflowError: cannot convert float infinity to integer",
                "ERR OverflowError: timeout is too large",
            ],
            "{kind:?}"
        );
    }
    let high = run(
        Kind::Select,
        vec![
            Dup(dr, HIGH_FD),
            Reg(HIGH_FD, R, 1),
            Sel(Some(0.0)),
            CloseFd(HIGH_FD),
        ],
    );
    assert_eq!(
        high[1..3],
        [
            format!("OK key(fd={HIGH_FD},events=1,data=1)"),
            "ERR ValueError: filedescriptor out of range in select()".to_owned(),
        ]
    );
}

/// After `close()`, CPython's Select- and PollSelector go on registering and polling (stale
/// fds, gh-91433); pyselect's refuse with `Runtime("Selector is closed")`. Both sides pinned.
#[test]
fn select_and_poll_selectors_refuse_after_close_where_cpython_goes_on() {
    let _serial = serial();
    let world = world();
    let (dr, ew) = (DATA_R, EMPTY_W);
    use Op::*;
    for kind in [Kind::Select, Kind::Poll] {
        let ops = vec![
            New(kind),
            Reg(dr, R, 1),
            Close,
            Reg(ew, W, 2),
            Reg(ew, 0, 2),
            Mod(dr, W, 3),
            Mod(-1, W, 3),
            Sel(Some(0.0)),
        ];
        let closed = "ERR RuntimeError: Selector is closed";
        assert_eq!(
            run_ours(&world, &ops),
            [
                "OK",
                &format!("OK key(fd={dr},events=1,data=1)"),
                "OK",
                closed,
                "ERR ValueError: Invalid events: 0",
                closed,
                "ERR ValueError: Invalid file descriptor: -1",
                closed,
            ],
            "pyselect {kind:?}"
        );
        let theirs = run_cpython(&world, &ops);
        assert_eq!(
            theirs[3..],
            [
                format!("OK key(fd={ew},events=2,data=2)"),
                "ERR ValueError: Invalid events: 0".to_owned(),
                format!("ERR KeyError: '{dr} is not registered'"),
                "ERR ValueError: Invalid file descriptor: -1".to_owned(),
                // The fd registered after close() is polled and found writable.
                format!("OK [({ew},2,2)]"),
            ],
            "CPython {kind:?}"
        );
    }
}

/// `SelectSelector` returns ready keys in ascending fd order; CPython's follow its `set`
/// layout, which differs from 8 up (R§3.3: fds 20, 5, 13, 9 come back as 9, 5, 20, 13).
#[test]
fn select_selector_orders_by_fd() {
    let _serial = serial();
    let world = world();
    let ew = EMPTY_W;
    let targets = [720, 705, 713, 709];
    let mut ops = vec![Op::New(Kind::Select)];
    for (i, &at) in targets.iter().enumerate() {
        ops.push(Op::Dup(ew, at));
        ops.push(Op::Reg(at, W, i as i64));
    }
    ops.push(Op::Sel(Some(0.0)));
    ops.extend(targets.iter().map(|&at| Op::CloseFd(at)));
    let ours = run_ours(&world, &ops);
    assert_eq!(
        ours[9], "OK [(705,2,1), (709,2,3), (713,2,2), (720,2,0)]",
        "ascending fd order"
    );
    let theirs = run_cpython(&world, &ops);
    assert_eq!(
        sorted_ready(&theirs[9]),
        ours[9],
        "the same keys as CPython"
    );
}
