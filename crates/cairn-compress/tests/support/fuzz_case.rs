//! One fuzz case, shared by the fuzz targets (`fuzz/`) and the tests that
//! replay their seed corpus: the first three bytes choose the options, the
//! rest is the original. For any input the engine must not panic, must give
//! the same bytes twice, and every marker must name the original (so that
//! retrieving its reference returns the original byte for byte).

use cairn_compress::{Kind, Options, compress};
use cairn_core::{ContentHash, RenderedView};

/// The queries a case can ask, chosen by its third byte ("" asks none).
const QUERIES: &[&str] = &[
    "",
    "needle",
    "ERROR handled",
    "\"key\"",
    "retry jitter",
    "x",
];

/// Runs one case: options from the first bytes, the original from the rest.
pub fn run(data: &[u8]) {
    let (head, original) = data.split_at(data.len().min(3));
    let hint = head
        .first()
        .and_then(|byte| Kind::ALL.get(usize::from(*byte) % (Kind::ALL.len() + 1)))
        .copied();
    let max_tokens = head
        .get(1)
        .filter(|byte| **byte % 4 != 0)
        .map(|byte| u64::from(*byte) * 8);
    let query = head
        .get(2)
        .map(|byte| QUERIES[usize::from(*byte) % QUERIES.len()])
        .filter(|query| !query.is_empty());
    check(
        original,
        &Options {
            query,
            max_tokens,
            hint,
            tokens_original: None,
            scorer: None,
        },
    );
}

/// Compresses `original` twice and checks what every view must hold.
pub fn check(original: &[u8], options: &Options<'_>) {
    let hash = ContentHash::of(original);
    let first = compress(original, &hash, options);
    let second = compress(original, &hash, options);
    assert_eq!(first, second, "deterministic");
    if let RenderedView::Rendered {
        content,
        tokens,
        markers,
    } = &first.view
    {
        assert_eq!(*tokens, cairn_core::tokens::count(content));
        for marker in markers {
            assert_eq!(
                marker.reference,
                hash.ccr_ref().to_string(),
                "markers name the original"
            );
            assert!(
                content.contains(&marker.summary),
                "the marker is in the view"
            );
        }
    }
}
