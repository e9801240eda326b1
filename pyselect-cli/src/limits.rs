//! [`raise_nofile`]: how many fds this process may open (`RLIMIT_NOFILE`), raised as far as it
//! is allowed to go. `select()` never needs it (an `fd_set` stops at `FD_SETSIZE`, 1,024), but a
//! program that watches 10,000 sockets with `poll` or `epoll` does: the usual soft limit is
//! 1,024, while the hard limit a user may raise it to is often far higher.

use pyselect::{Error, Result};

use crate::sys;

/// The fd limits after [`raise_nofile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit now in force: the most fds the process may have open.
    pub soft: u64,
    /// The hard limit: the most the soft limit may be raised to without privilege.
    pub hard: u64,
    /// What the caller asked for.
    pub wanted: u64,
}

impl NoFile {
    /// Is the limit below what was asked for?
    pub fn short(&self) -> bool {
        self.soft < self.wanted
    }

    /// One line saying so, when [`NoFile::short`] (both binaries print it on stderr).
    pub fn shortfall(&self) -> Option<String> {
        self.short().then(|| {
            format!(
                "RLIMIT_NOFILE allows {} open files (hard limit {}), fewer than the {} asked for; \
                 raise the hard limit (ulimit -Hn, or limits.conf) to use more",
                self.soft, self.hard, self.wanted
            )
        })
    }
}

/// `getrlimit(RLIMIT_NOFILE)`, then `setrlimit` raising the soft limit to the hard limit when
/// it is lower (no call when it is not). An unlimited hard limit (which Linux does not allow as
/// a soft `RLIMIT_NOFILE`) raises the soft limit to `wanted` only.
///
/// `wanted` does not change what is asked of the kernel; it is what [`NoFile::short`] compares
/// with, so that the caller can say when the hard limit stands in its way.
pub fn raise_nofile(wanted: u64) -> Result<NoFile> {
    let (soft, hard) = sys::getrlimit_nofile().map_err(Error::Os)?;
    let target = if hard == libc::RLIM_INFINITY {
        soft.max(wanted)
    } else {
        hard
    };
    let soft = if soft < target {
        sys::setrlimit_nofile(target, hard).map_err(Error::Os)?;
        target
    } else {
        soft
    };
    Ok(NoFile { soft, hard, wanted })
}
