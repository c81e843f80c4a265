//! What a view is: the options a reader asks for, and the rendered result
//! (the compression engine, `cairn-compress`, renders it).

use cairn_types::{Marker, View};

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
