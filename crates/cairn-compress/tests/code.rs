//! The code compressor on one realistic source per language: the language is
//! told from the content, signatures and docstring summaries stay, bodies
//! become markers naming their symbol, and a query keeps the body it touches.

use cairn_compress::code::{self, Language};
use cairn_compress::{Kind, Options, compress};
use cairn_core::{ContentHash, RenderedView};

struct Case {
    file: &'static str,
    language: Language,
    /// The retry function's signature (a fragment of its first line).
    signature: &'static str,
    /// The symbol its body's marker names.
    symbol: &'static str,
    /// Another line of its body: kept whole when the query touches it.
    body_line: &'static str,
    /// The first line of its doc comment or docstring.
    doc: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "retry.py",
        language: Language::Python,
        signature: "def retry_with_backoff(call: Callable[[], T], policy",
        symbol: "retry_with_backoff()",
        body_line: "time.sleep(delay)",
        doc: "\"\"\"Calls `call` until it succeeds or the policy gives up.",
    },
    Case {
        file: "retry.go",
        language: Language::Go,
        signature: "func RetryWithBackoff(ctx context.Context, p Policy, fn func() error) error {",
        symbol: "RetryWithBackoff()",
        body_line: "case <-time.After(delay):",
        doc: "// RetryWithBackoff calls fn until it succeeds, the context ends, or the",
    },
    Case {
        file: "retry.rs",
        language: Language::Rust,
        signature: "pub fn retry_with_backoff<T, E, F>(policy: &Policy, mut call: F)",
        symbol: "retry_with_backoff()",
        body_line: "thread::sleep(delay + jitter);",
        doc: "/// Calls `call` until it succeeds or the policy gives up. Each wait gets",
    },
    Case {
        file: "retry.js",
        language: Language::JavaScript,
        signature: "async function retryWithBackoff(fn, policy = new RetryPolicy()) {",
        symbol: "retryWithBackoff()",
        body_line: "await sleep(delay);",
        doc: "/**",
    },
    Case {
        file: "retry.ts",
        language: Language::TypeScript,
        signature: "async retryWithBackoff<T>(fn: () => Promise<T>, metrics?: Metrics): Promise<T> {",
        symbol: "Retrier.retryWithBackoff()",
        body_line: "await sleep(delay);",
        doc: "/**",
    },
    Case {
        file: "Retry.java",
        language: Language::Java,
        signature: "public static <T> T retryWithBackoff(Callable<T> call, Policy policy) throws Exception {",
        symbol: "Retry.retryWithBackoff()",
        body_line: "Thread.sleep(delay);",
        doc: "/**",
    },
    Case {
        file: "retry.c",
        language: Language::C,
        signature: "int retry_with_backoff(const struct retry_policy *policy, retry_fn fn, void *arg)",
        symbol: "retry_with_backoff()",
        body_line: "usleep((useconds_t)delay * 1000);",
        doc: "/*",
    },
    Case {
        file: "retry.cpp",
        language: Language::Cpp,
        signature: "T retry_with_backoff(const RetryPolicy& policy, const std::function<T()>& fn) {",
        symbol: "net::retry_with_backoff()",
        body_line: "std::this_thread::sleep_for(delay + Millis(jitter(rng)));",
        doc: "// Calls fn until it succeeds or the policy gives up. Each wait gets random",
    },
];

fn source(file: &str) -> String {
    let path = format!("{}/tests/data/code/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn view(text: &str, options: &Options<'_>) -> (String, Vec<String>) {
    let hash = ContentHash::of(text.as_bytes());
    let compressed = compress(text.as_bytes(), &hash, options);
    assert_eq!(compressed.kind, Kind::Code, "detected as code");
    match compressed.view {
        RenderedView::Rendered {
            content, markers, ..
        } => {
            for marker in &markers {
                assert_eq!(marker.reference, hash.ccr_ref().to_string());
            }
            (
                content,
                markers.into_iter().map(|marker| marker.summary).collect(),
            )
        }
        RenderedView::Original => panic!("the view saves nothing"),
    }
}

#[test]
fn each_language_is_told_from_its_content() {
    for case in CASES {
        let text = source(case.file);
        let (language, tree) = code::read(&text).unwrap_or_else(|| panic!("{} parses", case.file));
        assert_eq!(language, case.language, "{}", case.file);
        assert!(
            !tree.root_node().has_error(),
            "{} parses cleanly",
            case.file
        );
    }
}

#[test]
fn signatures_stay_and_bodies_become_markers_naming_their_symbol() {
    for case in CASES {
        let text = source(case.file);
        let (content, markers) = view(&text, &Options::default());
        let file = case.file;
        assert!(
            content.contains(case.signature),
            "{file}: signature\n{content}"
        );
        assert!(content.contains(case.doc), "{file}: doc summary\n{content}");
        assert!(
            !content.contains("full jitter keeps clients apart"),
            "{file}: the body is cut\n{content}"
        );
        assert!(!content.contains(case.body_line), "{file}\n{content}");
        assert!(
            markers.iter().any(|summary| summary.contains(case.symbol)),
            "{file}: a marker names {}: {markers:?}",
            case.symbol
        );
        // parse_endpoint's body is cut too (its port check is in it).
        assert!(!content.contains("65536"), "{file}\n{content}");
        // A marker stands where the body was, indented as the body is.
        let stub = content
            .lines()
            .find(|line| line.contains(case.symbol))
            .unwrap_or_default();
        assert!(
            stub.starts_with([' ', '\t']),
            "{file}: indented stub {stub:?}"
        );
    }
}

#[test]
fn a_query_keeps_the_whole_body_it_touches() {
    for case in CASES {
        let text = source(case.file);
        let options = Options {
            query: Some("full jitter"),
            ..Options::default()
        };
        let (content, _) = view(&text, &options);
        let file = case.file;
        assert!(
            content.contains("full jitter keeps clients apart"),
            "{file}\n{content}"
        );
        assert!(
            content.contains(case.body_line),
            "{file}: whole body\n{content}"
        );
        assert!(
            !content.contains("65536"),
            "{file}: other bodies stay cut\n{content}"
        );
    }
}

#[test]
fn imports_are_folded_into_one_marker_where_that_saves_tokens() {
    // Five Python imports, or Go's short ones, cost less than the marker
    // that would replace them.
    let (content, _) = view(&source("retry.py"), &Options::default());
    assert!(
        content.contains("import logging\nimport random\n"),
        "{content}"
    );
    let (content, _) = view(&source("retry.go"), &Options::default());
    assert!(content.contains("\t\"math/rand\"\n"), "{content}");
    for file in ["retry.rs", "retry.c", "retry.cpp"] {
        let (_, markers) = view(&source(file), &Options::default());
        assert!(
            markers.iter().any(|summary| summary.contains("imports")),
            "{file}: {markers:?}"
        );
    }
}

#[test]
fn a_budget_drops_bodies_and_comments_before_signatures() {
    for case in CASES {
        let text = source(case.file);
        let tokens = cairn_core::tokens::count(&text);
        let (content, _) = view(
            &text,
            &Options {
                max_tokens: Some(tokens / 4),
                ..Options::default()
            },
        );
        let used = cairn_core::tokens::count(&content);
        assert!(
            used <= tokens / 4 + 40,
            "{}: {used} of {tokens}\n{content}",
            case.file
        );
    }
}

#[test]
fn the_python_view_reads_like_an_outline() {
    let text = source("retry.py");
    let (content, _) = view(&text, &Options::default());
    let reference = ContentHash::of(text.as_bytes()).ccr_ref();
    let expected = format!(
        r#"    def delay(self, attempt: int) -> float:
        """The delay before the given attempt, capped at max_delay."""
        [cairn: 7 lines omitted: 7 RetryPolicy.delay() (lines 27-33) — {reference}]
"#
    );
    assert!(content.contains(&expected), "{content}");
}

#[test]
fn text_no_grammar_reads_falls_back_to_the_line_outline() {
    let text = "def broken(:\n    )))) {{{{ ((( \n".repeat(60);
    assert!(code::read(&text).is_none());
    let hash = ContentHash::of(text.as_bytes());
    let compressed = compress(
        text.as_bytes(),
        &hash,
        &Options {
            hint: Some(Kind::Code),
            ..Options::default()
        },
    );
    assert_eq!(compressed.kind, Kind::Code);
}

#[test]
fn every_grammar_survives_nesting_100_000_deep() {
    let nest =
        |open: &str, close: &str| format!("{}{}", open.repeat(100_000), close.repeat(100_000));
    for &language in Language::ALL {
        for text in [
            nest("(", ")"),
            nest("{", "}"),
            nest("[", "]"),
            nest("<", ">"),
        ] {
            let started = std::time::Instant::now();
            // Either a tree or, past the work limit, none: no crash either way.
            let tree = code::parse(&text, language);
            if let Some(tree) = tree {
                assert!(tree.root_node().end_byte() <= text.len());
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{language}: {:?}",
                started.elapsed()
            );
        }
    }
}
