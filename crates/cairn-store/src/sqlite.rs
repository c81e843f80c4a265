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
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::contexts::Contexts;
use crate::embeddings::Embeddings;
use crate::sessions::Sessions;
use crate::{
    BlobInfo, ContextRecord, ContextWrite, EncodedBlob, GcReport, ListFilter, Millis, PutOutcome,
    Store, StoreError, StoreStats,
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

/// For the group-commit writer.
pub(crate) use crate::contexts::to_i64;

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
        Contexts::insert_blob(&mut tx, tenant, blob, created_at).await?;
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
        Contexts::get(&self.readers, tenant, key, version).await
    }

    async fn default_view(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<crate::RenderedDefault>, StoreError> {
        Contexts::default_view(&self.readers, tenant, hash).await
    }

    async fn blob_data(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<EncodedBlob>, StoreError> {
        Contexts::blob_data(&self.readers, tenant, hash).await
    }

    async fn resolve_ref(
        &self,
        tenant: &TenantId,
        reference: &CcrRef,
    ) -> Result<Option<BlobInfo>, StoreError> {
        Contexts::resolve_ref(&self.readers, tenant, reference).await
    }

    async fn list_contexts(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        now: Millis,
    ) -> Result<Vec<ContextRecord>, StoreError> {
        Contexts::list(&self.readers, tenant, filter, now).await
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
        Contexts::stats(&self.readers, tenant, now).await
    }

    async fn activity(
        &self,
        tenant: &TenantId,
        since: Millis,
    ) -> Result<crate::StoreActivity, StoreError> {
        Contexts::activity(&self.readers, tenant, since).await
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
            Contexts::insert_blob(&mut tx, tenant, blob, now).await?;
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
        Contexts::after(&self.readers, seq, limit).await
    }

    async fn last_context_seq(&self) -> Result<i64, StoreError> {
        Contexts::last_seq(&self.readers).await
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
        Contexts::pending_views(&self.readers, limit, created_before).await
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
