//! Loopback sockets made with pyselect's own `Socket` (for tests of the library), and bounded
//! waits on them.

use std::net::SocketAddr;

use pyselect::{select, Error, Family, Socket, Type};

use super::LIMIT_SECS;

/// A listening socket on `host` port 0 (an ephemeral port) and its address.
pub fn listener(family: Family, host: &str) -> (Socket, SocketAddr) {
    let sock = Socket::new(family, Type::Stream).expect("socket()");
    sock.bind((host, 0)).expect("bind(host, 0)");
    sock.listen(None).expect("listen()");
    let addr = sock.getsockname().expect("getsockname()");
    assert_ne!(addr.port(), 0, "bind to port 0 must pick an ephemeral port");
    (sock, addr)
}

/// An IPv4 loopback listener.
pub fn listener_v4() -> (Socket, SocketAddr) {
    listener(Family::Inet, "127.0.0.1")
}

/// A connected TCP pair over `host`: (client, accepted server side, the address `accept`
/// reported for the client).
pub fn pair(family: Family, host: &str) -> (Socket, Socket, SocketAddr) {
    let (lst, addr) = listener(family, host);
    let cli = Socket::new(family, Type::Stream).expect("socket()");
    cli.connect(addr).expect("connect() to a loopback listener");
    let (conn, peer) = lst.accept().expect("accept()");
    (cli, conn, peer)
}

/// A connected IPv4 loopback pair: (client, server side).
pub fn pair_v4() -> (Socket, Socket) {
    let (cli, conn, _) = pair(Family::Inet, "127.0.0.1");
    (cli, conn)
}

/// A loopback TCP connection with its listener kept: the listener, the connecting side and
/// the accepted side.
#[derive(Debug)]
pub struct TcpPair {
    pub listener: Socket,
    pub client: Socket,
    pub server: Socket,
}

/// Listen on 127.0.0.1 port 0, connect, accept.
pub fn tcp_pair() -> TcpPair {
    let (listener, addr) = listener_v4();
    let client = Socket::tcp_v4().expect("socket");
    client.connect(addr).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    TcpPair {
        listener,
        client,
        server,
    }
}

/// Wait (at most [`super::LIMIT`]) until `sock` is readable; panics if it never becomes so.
pub fn wait_readable(sock: &Socket) {
    let (r, _, _) = select([sock], [], [], Some(LIMIT_SECS)).expect("select()");
    assert_eq!(r.len(), 1, "socket not readable within {LIMIT_SECS} s");
}

/// Read from `sock` until `n` bytes have arrived (bounded by the socket's own timeout, which
/// the caller sets) and return them.
pub fn recv_exact(sock: &Socket, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let chunk = sock.recv(n - got.len()).expect("recv()");
        assert!(!chunk.is_empty(), "EOF after {} of {n} bytes", got.len());
        got.extend_from_slice(&chunk);
    }
    got
}

/// The errno of a call that must fail with an OS error (`Error::Os`, Python's `OSError`);
/// panics on success or on any other error.
pub fn os_errno<T: std::fmt::Debug>(r: pyselect::Result<T>) -> i32 {
    match r {
        Err(Error::Os(e)) => e.raw_os_error().expect("an OS error carries its errno"),
        other => panic!("expected Error::Os, got {other:?}"),
    }
}
