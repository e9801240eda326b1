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

use crate::server::Server;

pub fn run(server: &mut Server) -> Result<(), Error> {
    while !server.done() {
        server.accept_and_serve(0, Some("hi"))?;
    }
    Ok(())
}
