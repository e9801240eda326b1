//! The command-line dialect `pyselect-server` and `pyselect-client` share, on `lexopt`:
//! `--flag value` or `--flag=value`, `-h`/`--help`, `-V`/`--version`, one-line errors in
//! the same words, and the values both take (whole numbers, seconds, ports, `--backend`).
//! Each binary's `cli.rs` and `main.rs` use this module as `common`: it is code of the two
//! programs, so it stays out of the library's API.

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;

use lexopt::prelude::*;

use crate::output::{eprint_line, print_line};
use crate::readiness::Backend;

/// A usage error as both programs print it: one line, the reason and where to read more
/// (`pyselect-server: unknown option "--bogus" (see pyselect-server --help)`).
pub fn error_line(program: &str, reason: &str) -> String {
    format!("{program}: {reason} (see {program} --help)")
}

/// What `--version` prints: the program's name and the crate's version.
pub fn version_line(program: &str) -> String {
    format!("{program} {}", env!("CARGO_PKG_VERSION"))
}

/// What parsing found: options to run with, or a request for help or the version.
#[derive(Debug)]
pub enum Parsed<O> {
    Run(O),
    Help,
    Version,
}

impl<O> Parsed<O> {
    /// For the parsers' tests: the options, or `help` / `version` as the error text.
    pub fn options(self) -> Result<O, String> {
        match self {
            Parsed::Run(opts) => Ok(opts),
            Parsed::Help => Err("help".into()),
            Parsed::Version => Err("version".into()),
        }
    }
}

/// What `main` does with what parsing found: the options to run with, or, once the program
/// has printed its `usage` text (`--help`), its version or its usage error, the exit status:
/// 0, or 1 when stdout would not take the text; 2 for a usage error.
pub fn options_or_exit<O>(
    program: &str,
    usage: &str,
    parsed: Result<Parsed<O>, String>,
) -> Result<O, ExitCode> {
    let shown = match parsed {
        Ok(Parsed::Run(opts)) => return Ok(opts),
        Ok(Parsed::Help) => print_line(usage),
        Ok(Parsed::Version) => print_line(&version_line(program)),
        Err(reason) => {
            let _ = eprint_line(&error_line(program, &reason));
            return Err(ExitCode::from(2));
        }
    };
    Err(match shown {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    })
}

/// The next value, as UTF-8 text.
pub fn text(p: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    p.value()
        .map_err(usage_error)?
        .into_string()
        .map_err(|v| format!("bad {flag} {v:?}: not valid UTF-8"))
}

/// The next value, a whole number >= `least`.
pub fn at_least<T: FromStr + PartialOrd + fmt::Display>(
    p: &mut lexopt::Parser,
    flag: &str,
    least: T,
) -> Result<T, String> {
    let text = text(p, flag)?;
    match text.parse::<T>() {
        Ok(n) if n >= least => Ok(n),
        _ => Err(format!(
            "bad {flag} {text:?}: expected a whole number >= {least}"
        )),
    }
}

/// The next value, a whole number >= 1.
pub fn count<T: FromStr + PartialOrd + fmt::Display + From<u8>>(
    p: &mut lexopt::Parser,
    flag: &str,
) -> Result<T, String> {
    at_least(p, flag, T::from(1))
}

/// The largest number of seconds a value may give, as its error names it.
#[derive(Clone, Copy, Debug)]
pub enum Most {
    /// Less than this many; named in e-notation (`less than 1e9`).
    Below(f64),
    /// This many or fewer; named in plain digits (`at most 31536000`).
    AtMost(f64),
}

impl Most {
    fn admits(self, seconds: f64) -> bool {
        match self {
            Most::Below(most) => seconds < most,
            Most::AtMost(most) => seconds <= most,
        }
    }
}

impl fmt::Display for Most {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Most::Below(most) => write!(f, "less than {most:e}"),
            Most::AtMost(most) => write!(f, "at most {most}"),
        }
    }
}

/// `flag`'s value `text`, seconds: a finite number more than 0 and within `most`.
pub fn seconds(text: &str, flag: &str, most: Most) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && most.admits(s) => Ok(s),
        _ => Err(format!(
            "bad {flag} {text:?}: expected seconds, more than 0 and {most}"
        )),
    }
}

/// A port number, `lowest` to 65535 (0 for the server, where it lets the kernel choose; 1
/// for the client).
pub fn port(text: &str, lowest: u16) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(p) if p >= lowest => Ok(p),
        _ => Err(format!("bad port {text:?}: expected {lowest}-65535")),
    }
}

/// `--backend`'s words, in the order the error lists them.
pub const BACKENDS: [(&str, Backend); 3] = [
    ("select", Backend::Select),
    ("poll", Backend::Poll),
    ("epoll", Backend::Epoll),
];

/// The next value, one of the `choices` words; the error lists them in their order.
pub fn one_of<T: Copy>(
    p: &mut lexopt::Parser,
    flag: &str,
    choices: &[(&str, T)],
) -> Result<T, String> {
    let text = text(p, flag)?;
    if let Some(&(_, value)) = choices.iter().find(|(word, _)| *word == text) {
        return Ok(value);
    }
    let words: Vec<&str> = choices.iter().map(|&(word, _)| word).collect();
    let expected = match words.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(format!("bad {flag} {text:?}: expected {expected}"))
}

/// An argument none of the program's own options took: `-h`/`--help`, `-V`/`--version`,
/// or the error for an unknown option or a stray argument.
pub fn other_argument<O>(arg: lexopt::Arg<'_>) -> Result<Parsed<O>, String> {
    match arg {
        Short('h') | Long("help") => Ok(Parsed::Help),
        Short('V') | Long("version") => Ok(Parsed::Version),
        Long(other) => Err(format!("unknown option \"--{other}\"")),
        Short(c) => Err(format!("unknown option \"-{c}\"")),
        Value(v) => Err(format!("unexpected argument {v:?}")),
    }
}

/// lexopt's errors in the words both programs use.
pub fn usage_error(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::MissingValue {
            option: Some(option),
        } => format!("{option} needs a value"),
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    /// The options of a program in the dialect: one of each kind of value.
    #[derive(Debug, Default, PartialEq)]
    struct Options {
        quiet: bool,
        name: String,
        count: Option<u64>,
        hold: Option<usize>,
        idle: Option<f64>,
        timeout: Option<f64>,
        port: Option<u16>,
        backend: Option<Backend>,
    }

    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed<Options>, String> {
        let mut opts = Options::default();
        let mut p = lexopt::Parser::from_args(args);
        while let Some(arg) = p.next().map_err(usage_error)? {
            match arg {
                Short('q') | Long("quiet") => opts.quiet = true,
                Long("name") => opts.name = text(&mut p, "--name")?,
                Long("count") => opts.count = Some(count(&mut p, "--count")?),
                Long("hold") => opts.hold = Some(at_least(&mut p, "--hold", 0)?),
                Long("idle") => {
                    let idle = text(&mut p, "--idle")?;
                    opts.idle = Some(seconds(&idle, "--idle", Most::Below(1e9))?)
                }
                Long("timeout") => {
                    let timeout = text(&mut p, "--timeout")?;
                    opts.timeout = Some(seconds(&timeout, "--timeout", Most::AtMost(31_536_000.0))?)
                }
                Long("port") => opts.port = Some(port(&text(&mut p, "--port")?, 1)?),
                Long("backend") => opts.backend = Some(one_of(&mut p, "--backend", &BACKENDS)?),
                arg => return other_argument(arg),
            }
        }
        Ok(Parsed::Run(opts))
    }

    fn run(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(OsString::from))?.options()
    }

    #[test]
    fn values_in_range_separate_or_glued() {
        let opts = run(&[
            "-q",
            "--name=a=b",
            "--count",
            "18446744073709551615",
            "--hold=0",
            "--idle",
            "1e-9",
            "--timeout",
            "31536000",
            "--port",
            "65535",
            "--backend=epoll",
        ])
        .unwrap();
        assert_eq!(
            opts,
            Options {
                quiet: true,
                name: "a=b".into(),
                count: Some(u64::MAX),
                hold: Some(0),
                idle: Some(1e-9),
                timeout: Some(31_536_000.0),
                port: Some(65535),
                backend: Some(Backend::Epoll),
            }
        );
        assert_eq!(run(&["--name", "-x"]).unwrap().name, "-x");
        assert_eq!(port("0", 0), Ok(0));
    }

    #[test]
    fn errors_in_the_shared_words() {
        for (args, want) in [
            (&["--bogus"][..], "unknown option \"--bogus\""),
            (&["-x"][..], "unknown option \"-x\""),
            (&["stray"][..], "unexpected argument \"stray\""),
            (&["--name"][..], "--name needs a value"),
            (&["--quiet=yes"][..], "--quiet takes no value"),
            (
                &["--count", "0"][..],
                "bad --count \"0\": expected a whole number >= 1",
            ),
            (
                &["--count", "18446744073709551616"][..],
                "bad --count \"18446744073709551616\": expected a whole number >= 1",
            ),
            (
                &["--hold", "-1"][..],
                "bad --hold \"-1\": expected a whole number >= 0",
            ),
            (
                &["--idle", "1e9"][..],
                "bad --idle \"1e9\": expected seconds, more than 0 and less than 1e9",
            ),
            (
                &["--idle", "nan"][..],
                "bad --idle \"nan\": expected seconds, more than 0 and less than 1e9",
            ),
            (
                &["--timeout", "31536000.5"][..],
                "bad --timeout \"31536000.5\": expected seconds, more than 0 and at most 31536000",
            ),
            (
                &["--timeout", "0"][..],
                "bad --timeout \"0\": expected seconds, more than 0 and at most 31536000",
            ),
            (
                &["--timeout", "inf"][..],
                "bad --timeout \"inf\": expected seconds, more than 0 and at most 31536000",
            ),
            (&["--port", "0"][..], "bad port \"0\": expected 1-65535"),
            (
                &["--port", "65536"][..],
                "bad port \"65536\": expected 1-65535",
            ),
            (
                &["--backend", "kqueue"][..],
                "bad --backend \"kqueue\": expected select, poll or epoll",
            ),
        ] {
            assert_eq!(run(args).unwrap_err(), want, "{args:?}");
        }
        let not_utf8 = [OsString::from("--name"), OsString::from_vec(vec![0xff])];
        assert_eq!(
            parse(not_utf8).unwrap_err(),
            "bad --name \"\\xFF\": not valid UTF-8"
        );
    }

    #[test]
    fn help_and_version_win_over_later_arguments() {
        assert_eq!(run(&["--count", "1", "-h", "--bogus"]).unwrap_err(), "help");
        assert_eq!(run(&["--help"]).unwrap_err(), "help");
        assert_eq!(run(&["-V", "--bogus"]).unwrap_err(), "version");
        assert_eq!(run(&["--version"]).unwrap_err(), "version");
    }

    #[test]
    fn the_lines_both_programs_print() {
        assert_eq!(
            error_line("prog", "unknown option \"--bogus\""),
            "prog: unknown option \"--bogus\" (see prog --help)"
        );
        assert_eq!(
            version_line("prog"),
            format!("prog {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
