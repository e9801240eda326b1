//! `Socket` beside std and other crates: its raw fd, and conversions from and to `OwnedFd`,
//! each checked against the kernel (the same fd number, the same open file, data through it).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use pyselect::{Family, Socket, Type};

use testkit::sock::os_errno;

/// Generic code that only knows `AsRawFd` sees the socket's own fd.
fn raw<T: AsRawFd>(t: &T) -> RawFd {
    t.as_raw_fd()
}

#[test]
fn as_raw_fd_is_fileno_and_minus_one_once_closed() {
    let mut sock = Socket::tcp_v4().unwrap();
    let fd = sock.fileno();
    assert!(fd >= 0);
    assert_eq!(raw(&sock), fd);
    sock.close().unwrap();
    assert_eq!(raw(&sock), -1);
}

#[test]
fn std_listener_adopted_keeps_fd_family_type_and_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let sock = Socket::try_from(OwnedFd::from(listener)).unwrap();
    assert_eq!(sock.fileno(), fd);
    assert_eq!(sock.family(), Family::Inet);
    assert_eq!(sock.socket_type(), Type::Stream);
    assert_eq!(sock.gettimeout(), None);
    assert_eq!(sock.getsockname().unwrap(), addr);

    // It is the same listening socket: a std client's connection is accepted through it.
    let mut client = TcpStream::connect(addr).unwrap();
    let (conn, peer) = sock.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    client.write_all(b"ping").unwrap();
    assert_eq!(conn.recv(16).unwrap(), b"ping");
}

#[test]
fn std_udp_v6_socket_adopted_is_inet6_datagram() {
    let udp = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let addr = udp.local_addr().unwrap();
    let sock = Socket::try_from(OwnedFd::from(udp)).unwrap();
    assert_eq!(sock.family(), Family::Inet6);
    assert_eq!(sock.socket_type(), Type::Dgram);
    assert_eq!(sock.getsockname().unwrap(), addr);
}

#[test]
fn adopting_a_unix_socket_is_eafnosupport() {
    let (a, _b) = UnixStream::pair().unwrap();
    let err = Socket::try_from(OwnedFd::from(a)).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EAFNOSUPPORT));
    assert_eq!(err.python_name(), "OSError");
}

#[test]
fn adopting_a_file_is_enotsock() {
    let file = File::open("/dev/null").unwrap();
    let r = Socket::try_from(OwnedFd::from(file));
    // CPython's socket.socket(fileno=<a file>) raises the same OSError from getsockname.
    assert_eq!(
        r.as_ref().unwrap_err().to_string(),
        "[Errno 88] Socket operation on non-socket"
    );
    assert_eq!(os_errno(r), libc::ENOTSOCK);
}

#[test]
fn socket_given_away_carries_the_connection_into_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sock = Socket::tcp_v4().unwrap();
    sock.connect(listener.local_addr().unwrap()).unwrap();
    let fd = sock.fileno();
    let (mut server_side, _) = listener.accept().unwrap();

    let owned = OwnedFd::try_from(sock).unwrap();
    assert_eq!(owned.as_raw_fd(), fd, "no dup: the very descriptor moves");
    let mut stream = TcpStream::from(owned);
    stream.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    server_side.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");

    // The descriptor is still open and now std's: dropping the stream ends the connection.
    drop(stream);
    let mut rest = Vec::new();
    server_side.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn a_closed_socket_has_no_descriptor_to_give() {
    let mut sock = Socket::tcp_v4().unwrap();
    sock.close().unwrap();
    let err = OwnedFd::try_from(sock).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBADF));
    assert_eq!(err.to_string(), "[Errno 9] Bad file descriptor");
}

#[test]
fn round_trip_through_owned_fd_keeps_a_connected_socket_working() {
    let listener = Socket::tcp_v4().unwrap();
    listener.bind(("127.0.0.1", 0)).unwrap();
    listener.listen(None).unwrap();
    let port = listener.getsockname().unwrap().port();
    let client = Socket::tcp_v4().unwrap();
    client.connect(("127.0.0.1", port)).unwrap();
    let (conn, _) = listener.accept().unwrap();

    let peer = client.getpeername().unwrap();
    let again = Socket::try_from(OwnedFd::try_from(client).unwrap()).unwrap();
    assert_eq!(again.getpeername().unwrap(), peer);
    again.sendall(b"round trip").unwrap();
    assert_eq!(conn.recv(64).unwrap(), b"round trip");
}
