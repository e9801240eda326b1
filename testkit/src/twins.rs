//! The `Poll`/`Epoll` twins' tests (`tests/poll_epoll_*.rs`): a [`World`] of fds in known
//! states at fixed numbers, and a script of poll/epoll operations that pyselect ([`run_script`],
//! in a re-executed test binary) and CPython (`testkit/fixtures/poll_epoll_calls.py`) both run on
//! those fds. Built on the tree's pieces: the child protocol of [`super::pyref`] (the same
//! role, entry and result lines as the `select` call lists), [`super::fd`] for the fds,
//! [`super::strace`] for traces.

use std::io::{Read, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::Command;

use nix::poll::PollFlags;
use nix::sys::socket::{send, MsgFlags};
use pyselect::{Epoll, Error, Poll};

use super::child::run;
use super::client::accept;
use super::fd::{is_open, move_fd, pass_fds, pipe, socketpair, wait_ready, write_fd};
use super::fixture;
use super::pyref::{
    child_results, parse_timeout_token, rust_child_cmd, timeout_token, RESULT_PREFIX,
};
use super::python::script_command;
use super::server::set_linger_zero;
use super::strace::{self, Trace};

/// The `#[ignore]`d entry test every test file using [`child_cmd`] defines; it runs
/// [`child_main`] when [`super::pyref::is_child`].
pub const CHILD_ENTRY: &str = "twins_child_entry";

// The fixed numbers of [`World`]'s fds (the same in this process and in both children).
/// An empty pipe's read end: never ready.
pub const EMPTY_R: RawFd = 50;
/// That pipe's write end: writable.
pub const EMPTY_W: RawFd = 51;
/// A pipe's read end with data waiting: readable.
pub const DATA_R: RawFd = 52;
/// An AF_UNIX stream end with one byte waiting (readable and writable), and its peer.
pub const UA: RawFd = 53;
pub const UB: RawFd = 54;
/// A TCP listener with a connection waiting to be accepted, and one without.
pub const PENDING: RawFd = 55;
pub const IDLE: RawFd = 56;
/// The accepted end of a TCP connection whose peer sent one byte with MSG_OOB.
pub const OOB: RawFd = 57;
/// The accepted end of a quiet TCP connection.
pub const PLAIN: RawFd = 58;
/// The accepted end of a TCP connection whose peer closed (EOF).
pub const EOF: RawFd = 59;
/// A pipe's read end whose write end is closed (hang-up).
pub const HUP_R: RawFd = 60;
/// A pipe's write end whose read end is closed (broken pipe: an error).
pub const BROKEN_W: RawFd = 61;
/// The accepted end of a TCP connection the peer reset (RST).
pub const RESET: RawFd = 62;
/// A regular file (epoll refuses it with EPERM).
pub const FILE: RawFd = 63;
/// A number no process here has open.
pub const CLOSED: RawFd = 70;

/// Every fd above, open in this process at its number, for as long as the value lives. Only
/// one at a time: callers hold [`super::serial`].
pub struct World {
    fds: Vec<OwnedFd>,
    _keep: Vec<OwnedFd>,
}

/// A connection to `listener`, accepted: (accepted end, connecting end).
fn accepted(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = accept(listener);
    (server, client)
}

impl World {
    // Not `Default`: building a world opens pipes and sockets, which a default value should not.
    #[allow(clippy::new_without_default)]
    pub fn new() -> World {
        let mut keep: Vec<OwnedFd> = Vec::new();
        let (empty_r, empty_w) = pipe();
        let (data_r, data_w) = pipe();
        write_fd(&data_w, b"data");
        keep.push(data_w);
        let (ua, ub) = socketpair();
        write_fd(&ub, b"x");

        let bind = || TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let pending = bind();
        let idle = bind();
        let pending_client = TcpStream::connect(pending.local_addr().unwrap()).unwrap();
        wait_ready(&pending, PollFlags::POLLIN);
        keep.push(pending_client.into());

        let server = bind();
        let (oob, oob_client) = accepted(&server);
        assert_eq!(
            send(oob_client.as_raw_fd(), b"!", MsgFlags::MSG_OOB).unwrap(),
            1
        );
        wait_ready(&oob, PollFlags::POLLPRI);
        keep.push(oob_client.into());
        let (plain, plain_client) = accepted(&server);
        keep.push(plain_client.into());
        let (eof, eof_client) = accepted(&server);
        eof_client.shutdown(Shutdown::Both).unwrap();
        drop(eof_client);
        wait_ready(&eof, PollFlags::POLLIN);
        let (hup_r, hup_w) = pipe();
        drop(hup_w);
        let (broken_r, broken_w) = pipe();
        drop(broken_r);
        let (reset, reset_client) = accepted(&server);
        set_linger_zero(&reset_client);
        drop(reset_client);
        wait_ready(&reset, PollFlags::POLLHUP);
        let file: OwnedFd = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .expect("open Cargo.toml")
            .into();
        keep.push(server.into());

        let all: Vec<(OwnedFd, RawFd)> = vec![
            (empty_r, EMPTY_R),
            (empty_w, EMPTY_W),
            (data_r, DATA_R),
            (ua.into(), UA),
            (ub.into(), UB),
            (pending.into(), PENDING),
            (idle.into(), IDLE),
            (oob.into(), OOB),
            (plain.into(), PLAIN),
            (eof.into(), EOF),
            (hup_r, HUP_R),
            (broken_w, BROKEN_W),
            (reset.into(), RESET),
            (file, FILE),
        ];
        assert!(!is_open(CLOSED), "fd {CLOSED} must be free");
        let fds = all
            .into_iter()
            .map(|(fd, target)| move_fd(fd, target))
            .collect();
        World { fds, _keep: keep }
    }

    /// The fixed numbers, for `pass_fds`.
    pub fn numbers(&self) -> Vec<RawFd> {
        self.fds.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// A new fd (`F_DUPFD_CLOEXEC`) for the same file description as the world's fd `fd`.
    pub fn copy(&self, fd: RawFd) -> OwnedFd {
        self.fds
            .iter()
            .find(|f| f.as_raw_fd() == fd)
            .unwrap_or_else(|| panic!("fd {fd} is not one of the world's"))
            .try_clone()
            .expect("dup")
    }
}

/// Run a script (the format of `testkit/fixtures/poll_epoll_calls.py`) through pyselect: one
/// output line per operation but `mark`.
pub fn run_script(text: &str) -> Vec<String> {
    let mut p: Option<Poll> = None;
    let mut e: Option<Epoll> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let op = words.next().expect("an operation");
        let args: Vec<&str> = words.collect();
        let fd = |tok: &str, e: &Option<Epoll>| -> RawFd {
            if tok == "E" {
                pyselect::FileNo::fileno(e.as_ref().expect("an epoll object"))
            } else {
                tok.parse().expect("fd")
            }
        };
        let mask16 =
            |tok: &str| -> Option<u16> { (tok != "-").then(|| tok.parse().expect("mask")) };
        let mask32 =
            |tok: &str| -> Option<u32> { (tok != "-").then(|| tok.parse().expect("mask")) };
        let none = |r: pyselect::Result<()>| r.map(|()| None);
        let shown = |r: pyselect::Result<Vec<(RawFd, u32)>>| r.map(|v| Some(format!("{v:?}")));
        let result: Result<Option<String>, Error> = match op {
            "mark" => {
                let _ = nix::unistd::close(-1);
                continue;
            }
            "pnew" => {
                p = Some(Poll::new());
                Ok(None)
            }
            "preg" => none(
                p.as_mut()
                    .unwrap()
                    .register(fd(args[0], &e), mask16(args[1])),
            ),
            "pmod" => none(
                p.as_mut()
                    .unwrap()
                    .modify(fd(args[0], &e), mask16(args[1]).unwrap()),
            ),
            "punreg" => none(p.as_mut().unwrap().unregister(fd(args[0], &e))),
            "ppoll" => p
                .as_mut()
                .unwrap()
                .poll(parse_timeout_token(args[0]))
                .map(|v| Some(format!("{v:?}"))),
            "enew" => {
                e = None;
                Epoll::new().map(|ep| {
                    e = Some(ep);
                    None
                })
            }
            "eopts" => {
                e = None;
                Epoll::with_options(args[0].parse().unwrap(), args[1].parse().unwrap()).map(|ep| {
                    e = Some(ep);
                    None
                })
            }
            "efromdup" => {
                e = None;
                // The same two steps as Python's `epoll.fromfd(os.dup(fd))`.
                let borrowed = fd(args[0], &e);
                // SAFETY: F_DUPFD_CLOEXEC makes a new fd (what Python's os.dup does) and closes
                // nothing.
                let dup = unsafe { libc::fcntl(borrowed, libc::F_DUPFD_CLOEXEC, 0) };
                assert!(dup >= 0, "dup: {}", std::io::Error::last_os_error());
                // SAFETY: fcntl just returned this new fd; nothing else owns it.
                let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
                e = Some(Epoll::fromfd(owned));
                Ok(None)
            }
            "ereg" => none(
                e.as_ref()
                    .unwrap()
                    .register(fd(args[0], &e), mask32(args[1])),
            ),
            "emod" => none(
                e.as_ref()
                    .unwrap()
                    .modify(fd(args[0], &e), mask32(args[1]).unwrap()),
            ),
            "eunreg" => none(e.as_ref().unwrap().unregister(fd(args[0], &e))),
            "epoll" => {
                let max = (args[1] != "-").then(|| args[1].parse().expect("maxevents"));
                shown(e.as_ref().unwrap().poll(parse_timeout_token(args[0]), max))
            }
            "eclose" => none(e.as_mut().unwrap().close()),
            "eclosed" => Ok(Some(
                if e.as_ref().unwrap().closed() {
                    "True"
                } else {
                    "False"
                }
                .into(),
            )),
            other => panic!("unknown operation {other:?}"),
        };
        out.push(match result {
            Ok(None) => "OK".to_owned(),
            Ok(Some(r)) => format!("OK {r}"),
            Err(err) => format!("ERR {}: {err}", err.python_name()),
        });
    }
    out
}

/// The body of [`CHILD_ENTRY`] in a re-executed child: run the script on stdin, print one
/// prefixed line per operation.
pub fn child_main() {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .expect("read the script");
    let lines = run_script(&text);
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{RESULT_PREFIX}{line}").unwrap();
    }
}

/// The current test binary as a child running [`CHILD_ENTRY`], inheriting `fds`.
pub fn child_cmd(fds: Vec<RawFd>) -> Command {
    let mut cmd = rust_child_cmd(CHILD_ENTRY);
    pass_fds(&mut cmd, fds);
    cmd
}

/// `python3 -I testkit/fixtures/poll_epoll_calls.py`, inheriting `fds`.
pub fn python_cmd(fds: Vec<RawFd>) -> Command {
    let mut cmd = script_command(&fixture("poll_epoll_calls.py"), &[]);
    pass_fds(&mut cmd, fds);
    cmd
}

/// Run the script through pyselect (a child) and CPython; their output lines.
pub fn both(fds: &[RawFd], script: &str) -> (Vec<String>, Vec<String>) {
    let ours = run(child_cmd(fds.to_vec()), script).success("pyselect child");
    let theirs = run(python_cmd(fds.to_vec()), script).success("python3 poll_epoll_calls.py");
    (
        child_results(&ours.stdout),
        theirs.stdout.lines().map(str::to_owned).collect(),
    )
}

/// The syscalls these tests trace.
pub const TRACE: &str = "trace=poll,epoll_create1,epoll_ctl,epoll_wait,close";

/// Run `program` under `strace -f -qq -e FILTER` with `stdin`, strace and `program` inheriting
/// `fds`; panics unless it succeeded. Its stdout and the trace.
pub fn traced(
    program: Command,
    fds: &[RawFd],
    stdin: &str,
    stem: &str,
    filter: &str,
) -> (String, Trace) {
    let shown = format!("{program:?}");
    let (out, trace) = strace::run_passing(&program, fds, filter, &["-qq"], stdin, stem);
    (out.success(&format!("strace {shown}")).stdout, trace)
}

/// A script from its lines.
pub fn script(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// The poll scenarios of the differential and strace tests: every kind of fd, re-registering,
/// moving, mask 0, all 16 bits, every error, and timeouts that return at once.
pub fn poll_script() -> Vec<String> {
    let tm = |x: f64| timeout_token(Some(x));
    let mut s: Vec<String> = vec![
        "pnew".into(),
        // Nothing registered: poll([], 0, 0), a plain sleep.
        format!("ppoll {}", tm(0.0)),
    ];
    // Every kind of fd, with the default mask or a chosen one.
    for (fd, mask) in [
        (EMPTY_R, "-"),
        (EMPTY_W, "-"),
        (DATA_R, "1"),
        (UA, "-"),
        (UB, "4"),
        (PENDING, "1"),
        (IDLE, "1"),
        (OOB, "3"),
        (PLAIN, "-"),
        (EOF, "8199"), // POLLIN|POLLPRI|POLLOUT|POLLRDHUP
        (HUP_R, "-"),
        (BROKEN_W, "-"),
        (RESET, "8199"),
        (FILE, "-"),
        (CLOSED, "-"), // not open: POLLNVAL, no error
    ] {
        s.push(format!("preg {fd} {mask}"));
    }
    s.extend([
        format!("ppoll {}", tm(0.0)),
        format!("ppoll {}", timeout_token(None)),
        // Registering again overwrites the mask and keeps the place.
        format!("preg {EMPTY_R} 4"),
        format!("ppoll {}", tm(0.0)),
        // unregister + register moves the fd last.
        format!("punreg {EMPTY_W}"),
        format!("preg {EMPTY_W} -"),
        format!("ppoll {}", tm(0.0)),
        // Mask 0: only what the kernel always reports (ERR, HUP, NVAL).
        format!("pmod {DATA_R} 0"),
        format!("pmod {HUP_R} 0"),
        format!("pmod {BROKEN_W} 0"),
        format!("ppoll {}", tm(0.0)),
        // Any 16-bit mask is taken.
        format!("pmod {UB} 65535"),
        format!("ppoll {}", tm(0.0)),
        // Errors: unknown fds, negative fds.
        "pmod 71 1".into(),
        "punreg 71".into(),
        format!("punreg {CLOSED}"),
        format!("punreg {CLOSED}"),
        "punreg -1".into(),
        "preg -5 -".into(),
        "pmod -1 1".into(),
        // Timeouts (milliseconds) that return at once because fds are ready...
        format!("ppoll {}", tm(-1.0)),
        format!("ppoll {}", tm(-0.0001)),
        format!("ppoll {}", tm(0.0001)),
        format!("ppoll {}", tm(1.5)),
        format!("ppoll {}", tm(-0.0)),
        format!("ppoll {}", tm(2147483647.0)),
        format!("ppoll {}", tm(-2147483648.0)),
        // ... and the ones that fail.
        format!("ppoll {}", tm(NAN)),
        format!("ppoll {}", tm(INF)),
        format!("ppoll {}", tm(-INF)),
        format!("ppoll {}", tm(2147483648.0)),
        format!("ppoll {}", tm(-2147483649.0)),
        format!("ppoll {}", tm(9.3e12)),
        format!("ppoll {}", tm(1e300)),
        // A fresh object with nothing ready: empty results.
        "pnew".into(),
        format!("preg {EMPTY_R} -"),
        format!("preg {IDLE} -"),
        format!("ppoll {}", tm(0.0)),
        format!("ppoll {}", tm(1.0)),
        format!("punreg {EMPTY_R}"),
        format!("punreg {IDLE}"),
        format!("ppoll {}", tm(0.5)),
    ]);
    s
}

/// The epoll scenarios: every kind of fd, ready order and round robin, every kernel error,
/// edge-triggering, maxevents, timeouts, the closed object, the constructor, fromfd.
pub fn epoll_script() -> Vec<String> {
    let tm = |x: f64| timeout_token(Some(x));
    let mut s: Vec<String> = vec!["enew".into(), "eclosed".into()];
    for (fd, mask) in [
        (EMPTY_R, "-"),
        (EMPTY_W, "-"),
        (DATA_R, "1"),
        (UA, "-"),
        (UB, "4"),
        (PENDING, "1"),
        (IDLE, "1"),
        (OOB, "3"),
        (PLAIN, "-"),
        (EOF, "8199"),
        (HUP_R, "-"),
        (BROKEN_W, "-"),
        (RESET, "8199"),
    ] {
        s.push(format!("ereg {fd} {mask}"));
    }
    s.extend([
        // The kernel's ready order, then round robin with a small maxevents.
        format!("epoll {} -", tm(0.0)),
        format!("epoll {} -", timeout_token(None)),
        format!("epoll {} 1", tm(0.0)),
        format!("epoll {} 1", tm(0.0)),
        format!("epoll {} 2", tm(0.0)),
        // Kernel errors, each from its errno.
        format!("ereg {EMPTY_W} -"),
        format!("emod {CLOSED} 1"),
        format!("eunreg {IDLE}"),
        format!("eunreg {IDLE}"),
        format!("emod {IDLE} 1"),
        format!("ereg {CLOSED} -"),
        format!("ereg {FILE} -"),
        "ereg E -".into(),
        format!("ereg {IDLE} 4294967295"),
        "ereg -1 -".into(),
        "emod -3 1".into(),
        "eunreg -1".into(),
        // Edge-triggered: reported once, then not until the state changes.
        format!("emod {EMPTY_W} 2147483652"),
        format!("epoll {} 64", tm(0.0)),
        format!("epoll {} 64", tm(0.0)),
        format!("emod {EMPTY_W} 4"),
        // maxevents and timeouts (seconds).
        format!("epoll {} 0", tm(0.0)),
        format!("epoll {} -2", tm(0.0)),
        format!("epoll {} -1", tm(0.0)),
        format!("epoll {} 0", tm(NAN)),
        format!("epoll {} 3", tm(-0.0001)),
        format!("epoll {} 3", tm(-0.001)),
        format!("epoll {} 3", tm(2147483.647)),
        format!("epoll {} 3", tm(2147483.648)),
        format!("epoll {} 3", tm(-3000000.0)),
        format!("epoll {} 3", tm(1e20)),
        format!("epoll {} 3", tm(INF)),
        format!("epoll {} 3", tm(1e-9)),
        // Closed: every method but close/closed fails, after the fd check.
        "eclose".into(),
        "eclosed".into(),
        "eclose".into(),
        format!("ereg {DATA_R} -"),
        "ereg -1 -".into(),
        format!("emod {DATA_R} 1"),
        format!("eunreg {DATA_R}"),
        format!("epoll {} 0", tm(NAN)),
        format!("epoll {} -", tm(0.0)),
        // The constructor's checks.
        "eopts 0 0".into(),
        "eopts -2 0".into(),
        "eopts 0 1".into(),
        "eopts -1 1".into(),
        "eopts -1 7".into(),
        "eopts 5 524288".into(),
        format!("ereg {DATA_R} 1"),
        format!("epoll {} -", tm(0.0)),
        // fromfd of something that is not an epoll: the kernel refuses the wait.
        format!("efromdup {EMPTY_W}"),
        format!("epoll {} -", tm(0.0)),
        "eclose".into(),
        // A new epoll with nothing registered: a plain 1 ms sleep.
        "enew".into(),
        format!("epoll {} -", tm(0.001)),
        format!("ereg {EMPTY_R} -"),
        format!("epoll {} -", tm(0.0)),
    ]);
    s
}
