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
//! (`scripts/cargo-bin`). The CPython programs are the seed's servers in `testkit/fixtures/`
//! (`seed_blocking_server.py`, `seed_timeout_server.py`, `seed_select_server.py`) and, for
//! multiplex mode, `testkit/fixtures/selectors_server.py` with `SelectSelector`, `PollSelector` or
//! `EpollSelector` by backend; they run on the real interpreter behind `python3` (not a pyenv
//! shim), with `-u` so that each `print()` shows where it happens. The client is
//! `pyselect-client`, sending `hi`.
//!
//! The strace runner, the parser and the per-connection slice are the test suite's own
//! (`testkit/src/strace.rs`, from the one helper crate), and so is the comparison
//! (`testkit/src/compare.rs`: normalising, renumbering fds, aligning, explaining): this program
//! reads traces exactly as the strace tests do, and `pyselect-cli/tests/compare.rs` tests both.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};
use std::time::Duration;

use nix::sys::signal::Signal;
use testkit::child::ChildGuard;
use testkit::compare::{self, align, explain, fd_map, renumber, role_name, wrap};
use testkit::strace::{filter, strace_works, Trace, TracedProcess};

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
    let python = testkit::python::interpreter();
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
    let path = testkit::fixture(script).display().to_string();
    let mut args = vec!["-u", "-I", path.as_str()];
    args.extend(selector);
    args.extend(if opts.mode == "blocking" {
        &["0"][..]
    } else {
        &["0", "0"][..]
    });
    args.push("127.0.0.1");
    let title = format!(
        "CPython {}.{}.{} -u testkit/fixtures/{script}{}",
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
    let mut waiting = testkit::proc::waiting_syscalls();
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
/// One side's connection, normalised (see [`testkit::compare`]).
fn side(
    title: String,
    trace: &Trace,
    ports: &[u16],
    stdout: String,
    mode: &str,
) -> Result<Side, String> {
    let conn = compare::connection(trace, mode)?;
    Ok(Side {
        title,
        lines: compare::normalise(&conn.lines, ports, conn.client_port),
        roles: conn.roles,
        stdout,
    })
}

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
    let map = fd_map(&c.roles, &p.roles);
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
    let rows = align(&p.lines, &c_lines);
    let moved = compare::moved(&rows);
    for ((l, r), moved) in rows.into_iter().zip(moved) {
        let mark = match (l, r) {
            (Some(a), Some(b)) if a == b => "=".to_string(),
            _ => {
                let sign = match (l, r) {
                    (Some(_), Some(_)) => "~",
                    (Some(_), None) => "<",
                    _ => ">",
                };
                match explain(l, r).or(moved.then_some(compare::MOVED)) {
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
