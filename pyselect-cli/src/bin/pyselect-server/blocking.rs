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

use pyselect::Error;

use crate::server::{close_serially, Listener, Log, SIZE};

pub fn run(server_socket: &Listener, log: &mut Log) -> Result<(), Error> {
    while !log.done() {
        let Some((mut client_socket, client_addr)) = log.accepted(server_socket.sock.accept())?
        else {
            continue;
        };
        log.say(|| "hi".to_string());
        log.serve(&client_addr, |log| {
            let msg = client_socket.recv(SIZE)?;
            log.message(&client_addr, &msg);
            client_socket.sendall(&server_socket.reply)?;
            close_serially(&mut client_socket, &msg)
        })?;
    }
    Ok(())
}
