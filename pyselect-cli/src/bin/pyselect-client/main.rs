//! `pyselect-client`: the seed's echo client, and a load generator built on pyselect's
//! `select()`.
//!
//! Single mode is the seed's script, line for line, and makes the same syscalls:
//!
//! ```python
//! with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client_socket:
//!     client_socket.connect(SERVER_ADDR)
//!     client_socket.send('hi'.encode())
//!     msg = client_socket.recv(SIZE)
//!     print("resp from server : {}".format(msg))
//! ```
//!
//! `socket`, `connect`, `sendto`, `recvfrom`, one `write` for the line, `close`. Load mode
//! (`--connections N`) lives in `load/`.

mod cli;
mod load;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use pyselect::consts::MSG_OOB;
use pyselect::{Family, Socket, Type};
use pyselect_cli::cli as common;
use pyselect_cli::host::host_addr;
use pyselect_cli::output::{eprint_line, print_line};
use pyselect_cli::pyrepr::bytes_repr;

use cli::Options;

/// The seed's `SIZE`: one `recv(1024)` reads the reply.
const SIZE: usize = 1024;

/// What `--oob` sends with `MSG_OOB` before the message.
const URGENT: &[u8] = b"!";

/// A failure: one line on stderr (after the program name), exit 1.
type Failure = String;

fn main() -> ExitCode {
    // No panic text reaches the user: one line, exit 101 (a bug to report, not a usage error).
    std::panic::set_hook(Box::new(|info| {
        let _ = eprint_line(&format!("pyselect-client: internal error: {info}"));
    }));

    let parsed = cli::parse(std::env::args_os().skip(1));
    let opts = match common::options_or_exit(cli::PROGRAM, cli::USAGE, parsed) {
        Ok(opts) => opts,
        Err(status) => return status,
    };

    let result = resolve(&opts.host, opts.port).and_then(|addr| match opts.load {
        None => single(&opts, addr).map(|()| 0),
        Some(sizes) => load::run(&load::Config {
            addr,
            message: opts.message.clone(),
            oob: opts.oob,
            connections: sizes.connections,
            concurrency: sizes.concurrency,
            timeout: opts
                .timeout
                .map_or(cli::DEFAULT_LOAD_TIMEOUT, Duration::from_secs_f64),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            backend: sizes.backend,
            hold: sizes.hold,
        }),
    });
    match result {
        Ok(status) => ExitCode::from(status),
        Err(line) => {
            let _ = eprint_line(&format!("pyselect-client: {line}"));
            ExitCode::FAILURE
        }
    }
}

/// The server's address, by the host rule both binaries share ([`pyselect_cli::host::host_addr`]):
/// an IPv4 or IPv6 address (bare or in brackets) or `localhost`; no names are resolved.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    host_addr(host, port).map_err(|e| {
        format!(
            "cannot use host {host:?}: {e} (give an IPv4 or IPv6 address, or localhost; \
             no names are resolved)"
        )
    })
}

/// The seed's client: connect, one send, one recv(1024), print the reply, close.
fn single(opts: &Options, addr: SocketAddr) -> Result<(), Failure> {
    let fail = |what: &str, e: pyselect::Error| format!("{what} {addr}: {e}");

    let mut client_socket = Socket::new(Family::of(&addr), Type::Stream)
        .map_err(|e| format!("cannot create a socket: {e}"))?;
    if let Some(seconds) = opts.timeout {
        client_socket
            .settimeout(Some(seconds))
            .map_err(|e| fail("cannot set a timeout for", e))?;
    }
    client_socket
        .connect(addr)
        .map_err(|e| fail("cannot connect to", e))?;
    // --oob: the urgent byte goes first, so the server's except set sees it before the
    // message (sent after it, it could arrive once the server has replied and closed).
    if opts.oob {
        client_socket
            .send_flags(URGENT, MSG_OOB)
            .map_err(|e| fail("cannot send urgent data to", e))?;
    }
    // One send, as the seed: a message too big for the socket buffer goes out in part.
    client_socket
        .send(&opts.message)
        .map_err(|e| fail("cannot send to", e))?;
    let msg = client_socket
        .recv(SIZE)
        .map_err(|e| fail("cannot receive from", e))?;
    if msg.is_empty() {
        return Err(format!(
            "no reply from {addr}: the server closed the connection"
        ));
    }
    if !msg.starts_with(b"welcome") {
        return Err(format!(
            "unexpected reply from {addr}: {}",
            bytes_repr(&msg)
        ));
    }
    print_line(&format!("resp from server : {}", bytes_repr(&msg)))
        .map_err(|e| format!("cannot write to stdout: {}", pyselect::Error::Os(e)))?;
    client_socket
        .close()
        .map_err(|e| fail("cannot close the connection to", e))
}
