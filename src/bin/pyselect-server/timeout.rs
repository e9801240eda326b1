//! The seed's second server: `settimeout(1)` on each listener, and `accept()` on each in turn.
//!
//! ```python
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

use pyselect::Error;

use crate::server::Server;

pub fn run(server: &mut Server) -> Result<(), Error> {
    while !server.done() {
        for i in 0..server.listeners.len() {
            server.hello(i);
            // accept() waits at most 1 s (poll), then gives up with socket.timeout.
            server.accept_and_serve(i, None)?;
            if server.done() {
                break;
            }
        }
    }
    Ok(())
}
