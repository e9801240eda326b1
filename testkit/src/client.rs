//! The `pyselect-client` binary run with a deadline, and tiny in-test servers for it on
//! `std::net::TcpListener` (loopback, port 0).
//!
//! Everything that waits is bounded by [`LIMIT`]: a hung client or server fails the test
//! instead of hanging it. A spawned client is killed (with its process group, by id) and reaped
//! when its guard drops: the one process guard, [`ChildGuard`].

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::sync::mpsc;
use std::thread;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::socket::{recv, MsgFlags};

use super::child::{ChildGuard, Output};
use super::fd::wait_ready;
use super::server::set_linger_zero;
use super::{client_exe, LIMIT};

/// A running client. Dropping it kills the client (and its process group) and reaps it.
pub struct Client {
    guard: ChildGuard,
}

/// Start `pyselect-client args...` with stdout and stderr piped (so neither is a terminal).
pub fn spawn_client(args: &[&str]) -> Client {
    Client {
        guard: ChildGuard::spawn(Command::new(client_exe()).args(args), client_exe()),
    }
}

/// Run the client to completion (within [`LIMIT`]).
pub fn run_client(args: &[&str]) -> Output {
    spawn_client(args).finish()
}

impl Client {
    /// Send `sig` to the client, by pid.
    pub fn signal(&self, sig: Signal) {
        self.guard.signal(sig);
    }

    /// Read stdout and stderr to EOF (both close when the client exits), then reap it; a
    /// client still running after [`LIMIT`] fails the test.
    pub fn finish(self) -> Output {
        let out = self.guard.output_raw(LIMIT);
        Output {
            status: out.status,
            stdout: String::from_utf8(out.stdout).expect("client stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("client stderr is UTF-8"),
        }
    }
}

/// A std listener on 127.0.0.1, ephemeral port.
pub fn tcp_listener_v4() -> (TcpListener, u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, port)
}

/// A std listener on ::1, or `None` when this machine has no IPv6 loopback.
pub fn tcp_listener_v6() -> Option<(TcpListener, u16)> {
    let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).ok()?;
    let port = listener.local_addr().ok()?.port();
    Some((listener, port))
}

/// A port on 127.0.0.1 where a connection is refused: a socket is bound there but does not
/// listen, so the kernel answers a SYN with RST, and no one else can take the port while the
/// returned socket lives.
pub fn refusing_port() -> (pyselect::Socket, u16) {
    let sock = pyselect::Socket::tcp_v4().expect("socket");
    sock.bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    let port = sock.getsockname().expect("getsockname").port();
    (sock, port)
}

/// A server thread; [`ServerThread::join`] waits at most [`LIMIT`] for its result.
pub struct ServerThread<T> {
    result: mpsc::Receiver<T>,
}

/// Run `body` on its own thread with the listener.
pub fn serve<T, F>(listener: TcpListener, body: F) -> ServerThread<T>
where
    T: Send + 'static,
    F: FnOnce(TcpListener) -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(body(listener));
    });
    ServerThread { result: rx }
}

impl<T> ServerThread<T> {
    /// The body's result; panics if it panicked or took longer than [`LIMIT`].
    pub fn join(self) -> T {
        self.result
            .recv_timeout(LIMIT)
            .expect("the test server failed (see its panic above) or hung")
    }
}

/// Accept one connection within [`LIMIT`]; the stream's reads and writes are bounded too.
pub fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    wait_ready(listener, PollFlags::POLLIN);
    let (stream, peer) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(LIMIT)).expect("SO_RCVTIMEO");
    stream.set_write_timeout(Some(LIMIT)).expect("SO_SNDTIMEO");
    (stream, peer)
}

/// Is a connection waiting in the listener's queue right now?
pub fn connection_pending(listener: &TcpListener) -> bool {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).expect("poll on the listener") > 0
}

/// Read exactly `len` bytes of ordinary data (fewer only at EOF).
pub fn read_message(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut msg = vec![0; len];
    let mut got = 0;
    while got < len {
        match stream.read(&mut msg[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("server read: {e}"),
        }
    }
    msg.truncate(got);
    msg
}

/// Reply and close normally (FIN).
pub fn reply(mut stream: TcpStream, data: &[u8]) {
    stream.write_all(data).expect("server write");
}

/// Close with SO_LINGER {on, 0}: the peer gets RST, its next recv fails with ECONNRESET.
pub fn reset(stream: TcpStream) {
    set_linger_zero(&stream);
    drop(stream);
}

/// Wait (within [`LIMIT`]) for the urgent byte and read it with `recv(MSG_OOB)`.
pub fn recv_urgent(stream: &TcpStream) -> Vec<u8> {
    wait_ready(stream, PollFlags::POLLPRI);
    let mut buf = [0u8; 16];
    let n = recv(stream.as_raw_fd(), &mut buf, MsgFlags::MSG_OOB).expect("recv(MSG_OOB)");
    // The client sends the urgent byte before its message, so the ordinary read of the
    // message that follows steps past the urgent mark and nothing stays queued.
    buf[..n].to_vec()
}

/// The load-mode summary line, split into its keys (in order) and values; panics unless it
/// has exactly the keys the benchmark runner reads.
pub fn parse_summary(line: &str) -> BTreeMap<String, String> {
    let pairs: Vec<(&str, &str)> = line
        .split(' ')
        .map(|kv| {
            kv.split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {kv:?} in {line:?}"))
        })
        .collect();
    let mut keys: Vec<&str> = pairs.iter().map(|&(k, _)| k).collect();
    // `--hold M` adds `held=H` at the end (H: those still open); a run that stopped early
    // adds `unfinished=K` before it.
    if keys.last() == Some(&"held") {
        keys.pop();
    }
    if keys.last() == Some(&"unfinished") {
        keys.pop();
    }
    assert_eq!(
        keys,
        [
            "transactions",
            "errors",
            "seconds",
            "tx/s",
            "p50_us",
            "p99_us",
            "max_us"
        ],
        "summary line {line:?}"
    );
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A summary value as a number.
pub fn num<T: std::str::FromStr>(summary: &BTreeMap<String, String>, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    summary[key]
        .parse()
        .unwrap_or_else(|e| panic!("{key}={:?}: {e:?}", summary[key]))
}
