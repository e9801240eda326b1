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

use pyselect::{select_with, Error, Syscall};

use crate::server::{close_serially, Listener, Log, SIZE};

pub fn run(read_socket_list: &[Listener], log: &mut Log, syscall: Syscall) -> Result<(), Error> {
    while !log.done() {
        let (conn_read_socket_list, _, _) = select_with(syscall, read_socket_list, [], [], None)?;
        for conn_read_socket in conn_read_socket_list {
            log.hello(conn_read_socket);
            let Some((mut client_socket, client_addr)) =
                log.accepted(conn_read_socket.sock.accept())?
            else {
                continue;
            };
            log.serve(&client_addr, |log| {
                let msg = client_socket.recv(SIZE)?;
                log.message(&client_addr, &msg);
                client_socket.sendall(&conn_read_socket.reply)?;
                close_serially(&mut client_socket, &msg)
            })?;
            if log.done() {
                break;
            }
        }
    }
    Ok(())
}
