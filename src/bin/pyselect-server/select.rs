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

use pyselect::{select_with, Error};

use crate::server::Server;

pub fn run(server: &mut Server) -> Result<(), Error> {
    while !server.done() {
        let read_socket_list = server.listeners.iter().map(|l| &l.sock);
        let (ready, _, _) = select_with(server.opts.syscall, read_socket_list, [], [], None)?;
        // Map the ready sockets back to their listener numbers before borrowing mutably.
        let ready: Vec<usize> = ready
            .iter()
            .filter_map(|s| {
                server
                    .listeners
                    .iter()
                    .position(|l| std::ptr::eq(&l.sock, *s))
            })
            .collect();
        for i in ready {
            server.hello(i);
            server.accept_and_serve(i, None)?;
            if server.done() {
                break;
            }
        }
    }
    Ok(())
}
