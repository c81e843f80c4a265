//! `briefing`: what the other agents did in a project, within a budget.

use async_graphql::{Context, Object};
use cairn_auth::Scope;
use cairn_service::BriefingQuery as Brief;
use cairn_types::Briefing;

use super::caller;
use crate::ApiError;

#[derive(Default)]
pub(crate) struct BriefingQuery;

#[Object]
impl BriefingQuery {
    /// What the other agents did recently in a project, newest first, within
    /// `maxTokens` (100–32000, 1500 by default). The same store and
    /// arguments give the same text.
    #[graphql(complexity = "crate::graphql::COSTLY + child_complexity")]
    async fn briefing(
        &self,
        ctx: &Context<'_>,
        project: String,
        #[graphql(desc = "The agent being briefed: its own sessions are left out.")] agent: Option<
            String,
        >,
        #[graphql(desc = "Budget in o200k tokens, 100-32000 (default 1500).")] max_tokens: Option<
            i64,
        >,
        #[graphql(desc = "The project's git remote: other clones of it count too.")]
        repository: Option<String>,
    ) -> Result<Briefing, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let query = Brief {
            project,
            agent,
            max_tokens: crate::graphql::count(max_tokens),
            exclude_session: None,
            repository,
        };
        Ok(cairn.briefing(&principal.tenant, query).await?)
    }
}
