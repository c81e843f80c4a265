//! Any bytes, any options: no panic, the same view twice, and every marker
//! names the original.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/cairn-compress/tests/support/fuzz_case.rs"]
mod fuzz_case;

fuzz_target!(|data: &[u8]| fuzz_case::run(data));
