//! Cairn's own JSON parser on any text: no panic, and what it parses prints
//! back compactly to text that parses to the same value.
#![no_main]

use cairn_compress::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = json::parse(text) {
        let compact = value.compact();
        let again = json::parse(&compact).expect("compact output parses");
        assert_eq!(value, again, "compact output round-trips");
    }
});
