//! [`Entries`]: the fds and items of one `select()` list, a small vector that keeps up to
//! [`INLINE`] entries on the stack.
//!
//! `select()` must hand back the very items it was given, so it holds each list's items beside
//! their fds until the kernel answers. Most calls pass a few fds; keeping those inline means a
//! short `select()` allocates only the ready lists it returns. A longer list lives in two
//! vectors, and its item vector becomes the result without a second allocation.

use std::os::fd::RawFd;

use crate::fdset::FdSet;

/// How many entries a list keeps without allocating.
const INLINE: usize = 16;

/// The entries of one list, fd and item, in input order. Up to [`INLINE`] of them live on the
/// stack, so a short `select()` allocates nothing but the ready lists it returns (and nothing
/// when nothing is ready); a longer list keeps its items in the vector that becomes the result.
pub(super) enum Entries<T> {
    Empty,
    Inline {
        fds: [RawFd; INLINE],
        items: [Option<T>; INLINE],
        len: usize,
    },
    Heap {
        fds: Vec<RawFd>,
        items: Vec<T>,
    },
}

impl<T> Entries<T> {
    pub(super) fn len(&self) -> usize {
        match self {
            Entries::Empty => 0,
            Entries::Inline { len, .. } => *len,
            Entries::Heap { items, .. } => items.len(),
        }
    }

    /// Room for `n` entries on the heap, when they will not fit inline.
    pub(super) fn reserve(&mut self, n: usize) {
        if n > INLINE {
            if let Entries::Empty = self {
                *self = Entries::Heap {
                    fds: Vec::with_capacity(n),
                    items: Vec::with_capacity(n),
                };
            }
        }
    }

    pub(super) fn push(&mut self, fd: RawFd, item: T) {
        match self {
            Entries::Empty => {
                let mut fds = [0; INLINE];
                let mut items: [Option<T>; INLINE] = std::array::from_fn(|_| None);
                fds[0] = fd;
                items[0] = Some(item);
                *self = Entries::Inline { fds, items, len: 1 };
            }
            Entries::Inline { fds, items, len } if *len < INLINE => {
                fds[*len] = fd;
                items[*len] = Some(item);
                *len += 1;
            }
            Entries::Inline { fds, items, len } => {
                let mut heap_fds = Vec::with_capacity(4 * INLINE);
                heap_fds.extend_from_slice(&fds[..*len]);
                heap_fds.push(fd);
                let mut heap_items = Vec::with_capacity(4 * INLINE);
                heap_items.extend(items.iter_mut().filter_map(Option::take));
                heap_items.push(item);
                *self = Entries::Heap {
                    fds: heap_fds,
                    items: heap_items,
                };
            }
            Entries::Heap { fds, items } => {
                fds.push(fd);
                items.push(item);
            }
        }
    }

    /// Take out the items whose fd is in `ready`, in input order, repeats kept.
    pub(super) fn take_ready(&mut self, ready: &FdSet) -> Vec<T> {
        match self {
            Entries::Empty => Vec::new(),
            Entries::Inline { fds, items, len } => {
                // Vec::new() allocates on the first ready item only.
                let mut out = Vec::new();
                for (&fd, item) in fds[..*len].iter().zip(&mut items[..*len]) {
                    if ready.contains(fd) {
                        out.extend(item.take());
                    }
                }
                out
            }
            // The item vector itself becomes the result: no second allocation.
            Entries::Heap { fds, items } => {
                let mut items = std::mem::take(items);
                keep_ready(fds, &mut items, ready);
                items
            }
        }
    }
}

/// Keep the items (`items[i]` has fd `fds[i]`) whose fd is in `ready`, in order.
#[inline]
pub(super) fn keep_ready<T>(fds: &[RawFd], items: &mut Vec<T>, ready: &FdSet) {
    // A stable partition by swaps: `items[kept..i]` are all dropped ones, so each ready item
    // moves down past them only, and the ready ones keep their order.
    let n = fds.len().min(items.len());
    let (fds, slots) = (&fds[..n], &mut items[..n]);
    let mut kept = 0;
    for (i, &fd) in fds.iter().enumerate() {
        if ready.contains(fd) {
            slots.swap(kept, i);
            kept += 1;
        }
    }
    items.truncate(kept);
}
