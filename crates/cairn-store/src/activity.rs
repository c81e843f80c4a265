//! [`Store::activity`](crate::Store::activity) for both databases: its
//! queries, one text each (`$1` is the tenant, `$2` the first millisecond
//! counted; SQLite reads them as `?1`, `?2`), and its rows.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{ContextActivity, SessionActivity, StoreError};

pub(crate) const CONTEXT_ACTIVITY_SQL: &str = "SELECT c.created_at / 86400000 AS day, c.agent, \
     b.content_type, COUNT(*) AS versions, \
     CAST(COALESCE(SUM(b.tokens_original), 0) AS BIGINT) AS tokens_original, \
     CAST(COALESCE(SUM(b.tokens_compressed), 0) AS BIGINT) AS tokens_compressed \
     FROM contexts c JOIN blobs b ON b.hash = c.hash \
     WHERE c.tenant = $1 AND c.created_at >= $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

pub(crate) const SESSION_TOTALS_SQL: &str = "SELECT \
     (SELECT COUNT(*) FROM sessions WHERE tenant = $1) AS sessions, \
     (SELECT COUNT(*) FROM messages WHERE tenant = $1) AS messages";

pub(crate) const SESSION_ACTIVITY_SQL: &str = "SELECT d.day, d.agent, COUNT(*) AS sessions, \
     CAST(COALESCE(SUM(d.messages), 0) AS BIGINT) AS messages FROM ( \
       SELECT COALESCE(s.started_at, s.imported_at) / 86400000 AS day, s.agent, \
       (SELECT COUNT(*) FROM messages m WHERE m.tenant = s.tenant AND m.session = s.id) AS messages \
       FROM sessions s WHERE s.tenant = $1 AND COALESCE(s.started_at, s.imported_at) >= $2 \
     ) d GROUP BY 1, 2 ORDER BY 1, 2";

pub(crate) fn count<R: Row>(row: &R, column: &str) -> Result<u64, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let value: i64 = row.try_get(column)?;
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative value {value} in column {column}")))
}

/// A row of [`CONTEXT_ACTIVITY_SQL`].
pub(crate) fn context_row<R: Row>(row: &R) -> Result<ContextActivity, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(ContextActivity {
        day: row.try_get("day")?,
        agent: row.try_get("agent")?,
        content_type: row.try_get("content_type")?,
        versions: count(row, "versions")?,
        tokens_original: count(row, "tokens_original")?,
        tokens_compressed: count(row, "tokens_compressed")?,
    })
}

/// A row of [`SESSION_ACTIVITY_SQL`].
pub(crate) fn session_row<R: Row>(row: &R) -> Result<SessionActivity, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(SessionActivity {
        day: row.try_get("day")?,
        agent: row.try_get("agent")?,
        sessions: count(row, "sessions")?,
        messages: count(row, "messages")?,
    })
}

/// The row of [`SESSION_TOTALS_SQL`]: sessions and messages.
pub(crate) fn totals_row<R: Row>(row: &R) -> Result<(u64, u64), StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok((count(row, "sessions")?, count(row, "messages")?))
}
