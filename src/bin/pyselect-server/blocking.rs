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
//! While it waits in `recv()` for one client, nobody else is served.

use pyselect::Error;

use crate::server::{self, Server};

pub fn run(server: &mut Server) -> Result<(), Error> {
    while !server.done() {
        let (client_socket, client_addr) = match server.listeners[0].sock.accept() {
            Ok(pair) => pair,
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) => {
                server::accept_failed(server, &e)?;
                continue;
            }
        };
        server.say("hi");
        server.serve_serially(client_socket, client_addr, b"welcome!")?;
    }
    Ok(())
}
