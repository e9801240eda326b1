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

use nix::sys::signal::Signal;
use pyselect::{signals, Error, Syscall};

use cli::{Mode, Parsed};
use server::Server;

fn main() -> ExitCode {
    // No panic text reaches the user: one line, exit 101 (a bug to report, not a usage error).
    std::panic::set_hook(Box::new(|info| {
        let _ = pyselect::eprint_line(&format!("pyselect-server: internal error: {info}"));
    }));

    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            let _ = pyselect::print_line(cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            let _ = pyselect::eprint_line(&format!(
                "pyselect-server: {msg} (see pyselect-server --help)"
            ));
            return ExitCode::from(2);
        }
    };
    if opts.syscall == Syscall::Select && !Syscall::raw_select_available() {
        let _ = pyselect::eprint_line(
            "pyselect-server: --syscall select: the raw select syscall exists only on x86-64 Linux",
        );
        return ExitCode::from(2);
    }

    let _guard = match signals::notify(&[Signal::SIGINT, Signal::SIGTERM]) {
        Ok(guard) => guard,
        Err(e) => {
            let _ = pyselect::eprint_line(&format!("pyselect-server: signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut server = match Server::open(opts) {
        Ok(server) => server,
        Err(msg) => {
            let _ = pyselect::eprint_line(&format!("pyselect-server: {msg}"));
            return ExitCode::FAILURE;
        }
    };

    let places: Vec<String> = server
        .listeners
        .iter()
        .map(|l| server::host_port(&server.opts.host, l.port))
        .collect();
    server.warn(&format!(
        "listening on {} ({} mode)",
        places.join(" "),
        format!("{:?}", server.opts.mode).to_lowercase()
    ));

    let outcome = match server.opts.mode {
        Mode::Blocking => blocking::run(&mut server),
        Mode::Timeout => timeout::run(&mut server),
        Mode::Select => select::run(&mut server),
        Mode::Multiplex => multiplex::run(&mut server),
    };
    match outcome {
        Ok(()) | Err(Error::Interrupted(_)) => {
            server.finish();
            ExitCode::SUCCESS
        }
        Err(e) => {
            server.warn(&format!("stopping: {}", server::describe(&e)));
            server.finish();
            ExitCode::FAILURE
        }
    }
}
