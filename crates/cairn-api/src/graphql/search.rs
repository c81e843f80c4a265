//! `search`: sessions and contexts, ranked, filtered, with snippets.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use cairn_auth::Scope;
use cairn_service::{MAX_SEARCH_RESULTS, SearchQuery as Search, parse_time};

use super::caller;
use crate::ApiError;

/// Results of a search unless `first` says otherwise.
const DEFAULT_FIRST: usize = 20;

/// What a search is limited to, besides its words.
#[derive(InputObject, Debug, Clone, Default)]
pub(crate) struct SearchFilter {
    agent: Option<String>,
    project: Option<String>,
    session: Option<String>,
    /// `message` or `context`.
    kind: Option<String>,
    /// RFC 3339, inclusive.
    since: Option<String>,
    /// RFC 3339, exclusive.
    until: Option<String>,
}

/// Ranked hits.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct SearchResults {
    /// Every match, before `first`.
    total: u64,
    hits: Vec<SearchHit>,
}

/// One message or context that matched.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct SearchHit {
    /// `message` or `context`.
    kind: String,
    agent: Option<String>,
    project: Option<String>,
    session: Option<String>,
    /// The message's position in its session.
    position: Option<u64>,
    /// The context's key.
    key: Option<String>,
    /// Every key that holds this same content, `key` first, when more than
    /// one does: identical contexts are one hit.
    keys: Vec<String>,
    role: Option<String>,
    tool: Option<String>,
    /// The full message or context.
    #[graphql(name = "ref")]
    reference: String,
    at: String,
    score: f32,
    /// Around the best match, matches in `**`.
    snippet: String,
}

#[derive(Default)]
pub(crate) struct SearchQuery;

#[Object]
impl SearchQuery {
    /// Searches imported sessions and contexts: words (an identifier is found
    /// by its parts), `"phrases"`, `field:value`, `AND`, `OR`, `-word`.
    #[graphql(
        complexity = "crate::graphql::COSTLY + crate::graphql::first_cost(first, DEFAULT_FIRST, MAX_SEARCH_RESULTS as u32, child_complexity)"
    )]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        filter: Option<SearchFilter>,
        #[graphql(desc = "Hits, 1-1000 (default 20).")] first: Option<i32>,
    ) -> Result<SearchResults, ApiError> {
        let first = crate::graphql::page_size(first, MAX_SEARCH_RESULTS as u32)?
            .map_or(DEFAULT_FIRST, |first| first as usize);
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let filter = filter.unwrap_or_default();
        let search = Search {
            text: query,
            agent: filter.agent,
            project: filter.project,
            session: filter.session,
            kind: filter.kind,
            since: filter.since.as_deref().map(parse_time).transpose()?,
            until: filter.until.as_deref().map(parse_time).transpose()?,
            limit: first,
            ..Search::default()
        };
        let results = cairn.search(&principal.tenant, search).await?;
        Ok(SearchResults {
            total: results.total,
            hits: results
                .hits
                .into_iter()
                .map(|hit| SearchHit {
                    kind: hit.kind,
                    agent: hit.agent,
                    project: hit.project,
                    session: hit.session,
                    position: hit.position,
                    key: hit.key,
                    keys: hit.keys,
                    role: hit.role,
                    tool: hit.tool,
                    reference: hit.reference,
                    at: hit.at,
                    score: hit.score,
                    snippet: hit.snippet,
                })
                .collect(),
        })
    }
}
