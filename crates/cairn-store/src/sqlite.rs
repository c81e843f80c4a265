//! The SQLite backend: one file in WAL mode, a single writer connection (SQLite
//! serialises writers anyway; one connection avoids busy retries) and a small
//! pool of readers.
//!
//! Durability: `synchronous = NORMAL` in WAL mode survives a process crash
//! (`kill -9`) with every committed transaction; `FULL` also survives power
//! loss, at the price of an fsync per commit.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use cairn_core::{CcrRef, ContentHash};
use cairn_types::{ContextKey, TenantId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use crate::embeddings::Embeddings;
use crate::sessions::Sessions;
use crate::{
    BlobInfo, ContextRecord, ContextWrite, EncodedBlob, Encoding, GcReport, ListFilter, Millis,
    PutOutcome, Store, StoreError, StoreStats,
};

mod writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; created if missing.
    pub path: PathBuf,
    /// `true`: fsync every commit (survives power loss). `false`: survive
    /// process crashes only, which is what `kill -9` needs.
    pub sync_full: bool,
    /// Connections in the read pool.
    pub readers: u32,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> SqliteOptions {
        SqliteOptions {
            path: path.into(),
            sync_full: false,
            readers: 4,
        }
    }
}

/// The embedded default store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The single writer connection: puts reach it through `writer`, delete
    /// and gc directly (they are rare and serialise with the batches).
    write_pool: SqlitePool,
    readers: SqlitePool,
    writer: writer::Writer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and runs pending migrations.
    pub async fn open(options: &SqliteOptions) -> Result<SqliteStore, StoreError> {
        let open_error = |source| StoreError::Open {
            path: options.path.display().to_string(),
            source,
        };
        let connect = connect_options(&options.path, options.sync_full).map_err(open_error)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.clone())
            .await
            .map_err(classify_open_error(&options.path))?;
        MIGRATOR.run(&writer).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(source) => {
                classify_open_error(&options.path)(source)
            }
            other => StoreError::Migrate(other),
        })?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect.read_only(true))
            .await
            .map_err(open_error)?;
        let writer_task = writer::Writer::spawn(writer.clone());
        Ok(SqliteStore {
            write_pool: writer,
            readers,
            writer: writer_task,
        })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        begin_write(&self.write_pool).await
    }
}

/// Starts a write transaction. IMMEDIATE takes the write lock up front, so a
/// transaction that reads before it writes never fails to upgrade when another
/// process (such as `cairn gc`) holds the lock; the busy timeout waits instead.
///
/// When a write fails with a full disk or an I/O error, SQLite rolls the
/// transaction back by itself; sqlx's own rollback then fails and leaves the
/// connection counting a transaction that is gone, so every later `BEGIN` is
/// refused. Such a connection is closed and replaced here, so the writer
/// recovers once there is room again.
pub(crate) async fn begin_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    match pool.begin_with("BEGIN IMMEDIATE").await {
        Err(sqlx::Error::InvalidSavePointStatement) => {
            tracing::warn!("replacing the write connection after a failed rollback");
            pool.acquire().await?.close().await?;
            Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
        }
        begun => Ok(begun?),
    }
}

fn connect_options(path: &Path, sync_full: bool) -> Result<SqliteConnectOptions, sqlx::Error> {
    let url = format!("sqlite://{}", path.display());
    Ok(SqliteConnectOptions::from_str(&url)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if sync_full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // 2 MiB of page cache per connection: the OS page cache is behind it,
        // and five connections at the 16 MiB some guides suggest cost 80 MiB
        // of RSS (SPEC §8 allows the whole server 200 MB).
        .pragma("cache_size", "-2000"))
}

/// A file that exists but is not a database (truncated, overwritten) gets a
/// clear "corrupt" error rather than a generic one.
fn classify_open_error(path: &Path) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |source| match StoreError::from(source) {
        StoreError::Database(source) => StoreError::Open {
            path: path.display().to_string(),
            source,
        },
        StoreError::Corrupt(message) => {
            StoreError::Corrupt(format!("{}: {message}", path.display()))
        }
        other => other,
    }
}

const BLOB_COLUMNS: &str = "b.hash, b.bytes_original, b.bytes_stored, b.content_type, \
     b.tokens_original, b.tokens_compressed";

const CONTEXT_COLUMNS: &str = "c.key, c.version, c.agent, c.session, c.metadata, \
     c.created_at, c.expires_at";

fn to_u64(row: &SqliteRow, column: &str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative value {value} in column {column}")))
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn blob_info(row: &SqliteRow) -> Result<BlobInfo, StoreError> {
    let hash: String = row.try_get("hash")?;
    Ok(BlobInfo {
        hash: ContentHash::from_hex(&hash)
            .map_err(|_| StoreError::Corrupt(format!("bad hash {hash:?} in blobs")))?,
        bytes_original: to_u64(row, "bytes_original")?,
        bytes_stored: to_u64(row, "bytes_stored")?,
        content_type: row.try_get("content_type")?,
        tokens_original: to_u64(row, "tokens_original")?,
        tokens_compressed: to_u64(row, "tokens_compressed")?,
    })
}

/// A row of blob columns with `encoding` and `data`.
fn encoded_blob(row: &SqliteRow) -> Result<EncodedBlob, StoreError> {
    let encoding: String = row.try_get("encoding")?;
    Ok(EncodedBlob {
        info: blob_info(row)?,
        encoding: Encoding::parse(&encoding)?,
        data: row.try_get("data")?,
    })
}

fn context_record(row: &SqliteRow) -> Result<ContextRecord, StoreError> {
    Ok(ContextRecord {
        key: row.try_get("key")?,
        version: row.try_get("version")?,
        blob: blob_info(row)?,
        agent: row.try_get("agent")?,
        session: row.try_get("session")?,
        metadata: row.try_get("metadata")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Stores `blob` (once) and `tenant`'s reference to it.
pub(crate) async fn insert_blob(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: &TenantId,
    blob: &crate::NewBlob,
    created_at: Millis,
) -> Result<(), StoreError> {
    let hash = blob.hash.to_hex();
    sqlx::query(&format!(
        "INSERT INTO blobs (hash, bytes_original, bytes_stored, encoding, content_type, \
             tokens_original, tokens_compressed, created_at, data, \
             view_engine, view_encoding, view_data, view_markers) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13){}",
        crate::views::BLOB_CONFLICT
    ))
    .bind(&hash)
    .bind(to_i64(blob.bytes_original))
    .bind(to_i64(blob.data.len() as u64))
    .bind(blob.encoding.as_str())
    .bind(&blob.content_type)
    .bind(to_i64(blob.tokens_original))
    .bind(to_i64(blob.tokens_compressed))
    .bind(created_at)
    .bind(blob.data.as_slice())
    .bind(i64::from(blob.view.engine))
    .bind(
        blob.view
            .rendered
            .as_ref()
            .map(|view| view.encoding.as_str()),
    )
    .bind(blob.view.rendered.as_ref().map(|view| view.data.as_slice()))
    .bind(
        blob.view
            .rendered
            .as_ref()
            .map(|view| view.markers.as_str()),
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_blobs (tenant, hash, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (tenant, hash) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(&hash)
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops `tenant`'s reference to `hash` if none of its contexts use it, then
/// the blob itself if no tenant references it. Returns (references, blobs,
/// bytes) released.
async fn release_if_unreferenced(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: &str,
    hash: &str,
) -> Result<(u64, u64, u64), StoreError> {
    let released = sqlx::query(
        "DELETE FROM tenant_blobs WHERE tenant = ?1 AND hash = ?2 \
         AND NOT EXISTS (SELECT 1 FROM contexts WHERE tenant = ?1 AND hash = ?2) \
         AND NOT EXISTS (SELECT 1 FROM retained_blobs WHERE tenant = ?1 AND hash = ?2) \
         AND NOT EXISTS (SELECT 1 FROM messages WHERE tenant = ?1 AND hash = ?2)",
    )
    .bind(tenant)
    .bind(hash)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if released == 0 {
        return Ok((0, 0, 0));
    }
    let freed: Option<i64> = sqlx::query_scalar(
        "DELETE FROM blobs WHERE hash = ?1 \
         AND NOT EXISTS (SELECT 1 FROM tenant_blobs WHERE hash = ?1) RETURNING bytes_stored",
    )
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await?;
    Ok((
        released,
        u64::from(freed.is_some()),
        freed.map_or(0, |b| b.max(0) as u64),
    ))
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_context(&self, put: ContextWrite) -> Result<PutOutcome, StoreError> {
        self.writer.put(put).await
    }

    async fn retain_blob(
        &self,
        tenant: &TenantId,
        blob: &crate::NewBlob,
        created_at: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let hash = blob.hash.to_hex();
        let mut tx = self.begin_write().await?;
        insert_blob(&mut tx, tenant, blob, created_at).await?;
        sqlx::query(
            "INSERT INTO retained_blobs (tenant, hash, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant, hash) \
             DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
        )
        .bind(tenant.as_str())
        .bind(&hash)
        .bind(created_at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_context(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        version: Option<i64>,
    ) -> Result<Option<ContextRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM contexts c \
             JOIN blobs b ON b.hash = c.hash \
             WHERE c.tenant = ?1 AND c.key = ?2 AND (?3 IS NULL OR c.version = ?3) \
             ORDER BY c.version DESC LIMIT 1"
        ))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(version)
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(context_record).transpose()
    }

    async fn default_view(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<crate::RenderedDefault>, StoreError> {
        let row = sqlx::query(
            "SELECT b.view_engine, b.view_encoding, b.view_data, b.view_markers, \
             b.tokens_compressed \
             FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash \
             WHERE t.tenant = ?1 AND t.hash = ?2",
        )
        .bind(tenant.as_str())
        .bind(hash.to_hex())
        .fetch_optional(&self.readers)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let engine: i64 = row.try_get("view_engine")?;
        let encoding: Option<String> = row.try_get("view_encoding")?;
        let rendered = match encoding {
            None => None,
            Some(encoding) => Some(crate::StoredRendering {
                encoding: Encoding::parse(&encoding)?,
                data: row
                    .try_get::<Option<Vec<u8>>, _>("view_data")?
                    .unwrap_or_default(),
                markers: row
                    .try_get::<Option<String>, _>("view_markers")?
                    .unwrap_or_default(),
            }),
        };
        Ok(Some(crate::RenderedDefault {
            hash: *hash,
            tokens_compressed: to_u64(&row, "tokens_compressed")?,
            view: crate::StoredView {
                engine: u32::try_from(engine).unwrap_or(0),
                rendered,
            },
        }))
    }

    async fn blob_data(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<EncodedBlob>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {BLOB_COLUMNS}, b.encoding, b.data FROM tenant_blobs t \
             JOIN blobs b ON b.hash = t.hash WHERE t.tenant = ?1 AND t.hash = ?2"
        ))
        .bind(tenant.as_str())
        .bind(hash.to_hex())
        .fetch_optional(&self.readers)
        .await?;
        row.as_ref().map(encoded_blob).transpose()
    }

    async fn resolve_ref(
        &self,
        tenant: &TenantId,
        reference: &CcrRef,
    ) -> Result<Option<BlobInfo>, StoreError> {
        // Hashes are fixed-length lowercase hex, so every hash a reference names
        // sorts between its prefix padded with 0s and with fs.
        let prefix = reference.hex();
        let low = format!("{prefix:0<64}");
        let high = format!("{prefix:f<64}");
        let rows = sqlx::query(&format!(
            "SELECT {BLOB_COLUMNS} FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash \
             WHERE t.tenant = ?1 AND t.hash BETWEEN ?2 AND ?3 ORDER BY t.hash LIMIT 2"
        ))
        .bind(tenant.as_str())
        .bind(low)
        .bind(high)
        .fetch_all(&self.readers)
        .await?;
        if rows.len() > 1 {
            tracing::warn!(reference = %reference, "ccr reference names two blobs; serving the first");
        }
        rows.first().map(blob_info).transpose()
    }

    async fn list_contexts(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        now: Millis,
    ) -> Result<Vec<ContextRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM contexts c \
             JOIN blobs b ON b.hash = c.hash \
             WHERE c.tenant = ?1 \
             AND c.version = (SELECT MAX(m.version) FROM contexts m \
                              WHERE m.tenant = c.tenant AND m.key = c.key) \
             AND (?2 IS NULL OR c.key > ?2) \
             AND (?3 IS NULL OR (c.key >= ?3 AND substr(c.key, 1, length(?3)) = ?3)) \
             AND (?4 IS NULL OR c.agent = ?4) \
             AND (?5 IS NULL OR c.session = ?5) \
             AND (c.expires_at IS NULL OR c.expires_at > ?6) \
             AND (?8 IS NULL OR b.content_type = ?8) \
             AND (?9 IS NULL OR c.created_at >= ?9) \
             ORDER BY c.key LIMIT ?7"
        ))
        .bind(tenant.as_str())
        .bind(filter.after.as_deref())
        .bind(filter.prefix.as_deref())
        .bind(filter.agent.as_deref())
        .bind(filter.session.as_deref())
        .bind(now)
        .bind(i64::from(filter.limit))
        .bind(filter.content_type.as_deref())
        .bind(filter.since)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(context_record).collect()
    }

    async fn delete_context(&self, tenant: &TenantId, key: &ContextKey) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let hashes: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT hash FROM contexts WHERE tenant = ?1 AND key = ?2")
                .bind(tenant.as_str())
                .bind(key.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let deleted = sqlx::query("DELETE FROM contexts WHERE tenant = ?1 AND key = ?2")
            .bind(tenant.as_str())
            .bind(key.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for hash in &hashes {
            release_if_unreferenced(&mut tx, tenant.as_str(), hash).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn stats(&self, tenant: &TenantId, now: Millis) -> Result<StoreStats, StoreError> {
        let live = sqlx::query(
            "SELECT COUNT(*) AS n FROM contexts c WHERE c.tenant = ?1 \
             AND c.version = (SELECT MAX(m.version) FROM contexts m \
                              WHERE m.tenant = c.tenant AND m.key = c.key) \
             AND (c.expires_at IS NULL OR c.expires_at > ?2)",
        )
        .bind(tenant.as_str())
        .bind(now)
        .fetch_one(&self.readers)
        .await?;
        let versions = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(b.bytes_original), 0) AS bytes_original, \
             COALESCE(SUM(b.tokens_original), 0) AS tokens_original, \
             COALESCE(SUM(b.tokens_compressed), 0) AS tokens_compressed \
             FROM contexts c JOIN blobs b ON b.hash = c.hash WHERE c.tenant = ?1",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.readers)
        .await?;
        let blobs = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(b.bytes_original), 0) AS bytes_unique, \
             COALESCE(SUM(b.bytes_stored), 0) AS bytes_stored, \
             COALESCE(SUM(CASE WHEN b.view_engine = 0 THEN 1 ELSE 0 END), 0) AS views_pending \
             FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash WHERE t.tenant = ?1",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.readers)
        .await?;
        Ok(StoreStats {
            contexts: to_u64(&live, "n")?,
            versions: to_u64(&versions, "n")?,
            bytes_original: to_u64(&versions, "bytes_original")?,
            tokens_original: to_u64(&versions, "tokens_original")?,
            tokens_compressed: to_u64(&versions, "tokens_compressed")?,
            blobs: to_u64(&blobs, "n")?,
            bytes_unique: to_u64(&blobs, "bytes_unique")?,
            bytes_stored: to_u64(&blobs, "bytes_stored")?,
            views_pending: to_u64(&blobs, "views_pending")?,
        })
    }

    async fn activity(
        &self,
        tenant: &TenantId,
        since: Millis,
    ) -> Result<crate::StoreActivity, StoreError> {
        let contexts = sqlx::query(&crate::sql_for::<Sqlite>(
            crate::activity::CONTEXT_ACTIVITY_SQL,
        ))
        .bind(tenant.as_str())
        .bind(since)
        .fetch_all(&self.readers)
        .await?;
        let sessions = sqlx::query(&crate::sql_for::<Sqlite>(
            crate::activity::SESSION_ACTIVITY_SQL,
        ))
        .bind(tenant.as_str())
        .bind(since)
        .fetch_all(&self.readers)
        .await?;
        let totals = sqlx::query(&crate::sql_for::<Sqlite>(
            crate::activity::SESSION_TOTALS_SQL,
        ))
        .bind(tenant.as_str())
        .fetch_one(&self.readers)
        .await?;
        let (sessions_total, messages_total) = crate::activity::totals_row(&totals)?;
        Ok(crate::StoreActivity {
            contexts: contexts
                .iter()
                .map(crate::activity::context_row)
                .collect::<Result<_, _>>()?,
            sessions: sessions
                .iter()
                .map(crate::activity::session_row)
                .collect::<Result<_, _>>()?,
            sessions_total,
            messages_total,
        })
    }

    async fn gc(&self, now: Millis) -> Result<GcReport, StoreError> {
        let mut tx = self.begin_write().await?;
        // A key whose latest version expired goes whole: its older versions
        // must not come back as its value.
        let expired_keys = sqlx::query(
            "DELETE FROM contexts WHERE (tenant, key) IN ( \
                SELECT c.tenant, c.key FROM contexts c \
                WHERE c.expires_at IS NOT NULL AND c.expires_at <= ?1 \
                AND c.version = (SELECT MAX(m.version) FROM contexts m \
                                 WHERE m.tenant = c.tenant AND m.key = c.key))",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Older versions that expired on their own.
        let expired_versions =
            sqlx::query("DELETE FROM contexts WHERE expires_at IS NOT NULL AND expires_at <= ?1")
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let expired_retentions = sqlx::query("DELETE FROM retained_blobs WHERE expires_at <= ?1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut report = GcReport {
            expired_versions: expired_keys + expired_versions,
            expired_retentions,
            ..GcReport::default()
        };
        // References no context holds any more: from expiry just now, or left
        // over by an interrupted delete.
        let orphans: Vec<(String, String)> = sqlx::query_as(
            "SELECT t.tenant, t.hash FROM tenant_blobs t WHERE NOT EXISTS \
             (SELECT 1 FROM contexts c WHERE c.tenant = t.tenant AND c.hash = t.hash) \
             AND NOT EXISTS \
             (SELECT 1 FROM retained_blobs r WHERE r.tenant = t.tenant AND r.hash = t.hash) \
             AND NOT EXISTS \
             (SELECT 1 FROM messages m WHERE m.tenant = t.tenant AND m.hash = t.hash)",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (tenant, hash) in &orphans {
            let (references, blobs, bytes) = release_if_unreferenced(&mut tx, tenant, hash).await?;
            report.released_references += references;
            report.deleted_blobs += blobs;
            report.bytes_freed += bytes;
        }
        let stray: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM blobs WHERE NOT EXISTS \
             (SELECT 1 FROM tenant_blobs t WHERE t.hash = blobs.hash) RETURNING bytes_stored",
        )
        .fetch_all(&mut *tx)
        .await?;
        report.deleted_blobs += stray.len() as u64;
        report.bytes_freed += stray.iter().map(|b| b.max(&0).unsigned_abs()).sum::<u64>();
        tx.commit().await?;
        Ok(report)
    }

    async fn import_sessions(
        &self,
        tenant: &TenantId,
        import: &crate::SessionImport,
        now: Millis,
    ) -> Result<crate::ImportOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        for blob in &import.blobs {
            insert_blob(&mut tx, tenant, blob, now).await?;
        }
        let created = Sessions::upsert(&mut tx, tenant, import, now).await?;
        let outcome = Sessions::merge(&mut tx, tenant, import, created).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &crate::SessionFilter,
    ) -> Result<Vec<crate::SessionRecord>, StoreError> {
        Sessions::list(&self.readers, tenant, filter).await
    }

    async fn get_session(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<crate::SessionRecord>, StoreError> {
        Sessions::get(&self.readers, tenant, id).await
    }

    async fn find_thread(
        &self,
        tenant: &TenantId,
        agent: &str,
        thread_key: &str,
    ) -> Result<Vec<String>, StoreError> {
        Sessions::find_thread(&self.readers, tenant, agent, thread_key).await
    }

    async fn session_messages(
        &self,
        tenant: &TenantId,
        id: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<crate::MessageRecord>, StoreError> {
        Sessions::messages(&self.readers, tenant, id, from, limit).await
    }

    async fn messages_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<crate::IndexedMessage>, StoreError> {
        Sessions::after(&self.readers, seq, limit).await
    }

    async fn last_message_seq(&self) -> Result<i64, StoreError> {
        Sessions::last_seq(&self.readers).await
    }

    async fn contexts_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<crate::IndexedContext>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT f.seq AS seq, c.tenant, {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM context_feed f \
             JOIN contexts c ON c.tenant = f.tenant AND c.key = f.key AND c.version = f.version \
             JOIN blobs b ON b.hash = c.hash WHERE f.seq > ?1 ORDER BY f.seq LIMIT ?2"
        ))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::IndexedContext {
                    seq: row.try_get("seq")?,
                    tenant: row.try_get("tenant")?,
                    record: context_record(row)?,
                })
            })
            .collect()
    }

    async fn put_embeddings(
        &self,
        model: &str,
        embeddings: &[crate::Embedding],
        progress: crate::EmbeddingProgress,
    ) -> Result<(), StoreError> {
        Embeddings::put(self.begin_write().await?, model, embeddings, progress).await
    }

    async fn embedding_progress(
        &self,
        model: &str,
    ) -> Result<Option<crate::EmbeddingProgress>, StoreError> {
        Embeddings::progress(&self.readers, model).await
    }

    async fn embeddings(
        &self,
        model: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<crate::Embedding>, StoreError> {
        Embeddings::page(&self.readers, model, after, limit).await
    }

    async fn store_views(&self, views: &[crate::RenderedDefault]) -> Result<(), StoreError> {
        if views.is_empty() {
            return Ok(());
        }
        let sql = crate::sql_for::<Sqlite>(crate::views::STORE_VIEW_SQL);
        let mut tx = self.begin_write().await?;
        for view in views {
            crate::views::bind_view(sqlx::query(&sql), view)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_views(
        &self,
        limit: u32,
        created_before: Millis,
    ) -> Result<Vec<EncodedBlob>, StoreError> {
        let sql = crate::sql_for::<Sqlite>(&crate::views::pending_sql(BLOB_COLUMNS)).into_owned();
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .bind(created_before)
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(encoded_blob).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        self.write_pool.close().await;
    }
}
