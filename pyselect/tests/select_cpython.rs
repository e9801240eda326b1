//! Differential test: `pyselect::select` against CPython's `select.select` on the very same
//! file descriptions.
//!
//! This process sets up pipes, socket pairs and loopback TCP connections in known states
//! (readable, writable, urgent data pending, peer closed, connection pending, closed fd...),
//! runs every scenario through `pyselect::select` with raw fd numbers, then hands the fds to
//! one `python3` process at the same numbers (FD_CLOEXEC cleared in the child) which runs the
//! same calls with `testkit/fixtures/select_calls.py`. Nothing is read or written between the
//! two runs, so each fd's readiness is the same for both. The ready lists (fds in input order,
//! repeats kept) or the exception class and `str(exc)` must be identical.
//!
//! Needs `python3`; without it the test fails with a message saying so.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::poll::PollFlags;
use nix::sys::socket::{send, MsgFlags};

use testkit::fd::{pipe, wait_ready};
use testkit::pyref::{self, Call};
// The tests here create fds at fixed numbers (900, 1024) and hand fds to children: one at a
// time (`serial`), so that no other test's fd leaks into a child or takes a number.
use testkit::{child, fd, python, serial};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Every fd the scenarios use, kept open for the whole test.
struct World {
    /// An empty pipe: the read end is never ready, the write end is writable.
    empty_r: OwnedFd,
    empty_w: OwnedFd,
    /// A pipe with data waiting: the read end is readable.
    data_r: OwnedFd,
    _data_w: OwnedFd,
    /// An AF_UNIX stream pair, nothing sent: both writable, neither readable.
    ua: UnixStream,
    ub: UnixStream,
    /// A listener with a completed connection waiting in its accept queue, and one without.
    pending: TcpListener,
    idle: TcpListener,
    _pending_client: TcpStream,
    /// The accepted end of a connection whose peer sent one byte with MSG_OOB.
    oob: TcpStream,
    _oob_client: TcpStream,
    /// The accepted end of a quiet connection.
    plain: TcpStream,
    _plain_client: TcpStream,
    /// The accepted end of a connection whose peer has closed (EOF pending).
    eof: TcpStream,
    /// A number that was an fd a moment ago and is closed now (high, so nothing reuses it).
    closed: RawFd,
    /// An fd numbered exactly FD_SETSIZE (1024), if the rlimit allows one.
    fd1024: Option<OwnedFd>,
}

fn accepted(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (server, client)
}

impl World {
    fn new() -> Self {
        let (empty_r, empty_w) = pipe();
        let (data_r, data_w) = pipe();
        std::fs::File::from(data_w.try_clone().unwrap())
            .write_all(b"data")
            .unwrap();
        let (ua, ub) = UnixStream::pair().expect("socketpair");

        let bind = || TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let pending = bind();
        let idle = bind();
        let pending_client = TcpStream::connect(pending.local_addr().unwrap()).unwrap();
        wait_ready(&pending, PollFlags::POLLIN);

        let server = bind();
        let (oob, oob_client) = accepted(&server);
        assert_eq!(
            send(oob_client.as_raw_fd(), b"!", MsgFlags::MSG_OOB).unwrap(),
            1
        );
        wait_ready(&oob, PollFlags::POLLPRI);
        let (plain, plain_client) = accepted(&server);
        let (eof, eof_client) = accepted(&server);
        eof_client.shutdown(Shutdown::Both).unwrap();
        drop(eof_client);
        wait_ready(&eof, PollFlags::POLLIN); // no data was sent: POLLIN is the FIN

        let closed = {
            let fd = fd::move_fd(data_r.try_clone().unwrap(), 900);
            fd.as_raw_fd()
        };
        // fd 1024 itself, when RLIMIT_NOFILE allows it (F_DUPFD_CLOEXEC takes the lowest free
        // number >= 1024; with lower fds all taken by this test only, that is 1024 or nothing).
        let fd1024 = {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) only creates a new fd; it closes nothing.
            let fd = unsafe { libc::fcntl(data_r.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1024) };
            match fd {
                1024 => {
                    // SAFETY: fcntl just returned 1024, a new fd nothing else owns.
                    Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
                }
                -1 => None,
                other => panic!("fd 1024 was already open (got {other})"),
            }
        };

        World {
            empty_r,
            empty_w,
            data_r,
            _data_w: data_w,
            ua,
            ub,
            pending,
            idle,
            _pending_client: pending_client,
            oob,
            _oob_client: oob_client,
            plain,
            _plain_client: plain_client,
            eof,
            closed,
            fd1024,
        }
    }

    /// The open fds the Python process must inherit.
    fn open_fds(&self) -> Vec<RawFd> {
        let mut fds = vec![
            self.empty_r.as_raw_fd(),
            self.empty_w.as_raw_fd(),
            self.data_r.as_raw_fd(),
            self.ua.as_raw_fd(),
            self.ub.as_raw_fd(),
            self.pending.as_raw_fd(),
            self.idle.as_raw_fd(),
            self.oob.as_raw_fd(),
            self.plain.as_raw_fd(),
            self.eof.as_raw_fd(),
        ];
        fds.extend(self.fd1024.as_ref().map(AsRawFd::as_raw_fd));
        fds
    }
}

/// The scenarios: a name and a call on the world's fds.
fn scenarios(w: &World) -> Vec<(&'static str, Call)> {
    let er = w.empty_r.as_raw_fd();
    let ew = w.empty_w.as_raw_fd();
    let dr = w.data_r.as_raw_fd();
    let (ua, ub) = (w.ua.as_raw_fd(), w.ub.as_raw_fd());
    let (pending, idle) = (w.pending.as_raw_fd(), w.idle.as_raw_fd());
    let (oob, plain, eof) = (w.oob.as_raw_fd(), w.plain.as_raw_fd(), w.eof.as_raw_fd());
    let closed = w.closed;
    let big = 1024; // open or not, the number alone is refused
    let c = Call::new;
    let many = |fd: RawFd, n: usize| vec![fd; n];
    let with = |mut v: Vec<RawFd>, fd: RawFd| {
        v.push(fd);
        v
    };
    vec![
        ("readable pipe", c(&[er, dr], &[], &[], Some(0.0))),
        (
            "writable socketpair",
            c(&[ua, ub], &[ua, ub], &[], Some(0.0)),
        ),
        (
            "nothing ready, timeout 0",
            c(&[er, ua], &[], &[er, ua, dr], Some(0.0)),
        ),
        ("nothing ready, 1e-7 s", c(&[er], &[], &[], Some(1e-7))),
        ("None with a ready fd", c(&[er, dr], &[], &[], None)),
        (
            "pending connection",
            c(&[idle, pending], &[], &[], Some(0.0)),
        ),
        (
            "MSG_OOB shows in xlist only",
            c(&[plain, oob], &[], &[plain, oob, dr], Some(0.0)),
        ),
        (
            "EOF from a closed peer",
            c(&[eof], &[eof], &[eof], Some(0.0)),
        ),
        (
            "duplicates kept in input order",
            c(&[dr, dr, er, dr], &[ua, ua, ew, ua], &[], Some(0.0)),
        ),
        (
            "all three lists",
            c(&[dr, eof, er], &[ew, plain], &[oob], None),
        ),
        ("empty lists, timeout 0", c(&[], &[], &[], Some(0.0))),
        (
            "closed fd in rlist: EBADF",
            c(&[dr, closed], &[], &[], Some(0.0)),
        ),
        ("closed fd in xlist: EBADF", c(&[dr], &[], &[closed], None)),
        ("negative fd", c(&[-1], &[], &[], Some(0.0))),
        ("negative fd after good lists", c(&[dr], &[ew], &[-7], None)),
        ("fd == FD_SETSIZE", c(&[dr, big], &[], &[], Some(0.0))),
        ("fd == i32::MAX", c(&[], &[i32::MAX], &[], Some(0.0))),
        (
            "exactly 1024 entries",
            c(&many(dr, 1024), &[], &[], Some(0.0)),
        ),
        ("1025 entries", c(&many(dr, 1025), &[], &[], Some(0.0))),
        (
            "1024 entries then a negative fd: the fd check comes first",
            c(&with(many(dr, 1024), -1), &[], &[], Some(0.0)),
        ),
        (
            "1024 entries then fd 1024: the range check comes first",
            c(&with(many(dr, 1024), big), &[], &[], Some(0.0)),
        ),
        ("NaN timeout", c(&[dr], &[], &[], Some(NAN))),
        ("-1 timeout", c(&[dr], &[], &[], Some(-1.0))),
        ("-1e-10 timeout", c(&[dr], &[], &[], Some(-1e-10))),
        ("inf timeout", c(&[dr], &[], &[], Some(INF))),
        ("-inf timeout", c(&[dr], &[], &[], Some(-INF))),
        ("1e300 timeout", c(&[dr], &[], &[], Some(1e300))),
        (
            "bad timeout before bad fd (NaN, -1)",
            c(&[-1], &[], &[], Some(NAN)),
        ),
        (
            "bad timeout before closed fd (-1.0, EBADF)",
            c(&[closed], &[], &[], Some(-1.0)),
        ),
        (
            "bad timeout before out-of-range fd (inf, 1024)",
            c(&[big], &[], &[], Some(INF)),
        ),
        (
            "bad rlist entry before bad wlist entry (1024, -1)",
            c(&[big], &[-1], &[], Some(0.0)),
        ),
        (
            "bad wlist entry before the kernel sees a closed rlist fd",
            c(&[closed], &[-3], &[], Some(0.0)),
        ),
        (
            "bad wlist entry before 1025 xlist entries",
            c(&[dr], &[-2], &many(er, 1025), Some(0.0)),
        ),
    ]
}

#[test]
fn select_matches_cpython_on_the_same_fds() {
    let _serial = serial();
    let world = World::new();
    let scenarios = scenarios(&world);
    let calls: Vec<Call> = scenarios.iter().map(|(_, c)| c.clone()).collect();

    // pyselect first, then CPython: select() reads no data, so nothing changes in between.
    let ours = pyref::run_calls(&calls);

    let mut cmd = python::script_command(&testkit::fixture("select_calls.py"), &[]);
    fd::pass_fds(&mut cmd, world.open_fds());
    let out = child::run(cmd, &pyref::calls_text(&calls)).success("python3 select_calls.py");
    // An older 3.11's known wording, as the reference words it (see `testkit::python`).
    let theirs: Vec<String> = out.stdout.lines().map(python::as_reference).collect();
    assert_eq!(
        theirs.len(),
        scenarios.len(),
        "python3 printed:\n{}",
        out.stdout
    );

    let mismatches: Vec<String> = scenarios
        .iter()
        .zip(&ours)
        .zip(&theirs)
        .filter(|((_, ours), theirs)| ours != theirs)
        .map(|(((name, _), ours), theirs)| {
            format!("{name}:\n  pyselect: {ours}\n  CPython:  {theirs}")
        })
        .collect();
    python::assert_no_mismatches(&mismatches, scenarios.len(), "scenarios");
}

#[test]
fn oob_eof_pending_and_ebadf_as_the_spec_says() {
    // The SPEC's points about what each list reports, on both sides, spelled out (this also
    // keeps the fixtures honest: a scenario cannot silently degrade into "nothing ready").
    let _serial = serial();
    let world = World::new();
    let dr = world.data_r.as_raw_fd();
    let (oob, plain, eof) = (
        world.oob.as_raw_fd(),
        world.plain.as_raw_fd(),
        world.eof.as_raw_fd(),
    );
    let (idle, pending) = (world.idle.as_raw_fd(), world.pending.as_raw_fd());
    let calls = vec![
        // Urgent data shows in xlist, and only there; a pipe is never exceptional.
        Call::new(&[plain, oob], &[], &[plain, oob, dr], Some(0.0)),
        // A peer's FIN shows as readable (EOF) and writable, not exceptional.
        Call::new(&[eof], &[eof], &[eof], Some(0.0)),
        // A listener with a connection to accept is readable.
        Call::new(&[idle, pending], &[], &[], Some(0.0)),
        // One closed fd fails the whole call.
        Call::new(&[dr, world.closed], &[], &[], Some(0.0)),
    ];
    let expected = [
        format!("OK r=[] w=[] x=[{oob}]"),
        format!("OK r=[{eof}] w=[{eof}] x=[]"),
        format!("OK r=[{pending}] w=[] x=[]"),
        "ERR OSError: [Errno 9] Bad file descriptor".to_owned(),
    ];
    assert_eq!(pyref::run_calls(&calls), expected, "pyselect");
    let mut cmd = python::script_command(&testkit::fixture("select_calls.py"), &[]);
    fd::pass_fds(&mut cmd, world.open_fds());
    let out = child::run(cmd, &pyref::calls_text(&calls)).success("python3 select_calls.py");
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected, "CPython");
}
