//! The two examples run as their Python originals run: `examples/selectors_echo.rs` beside the
//! echo server of Python's `selectors` documentation (`tests/fixtures/selectors_echo.py`), and
//! `examples/seed_select_server.rs` beside the seed's third server
//! (`tests/fixtures/seed_select_server.py`). Each program is driven through the same steps by
//! loopback clients on ports the kernel chose; every step waits for the line the server prints
//! for it, so the output order is fixed, and the two outputs must be the same line for line
//! (ports aside). Every process is killed by pid at the end.
//!
//! Needs `python3`; without it the tests fail with a message saying so.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use common::child::ChildGuard;

/// Upper bound for any one step (a hang, not slowness).
const LIMIT: Duration = Duration::from_secs(60);

/// The example binary `name`, built by cargo first (a no-op when it is up to date: `cargo
/// test --tests` alone does not build examples), where cargo says it put it.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .is_some_and(|profile| profile.ends_with("release"));
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "--message-format=json",
        "--example",
        name,
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let what = format!("cargo build --example {name}");
    let out = ChildGuard::spawn(&mut cmd, &what)
        .output(Duration::from_secs(600))
        .success(&what);
    // {"reason":"compiler-artifact",...,"executable":"/.../examples/NAME",...}
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

/// A server program under test, its stdout and stderr read line by line by threads.
struct Server {
    guard: ChildGuard,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stdout line so far.
    lines: Vec<String>,
    /// Run under strace: `guard` is strace, the program its child.
    traced: bool,
}

fn line_reader(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Ends at EOF, when the process is gone.
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Server {
    fn start(mut cmd: Command, what: &str) -> Server {
        let mut guard = ChildGuard::spawn(&mut cmd, what);
        let stdout = line_reader(guard.take_stdout());
        let stderr = line_reader(guard.take_stderr());
        Server {
            guard,
            stdout,
            stderr,
            lines: Vec::new(),
            traced: false,
        }
    }

    /// `cmd` under `strace -f -qq -e trace=epoll_create1,epoll_ctl,epoll_wait -o trace`.
    fn start_traced(cmd: &Command, trace: &std::path::Path, what: &str) -> Server {
        let mut strace = Command::new("strace");
        strace
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=epoll_create1,epoll_ctl,epoll_wait",
                "-o",
            ])
            .arg(trace)
            .arg("--")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        let mut server = Server::start(strace, what);
        server.traced = true;
        server
    }

    /// The ports of the `listening on` line on stderr (`HOST:PORT` words).
    fn listening(&self) -> Vec<u16> {
        let line = self
            .stderr
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("no listening line ({e})"));
        assert!(line.contains("listening on"), "stderr said {line:?}");
        line.split_whitespace()
            .filter_map(|w| w.rsplit_once(':'))
            .filter_map(|(_, p)| p.parse().ok())
            .collect()
    }

    /// Wait for the next stdout line, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) {
        let line = self.stdout.recv_timeout(LIMIT).unwrap_or_else(|e| {
            let err: Vec<String> = self.stderr.try_iter().collect();
            panic!(
                "no stdout line {prefix:?} ({e}); so far: {:?}; stderr: {err:?}",
                self.lines
            )
        });
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        self.lines.push(line);
    }

    /// Kill the program by pid and return its stdout lines; it must still have been running.
    /// Under strace, the traced program is killed and strace waited for, so that the trace
    /// file is complete.
    fn stop(mut self) -> Vec<String> {
        let mut pid = self.guard.id() as i32;
        if self.traced {
            let children = format!("/proc/{pid}/task/{pid}/children");
            let text = std::fs::read_to_string(&children).expect("strace's children");
            pid = text
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .expect("strace's child, the traced program");
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("the server is still running");
        if self.traced {
            let deadline = std::time::Instant::now() + LIMIT;
            assert!(
                self.guard.wait_until(deadline).is_some(),
                "strace did not exit after its program"
            );
        }
        // The guard reaps what is left.
        drop(self.guard);
        self.lines
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

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

fn local_port(s: &TcpStream) -> u16 {
    s.local_addr().unwrap().port()
}

/// Drive an echo server: two clients at once, each echoed, then closed one after the other.
fn drive_echo(mut server: Server) -> Vec<String> {
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
    normalise(&server.stop(), &names)
}

#[test]
fn selectors_echo_matches_pythons_documentation_example() {
    let mut rust = Command::new(example("selectors_echo"));
    rust.arg("0");
    let ours = drive_echo(Server::start(rust, "examples/selectors_echo"));

    let python = common::python::interpreter();
    let mut py = Command::new(&python.exe);
    py.arg("-I")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/selectors_echo.py"
        ))
        .arg("0");
    let theirs = drive_echo(Server::start(py, "python3 selectors_echo.py"));

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
    normalise(&server.stop(), &names)
}

#[test]
fn seed_select_server_matches_the_seeds_program() {
    let mut rust = Command::new(example("seed_select_server"));
    rust.args(["0", "0", "127.0.0.1"]);
    let ours = drive_seed(Server::start(rust, "examples/seed_select_server"));

    let python = common::python::interpreter();
    let mut py = Command::new(&python.exe);
    py.args(["-I", "-u"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/seed_select_server.py"
        ))
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

/// The epoll calls of a trace, one line each, with CPython's uninitialised upper half of
/// `data.u64` (bpo-35561) and the address of `EPOLL_CTL_DEL`'s event pointer normalised.
fn epoll_calls(trace: &str) -> Vec<String> {
    trace
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.split_whitespace()))
        .map(|words| words.collect::<Vec<_>>().join(" "))
        .filter(|l| l.starts_with("epoll_") && l.contains(") = ") && !l.contains("resumed>"))
        .map(|mut l| {
            if let Some(i) = l.find("EPOLL_CTL_DEL, ") {
                let ptr = i + l[i..].find(", 0x").expect("a non-NULL pointer") + 2;
                let end = ptr + l[ptr..].find(')').expect(")");
                l = format!("{}PTR{}", &l[..ptr], &l[end..]);
            }
            // data={u32=5, u64=140527034957829} -> data={u32=5, u64=5}
            let mut out = String::new();
            let mut rest = l.as_str();
            while let Some(i) = rest.find("u32=") {
                let (head, tail) = rest.split_at(i + 4);
                let comma = tail.find(", u64=").expect("u64");
                let fd: u64 = tail[..comma].parse().expect("u32");
                let after = &tail[comma + 6..];
                let close = after.find('}').expect("}");
                let u64v: u64 = after[..close].parse().expect("u64");
                assert_eq!(u64v & 0xffff_ffff, fd, "data.u64's low half is the fd: {l}");
                out.push_str(&format!("{head}{fd}, u64={fd}"));
                rest = &after[close..];
            }
            out + rest
        })
        .collect()
}

#[test]
fn selectors_echo_makes_cpythons_epoll_calls() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let pid = std::process::id();
    let traces = [
        dir.join(format!("echo-rs-{pid}.trace")),
        dir.join(format!("echo-py-{pid}.trace")),
    ];
    let mut rust = Command::new(example("selectors_echo"));
    rust.arg("0");
    let python = common::python::interpreter();
    let mut py = Command::new(&python.exe);
    py.arg("-I")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/selectors_echo.py"
        ))
        .arg("0");
    let mut calls = Vec::new();
    for (cmd, trace) in [(rust, &traces[0]), (py, &traces[1])] {
        let server = Server::start_traced(&cmd, trace, "a traced echo server");
        drive_echo(server);
        let text = std::fs::read_to_string(trace).expect("the trace");
        let _ = std::fs::remove_file(trace);
        calls.push(epoll_calls(&text));
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
