//! Imported sessions and messages for both databases: one SQL text each
//! (`$n` placeholders, see [`crate::sql_for`]) and one row mapping. The backends
//! begin and commit an import's transaction (SQLite's `BEGIN IMMEDIATE`) and
//! store its blobs; PostgreSQL takes its feed lock between [`Sessions::upsert`]
//! and [`Sessions::merge`].

use std::marker::PhantomData;

use cairn_core::ContentHash;
use cairn_types::TenantId;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row as _, Transaction,
    Type,
};

use crate::contexts::to_i64;
use crate::merge::{self, Origin, Row};
use crate::{
    ImportOutcome, IndexedMessage, MessageBody, MessageRecord, Millis, SessionFilter,
    SessionImport, SessionRecord, SessionRow, StoreError,
};

/// Messages per multi-row insert (11 values each, far under either
/// database's limit).
const INSERT_ROWS: usize = 200;

const HELD_COLUMNS: &str = "session, position, uid, role, tool, call_id, at, injected, text, hash";

const MESSAGE_COLUMNS: &str = "m.seq, m.position, m.uid, m.role, m.tool, m.call_id, m.at, \
                               m.injected, m.text, m.hash";

const SESSION_COLUMNS: &str = "s.id, s.agent, s.project, s.title, s.parent, s.started_at, \
     s.updated_at, s.imported_at, s.thread_key, \
     (SELECT COUNT(*) FROM messages m WHERE m.tenant = s.tenant AND m.session = s.id) AS messages, \
     (SELECT COUNT(*) FROM messages m WHERE m.tenant = s.tenant AND m.session = s.id \
      AND m.role = 'assistant' AND m.tool IS NOT NULL) AS tool_calls";

/// Creates a session or widens what is known of it. The times widen to the
/// earlier start and the later update, NULL only when both are (a `CASE`,
/// since SQLite has no `LEAST`/`GREATEST` and PostgreSQL no scalar `MIN`/`MAX`).
const UPSERT_SQL: &str = "INSERT INTO sessions (tenant, id, agent, project, title, parent, \
     started_at, updated_at, imported_at, thread_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (tenant, id) DO UPDATE SET \
       project = COALESCE(sessions.project, excluded.project), \
       thread_key = COALESCE(sessions.thread_key, excluded.thread_key), \
       title = COALESCE(sessions.title, excluded.title), \
       parent = COALESCE(sessions.parent, excluded.parent), \
       started_at = CASE WHEN excluded.started_at < sessions.started_at \
         THEN excluded.started_at ELSE COALESCE(sessions.started_at, excluded.started_at) END, \
       updated_at = CASE WHEN excluded.updated_at > sessions.updated_at \
         THEN excluded.updated_at ELSE COALESCE(sessions.updated_at, excluded.updated_at) END, \
       imported_at = excluded.imported_at";

/// One insert of `rows` messages, 11 values each.
fn insert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let numbers: Vec<String> = (1..=11).map(|n| format!("${}", row * 11 + n)).collect();
            format!("({})", numbers.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO messages (tenant, session, position, uid, role, tool, call_id, at, \
         injected, text, hash) VALUES {}",
        values.join(", ")
    )
}

/// `$2` to `$6` may be NULL (no such filter); the casts tell PostgreSQL their
/// types.
fn list_sql() -> String {
    format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant = $1 \
         AND (CAST($2 AS TEXT) IS NULL OR s.agent = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR s.project = $3 \
              OR substr(s.project, 1, length($3) + 1) = $3 || '/') \
         AND (CAST($4 AS BIGINT) IS NULL OR COALESCE(s.updated_at, s.imported_at) >= $4) \
         AND (CAST($5 AS BIGINT) IS NULL OR COALESCE(s.updated_at, s.imported_at) < $5 \
              OR (COALESCE(s.updated_at, s.imported_at) = $5 AND s.id > $6)) \
         ORDER BY COALESCE(s.updated_at, s.imported_at) DESC, s.id LIMIT $7"
    )
}

/// The session queries on `DB`, a type so that their bounds are written once.
pub(crate) struct Sessions<DB>(PhantomData<DB>);

impl<DB: Database> Sessions<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    /// Creates or widens the import's sessions; returns how many it created.
    pub(crate) async fn upsert(
        tx: &mut Transaction<'static, DB>,
        tenant: &TenantId,
        import: &SessionImport,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let known = crate::sql_for::<DB>("SELECT 1 FROM sessions WHERE tenant = $1 AND id = $2");
        let upsert = crate::sql_for::<DB>(UPSERT_SQL);
        let mut created = 0;
        for session in &import.sessions {
            let found = sqlx::query(&known)
                .bind(tenant.as_str())
                .bind(session.id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
            sqlx::query(&upsert)
                .bind(tenant.as_str())
                .bind(session.id.as_str())
                .bind(session.agent.as_str())
                .bind(session.project.as_deref())
                .bind(session.title.as_deref())
                .bind(session.parent.as_deref())
                .bind(session.started_at)
                .bind(session.updated_at)
                .bind(now)
                .bind(session.thread_key.as_deref())
                .execute(&mut **tx)
                .await?;
            created += u64::from(found.is_none());
        }
        Ok(created)
    }

    /// Merges the import's messages into their sessions (see `merge.rs`).
    /// On PostgreSQL this numbers messages: the feed lock must be held.
    pub(crate) async fn merge(
        tx: &mut Transaction<'static, DB>,
        tenant: &TenantId,
        import: &SessionImport,
        created: u64,
    ) -> Result<ImportOutcome, StoreError> {
        let mut plan = merge::Plan::default();
        for (session, incoming) in crate::by_session(import) {
            let held = Self::held_rows(tx, tenant, &[session.to_owned()]).await?;
            let absorbed = match import.origin {
                Origin::File => {
                    let twins = Self::proxied_twins(tx, tenant, import, session).await?;
                    Self::held_rows(tx, tenant, &twins).await?
                }
                Origin::Proxy => Vec::new(),
            };
            merge::plan_session(import.origin, session, held, absorbed, incoming, &mut plan);
        }
        let delete_message = crate::sql_for::<DB>(
            "DELETE FROM messages WHERE tenant = $1 AND session = $2 AND uid = $3",
        );
        for (session, uid) in &plan.deletes {
            sqlx::query(&delete_message)
                .bind(tenant.as_str())
                .bind(session.as_str())
                .bind(uid.as_str())
                .execute(&mut **tx)
                .await?;
        }
        let delete_session =
            crate::sql_for::<DB>("DELETE FROM sessions WHERE tenant = $1 AND id = $2");
        for session in &plan.removed_sessions {
            sqlx::query(&delete_session)
                .bind(tenant.as_str())
                .bind(session.as_str())
                .execute(&mut **tx)
                .await?;
        }
        for chunk in plan.inserts.chunks(INSERT_ROWS) {
            let sql = crate::sql_for::<DB>(&insert_sql(chunk.len())).into_owned();
            let mut insert = sqlx::query(&sql);
            for row in chunk {
                insert = insert
                    .bind(tenant.as_str())
                    .bind(row.session.as_str())
                    .bind(row.position)
                    .bind(row.uid.as_str())
                    .bind(row.role.as_str())
                    .bind(row.tool.as_deref())
                    .bind(row.call_id.as_deref())
                    .bind(row.at)
                    .bind(i64::from(row.injected))
                    .bind(row.text.as_deref())
                    .bind(row.hash.as_deref());
            }
            insert.execute(&mut **tx).await?;
        }
        Ok(plan.finish(created))
    }

    /// The messages the sessions hold.
    async fn held_rows(
        tx: &mut Transaction<'static, DB>,
        tenant: &TenantId,
        sessions: &[String],
    ) -> Result<Vec<Row>, StoreError> {
        let sql = crate::sql_for::<DB>(&format!(
            "SELECT {HELD_COLUMNS} FROM messages WHERE tenant = $1 AND session = $2 \
             ORDER BY position"
        ))
        .into_owned();
        let mut rows = Vec::new();
        for session in sessions {
            let found = sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(session.as_str())
                .fetch_all(&mut **tx)
                .await?;
            for row in &found {
                rows.push(Row {
                    session: row.try_get("session")?,
                    position: row.try_get("position")?,
                    uid: row.try_get("uid")?,
                    role: row.try_get("role")?,
                    tool: row.try_get("tool")?,
                    call_id: row.try_get("call_id")?,
                    at: row.try_get("at")?,
                    injected: row.try_get::<i64, _>("injected")? != 0,
                    text: row.try_get("text")?,
                    hash: row.try_get("hash")?,
                });
            }
        }
        Ok(rows)
    }

    /// Proxied sessions that began with the same prompt as `session`, under
    /// other ids (its agent and thread key): the planner folds in those that
    /// are the same conversation.
    async fn proxied_twins(
        tx: &mut Transaction<'static, DB>,
        tenant: &TenantId,
        import: &SessionImport,
        session: &str,
    ) -> Result<Vec<String>, StoreError> {
        let Some(row) = import.sessions.iter().find(|row| row.id == session) else {
            return Ok(Vec::new());
        };
        let Some(key) = &row.thread_key else {
            return Ok(Vec::new());
        };
        let sql = crate::sql_for::<DB>(
            "SELECT id FROM sessions WHERE tenant = $1 AND agent = $2 AND thread_key = $3 \
             AND id <> $4 AND id LIKE 'proxy-%'",
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(tenant.as_str())
            .bind(row.agent.as_str())
            .bind(key.as_str())
            .bind(session)
            .fetch_all(&mut **tx)
            .await?)
    }

    /// The sessions stored under this agent and thread key: the agent's own
    /// ids (a file brought them) first, then proxied ones, oldest first.
    pub(crate) async fn find_thread(
        pool: &Pool<DB>,
        tenant: &TenantId,
        agent: &str,
        thread_key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let sql = crate::sql_for::<DB>(
            "SELECT id FROM sessions WHERE tenant = $1 AND agent = $2 AND thread_key = $3 \
             ORDER BY (id LIKE 'proxy-%'), started_at, id LIMIT 50",
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(tenant.as_str())
            .bind(agent)
            .bind(thread_key)
            .fetch_all(pool)
            .await?)
    }

    pub(crate) async fn list(
        pool: &Pool<DB>,
        tenant: &TenantId,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(&crate::sql_for::<DB>(&list_sql()))
            .bind(tenant.as_str())
            .bind(filter.agent.as_deref())
            .bind(filter.project.as_deref())
            .bind(filter.since)
            .bind(filter.after.as_ref().map(|(at, _)| *at))
            .bind(filter.after.as_ref().map(|(_, id)| id.as_str()))
            .bind(i64::from(filter.limit))
            .fetch_all(pool)
            .await?;
        rows.iter().map(Self::session_record).collect()
    }

    pub(crate) async fn get(
        pool: &Pool<DB>,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant = $1 AND s.id = $2"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(pool)
        .await?;
        row.as_ref().map(Self::session_record).transpose()
    }

    pub(crate) async fn messages(
        pool: &Pool<DB>,
        tenant: &TenantId,
        id: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let rows = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.tenant = $1 AND m.session = $2 \
             AND m.position >= $3 ORDER BY m.position LIMIT $4"
        )))
        .bind(tenant.as_str())
        .bind(id)
        .bind(to_i64(from))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
        rows.iter().map(Self::message_record).collect()
    }

    /// Every tenant's messages inserted after `seq`.
    pub(crate) async fn after(
        pool: &Pool<DB>,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<IndexedMessage>, StoreError> {
        let rows = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {MESSAGE_COLUMNS}, m.tenant, m.session, s.agent, s.project FROM messages m \
             JOIN sessions s ON s.tenant = m.tenant AND s.id = m.session \
             WHERE m.seq > $1 ORDER BY m.seq LIMIT $2"
        )))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(IndexedMessage {
                    tenant: row.try_get("tenant")?,
                    session: row.try_get("session")?,
                    agent: row.try_get("agent")?,
                    project: row.try_get("project")?,
                    message: Self::message_record(row)?,
                })
            })
            .collect()
    }

    pub(crate) async fn last_seq(pool: &Pool<DB>) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM messages")
            .fetch_one(pool)
            .await?;
        Ok(last.unwrap_or(0))
    }

    fn session_record(row: &DB::Row) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            row: SessionRow {
                id: row.try_get("id")?,
                agent: row.try_get("agent")?,
                project: row.try_get("project")?,
                title: row.try_get("title")?,
                parent: row.try_get("parent")?,
                started_at: row.try_get("started_at")?,
                updated_at: row.try_get("updated_at")?,
                thread_key: row.try_get("thread_key")?,
            },
            messages: row.try_get::<i64, _>("messages")?.max(0) as u64,
            tool_calls: row.try_get::<i64, _>("tool_calls")?.max(0) as u64,
            imported_at: row.try_get("imported_at")?,
        })
    }

    fn message_record(row: &DB::Row) -> Result<MessageRecord, StoreError> {
        let text: Option<String> = row.try_get("text")?;
        let hash: Option<String> = row.try_get("hash")?;
        let body = match (text, hash) {
            (_, Some(hash)) => MessageBody::Blob(
                ContentHash::from_hex(&hash)
                    .map_err(|_| StoreError::Corrupt(format!("bad message blob hash {hash:?}")))?,
            ),
            (Some(text), None) => MessageBody::Text(text),
            (None, None) => MessageBody::Text(String::new()),
        };
        Ok(MessageRecord {
            seq: row.try_get("seq")?,
            position: row.try_get::<i64, _>("position")?.max(0) as u64,
            uid: row.try_get("uid")?,
            role: row.try_get("role")?,
            tool: row.try_get("tool")?,
            call_id: row.try_get("call_id")?,
            at: row.try_get("at")?,
            injected: row.try_get::<i64, _>("injected")? != 0,
            body,
        })
    }
}
