//! [`FdSet`]: a safe owner of one C `fd_set`.

use std::fmt;
use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::sys;

/// The platform's `FD_SETSIZE`: the number of fds an `fd_set` can hold (1024 on Linux).
///
/// `build.rs` checks this value against the C headers when it can compile a probe.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// One `fd_set`, the bitmap `select(2)` reads and writes.
///
/// Every method checks `0 <= fd < FD_SETSIZE` first: an out-of-range fd is an [`Error`] on
/// insert and removal and simply "not a member" on lookup, and is never used to index the
/// bitmap. That check is the whole point: `FD_SET(1024, &set)` writes past the end of a C
/// `fd_set`, the classic memory-corruption bug of select code.
///
/// ```
/// use pyselect::FdSet;
///
/// let mut set = FdSet::new();
/// set.insert(4)?;
/// set.insert(9)?;
/// assert!(set.contains(4));
/// assert_eq!(set.iter().collect::<Vec<_>>(), vec![4, 9]);
/// assert_eq!(set.highest(), Some(9));
/// assert!(set.insert(pyselect::FD_SETSIZE as i32).is_err());
/// # Ok::<(), pyselect::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct FdSet {
    set: libc::fd_set,
}

impl FdSet {
    /// An empty set (`FD_ZERO`).
    #[doc(alias = "FD_ZERO")]
    pub fn new() -> Self {
        FdSet {
            set: sys::fd_zero(),
        }
    }

    #[inline]
    fn check(fd: RawFd) -> Result<()> {
        if fd < 0 {
            Err(Error::negative_fd(fd))
        } else if !sys::fd_in_set_range(fd) {
            Err(Error::fd_out_of_range())
        } else {
            Ok(())
        }
    }

    /// Add `fd` (`FD_SET`). A negative fd or one `>= FD_SETSIZE` is an error and leaves the
    /// set as it was.
    #[doc(alias = "FD_SET")]
    #[inline]
    pub fn insert(&mut self, fd: RawFd) -> Result<()> {
        Self::check(fd)?;
        sys::fd_set(&mut self.set, fd).ok_or_else(Error::fd_out_of_range)
    }

    /// Remove `fd` (`FD_CLR`). Errors as [`FdSet::insert`] does.
    #[doc(alias = "FD_CLR")]
    pub fn remove(&mut self, fd: RawFd) -> Result<()> {
        Self::check(fd)?;
        sys::fd_clr(&mut self.set, fd).ok_or_else(Error::fd_out_of_range)
    }

    /// Is `fd` a member (`FD_ISSET`)? Always false for an fd outside `0..FD_SETSIZE`.
    #[doc(alias = "FD_ISSET")]
    #[inline]
    pub fn contains(&self, fd: RawFd) -> bool {
        sys::fd_isset(&self.set, fd)
    }

    /// Remove every member (`FD_ZERO`).
    #[doc(alias = "FD_ZERO")]
    pub fn clear(&mut self) {
        self.set = sys::fd_zero();
    }

    /// The members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = RawFd> + '_ {
        (0..FD_SETSIZE as RawFd).filter(move |&fd| self.contains(fd))
    }

    /// The highest member, or `None` when the set is empty. `highest() + 1` is the `nfds`
    /// argument `select(2)` wants.
    pub fn highest(&self) -> Option<RawFd> {
        (0..FD_SETSIZE as RawFd).rev().find(|&fd| self.contains(fd))
    }

    /// Is the set empty?
    pub fn is_empty(&self) -> bool {
        self.highest().is_none()
    }

    /// The C `fd_set` itself, to pass to a syscall.
    pub fn as_raw(&self) -> &libc::fd_set {
        &self.set
    }

    /// The C `fd_set` itself, mutable, for a syscall that writes it back (`select(2)` does).
    /// A `&mut libc::fd_set` coerces to the `*mut fd_set` a C call takes.
    pub fn as_raw_mut(&mut self) -> &mut libc::fd_set {
        &mut self.set
    }
}

impl Default for FdSet {
    fn default() -> Self {
        FdSet::new()
    }
}

impl PartialEq for FdSet {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for FdSet {}

/// Prints the members as strace does: `[3 4]`.
impl fmt::Debug for FdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, fd) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{fd}")?;
        }
        f.write_str("]")
    }
}
