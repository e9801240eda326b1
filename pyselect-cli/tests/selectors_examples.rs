//! The two examples run as their Python originals run: `pyselect-cli/examples/selectors_echo.rs` beside the
//! echo server of Python's `selectors` documentation (`testkit/fixtures/selectors_echo.py`), and
//! `pyselect-cli/examples/seed_select_server.rs` beside the seed's third server
//! (`testkit/fixtures/seed_select_server.py`). Each program is driven through the same steps by
//! loopback clients on ports the kernel chose; every step waits for the line the server prints
//! for it, so the output order is fixed, and the two outputs must be the same line for line
//! (ports aside). Every process is killed by pid at the end.
//!
//! Needs `python3`; without it the tests fail with a message saying so.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nix::sys::signal::Signal;

use testkit::child::{ChildGuard, Lines};
use testkit::python::script_command;
use testkit::server::{connect_port as connect, listed_ports};
use testkit::strace::{normalise_epoll_line, Trace, TracedProcess};
use testkit::{fixture, LIMIT};

/// The example `name`, built by a nested `cargo build --example` into the target directory
/// this test binary was built in (whatever chose it: `CARGO_TARGET_DIR`, `--target-dir`,
/// `build.target-dir`; its `tmp/` is `CARGO_TARGET_TMPDIR`), in the same profile; the path is
/// the one cargo reports, never a guess. When `cargo test` has built the examples already,
/// this finds them fresh.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .is_some_and(|profile| profile.ends_with("release"));
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is <target dir>/tmp");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "--message-format=json",
        "--example",
        name,
    ])
    .arg("--target-dir")
    .arg(target_dir)
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let what = format!("cargo build --example {name}");
    // A compile is the one wait here that is not over in a second when all is well (cargo
    // test --tests does not build the examples, and a busy 2-core machine is slow to link):
    // ten times the hang bound, which still only turns a hang into a failure.
    let out = ChildGuard::spawn(&mut cmd, &what)
        .output(LIMIT * 10)
        .success(&what);
    let bin = out
        .stdout
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter_map(|l| l.split(r#""executable":""#).nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(PathBuf::from)
        .find(|p| p.file_name().is_some_and(|f| f == name))
        .unwrap_or_else(|| panic!("cargo named no executable for {name}:\n{}", out.stdout));
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

/// How a server program under test runs.
enum Run {
    /// On its own, under the process guard, its stdout and stderr read line by line.
    Plain {
        guard: ChildGuard,
        stdout: Lines,
        stderr: Lines,
    },
    /// Under strace (the one traced-process runner).
    Traced(TracedProcess),
}

/// A server program under test.
struct Server {
    run: Run,
    /// Every stdout line expected so far.
    lines: Vec<String>,
}

impl Server {
    fn start(mut cmd: Command, what: &str) -> Server {
        let mut guard = ChildGuard::spawn(&mut cmd, what);
        let stdout = Lines::read(guard.take_stdout());
        let stderr = Lines::read(guard.take_stderr());
        Server {
            run: Run::Plain {
                guard,
                stdout,
                stderr,
            },
            lines: Vec::new(),
        }
    }

    /// `cmd` under `strace -f -qq -e trace=epoll_create1,epoll_ctl,epoll_wait`.
    fn start_traced(cmd: &Command, tag: &str) -> Server {
        let filter = "trace=epoll_create1,epoll_ctl,epoll_wait";
        Server {
            run: Run::Traced(TracedProcess::start(tag, cmd, filter, &["-qq"])),
            lines: Vec::new(),
        }
    }

    /// The ports of the `listening on` line on stderr (`HOST:PORT` words).
    fn listening(&mut self) -> Vec<u16> {
        match &mut self.run {
            Run::Plain { stderr, .. } => {
                let line = stderr
                    .next(Instant::now() + LIMIT)
                    .unwrap_or_else(|| panic!("no listening line: {:?}", stderr.lines()));
                assert!(line.contains("listening on"), "stderr said {line:?}");
                listed_ports(&line)
            }
            Run::Traced(traced) => traced.wait_listening(),
        }
    }

    /// Wait for the next stdout line, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) {
        let (stdout, stderr) = match &mut self.run {
            Run::Plain { stdout, stderr, .. } => (stdout, stderr.text()),
            Run::Traced(traced) => {
                let err = traced.stderr();
                (traced.stdout(), err)
            }
        };
        let line = stdout.next(Instant::now() + LIMIT).unwrap_or_else(|| {
            panic!(
                "no stdout line {prefix:?}; so far: {:?}; stderr: {stderr:?}",
                self.lines
            )
        });
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        self.lines.push(line);
    }

    /// Kill the program by pid (it must still be running) and return its stdout lines, and
    /// under strace the trace, complete once strace has exited after its program.
    fn stop(self) -> (Vec<String>, Option<Trace>) {
        match self.run {
            Run::Plain { guard, .. } => {
                guard.signal(Signal::SIGKILL);
                // The guard reaps it.
                drop(guard);
                (self.lines, None)
            }
            Run::Traced(traced) => {
                let (_, _, trace) = traced.kill();
                (self.lines, Some(trace))
            }
        }
    }
}

/// `text` with each port replaced by its name.
fn normalise(lines: &[String], ports: &[(u16, &str)]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            ports.iter().fold(l.clone(), |l, (port, name)| {
                l.replace(&format!(", {port})"), &format!(", {name})"))
                    .replace(&format!("welcome {port}!"), &format!("welcome {name}!"))
            })
        })
        .collect()
}

fn local_port(s: &TcpStream) -> u16 {
    s.local_addr().unwrap().port()
}

/// Drive an echo server: two clients at once, each echoed, then closed one after the other.
/// Its stdout lines, ports named, and its trace if it ran under strace.
fn drive_echo(mut server: Server) -> (Vec<String>, Option<Trace>) {
    let [port] = server.listening()[..] else {
        panic!("one listening port expected")
    };
    let mut a = connect(port);
    server.expect("accepted ");
    let b = connect(port);
    server.expect("accepted ");
    for (mut client, msg) in [(&a, &b"hello"[..]), (&b, b"it's me"), (&a, b"\x00\n")] {
        client.write_all(msg).unwrap();
        let mut back = vec![0; msg.len()];
        client.read_exact(&mut back).expect("the echo");
        assert_eq!(back, msg);
        server.expect("echoing ");
    }
    let (port_a, port_b) = (local_port(&a), local_port(&b));
    a.shutdown(Shutdown::Write).unwrap();
    server.expect("closing ");
    let mut rest = Vec::new();
    a.read_to_end(&mut rest).expect("EOF after the close");
    assert!(rest.is_empty());
    drop(b);
    server.expect("closing ");
    // A third client, accepted only once the server is back in select(): by then it has
    // finished with b (unregister, close), so a trace of it is complete up to here.
    let c = connect(port);
    server.expect("accepted ");
    let names = [
        (port, "LPORT"),
        (port_a, "A"),
        (port_b, "B"),
        (local_port(&c), "C"),
    ];
    let (lines, trace) = server.stop();
    (normalise(&lines, &names), trace)
}

#[test]
fn selectors_echo_matches_pythons_documentation_example() {
    let mut rust = Command::new(example("selectors_echo"));
    rust.arg("0");
    let (ours, _) = drive_echo(Server::start(rust, "examples/selectors_echo"));

    let py = script_command(&fixture("selectors_echo.py"), &["0"]);
    let (theirs, _) = drive_echo(Server::start(py, "python3 selectors_echo.py"));

    assert_eq!(ours.len(), 8, "{ours:#?}");
    assert_eq!(
        ours[0],
        "accepted <socket.socket fd=5, family=2, type=1, proto=0, \
         laddr=('127.0.0.1', LPORT), raddr=('127.0.0.1', A)> from ('127.0.0.1', A)"
    );
    assert_eq!(
        ours[2],
        "echoing b'hello' to <socket.socket fd=5, family=2, type=1, proto=0, \
         laddr=('127.0.0.1', LPORT), raddr=('127.0.0.1', A)>"
    );
    assert_eq!(
        ours, theirs,
        "the Rust example (left) against Python's (right)"
    );
}

/// Drive the seed's select server: one client per port, each reply read to EOF.
fn drive_seed(mut server: Server) -> Vec<String> {
    let ports = server.listening();
    assert_eq!(ports.len(), 2, "two listening ports expected: {ports:?}");
    let mut names = vec![(ports[0], "P1"), (ports[1], "P2")];
    let client_names = ["C1", "C2", "C3"];
    for (i, &port) in [ports[0], ports[1], ports[0]].iter().enumerate() {
        let mut c = connect(port);
        names.push((local_port(&c), client_names[i]));
        c.write_all(b"hi").unwrap();
        let mut reply = Vec::new();
        c.read_to_end(&mut reply).expect("the reply, to EOF");
        assert_eq!(reply, format!("welcome {port}!").as_bytes());
        server.expect(if port == ports[0] {
            "hello socket1"
        } else {
            "hello socket2"
        });
        server.expect("[('127.0.0.1', ");
    }
    normalise(&server.stop().0, &names)
}

#[test]
fn seed_select_server_matches_the_seeds_program() {
    let mut rust = Command::new(example("seed_select_server"));
    rust.args(["0", "0", "127.0.0.1"]);
    let ours = drive_seed(Server::start(rust, "examples/seed_select_server"));

    // Unbuffered (`-u`), as the seed's lesson runs it: each line is printed as it happens.
    let mut py = Command::new(testkit::python::exe());
    py.args(["-I", "-u"])
        .arg(fixture("seed_select_server.py"))
        .args(["0", "0", "127.0.0.1"]);
    let theirs = drive_seed(Server::start(py, "python3 seed_select_server.py"));

    assert_eq!(
        ours,
        [
            "hello socket1",
            "[('127.0.0.1', C1)] message : b'hi'",
            "hello socket2",
            "[('127.0.0.1', C2)] message : b'hi'",
            "hello socket1",
            "[('127.0.0.1', C3)] message : b'hi'",
        ]
    );
    assert_eq!(
        ours, theirs,
        "the Rust example (left) against the seed's (right)"
    );
}

/// The completed epoll calls of a trace, one line each, normalised by
/// [`normalise_epoll_line`] (CPython's uninitialised upper half of `data.u64`, bpo-35561, and
/// the address of `EPOLL_CTL_DEL`'s event pointer).
fn epoll_calls(trace: &Trace) -> Vec<String> {
    trace
        .lines
        .iter()
        .filter(|l| l.name().starts_with("epoll_") && l.split().is_some())
        .map(|l| normalise_epoll_line(&l.text))
        .collect()
}

#[test]
fn selectors_echo_makes_cpythons_epoll_calls() {
    let mut rust = Command::new(example("selectors_echo"));
    rust.arg("0");
    let py = script_command(&fixture("selectors_echo.py"), &["0"]);
    let mut calls = Vec::new();
    for (cmd, tag) in [(rust, "echo-rs"), (py, "echo-py")] {
        let (_, trace) = drive_echo(Server::start_traced(&cmd, tag));
        calls.push(epoll_calls(&trace.expect("a traced run has a trace")));
    }
    let (ours, theirs) = (&calls[0], &calls[1]);
    // Python's import-time probe (epoll_create1 + close) comes first: compare from the
    // selector's own epoll_create1, the last one before the first epoll_ctl.
    let from = |c: &[String]| {
        let ctl = c
            .iter()
            .position(|l| l.starts_with("epoll_ctl"))
            .expect("epoll_ctl");
        c[..ctl]
            .iter()
            .rposition(|l| l.starts_with("epoll_create1"))
            .expect("epoll_create1")
    };
    // ...up to b's unregister, the last EPOLL_CTL_DEL: what follows (the third client's
    // accept) may be cut short by the kill.
    let upto = |c: &[String]| {
        1 + c
            .iter()
            .rposition(|l| l.contains("EPOLL_CTL_DEL"))
            .expect("EPOLL_CTL_DEL")
    };
    let (ours, theirs) = (
        &ours[from(ours)..upto(ours)],
        &theirs[from(theirs)..upto(theirs)],
    );
    assert_eq!(
        ours.iter().filter(|l| l.contains("EPOLL_CTL_DEL")).count(),
        2,
        "both clients unregistered:\n{ours:#?}"
    );
    assert!(
        ours.iter().filter(|l| l.starts_with("epoll_wait")).count() >= 5,
        "one wait per event at least:\n{ours:#?}"
    );
    assert_eq!(
        ours, theirs,
        "the Rust example's epoll calls (left) against Python's (right)"
    );
}
