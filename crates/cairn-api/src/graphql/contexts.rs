//! Contexts: `context`, `contexts`, `ccr` and `stats`; `put` and `delete`.

use std::time::Duration;

use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use bytes::Bytes;
use cairn_auth::Scope;
use cairn_service::{DEFAULT_PAGE, GetOptions, ListQuery, MAX_PAGE, PutInput, Selection};
use cairn_types::{
    ContextKey, ContextSummary, ContextView, Deleted, PutReceipt, Retrieved, Stats, View,
};

use super::caller;
use crate::ApiError;

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
    nodes: Vec<ContextSummary>,
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
        #[graphql(default)] view: View,
        #[graphql(desc = "Keep everything matching this in the view.")] query: Option<String>,
        #[graphql(desc = "Cap the view at this many tokens (at least 1).")] max_tokens: Option<i64>,
        version: Option<i64>,
    ) -> Result<Option<ContextView>, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let key = ContextKey::parse(key)?;
        let max_tokens = crate::graphql::count(max_tokens);
        if max_tokens == Some(0) {
            return Err(ApiError::invalid_request("maxTokens must be at least 1"));
        }
        let options = GetOptions {
            view,
            version,
            query: query.filter(|query| !query.trim().is_empty()),
            max_tokens,
        };
        // A missing key is an error coded `not_found` (and `context` null),
        // so a client tells it from an expired one (`expired`).
        let read = cairn.get(&principal.tenant, &key, options).await?;
        Ok(Some(read.into_view()))
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
            nodes: list.items,
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
    ) -> Result<Retrieved, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let selection = Selection::from_request(lines, query)?;
        let (retrieved, part) = cairn
            .retrieve_selected(&principal.tenant, &reference, selection)
            .await?;
        Ok(retrieved.into_wire(part))
    }

    /// Counts, bytes, dedup and tokens saved, for the caller's tenant.
    async fn stats(&self, ctx: &Context<'_>) -> Result<Stats, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        Ok(cairn.stats(&principal.tenant).await?)
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
    ) -> Result<PutReceipt, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Write)?;
        let key = ContextKey::parse(key)?;
        let input = PutInput {
            content: Bytes::from(content),
            agent: principal.agent_or(agent),
            session,
            ttl: crate::graphql::count(ttl_seconds).map(Duration::from_secs),
            metadata: metadata.map(|Json(value)| value),
        };
        Ok(cairn.put(&principal.tenant, &key, input).await?)
    }

    /// Deletes every version of `key`.
    async fn delete(&self, ctx: &Context<'_>, key: String) -> Result<Deleted, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Write)?;
        let key = ContextKey::parse(key)?;
        let versions = cairn.delete(&principal.tenant, &key).await?;
        Ok(Deleted {
            key: key.into_string(),
            versions,
        })
    }
}
