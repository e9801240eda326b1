//! `make compare`: one connection through `pyselect-server` and through the matching CPython
//! program, each under `strace -f`, printed side by side, normalised, each difference marked and
//! explained when it is a known one.
//!
//! ```text
//! cargo run --release --example compare -- --mode select|timeout|blocking|multiplex
//!     [--backend select|poll|epoll] --server PATH --client PATH
//! ```
//!
//! `make compare MODE=... [BACKEND=...]` runs it with the binaries cargo just built
//! (`scripts/cargo-bin`). The CPython programs are the seed's servers in `tests/fixtures/`
//! (`seed_blocking_server.py`, `seed_timeout_server.py`, `seed_select_server.py`) and, for
//! multiplex mode, `tests/fixtures/selectors_server.py` with `SelectSelector`, `PollSelector` or
//! `EpollSelector` by backend; they run on the real interpreter behind `python3` (not a pyenv
//! shim), with `-u` so that each `print()` shows where it happens. The client is
//! `pyselect-client`, sending `hi`.
//!
//! The strace runner, the parser and the per-connection slice are the test suite's own
//! (`tests/util/strace.rs`, included here with the rest of the one helper tree): this program
//! reads traces exactly as the strace tests do.

#[path = "../tests/util/mod.rs"]
mod util;

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::time::Duration;

use nix::sys::signal::Signal;
use util::child::ChildGuard;
use util::strace::{filter, normalise_poll_line, strace_works, Trace, TracedProcess};

const USAGE: &str = "usage: compare --mode select|timeout|blocking|multiplex \
                     [--backend select|poll|epoll] --server PATH --client PATH";

/// The calls the Makefile's filter leaves out that a poll/epoll trace needs.
const EXTRA_CALLS: &[&str] = &["epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait"];

struct Options {
    mode: String,
    backend: Option<String>,
    server: String,
    client: String,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut mode, mut backend, mut server, mut client) = (None, None, None, None);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--mode" => &mut mode,
            "--backend" => &mut backend,
            "--server" => &mut server,
            "--client" => &mut client,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        };
        *slot = Some(args.next().ok_or(format!("{arg} needs a value\n{USAGE}"))?);
    }
    let mode = mode.ok_or(USAGE)?;
    if !["select", "timeout", "blocking", "multiplex"].contains(&mode.as_str()) {
        return Err(format!(
            "MODE must be select, timeout, blocking or multiplex, not {mode:?}"
        ));
    }
    let backend = backend.filter(|b| !b.is_empty());
    if let Some(b) = &backend {
        if !["select", "poll", "epoll"].contains(&b.as_str()) {
            return Err(format!("BACKEND must be select, poll or epoll, not {b:?}"));
        }
    }
    Ok(Options {
        mode,
        backend,
        server: server.ok_or(USAGE)?,
        client: client.ok_or(USAGE)?,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("compare: {why}");
            ExitCode::FAILURE
        }
    }
}

/// One side's run: what was run, its per-connection lines, and what it printed.
struct Side {
    title: String,
    lines: Vec<String>,
    roles: BTreeMap<&'static str, i64>,
    stdout: String,
}

fn run() -> Result<(), String> {
    let opts = parse_args()?;
    strace_works()?;
    let python_ok = Command::new("python3")
        .args(["-c", "import sys; sys.exit(sys.version_info[0] != 3)"])
        .output()
        .map(|o| o.status.success());
    if !matches!(python_ok, Ok(true)) {
        return Err(
            "python3 (CPython 3) is not on PATH: the right-hand column is CPython's \
                    (`make deps` installs it)"
                .into(),
        );
    }
    let python = util::python::interpreter();
    let filter = {
        let mut f = filter();
        for call in EXTRA_CALLS {
            if !f.split([',', '=']).any(|c| c == *call) {
                f.push(',');
                f.push_str(call);
            }
        }
        f
    };
    let multiplex = opts.mode == "multiplex";
    if !multiplex && opts.backend.as_deref().is_some_and(|b| b != "select") {
        println!(
            "(BACKEND applies to MODE=multiplex only; ignored for {} mode)",
            opts.mode
        );
    }

    // pyselect-server: serves one connection and exits (--count 1).
    let ports = if opts.mode == "blocking" { "0" } else { "0,0" };
    let mut args = vec!["--ports", ports, "--count", "1", "--mode", &opts.mode];
    let backend = opts.backend.as_deref().filter(|_| multiplex);
    if let Some(b) = backend {
        args.extend(["--backend", b]);
    }
    let title = format!("pyselect-server {}", args.join(" "));
    let mut server =
        TracedProcess::spawn_filtered("compare-pyselect", &opts.server, &args, &[], &filter);
    let listening = server.try_wait_listening().map_err(|stderr| {
        let stderr = stderr.trim().to_string();
        if stderr.contains("unknown option") {
            format!(
                "this pyselect-server does not know an option `{title}` uses; it said:\n{stderr}\n\
                 (--backend comes with the poll and epoll backends: build a version that has them, \
                 or leave BACKEND unset for the select loop)"
            )
        } else {
            format!("`{title}` did not start listening; it said:\n{stderr}")
        }
    })?;
    let reply = client(&opts.client, listening[0])?;
    let (status, stdout, trace) = server.finish();
    if !status.success() {
        return Err(format!("`{title}` exited with {status}"));
    }
    let pyselect = side(title, &trace, &listening, stdout, &opts.mode)?;

    // The CPython program: never exits by itself; SIGTERM once the client has its reply (so
    // the server has closed the connection).
    let (script, selector) = match (opts.mode.as_str(), backend.unwrap_or("select")) {
        ("multiplex", "poll") => ("selectors_server.py", Some("PollSelector")),
        ("multiplex", "epoll") => ("selectors_server.py", Some("EpollSelector")),
        ("multiplex", _) => ("selectors_server.py", Some("SelectSelector")),
        (mode, _) => match mode {
            "blocking" => ("seed_blocking_server.py", None),
            "timeout" => ("seed_timeout_server.py", None),
            _ => ("seed_select_server.py", None),
        },
    };
    let path = util::fixture(script).display().to_string();
    let mut args = vec!["-u", "-I", path.as_str()];
    args.extend(selector);
    args.extend(if opts.mode == "blocking" {
        &["0"][..]
    } else {
        &["0", "0"][..]
    });
    args.push("127.0.0.1");
    let title = format!(
        "CPython {}.{}.{} -u tests/fixtures/{script}{}",
        python.version.0,
        python.version.1,
        python.patch,
        selector.map(|s| format!(" {s}")).unwrap_or_default()
    );
    let mut cpy =
        TracedProcess::spawn_filtered("compare-cpython", &python.exe, &args, &[], &filter);
    let ports = cpy
        .try_wait_listening()
        .map_err(|stderr| format!("`{title}` did not start listening; it said:\n{stderr}"))?;
    let cpy_reply = client(&opts.client, ports[0])?;
    // The client leaves once it has the reply, maybe before the server's close(): stop the
    // server only when it waits for the next client again.
    let mut waiting = util::proc::waiting_syscalls();
    waiting.extend([libc::SYS_epoll_wait, libc::SYS_epoll_pwait]);
    waiting.retain(|&nr| nr != libc::SYS_recvfrom);
    if !cpy.wait_blocked(&waiting) {
        return Err(
            "cannot read /proc/PID/syscall, so cannot tell when the CPython server has \
                    closed the connection"
                .into(),
        );
    }
    cpy.signal(Signal::SIGTERM);
    let (_, stdout, trace) = cpy.finish();
    let cpython = side(title, &trace, &ports, stdout, &opts.mode)?;

    print_report(&pyselect, &cpython, &reply, &cpy_reply);
    Ok(())
}

/// `pyselect-client --port PORT --message hi`: its output line.
fn client(exe: &str, port: u16) -> Result<String, String> {
    let mut cmd = Command::new(exe);
    cmd.args(["--port", &port.to_string(), "--message", "hi"]);
    let out = ChildGuard::spawn(&mut cmd, "pyselect-client").output(Duration::from_secs(60));
    if out.status.success() {
        Ok(out.stdout.trim_end().to_string())
    } else {
        Err(format!("the client failed: {}{}", out.stdout, out.stderr))
    }
}

/// The connection's lines from one trace, normalised: ports as P1, P2 and CPORT, timevals as
/// {T}, addresses as ADDR (and epoll data's uninitialised upper bits dropped, as the strace
/// tests do).
fn side(
    title: String,
    trace: &Trace,
    ports: &[u16],
    stdout: String,
    mode: &str,
) -> Result<Side, String> {
    let mut lines = trace.first_connection();
    if mode == "timeout" {
        // The round robin may have timed out a few times before the client came: start at the
        // `hello socketN` before the accept that took it.
        let accept = lines
            .iter()
            .position(|l| l.starts_with("accept4("))
            .unwrap_or(0);
        if let Some(hello) = lines[..accept]
            .iter()
            .rposition(|l| l.starts_with(r#"write(1, "hello socket"#))
        {
            lines.drain(..hello);
        }
    }
    let accept = lines
        .iter()
        .find(|l| l.starts_with("accept4(") && !l.contains("= -1"))
        .ok_or_else(|| {
            format!(
                "no accept4 in the connection's lines:\n{}",
                lines.join("\n")
            )
        })?;
    let cport: u16 = between(accept, "htons(", ")")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no client port in {accept}"))?;
    let mut roles = BTreeMap::new();
    let sockets = trace
        .lines
        .iter()
        .filter(|l| l.name() == "socket")
        .filter_map(|l| l.ret());
    for (role, fd) in ["L1", "L2"].into_iter().zip(sockets) {
        roles.insert(role, fd);
    }
    if let Some(ep) = trace.lines.iter().find(|l| l.name() == "epoll_create1") {
        roles.extend(ep.ret().map(|fd| ("EP", fd)));
    }
    roles.extend(
        accept
            .rsplit(" = ")
            .next()
            .and_then(|r| r.parse().ok())
            .map(|fd| ("C", fd)),
    );
    let mut names = vec![(cport, "CPORT")];
    names.extend(ports.iter().copied().zip(["P1", "P2"]));
    let lines = lines
        .iter()
        .map(|l| {
            let (mut l, _) = normalise_poll_line(l);
            for (port, name) in &names {
                for (a, b) in [("htons(", ")"), ("', ", ")"), ("welcome ", "!")] {
                    l = l.replace(&format!("{a}{port}{b}"), &format!("{a}{name}{b}"));
                }
            }
            replace_timevals(&l)
        })
        .collect();
    Ok(Side {
        title,
        lines,
        roles,
        stdout,
    })
}

/// The text between the first `open` and the next `close` after it.
fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let from = s.find(open)? + open.len();
    let to = from + s[from..].find(close)?;
    Some(&s[from..to])
}

/// `{tv_sec=9, tv_nsec=999997000}` (or tv_usec) becomes `{T}`: the time left, clock-dependent.
fn replace_timevals(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("{tv_sec=") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => {
                out.push_str("{T}");
                rest = &rest[i + j + 1..];
            }
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Renumbering fds (when the two programs' fds differ: CPython's EpollSelector opens its epoll
// fd before the listeners, for one)
// ---------------------------------------------------------------------------------------------

/// Calls whose first argument is an fd.
const FD_FIRST: &[&str] = &[
    "accept",
    "accept4",
    "recvfrom",
    "sendto",
    "close",
    "ioctl",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "bind",
    "listen",
    "shutdown",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "fcntl",
];

/// `line` with each fd in `map` renumbered: first arguments of fd calls, the fd an
/// `accept4`/`socket`/`epoll_create1` returns, `epoll_ctl`'s target, `fd=N` and `u32=N`/`u64=N`
/// in poll and epoll structures, the members of select sets, and select's nfds.
fn renumber(line: &str, map: &BTreeMap<i64, i64>) -> String {
    let f = |n: i64| *map.get(&n).unwrap_or(&n);
    let name = line.split('(').next().unwrap_or("");
    let mut out = line.to_string();
    // Each `N` after these markers.
    for marker in ["fd=", "u32=", "u64="] {
        out = map_numbers_after(&out, marker, f);
    }
    if let Some(open) = out.find('(') {
        let (head, tail) = out.split_at(open + 1);
        let end = tail.find([',', ')']).unwrap_or(0);
        let first: Option<i64> = tail[..end].parse().ok();
        if let Some(n) = first {
            let n = if FD_FIRST.contains(&name) {
                f(n)
            } else if matches!(name, "pselect6" | "select") && n > 0 {
                f(n - 1) + 1
            } else {
                n
            };
            out = format!("{head}{n}{}", &tail[end..]);
        }
    }
    if name == "epoll_ctl" {
        // epoll_ctl(EP, OP, FD, ...)
        let parts: Vec<&str> = out.splitn(4, ", ").collect();
        if parts.len() == 4 {
            if let Ok(n) = parts[2].parse::<i64>() {
                out = format!("{}, {}, {}, {}", parts[0], parts[1], f(n), parts[3]);
            }
        }
    }
    if matches!(name, "pselect6" | "select") {
        out = map_sets(&out, f);
    }
    if matches!(name, "accept4" | "accept" | "socket" | "epoll_create1") {
        if let Some((head, ret)) = out.rsplit_once(" = ") {
            if let Ok(n) = ret.parse::<i64>() {
                out = format!("{head} = {}", f(n));
            }
        }
    }
    out
}

fn map_numbers_after(s: &str, marker: &str, f: impl Fn(i64) -> i64) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let n = tail.bytes().take_while(u8::is_ascii_digit).count();
        match tail[..n].parse::<i64>() {
            Ok(v) => out.push_str(&f(v).to_string()),
            Err(_) => out.push_str(&tail[..n]),
        }
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// The members of every `[3 4 5]` set (numbers separated by spaces) mapped by `f`.
fn map_sets(s: &str, f: impl Fn(i64) -> i64) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        let end = tail.find(']').unwrap_or(0);
        let inner = &tail[..end];
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
            let mapped: Vec<String> = inner
                .split(' ')
                .map(|n| n.parse().map(|v| f(v).to_string()).unwrap_or_default())
                .collect();
            out.push_str(&mapped.join(" "));
        } else {
            out.push_str(inner);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Alignment and the known differences
// ---------------------------------------------------------------------------------------------

/// What lines up two calls: the name and first argument (`sendto(5`).
fn key(line: &str) -> &str {
    let end = line.find([',', ')']).unwrap_or(line.len());
    &line[..end]
}

/// Rows of (pyselect line, CPython line): the alignment that pairs the most lines with the
/// same call and first argument, equal lines and longer common beginnings first.
fn align<'a>(a: &'a [String], b: &'a [String]) -> Vec<(Option<&'a str>, Option<&'a str>)> {
    let (n, m) = (a.len(), b.len());
    let score = |i: usize, j: usize| -> Option<usize> {
        if a[i] == b[j] {
            return Some(1000);
        }
        if key(&a[i]) != key(&b[j]) {
            return None;
        }
        let common = a[i]
            .bytes()
            .zip(b[j].bytes())
            .take_while(|(x, y)| x == y)
            .count();
        Some(100 + common)
    };
    // best[i][j]: the best total for a[i..], b[j..].
    let mut best = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let mut v = best[i + 1][j].max(best[i][j + 1]);
            if let Some(s) = score(i, j) {
                v = v.max(s + best[i + 1][j + 1]);
            }
            best[i][j] = v;
        }
    }
    let (mut i, mut j, mut rows) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && score(i, j).is_some_and(|s| best[i][j] == s + best[i + 1][j + 1]) {
            rows.push((Some(a[i].as_str()), Some(b[j].as_str())));
            i += 1;
            j += 1;
        } else if i < n && (j == m || best[i][j] == best[i + 1][j]) {
            rows.push((Some(a[i].as_str()), None));
            i += 1;
        } else {
            rows.push((None, Some(b[j].as_str())));
            j += 1;
        }
    }
    rows
}

/// One phrase for a known difference between a pyselect line `p` and a CPython line `c`.
fn explain(p: Option<&str>, c: Option<&str>) -> Option<&'static str> {
    let starts = |l: Option<&str>, s: &str| l.is_some_and(|l| l.starts_with(s));
    let has = |l: Option<&str>, s: &str| l.is_some_and(|l| l.contains(s));
    match (p, c) {
        (None, Some(c)) if c.starts_with("getsockname(") => {
            Some("CPython calls getsockname on every accepted fd to build its socket object; pyselect's Socket needs no such call")
        }
        (None, Some(r#"write(1, "\n", 1) = 1"#)) => {
            Some("python3 -u: print() writes the text, then the newline: two writes per print")
        }
        (None, Some(c)) if c.starts_with("ioctl(") && c.contains("FIONBIO, [1]") => {
            Some("CPython's setblocking(False) on the accepted socket; pyselect keeps it blocking and asks MSG_DONTWAIT per call")
        }
        (None, Some(c)) if c.contains("EPOLL_CTL_DEL") => {
            Some("selectors unregisters the fd before closing it (close alone drops it from the epoll set)")
        }
        (Some(p), None) if p.starts_with("accept4(") && p.contains("EAGAIN") => {
            Some("pyselect's multiplex loop accepts until EAGAIN (empties the listen queue per wake-up); selectors accepts once per wake-up")
        }
        (Some(p), None) if p.contains("EPOLL_CTL_DEL") => {
            Some("pyselect unregisters the fd before closing it (close alone drops it from the epoll set)")
        }
        (Some(p), Some(c)) => {
            let (p, c) = (Some(p), Some(c));
            if starts(p, "accept4(") && has(p, "[128 => 16]") && has(c, "[16]") {
                Some("accept4's address length: pyselect offers a sockaddr_storage (128, the kernel writes back 16), CPython the family's size (16)")
            } else if starts(p, "sendto(") && has(p, "MSG_DONTWAIT|MSG_NOSIGNAL") {
                Some("pyselect sends with MSG_DONTWAIT (its sockets stay blocking) and MSG_NOSIGNAL (a reset is an error, never SIGPIPE); CPython ignores SIGPIPE at start-up")
            } else if starts(p, "sendto(") && has(p, "MSG_NOSIGNAL") {
                Some("MSG_NOSIGNAL: pyselect turns a peer's reset into an error, never SIGPIPE; CPython ignores SIGPIPE at start-up instead")
            } else if starts(p, "recvfrom(") && has(p, "MSG_DONTWAIT") {
                Some("pyselect's client sockets stay blocking and each call asks MSG_DONTWAIT; CPython set the socket non-blocking (ioctl FIONBIO)")
            } else if starts(p, "write(1, ") && has(p, r#"\n", "#) {
                Some("pyselect writes each line with its newline in one write(2); python3 -u writes the newline separately")
            } else if starts(p, "pselect6(") || starts(p, "select(") {
                Some("pyselect's multiplex loop also watches clients for urgent data (the except set) and wakes for the idle timeout")
            } else if starts(p, "poll(") || starts(p, "epoll_wait(") {
                Some("the wait's arguments: pyselect also asks for urgent data (POLLPRI/EPOLLPRI) and waits only until the idle deadline; selectors waits for reads, forever")
            } else if starts(p, "epoll_ctl(") {
                Some("the events registered: pyselect also asks EPOLLPRI (urgent data)")
            } else {
                None
            }
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

fn print_report(p: &Side, c: &Side, p_reply: &str, c_reply: &str) {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(200)
        .max(90);
    let col = (width - 7) / 2;
    // CPython's fds renumbered into pyselect's, by role, where they differ.
    let mut map = BTreeMap::new();
    for (role, fd) in &c.roles {
        if let Some(pfd) = p.roles.get(role) {
            if pfd != fd {
                map.insert(*fd, *pfd);
            }
        }
    }
    let c_lines: Vec<String> = c.lines.iter().map(|l| renumber(l, &map)).collect();
    println!("One connection (client: pyselect-client --message hi), each server under strace -f.");
    println!("Left:  {}", p.title);
    println!("Right: {}", c.title);
    println!("Normalised: P1/P2 = each server's listening ports, CPORT = the client's port, {{T}} = a timeval (time left), ADDR = a buffer address.");
    if !map.is_empty() {
        let shown: Vec<String> = map
            .iter()
            .map(|(from, to)| {
                let role = c
                    .roles
                    .iter()
                    .find(|(_, fd)| *fd == from)
                    .map_or("?", |(r, _)| r);
                format!("{from} -> {to} ({})", role_name(role))
            })
            .collect();
        println!(
            "CPython's fds renumbered as pyselect's: {}",
            shown.join(", ")
        );
    }
    println!("Marks: = same  ~ differs  < pyselect only  > CPython only; [n] a known difference, [?] not a known one.");
    println!();
    let (left, right) = ("pyselect-server", "CPython");
    println!("{left:<col$} {:^5} {right}", "");
    println!(
        "{:<col$} {:^5} {}",
        "-".repeat(left.len()),
        "",
        "-".repeat(right.len())
    );
    let mut notes: Vec<&'static str> = Vec::new();
    let mut unexplained = 0;
    for (l, r) in align(&p.lines, &c_lines) {
        let mark = match (l, r) {
            (Some(a), Some(b)) if a == b => "=".to_string(),
            _ => {
                let sign = match (l, r) {
                    (Some(_), Some(_)) => "~",
                    (Some(_), None) => "<",
                    _ => ">",
                };
                match explain(l, r) {
                    Some(note) => {
                        let n = match notes.iter().position(|x| *x == note) {
                            Some(i) => i + 1,
                            None => {
                                notes.push(note);
                                notes.len()
                            }
                        };
                        format!("{sign}[{n}]")
                    }
                    None => {
                        unexplained += 1;
                        format!("{sign}[?]")
                    }
                }
            }
        };
        let left = wrap(l.unwrap_or(""), col);
        let right = wrap(r.unwrap_or(""), col);
        for k in 0..left.len().max(right.len()) {
            let a = left.get(k).map_or("", String::as_str);
            let b = right.get(k).map_or("", String::as_str);
            let m = if k == 0 { mark.as_str() } else { "" };
            println!("{a:<col$} {m:^5} {b}");
        }
    }
    println!();
    if !notes.is_empty() || unexplained > 0 {
        println!("Differences:");
        for (i, note) in notes.iter().enumerate() {
            println!("  [{}] {note}", i + 1);
        }
        if unexplained > 0 {
            println!("  [?] {unexplained} line(s) differ in a way this tool does not know; see docs/STRACE.md");
        }
        println!();
    }
    println!(
        "pyselect-server printed: {:?}",
        p.stdout.lines().collect::<Vec<_>>()
    );
    println!(
        "CPython printed:         {:?}",
        c.stdout.lines().collect::<Vec<_>>()
    );
    println!("client, against pyselect: {p_reply}");
    println!("client, against CPython:  {c_reply}");
}

fn role_name(role: &str) -> &'static str {
    match role {
        "L1" => "first listener",
        "L2" => "second listener",
        "EP" => "epoll fd",
        "C" => "client",
        _ => "fd",
    }
}

/// `s` in pieces of at most `width` characters (continuations indented by two), broken after
/// a space where one falls in the second half of a piece.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = s.chars().collect();
    let mut room = width;
    while rest.len() > room {
        let cut = match rest[..room].iter().rposition(|&c| c == ' ') {
            Some(i) if i + 1 > room / 2 => i + 1,
            _ => room,
        };
        let piece: String = rest[..cut].iter().collect();
        out.push(piece.trim_end().to_string());
        rest.drain(..cut);
        room = width - 2;
    }
    out.push(rest.iter().collect());
    for piece in out.iter_mut().skip(1) {
        piece.insert_str(0, "  ");
    }
    out
}
