//! `FdSet` against a model: a `BTreeSet<i32>` of the fds that may be members (`0..FD_SETSIZE`).
//! Random sequences of insert/remove/contains/clear over fds from -5..1100 (both edges of the
//! valid range and well past them). After every step the set must agree with the model
//! member for member, in ascending order, with the same highest member; an out-of-range insert
//! or remove is an error with CPython's message and leaves the set as it was.

use std::collections::BTreeSet;
use std::os::fd::RawFd;

use proptest::prelude::*;
use pyselect::{Error, FdSet, FD_SETSIZE};

#[derive(Clone, Debug)]
enum Op {
    Insert(RawFd),
    Remove(RawFd),
    Contains(RawFd),
    Clear,
}

fn fd() -> impl Strategy<Value = RawFd> {
    prop_oneof![
        4 => -5..1100i32,
        // The edges, often.
        1 => prop::sample::select(vec![-1, 0, 1, 1022, 1023, 1024, 1025]),
        // A few fds reused a lot, so removes and repeated inserts hit members.
        3 => prop::sample::select(vec![3, 4, 64, 65, 511, 1000]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => fd().prop_map(Op::Insert),
        3 => fd().prop_map(Op::Remove),
        3 => fd().prop_map(Op::Contains),
        1 => Just(Op::Clear),
    ]
}

fn in_range(fd: RawFd) -> bool {
    (0..FD_SETSIZE as RawFd).contains(&fd)
}

/// The error CPython's `select()` gives for an fd that cannot go into an `fd_set`.
fn expected_error(fd: RawFd) -> String {
    if fd < 0 {
        format!("file descriptor cannot be a negative integer ({fd})")
    } else {
        "filedescriptor out of range in select()".to_string()
    }
}

/// Every observation of the set agrees with the model.
fn check(set: &FdSet, model: &BTreeSet<RawFd>) -> Result<(), TestCaseError> {
    let members: Vec<RawFd> = set.iter().collect();
    let want: Vec<RawFd> = model.iter().copied().collect();
    prop_assert_eq!(&members, &want);
    prop_assert_eq!(set.highest(), model.last().copied());
    prop_assert_eq!(set.is_empty(), model.is_empty());
    // The C bitmap itself says the same thing as the safe view.
    for fd in [0, 1, 63, 64, 1023] {
        // SAFETY: 0 <= fd < FD_SETSIZE, so FD_ISSET reads inside the set.
        let raw = unsafe { libc::FD_ISSET(fd, set.as_raw()) };
        prop_assert_eq!(raw, model.contains(&fd), "FD_ISSET({})", fd);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fdset_agrees_with_a_btreeset(ops in prop::collection::vec(op(), 0..60)) {
        let mut set = FdSet::new();
        let mut model = BTreeSet::new();
        check(&set, &model)?;
        for op in ops {
            match op {
                Op::Insert(fd) => {
                    let before = set;
                    match set.insert(fd) {
                        Ok(()) => {
                            prop_assert!(in_range(fd), "insert({}) accepted", fd);
                            model.insert(fd);
                        }
                        Err(Error::Value(msg)) => {
                            prop_assert!(!in_range(fd), "insert({}) refused: {}", fd, msg);
                            prop_assert_eq!(msg, expected_error(fd));
                            prop_assert_eq!(set, before, "a refused insert changed the set");
                        }
                        Err(e) => prop_assert!(false, "insert({}): wrong error kind {:?}", fd, e),
                    }
                }
                Op::Remove(fd) => {
                    let before = set;
                    match set.remove(fd) {
                        Ok(()) => {
                            prop_assert!(in_range(fd), "remove({}) accepted", fd);
                            model.remove(&fd);
                        }
                        Err(Error::Value(msg)) => {
                            prop_assert!(!in_range(fd), "remove({}) refused: {}", fd, msg);
                            prop_assert_eq!(msg, expected_error(fd));
                            prop_assert_eq!(set, before, "a refused remove changed the set");
                        }
                        Err(e) => prop_assert!(false, "remove({}): wrong error kind {:?}", fd, e),
                    }
                }
                Op::Contains(fd) => {
                    prop_assert_eq!(set.contains(fd), model.contains(&fd), "contains({})", fd);
                }
                Op::Clear => {
                    set.clear();
                    model.clear();
                }
            }
            check(&set, &model)?;
            // Out-of-range fds are never members, whatever happened.
            for fd in [-5, -1, 1024, 1099, i32::MIN, i32::MAX] {
                prop_assert!(!set.contains(fd), "contains({}) is true", fd);
            }
        }
        // A copy is independent of the original.
        let mut copy = set;
        copy.clear();
        prop_assert_eq!(set.iter().count(), model.len());
    }

    /// Equality is set equality: the order of inserts does not matter.
    #[test]
    fn equal_members_make_equal_sets(fds in prop::collection::vec(0..FD_SETSIZE as RawFd, 0..40)) {
        let mut forward = FdSet::new();
        let mut backward = FdSet::new();
        for &fd in &fds {
            forward.insert(fd).unwrap();
        }
        for &fd in fds.iter().rev() {
            backward.insert(fd).unwrap();
            backward.insert(fd).unwrap(); // twice: still one member
        }
        prop_assert_eq!(forward, backward);
        let distinct: BTreeSet<RawFd> = fds.iter().copied().collect();
        prop_assert_eq!(forward.iter().count(), distinct.len());
    }
}

#[test]
fn edges_of_the_range() {
    assert_eq!(FD_SETSIZE, libc::FD_SETSIZE);
    let mut set = FdSet::new();
    assert!(set.is_empty());
    assert_eq!(set.highest(), None);
    set.insert(0).unwrap();
    set.insert(1023).unwrap();
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 1023]);
    assert_eq!(set.highest(), Some(1023));
    let err = set.insert(1024).unwrap_err();
    assert_eq!(err.to_string(), "filedescriptor out of range in select()");
    assert_eq!(err.python_name(), "ValueError");
    let err = set.insert(-1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "file descriptor cannot be a negative integer (-1)"
    );
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 1023]);
    set.remove(1023).unwrap();
    assert_eq!(set.highest(), Some(0));
    set.clear();
    assert!(set.is_empty());
    assert_eq!(FdSet::default(), FdSet::new());
}

#[test]
fn debug_prints_members_as_strace_does() {
    let mut set = FdSet::new();
    assert_eq!(format!("{set:?}"), "[]");
    set.insert(4).unwrap();
    set.insert(3).unwrap();
    set.insert(1023).unwrap();
    assert_eq!(format!("{set:?}"), "[3 4 1023]");
}
