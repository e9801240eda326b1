//! Pieces that several test helper modules (and a few test files) share, each kept in one
//! place: a guard for a spawned process with bounded waits ([`child`]), the `python3` runner and
//! interpreter lookup ([`python`]), and re-running one test of the current binary in a child
//! process ([`reexec`]).
//!
//! Include it with `mod common;` from a file directly under `tests/`, or with
//! `#[path = "../common/mod.rs"] mod common;` from a helper module's `mod.rs`.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod child;
pub mod python;
pub mod reexec;
