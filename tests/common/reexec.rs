//! Re-running one test of the current test binary in a fresh process: the child is told by an
//! environment variable that it is the child (and which role to play), so that the test's own
//! body does the child's work there. Run it with [`super::child::ChildGuard`].

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::process::Command;

/// The current test binary, set to run exactly the test `name`, alone, with its output shown,
/// and with `env=value` set to tell that test it runs in the child. (The test must be at the
/// crate's top level; add `--ignored` for an `#[ignore]`d one.)
pub fn test_command(name: &str, env: &str, value: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, value)
        // `--test-threads=1` decides; a RUST_TEST_THREADS from outside must not.
        .env_remove("RUST_TEST_THREADS");
    cmd
}
