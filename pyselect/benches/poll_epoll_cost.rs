//! Cost of one `Poll::poll(Some(0.0))` and one `Epoll::poll(Some(0.0), None)` against a C
//! program making the same call (`bench/poll_epoll_floor.c`), at 1, 64 and 1,000 watched fds
//! (or the list given, up to 10,000) with one of them ready.
//!
//! A `harness = false` bench. Run it with
//!
//! ```text
//! cargo bench --bench poll_epoll_cost              # 7 rounds, default call counts
//! cargo bench --bench poll_epoll_cost -- 15 2.0    # 15 rounds, twice the calls per round
//! cargo bench --bench poll_epoll_cost -- 5 0.5 1,10,100,1000,5000,10000   # other K
//! ```
//!
//! It compiles the C floor with `cc -O2` (or `$CC`) into Cargo's target tmp dir, then for each
//! (call, K) alternates the two contenders round by round (one measurement of M calls each per
//! round, who goes first alternating too), so that a noisy neighbour hits both alike. It prints one `result` line per
//! measurement and, per (call, K), the best (lowest) CPU time per call of each and their
//! ratio:
//!
//! ```text
//! result contender=pyselect kind=poll k=64 ready=1 iters=M ns_per_call=X cpu_ns_per_call=Y found=1
//! summary kind=poll k=64 pyselect_cpu_ns=Y1 c_floor_cpu_ns=Y2 ratio=Y1/Y2
//! ```
//!
//! CPU time is this thread's (`CLOCK_THREAD_CPUTIME_ID`): it leaves out the time other
//! programs take the CPU away. The watched fds, as in the C floor: a table of 10,000 whose last
//! 1,000 are one end of `UnixStream` pairs (the peers moved above 10,100) and whose first 9,000
//! are dups of one more pair's end that never becomes readable (so that 10,000 watched fds fit
//! in a 20,000-file RLIMIT_NOFILE). A set of K is the table's last K: distinct sockets up to
//! 1,000, the idle dups beyond; the ready one is always the last, the highest fd.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::Instant;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use pyselect::{Epoll, Poll, EPOLLIN, POLLIN};

const MAX_K: usize = 10_000;
/// How many of the watched fds are distinct socketpair ends (the last ones of the table).
const REAL_K: usize = 1000;
const PEER_BASE: RawFd = 10_100;
const KS: [usize; 3] = [1, 64, 1000];

/// This thread's CPU time in ns.
fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

struct Pairs {
    /// The table of watched fds: `MAX_K - REAL_K` idle dups, then `REAL_K` pair ends.
    watched: Vec<OwnedFd>,
    /// The peer of the last watched fd, which makes it readable.
    ready_peer: UnixStream,
    /// A dup of the last watched fd (not watched), to read the byte back.
    ready_end: UnixStream,
    /// The other peers (kept open, so their ends never read EOF) and the idle pair.
    _keep: Vec<UnixStream>,
}

fn make_pairs() -> Result<Pairs, String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let want = PEER_BASE as u64 + REAL_K as u64 + 16;
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).map_err(|e| e.to_string())?;
    }
    let (idle, idle_peer) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let mut watched = Vec::with_capacity(MAX_K);
    for _ in 0..MAX_K - REAL_K {
        let fd = idle.as_fd().try_clone_to_owned();
        watched.push(fd.map_err(|e| format!("dup: {e}"))?);
    }
    let mut keep = vec![idle, idle_peer];
    let mut ready_peer = None;
    for _ in 0..REAL_K {
        let (end, peer) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        // SAFETY: F_DUPFD_CLOEXEC creates a new fd and closes nothing.
        let high = unsafe { libc::fcntl(peer.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PEER_BASE) };
        if high < 0 {
            return Err(format!("fcntl: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: `high` was just returned by fcntl and nothing else owns it.
        let high = UnixStream::from(unsafe { OwnedFd::from_raw_fd(high) });
        drop(peer);
        watched.push(OwnedFd::from(end));
        keep.extend(ready_peer.replace(high));
    }
    let last = watched.last().expect("MAX_K > 0").try_clone();
    let ready_end = UnixStream::from(last.map_err(|e| format!("dup: {e}"))?);
    Ok(Pairs {
        ready_end,
        watched,
        ready_peer: ready_peer.expect("REAL_K > 0"),
        _keep: keep,
    })
}

/// One measurement of `iters` calls by pyselect: (wall ns per call, CPU ns per call, found).
fn measure_rust(pairs: &mut Pairs, kind: &str, k: usize, iters: u64) -> (f64, f64, usize) {
    (&pairs.ready_peer).write_all(b"x").unwrap();
    let fds: Vec<RawFd> = pairs.watched[MAX_K - k..]
        .iter()
        .map(AsRawFd::as_raw_fd)
        .collect();
    let mut found = 0;
    let (wall, cpu);
    if kind == "poll" {
        let mut p = Poll::new();
        for &fd in &fds {
            p.register(fd, Some(POLLIN)).unwrap();
        }
        // The first call builds the pollfd array; the timed ones reuse it, as CPython's.
        p.poll(Some(0.0)).unwrap();
        let (w0, c0) = (Instant::now(), thread_cpu_ns());
        for _ in 0..iters {
            let ready = p.poll(black_box(Some(0.0))).unwrap();
            found = black_box(ready).len();
        }
        (wall, cpu) = (w0.elapsed().as_nanos() as f64, thread_cpu_ns() - c0);
    } else {
        let ep = Epoll::new().unwrap();
        for &fd in &fds {
            ep.register(fd, Some(EPOLLIN)).unwrap();
        }
        let (w0, c0) = (Instant::now(), thread_cpu_ns());
        for _ in 0..iters {
            let ready = ep.poll(black_box(Some(0.0)), None).unwrap();
            found = black_box(ready).len();
        }
        (wall, cpu) = (w0.elapsed().as_nanos() as f64, thread_cpu_ns() - c0);
    }
    let mut byte = [0u8];
    (&pairs.ready_end).read_exact(&mut byte).unwrap();
    (wall / iters as f64, cpu / iters as f64, found)
}

/// The C floor, built and running, fed one command per measurement.
struct Floor {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Floor {
    fn start() -> Result<Floor, String> {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/poll_epoll_floor.c");
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("poll_epoll_floor");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&cc)
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(src)
            .status()
            .map_err(|e| format!("cannot run {cc} to build the C floor: {e}"))?;
        if !status.success() {
            return Err(format!("{cc} failed to build {src}"));
        }
        let mut child = Command::new(&exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Ok(Floor {
            child,
            stdin,
            stdout,
        })
    }

    /// One measurement: (wall ns per call, CPU ns per call, found), and the line it printed.
    fn measure(&mut self, kind: &str, k: usize, iters: u64) -> (f64, f64, String) {
        writeln!(self.stdin, "{kind} {k} {iters}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                .parse()
                .unwrap()
        };
        (
            field("ns_per_call="),
            field("cpu_ns_per_call="),
            line.trim_end().to_owned(),
        )
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(7);
    let scale: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let ks: Vec<usize> = match args.get(2) {
        None => KS.to_vec(),
        Some(list) => match list
            .split(',')
            .map(|k| k.parse().ok().filter(|k| (1..=MAX_K).contains(k)))
            .collect::<Option<Vec<usize>>>()
        {
            Some(ks) => ks,
            None => {
                eprintln!("poll_epoll_cost: K list {list:?}: each K from 1 to {MAX_K}");
                return ExitCode::from(2);
            }
        },
    };
    let mut pairs = match make_pairs() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("poll_epoll_cost: {e}");
            return ExitCode::from(2);
        }
    };
    let mut floor = match Floor::start() {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("poll_epoll_cost: {e}; measuring pyselect only");
            None
        }
    };
    for kind in ["poll", "epoll"] {
        for &k in &ks {
            // About 20-40 ms per measurement: poll's cost grows with K (some 50 ns a watched
            // fd), epoll's does not.
            let per_call_ns = match kind {
                "poll" => 300.0 + 50.0 * k as f64,
                _ => 500.0,
            };
            let iters = ((3e7 / per_call_ns * scale) as u64).max(1);
            let (mut best_rs, mut best_c) = (f64::INFINITY, f64::INFINITY);
            for round in 0..rounds {
                // Alternate who goes first, so neither always runs on a warmer cache.
                for turn in [round % 2, 1 - round % 2] {
                    if turn == 0 {
                        let (wall, cpu, found) = measure_rust(&mut pairs, kind, k, iters);
                        assert_eq!(found, 1, "one fd is ready");
                        println!(
                            "result contender=pyselect kind={kind} k={k} ready=1 iters={iters} \
                             ns_per_call={wall:.1} cpu_ns_per_call={cpu:.1} found={found}"
                        );
                        best_rs = best_rs.min(cpu);
                    } else if let Some(f) = floor.as_mut() {
                        let (_, cpu, line) = f.measure(kind, k, iters);
                        println!("{line}");
                        best_c = best_c.min(cpu);
                    }
                }
            }
            if floor.is_some() {
                println!(
                    "summary kind={kind} k={k} pyselect_cpu_ns={best_rs:.1} \
                     c_floor_cpu_ns={best_c:.1} ratio={:.3}",
                    best_rs / best_c
                );
            } else {
                println!("summary kind={kind} k={k} pyselect_cpu_ns={best_rs:.1}");
            }
        }
    }
    ExitCode::SUCCESS
}
