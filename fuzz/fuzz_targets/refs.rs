//! `ccr:` references and the marker grammar on any text: a reference parses
//! only in its one spelling (and prints back to it), and a marker written
//! with any summary carries a reference that parses back to the same.
#![no_main]

use cairn_core::{CcrRef, ContentHash, format_marker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = CcrRef::parse(text) {
        let printed = reference.to_string();
        assert_eq!(CcrRef::parse(&printed).ok(), Some(reference));
    }
    let reference = ContentHash::of(data).ccr_ref();
    let marker = format_marker(text, &reference);
    let printed = reference.to_string();
    let at = marker.rfind(&printed).expect("the marker names its reference");
    assert_eq!(CcrRef::parse(&marker[at..at + printed.len()]).ok(), Some(reference));
});
