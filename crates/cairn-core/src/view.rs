//! Rendering a view of an original: the full original, or the compressed view
//! with a marker for every cut.

use cairn_types::{Marker, View};

use crate::{ContentHash, ContentKind, format_marker};

/// What the reader asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ViewOptions {
    pub view: View,
    /// Keep everything that matches this query.
    pub query: Option<String>,
    /// Cap the view at this many tokens.
    pub max_tokens: Option<u64>,
}

/// A rendered view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderedView {
    /// The view is the original, byte for byte (a full view, or a compressed
    /// view of content too small or too varied to gain from compression).
    Original,
    /// A view that differs from the original, with the markers of its cuts.
    Rendered {
        content: String,
        tokens: u64,
        markers: Vec<Marker>,
    },
}

/// Renders the view of `original` (whose hash is `hash` and kind `kind`) that
/// `options` ask for. Deterministic: the same inputs give the same bytes.
pub fn render_view(
    original: &[u8],
    hash: &ContentHash,
    kind: ContentKind,
    options: &ViewOptions,
) -> RenderedView {
    if options.view == View::Full {
        return RenderedView::Original;
    }
    match kind {
        ContentKind::Binary(media_type) => {
            let reference = hash.ccr_ref();
            let summary = format!("binary {media_type}, {} bytes", original.len());
            let content = format_marker(&summary, &reference);
            let tokens = crate::tokens::count(&content);
            RenderedView::Rendered {
                content,
                tokens,
                markers: vec![Marker {
                    reference: reference.to_string(),
                    summary,
                }],
            }
        }
        ContentKind::Json | ContentKind::Text => RenderedView::Original,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff;

    fn render(bytes: &[u8], view: View) -> RenderedView {
        let options = ViewOptions {
            view,
            ..ViewOptions::default()
        };
        render_view(bytes, &ContentHash::of(bytes), sniff(bytes), &options)
    }

    #[test]
    fn full_view_is_the_original() {
        assert_eq!(render(b"\xff\x00", View::Full), RenderedView::Original);
        assert_eq!(render(b"text", View::Full), RenderedView::Original);
    }

    #[test]
    fn binary_compressed_view_is_a_one_line_marked_stub() {
        let bytes = b"\x89PNG\r\n\x1a\n0123456789";
        let RenderedView::Rendered {
            content,
            markers,
            tokens,
        } = render(bytes, View::Compressed)
        else {
            panic!("binary gets a stub");
        };
        let reference = ContentHash::of(bytes).ccr_ref().to_string();
        assert_eq!(
            content,
            format!("[cairn: binary image/png, 18 bytes — {reference}]")
        );
        assert_eq!(markers.len(), 1);
        assert_eq!(markers[0].reference, reference);
        assert!(tokens > 0);
        assert_eq!(
            render(bytes, View::Compressed),
            render(bytes, View::Compressed)
        );
    }
}
