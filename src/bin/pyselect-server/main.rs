//! `pyselect-server`: the seed's three Python servers (blocking, `settimeout(1)` polling,
//! `select.select`) and a fully multiplexed fourth, on pyselect's `select()`.
//!
//! Each mode is one small file, to be read beside its `strace` output.

mod blocking;
mod cli;
mod multiplex;
mod select;
mod server;
mod timeout;

use std::process::ExitCode;

use pyselect::output::eprint_line;
use pyselect::signals::{self, Signal};
use pyselect::{Error, Syscall};

use cli::{Mode, Options, Parsed};
use server::{Listener, Log};

/// How few fds below FD_SETSIZE left for clients earn a warning in the select-based modes.
const FEW_CLIENT_FDS: usize = 64;

fn main() -> ExitCode {
    // No panic text reaches the user: one line, exit 101 (a bug to report, not a usage error).
    std::panic::set_hook(Box::new(|info| {
        let _ = eprint_line(&format!("pyselect-server: internal error: {info}"));
    }));

    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            let _ = pyselect::output::print_line(cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            let _ = pyselect::output::print_line(cli::VERSION);
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            let _ = eprint_line(&format!("pyselect-server: {msg}\n{}", cli::SYNOPSIS));
            return ExitCode::from(2);
        }
    };
    if opts.syscall == Syscall::Select && !Syscall::raw_select_available() {
        let _ = eprint_line(
            "pyselect-server: --syscall select: the raw select syscall exists only on x86-64 Linux",
        );
        return ExitCode::from(2);
    }
    // fds 0-2 are taken: an fd_set holds at most FD_SETSIZE - 3 listeners.
    if opts.mode.uses_fd_set() && opts.ports.len() > pyselect::FD_SETSIZE - 3 {
        let _ = eprint_line(&format!(
            "pyselect-server: {}",
            server::too_many_listeners(opts.mode, opts.ports.len())
        ));
        return ExitCode::from(2);
    }

    let _guard = match signals::notify(&[Signal::SIGINT, Signal::SIGTERM]) {
        Ok(guard) => guard,
        Err(e) => {
            let _ = eprint_line(&format!("pyselect-server: signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let prepare = match opts.mode {
        Mode::Timeout => timeout::prepare,
        // Never block in accept(): a client that resets between select() and accept() must
        // not stall the loop.
        Mode::Multiplex => multiplex::prepare,
        Mode::Blocking | Mode::Select => |_: &mut pyselect::Socket| Ok(()),
    };
    let mut listeners = match server::open_listeners(&opts, prepare) {
        Ok(listeners) => listeners,
        Err(msg) => {
            let _ = eprint_line(&format!("pyselect-server: {msg}"));
            return ExitCode::FAILURE;
        }
    };

    let mut log = Log::new(&opts);
    if opts.mode == Mode::Multiplex {
        log.never_block();
    }
    if opts.mode.uses_fd_set() {
        let left = server::fds_left_for_clients(&listeners);
        if left < FEW_CLIENT_FDS {
            log.warn(&format!(
                "only {left} fds below FD_SETSIZE ({}) remain for clients after {} listeners; \
                 use fewer ports",
                pyselect::FD_SETSIZE,
                listeners.len()
            ));
        }
    }
    let places: Vec<String> = listeners.iter().map(|l| l.addr.to_string()).collect();
    log.warn(&format!(
        "listening on {} ({} mode)",
        places.join(" "),
        opts.mode.as_str()
    ));

    let outcome = run(&opts, &listeners, &mut log);
    close_listeners(&mut listeners);
    match outcome {
        Ok(()) => {
            log.finish(None);
            ExitCode::SUCCESS
        }
        Err(Error::Interrupted(sig)) => {
            log.finish(Some(sig));
            ExitCode::SUCCESS
        }
        Err(e) => {
            log.warn(&format!("stopping: {}", server::describe(&e)));
            log.finish(None);
            ExitCode::FAILURE
        }
    }
}

/// Run the chosen mode until `--count` or a signal.
fn run(opts: &Options, listeners: &[Listener], log: &mut Log) -> Result<(), Error> {
    match opts.mode {
        Mode::Blocking => blocking::run(&listeners[0], log),
        Mode::Timeout => timeout::run(listeners, log),
        Mode::Select => select::run(listeners, log, opts.syscall),
        Mode::Multiplex => multiplex::run(listeners, log, opts.syscall, opts.idle_timeout),
    }
}

fn close_listeners(listeners: &mut [Listener]) {
    for l in listeners {
        let _ = l.sock.close();
    }
}
