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
//! (`--connections N`) lives in `client/load.rs`.

#[path = "client/cli.rs"]
mod cli;
#[path = "client/load.rs"]
mod load;

use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use pyselect::consts::MSG_OOB;
use pyselect::pyrepr::bytes_repr;
use pyselect::{Family, Socket, ToAddress, Type};

use cli::{Options, Parsed};

/// The seed's `SIZE`: one `recv(1024)` reads the reply.
const SIZE: usize = 1024;

/// What `--oob` sends with `MSG_OOB` before the message.
const URGENT: &[u8] = b"!";

/// A failure: one line on stderr (after the program name), exit 1.
type Failure = String;

fn main() -> ExitCode {
    // No panic text reaches the user: one line, exit 101 (a bug to report, not a usage error).
    std::panic::set_hook(Box::new(|info| {
        let _ = pyselect::eprint_line(&format!("pyselect-client: internal error: {info}"));
    }));

    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            return match pyselect::print_line(cli::USAGE) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Err(msg) => {
            let _ = pyselect::eprint_line(&format!("pyselect-client: {msg}\n{}", cli::SYNOPSIS));
            return ExitCode::from(2);
        }
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
        }),
    });
    match result {
        Ok(status) => ExitCode::from(status),
        Err(line) => {
            let _ = pyselect::eprint_line(&format!("pyselect-client: {line}"));
            ExitCode::FAILURE
        }
    }
}

/// The server's address. The family follows the host, as the seed's `AF_INET` does for an
/// IPv4 address: an IPv6 literal (`::1`, or `[::1]`) gives `AF_INET6`. No DNS: see
/// [`ToAddress`].
fn resolve(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let family = match bare.parse::<Ipv6Addr>() {
        Ok(_) => Family::Inet6,
        Err(_) => Family::Inet,
    };
    (bare, port)
        .to_address(family)
        .map_err(|e| format!("cannot resolve host {host:?}: {e}"))
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
    pyselect::print_line(&format!("resp from server : {}", bytes_repr(&msg)))
        .map_err(|e| format!("cannot write to stdout: {}", pyselect::Error::Os(e)))?;
    client_socket
        .close()
        .map_err(|e| fail("cannot close the connection to", e))
}
