//! Command-line options of `pyselect-server`, parsed by hand (the program stays dependency-free).

use std::time::Duration;

use pyselect::Syscall;

pub const USAGE: &str = "\
usage: pyselect-server [--host 127.0.0.1] [--ports 5050,5060]
                       [--mode multiplex|select|timeout|blocking] [--count N]
                       [--idle-timeout SECS] [--quiet] [--syscall libc|select]

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

options:
  --host H           address to listen on (default 127.0.0.1; '' or 0.0.0.0 for all
                     IPv4 interfaces, ::1 or :: for IPv6)
  --ports P1,P2,...  ports to listen on (default 5050,5060); 0 lets the kernel choose,
                     and the 'listening on' line on stderr shows the port it chose
  --mode M           multiplex (default), select, timeout or blocking
  --count N          exit 0 after N connections were answered
  --idle-timeout S   multiplex: close a client silent for S seconds (default 10)
  --quiet            no per-connection lines on stdout (for benchmarks)
  --syscall S        libc (default: glibc's select(), seen as pselect6 in strace) or
                     select (the kernel's own select syscall; x86-64 Linux only)
  -h, --help         this text

SIGINT or SIGTERM closes the listeners, prints one line of totals on stderr and exits 0.";

/// Which of the seed's servers to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Blocking,
    Timeout,
    Select,
    Multiplex,
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
}

/// What parsing found: options to run with, or a request for help.
pub enum Parsed {
    Run(Options),
    Help,
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
        if inline.is_some() && matches!(flag.as_str(), "--help" | "--quiet") {
            return Err(format!("{flag} takes no value"));
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
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
