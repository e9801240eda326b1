//! The seed's third server: `select()` on the listeners, then the client served serially.
//!
//! ```python
//! read_socket_list = [server_socket1, server_socket2]
//! while True:
//!     conn_read_socket_list, _, _ = select.select(read_socket_list, [], [])
//!     for conn_read_socket in conn_read_socket_list:
//!         if conn_read_socket == server_socket1:      # (the seed's `elif` typo fixed)
//!             print('hello socket1')
//!             client_socket, client_addr = server_socket1.accept()
//!             msg = client_socket.recv(SIZE)
//!             print("[{}] message : {}".format(client_addr, msg))
//!             client_socket.sendall("welcome 5050!".encode())
//!             client_socket.close()
//!         elif conn_read_socket == server_socket2:
//!             ...
//! ```
//!
//! An idle server sleeps in one `select()`. But the `recv()` still blocks on one client:
//! a client that connects and says nothing stalls everyone else.
//!
//! The accept-failure rest, the counting and `--count` are the program's own; the bare
//! seed program, without them, is `examples/seed_select_server.rs`.

use std::net::SocketAddr;

use pyselect::{select_with, Error, Socket, Syscall};

use crate::lines::Lines;
use crate::server::{accept_failed, close_serially, rest, Failure, Listener, Stats, SIZE};

pub fn run(
    read_socket_list: &[Listener],
    out: &mut Lines,
    stats: &mut Stats,
    syscall: Syscall,
) -> Result<(), Error> {
    while !stats.done() {
        let (conn_read_socket_list, _, _) = select_with(syscall, read_socket_list, [], [], None)?;
        for conn_read_socket in conn_read_socket_list {
            out.hello(conn_read_socket);
            let (mut client_socket, client_addr) = match conn_read_socket.sock.accept() {
                Ok(pair) => pair,
                Err(e) => {
                    rest(accept_failed(out, e)?)?;
                    continue;
                }
            };
            let served = serve(
                &mut client_socket,
                &client_addr,
                &conn_read_socket.reply,
                out,
            );
            stats.tally(out, &client_addr, served)?;
            if stats.done() {
                break;
            }
        }
    }
    Ok(())
}

/// recv, print, sendall, close: the seed's lines, each failure this client's alone.
fn serve(
    client_socket: &mut Socket,
    client_addr: &SocketAddr,
    reply: &[u8],
    out: &mut Lines,
) -> Result<(), Failure> {
    let msg = client_socket.recv(SIZE)?;
    out.message(client_addr, &msg);
    client_socket.sendall(reply)?;
    close_serially(client_socket, &msg)
}
