//! The buffer-reusing calls (`select_into`, `Poll::poll_into`, `Epoll::poll_into`) beside C,
//! the Python-shaped calls and the peers (nix, rustix, mio, polling), in one interleaved run.
//!
//! A `harness = false` bench; `bench/run.py --only peers` runs it, or by hand:
//!
//! ```text
//! cargo bench --bench peers_cost                          # 9 rounds, K = 1,64,1000 / 1,64,1000,10000
//! cargo bench --bench peers_cost -- 15 1.0 1,64 1,10000   # ROUNDS SCALE SELECT_KS POLL_KS
//! ```
//!
//! Every call has timeout 0 and one of K watched fds ready (AF_UNIX socketpair ends; for poll
//! and epoll beyond 1,000 dups of one idle end, as in `benches/poll_epoll_cost.rs`). Each call
//! ends with the ready `(fd, events)` (or ready fds) in a caller's buffer, as the C programs
//! leave them: `bench/select_floor.c` (rebuild the `fd_set`, `select()`, scan the list) and
//! `bench/poll_epoll_floor.c` (a kept `pollfd` array or event buffer, the pairs copied out),
//! built here with `cc -O2` (or `$CC`). The contenders:
//!
//! - `libc`: the C program's own loop, written in Rust in this process (`libc::poll`,
//!   `libc::epoll_wait`, which go through glibc as the C program's do): what a Rust program
//!   pays for the same calls;
//! - select: `pyselect::select_into` and `pyselect::select` over `RawFd`s; nix
//!   `sys::select::select` rebuilding its `FdSet` (rustix, mio and polling have no select);
//! - poll: `Poll::poll_into`, `Poll::poll`; nix `poll::poll` and rustix `event::poll` over a
//!   kept `PollFd` array, scanned into a kept vector;
//! - epoll: `Epoll::poll_into`, `Epoll::poll` (maxevents 1,023, Python's default); rustix
//!   `epoll::wait` into a kept 1,023-event buffer; mio `Poll::poll` (edge-triggered: it
//!   reports the ready fd on the first call only, so its timed calls find nothing; `found`
//!   says so); polling `Poller::wait` (level-triggered).
//!
//! For each (call, K) it runs ROUNDS rounds; in each, every contender makes one measurement of
//! M calls, the order rotating round by round, so that a noisy neighbour hits all alike. CPU
//! time is the measuring thread's (`CLOCK_THREAD_CPUTIME_ID`). Output: one `result` line per
//! measurement, then per (call, K, contender) a summary with the best CPU time per call and
//! the median over rounds of the ratio to C's measurement of the same round:
//!
//! ```text
//! result kind=poll k=64 contender=rustix iters=M cpu_ns_per_call=Y found=1
//! summary kind=poll k=64 contender=rustix best_cpu_ns=Y c_best_cpu_ns=C best_ratio=R median_ratio=Q found=1
//! ```

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::Duration;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use pyselect::{select, select_into, Epoll, EpollEvents, Poll, ReadyLists, EPOLLIN, POLLIN};

/// The poll/epoll table: `MAX_K` fds, the last `REAL_K` distinct pair ends.
const MAX_K: usize = 10_000;
const REAL_K: usize = 1000;
/// select's pairs: the watched ends below `FD_SETSIZE`, the peers from 1,100 up.
const SELECT_MAX_K: usize = 1000;
const SELECT_PEER_BASE: RawFd = 1100;
const POLL_PEER_BASE: RawFd = 12_000;
const MAXEVENTS: usize = 1023;

const SELECT: [&str; 4] = ["c", "pyselect-into", "pyselect", "nix"];
const POLL: [&str; 6] = ["c", "libc", "pyselect-into", "pyselect", "nix", "rustix"];
const EPOLL: [&str; 7] = [
    "c",
    "libc",
    "pyselect-into",
    "pyselect",
    "rustix",
    "mio",
    "polling",
];

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

/// `fd` duplicated at or above `base`, close-on-exec.
fn dup_above(fd: &impl AsFd, base: RawFd) -> Result<UnixStream, String> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new fd and closes nothing.
    let high = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_DUPFD_CLOEXEC, base) };
    if high < 0 {
        return Err(format!("fcntl: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `high` was just returned by fcntl and nothing else owns it.
    Ok(UnixStream::from(unsafe { OwnedFd::from_raw_fd(high) }))
}

/// The watched fds and the peers that make them readable.
struct Table {
    /// `idle` dups of one idle end, then the `real` pair ends.
    watched: Vec<UnixStream>,
    /// The peer of each pair end (`watched[idle + i]` for `peers[i]`).
    peers: Vec<UnixStream>,
    idle: usize,
    _keep: Vec<UnixStream>,
}

impl Table {
    /// `idle` dups of one idle end, then `real` pair ends whose peers sit at `peer_base` up.
    fn new(idle: usize, real: usize, peer_base: RawFd) -> Result<Table, String> {
        let (idle_end, idle_peer) = UnixStream::pair().map_err(|e| e.to_string())?;
        let mut watched = Vec::with_capacity(idle + real);
        for _ in 0..idle {
            watched.push(idle_end.try_clone().map_err(|e| e.to_string())?);
        }
        let mut peers = Vec::with_capacity(real);
        for _ in 0..real {
            let (end, peer) = UnixStream::pair().map_err(|e| e.to_string())?;
            peers.push(dup_above(&peer, peer_base)?);
            drop(peer);
            watched.push(end);
        }
        Ok(Table {
            watched,
            peers,
            idle,
            _keep: vec![idle_end, idle_peer],
        })
    }

    /// The K watched fds of a measurement and the index in the table of the one made ready:
    /// select's are the first K (the K-th ready, as in bench/select_floor.c), poll's and
    /// epoll's the last K (the last ready, as in bench/poll_epoll_floor.c).
    fn set(&self, kind: &str, k: usize) -> (&[UnixStream], usize) {
        if kind == "select" {
            (&self.watched[..k], k - 1)
        } else {
            let n = self.watched.len();
            (&self.watched[n - k..], n - 1)
        }
    }

    /// A byte for `watched[i]` to read (`ready`), or that byte read back.
    fn poke(&self, i: usize, ready: bool) -> Result<(), String> {
        let peer = &self.peers[i - self.idle];
        let mut byte = [b'x'];
        let done = if ready {
            (&*peer).write_all(&byte)
        } else {
            (&self.watched[i]).read_exact(&mut byte)
        };
        done.map_err(|e| e.to_string())
    }
}

/// A C floor, fed one command per measurement.
struct Floor {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Floor {
    fn start(name: &str, args: &[&str]) -> Result<Floor, String> {
        let src = format!("{}/../bench/{name}.c", env!("CARGO_MANIFEST_DIR"));
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("peers_{name}"));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(&cc)
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(&src)
            .status()
            .map_err(|e| format!("cannot run {cc}: {e}"))?;
        if !status.success() {
            return Err(format!("{cc} failed to build {src}"));
        }
        let mut child = Command::new(&exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Floor {
            child,
            stdin,
            stdout,
        })
    }

    /// Send `command`, read `lines` lines; (CPU ns per call, found) of the one with `ready=1`.
    fn measure(&mut self, command: &str, lines: usize) -> (f64, usize) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut out = None;
        for _ in 0..lines {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let field = |name: &str| -> f64 {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                    .parse()
                    .unwrap()
            };
            if line.contains(" ready=1 ") {
                out = Some((field("cpu_ns_per_call="), field("found=") as usize));
            }
        }
        out.expect("a ready=1 line")
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Warm up, then time `iters` calls: (CPU ns per call, what the last call found).
fn time(iters: u64, mut call: impl FnMut() -> usize) -> (f64, usize) {
    let mut found = 0;
    for _ in 0..iters / 20 + 2 {
        found = black_box(call());
    }
    let c0 = thread_cpu_ns();
    for _ in 0..iters {
        found = black_box(call());
    }
    ((thread_cpu_ns() - c0) / iters as f64, found)
}

fn raw(fds: &[UnixStream]) -> Vec<RawFd> {
    fds.iter().map(AsRawFd::as_raw_fd).collect()
}

fn measure_select(who: &str, fds: &[UnixStream], iters: u64) -> (f64, usize) {
    let raw_fds = raw(fds);
    match who {
        "pyselect-into" => {
            let mut ready = ReadyLists::with_capacity(fds.len());
            time(iters, || {
                select_into(raw_fds.iter().copied(), [], [], Some(0.0), &mut ready).unwrap();
                ready.readable.len()
            })
        }
        "pyselect" => time(iters, || {
            let (r, w, x) = select(raw_fds.iter().copied(), [], [], Some(0.0)).unwrap();
            black_box((&w, &x));
            r.len()
        }),
        _ => {
            let mut out: Vec<RawFd> = Vec::with_capacity(fds.len());
            time(iters, || {
                let mut set = nix::sys::select::FdSet::new();
                let mut maxfd = -1;
                for fd in fds {
                    set.insert(fd.as_fd());
                    maxfd = maxfd.max(fd.as_raw_fd());
                }
                let mut tv = nix::sys::time::TimeVal::new(0, 0);
                nix::sys::select::select(maxfd + 1, &mut set, None, None, &mut tv).unwrap();
                out.clear();
                out.extend(
                    fds.iter()
                        .filter(|fd| set.contains(fd.as_fd()))
                        .map(AsRawFd::as_raw_fd),
                );
                out.len()
            })
        }
    }
}

fn measure_poll(who: &str, fds: &[UnixStream], iters: u64) -> (f64, usize) {
    let mut out: Vec<(RawFd, u16)> = Vec::with_capacity(fds.len());
    match who {
        "pyselect-into" | "pyselect" => {
            let mut p = Poll::new();
            for fd in fds {
                p.register(fd, Some(POLLIN)).unwrap();
            }
            if who == "pyselect" {
                return time(iters, || p.poll(black_box(Some(0.0))).unwrap().len());
            }
            time(iters, || {
                p.poll_into(black_box(Some(0.0)), &mut out).unwrap();
                out.len()
            })
        }
        "libc" => {
            let mut pfds: Vec<libc::pollfd> = fds
                .iter()
                .map(|fd| libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            time(iters, || {
                // SAFETY: `pfds` is a live, writable array of exactly `pfds.len()` pollfds.
                let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 0) };
                assert!(n >= 0, "poll");
                out.clear();
                for p in &pfds {
                    if out.len() == n as usize {
                        break;
                    }
                    if p.revents != 0 {
                        out.push((p.fd, p.revents as u16));
                    }
                }
                out.len()
            })
        }
        "nix" => {
            use nix::poll::{PollFd, PollFlags};
            let mut pfds: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            time(iters, || {
                let n = nix::poll::poll(&mut pfds, nix::poll::PollTimeout::ZERO).unwrap() as usize;
                out.clear();
                for (p, fd) in pfds.iter().zip(fds) {
                    if out.len() == n {
                        break;
                    }
                    if let Some(ev) = p.revents().filter(|ev| !ev.is_empty()) {
                        out.push((fd.as_raw_fd(), ev.bits() as u16));
                    }
                }
                out.len()
            })
        }
        _ => {
            use rustix::event::{PollFd, PollFlags, Timespec};
            let mut pfds: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(fd, PollFlags::IN))
                .collect();
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            time(iters, || {
                let n = rustix::event::poll(&mut pfds, Some(&zero)).unwrap();
                out.clear();
                for (p, fd) in pfds.iter().zip(fds) {
                    if out.len() == n {
                        break;
                    }
                    let ev = p.revents();
                    if !ev.is_empty() {
                        out.push((fd.as_raw_fd(), ev.bits()));
                    }
                }
                out.len()
            })
        }
    }
}

fn measure_epoll(who: &str, fds: &[UnixStream], iters: u64) -> (f64, usize) {
    let mut out: Vec<(RawFd, u32)> = Vec::with_capacity(MAXEVENTS);
    match who {
        "pyselect-into" | "pyselect" => {
            let ep = Epoll::new().unwrap();
            for fd in fds {
                ep.register(fd, Some(EPOLLIN)).unwrap();
            }
            if who == "pyselect" {
                return time(iters, || ep.poll(black_box(Some(0.0)), None).unwrap().len());
            }
            let mut events = EpollEvents::with_capacity(MAXEVENTS);
            time(iters, || {
                ep.poll_into(black_box(Some(0.0)), None, &mut events)
                    .unwrap();
                events.len()
            })
        }
        "libc" => {
            let ep = Epoll::new().unwrap();
            for fd in fds {
                ep.register(fd, Some(EPOLLIN)).unwrap();
            }
            let zeroed = libc::epoll_event { events: 0, u64: 0 };
            let mut buf = vec![zeroed; MAXEVENTS];
            let epfd = ep.fileno().unwrap();
            time(iters, || {
                // SAFETY: `buf` holds MAXEVENTS writable events and the kernel writes at most
                // that many.
                let n = unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), MAXEVENTS as i32, 0) };
                assert!(n >= 0, "epoll_wait");
                out.clear();
                out.extend(buf[..n as usize].iter().map(|ev| {
                    let (data, events) = (ev.u64, ev.events);
                    (data as RawFd, events)
                }));
                out.len()
            })
        }
        "rustix" => {
            use rustix::event::epoll;
            let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
            for fd in fds {
                let data = epoll::EventData::new_u64(fd.as_raw_fd() as u64);
                epoll::add(&ep, fd, data, epoll::EventFlags::IN).unwrap();
            }
            let mut buf: Vec<epoll::Event> = Vec::with_capacity(MAXEVENTS);
            let zero = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            time(iters, || {
                buf.clear();
                let spare = rustix::buffer::spare_capacity(&mut buf);
                epoll::wait(&ep, spare, Some(&zero)).unwrap();
                out.clear();
                out.extend(buf.iter().map(|ev| {
                    let (data, flags) = (ev.data, ev.flags);
                    (data.u64() as RawFd, flags.bits())
                }));
                out.len()
            })
        }
        "mio" => {
            use mio::unix::SourceFd;
            let mut poll = mio::Poll::new().unwrap();
            for (i, fd) in fds.iter().enumerate() {
                let raw = fd.as_raw_fd();
                poll.registry()
                    .register(&mut SourceFd(&raw), mio::Token(i), mio::Interest::READABLE)
                    .unwrap();
            }
            let mut events = mio::Events::with_capacity(MAXEVENTS);
            time(iters, || {
                poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
                events.iter().count()
            })
        }
        _ => {
            use polling::{Event, Events, PollMode, Poller};
            let poller = Poller::new().unwrap();
            for (i, fd) in fds.iter().enumerate() {
                // SAFETY: every fd stays open (the table owns it) until after `poller` is
                // dropped at the end of this function, which unregisters nothing but closes
                // the epoll instance; no fd is registered twice.
                unsafe {
                    poller
                        .add_with_mode(fd.as_raw_fd(), Event::readable(i), PollMode::Level)
                        .unwrap();
                }
            }
            let cap = std::num::NonZeroUsize::new(MAXEVENTS).unwrap();
            let mut events = Events::with_capacity(cap);
            time(iters, || {
                events.clear();
                poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
                events.len()
            })
        }
    }
}

fn parse_ks(arg: Option<&String>, default: &[usize], max: usize) -> Result<Vec<usize>, String> {
    let Some(list) = arg else {
        return Ok(default.to_vec());
    };
    list.split(',')
        .map(|k| match k.parse() {
            Ok(k) if (1..=max).contains(&k) => Ok(k),
            _ => Err(format!("K {k:?}: each K from 1 to {max}")),
        })
        .collect()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(9);
    let scale: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let select_ks = parse_ks(args.get(2), &[1, 64, 1000], SELECT_MAX_K)?;
    let poll_ks = parse_ks(args.get(3), &[1, 64, 1000, 10_000], MAX_K)?;

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let want = POLL_PEER_BASE as u64 + REAL_K as u64 + 64;
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).map_err(|e| e.to_string())?;
    }
    // select's pairs first, so that their watched ends take the lowest fds, as in the C floor.
    let select_table = Table::new(0, SELECT_MAX_K, SELECT_PEER_BASE)?;
    let poll_table = Table::new(MAX_K - REAL_K, REAL_K, POLL_PEER_BASE)?;
    let max_select_k = SELECT_MAX_K.to_string();
    let mut select_floor = Floor::start("select_floor", &[&max_select_k, "stdin"])?;
    let mut poll_floor = Floor::start("poll_epoll_floor", &[])?;

    let mut stdout = std::io::stdout().lock();
    for (kind, ks, who_list) in [
        ("select", &select_ks, &SELECT[..]),
        ("poll", &poll_ks, &POLL[..]),
        ("epoll", &poll_ks, &EPOLL[..]),
    ] {
        let table = if kind == "select" {
            &select_table
        } else {
            &poll_table
        };
        for &k in ks.iter() {
            // About 10-20 ms a measurement: select and poll cost some 50 ns a watched fd.
            let per_call = match kind {
                "epoll" => 500.0,
                _ => 350.0 + 55.0 * k as f64,
            };
            let iters = ((1.5e7 / per_call * scale) as u64).max(1);
            let (fds, ready_at) = table.set(kind, k);
            let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); who_list.len()];
            let mut found = vec![0usize; who_list.len()];
            for round in 0..rounds {
                for turn in 0..who_list.len() {
                    let i = (turn + round) % who_list.len();
                    let who = who_list[i];
                    table.poke(ready_at, true)?;
                    let (ns, n) = match (kind, who) {
                        ("select", "c") => select_floor.measure(&format!("{k} {iters}"), 2),
                        (_, "c") => poll_floor.measure(&format!("{kind} {k} {iters}"), 1),
                        ("select", _) => measure_select(who, fds, iters),
                        ("poll", _) => measure_poll(who, fds, iters),
                        _ => measure_epoll(who, fds, iters),
                    };
                    table.poke(ready_at, false)?;
                    writeln!(
                        stdout,
                        "result kind={kind} k={k} contender={who} iters={iters} \
                         cpu_ns_per_call={ns:.1} found={n}"
                    )
                    .map_err(|e| e.to_string())?;
                    cpu[i].push(ns);
                    found[i] = n;
                }
            }
            let c = cpu[0].clone();
            let c_best = c.iter().copied().fold(f64::INFINITY, f64::min);
            for (i, who) in who_list.iter().enumerate() {
                let best = cpu[i].iter().copied().fold(f64::INFINITY, f64::min);
                let mut ratios: Vec<f64> = cpu[i].iter().zip(&c).map(|(a, b)| a / b).collect();
                writeln!(
                    stdout,
                    "summary kind={kind} k={k} contender={who} best_cpu_ns={best:.1} \
                     c_best_cpu_ns={c_best:.1} best_ratio={:.3} median_ratio={:.3} found={}",
                    best / c_best,
                    median(&mut ratios),
                    found[i]
                )
                .map_err(|e| e.to_string())?;
            }
            stdout.flush().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers_cost: {e}");
            ExitCode::from(2)
        }
    }
}
