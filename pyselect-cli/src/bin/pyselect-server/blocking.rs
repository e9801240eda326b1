//! The seed's first server: one port, one client at a time.
//!
//! ```python
//! while True:
//!     client_socket, client_addr = server_socket.accept()
//!     print('hi')
//!     msg = client_socket.recv(SIZE)
//!     print("[{}] message : {}".format(client_addr, msg))
//!     client_socket.sendall("welcome!".encode())
//!     client_socket.close()
//! ```
//!
//! While it waits in `recv()` for one client, nobody else is served. As in the seed, a
//! message longer than 1024 bytes is read in part and the close resets the connection
//! (counted as an error, not as served).
//!
//! The accept-failure rest, the counting and `--count` are the program's own; the seed's
//! servers bare, without them, are `examples/seed_select_server.rs` (its third server, the
//! `select.select` one, line for line).

use std::net::SocketAddr;

use pyselect::{Error, Socket};

use crate::lines::Lines;
use crate::server::{accept_failed, close_serially, rest, Failure, Listener, Stats, SIZE};

pub fn run(server_socket: &Listener, out: &mut Lines, stats: &mut Stats) -> Result<(), Error> {
    while !stats.done() {
        let (mut client_socket, client_addr) = match server_socket.sock.accept() {
            Ok(pair) => pair,
            Err(e) => {
                rest(accept_failed(out, e)?)?;
                continue;
            }
        };
        out.print("hi");
        let served = serve(&mut client_socket, &client_addr, &server_socket.reply, out);
        stats.tally(out, &client_addr, served)?;
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
