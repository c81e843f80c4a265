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

pub mod code;
pub mod diff;
pub mod json;
pub mod lines;
pub mod log;
pub mod prose;
mod query;
pub mod records;
mod router;
pub mod search;
pub mod table;

use std::borrow::Cow;

use cairn_core::{ContentHash, ContentKind, RenderedView, ViewOptions, format_marker, tokens};
use cairn_types::{Marker, View};

pub use query::{QueryMatcher, query_terms};
pub use router::{Kind, detect};

/// The engine's version: views stored by another version are rendered again.
/// Bump it whenever a change can alter any view.
pub const ENGINE_VERSION: u32 = 10;

/// Texts smaller than this pass through unchanged: too small to gain.
pub const MIN_BYTES: usize = 512;

/// What to compress for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Keep everything matching this; rank by it under a budget.
    pub query: Option<&'a str>,
    /// Cap the view at this many tokens (query matches are kept past it).
    pub max_tokens: Option<u64>,
    /// What the caller says the content is; detected when `None`.
    pub hint: Option<Kind>,
    /// The original's token count, when the caller knows it already.
    pub tokens_original: Option<u64>,
    /// Scores prose sentences by meaning against the query (local ML), added
    /// to their BM25 scores; `None` (the default): BM25 alone.
    pub scorer: Option<&'a dyn SentenceScorer>,
}

/// Similarity of sentences to a query, supplied by the caller (the service's
/// embedder): this crate stays pure. It must be deterministic for a given
/// configuration, and answers `None` (BM25 alone) rather than run past its
/// own work budget.
pub trait SentenceScorer: std::fmt::Debug + Sync {
    /// One score per sentence, in about [-1, 1]; `None` to decline.
    fn scores(&self, query: &str, sentences: &[&str]) -> Option<Vec<f32>>;
}

/// A compressed view and what the router took the content for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub kind: Kind,
    pub view: RenderedView,
}

/// Compresses `original` (whose hash is `hash`: every marker points at it).
pub fn compress(original: &[u8], hash: &ContentHash, options: &Options<'_>) -> Compressed {
    let reference = hash.ccr_ref();
    let text = match std::str::from_utf8(original) {
        Ok(text) if !text.contains('\0') => text,
        _ => {
            let media_type = cairn_core::sniff(original).media_type();
            let summary = format!(
                "binary {media_type}, {} bytes",
                lines::thousands(original.len() as u64)
            );
            let content = format_marker(&summary, &reference);
            let tokens = tokens::count(&content);
            let markers = vec![Marker {
                reference: reference.to_string(),
                summary,
            }];
            return Compressed {
                kind: Kind::Binary,
                view: RenderedView::Rendered {
                    content,
                    tokens,
                    markers,
                },
            };
        }
    };
    // Views never show secrets: everything below works on the masked text,
    // and where it would show the original, it shows that text instead.
    let masked = cairn_core::secrets::mask(text);
    let text: &str = &masked;
    let unchanged = |kind: Kind| Compressed {
        kind,
        view: match &masked {
            Cow::Borrowed(_) => RenderedView::Original,
            Cow::Owned(masked) => RenderedView::Rendered {
                content: masked.clone(),
                tokens: tokens::count(masked),
                markers: Vec::new(),
            },
        },
    };
    let (kind, parsed) = match options.hint.filter(|kind| *kind != Kind::Binary) {
        Some(kind) => (kind, None),
        None => router::detect_parsed(text),
    };
    let forced = options.query.is_some() || options.max_tokens.is_some();
    if text.len() < MIN_BYTES && !forced {
        return unchanged(kind);
    }
    let tokens_original = match (&masked, options.tokens_original) {
        (Cow::Borrowed(_), Some(known)) => known,
        _ => tokens::count(text),
    };
    if options
        .max_tokens
        .is_some_and(|budget| tokens_original <= budget)
        && options.query.is_none()
    {
        return unchanged(kind);
    }
    let (content, markers) = render(kind, text, &reference, options, parsed);
    let view_tokens = tokens::count(&content);
    // A view that saves nothing is not worth its markers.
    if view_tokens >= tokens_original {
        return unchanged(kind);
    }
    Compressed {
        kind,
        view: RenderedView::Rendered {
            content,
            tokens: view_tokens,
            markers,
        },
    }
}

fn render(
    kind: Kind,
    text: &str,
    reference: &cairn_core::CcrRef,
    options: &Options<'_>,
    parsed: Option<(code::Language, tree_sitter::Tree)>,
) -> (String, Vec<Marker>) {
    let line_matcher = || QueryMatcher::new(options.query, text.lines());
    let selected = match kind {
        Kind::JsonRows | Kind::Json => match json::parse(text) {
            Ok(json::Json::Array(rows))
                if rows.len() >= 2
                    && rows.iter().all(|row| matches!(row, json::Json::Object(_))) =>
            {
                let texts: Vec<String> = rows.iter().map(json::Json::compact).collect();
                let matcher = QueryMatcher::new(options.query, texts.iter().map(String::as_str));
                json::compress_rows(&rows, &matcher, reference, options.max_tokens)
            }
            Ok(value) => return json::compress_nested(&value, &line_matcher(), reference),
            // Not JSON after all (a wrong hint, or nested too deep): as text.
            Err(_) => log::compress(
                text,
                log::Mode::Outline,
                &line_matcher(),
                reference,
                options.max_tokens,
            ),
        },
        Kind::Search => search::compress(text, &line_matcher(), reference, options.max_tokens),
        Kind::Diff => diff::compress(text, &line_matcher(), reference, options.max_tokens),
        Kind::Csv | Kind::Tsv => {
            let delimiter = if kind == Kind::Tsv { '\t' } else { ',' };
            table::compress(
                text,
                delimiter,
                &line_matcher(),
                reference,
                options.max_tokens,
            )
        }
        Kind::Html => {
            let (converted, markup) = prose::html_to_text(text);
            let mut selected = prose::compress(
                &converted,
                options.query,
                reference,
                options.max_tokens,
                options.scorer,
            );
            let summary = format!(
                "HTML converted to text; {} bytes of markup omitted",
                lines::thousands(markup as u64)
            );
            selected.content = format!(
                "{}\n{}",
                format_marker(&summary, reference),
                selected.content
            );
            selected.markers.insert(
                0,
                Marker {
                    reference: reference.to_string(),
                    summary,
                },
            );
            selected
        }
        Kind::Prose => prose::compress(
            text,
            options.query,
            reference,
            options.max_tokens,
            options.scorer,
        ),
        Kind::Log => log::compress(
            text,
            log::Mode::Log,
            &line_matcher(),
            reference,
            options.max_tokens,
        ),
        // Code no grammar reads cleanly: an outline with every declaration in it.
        Kind::Code => {
            let matcher = line_matcher();
            let parsed = parsed.or_else(|| code::read(text));
            parsed
                .map(|(language, tree)| {
                    code::compress_tree(
                        text,
                        language,
                        &tree,
                        &matcher,
                        reference,
                        options.max_tokens,
                    )
                })
                .unwrap_or_else(|| {
                    log::compress(
                        text,
                        log::Mode::Code,
                        &matcher,
                        reference,
                        options.max_tokens,
                    )
                })
        }
        Kind::Text | Kind::Binary => log::compress(
            text,
            log::Mode::Outline,
            &line_matcher(),
            reference,
            options.max_tokens,
        ),
    };
    (selected.content, selected.markers)
}

/// The view `options` ask for of an original stored as `media_type`.
pub fn render_view(
    original: &[u8],
    hash: &ContentHash,
    media_type: &str,
    options: &ViewOptions,
    tokens_original: Option<u64>,
) -> RenderedView {
    render_view_scored(original, hash, media_type, options, tokens_original, None)
}

/// [`render_view`], with prose sentences also scored by `scorer`.
pub fn render_view_scored(
    original: &[u8],
    hash: &ContentHash,
    media_type: &str,
    options: &ViewOptions,
    tokens_original: Option<u64>,
    scorer: Option<&dyn SentenceScorer>,
) -> RenderedView {
    if options.view == View::Full {
        return RenderedView::Original;
    }
    let hint = ContentKind::from_media_type(media_type)
        .is_binary()
        .then_some(Kind::Binary);
    let options = Options {
        query: options.query.as_deref(),
        max_tokens: options.max_tokens,
        hint,
        tokens_original,
        scorer,
    };
    compress(original, hash, &options).view
}
