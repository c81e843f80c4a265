//! Cairn's pure core: what an original *is* (its BLAKE3 [`ContentHash`] and
//! its [`CcrRef`]), the marker grammar, token counting with o200k_base, content
//! sniffing, and what a view is.
//!
//! Architecture invariant: no I/O and no async here. Everything in this crate
//! is a deterministic function of its inputs, which is what makes views
//! identical on every node and every run (SPEC invariant 3).

mod hash;
mod marker;
pub mod secrets;
pub mod skip;
mod sniff;
pub mod tokens;
mod view;

pub use hash::{CcrRef, ContentHash, InvalidHash, InvalidRef, REF_HEX_DIGITS};
pub use marker::format_marker;
pub use sniff::{ContentKind, sniff};
pub use view::{RenderedView, ViewOptions};
