//! Imported sessions and messages in SQLite.

use cairn_core::ContentHash;
use cairn_types::TenantId;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row as _, Sqlite, Transaction};

use super::{begin_write, insert_blob, to_i64};
use crate::merge::{self, Origin, Row};
use crate::{
    ImportOutcome, IndexedMessage, MessageBody, MessageRecord, Millis, SessionFilter,
    SessionImport, SessionRecord, SessionRow, StoreError,
};

/// Messages per multi-row insert (11 values each, far under SQLite's limit).
const INSERT_ROWS: usize = 200;

const HELD_COLUMNS: &str = "session, position, uid, role, tool, call_id, at, injected, text, hash";

const MESSAGE_COLUMNS: &str = "m.seq, m.position, m.uid, m.role, m.tool, m.call_id, m.at, \
                               m.injected, m.text, m.hash";

const SESSION_COLUMNS: &str = "s.id, s.agent, s.project, s.title, s.parent, s.started_at, \
     s.updated_at, s.imported_at, s.thread_key, \
     (SELECT COUNT(*) FROM messages m WHERE m.tenant = s.tenant AND m.session = s.id) AS messages, \
     (SELECT COUNT(*) FROM messages m WHERE m.tenant = s.tenant AND m.session = s.id \
      AND m.role = 'assistant' AND m.tool IS NOT NULL) AS tool_calls";

pub(crate) async fn import(
    pool: &SqlitePool,
    tenant: &TenantId,
    import: &SessionImport,
    now: Millis,
) -> Result<ImportOutcome, StoreError> {
    let mut tx = begin_write(pool).await?;
    for blob in &import.blobs {
        insert_blob(&mut tx, tenant, blob, now).await?;
    }
    let mut created = 0;
    for session in &import.sessions {
        created += upsert_session(&mut tx, tenant, session, now).await?;
    }
    let mut plan = merge::Plan::default();
    for (session, incoming) in crate::by_session(import) {
        let held = held_rows(&mut tx, tenant, &[session.to_owned()]).await?;
        let absorbed = match import.origin {
            Origin::File => {
                let twins = proxied_twins(&mut tx, tenant, import, session).await?;
                held_rows(&mut tx, tenant, &twins).await?
            }
            Origin::Proxy => Vec::new(),
        };
        merge::plan_session(import.origin, session, held, absorbed, incoming, &mut plan);
    }
    for (session, uid) in &plan.deletes {
        sqlx::query("DELETE FROM messages WHERE tenant = ?1 AND session = ?2 AND uid = ?3")
            .bind(tenant.as_str())
            .bind(session)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
    }
    for session in &plan.removed_sessions {
        sqlx::query("DELETE FROM sessions WHERE tenant = ?1 AND id = ?2")
            .bind(tenant.as_str())
            .bind(session)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in plan.inserts.chunks(INSERT_ROWS) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (tenant, session, position, uid, role, tool, call_id, at, \
             injected, text, hash) ",
        );
        insert.push_values(chunk, |mut values, row| {
            values
                .push_bind(tenant.as_str())
                .push_bind(&row.session)
                .push_bind(row.position)
                .push_bind(&row.uid)
                .push_bind(&row.role)
                .push_bind(&row.tool)
                .push_bind(&row.call_id)
                .push_bind(row.at)
                .push_bind(i64::from(row.injected))
                .push_bind(&row.text)
                .push_bind(&row.hash);
        });
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(plan.finish(created))
}

/// The messages the sessions hold.
async fn held_rows(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: &TenantId,
    sessions: &[String],
) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::new();
    for session in sessions {
        let found = sqlx::query(&format!(
            "SELECT {HELD_COLUMNS} FROM messages WHERE tenant = ?1 AND session = ?2 \
             ORDER BY position"
        ))
        .bind(tenant.as_str())
        .bind(session)
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
    tx: &mut Transaction<'static, Sqlite>,
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
    Ok(sqlx::query_scalar(
        "SELECT id FROM sessions WHERE tenant = ?1 AND agent = ?2 AND thread_key = ?3 \
         AND id <> ?4 AND id LIKE 'proxy-%'",
    )
    .bind(tenant.as_str())
    .bind(&row.agent)
    .bind(key)
    .bind(session)
    .fetch_all(&mut **tx)
    .await?)
}

/// The sessions stored under this agent and thread key: the agent's own ids
/// (a file brought them) first, then proxied ones, oldest first.
pub(crate) async fn find_thread(
    pool: &SqlitePool,
    tenant: &TenantId,
    agent: &str,
    thread_key: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM sessions WHERE tenant = ?1 AND agent = ?2 AND thread_key = ?3 \
         ORDER BY (id LIKE 'proxy-%'), started_at, id LIMIT 50",
    )
    .bind(tenant.as_str())
    .bind(agent)
    .bind(thread_key)
    .fetch_all(pool)
    .await?)
}

/// Creates the session or widens what is known of it; returns 1 if created.
async fn upsert_session(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: &TenantId,
    session: &SessionRow,
    now: Millis,
) -> Result<u64, StoreError> {
    let known: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sessions WHERE tenant = ?1 AND id = ?2")
            .bind(tenant.as_str())
            .bind(&session.id)
            .fetch_optional(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO sessions (tenant, id, agent, project, title, parent, started_at, \
         updated_at, imported_at, thread_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (tenant, id) DO UPDATE SET \
           project = COALESCE(sessions.project, excluded.project), \
           thread_key = COALESCE(sessions.thread_key, excluded.thread_key), \
           title = COALESCE(sessions.title, excluded.title), \
           parent = COALESCE(sessions.parent, excluded.parent), \
           started_at = MIN(COALESCE(sessions.started_at, excluded.started_at), \
                            COALESCE(excluded.started_at, sessions.started_at)), \
           updated_at = MAX(COALESCE(sessions.updated_at, excluded.updated_at), \
                            COALESCE(excluded.updated_at, sessions.updated_at)), \
           imported_at = excluded.imported_at",
    )
    .bind(tenant.as_str())
    .bind(&session.id)
    .bind(&session.agent)
    .bind(&session.project)
    .bind(&session.title)
    .bind(&session.parent)
    .bind(session.started_at)
    .bind(session.updated_at)
    .bind(now)
    .bind(&session.thread_key)
    .execute(&mut **tx)
    .await?;
    Ok(u64::from(known.is_none()))
}

fn session_record(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
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

fn message_record(row: &SqliteRow) -> Result<MessageRecord, StoreError> {
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

pub(crate) async fn list(
    pool: &SqlitePool,
    tenant: &TenantId,
    filter: &SessionFilter,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant = ?1 \
         AND (?2 IS NULL OR s.agent = ?2) AND (?3 IS NULL OR s.project = ?3 \
              OR substr(s.project, 1, length(?3) + 1) = ?3 || '/') \
         AND (?4 IS NULL OR COALESCE(s.updated_at, s.imported_at) >= ?4) \
         AND (?5 IS NULL OR COALESCE(s.updated_at, s.imported_at) < ?5 \
              OR (COALESCE(s.updated_at, s.imported_at) = ?5 AND s.id > ?6)) \
         ORDER BY COALESCE(s.updated_at, s.imported_at) DESC, s.id LIMIT ?7"
    ))
    .bind(tenant.as_str())
    .bind(&filter.agent)
    .bind(&filter.project)
    .bind(filter.since)
    .bind(filter.after.as_ref().map(|(at, _)| *at))
    .bind(filter.after.as_ref().map(|(_, id)| id.as_str()))
    .bind(i64::from(filter.limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(session_record).collect()
}

pub(crate) async fn get(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant = ?1 AND s.id = ?2"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(session_record).transpose()
}

pub(crate) async fn messages(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: &str,
    from: u64,
    limit: u32,
) -> Result<Vec<MessageRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.tenant = ?1 AND m.session = ?2 \
         AND m.position >= ?3 ORDER BY m.position LIMIT ?4"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .bind(to_i64(from))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(message_record).collect()
}

pub(crate) async fn after(
    pool: &SqlitePool,
    seq: i64,
    limit: u32,
) -> Result<Vec<IndexedMessage>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS}, m.tenant, m.session, s.agent, s.project FROM messages m \
         JOIN sessions s ON s.tenant = m.tenant AND s.id = m.session \
         WHERE m.seq > ?1 ORDER BY m.seq LIMIT ?2"
    ))
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
                message: message_record(row)?,
            })
        })
        .collect()
}

pub(crate) async fn last_seq(pool: &SqlitePool) -> Result<i64, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM messages")
        .fetch_one(pool)
        .await?;
    Ok(last.unwrap_or(0))
}
