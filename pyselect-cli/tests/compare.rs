//! `make compare MODE=...`, run for real: one connection through `pyselect-server` and through
//! the seed's CPython server, each under strace, printed side by side (examples/compare.rs).
//!
//! Each run is `make -s compare` in this checkout with `CARGO_TARGET_DIR` at a fixed place under
//! Cargo's test scratch directory (so only the first run pays for a release build, and the
//! checkout's own target directory is left to the outer cargo), `COLUMNS=400` so no line wraps.
//! The table's rows are read by position: the left column is `(400 - 7) / 2` characters wide,
//! then a space, the five-character mark, a space and the right column.
//!
//! The last tests run the tool itself (`pyselect-cli/examples/compare.rs`, built by cargo into the same
//! target directory) with a `PATH` made to order, without strace, with an strace that cannot
//! trace, or without python3, and check the one line that says what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use testkit::child::{ChildGuard, Output};
use testkit::{compare, MAKE_LIMIT};

/// The table's left column width at `COLUMNS=400`.
const COL: usize = (400 - 7) / 2;

fn cargo_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compare-target")
}

/// `make -s compare ARGS` in this checkout.
fn make_compare(args: &[&str]) -> Output {
    let mut cmd = Command::new("make");
    cmd.args(["-s", "compare"])
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    // An outer make (make test) would hand its jobserver down; the fds are not ours.
    for var in [
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "CARGO_MAKEFLAGS",
        "MODE",
        "BACKEND",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", cargo_target())
        .env("COLUMNS", "400");
    ChildGuard::spawn(&mut cmd, &format!("make compare {}", args.join(" "))).output(MAKE_LIMIT)
}

/// One row of the table: (pyselect's line, the mark, CPython's line); "" for an empty cell.
#[derive(Debug, PartialEq)]
struct Row {
    left: String,
    mark: String,
    right: String,
}

/// The table's rows, between its `---` underline and the blank line after it.
fn rows(out: &Output) -> Vec<Row> {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("---------------"))
        .unwrap_or_else(|| panic!("no table in the output:\n{}", out.stdout))
        + 1;
    lines[start..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| {
            assert!(l.len() >= COL + 6, "a row shorter than its columns: {l:?}");
            Row {
                left: l[..COL].trim_end().to_string(),
                mark: l[COL + 1..COL + 6].trim().to_string(),
                right: l.get(COL + 7..).unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// The row whose left cell starts with `left` (the first one).
fn row<'a>(rows: &'a [Row], left: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.left.starts_with(left))
        .unwrap_or_else(|| panic!("no row starting with {left:?} on the left: {rows:#?}"))
}

/// The note `[n]` a mark such as `~[3]` refers to, from the "Differences:" list.
fn note<'a>(out: &'a Output, mark: &str) -> &'a str {
    let n = mark
        .trim_start_matches(['~', '<', '>'])
        .trim_matches(['[', ']']);
    assert!(
        n.parse::<u32>().is_ok(),
        "mark {mark:?} names no known difference"
    );
    let prefix = format!("  [{n}] ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no note [{n}]:\n{}", out.stdout))
}

/// Every row is the same on both sides or marked with a known difference.
fn assert_all_explained(out: &Output, rows: &[Row]) {
    for r in rows {
        if r.mark != "=" {
            note(out, &r.mark);
        }
    }
    assert!(
        !out.stdout.contains("line(s) differ in a way"),
        "{}",
        out.stdout
    );
}

/// What every mode shows: both titles, the client's reply from both servers, the accept4
/// row with its explained address-length difference, CPython's getsockname explained, the
/// reply's MSG_NOSIGNAL explained, and the connection's close the same on both sides.
fn assert_common(out: &Output, rows: &[Row], script: &str, fd: u32) {
    assert!(
        out.stdout.contains("\nLeft:  pyselect-server --ports 0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("Right: CPython 3.")
                && l.ends_with(&format!("testkit/fixtures/{script}"))),
        "{}",
        out.stdout
    );
    for side in ["pyselect", "CPython"] {
        assert!(
            out.stdout.contains(&format!("client, against {side}:")),
            "{}",
            out.stdout
        );
    }
    assert_all_explained(out, rows);

    let accept = row(rows, "accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT)");
    assert!(accept
        .left
        .ends_with(&format!("[128 => 16], SOCK_CLOEXEC) = {fd}")));
    assert!(accept
        .right
        .ends_with(&format!("[16], SOCK_CLOEXEC) = {fd}")));
    assert!(note(out, &accept.mark).contains("address length"));

    let getsockname = rows
        .iter()
        .find(|r| r.right.starts_with(&format!("getsockname({fd}, ")))
        .unwrap_or_else(|| panic!("no getsockname on the right: {rows:#?}"));
    assert_eq!(getsockname.left, "");
    assert!(note(out, &getsockname.mark).starts_with("CPython calls getsockname"));

    let sendto = row(rows, &format!("sendto({fd}, "));
    assert!(sendto.left.contains("MSG_NOSIGNAL"), "{sendto:?}");
    assert!(
        sendto.right.starts_with(&format!("sendto({fd}, "))
            && sendto.right.contains(", 0, NULL, 0)"),
        "{sendto:?}"
    );
    assert!(note(out, &sendto.mark).contains("MSG_NOSIGNAL"));

    let close = rows.last().expect("rows");
    assert_eq!(close.left, format!("close({fd}) = 0"));
    assert_eq!(
        (close.mark.as_str(), close.right.as_str()),
        ("=", close.left.as_str())
    );
}

#[test]
fn compare_select_mode_shows_both_columns() {
    let out = make_compare(&["MODE=select"]).success("make compare MODE=select");
    let rows = rows(&out);
    assert_common(&out, &rows, "seed_select_server.py", 5);
    // The select call and the read are the same syscall, byte for byte, on both sides.
    for same in [
        "pselect6(5, [3 4], NULL, NULL, NULL, NULL) = 1 (in [3])",
        r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
    ] {
        let r = row(&rows, same);
        assert_eq!(
            (r.left.as_str(), r.mark.as_str(), r.right.as_str()),
            (same, "=", same)
        );
    }
    // python3 -u prints the newline in a write of its own, explained.
    let newline = rows
        .iter()
        .find(|r| r.right == r#"write(1, "\n", 1) = 1"#)
        .unwrap_or_else(|| panic!("no lone newline write on the right: {rows:#?}"));
    assert!(note(&out, &newline.mark).contains("two writes per print"));
}

#[test]
fn compare_timeout_mode_starts_at_the_round_that_took_the_client() {
    let out = make_compare(&["MODE=timeout"]).success("make compare MODE=timeout");
    let rows = rows(&out);
    assert_common(&out, &rows, "seed_timeout_server.py", 5);
    assert!(
        rows[0].left.starts_with(r#"write(1, "hello socket"#),
        "{rows:#?}"
    );
    let poll = row(&rows, "poll([{fd=3, events=POLLIN}], 1, ");
    assert!(
        poll.right.starts_with("poll([{fd=3, events=POLLIN}], 1, "),
        "{poll:?}"
    );
    let ioctl = row(&rows, "ioctl(5, FIONBIO, [0]) = 0");
    assert_eq!(ioctl.right, ioctl.left);
}

#[test]
fn compare_blocking_mode() {
    let out = make_compare(&["MODE=blocking"]).success("make compare MODE=blocking");
    let rows = rows(&out);
    assert_common(&out, &rows, "seed_blocking_server.py", 4);
    let r = row(&rows, r#"write(1, "hi\n", 3) = 3"#);
    assert_eq!(r.right, r#"write(1, "hi", 2) = 2"#);
}

#[test]
fn compare_multiplex_mode_explains_accept_until_eagain() {
    let out = make_compare(&["MODE=multiplex"]).success("make compare MODE=multiplex");
    let rows = rows(&out);
    assert!(
        out.stdout
            .contains("testkit/fixtures/selectors_server.py SelectSelector"),
        "{}",
        out.stdout
    );
    let eagain = row(&rows, "accept4(3, ADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN");
    assert_eq!(eagain.right, "");
    assert!(note(&out, &eagain.mark).contains("until EAGAIN"));
    let nonblocking = rows
        .iter()
        .find(|r| r.right == "ioctl(5, FIONBIO, [1]) = 0")
        .unwrap_or_else(|| panic!("no setblocking(False) on the right: {rows:#?}"));
    assert!(note(&out, &nonblocking.mark).contains("setblocking(False)"));
    assert_all_explained(&out, &rows);
}

/// `BACKEND=poll` and `BACKEND=epoll`: with a server that has `--backend`, both columns show
/// the backend's own call (`poll(` / `epoll_wait(`); with one that lacks it, one clear line
/// saying so and exit status 1, never a half-printed table.
#[test]
fn compare_multiplex_backends_or_a_clear_refusal() {
    for (backend, call) in [("poll", "poll("), ("epoll", "epoll_wait(")] {
        let out = make_compare(&["MODE=multiplex", &format!("BACKEND={backend}")]);
        if out.status.success() {
            let rows = rows(&out);
            assert!(
                rows.iter()
                    .any(|r| r.left.starts_with(call) && r.right.starts_with(call)),
                "no {call} row in both columns:\n{}",
                out.stdout
            );
        } else {
            assert!(
                out.stderr.contains(
                    "compare: this pyselect-server does not know an option \
                     `pyselect-server --ports 0,0 --count 1 --mode multiplex --backend"
                ) && out.stderr.contains(r#"unknown option "--backend""#),
                "neither a table nor the missing option named:\n{}\n{}",
                out.stdout,
                out.stderr
            );
            assert!(!out.stdout.contains("---------------"), "{}", out.stdout);
        }
    }
}

/// The compare tool itself, built by cargo into the same target directory as the make runs
/// (cargo's own report names the executable).
fn compare_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--release",
            "--example",
            "compare",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", cargo_target());
        let out = ChildGuard::spawn(&mut cmd, "cargo build --example compare")
            .output(MAKE_LIMIT)
            .success("cargo build --example compare");
        let exe = out
            .stdout
            .lines()
            .filter(|l| l.contains(r#""name":"compare""#))
            .find_map(|l| {
                let from = l.find(r#""executable":""#)? + r#""executable":""#.len();
                Some(PathBuf::from(&l[from..from + l[from..].find('"')?]))
            })
            .unwrap_or_else(|| panic!("cargo named no compare executable:\n{}", out.stdout));
        assert!(exe.is_file(), "{}", exe.display());
        exe
    })
}

/// A directory holding only `names`, each a link to the program `which NAME` finds, and
/// `scripts`, each (name, shell script body) an executable stand-in: a PATH made to order.
fn path_with(tag: &str, names: &[&str], scripts: &[(&str, &str)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("compare-path-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the PATH directory");
    for name in names {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} is not on PATH"));
        std::os::unix::fs::symlink(&found, dir.join(name)).expect("link a program");
    }
    for (name, body) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write a stand-in");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("make it executable");
    }
    dir
}

/// The compare tool run with `PATH` set to `path` (the binaries' own paths need none).
fn compare_with_path(path: &Path) -> Output {
    let mut cmd = Command::new(compare_exe());
    cmd.args([
        "--mode",
        "select",
        "--server",
        testkit::server_exe(),
        "--client",
        testkit::client_exe(),
    ])
    .env("PATH", path);
    ChildGuard::spawn(&mut cmd, "compare").output(testkit::LIMIT)
}

#[test]
fn compare_says_when_strace_cannot_trace() {
    // An strace that fails as a container without ptrace makes it fail.
    let path = path_with(
        "no-ptrace",
        &["python3"],
        &[(
            "strace",
            "echo 'strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted' >&2; exit 1",
        )],
    );
    let out = compare_with_path(&path);
    assert_eq!(out.code(), 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.trim(),
        "compare: `strace` cannot trace here (in a container, ptrace must be allowed): \
         strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted"
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn compare_says_when_strace_is_missing() {
    let path = path_with("no-strace", &["python3"], &[]);
    let out = compare_with_path(&path);
    assert_eq!(out.code(), 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.starts_with("compare: cannot run `strace` (")
            && out
                .stderr
                .trim_end()
                .ends_with("comparing syscalls needs strace on PATH (install it with `make deps`)"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn compare_says_when_python3_is_missing() {
    let path = path_with("no-python", &["strace", "true"], &[]);
    let out = compare_with_path(&path);
    assert_eq!(out.code(), 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.trim(),
        "compare: python3 (CPython 3) is not on PATH: the right-hand column is CPython's \
         (`make deps` installs it)"
    );
    assert_eq!(out.stdout, "");
}

// ---------------------------------------------------------------------------------------------
// The pieces (testkit/src/compare.rs), on fixed lines
// ---------------------------------------------------------------------------------------------

fn roles(pairs: &[(&'static str, i64)]) -> std::collections::BTreeMap<&'static str, i64> {
    pairs.iter().copied().collect()
}

/// CPython's `EpollSelector` opens its epoll fd (3) before the listeners (4, 5); a server that
/// opens its listeners first (3, 4) and the epoll fd after (5) gets the same client fd (6).
/// Every fd position of every line is renumbered once, by role; nothing else changes.
#[test]
fn renumber_maps_every_fd_position_by_role() {
    let cpython = roles(&[("EP", 3), ("L1", 4), ("L2", 5), ("C", 6)]);
    let pyselect = roles(&[("L1", 3), ("L2", 4), ("EP", 5), ("C", 6)]);
    let map = compare::fd_map(&cpython, &pyselect);
    assert_eq!(map, [(3, 5), (4, 3), (5, 4)].into_iter().collect());
    for (line, want) in [
        (
            "epoll_wait(3, [{events=EPOLLIN, data={u32=4, u64=4}}], 3, -1) = 1",
            "epoll_wait(5, [{events=EPOLLIN, data={u32=3, u64=3}}], 3, -1) = 1",
        ),
        (
            "epoll_ctl(3, EPOLL_CTL_ADD, 5, {events=EPOLLIN, data={u32=5, u64=5}}) = 0",
            "epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, data={u32=4, u64=4}}) = 0",
        ),
        (
            "epoll_ctl(3, EPOLL_CTL_ADD, 6, {events=EPOLLIN, data={u32=6, u64=6}}) = 0",
            "epoll_ctl(5, EPOLL_CTL_ADD, 6, {events=EPOLLIN, data={u32=6, u64=6}}) = 0",
        ),
        (
            r#"accept4(4, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 6"#,
            r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC) = 6"#,
        ),
        (
            "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 5",
            "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 4",
        ),
        (
            "pselect6(6, [4 5], NULL, NULL, NULL, NULL) = 1 (in [4])",
            "pselect6(5, [3 4], NULL, NULL, NULL, NULL) = 1 (in [3])",
        ),
        (
            "poll([{fd=4, events=POLLIN}, {fd=5, events=POLLIN}], 2, -1) = 1 ([{fd=4, revents=POLLIN}])",
            "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN}], 2, -1) = 1 ([{fd=3, revents=POLLIN}])",
        ),
        (
            r#"recvfrom(6, "hi", 1024, 0, NULL, NULL) = 2"#,
            r#"recvfrom(6, "hi", 1024, 0, NULL, NULL) = 2"#,
        ),
        (
            r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'", 38) = 38"#,
            r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'", 38) = 38"#,
        ),
    ] {
        assert_eq!(compare::renumber(line, &map), want, "from {line}");
    }
    // The same roles on both sides: nothing to renumber.
    assert!(compare::fd_map(&pyselect, &pyselect).is_empty());
}

/// Ports and timevals become placeholders; buffer addresses ADDR.
#[test]
fn normalise_names_ports_timevals_and_addresses() {
    let lines: Vec<String> = [
        r#"accept4(3, {sa_family=AF_INET, sin_port=htons(51234), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#,
        "accept4(3, 0x7ffd3a0e1c10, [128], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
        "pselect6(6, [3 4 5], NULL, [5], {tv_sec=29, tv_nsec=999996000}, NULL) = 1 (in [5], left {tv_sec=29, tv_nsec=999990000})",
        r#"write(1, "[('127.0.0.1', 51234)] message : b'hi'\n", 39) = 39"#,
        r#"sendto(5, "welcome 40001!", 14, MSG_NOSIGNAL, NULL, 0) = 14"#,
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        compare::normalise(&lines, &[40001, 40002], 51234),
        [
            r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#,
            "accept4(3, ADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
            "pselect6(6, [3 4 5], NULL, [5], {T}, NULL) = 1 (in [5], left {T})",
            r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
            r#"sendto(5, "welcome P1!", 14, MSG_NOSIGNAL, NULL, 0) = 14"#,
        ]
    );
}

/// The alignment pairs each call with its counterpart (the message write with the message
/// write, not with `-u`'s lone newline), and leaves one-sided calls on rows of their own.
#[test]
fn align_pairs_counterparts_and_explain_names_the_known_differences() {
    let pyselect: Vec<String> = [
        r#"write(1, "hello socket1\n", 14) = 14"#,
        "accept4(3, {...}, [128 => 16], SOCK_CLOEXEC) = 5",
        r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
        r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'\n", 39) = 39"#,
        r#"sendto(5, "welcome P1!", 14, MSG_NOSIGNAL, NULL, 0) = 14"#,
        "close(5) = 0",
    ]
    .map(String::from)
    .to_vec();
    let cpython: Vec<String> = [
        r#"write(1, "hello socket1", 13) = 13"#,
        r#"write(1, "\n", 1) = 1"#,
        "accept4(3, {...}, [16], SOCK_CLOEXEC) = 5",
        "getsockname(5, {...}, [128 => 16]) = 0",
        r#"recvfrom(5, "hi", 1024, 0, NULL, NULL) = 2"#,
        r#"write(1, "[('127.0.0.1', CPORT)] message : b'hi'", 38) = 38"#,
        r#"write(1, "\n", 1) = 1"#,
        r#"sendto(5, "welcome P1!", 14, 0, NULL, 0) = 14"#,
        "close(5) = 0",
    ]
    .map(String::from)
    .to_vec();
    let rows = compare::align(&pyselect, &cpython);
    let shape: Vec<(bool, bool)> = rows
        .iter()
        .map(|(l, r)| (l.is_some(), r.is_some()))
        .collect();
    assert_eq!(
        shape,
        [
            (true, true),
            (false, true),
            (true, true),
            (false, true),
            (true, true),
            (true, true),
            (false, true),
            (true, true),
            (true, true),
        ]
    );
    assert_eq!(
        rows[5].1,
        Some(cpython[5].as_str()),
        "message write beside message write"
    );
    // Of two candidates with the same call and fd, the closer one is the counterpart even
    // when the other comes first.
    let one = vec![pyselect[3].clone()];
    let two = vec![cpython[6].clone(), cpython[5].clone()];
    assert_eq!(
        compare::align(&one, &two),
        [
            (None, Some(two[0].as_str())),
            (Some(one[0].as_str()), Some(two[1].as_str()))
        ]
    );
    let notes: Vec<Option<&str>> = rows
        .iter()
        .map(|(l, r)| (l != r).then(|| compare::explain(*l, *r)).flatten())
        .collect();
    let has = |i: usize, words: &str| {
        assert!(
            notes[i].is_some_and(|n| n.contains(words)),
            "row {i} {:?}: note {:?}, wanted one with {words:?}",
            rows[i],
            notes[i]
        )
    };
    has(0, "one write(2)");
    has(1, "two writes per print");
    has(2, "address length");
    has(3, "getsockname");
    has(7, "MSG_NOSIGNAL");
    assert_eq!(
        (notes[4], notes[8]),
        (None, None),
        "equal rows need no note"
    );
    // A step the two programs take in another order is found on both sides.
    let a: Vec<String> = [
        "epoll_ctl(5, EPOLL_CTL_ADD, 6, {...}) = 0",
        r#"write(1, "hello socket1\n", 14) = 14"#,
    ]
    .map(String::from)
    .to_vec();
    let b: Vec<String> = [
        r#"write(1, "hello socket1", 13) = 13"#,
        "epoll_ctl(5, EPOLL_CTL_ADD, 6, {...}) = 0",
    ]
    .map(String::from)
    .to_vec();
    let rows = compare::align(&a, &b);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(compare::moved(&rows), [true, false, true], "{rows:?}");
    // A difference nobody explained stays unexplained.
    assert_eq!(compare::explain(Some("brk(NULL) = 0x1"), None), None);
    // Multiplex: accept until EAGAIN.
    assert!(compare::explain(
        Some(
            "accept4(3, ADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)"
        ),
        None
    )
    .is_some_and(|n| n.contains("until EAGAIN")));
}

/// Wrapped cells never pass their width, break after a space where they can, and lose nothing.
#[test]
fn wrap_keeps_every_character_within_the_width() {
    let line = r#"accept4(3, {sa_family=AF_INET, sin_port=htons(CPORT), sin_addr=inet_addr("127.0.0.1")}, [128 => 16], SOCK_CLOEXEC) = 5"#;
    for width in [20, 41, 60, 200] {
        let pieces = compare::wrap(line, width);
        assert!(
            pieces.iter().all(|p| p.chars().count() <= width),
            "{pieces:?}"
        );
        let joined: String = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| if i == 0 { p.as_str() } else { &p[2..] })
            .collect::<Vec<_>>()
            .join(" ");
        // Breaks after a space drop that space's trailing copy; compare without spaces.
        assert_eq!(
            joined.replace(' ', ""),
            line.replace(' ', ""),
            "width {width}"
        );
    }
    assert_eq!(compare::wrap(line, 200), [line]);
}
