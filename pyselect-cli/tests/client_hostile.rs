//! `pyselect-client` against the input of a hostile first run (issue 12): an empty message,
//! which would leave the client and a seed-style server waiting on each other forever.

use nix::sys::signal::Signal;
use testkit::server::{client, ServerProcess};

/// `--message ''` is refused before any connection, in single and load mode, with one line
/// naming the reason and the usage line, exit 2; the server never sees a connection.
#[test]
fn an_empty_message_is_refused_before_connecting() {
    let mut srv = ServerProcess::start(&["--ports", "0", "--mode", "select"]);
    let port = srv.port(0).to_string();
    for extra in [&[][..], &["--connections", "3"][..]] {
        let mut args = vec!["--port", port.as_str(), "--message", ""];
        args.extend_from_slice(extra);
        let out = client(&args).run_to_exit();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", out.stderr);
        assert_eq!(
            out.stderr,
            [
                "pyselect-client: --message must not be empty: the server waits for a message \
                 (see pyselect-client --help)"
            ]
        );
        assert!(out.stdout.is_empty());
    }
    srv.signal(Signal::SIGTERM);
    srv.wait_exit();
    let err = srv.stderr_all();
    assert!(
        err.last()
            .unwrap()
            .starts_with("pyselect-server: 0 served, 0 errors, "),
        "{err:?}"
    );
}
