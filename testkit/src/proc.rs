//! `/proc` views of a thread or process from outside: the syscall it is blocked in, its CPU
//! time, its children, TCP states. Tests synchronise on the kernel's real state instead of on
//! sleeps.

use std::time::Instant;

use super::LIMIT;

/// Syscall numbers, as `/proc/<pid>/task/<tid>/syscall` reports them (x86-64).
#[cfg(target_arch = "x86_64")]
pub const SYS_PSELECT6: i64 = 270;
/// The kernel's own `select` on x86-64.
#[cfg(target_arch = "x86_64")]
pub const SYS_SELECT: i64 = 23;
/// `pselect6` on the generic syscall table (aarch64 and friends).
#[cfg(not(target_arch = "x86_64"))]
pub const SYS_PSELECT6: i64 = libc::SYS_pselect6 as i64;

/// The syscall glibc's `poll()` makes (the kernel's own `poll` on x86-64).
#[cfg(target_arch = "x86_64")]
pub const SYS_POLL: i64 = libc::SYS_poll;
/// The syscall glibc's `epoll_wait()` makes.
#[cfg(target_arch = "x86_64")]
pub const SYS_EPOLL_WAIT: i64 = libc::SYS_epoll_wait;
/// `poll()` on the generic syscall table is `ppoll`.
#[cfg(not(target_arch = "x86_64"))]
pub const SYS_POLL: i64 = libc::SYS_ppoll as i64;
/// `epoll_wait()` on the generic syscall table is `epoll_pwait`.
#[cfg(not(target_arch = "x86_64"))]
pub const SYS_EPOLL_WAIT: i64 = libc::SYS_epoll_pwait as i64;

/// This thread's kernel id.
pub fn gettid() -> libc::pid_t {
    nix::unistd::gettid().as_raw()
}

/// The first field of a `/proc/.../syscall` file: the number of the syscall the thread is
/// blocked in; `None` for "running" and for "-1 ..." (not in a syscall).
pub fn parse_syscall(text: &str) -> Option<i64> {
    let first = text.split_whitespace().next()?;
    first.parse::<i64>().ok().filter(|&n| n >= 0)
}

/// The syscall thread `tid` of this process is blocked in, if any.
pub fn blocked_syscall(tid: libc::pid_t) -> Option<i64> {
    parse_syscall(&std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?)
}

/// The six arguments of the syscall thread `tid` is blocked in, if it is blocked in one.
pub fn blocked_syscall_args(tid: libc::pid_t) -> Option<[u64; 6]> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    parse_syscall(&text)?;
    let mut fields = text.split_whitespace().skip(1);
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some(args)
}

/// Wait (bounded by [`LIMIT`]) until thread `tid` is blocked in syscall `nr`, or `stop()`
/// turns true. Returns whether it saw the thread in the syscall. Polls the kernel's own view of
/// the thread, so the caller acts on the thread's real state rather than on elapsed time.
pub fn wait_until_blocked_in(tid: libc::pid_t, nr: i64, stop: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if stop() {
            return false;
        }
        if blocked_syscall(tid) == Some(nr) {
            return true;
        }
        std::thread::yield_now();
    }
    panic!("thread {tid} never blocked in syscall {nr} within {LIMIT:?}");
}

/// Syscalls a server waits in when it has nothing to do (for
/// [`super::server::ServerProcess::wait_blocked`]).
pub fn waiting_syscalls() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_pselect6,
        libc::SYS_ppoll,
        libc::SYS_accept4,
        libc::SYS_recvfrom,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([libc::SYS_select, libc::SYS_poll, libc::SYS_accept]);
    v
}

/// The unit of [`super::server::ServerProcess::cpu_ticks`]: `sysconf(_SC_CLK_TCK)`.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant; it takes no pointer and has no precondition.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(n > 0, "sysconf(_SC_CLK_TCK)");
    n as f64
}

/// Does a TCP socket in TIME_WAIT hold local port `port` on 127.0.0.1 (`/proc/net/tcp`,
/// state 06)?
pub fn time_wait_on(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == want && f[3] == "06"
    })
}

/// The state (`/proc/net/tcp`'s hex code: 01 ESTABLISHED, 08 CLOSE_WAIT, ...) of the TCP socket
/// of the connection from 127.0.0.1:`local` to 127.0.0.1:`remote`; `None` when it is not listed
/// (a socket reset by its peer no longer is, even while its fd is open).
pub fn tcp_state_on(local: u16, remote: u16) -> Option<String> {
    let (local, remote) = (
        format!("0100007F:{local:04X}"),
        format!("0100007F:{remote:04X}"),
    );
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 3 && f[1] == local && f[2] == remote).then(|| f[3].to_string())
    })
}

/// Pids of the direct children of `pid` (all its threads), from `/proc`.
pub fn children_of(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}
