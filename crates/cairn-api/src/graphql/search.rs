//! `search`: sessions and contexts, ranked, filtered, with snippets.

use async_graphql::{Context, InputObject, Object};
use cairn_auth::Scope;
use cairn_service::{MAX_SEARCH_RESULTS, SearchQuery as Search, parse_time};
use cairn_types::SearchResults;

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
        Ok(cairn.search(&principal.tenant, search).await?)
    }
}
