//! `pyselect-server`: the seed's three Python servers (blocking, `settimeout(1)` polling,
//! `select.select`) and a fully multiplexed fourth, on pyselect's `select()`.
//!
//! Each mode is one small file, to be read beside its `strace` output.

mod blocking;
mod cli;
mod lines;
mod multiplex;
mod select;
mod server;
mod timeout;

use std::process::ExitCode;

use pyselect::signals::{self, Signal};
use pyselect::{Error, Syscall};
use pyselect_cli::cli as common;
use pyselect_cli::output::eprint_line;
use pyselect_cli::readiness;

use cli::{Mode, Options};
use lines::Lines;
use readiness::{Backend, Readiness};
use server::{Listener, Stats};

/// How few fds below FD_SETSIZE left for clients earn a warning in the select-based modes.
const FEW_CLIENT_FDS: usize = 64;

/// Concurrent connections the poll and epoll backends are meant to serve: the fds asked of
/// RLIMIT_NOFILE are these, the listeners, and a few for stdio and the epoll fd.
const CONNECTIONS_GOAL: u64 = 10_000;

fn main() -> ExitCode {
    // No panic text reaches the user: one line, exit 101 (a bug to report, not a usage error).
    std::panic::set_hook(Box::new(|info| {
        let _ = eprint_line(&format!("pyselect-server: internal error: {info}"));
    }));

    let parsed = cli::parse(std::env::args_os().skip(1));
    let opts = match common::options_or_exit(cli::PROGRAM, cli::USAGE, parsed) {
        Ok(opts) => opts,
        Err(status) => return status,
    };
    if opts.syscall == Syscall::Select && !Syscall::raw_select_available() {
        let _ = eprint_line(
            "pyselect-server: --syscall select: the raw select syscall exists only on x86-64 Linux",
        );
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
        Err(e) => {
            let _ = eprint_line(&format!("pyselect-server: {}", e.message()));
            return e.exit_code();
        }
    };

    let mut out = Lines::new(opts.quiet);
    let mut stats = Stats::new(opts.count);
    let mut readiness = None;
    if opts.mode == Mode::Multiplex {
        out.never_block();
        if opts.backend != Backend::Select {
            raise_nofile(&opts, &mut out);
        }
        // The readiness call ready, the listeners watched (epoll_create1, epoll_ctl), before
        // the "listening on" line.
        let ready = Readiness::new(opts.backend, opts.syscall)
            .and_then(|mut r| multiplex::register_listeners(&listeners, &mut r).map(|()| r));
        match ready {
            Ok(r) => readiness = Some(r),
            Err(e) => {
                out.warn(&format!(
                    "cannot start the {} backend: {}",
                    opts.backend.as_str(),
                    server::describe(&e)
                ));
                close_listeners(&mut listeners);
                let _ = out.finish(stats.totals(), None);
                return ExitCode::FAILURE;
            }
        }
    }
    if opts.uses_fd_set() {
        let left = server::fds_left_for_clients(&listeners);
        if left < FEW_CLIENT_FDS {
            out.warn(&format!(
                "only {left} fds below FD_SETSIZE ({}) remain for clients after {} listeners; \
                 use fewer ports, or {}",
                pyselect::FD_SETSIZE,
                listeners.len(),
                server::no_fd_set_limit(opts.mode)
            ));
        }
    }
    let places: Vec<String> = listeners.iter().map(|l| l.addr.to_string()).collect();
    // The backend is named when it is not the seed's select().
    let backend = match opts.backend {
        Backend::Select => String::new(),
        other => format!(", {} backend", other.as_str()),
    };
    out.warn(&format!(
        "listening on {} ({} mode{backend})",
        places.join(" "),
        opts.mode.as_str()
    ));

    let outcome = match readiness.as_mut() {
        Some(readiness) => multiplex::run(
            &listeners,
            &mut out,
            &mut stats,
            readiness,
            opts.idle_timeout,
        ),
        None => run(&opts, &listeners, &mut out, &mut stats),
    };
    drop(readiness);
    close_listeners(&mut listeners);
    // Output lost to a failed write (a full disk, a closed reader) makes the exit status 1.
    let status = |output_lost: bool| match output_lost {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    };
    match outcome {
        Ok(()) => status(out.finish(stats.totals(), None)),
        Err(Error::Interrupted(sig)) => status(out.finish(stats.totals(), Some(sig))),
        Err(e) => {
            out.warn(&format!("stopping: {}", server::describe(&e)));
            let _ = out.finish(stats.totals(), None);
            ExitCode::FAILURE
        }
    }
}

/// Run the chosen serial mode until `--count` or a signal. (Multiplex mode runs in `main`,
/// on the readiness call made ready before the "listening on" line.)
fn run(
    opts: &Options,
    listeners: &[Listener],
    out: &mut Lines,
    stats: &mut Stats,
) -> Result<(), Error> {
    match opts.mode {
        Mode::Blocking => blocking::run(&listeners[0], out, stats),
        Mode::Timeout => timeout::run(listeners, out, stats),
        Mode::Select => select::run(listeners, out, stats, opts.syscall),
        // Never reached: `main` runs multiplex mode on its readiness call.
        Mode::Multiplex => Ok(()),
    }
}

/// poll and epoll: as many fds as RLIMIT_NOFILE's hard limit allows (what
/// [`CONNECTIONS_GOAL`] connections need when it is unlimited); one stderr line when that is
/// fewer than they need.
fn raise_nofile(opts: &Options, out: &mut Lines) {
    let wanted = CONNECTIONS_GOAL + opts.ports.len() as u64 + 8;
    match pyselect_cli::limits::raise_nofile(wanted) {
        Ok(limit) => {
            if let Some(line) = limit.shortfall() {
                out.warn(&line);
            }
        }
        Err(e) => out.warn(&format!(
            "cannot raise RLIMIT_NOFILE: {}",
            server::describe(&e)
        )),
    }
}

fn close_listeners(listeners: &mut [Listener]) {
    for l in listeners {
        let _ = l.sock.close();
    }
}
