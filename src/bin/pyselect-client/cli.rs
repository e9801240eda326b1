//! Command-line options of `pyselect-client`, parsed by hand (the program stays dependency-free).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use pyselect::FD_SETSIZE;

/// The one-line synopsis printed under a usage error.
pub const SYNOPSIS: &str =
    "usage: pyselect-client [--host 127.0.0.1] [--port 5050] [--message hi] [--oob] \
[--timeout SECS] [--connections N [--concurrency C]] [--version]";

/// What `--version` prints.
pub const VERSION: &str = concat!("pyselect-client ", env!("CARGO_PKG_VERSION"));

pub const USAGE: &str = "\
usage: pyselect-client [--host 127.0.0.1] [--port 5050] [--message hi] [--oob] [--timeout SECS]
       pyselect-client --port 5050 --connections N [--concurrency C] [--timeout SECS]

The seed's echo client: connect, send the message once, recv(1024), print
  resp from server : b'welcome 5050!'
and close. A reply that does not start with 'welcome', a refused or reset connection,
or a server that closes without replying: one line on stderr, exit 1.

With --connections, a load generator: N transactions (connect, send, read to EOF, close),
at most C in flight at once on non-blocking sockets multiplexed by pyselect's select().
Every reply must be exactly 'welcome <port>!' or 'welcome!'. Failures are counted, not
fatal. Progress is shown on stderr when it is a terminal. One summary line on stdout:
  transactions=N errors=E seconds=S tx/s=R p50_us=A p99_us=B max_us=C
(tx/s counts successful transactions; latencies run from connect to EOF, successful
transactions only). Exit 0 when E is 0, else 1; SIGINT/SIGTERM stop the run early, print
the summary so far, and exit 130/143.

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
  --concurrency C    load mode: transactions in flight at once (default 1; at most
                     FD_SETSIZE - 24, that is 1000 on Linux, as select() needs fds
                     below FD_SETSIZE)
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
}

/// What parsing found: options to run with, or a request for help.
#[derive(Debug)]
pub enum Parsed {
    Run(Options),
    Help,
    Version,
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(format!("bad port {text:?}: expected 1-65535")),
    }
}

fn parse_count(flag: &str, text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("bad {flag} {text:?}: expected a whole number >= 1")),
    }
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        // Durations beyond a year are as good as none; the cap keeps Instant arithmetic sane.
        Ok(t) if t.is_finite() && t > 0.0 && t <= 31_536_000.0 => Ok(t),
        _ => Err(format!(
            "bad --timeout {text:?}: expected seconds, more than 0 and at most 31536000"
        )),
    }
}

fn text(flag: &str, value: OsString) -> Result<String, String> {
    value
        .into_string()
        .map_err(|v| format!("bad {flag} {v:?}: not valid UTF-8"))
}

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

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Flags are ASCII; a value glued on with '=' may be any bytes (--message=...).
        let bytes = arg.into_vec();
        let (flag, glued) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) if bytes.starts_with(b"--") => {
                (bytes[..i].to_vec(), Some(bytes[i + 1..].to_vec()))
            }
            _ => (bytes, None),
        };
        let flag = String::from_utf8(flag)
            .map_err(|e| format!("unknown argument {:?}", OsString::from_vec(e.into_bytes())))?;
        let takes_value = matches!(
            flag.as_str(),
            "--host" | "--port" | "--message" | "--timeout" | "--connections" | "--concurrency"
        );
        let value = if takes_value {
            match glued {
                Some(v) => OsString::from_vec(v),
                None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
            }
        } else {
            if glued.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            OsString::new()
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--oob" => opts.oob = true,
            "--host" => opts.host = text(&flag, value)?,
            "--port" => opts.port = parse_port(&text(&flag, value)?)?,
            "--message" if value.is_empty() => {
                return Err("--message must not be empty: the server waits for a message".into())
            }
            "--message" => opts.message = value.into_vec(),
            "--timeout" => opts.timeout = Some(parse_timeout(&text(&flag, value)?)?),
            "--connections" => connections = Some(parse_count(&flag, &text(&flag, value)?)?),
            "--concurrency" => concurrency = Some(parse_count(&flag, &text(&flag, value)?)?),
            _ if flag.starts_with('-') => return Err(format!("unknown option {flag:?}")),
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }

    opts.load = match (connections, concurrency) {
        (None, None) => None,
        (None, Some(_)) => return Err("--concurrency needs --connections".into()),
        (Some(connections), concurrency) => {
            let concurrency = concurrency.unwrap_or(1);
            if concurrency > MAX_CONCURRENCY as u64 {
                return Err(format!(
                    "--concurrency {concurrency} is too high: select() only handles fds below \
                     FD_SETSIZE ({FD_SETSIZE}), so at most {MAX_CONCURRENCY} sockets can be in flight"
                ));
            }
            Some(Load {
                connections,
                concurrency: concurrency as usize,
            })
        }
    };
    Ok(Parsed::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(OsString::from))? {
            Parsed::Run(opts) => Ok(opts),
            Parsed::Help => Err("help".into()),
            Parsed::Version => Err("version".into()),
        }
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
                concurrency: 1000
            })
        );
        let opts = run(&["--connections", "3"]).unwrap();
        assert_eq!(opts.load.unwrap().concurrency, 1);
        assert!(run(&["--connections", "3", "--concurrency", "1001"]).is_err());
    }

    #[test]
    fn help_wins_over_later_arguments() {
        assert_eq!(run(&["--port", "1", "-h", "--bogus"]).unwrap_err(), "help");
    }
}
