//! The `selectors` echo server from Python's documentation (the `selectors` module page,
//! "Examples"), ported line for line onto `pyselect::selectors`.
//!
//! ```text
//! cargo run --example selectors_echo [PORT]      # 127.0.0.1, port 1234 as the docs
//! ```
//!
//! Python's program, for reading side by side:
//!
//! ```python
//! sel = selectors.DefaultSelector()
//!
//! def accept(sock, mask):
//!     conn, addr = sock.accept()  # Should be ready
//!     print('accepted', conn, 'from', addr)
//!     conn.setblocking(False)
//!     sel.register(conn, selectors.EVENT_READ, read)
//!
//! def read(conn, mask):
//!     data = conn.recv(1000)  # Should be ready
//!     if data:
//!         print('echoing', repr(data), 'to', conn)
//!         conn.send(data)  # Hope it won't block
//!     else:
//!         print('closing', conn)
//!         sel.unregister(conn)
//!         conn.close()
//!
//! sock = socket.socket()
//! sock.bind(('localhost', 1234))
//! sock.listen(100)
//! sock.setblocking(False)
//! sel.register(sock, selectors.EVENT_READ, accept)
//!
//! while True:
//!     events = sel.select()
//!     for key, mask in events:
//!         callback = key.data
//!         callback(key.fileobj, mask)
//! ```
//!
//! Where Rust differs: Python's global `sel` becomes the callbacks' first argument; a socket
//! the selector and a callback both hold is an `Rc<Socket>`; `conn.close()` is dropping the
//! last reference. Three additions: the port comes from the command line (`0` lets the kernel
//! choose), one `listening on` line goes to stderr once the socket listens, and a failed
//! `recv`/`send` (a client's reset) closes that connection where Python's program would die.

use std::os::fd::RawFd;
use std::rc::Rc;

use pyselect::selectors::{DefaultSelector, Selector, EVENT_READ};
use pyselect::{FileNo, Socket};
use pyselect_cli::pyrepr::{addr_repr, bytes_repr};

/// A socket shared by the selector's key and the callback it is handed to.
#[derive(Clone)]
struct Sock(Rc<Socket>);

impl FileNo for Sock {
    fn fileno(&self) -> RawFd {
        self.0.fileno()
    }
}

/// The data of each key: the function to call when its socket is ready.
#[derive(Clone, Copy)]
struct Callback(fn(&mut Sel, Sock, u8) -> pyselect::Result<()>);

type Sel = DefaultSelector<Sock, Callback>;

/// `print(*words)`: one `write(2)` per line.
fn print(words: &[&str]) {
    let _ = pyselect_cli::output::print_line(&words.join(" "));
}

/// Python's `repr(sock)`: `<socket.socket fd=5, family=2, type=1, proto=0, laddr=(..),
/// raddr=(..)>`, the addresses left out when the kernel has none. One `getsockname` and one
/// `getpeername`, as CPython's `repr` makes.
fn socket_repr(sock: &Socket) -> String {
    let laddr = sock.getsockname().ok();
    let family = match laddr {
        Some(a) if a.is_ipv6() => libc::AF_INET6,
        _ => libc::AF_INET,
    };
    let mut text = format!(
        "<socket.socket fd={}, family={family}, type=1, proto=0",
        sock.fileno()
    );
    if let Some(laddr) = laddr {
        text += &format!(", laddr={}", addr_repr(&laddr));
    }
    if let Ok(raddr) = sock.getpeername() {
        text += &format!(", raddr={}", addr_repr(&raddr));
    }
    text + ">"
}

fn accept(sel: &mut Sel, sock: Sock, _mask: u8) -> pyselect::Result<()> {
    let (mut conn, addr) = sock.0.accept()?; // Should be ready
    print(&["accepted", &socket_repr(&conn), "from", &addr_repr(&addr)]);
    conn.setblocking(false)?;
    sel.register(Sock(Rc::new(conn)), EVENT_READ, Callback(read))?;
    Ok(())
}

fn read(sel: &mut Sel, conn: Sock, _mask: u8) -> pyselect::Result<()> {
    let data = conn.0.recv(1000).unwrap_or_default(); // Should be ready
    if !data.is_empty() {
        print(&["echoing", &bytes_repr(&data), "to", &socket_repr(&conn.0)]);
        if conn.0.send(&data).is_ok() {
            // Hope it won't block
            return Ok(());
        }
    }
    print(&["closing", &socket_repr(&conn.0)]);
    sel.unregister(&conn)?;
    drop(conn); // conn.close(): the last reference closes the fd
    Ok(())
}

fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 1234,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("selectors_echo: bad port: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(port) {
        eprintln!("selectors_echo: {e}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> pyselect::Result<()> {
    let mut sel = Sel::new()?;

    let mut sock = Socket::tcp_v4()?;
    sock.bind(("127.0.0.1", port))?;
    sock.listen(Some(100))?;
    sock.setblocking(false)?;
    let bound = sock.getsockname()?;
    let _ = pyselect_cli::output::eprint_line(&format!("listening on {bound}"));
    sel.register(Sock(Rc::new(sock)), EVENT_READ, Callback(accept))?;

    loop {
        let events = sel.select(None)?;
        for (key, mask) in events {
            let callback = key.data;
            (callback.0)(&mut sel, key.fileobj, mask)?;
        }
    }
}
