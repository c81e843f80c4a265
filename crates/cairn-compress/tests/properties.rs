//! For any input: no panic, bounded time, the same bytes every time, and
//! every marker names the original (so retrieving it returns the original)
//! and stands in the view where it says.

use std::time::{Duration, Instant};

use cairn_compress::{Kind, Options, compress};
use cairn_core::{ContentHash, RenderedView};

#[path = "support/fuzz_case.rs"]
mod fuzz_case;

use fuzz_case::check;

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "2026-11-21T04:36:20Z ",
    "INFO ",
    "ERROR ",
    "WARN ",
    "request ",
    "handled ",
    "{",
    "}",
    "[",
    "]",
    "\"key\": ",
    "\"value\"",
    ", ",
    ": ",
    "\n",
    "\n\n",
    "    ",
    "\t",
    "src/lib.rs:",
    "12:",
    "fn main() {",
    "def f():",
    "diff --git a/x b/x\n",
    "--- a/x\n",
    "+++ b/x\n",
    "@@ -1 +1 @@\n",
    "+added\n",
    "-removed\n",
    "a,b,c\n",
    "1,2,3\n",
    "<p>",
    "</p>",
    "<html>",
    "# Heading\n",
    "The cat sat. ",
    "Then it left! ",
    "needle",
    "é",
    "日本",
    "🎉",
    "[cairn: fake — ccr:0123456789abcdef01234567]",
    "\\",
    "\"",
    "0.5e10",
    "123456789012345678901234567890",
    "null",
    "true",
    "Traceback (most recent call last):\n",
    "  File \"x.py\", line 3\n",
    "test foo ... ok\n",
    "test bar ... FAILED\n",
    "class A:\n",
    "    \"\"\"Doc.\"\"\"\n",
    "        return x\n",
    "import os\n",
    "#include <stdio.h>\n",
    "int f(void) {\n",
    "func (p *P) F() {\n",
    "impl A {\n",
    "/// doc\n",
    "public class B {\n",
    "const f = () => {\n",
    "};\n",
    "template <typename T>\n",
    "namespace n {\n",
];

fn random_text(rng: &mut Rng) -> Vec<u8> {
    let pieces = rng.below(400);
    let mut text = Vec::new();
    for _ in 0..pieces {
        text.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
        if rng.below(200) == 0 {
            text.push(rng.next() as u8);
        }
    }
    text
}

#[test]
fn random_inputs_never_panic_and_compress_deterministically() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let kinds = [
        None,
        Some(Kind::JsonRows),
        Some(Kind::Log),
        Some(Kind::Prose),
        Some(Kind::Search),
        Some(Kind::Csv),
        Some(Kind::Diff),
        Some(Kind::Html),
        Some(Kind::Code),
    ];
    for _ in 0..3000 {
        let original = random_text(&mut rng);
        let started = Instant::now();
        let query = ["needle", "ERROR handled", "\"key\"", ""][rng.below(4)];
        let options = Options {
            query: Some(query).filter(|query| !query.is_empty()),
            max_tokens: [None, Some(1), Some(50), Some(500)][rng.below(4)],
            hint: kinds[rng.below(kinds.len())],
            tokens_original: None,
            scorer: None,
        };
        check(&original, &options);
        assert!(started.elapsed() < Duration::from_secs(20), "bounded time");
    }
}

#[test]
fn the_fuzz_seed_corpus_replays_cleanly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/compress");
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).expect("the seed corpus") {
        let path = entry.expect("a seed").path();
        let data = std::fs::read(&path).expect("a readable seed");
        fuzz_case::run(&data);
        seeds += 1;
    }
    assert!(seeds >= 10, "{seeds} seeds in {dir}");
}

#[test]
fn pathological_inputs_get_a_sane_view() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut mixed = b"first line of text\n".repeat(100);
    mixed.extend_from_slice(b"\xff\xfe invalid utf-8 in the middle \xc3\x28\n");
    mixed.extend_from_slice(&b"more text after it\n".repeat(100));
    let duplicate_keys = format!(
        "[{}]",
        (0..100)
            .map(|i| format!(r#"{{"a":{i},"a":{}}}"#, i + 1))
            .collect::<Vec<_>>()
            .join(",")
    );
    let huge_numbers = format!(
        "[{}]",
        (0..100)
            .map(|i| format!(r#"{{"n":1234567890123456789012345678901234567890{i}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let code_and_log = "2026-11-21 04:36:20 INFO fn main() {\n    let x = 1;\n}\n".repeat(300);
    // Code nested 100,000 deep, in the shapes each grammar nests.
    let deep_python = format!(
        "def f():\n    return {}{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let deep_c = format!(
        "int f(void) {{\n{}{}\n",
        "{".repeat(100_000),
        "}".repeat(100_000)
    );
    let deep_classes: String = (0..2_000)
        .map(|depth| format!("{}class C{depth}:\n", " ".repeat(depth)))
        .collect();
    for (name, input) in [
        ("deep JSON", deep.into_bytes()),
        ("invalid UTF-8 mid-text", mixed),
        ("duplicate keys", duplicate_keys.clone().into_bytes()),
        ("huge numbers", huge_numbers.clone().into_bytes()),
        ("code and log", code_and_log.into_bytes()),
        ("deep Python", deep_python.into_bytes()),
        ("deep C", deep_c.into_bytes()),
        ("deep classes", deep_classes.into_bytes()),
    ] {
        let hash = ContentHash::of(&input);
        let started = Instant::now();
        let compressed = compress(&input, &hash, &Options::default());
        assert!(started.elapsed() < Duration::from_secs(10), "{name}");
        check(&input, &Options::default());
        check(
            &input,
            &Options {
                query: Some("x"),
                max_tokens: Some(100),
                ..Options::default()
            },
        );
        if let RenderedView::Rendered { content, .. } = &compressed.view {
            assert!(!content.is_empty(), "{name}");
        }
    }
    // Numbers keep every digit; duplicate keys keep both values.
    let hash = ContentHash::of(huge_numbers.as_bytes());
    let view = compress(huge_numbers.as_bytes(), &hash, &Options::default());
    let RenderedView::Rendered { content, .. } = view.view else {
        panic!("compressed")
    };
    assert!(
        content.contains("12345678901234567890123456789012345678900"),
        "{content}"
    );
    let hash = ContentHash::of(duplicate_keys.as_bytes());
    let RenderedView::Rendered { content, .. } =
        compress(duplicate_keys.as_bytes(), &hash, &Options::default()).view
    else {
        panic!("compressed")
    };
    assert!(
        content.contains("0 | 1"),
        "both values of a duplicate key: {content}"
    );
}

#[test]
fn a_50_megabyte_single_line_is_cut_around_its_needle_in_bounded_time() {
    let mut line = "abcdefghij".repeat(5_000_000);
    line.replace_range(25_000_000..25_000_012, "NEEDLE-12345");
    let hash = ContentHash::of(line.as_bytes());
    let started = Instant::now();
    let compressed = compress(
        line.as_bytes(),
        &hash,
        &Options {
            query: Some("NEEDLE-12345"),
            ..Options::default()
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let RenderedView::Rendered {
        content, markers, ..
    } = compressed.view
    else {
        panic!("cut")
    };
    assert!(content.contains("NEEDLE-12345"));
    assert!(content.len() < 4_000, "{}", content.len());
    assert!(
        markers
            .iter()
            .all(|marker| marker.reference == hash.ccr_ref().to_string())
    );
}
