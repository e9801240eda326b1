//! Command-line options of `pyselect-server`, parsed by hand (the program stays dependency-free).

use std::time::Duration;

use pyselect::Syscall;

pub const USAGE: &str = "\
usage: pyselect-server [--host 127.0.0.1] [--ports 5050,5060]
                       [--mode multiplex|select|timeout|blocking] [--count N]
                       [--idle-timeout SECS] [--backlog N] [--quiet]
                       [--syscall libc|select] [--version]

The seed's three Python servers, and a fourth that never waits on one client:
  blocking   the first server: one port (the first), accept, recv(1024), reply, close.
  timeout    the second: settimeout(1) on each listener, accept on each in turn,
             printing 'hello socketN' before every attempt.
  select     the third: select() on the listeners, then accept, recv, reply, close.
  multiplex  (default) client sockets join the select() sets too; replies wait in the
             write set; idle clients are closed; MSG_OOB data shows in the except set.

In blocking, timeout and select modes one slow client stalls every other client:
the server waits in recv() on it, as the seed's programs do. Use multiplex to serve
clients that are slow, silent or hostile.

As in the seed, the serial modes read a message with one recv(1024): when a client sends
more, close() leaves bytes unread, the kernel resets the connection and the client may lose
the reply; the totals count it as an error. Multiplex mode reads the rest and discards it
(up to 64 KiB), after shutting its write side, so the reply arrives.

Output: the serial modes print as the seed does, waiting while stdout or stderr is not
read. Multiplex mode never keeps a client waiting on its output: on a pipe, lines the
reader cannot take now wait in a queue of 64 KiB per stream, and lines beyond it are
dropped and counted in the totals line (a terminal or a file is written as usual).

options:
  --host H           address to listen on (default 127.0.0.1): an IPv4 address ('' or
                     0.0.0.0 for all interfaces), an IPv6 address, bare or in brackets
                     (::1, [::1], :: for all), or localhost (127.0.0.1); no other names
                     are resolved (no DNS, no /etc/hosts)
  --ports P1,P2,...  ports to listen on (default 5050,5060); 0 lets the kernel choose,
                     and the 'listening on' line on stderr shows the port it chose.
                     select and multiplex modes refuse more listeners than an fd_set
                     holds (FD_SETSIZE 1024, less fds 0-2), and warn when fewer than
                     64 fds would remain for clients
  --mode M           multiplex (default), select, timeout or blocking
  --count N          exit 0 after N connections were answered
  --idle-timeout S   multiplex: close a client silent for S seconds (default 10)
  --backlog N        listen() backlog (default 128, as Python's listen())
  --quiet            no per-connection lines on stdout (for benchmarks)
  --syscall S        libc (default: glibc's select(), seen as pselect6 in strace) or
                     select (the kernel's own select syscall; x86-64 Linux only)
  -h, --help         this text
  -V, --version      the version

SIGINT or SIGTERM closes the listeners, prints one line of totals on stderr and exits 0.";

/// What `--version` prints.
pub const VERSION: &str = concat!("pyselect-server ", env!("CARGO_PKG_VERSION"));

/// Which of the seed's servers to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Blocking,
    Timeout,
    Select,
    Multiplex,
}

impl Mode {
    /// The mode's name, as `--mode` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Blocking => "blocking",
            Mode::Timeout => "timeout",
            Mode::Select => "select",
            Mode::Multiplex => "multiplex",
        }
    }

    /// Does the mode put its listeners in an `fd_set`?
    pub fn uses_fd_set(self) -> bool {
        matches!(self, Mode::Select | Mode::Multiplex)
    }
}

/// Everything the command line says.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    pub ports: Vec<u16>,
    pub mode: Mode,
    pub count: Option<u64>,
    pub idle_timeout: Duration,
    pub quiet: bool,
    pub syscall: Syscall,
    pub backlog: i32,
}

/// What parsing found: options to run with, or a request for help.
pub enum Parsed {
    Run(Options),
    Help,
    Version,
}

fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        match part.parse::<u32>() {
            Ok(p) if p <= 65535 => ports.push(p as u16),
            Ok(_) => return Err(format!("port out of range (0-65535): {part}")),
            Err(_) => return Err(format!("not a port number: {part:?}")),
        }
    }
    if ports.is_empty() {
        return Err("--ports needs at least one port".into());
    }
    Ok(ports)
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    match text {
        "blocking" => Ok(Mode::Blocking),
        "timeout" => Ok(Mode::Timeout),
        "select" => Ok(Mode::Select),
        "multiplex" => Ok(Mode::Multiplex),
        other => Err(format!(
            "unknown mode {other:?} (choose multiplex, select, timeout or blocking)"
        )),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "--idle-timeout wants a positive number of seconds, not {text:?}"
        )),
    }
}

/// Parse `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        ports: vec![5050, 5060],
        mode: Mode::Multiplex,
        count: None,
        idle_timeout: Duration::from_secs(10),
        quiet: false,
        syscall: Syscall::Libc,
        backlog: pyselect::consts::DEFAULT_BACKLOG,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        if inline.is_some() && matches!(flag.as_str(), "--help" | "--quiet" | "--version") {
            return Err(format!("{flag} takes no value"));
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--backlog" => {
                let v = value("--backlog")?;
                match v.parse::<i32>() {
                    Ok(n) if n >= 1 => opts.backlog = n,
                    _ => return Err(format!("--backlog wants a positive integer, not {v:?}")),
                }
            }
            "--host" => opts.host = value("--host")?,
            "--ports" | "--port" => opts.ports = parse_ports(&value("--ports")?)?,
            "--mode" => opts.mode = parse_mode(&value("--mode")?)?,
            "--count" => {
                let v = value("--count")?;
                match v.parse::<u64>() {
                    Ok(n) if n > 0 => opts.count = Some(n),
                    _ => return Err(format!("--count wants a positive integer, not {v:?}")),
                }
            }
            "--idle-timeout" => opts.idle_timeout = parse_seconds(&value("--idle-timeout")?)?,
            "--quiet" | "-q" => opts.quiet = true,
            "--syscall" => {
                opts.syscall = match value("--syscall")?.as_str() {
                    "libc" => Syscall::Libc,
                    "select" => Syscall::Select,
                    other => return Err(format!("unknown syscall {other:?} (libc or select)")),
                }
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Parsed::Run(opts))
}
