//! The make targets a learner runs first (`make demo`, `make run-clients`), run for real.
//!
//! They run in a scratch copy of the project whose `target/release/` holds fake, stale
//! `pyselect-server` and `pyselect-client` programs that only leave a mark when run, with
//! `CARGO_TARGET_DIR` pointing elsewhere (a relative path, `../cargo-target`, as in
//! `CARGO_TARGET_DIR=../t make demo`): the targets must run what cargo has just built there and
//! never the stale programs. The copy and the cargo target directory sit at fixed places under
//! Cargo's test scratch directory, so only the first run pays for a release build; later runs
//! rebuild what changed.
//!
//! Ports are always ephemeral (`PORTS=0,0`, the server's own report), addresses loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use testkit::child::{ChildGuard, Output};
use testkit::server::ServerProcess;
use testkit::{LIMIT, MAKE_LIMIT};

/// What the fake stale binaries print when run, besides leaving their mark file.
const STALE: &str = "STALE target/release binary ran";

/// The scratch project: a copy of the files a build and the make targets need, made once per
/// test process at a fixed place (so cargo's fingerprints stay valid between runs), with the
/// fake stale binaries in its `target/release/`.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("make_targets");
        let dir = base.join("checkout");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the old scratch copy");
        }
        std::fs::create_dir_all(&dir).expect("create the scratch copy");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for item in [
            "Cargo.toml",
            "Cargo.lock",
            "pyselect",
            "pyselect-cli",
            "pyselect-py",
            "testkit",
            "Makefile",
            "scripts",
            ".ci",
        ] {
            let from = root.join(item);
            if !from.exists() {
                continue;
            }
            // cp -a keeps the modification times, so cargo sees unchanged sources as fresh.
            let mut cp = Command::new("cp");
            cp.arg("-a").arg(&from).arg(&dir);
            let out = ChildGuard::spawn(&mut cp, "cp -a").output(LIMIT);
            assert!(
                out.status.success(),
                "cp -a {} failed: {}",
                from.display(),
                out.stderr
            );
        }
        let release = dir.join("target/release");
        std::fs::create_dir_all(&release).expect("create target/release");
        for name in ["pyselect-server", "pyselect-client"] {
            let fake = release.join(name);
            let mark = dir.join(format!("{name}.stale-ran"));
            std::fs::write(
                &fake,
                format!(
                    "#!/bin/sh\necho '{STALE}: {name}' >&2\ntouch '{}'\nexit 97\n",
                    mark.display()
                ),
            )
            .expect("write a fake binary");
            let mut chmod = Command::new("chmod");
            chmod.arg("+x").arg(&fake);
            let out = ChildGuard::spawn(&mut chmod, "chmod +x").output(LIMIT);
            assert!(out.status.success(), "chmod +x failed: {}", out.stderr);
        }
        std::fs::create_dir_all(base.join("cargo-target")).expect("create the target dir");
        dir
    })
}

/// The cargo target directory the make runs share, as the absolute path cargo will report.
fn cargo_target() -> PathBuf {
    scratch()
        .parent()
        .expect("scratch has a parent")
        .join("cargo-target")
}

/// `make ARGS` in the scratch copy with `CARGO_TARGET_DIR=../cargo-target`, and `env` added;
/// the settings the targets read from the environment are cleared first so only `env` and
/// `args` decide them.
fn make(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = scratch();
    let mut cmd = Command::new("make");
    cmd.arg("-s").args(args).current_dir(dir);
    // An outer make (make test) would hand its jobserver down; the fds are not ours.
    for var in [
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "CARGO_MAKEFLAGS",
        "HOST",
        "PORTS",
        "MODE",
        "MESSAGE",
        "TRACEDIR",
        "BACKEND",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", "../cargo-target");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = ChildGuard::spawn(&mut cmd, &format!("make {}", args.join(" "))).output(MAKE_LIMIT);
    assert_no_stale(&out);
    out
}

/// Neither fake stale binary ran.
fn assert_no_stale(out: &Output) {
    for name in ["pyselect-server", "pyselect-client"] {
        let mark = scratch().join(format!("{name}.stale-ran"));
        assert!(
            !mark.exists(),
            "the stale target/release/{name} was run\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(!out.stderr.contains(STALE), "{}", out.stderr);
}

/// The ports in the server's `listening on` line that `make demo` shows under "== server,
/// stderr".
fn demo_ports(out: &Output) -> Vec<u16> {
    let line = out
        .stdout
        .lines()
        .find_map(testkit::server::parse_listening)
        .unwrap_or_else(|| panic!("no listening line in the demo:\n{}", out.stdout));
    line.addrs.iter().map(|a| a.port()).collect()
}

#[test]
fn demo_runs_what_cargo_built_in_cargo_target_dir_on_the_ports_the_server_reports() {
    let out = make(
        &["demo", "PORTS=0,0", "MODE=select", r#"MESSAGE=it's "mine""#],
        &[],
    )
    .success("make demo");
    // The clients ran from the cargo target directory, not the checkout's target/.
    let shown = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("== clients (")?.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no clients line:\n{}", out.stdout));
    assert_eq!(
        std::fs::canonicalize(shown).expect("the client shown exists"),
        std::fs::canonicalize(cargo_target().join("release/pyselect-client")).expect("built"),
        "{}",
        out.stdout
    );
    let ports = demo_ports(&out);
    assert_eq!(ports.len(), 2, "{}", out.stdout);
    assert!(ports.iter().all(|&p| p != 0), "{ports:?}");
    // One reply per port the server reported, and MESSAGE as the server printed it.
    for port in &ports {
        let reply = format!("resp from server : b'welcome {port}!'");
        assert_eq!(out.stdout.matches(&reply).count(), 1, "{}", out.stdout);
    }
    assert_eq!(
        out.stdout.matches(r#"message : b'it\'s "mine"'"#).count(),
        2,
        "{}",
        out.stdout
    );
}

#[test]
fn demo_takes_host_from_the_command_line_not_the_environment() {
    // Some shells export HOST as the machine's name: the Makefile's default must win over it.
    let out = make(&["demo", "PORTS=0,0"], &[("HOST", "::1")]).success("HOST=::1 make demo");
    assert!(
        out.stdout
            .contains("pyselect-server: listening on 127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("[('127.0.0.1', ").count(),
        2,
        "{}",
        out.stdout
    );
    // On the command line: IPv6 loopback, then another loopback address than the default.
    let out = make(&["demo", "PORTS=0,0", "HOST=::1"], &[]).success("make demo HOST=::1");
    assert!(
        out.stdout.contains("pyselect-server: listening on [::1]:"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("[('::1', ").count(), 2, "{}", out.stdout);
    // On the command line, another loopback address than the default.
    let out = make(
        &["demo", "PORTS=0,0", "HOST=127.0.0.2", "MODE=timeout"],
        &[],
    )
    .success("make demo HOST=127.0.0.2");
    assert!(
        out.stdout
            .contains("pyselect-server: listening on 127.0.0.2:"),
        "{}",
        out.stdout
    );
    assert_eq!(demo_ports(&out).len(), 2);
}

#[test]
fn demo_takes_the_backend() {
    for backend in ["poll", "epoll"] {
        let out = make(&["demo", "PORTS=0,0", &format!("BACKEND={backend}")], &[])
            .success("make demo BACKEND=...");
        let listening = out
            .stdout
            .lines()
            .find_map(testkit::server::parse_listening)
            .unwrap_or_else(|| panic!("no listening line:\n{}", out.stdout));
        assert_eq!(
            listening.backend.as_deref(),
            Some(backend),
            "{}",
            out.stdout
        );
        for port in demo_ports(&out) {
            let reply = format!("resp from server : b'welcome {port}!'");
            assert_eq!(out.stdout.matches(&reply).count(), 1, "{}", out.stdout);
        }
    }
}

/// run-server and strace-server pass `--backend` only when BACKEND is set (`make -n` prints
/// the recipes without running them).
#[test]
fn run_and_strace_server_pass_the_backend_when_set() {
    for target in ["run-server", "strace-server"] {
        let out = make(&["-n", target, "BACKEND=epoll"], &[]).success("make -n");
        assert!(out.stdout.contains("--backend 'epoll'"), "{}", out.stdout);
        let out = make(&["-n", target], &[]).success("make -n");
        assert!(!out.stdout.contains("--backend"), "{}", out.stdout);
    }
}

#[test]
fn demo_in_blocking_mode_runs_one_client_on_the_one_port() {
    let out = make(&["demo", "PORTS=0,0", "MODE=blocking", "MESSAGE=one"], &[])
        .success("make demo MODE=blocking");
    assert_eq!(demo_ports(&out).len(), 1, "{}", out.stdout);
    // The seed's first server answers without a port.
    assert_eq!(
        out.stdout.matches("resp from server : b'welcome!'").count(),
        1,
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("$ pyselect-client ").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("message : b'one'"), "{}", out.stdout);
}

#[test]
fn run_clients_in_blocking_mode_uses_the_first_port_only() {
    // `make run-server MODE=blocking` opens the first port only; stand in for it with the
    // server binary itself, on an ephemeral port.
    let server = ServerProcess::start(&["--mode", "blocking", "--ports", "0"]);
    let port = server.port(0);
    // The second port: a TCP socket bound to it and never listening, so a client sent there
    // is refused, and the port stays ours until the test ends.
    let (_unused, closed) = bound_not_listening();
    let ports = format!("PORTS={port},{closed}");
    let out = make(
        &["run-clients", "MODE=blocking", &ports, "MESSAGE=first"],
        &[],
    )
    .success("make run-clients MODE=blocking");
    assert_eq!(
        out.stdout.matches("resp from server : b'welcome!'").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(&format!("--port {closed}")),
        "run-clients tried the second port:\n{}",
        out.stderr
    );
    assert!(
        server.wait_stdout_count("message : b'first'", 1),
        "{:?}",
        server.stdout_all()
    );
}

/// A TCP socket bound to an ephemeral loopback port, never listening: connections to the port
/// are refused while it is held.
fn bound_not_listening() -> (pyselect::Socket, u16) {
    let sock = pyselect::Socket::tcp_v4().expect("socket");
    sock.bind(("127.0.0.1", 0)).expect("bind");
    let port = sock.getsockname().expect("getsockname").port();
    (sock, port)
}

/// A PATH directory holding a link to every program on this PATH except `missing`, with
/// stand-ins for `apt-get` and `sudo` that only leave a mark: the targets that need it must say
/// that it is missing, and install nothing.
fn path_without(missing: &str, tag: &str) -> (PathBuf, PathBuf) {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("make-path-{tag}"));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("bin");
    std::fs::create_dir_all(&dir).expect("create the PATH directory");
    let mark = base.join("installer-ran");
    for name in ["apt-get", "sudo"] {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", mark.display()),
        )
        .expect("write a stand-in");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("make it executable");
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for from in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if name == missing || link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), &link).expect("link a program");
        }
    }
    (dir, mark)
}

#[test]
fn the_tracing_targets_say_what_is_missing_and_install_nothing() {
    for (target, missing) in [
        ("strace-server", "strace"),
        ("strace-clients", "strace"),
        ("compare", "strace"),
        ("compare", "python3"),
    ] {
        let (dir, mark) = path_without(missing, &format!("{target}-{missing}"));
        let path = dir.to_str().expect("a UTF-8 path").to_string();
        let out = make(&[target, "PORTS=0"], &[("PATH", &path)]);
        assert_ne!(out.code(), 0, "{target}: {out:?}");
        let lines = out.stderr_lines();
        assert_eq!(
            lines.first().copied(),
            Some(
                format!(
                    "make {target}: {missing} is not installed (not on PATH): run 'make deps', \
                     or 'apt-get install {missing}'"
                )
                .as_str()
            ),
            "{target}: {out:?}"
        );
        // Then only make's own note that the recipe failed.
        assert!(
            lines.len() == 2 && lines[1].starts_with("make: *** ["),
            "{target}: {out:?}"
        );
        assert_eq!(out.stdout, "", "{target}: {out:?}");
        assert!(
            !mark.exists(),
            "{target} ran an installer: {}",
            std::fs::read_to_string(&mark).unwrap_or_default()
        );
    }
}

/// `make deps` whose installer leaves strace missing says so, not that strace "cannot trace".
#[test]
fn deps_says_strace_is_missing_when_the_install_left_it_missing() {
    let (dir, mark) = path_without("strace", "deps");
    let path = dir.to_str().expect("a UTF-8 path").to_string();
    let out = make(&["deps"], &[("PATH", &path)]);
    assert!(
        std::fs::read_to_string(&mark)
            .unwrap_or_default()
            .contains("apt-get install -y -qq strace"),
        "make deps is the target that installs: {out:?}"
    );
    assert_eq!(
        out.stderr,
        "warning: strace is still not on PATH: install it with 'apt-get install strace'\n",
        "{out:?}"
    );
}
