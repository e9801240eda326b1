//! What `pyselect-server` and `pyselect-client` share and the library leaves out: program
//! policy, not Python's `select` module.
//!
//! - [`cli`]: the command-line dialect of both programs, on `lexopt`.
//! - [`readiness`]: the one readiness call of an event loop (`--backend select|poll|epoll`).
//! - [`deadlines`]: the queue of an event loop's deadlines (idle connections, transactions).
//! - [`output`]: lines on stdout/stderr, one `write(2)` each; blocking, or never blocking.
//! - [`limits`]: raise `RLIMIT_NOFILE` for programs that watch thousands of fds.
//! - [`host`]: the `--host` rule of both programs.
//! - [`pyrepr`]: `repr()` of bytes and address tuples, exactly as Python prints them.
//!
//! All `unsafe` code lives in one private module, `sys`, one small wrapper per C call, each
//! with a `// SAFETY:` comment; the rest of the crate is compiled with `deny(unsafe_code)`.
#![deny(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod deadlines;
pub mod host;
pub mod limits;
pub mod output;
pub mod pyrepr;
pub mod readiness;
#[allow(unsafe_code)]
mod sys;
