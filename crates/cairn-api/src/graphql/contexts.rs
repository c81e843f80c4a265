//! Contexts: `context`, `contexts`, `ccr` and `stats`; `put` and `delete`.

use std::time::Duration;

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject};
use bytes::Bytes;
use cairn_auth::Scope;
use cairn_service::{DEFAULT_PAGE, GetOptions, ListQuery, MAX_PAGE, PutInput, Selection};
use cairn_types::{ContentEncoding, ContextKey};

use super::caller;
use crate::ApiError;

/// Which view of a context to read.
#[derive(Enum, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[graphql(name = "View")]
pub(crate) enum ViewArg {
    /// The compressed view, with a marker for every cut.
    #[default]
    Compressed,
    /// The original, byte for byte.
    Full,
}

impl From<ViewArg> for cairn_types::View {
    fn from(view: ViewArg) -> cairn_types::View {
        match view {
            ViewArg::Compressed => cairn_types::View::Compressed,
            ViewArg::Full => cairn_types::View::Full,
        }
    }
}

impl From<cairn_types::View> for ViewArg {
    fn from(view: cairn_types::View) -> ViewArg {
        match view {
            cairn_types::View::Compressed => ViewArg::Compressed,
            cairn_types::View::Full => ViewArg::Full,
        }
    }
}

/// How `content` is encoded: text as it is, binary as base64.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Encoding")]
pub(crate) enum EncodingType {
    Utf8,
    Base64,
}

impl From<ContentEncoding> for EncodingType {
    fn from(encoding: ContentEncoding) -> EncodingType {
        match encoding {
            ContentEncoding::Utf8 => EncodingType::Utf8,
            ContentEncoding::Base64 => EncodingType::Base64,
        }
    }
}

/// One cut in a compressed view: where it points and what it left out.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Marker")]
pub(crate) struct MarkerType {
    /// The `ccr:` reference of the original the cut points into.
    #[graphql(name = "ref")]
    pub reference: String,
    /// What was omitted, in words.
    pub summary: String,
}

impl From<cairn_types::Marker> for MarkerType {
    fn from(marker: cairn_types::Marker) -> MarkerType {
        MarkerType {
            reference: marker.reference,
            summary: marker.summary,
        }
    }
}

pub(crate) fn markers(markers: Vec<cairn_types::Marker>) -> Vec<MarkerType> {
    markers.into_iter().map(MarkerType::from).collect()
}

/// A version of a context, as one view.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Context")]
pub(crate) struct ContextType {
    key: String,
    /// BLAKE3 of the original, 64 lowercase hex digits.
    hash: String,
    /// `ccr:` + the first 24 hex digits of `hash`.
    #[graphql(name = "ref")]
    reference: String,
    version: i64,
    view: ViewArg,
    content: String,
    encoding: EncodingType,
    /// Tokens of `content` as served.
    tokens: u64,
    /// Tokens of the original.
    tokens_original: u64,
    markers: Vec<MarkerType>,
    /// Size of the original in bytes.
    bytes: u64,
    content_type: String,
    agent: Option<String>,
    session: Option<String>,
    metadata: Option<Json<serde_json::Value>>,
    created_at: String,
    expires_at: Option<String>,
}

impl From<cairn_types::ContextView> for ContextType {
    fn from(view: cairn_types::ContextView) -> ContextType {
        ContextType {
            key: view.key,
            hash: view.hash,
            reference: view.reference,
            version: view.version,
            view: view.view.into(),
            content: view.content,
            encoding: view.encoding.into(),
            tokens: view.tokens,
            tokens_original: view.tokens_original,
            markers: markers(view.markers),
            bytes: view.bytes,
            content_type: view.content_type,
            agent: view.agent,
            session: view.session,
            metadata: view.metadata.map(Json),
            created_at: view.created_at,
            expires_at: view.expires_at,
        }
    }
}

/// A key's latest version, as listed.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "ContextSummary")]
pub(crate) struct ContextSummaryType {
    key: String,
    version: i64,
    hash: String,
    #[graphql(name = "ref")]
    reference: String,
    bytes: u64,
    tokens_original: u64,
    tokens_compressed: u64,
    content_type: String,
    agent: Option<String>,
    session: Option<String>,
    created_at: String,
    expires_at: Option<String>,
}

impl From<cairn_types::ContextSummary> for ContextSummaryType {
    fn from(summary: cairn_types::ContextSummary) -> ContextSummaryType {
        ContextSummaryType {
            key: summary.key,
            version: summary.version,
            hash: summary.hash,
            reference: summary.reference,
            bytes: summary.bytes,
            tokens_original: summary.tokens_original,
            tokens_compressed: summary.tokens_compressed,
            content_type: summary.content_type,
            agent: summary.agent,
            session: summary.session,
            created_at: summary.created_at,
            expires_at: summary.expires_at,
        }
    }
}

/// Where a page ends and whether another follows.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    /// Pass as `after` for the next page; null on the last.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub(crate) fn new(next_cursor: Option<String>) -> PageInfo {
        PageInfo {
            has_next_page: next_cursor.is_some(),
            end_cursor: next_cursor,
        }
    }
}

/// A page of live keys, in key order.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct ContextConnection {
    nodes: Vec<ContextSummaryType>,
    page_info: PageInfo,
}

/// Which keys `contexts` lists.
#[derive(InputObject, Debug, Clone, Default)]
pub(crate) struct ContextFilter {
    /// Only keys starting with this.
    prefix: Option<String>,
    /// Only keys whose latest version this agent wrote.
    agent: Option<String>,
    /// Only keys whose latest version belongs to this session.
    session: Option<String>,
}

/// An original named by its reference, or the part of it selected.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Original")]
pub(crate) struct OriginalType {
    #[graphql(name = "ref")]
    reference: String,
    hash: String,
    bytes: u64,
    content_type: String,
    /// Tokens of the original.
    tokens: u64,
    /// The original, or the selected lines (or items of a JSON array).
    content: String,
    encoding: EncodingType,
    /// What was selected (`lines 3-9`, `items 3-9`, `query`); null for the whole.
    selection: Option<String>,
    /// Lines (or items) in the whole original, when a part was selected.
    total: Option<u64>,
    /// With `query`: each matching line or item and its 1-based position.
    matches: Option<Vec<MatchType>>,
}

impl From<cairn_types::Retrieved> for OriginalType {
    fn from(original: cairn_types::Retrieved) -> OriginalType {
        OriginalType {
            reference: original.reference,
            hash: original.hash,
            bytes: original.bytes,
            content_type: original.content_type,
            tokens: original.tokens,
            content: original.content,
            encoding: original.encoding.into(),
            selection: original.selection,
            total: original.total,
            matches: original.matches.map(|matches| {
                matches
                    .into_iter()
                    .map(|found| MatchType {
                        position: found.position,
                        text: found.text,
                    })
                    .collect()
            }),
        }
    }
}

/// A line (or JSON array item) of an original that matched a query.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Match")]
pub(crate) struct MatchType {
    position: u64,
    text: String,
}

/// What this tenant has stored and what compression saved.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Stats")]
pub(crate) struct StatsType {
    contexts: u64,
    versions: u64,
    blobs: u64,
    bytes_original: u64,
    bytes_unique: u64,
    bytes_stored: u64,
    dedup_ratio: f64,
    tokens_original: u64,
    tokens_compressed: u64,
    tokens_saved: u64,
    /// Originals whose default view is still being rendered.
    views_pending: u64,
}

/// What a put stored.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct PutResult {
    key: String,
    hash: String,
    #[graphql(name = "ref")]
    reference: String,
    version: i64,
    bytes: u64,
    tokens_original: u64,
    tokens_compressed: u64,
    content_type: String,
    /// Whether this tenant already referenced these exact bytes.
    deduplicated: bool,
    /// Whether the default view is still being rendered (the server was
    /// busy): `tokensCompressed` is `tokensOriginal` until it is.
    view_pending: bool,
    expires_at: Option<String>,
}

/// What a delete removed.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct DeleteResult {
    key: String,
    /// How many versions were deleted.
    versions: u64,
}

#[derive(Default)]
pub(crate) struct ContextQuery;

#[Object]
impl ContextQuery {
    /// A version of a context (the latest by default), compressed by default.
    #[graphql(complexity = "crate::graphql::COSTLY + child_complexity")]
    async fn context(
        &self,
        ctx: &Context<'_>,
        key: String,
        #[graphql(default)] view: ViewArg,
        #[graphql(desc = "Keep everything matching this in the view.")] query: Option<String>,
        #[graphql(desc = "Cap the view at this many tokens (at least 1).")] max_tokens: Option<i64>,
        version: Option<i64>,
    ) -> Result<Option<ContextType>, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let key = ContextKey::parse(key)?;
        let max_tokens = crate::graphql::count(max_tokens);
        if max_tokens == Some(0) {
            return Err(ApiError::invalid_request("maxTokens must be at least 1"));
        }
        let options = GetOptions {
            view: view.into(),
            version,
            query: query.filter(|query| !query.trim().is_empty()),
            max_tokens,
        };
        // A missing key is an error coded `not_found` (and `context` null),
        // so a client tells it from an expired one (`expired`).
        let read = cairn.get(&principal.tenant, &key, options).await?;
        Ok(Some(ContextType::from(read.into_view())))
    }

    /// Live keys in key order, a page at a time.
    #[graphql(
        complexity = "crate::graphql::first_cost(first, DEFAULT_PAGE as usize, MAX_PAGE, child_complexity)"
    )]
    async fn contexts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContextFilter>,
        #[graphql(desc = "Page size, 1-1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "`pageInfo.endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<ContextConnection, ApiError> {
        let first = crate::graphql::page_size(first, MAX_PAGE)?;
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let filter = filter.unwrap_or_default();
        let query = ListQuery {
            prefix: filter.prefix,
            agent: filter.agent,
            session: filter.session,
            limit: first,
            cursor: after,
            ..ListQuery::default()
        };
        let list = cairn.list(&principal.tenant, query).await?;
        Ok(ContextConnection {
            nodes: list.items.into_iter().map(Into::into).collect(),
            page_info: PageInfo::new(list.next_cursor),
        })
    }

    /// The original a `ccr:` reference names, or `lines` (`A-B`, 1-based) or
    /// the lines matching `query` of it.
    #[graphql(complexity = "crate::graphql::COSTLY + child_complexity")]
    async fn ccr(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "ref")] reference: String,
        lines: Option<String>,
        query: Option<String>,
    ) -> Result<OriginalType, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let selection = Selection::from_request(lines, query)?;
        let (retrieved, part) = cairn
            .retrieve_selected(&principal.tenant, &reference, selection)
            .await?;
        Ok(OriginalType::from(retrieved.into_wire(part)))
    }

    /// Counts, bytes, dedup and tokens saved, for the caller's tenant.
    async fn stats(&self, ctx: &Context<'_>) -> Result<StatsType, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let stats = cairn.stats(&principal.tenant).await?;
        Ok(StatsType {
            contexts: stats.contexts,
            versions: stats.versions,
            blobs: stats.blobs,
            bytes_original: stats.bytes_original,
            bytes_unique: stats.bytes_unique,
            bytes_stored: stats.bytes_stored,
            dedup_ratio: stats.dedup_ratio,
            tokens_original: stats.tokens_original,
            tokens_compressed: stats.tokens_compressed,
            tokens_saved: stats.tokens_saved,
            views_pending: stats.views_pending,
        })
    }
}

#[derive(Default)]
pub(crate) struct ContextMutation;

#[Object]
impl ContextMutation {
    /// Stores `content` under `key` as its next version. A token that names
    /// an agent records that agent, whatever `agent` says.
    // Each parameter is an argument of the GraphQL field.
    #[allow(clippy::too_many_arguments)]
    async fn put(
        &self,
        ctx: &Context<'_>,
        key: String,
        content: String,
        agent: Option<String>,
        session: Option<String>,
        #[graphql(desc = "Time to live in seconds (at least 1).")] ttl_seconds: Option<i64>,
        #[graphql(desc = "A JSON object stored with the version.")] metadata: Option<
            Json<serde_json::Value>,
        >,
    ) -> Result<PutResult, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Write)?;
        let key = ContextKey::parse(key)?;
        let input = PutInput {
            content: Bytes::from(content),
            agent: principal.agent_or(agent),
            session,
            ttl: crate::graphql::count(ttl_seconds).map(Duration::from_secs),
            metadata: metadata.map(|Json(value)| value),
        };
        let receipt = cairn.put(&principal.tenant, &key, input).await?;
        Ok(PutResult {
            key: receipt.key,
            hash: receipt.hash,
            reference: receipt.reference,
            version: receipt.version,
            bytes: receipt.bytes,
            tokens_original: receipt.tokens_original,
            tokens_compressed: receipt.tokens_compressed,
            content_type: receipt.content_type,
            deduplicated: receipt.deduplicated,
            view_pending: receipt.view_pending,
            expires_at: receipt.expires_at,
        })
    }

    /// Deletes every version of `key`.
    async fn delete(&self, ctx: &Context<'_>, key: String) -> Result<DeleteResult, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Write)?;
        let key = ContextKey::parse(key)?;
        let versions = cairn.delete(&principal.tenant, &key).await?;
        Ok(DeleteResult {
            key: key.into_string(),
            versions,
        })
    }
}
