//! The seed's second server: `settimeout(1)` on each listener, and `accept()` on each in turn.
//!
//! ```python
//! server_socket1.settimeout(1)         # between socket() and bind(), for each listener
//! while True:
//!     try:
//!         print('hello socket1')
//!         client_socket, client_addr = server_socket1.accept()   # waits at most 1 s
//!         msg = client_socket.recv(SIZE)
//!         print("[{}] message : {}".format(client_addr, msg))
//!         client_socket.sendall("welcome 5050!".encode())
//!         client_socket.close()
//!     except socket.timeout:
//!         pass
//!     # ... the same for server_socket2
//! ```
//!
//! Each `accept()` is a `poll()` of up to 1000 ms, so an idle server wakes once a second per
//! port, and a client on one port waits while the server polls the other.

use pyselect::{Error, Socket};

use crate::server::{close_serially, Listener, Log, SIZE};

/// `settimeout(1)`: applied to each listener between `socket()` and `bind()`, as in the seed.
pub fn prepare(server_socket: &mut Socket) -> Result<(), Error> {
    server_socket.settimeout(Some(1.0))
}

pub fn run(listeners: &[Listener], log: &mut Log) -> Result<(), Error> {
    while !log.done() {
        for server_socket in listeners {
            log.hello(server_socket);
            // accept() waits at most 1 s (poll), then gives up with socket.timeout.
            let Some((mut client_socket, client_addr)) =
                log.accepted(server_socket.sock.accept())?
            else {
                continue;
            };
            log.serve(&client_addr, |log| {
                let msg = client_socket.recv(SIZE)?;
                log.message(&client_addr, &msg);
                client_socket.sendall(&server_socket.reply)?;
                close_serially(&mut client_socket, &msg)
            })?;
            if log.done() {
                break;
            }
        }
    }
    Ok(())
}
