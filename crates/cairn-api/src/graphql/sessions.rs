//! Sessions: `sessions`, `session` with its messages; `importSession`.

use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject};
use bytes::Bytes;
use cairn_auth::Scope;
use cairn_service::{
    DEFAULT_MESSAGES, DEFAULT_PAGE, ImportSource, MAX_MESSAGES, MAX_PAGE,
    SessionQuery as ListSessions,
};
use cairn_types::{ImportReport, SessionMessage, SessionSummary};

use super::caller;
use super::contexts::PageInfo;
use crate::ApiError;

/// An imported session. Its `messages` are read a page at a time.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Session", complex)]
pub(crate) struct SessionType {
    id: String,
    /// `claude`, `codex` or `gemini`.
    agent: String,
    /// The session's working directory.
    project: Option<String>,
    title: Option<String>,
    /// A subagent's parent session.
    parent: Option<String>,
    started_at: Option<String>,
    updated_at: Option<String>,
    /// Messages in the whole session.
    message_count: u64,
    tool_calls: u64,
}

impl SessionType {
    fn new(summary: SessionSummary) -> SessionType {
        SessionType {
            id: summary.id,
            agent: summary.agent,
            project: summary.project,
            title: summary.title,
            parent: summary.parent,
            started_at: summary.started_at,
            updated_at: summary.updated_at,
            message_count: summary.messages,
            tool_calls: summary.tool_calls,
        }
    }
}

#[ComplexObject]
impl SessionType {
    /// The session's messages in order, a page at a time. Tool outputs come
    /// as compressed views; `ref` names the full output.
    #[graphql(
        complexity = "crate::graphql::first_cost(first, DEFAULT_MESSAGES as usize, MAX_MESSAGES, child_complexity)"
    )]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1-2000 (default 200).")] first: Option<i32>,
        #[graphql(desc = "`pageInfo.endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<MessageConnection, ApiError> {
        let from = match &after {
            None => 0,
            Some(cursor) => cursor.parse::<u64>().map_err(|_| {
                ApiError::invalid_request(format!("after must be a message cursor, got {cursor:?}"))
            })?,
        };
        let first = crate::graphql::page_size(first, MAX_MESSAGES)?;
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let detail = cairn
            .session(&principal.tenant, &self.id, from, first)
            .await?;
        Ok(MessageConnection {
            nodes: detail.messages,
            page_info: PageInfo::new(detail.next_from.map(|next| next.to_string())),
        })
    }
}

/// A page of a session's messages.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct MessageConnection {
    nodes: Vec<SessionMessage>,
    page_info: PageInfo,
}

/// A page of sessions, most recently updated first.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct SessionConnection {
    nodes: Vec<SessionType>,
    page_info: PageInfo,
}

/// Which sessions `sessions` lists.
#[derive(InputObject, Debug, Clone, Default)]
pub(crate) struct SessionFilter {
    /// `claude`, `codex` or `gemini`.
    agent: Option<String>,
    /// The project (working directory), exactly.
    project: Option<String>,
    /// Only sessions updated at or after this time (RFC 3339).
    since: Option<String>,
}

#[derive(Default)]
pub(crate) struct SessionQuery;

#[Object]
impl SessionQuery {
    /// Imported sessions, most recently updated first.
    #[graphql(
        complexity = "crate::graphql::first_cost(first, DEFAULT_PAGE as usize, MAX_PAGE, child_complexity)"
    )]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
        #[graphql(desc = "Page size, 1-1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "`pageInfo.endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<SessionConnection, ApiError> {
        let first = crate::graphql::page_size(first, MAX_PAGE)?;
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let filter = filter.unwrap_or_default();
        let query = ListSessions {
            agent: filter.agent,
            project: filter.project,
            since: filter
                .since
                .as_deref()
                .map(cairn_service::parse_time)
                .transpose()?,
            limit: first,
            cursor: after,
        };
        let list = cairn.sessions(&principal.tenant, query).await?;
        Ok(SessionConnection {
            nodes: list.sessions.into_iter().map(SessionType::new).collect(),
            page_info: PageInfo::new(list.next_cursor),
        })
    }

    /// A session (a Claude subagent's id is `parent/agent-id`) and its messages.
    #[graphql(complexity = "crate::graphql::COSTLY + child_complexity")]
    async fn session(&self, ctx: &Context<'_>, id: String) -> Result<SessionType, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        // One message read for the summary; `messages` reads the pages asked for.
        let detail = cairn.session(&principal.tenant, &id, 0, Some(1)).await?;
        Ok(SessionType::new(detail.session))
    }
}

#[derive(Default)]
pub(crate) struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Imports one session file of Claude Code, Codex CLI or Gemini CLI, as
    /// text. Importing it again adds nothing.
    async fn import_session(
        &self,
        ctx: &Context<'_>,
        content: String,
        #[graphql(desc = "`claude`, `codex` or `gemini`; detected when absent.")] agent: Option<
            String,
        >,
    ) -> Result<ImportReport, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Write)?;
        Ok(cairn
            .import_session(
                &principal.tenant,
                Bytes::from(content),
                agent.as_deref(),
                ImportSource::default(),
            )
            .await?)
    }
}
