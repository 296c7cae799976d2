//! The `qz` command's library side: argument specifications and the signing action, shared by
//! the binary and its benchmarks.

pub mod fonts;
pub mod signing;
pub mod spec;
