//! Command-line options of `pyselect-client`, parsed with `lexopt`, in the dialect
//! `pyselect-server` shares (`common`): `--flag value` or `--flag=value`, one-line errors in
//! the same words (the reason, then `(see ... --help)`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use lexopt::prelude::*;

use pyselect::FD_SETSIZE;

use crate::load::Backend;

// The dialect both programs speak, from one module.
use pyselect_cli::cli as common;

use common::{at_least, count, one_of, other_argument, port, seconds, text, usage_error};
use common::{Most, BACKENDS};

/// The program's name, as its usage errors and `--version` give it.
pub const PROGRAM: &str = env!("CARGO_BIN_NAME");

pub const USAGE: &str = "\
usage: pyselect-client [--host 127.0.0.1] [--port 5050] [--message hi] [--oob] [--timeout SECS]
       pyselect-client --port 5050 --connections N [--concurrency C] [--timeout SECS]
                       [--backend select|poll|epoll] [--hold M]

The seed's echo client: connect, send the message once, recv(1024), print
  resp from server : b'welcome 5050!'
and close. A reply that does not start with 'welcome', a refused or reset connection,
or a server that closes without replying: one line on stderr, exit 1.

With --connections, a load generator: N transactions (connect, send, read to EOF, close),
at most C in flight at once on non-blocking sockets multiplexed by pyselect's select()
(or poll or epoll, --backend).
Every reply must be exactly 'welcome <port>!' or 'welcome!'. Failures are counted, not
fatal. Progress is shown on stderr when it is a terminal. One summary line on stdout:
  transactions=N errors=E seconds=S tx/s=R p50_us=A p99_us=B max_us=C [unfinished=K] [held=H]
(tx/s counts successful transactions; latencies run from connect to EOF, successful
transactions only; unfinished=K when the run stopped before all N finished; held=H the
--hold connections still open at the end). Exit 0 when E is 0 and all M held connections
stayed open, else 1; SIGINT/SIGTERM stop the run early, print the summary so far, and exit
130/143. A failure of the client itself (such as too many open files) stops the run too:
the summary so far, then one line saying why, exit 1.

options:
  --host H           server address (default 127.0.0.1): an IPv4 address, an IPv6
                     address, bare or in brackets (::1, [::1]; AF_INET6), or localhost
                     (127.0.0.1); no other names are resolved (no DNS, no /etc/hosts)
  --port P           server port, 1-65535 (default 5050)
  --message TEXT     what to send (default hi); not empty: the server waits for a
                     message, so an empty one would leave both sides waiting
  --oob              before the message, send one urgent byte b'!' with MSG_OOB
  --timeout SECS     single mode: settimeout(SECS) on the socket (default: none, as the
                     seed); load mode: per-transaction limit (default 10)
  --connections N    load mode: number of transactions (N >= 1)
  --concurrency C    load mode: transactions in flight at once (default 1; with the
                     select backend C + M at most FD_SETSIZE - 24, that is 1000 on
                     Linux, as select() needs fds below FD_SETSIZE)
  --backend B        load mode: the readiness call, select (default), poll or epoll;
                     poll and epoll go to 10,000 sockets and beyond, raising the soft
                     RLIMIT_NOFILE to the hard limit, or to C + M + 32 when the hard
                     limit is unlimited (a line on stderr when the hard limit is
                     below C + M + 32)
  --hold M           load mode: first open M connections that send nothing and keep
                     them open for the whole run, so the server watches M more fds
                     while the load is measured; the summary ends with held=H, those
                     still open at the end. The server closes idle clients after its
                     --idle-timeout (10 s by default): start it with a longer one
  -h, --help         this text
  -V, --version      the version";

/// Default load-mode limit per transaction.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The most sockets load mode keeps open: every fd must stay below `FD_SETSIZE` for
/// `select()`, and stdin, stdout, stderr and a few inherited fds sit below the sockets.
pub const MAX_CONCURRENCY: usize = FD_SETSIZE - 24;

/// Everything the command line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub host: String,
    pub port: u16,
    pub message: Vec<u8>,
    pub oob: bool,
    /// As given; `None` when `--timeout` was not given.
    pub timeout: Option<f64>,
    /// `Some` in load mode.
    pub load: Option<Load>,
}

/// Load-mode sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    pub connections: u64,
    pub concurrency: usize,
    pub backend: Backend,
    /// `--hold M`, when given.
    pub hold: Option<usize>,
}

/// What parsing found: options to run with, or a request for help or the version.
pub type Parsed = common::Parsed<Options>;

/// `--timeout`: seconds, at most a year. Durations beyond a year are as good as none; the
/// cap keeps `Instant` arithmetic sane.
const MOST_TIMEOUT: Most = Most::AtMost(31_536_000.0);

/// Parse the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut opts = Options {
        host: "127.0.0.1".into(),
        port: 5050,
        message: b"hi".to_vec(),
        oob: false,
        timeout: None,
        load: None,
    };
    let mut connections = None;
    let mut concurrency = None;
    let mut backend = None;
    let mut hold = None;

    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(usage_error)? {
        match arg {
            Long("oob") => opts.oob = true,
            Long("host") => opts.host = text(&mut p, "--host")?,
            Long("port") => opts.port = port(&text(&mut p, "--port")?, 1)?,
            Long("message") => {
                let message = p.value().map_err(usage_error)?.into_vec();
                if message.is_empty() {
                    return Err(
                        "--message must not be empty: the server waits for a message".into(),
                    );
                }
                opts.message = message;
            }
            Long("timeout") => {
                let timeout = text(&mut p, "--timeout")?;
                opts.timeout = Some(seconds(&timeout, "--timeout", MOST_TIMEOUT)?)
            }
            Long("connections") => connections = Some(count::<u64>(&mut p, "--connections")?),
            Long("concurrency") => concurrency = Some(count::<u64>(&mut p, "--concurrency")?),
            Long("backend") => backend = Some(one_of(&mut p, "--backend", &BACKENDS)?),
            Long("hold") => hold = Some(at_least::<usize>(&mut p, "--hold", 0)?),
            // -h, -V, and the shared errors.
            arg => return other_argument(arg),
        }
    }

    opts.load = match (connections, concurrency) {
        (None, None) => None,
        (None, Some(_)) => return Err("--concurrency needs --connections".into()),
        (Some(connections), concurrency) => {
            let concurrency = concurrency.unwrap_or(1);
            let backend = backend.unwrap_or(Backend::Select);
            let held = hold.unwrap_or(0) as u64;
            if backend == Backend::Select
                && concurrency.saturating_add(held) > MAX_CONCURRENCY as u64
            {
                let what = match hold {
                    None => format!("--concurrency {concurrency}"),
                    Some(m) => format!("--concurrency {concurrency} with --hold {m}"),
                };
                return Err(format!(
                    "{what} is too high: select() only handles fds below FD_SETSIZE \
                     ({FD_SETSIZE}), so at most {MAX_CONCURRENCY} sockets can be in flight \
                     or held; use --backend poll or epoll for more"
                ));
            }
            Some(Load {
                connections,
                concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
                backend,
                hold,
            })
        }
    };
    if opts.load.is_none() && (backend.is_some() || hold.is_some()) {
        return Err("--backend and --hold need --connections (load mode)".into());
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
        assert_eq!(opts.port, 5050);
        assert_eq!(opts.message, b"hi");
        assert!(!opts.oob && opts.timeout.is_none() && opts.load.is_none());
    }

    #[test]
    fn values_separate_or_glued_and_last_wins() {
        let opts = run(&["--port", "5060", "--message=a=b", "--port=5070", "--oob"]).unwrap();
        assert_eq!(
            (opts.port, opts.message.as_slice(), opts.oob),
            (5070, &b"a=b"[..], true)
        );
    }

    #[test]
    fn load_mode_sizes() {
        let opts = run(&["--connections", "20000", "--concurrency", "1000"]).unwrap();
        assert_eq!(
            opts.load,
            Some(Load {
                connections: 20000,
                concurrency: 1000,
                backend: Backend::Select,
                hold: None,
            })
        );
        let opts = run(&["--connections", "3"]).unwrap();
        assert_eq!(opts.load.unwrap().concurrency, 1);
        assert!(run(&["--connections", "3", "--concurrency", "1001"]).is_err());
        // select: in flight and held together stay below FD_SETSIZE; poll and epoll: no cap.
        assert!(run(&[
            "--connections",
            "3",
            "--concurrency",
            "500",
            "--hold",
            "501"
        ])
        .is_err());
        let opts = run(&[
            "--connections",
            "3",
            "--concurrency",
            "10000",
            "--backend",
            "epoll",
            "--hold=1000",
        ])
        .unwrap();
        let load = opts.load.unwrap();
        assert_eq!(
            (load.concurrency, load.backend, load.hold),
            (10000, Backend::Epoll, Some(1000))
        );
        assert_eq!(
            run(&["--backend", "poll"]).unwrap_err(),
            "--backend and --hold need --connections (load mode)"
        );
    }

    #[test]
    fn errors_in_the_shared_words() {
        for (args, want) in [
            (&["--port"][..], "--port needs a value"),
            (&["--oob=yes"][..], "--oob takes no value"),
            (
                &["--message", ""][..],
                "--message must not be empty: the server waits for a message",
            ),
            (
                &["--connections", "0"][..],
                "bad --connections \"0\": expected a whole number >= 1",
            ),
            (
                &["--connections", "1", "--backend", "kqueue"][..],
                "bad --backend \"kqueue\": expected select, poll or epoll",
            ),
        ] {
            assert_eq!(run(args).unwrap_err(), want, "{args:?}");
        }
    }

    #[test]
    fn a_value_may_start_with_a_dash() {
        assert_eq!(run(&["--message", "-x"]).unwrap().message, b"-x");
        assert!(run(&["--port", "-1"])
            .unwrap_err()
            .starts_with("bad port \"-1\""));
    }

    #[test]
    fn version() {
        assert_eq!(run(&["--version"]).unwrap_err(), "version");
        assert_eq!(run(&["-V"]).unwrap_err(), "version");
    }

    #[test]
    fn help_wins_over_later_arguments() {
        assert_eq!(run(&["--port", "1", "-h", "--bogus"]).unwrap_err(), "help");
    }
}
