//! `make compare`'s reading of two traces (`pyselect-cli/examples/compare.rs`): one
//! connection's lines cut from a trace and normalised, CPython's fds renumbered as pyselect's,
//! the two sequences aligned row by row, and a phrase for each known difference. Built on
//! [`super::strace`]'s parser and per-connection slice, so the tool reads traces exactly as the
//! strace tests do; `pyselect-cli/tests/compare.rs` checks the pieces here and the tool as a whole.

use std::collections::BTreeMap;

use super::strace::{normalise_poll_line, Trace};

/// One connection's lines from a trace, with what identifies them.
#[derive(Debug)]
pub struct Connection {
    /// From the wake-up that announced the client to its `close` ([`Trace::first_connection`];
    /// in timeout mode from the `hello socketN` before the accept that took it).
    pub lines: Vec<String>,
    /// The client's port, from the `accept4` line.
    pub client_port: u16,
    /// The fd of each role: `L1`, `L2` (the listeners, by `socket()` order), `EP` (an epoll
    /// fd) and `C` (the client).
    pub roles: BTreeMap<&'static str, i64>,
}

/// The first connection of `trace` (a server in `mode`).
pub fn connection(trace: &Trace, mode: &str) -> Result<Connection, String> {
    let mut lines = trace.first_connection();
    if mode == "timeout" {
        // The round robin may have timed out a few times before the client came: start at the
        // `hello socketN` before the accept that took it.
        let accept = lines
            .iter()
            .position(|l| l.starts_with("accept4("))
            .unwrap_or(0);
        if let Some(hello) = lines[..accept]
            .iter()
            .rposition(|l| l.starts_with(r#"write(1, "hello socket"#))
        {
            lines.drain(..hello);
        }
    }
    let accept = lines
        .iter()
        .find(|l| l.starts_with("accept4(") && !l.contains("= -1"))
        .ok_or_else(|| {
            format!(
                "no accept4 in the connection's lines:\n{}",
                lines.join("\n")
            )
        })?;
    let client_port: u16 = between(accept, "htons(", ")")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no client port in {accept}"))?;
    let mut roles = BTreeMap::new();
    let sockets = trace
        .lines
        .iter()
        .filter(|l| l.name() == "socket")
        .filter_map(|l| l.ret());
    for (role, fd) in ["L1", "L2"].into_iter().zip(sockets) {
        roles.insert(role, fd);
    }
    if let Some(ep) = trace.lines.iter().find(|l| l.name() == "epoll_create1") {
        roles.extend(ep.ret().map(|fd| ("EP", fd)));
    }
    roles.extend(
        accept
            .rsplit(" = ")
            .next()
            .and_then(|r| r.parse().ok())
            .map(|fd| ("C", fd)),
    );
    Ok(Connection {
        lines,
        client_port,
        roles,
    })
}

/// `lines` normalised: the listening `ports` as P1, P2 and `client_port` as CPORT (in
/// addresses, the message line and the reply), timevals as `{T}`, addresses as `ADDR` (and
/// epoll data's uninitialised upper bits dropped, as [`normalise_poll_line`] does for the strace
/// tests).
pub fn normalise(lines: &[String], ports: &[u16], client_port: u16) -> Vec<String> {
    let mut names = vec![(client_port, "CPORT")];
    names.extend(ports.iter().copied().zip(["P1", "P2"]));
    lines
        .iter()
        .map(|l| {
            let (mut l, _) = normalise_poll_line(l);
            for (port, name) in &names {
                for (a, b) in [("htons(", ")"), ("', ", ")"), ("welcome ", "!")] {
                    l = l.replace(&format!("{a}{port}{b}"), &format!("{a}{name}{b}"));
                }
            }
            replace_timevals(&l)
        })
        .collect()
}

/// How to renumber the fds of a program with `from` roles into those of one with `to` roles:
/// each fd whose role both have, where the numbers differ.
pub fn fd_map(
    from: &BTreeMap<&'static str, i64>,
    to: &BTreeMap<&'static str, i64>,
) -> BTreeMap<i64, i64> {
    from.iter()
        .filter_map(|(role, fd)| to.get(role).filter(|t| *t != fd).map(|t| (*fd, *t)))
        .collect()
}

/// The text between the first `open` and the next `close` after it.
pub fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let from = s.find(open)? + open.len();
    let to = from + s[from..].find(close)?;
    Some(&s[from..to])
}

/// `{tv_sec=9, tv_nsec=999997000}` (or tv_usec) becomes `{T}`: the time left, clock-dependent.
pub fn replace_timevals(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("{tv_sec=") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => {
                out.push_str("{T}");
                rest = &rest[i + j + 1..];
            }
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Renumbering fds (when the two programs' fds differ: CPython's EpollSelector opens its epoll
// fd before the listeners, for one)
// ---------------------------------------------------------------------------------------------

/// Calls whose first argument is an fd.
pub const FD_FIRST: &[&str] = &[
    "accept",
    "accept4",
    "recvfrom",
    "sendto",
    "close",
    "ioctl",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "bind",
    "listen",
    "shutdown",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "fcntl",
];

/// `line` with each fd in `map` renumbered: first arguments of fd calls, the fd an
/// `accept4`/`socket`/`epoll_create1` returns, `epoll_ctl`'s target, `fd=N` and `u32=N`/`u64=N`
/// in poll and epoll structures, the members of select sets, and select's nfds.
pub fn renumber(line: &str, map: &BTreeMap<i64, i64>) -> String {
    let f = |n: i64| *map.get(&n).unwrap_or(&n);
    let name = line.split('(').next().unwrap_or("");
    let mut out = line.to_string();
    // Each `N` after these markers.
    for marker in ["fd=", "u32=", "u64="] {
        out = map_numbers_after(&out, marker, f);
    }
    if let Some(open) = out.find('(') {
        let (head, tail) = out.split_at(open + 1);
        let end = tail.find([',', ')']).unwrap_or(0);
        let first: Option<i64> = tail[..end].parse().ok();
        if let Some(n) = first {
            let n = if FD_FIRST.contains(&name) {
                f(n)
            } else if matches!(name, "pselect6" | "select") && n > 0 {
                f(n - 1) + 1
            } else {
                n
            };
            out = format!("{head}{n}{}", &tail[end..]);
        }
    }
    if name == "epoll_ctl" {
        // epoll_ctl(EP, OP, FD, ...)
        let parts: Vec<&str> = out.splitn(4, ", ").collect();
        if parts.len() == 4 {
            if let Ok(n) = parts[2].parse::<i64>() {
                out = format!("{}, {}, {}, {}", parts[0], parts[1], f(n), parts[3]);
            }
        }
    }
    if matches!(name, "pselect6" | "select") {
        out = map_sets(&out, f);
    }
    if matches!(name, "accept4" | "accept" | "socket" | "epoll_create1") {
        if let Some((head, ret)) = out.rsplit_once(" = ") {
            if let Ok(n) = ret.parse::<i64>() {
                out = format!("{head} = {}", f(n));
            }
        }
    }
    out
}

fn map_numbers_after(s: &str, marker: &str, f: impl Fn(i64) -> i64) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let n = tail.bytes().take_while(u8::is_ascii_digit).count();
        match tail[..n].parse::<i64>() {
            Ok(v) => out.push_str(&f(v).to_string()),
            Err(_) => out.push_str(&tail[..n]),
        }
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// The members of every `[3 4 5]` set (numbers separated by spaces) mapped by `f`.
fn map_sets(s: &str, f: impl Fn(i64) -> i64) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        let end = tail.find(']').unwrap_or(0);
        let inner = &tail[..end];
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit() || b == b' ') {
            let mapped: Vec<String> = inner
                .split(' ')
                .map(|n| n.parse().map(|v| f(v).to_string()).unwrap_or_default())
                .collect();
            out.push_str(&mapped.join(" "));
        } else {
            out.push_str(inner);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Alignment and the known differences
// ---------------------------------------------------------------------------------------------

/// What lines up two calls: the name and first argument (`sendto(5`).
pub fn key(line: &str) -> &str {
    let end = line.find([',', ')']).unwrap_or(line.len());
    &line[..end]
}

/// Rows of (pyselect line, CPython line): the alignment that pairs the most lines with the
/// same call and first argument, equal lines and longer common beginnings first.
pub fn align<'a>(a: &'a [String], b: &'a [String]) -> Vec<(Option<&'a str>, Option<&'a str>)> {
    let (n, m) = (a.len(), b.len());
    let score = |i: usize, j: usize| -> Option<usize> {
        if a[i] == b[j] {
            return Some(1000);
        }
        if key(&a[i]) != key(&b[j]) {
            return None;
        }
        let common = a[i]
            .bytes()
            .zip(b[j].bytes())
            .take_while(|(x, y)| x == y)
            .count();
        Some(100 + common)
    };
    // best[i][j]: the best total for a[i..], b[j..].
    let mut best = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let mut v = best[i + 1][j].max(best[i][j + 1]);
            if let Some(s) = score(i, j) {
                v = v.max(s + best[i + 1][j + 1]);
            }
            best[i][j] = v;
        }
    }
    let (mut i, mut j, mut rows) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && score(i, j).is_some_and(|s| best[i][j] == s + best[i + 1][j + 1]) {
            rows.push((Some(a[i].as_str()), Some(b[j].as_str())));
            i += 1;
            j += 1;
        } else if i < n && (j == m || best[i][j] == best[i + 1][j]) {
            rows.push((Some(a[i].as_str()), None));
            i += 1;
        } else {
            rows.push((None, Some(b[j].as_str())));
            j += 1;
        }
    }
    rows
}

/// One phrase for a known difference between a pyselect line `p` and a CPython line `c`.
pub fn explain(p: Option<&str>, c: Option<&str>) -> Option<&'static str> {
    let starts = |l: Option<&str>, s: &str| l.is_some_and(|l| l.starts_with(s));
    let has = |l: Option<&str>, s: &str| l.is_some_and(|l| l.contains(s));
    match (p, c) {
        (None, Some(c)) if c.starts_with("getsockname(") => {
            Some("CPython calls getsockname on every accepted fd to build its socket object; pyselect's Socket needs no such call")
        }
        (None, Some(r#"write(1, "\n", 1) = 1"#)) => {
            Some("python3 -u: print() writes the text, then the newline: two writes per print")
        }
        (None, Some(c)) if c.starts_with("ioctl(") && c.contains("FIONBIO, [1]") => {
            Some("CPython's setblocking(False) on the accepted socket; pyselect keeps it blocking and asks MSG_DONTWAIT per call")
        }
        (None, Some(c)) if c.contains("EPOLL_CTL_DEL") => {
            Some("selectors unregisters the fd before closing it (close alone drops it from the epoll set)")
        }
        (Some(p), None) if p.starts_with("accept4(") && p.contains("EAGAIN") => {
            Some("pyselect's multiplex loop accepts until EAGAIN (empties the listen queue per wake-up); selectors accepts once per wake-up")
        }
        (Some(p), None) if p.contains("EPOLL_CTL_DEL") => {
            Some("pyselect unregisters the fd before closing it (close alone drops it from the epoll set)")
        }
        (Some(p), Some(c)) => {
            let (p, c) = (Some(p), Some(c));
            if starts(p, "accept4(") && has(p, "[128 => 16]") && has(c, "[16]") {
                Some("accept4's address length: pyselect offers a sockaddr_storage (128, the kernel writes back 16), CPython the family's size (16)")
            } else if starts(p, "sendto(") && has(p, "MSG_DONTWAIT|MSG_NOSIGNAL") {
                Some("pyselect sends with MSG_DONTWAIT (its sockets stay blocking) and MSG_NOSIGNAL (a reset is an error, never SIGPIPE); CPython ignores SIGPIPE at start-up")
            } else if starts(p, "sendto(") && has(p, "MSG_NOSIGNAL") {
                Some("MSG_NOSIGNAL: pyselect turns a peer's reset into an error, never SIGPIPE; CPython ignores SIGPIPE at start-up instead")
            } else if starts(p, "recvfrom(") && has(p, "MSG_DONTWAIT") {
                Some("pyselect's client sockets stay blocking and each call asks MSG_DONTWAIT; CPython set the socket non-blocking (ioctl FIONBIO)")
            } else if starts(p, "write(1, ") && has(p, r#"\n", "#) {
                Some("pyselect writes each line with its newline in one write(2); python3 -u writes the newline separately")
            } else if starts(p, "pselect6(") || starts(p, "select(") {
                Some("pyselect's multiplex loop also watches clients for urgent data (the except set) and wakes for the idle timeout")
            } else if starts(p, "poll(") {
                Some("the wait's arguments: pyselect also asks for urgent data (POLLPRI) and waits only until the idle deadline; selectors waits for reads, forever")
            } else if starts(p, "epoll_wait(") {
                Some("the wait's arguments: maxevents (selectors passes the number of registered fds) and the timeout (pyselect's idle deadline; selectors waits forever)")
            } else if starts(p, "epoll_ctl(") {
                Some("the events registered: pyselect also asks EPOLLPRI (urgent data)")
            } else {
                None
            }
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
pub fn role_name(role: &str) -> &'static str {
    match role {
        "L1" => "first listener",
        "L2" => "second listener",
        "EP" => "epoll fd",
        "C" => "client",
        _ => "fd",
    }
}

/// `s` in pieces of at most `width` characters (continuations indented by two), broken after
/// a space where one falls in the second half of a piece.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = s.chars().collect();
    let mut room = width;
    while rest.len() > room {
        let cut = match rest[..room].iter().rposition(|&c| c == ' ') {
            Some(i) if i + 1 > room / 2 => i + 1,
            _ => room,
        };
        let piece: String = rest[..cut].iter().collect();
        out.push(piece.trim_end().to_string());
        rest.drain(..cut);
        room = width - 2;
    }
    out.push(rest.iter().collect());
    for piece in out.iter_mut().skip(1) {
        piece.insert_str(0, "  ");
    }
    out
}

/// For each row of [`align`]'s result: whether it holds a line on one side only whose call (name
/// and first argument) stands alone on the other side somewhere else: the same step, done in
/// another order by the two programs.
pub fn moved(rows: &[(Option<&str>, Option<&str>)]) -> Vec<bool> {
    let lone = |left: bool| -> Vec<&str> {
        rows.iter()
            .filter_map(|(l, r)| match (l, r, left) {
                (Some(l), None, true) => Some(key(l)),
                (None, Some(r), false) => Some(key(r)),
                _ => None,
            })
            .collect()
    };
    let (lefts, rights) = (lone(true), lone(false));
    rows.iter()
        .map(|(l, r)| match (l, r) {
            (Some(l), None) => rights.contains(&key(l)),
            (None, Some(r)) => lefts.contains(&key(r)),
            _ => false,
        })
        .collect()
}

/// The note for a [`moved`] row that [`explain`] has no phrase for.
pub const MOVED: &str =
    "the same call at another place: the two programs take these steps in a different order";
