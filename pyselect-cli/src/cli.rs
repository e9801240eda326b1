//! The command-line dialect `pyselect-server` and `pyselect-client` share, on `lexopt`:
//! `--flag value` or `--flag=value`, `-h`/`--help`, `-V`/`--version`, and one-line errors in
//! the same words. Each binary's `cli.rs` uses this module as `common`: it is code of the two
//! programs, so it stays out of the library's API.

use std::str::FromStr;

use lexopt::prelude::*;

/// A usage error as both programs print it: one line, the reason and where to read more
/// (`pyselect-server: unknown option "--bogus" (see pyselect-server --help)`).
pub fn error_line(program: &str, reason: &str) -> String {
    format!("{program}: {reason} (see {program} --help)")
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

/// The next value, as UTF-8 text.
pub fn text(p: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    p.value()
        .map_err(usage_error)?
        .into_string()
        .map_err(|v| format!("bad {flag} {v:?}: not valid UTF-8"))
}

/// The next value, a whole number >= 1.
pub fn count<T: FromStr + PartialOrd + From<u8>>(
    p: &mut lexopt::Parser,
    flag: &str,
) -> Result<T, String> {
    let text = text(p, flag)?;
    match text.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        _ => Err(format!("bad {flag} {text:?}: expected a whole number >= 1")),
    }
}

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
