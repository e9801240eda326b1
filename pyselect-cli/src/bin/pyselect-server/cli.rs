//! Command-line options of `pyselect-server`, parsed with `lexopt`, in the dialect
//! `pyselect-client` shares (`common`): `--flag value` or `--flag=value`, one-line errors in
//! the same words (the reason, then `(see ... --help)`).

use std::ffi::OsString;
use std::time::Duration;

use lexopt::prelude::*;

use pyselect::Syscall;

use crate::readiness::Backend;

// The dialect both programs speak, from one module.
use pyselect_cli::cli as common;

use common::{count, one_of, other_argument, port, seconds, text, usage_error, Most, BACKENDS};

/// The program's name, as its usage errors and `--version` give it.
pub const PROGRAM: &str = env!("CARGO_BIN_NAME");

pub const USAGE: &str = "\
usage: pyselect-server [--host 127.0.0.1] [--ports 5050,5060]
                       [--mode multiplex|select|timeout|blocking]
                       [--backend select|poll|epoll] [--count N]
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
(up to 64 KiB), after shutting its write side, so the reply arrives: served when the client
then closes, an error (a reset) when it sends more than that.

Output: the serial modes print as the seed does, waiting while stdout or stderr is not
read. Multiplex mode never keeps a client waiting on its output: on a pipe, lines the
reader cannot take now wait in a queue of 64 KiB per stream, and lines beyond it are
dropped and counted in the totals line (a terminal or a file is written as usual). A pipe
gets an open file description of its own (through /proc/self/fd) and a socket is written
with MSG_DONTWAIT: no description shared with another process is changed, so none keeps
O_NONBLOCK after the server exits. In every mode a write that fails (ENOSPC, EPIPE) loses
its line: the error is named once on stderr, the totals line counts the lines lost, and
the exit status is 1.

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
  --backend B        multiplex: the readiness call, select (default: pselect6 with the
                     except set; fds below FD_SETSIZE only), poll (poll(2), POLLPRI for
                     urgent data) or epoll (epoll_create1/epoll_ctl/epoll_wait, EPOLLPRI).
                     poll and epoll raise the soft RLIMIT_NOFILE at start to the hard
                     limit (to 10,000 connections' worth when the hard limit is
                     unlimited), with a line on stderr when that is below 10,000
                     connections' worth
  --count N          exit 0 after N connections were answered
  --idle-timeout S   multiplex: close a client silent for S seconds (default 10; from
                     1e-9, the clock's resolution, to below 1e9; a wait longer than
                     poll/epoll_wait take, INT_MAX ms, is made in parts); urgent
                     (MSG_OOB) bytes alone do not count as activity
  --backlog N        listen() backlog (default 128, as Python's listen())
  --quiet            no per-connection lines on stdout (for benchmarks)
  --syscall S        libc (default: glibc's select(), seen as pselect6 in strace) or
                     select (the kernel's own select syscall; x86-64 Linux only), for
                     the modes that call select(): select, and multiplex's select backend
  -h, --help         this text
  -V, --version      the version

SIGINT or SIGTERM, even while a line waits for a slow reader, closes the listeners,
prints one line of totals on stderr (after at most one second's wait in all for readers
of stdout and stderr; on a terminal, on a fresh line after ^C) and exits 0.";

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
}

/// Everything the command line says.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    pub ports: Vec<u16>,
    pub mode: Mode,
    pub backend: Backend,
    pub count: Option<u64>,
    pub idle_timeout: Duration,
    pub quiet: bool,
    pub syscall: Syscall,
    pub backlog: i32,
}

/// What parsing found: options to run with, or a request for help or the version.
pub type Parsed = common::Parsed<Options>;

/// The ports, in order. A port other than 0 (the kernel's choice, each time a new one) given
/// twice could only fail to bind the second time: it is named here instead.
fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for part in text.split(',') {
        match port(part.trim(), 0)? {
            p if p != 0 && ports.contains(&p) => {
                return Err(format!("--ports: port {p} is given twice"))
            }
            p => ports.push(p),
        }
    }
    Ok(ports)
}

/// `--mode`'s words, in the order the error lists them.
const MODES: [(&str, Mode); 4] = [
    ("multiplex", Mode::Multiplex),
    ("select", Mode::Select),
    ("timeout", Mode::Timeout),
    ("blocking", Mode::Blocking),
];

/// `--syscall`'s words.
const SYSCALLS: [(&str, Syscall); 2] = [("libc", Syscall::Libc), ("select", Syscall::Select)];

impl Options {
    /// Does the server put its listeners (and clients) in an `fd_set`?
    pub fn uses_fd_set(&self) -> bool {
        match self.mode {
            Mode::Select => true,
            Mode::Multiplex => self.backend == Backend::Select,
            Mode::Timeout | Mode::Blocking => false,
        }
    }
}

/// `--idle-timeout`: seconds below 1e9, and at least the 1 ns the monotonic clock counts in
/// (less would be 0 once on the clock, and close every client at once).
fn idle_timeout(text: &str) -> Result<Duration, String> {
    let s = seconds(text, "--idle-timeout", Most::Below(1e9))?;
    match Duration::from_secs_f64(s) {
        d if d.is_zero() => Err(format!(
            "bad --idle-timeout {text:?}: below the clock's resolution (1 ns)"
        )),
        d => Ok(d),
    }
}

/// Parse `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        ports: vec![5050, 5060],
        mode: Mode::Multiplex,
        backend: Backend::Select,
        count: None,
        idle_timeout: Duration::from_secs(10),
        quiet: false,
        syscall: Syscall::Libc,
        backlog: pyselect::consts::DEFAULT_BACKLOG,
    };
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(usage_error)? {
        match arg {
            Long("host") => opts.host = text(&mut p, "--host")?,
            Long("ports") | Long("port") => opts.ports = parse_ports(&text(&mut p, "--ports")?)?,
            Long("mode") => opts.mode = one_of(&mut p, "--mode", &MODES)?,
            Long("backend") => opts.backend = one_of(&mut p, "--backend", &BACKENDS)?,
            Long("count") => opts.count = Some(count(&mut p, "--count")?),
            Long("idle-timeout") => {
                opts.idle_timeout = idle_timeout(&text(&mut p, "--idle-timeout")?)?
            }
            Long("backlog") => opts.backlog = count(&mut p, "--backlog")?,
            Short('q') | Long("quiet") => opts.quiet = true,
            Long("syscall") => opts.syscall = one_of(&mut p, "--syscall", &SYSCALLS)?,
            // -h, -V, and the shared errors.
            arg => return other_argument(arg),
        }
    }
    if opts.backend != Backend::Select && opts.syscall == Syscall::Select {
        return Err(format!(
            "--syscall select needs the select backend, not --backend {}",
            opts.backend.as_str()
        ));
    }
    if opts.syscall == Syscall::Select && matches!(opts.mode, Mode::Timeout | Mode::Blocking) {
        return Err(format!(
            "--syscall select needs --mode select or multiplex: the {} mode makes no select() call",
            opts.mode.as_str()
        ));
    }
    if opts.backend != Backend::Select && opts.mode != Mode::Multiplex {
        return Err(format!(
            "--backend {} needs --mode multiplex: the {} mode makes its own calls, as the seed does",
            opts.backend.as_str(),
            opts.mode.as_str()
        ));
    }
    Ok(Parsed::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(OsString::from))?.options()
    }

    #[test]
    fn defaults_are_the_seeds() {
        let opts = run(&[]).unwrap();
        assert_eq!(opts.host, "127.0.0.1");
        assert_eq!(opts.ports, [5050, 5060]);
        assert_eq!(opts.mode, Mode::Multiplex);
        assert_eq!(opts.backlog, 128);
        assert_eq!(opts.backend, Backend::Select);
        assert!(opts.count.is_none() && !opts.quiet);
    }

    #[test]
    fn values_separate_or_glued_and_last_wins() {
        let opts = run(&["--ports", "1,2", "--mode=select", "--ports=0", "-q"]).unwrap();
        assert_eq!(
            (opts.ports, opts.mode, opts.quiet),
            (vec![0], Mode::Select, true)
        );
        assert_eq!(run(&["--backlog", "1024"]).unwrap().backlog, 1024);
    }

    #[test]
    fn errors_in_the_shared_words() {
        for (args, want) in [
            (&["--ports"][..], "--ports needs a value"),
            (&["--quiet=yes"][..], "--quiet takes no value"),
            (
                &["--ports", "0,70000"][..],
                "bad port \"70000\": expected 0-65535",
            ),
            (
                &["--count", "0"][..],
                "bad --count \"0\": expected a whole number >= 1",
            ),
            (
                &["--backlog", "-1"][..],
                "bad --backlog \"-1\": expected a whole number >= 1",
            ),
            (
                &["--syscall", "epoll"][..],
                "bad --syscall \"epoll\": expected libc or select",
            ),
            (
                &["--backend", "poll", "--syscall", "select"][..],
                "--syscall select needs the select backend, not --backend poll",
            ),
            (
                &["--mode", "timeout", "--syscall", "select"][..],
                "--syscall select needs --mode select or multiplex: the timeout mode makes no select() call",
            ),
            (
                &["--syscall", "select", "--mode", "blocking"][..],
                "--syscall select needs --mode select or multiplex: the blocking mode makes no select() call",
            ),
            (
                &["--ports", "5075,0,0,5075"][..],
                "--ports: port 5075 is given twice",
            ),
            (
                &["--idle-timeout", "1e-10"][..],
                "bad --idle-timeout \"1e-10\": below the clock's resolution (1 ns)",
            ),
            (
                &["--idle-timeout", "0"][..],
                "bad --idle-timeout \"0\": expected seconds, more than 0 and less than 1e9",
            ),
            (
                &["--backend", "kqueue"][..],
                "bad --backend \"kqueue\": expected select, poll or epoll",
            ),
            (
                &["--mode", "select", "--backend", "epoll"][..],
                "--backend epoll needs --mode multiplex: the select mode makes its own calls, as the seed does",
            ),
        ] {
            assert_eq!(run(args).unwrap_err(), want, "{args:?}");
        }
    }

    #[test]
    fn help_and_version_win_over_later_arguments() {
        assert_eq!(run(&["--count", "1", "-h", "--bogus"]).unwrap_err(), "help");
        assert_eq!(run(&["-V", "--bogus"]).unwrap_err(), "version");
    }
}
