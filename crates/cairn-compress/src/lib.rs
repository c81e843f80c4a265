//! Cairn's compression engine: a router that detects what a payload is from
//! its content, and a compressor per kind. Each has a lossless stage and a
//! budgeted lossy stage; every cut is a marker naming the original it points
//! into (`[cairn: SUMMARY — ccr:HEX24]`), so nothing is dropped silently.
//!
//! Architecture invariant: pure and deterministic. No I/O, no clocks, no
//! randomness, no iteration over hash maps into the output: the same original
//! and options give the same bytes on every node and every run.
//!
//! API boundary: depends on `cairn-core` and `cairn-types` only.

pub mod diff;
pub mod json;
pub mod lines;
pub mod log;
mod query;
pub mod search;
pub mod table;

pub use query::{QueryMatcher, query_terms};
