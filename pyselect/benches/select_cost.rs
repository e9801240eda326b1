//! Cost of one `select()` call from Rust, timed like `bench/select_floor.c`.
//!
//! A `harness = false` bench: `bench/run.py` builds it with
//! `cargo build --release --bench select_cost` and runs the binary directly,
//! interleaved with the C floor and CPython. It can also be run by hand:
//!
//! ```text
//! cargo bench --bench select_cost -- 1,8,64,256,1000 20000 pyselect-int
//! ```
//!
//! Arguments: `KLIST ITERLIST MODE`
//! - `KLIST`: comma-separated numbers of watched fds (at most 1000);
//! - `ITERLIST`: calls per measurement, one number or one per K; or `stdin`:
//!   then it sets up `max(KLIST)` pairs and reads commands `K M` from stdin,
//!   one measurement pair per line, until EOF (so that `bench/run.py` can
//!   interleave the contenders measurement by measurement);
//! - `MODE`: `nix` (`nix::sys::select::select` with an `FdSet`),
//!   `pyselect-int` (`pyselect::select` over a `Vec<RawFd>`),
//!   `pyselect-stream` (`pyselect::select` over a slice of `&UnixStream`),
//!   or `all` (not with `stdin`).
//!
//! For each K it measures "nothing ready", then "one ready" (a byte waiting on
//! the K-th watched socket), and prints one line per measurement:
//!
//! ```text
//! result contender=MODE k=K ready=R iters=M ns_per_call=X cpu_ns_per_call=Y found=F
//! ```
//!
//! `X` is wall-clock time, `Y` this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which
//! leaves out the time other programs on a busy machine take the CPU away.
//!
//! The watched fds are one end of `UnixStream` pairs, all below `FD_SETSIZE`;
//! the peer ends are moved above 1024 with `F_DUPFD_CLOEXEC`, so that K=1000
//! fits. Every call has a zero timeout (a poll).

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Instant;

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::select::FdSet;
use nix::sys::time::TimeVal;

/// Peer ends live at fds at or above this, out of the way of the watched ends.
const PEER_BASE: RawFd = 1100;
/// Largest K this harness sets up.
const MAX_K: usize = 1000;
/// Linux/glibc `FD_SETSIZE`: every watched fd must be below it.
const FD_LIMIT: RawFd = 1024;

/// The contenders this binary can time.
const MODES: [&str; 3] = ["nix", "pyselect-int", "pyselect-stream"];

/// The watched ends (as streams and as raw fds) and their high-numbered peers.
struct Pairs {
    streams: Vec<UnixStream>,
    fds: Vec<RawFd>,
    peers: Vec<UnixStream>,
}

fn parse_list(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(format!("bad number {s:?} in {text:?}")),
        })
        .collect()
}

/// Raise the soft `RLIMIT_NOFILE` so that the peers fit above 1024.
fn raise_nofile(want: u64) -> Result<(), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard)
            .map_err(|e| format!("setrlimit: {e}"))?;
    }
    Ok(())
}

/// Create `n` socketpairs: the watched end stays low, the peer is moved high.
fn make_pairs(n: usize) -> Result<Pairs, String> {
    let mut pairs = Pairs {
        streams: Vec::with_capacity(n),
        fds: Vec::with_capacity(n),
        peers: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let (watched, peer) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let high = fcntl(&peer, FcntlArg::F_DUPFD_CLOEXEC(PEER_BASE))
            .map_err(|e| format!("fcntl(F_DUPFD_CLOEXEC): {e}"))?;
        // SAFETY: `high` was just returned by F_DUPFD_CLOEXEC and nothing else owns it.
        let high = UnixStream::from(unsafe { OwnedFd::from_raw_fd(high) });
        drop(peer); // frees the low number for the next watched end
        if watched.as_raw_fd() >= FD_LIMIT {
            return Err(format!(
                "watched fd {} is not below FD_SETSIZE",
                watched.as_raw_fd()
            ));
        }
        pairs.fds.push(watched.as_raw_fd());
        pairs.streams.push(watched);
        pairs.peers.push(high);
    }
    Ok(pairs)
}

/// One `nix` call, wrapper-style: rebuild the `FdSet`, select, scan into `out`.
fn nix_call(streams: &[UnixStream], out: &mut Vec<RawFd>) -> usize {
    let mut set = FdSet::new();
    let mut maxfd = -1;
    for s in streams {
        set.insert(s.as_fd());
        maxfd = maxfd.max(s.as_raw_fd());
    }
    let mut tv = TimeVal::new(0, 0);
    nix::sys::select::select(maxfd + 1, &mut set, None, None, &mut tv).expect("select");
    out.clear();
    out.extend(
        streams
            .iter()
            .filter(|s| set.contains(s.as_fd()))
            .map(|s| s.as_raw_fd()),
    );
    out.len()
}

/// One `pyselect::select` call over raw fds.
fn pyselect_int_call(fds: &[RawFd]) -> usize {
    let (r, w, x) = pyselect::select(fds.iter().copied(), [], [], Some(0.0)).expect("select");
    black_box((&w, &x));
    r.len()
}

/// One `pyselect::select` call over `&UnixStream`s.
fn pyselect_stream_call(streams: &[UnixStream]) -> usize {
    let (r, w, x) = pyselect::select(streams.iter(), [], [], Some(0.0)).expect("select");
    black_box((&w, &x));
    r.len()
}

/// This thread's CPU time in ns: `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// Time `m` calls (after a short warm-up).
/// Returns (wall ns per call, CPU ns per call, ready fds found by the last call).
fn time_calls(m: usize, mut call: impl FnMut() -> usize) -> (f64, f64, usize) {
    let mut found = 0;
    for _ in 0..m / 10 + 1 {
        found = black_box(call());
    }
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    for _ in 0..m {
        found = black_box(call());
    }
    let elapsed = t0.elapsed();
    let cpu = thread_cpu_ns() - c0;
    (elapsed.as_nanos() as f64 / m as f64, cpu / m as f64, found)
}

/// Measure the first `k` pairs with `m` calls: nothing ready, then one ready.
fn measure(
    pairs: &mut Pairs,
    out: &mut Vec<RawFd>,
    mode: &str,
    k: usize,
    m: usize,
    stdout: &mut impl Write,
) -> Result<(), String> {
    for ready in 0..=1 {
        if ready == 1 {
            pairs.peers[k - 1]
                .write_all(b"x")
                .map_err(|e| e.to_string())?;
        }
        let streams = &pairs.streams[..k];
        let fds = &pairs.fds[..k];
        let (ns, cpu_ns, found) = match mode {
            "nix" => time_calls(m, || nix_call(streams, out)),
            "pyselect-int" => time_calls(m, || pyselect_int_call(fds)),
            _ => time_calls(m, || pyselect_stream_call(streams)),
        };
        if ready == 1 {
            let mut byte = [0u8; 1];
            (&pairs.streams[k - 1])
                .read_exact(&mut byte)
                .map_err(|e| e.to_string())?;
        }
        writeln!(
            stdout,
            "result contender={mode} k={k} ready={ready} iters={m} \
             ns_per_call={ns:.1} cpu_ns_per_call={cpu_ns:.1} found={found}"
        )
        .map_err(|e| e.to_string())?;
    }
    stdout.flush().map_err(|e| e.to_string())
}

/// Set up the pairs, then measure each K in turn, or each command from stdin.
fn run(ks: &[usize], iters: Option<&[usize]>, modes: &[&str]) -> Result<(), String> {
    let maxk = *ks.iter().max().ok_or("empty KLIST")?;
    if maxk > MAX_K {
        return Err(format!("K={maxk} above {MAX_K}"));
    }
    raise_nofile((PEER_BASE as u64) + (MAX_K as u64) + 64)?;
    let mut pairs = make_pairs(maxk)?;
    let mut out = Vec::with_capacity(maxk);
    let mut stdout = std::io::stdout().lock();

    let Some(iters) = iters else {
        let mode = modes.first().ok_or("no mode")?;
        for line in std::io::stdin().lines() {
            let line = line.map_err(|e| e.to_string())?;
            let nums: Vec<usize> = line
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            match nums[..] {
                [k, m] if (1..=maxk).contains(&k) && m > 0 => {
                    measure(&mut pairs, &mut out, mode, k, m, &mut stdout)?;
                }
                _ => return Err(format!("bad command {line:?}")),
            }
        }
        return Ok(());
    };
    for mode in modes {
        for (i, &k) in ks.iter().enumerate() {
            let m = iters[if iters.len() == 1 { 0 } else { i }];
            measure(&mut pairs, &mut out, mode, k, m, &mut stdout)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; ignore flags so that both ways work.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let ks = args.first().map_or("1,8,64,256,1000", String::as_str);
    let iters = args.get(1).map_or("2000", String::as_str);
    let mode = args.get(2).map_or("all", String::as_str);
    let modes: Vec<&str> = match mode {
        "all" => MODES.to_vec(),
        m if MODES.contains(&m) => vec![m],
        m => {
            eprintln!("unknown mode {m:?}; expected one of {MODES:?} or all");
            return ExitCode::from(2);
        }
    };
    if iters == "stdin" && modes.len() != 1 {
        eprintln!("select_cost: ITERLIST stdin needs one MODE");
        return ExitCode::from(2);
    }
    let parsed = parse_list(ks).and_then(|ks| {
        if iters == "stdin" {
            return Ok((ks, None));
        }
        let iters = parse_list(iters)?;
        if iters.len() != 1 && iters.len() != ks.len() {
            return Err(format!("ITERLIST needs 1 or {} entries", ks.len()));
        }
        Ok((ks, Some(iters)))
    });
    match parsed.and_then(|(ks, iters)| run(&ks, iters.as_deref(), &modes)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("select_cost: {e}");
            ExitCode::from(2)
        }
    }
}
