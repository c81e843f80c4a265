//! `briefing`: what the other agents did in a project, within a budget.

use async_graphql::{Context, Object, SimpleObject};
use cairn_auth::Scope;
use cairn_service::BriefingQuery as Brief;

use super::caller;
use crate::ApiError;

/// A digest of the other agents' recent work in a project.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct Briefing {
    project: String,
    agent: Option<String>,
    /// The digest, ready to put in front of a model.
    text: String,
    /// o200k tokens of `text`, never more than the budget.
    tokens: u64,
    sessions: Vec<BriefingSession>,
    /// Sessions of the project that did not fit the budget.
    omitted: u64,
}

/// One session of a briefing.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct BriefingSession {
    id: String,
    agent: String,
    project: Option<String>,
    started_at: Option<String>,
    updated_at: Option<String>,
    task: Option<BriefingItem>,
    files_written: Vec<BriefingItem>,
    files_read: Vec<BriefingItem>,
    failures: Vec<BriefingFailure>,
    last_state: Option<BriefingItem>,
    open: Vec<BriefingItem>,
    /// Whether the text shows it in short.
    abridged: bool,
}

/// A line of a briefing and the reference that expands it.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct BriefingItem {
    text: String,
    #[graphql(name = "ref")]
    reference: String,
}

/// A command that failed.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct BriefingFailure {
    command: String,
    exit_code: Option<i64>,
    #[graphql(name = "ref")]
    reference: String,
    /// The output of the same command passing later, if it did.
    passed_later: Option<String>,
}

impl From<cairn_types::BriefingItem> for BriefingItem {
    fn from(item: cairn_types::BriefingItem) -> BriefingItem {
        BriefingItem {
            text: item.text,
            reference: item.reference,
        }
    }
}

fn items(items: Vec<cairn_types::BriefingItem>) -> Vec<BriefingItem> {
    items.into_iter().map(BriefingItem::from).collect()
}

impl From<cairn_types::Briefing> for Briefing {
    fn from(briefing: cairn_types::Briefing) -> Briefing {
        Briefing {
            project: briefing.project,
            agent: briefing.agent,
            text: briefing.text,
            tokens: briefing.tokens,
            omitted: briefing.omitted,
            sessions: briefing
                .sessions
                .into_iter()
                .map(|session| BriefingSession {
                    id: session.id,
                    agent: session.agent,
                    project: session.project,
                    started_at: session.started_at,
                    updated_at: session.updated_at,
                    task: session.task.map(BriefingItem::from),
                    files_written: items(session.files_written),
                    files_read: items(session.files_read),
                    failures: session
                        .failures
                        .into_iter()
                        .map(|failure| BriefingFailure {
                            command: failure.command,
                            exit_code: failure.exit_code,
                            reference: failure.reference,
                            passed_later: failure.passed_later,
                        })
                        .collect(),
                    last_state: session.last_state.map(BriefingItem::from),
                    open: items(session.open),
                    abridged: session.abridged,
                })
                .collect(),
        }
    }
}

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
        Ok(cairn.briefing(&principal.tenant, query).await?.into())
    }
}
