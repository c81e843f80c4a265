//! The PostgreSQL backend: one database shared by any number of nodes.
//!
//! What changes from SQLite, and why:
//! - Version numbers are drawn in the database transaction, from the key's
//!   `key_versions` row (an upsert that adds to `last_version` and takes the
//!   row's lock), so concurrent puts from several nodes to one key get
//!   1, 2, 3… with no gap and no duplicate.
//! - Every transaction that appends to a feed (`context_feed`, `messages`)
//!   draws its sequence numbers under one transaction-scoped advisory lock,
//!   [`FEED_LOCK`], taken as its last step before commit. Numbers therefore
//!   become visible in order, and an indexer that has read up to N never
//!   misses a row numbered below N that was still to commit.
//! - The same transaction sends `NOTIFY cairn_feed`; every store listens
//!   ([`Store::changes`]) so the other nodes' indexers wake at once.
//! - Other nodes write the same keys: [`Store::shared`] is `true`, and the
//!   service does not trust a local cache of latest versions.
//!
//! Puts go through a writer task with group commit, as in SQLite: one
//! transaction per batch, so the feed lock is held once per batch.

use std::time::Duration;

use async_trait::async_trait;
use cairn_core::{CcrRef, ContentHash};
use cairn_types::{ContextKey, TenantId};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, Postgres, Transaction};
use tokio::sync::watch;

use crate::contexts::Contexts;
use crate::embeddings::Embeddings;
use crate::sessions::Sessions;
use crate::{
    BlobInfo, ContextRecord, ContextWrite, EncodedBlob, GcReport, ListFilter, Millis, PutOutcome,
    Store, StoreError, StoreStats,
};

mod writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The advisory lock under which feed sequence numbers are drawn ("cairn").
pub(crate) const FEED_LOCK: i64 = 0x6361_6972_6e00_0001;

/// The channel every write notifies and every store listens on.
pub const FEED_CHANNEL: &str = "cairn_feed";

/// How often a failed transaction (deadlock, serialization) is tried again.
const ATTEMPTS: u32 = 5;

/// How to open a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database`
    pub url: String,
    /// Connections in the pool.
    pub connections: u32,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            connections: 16,
        }
    }
}

/// The shared-database store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    writer: writer::Writer,
    changes: watch::Receiver<u64>,
    listener: std::sync::Arc<tokio::task::JoinHandle<()>>,
}

impl PostgresStore {
    /// Connects, runs pending migrations (several nodes starting at once
    /// take turns: sqlx holds an advisory lock while it migrates) and starts
    /// listening for other nodes' writes.
    pub async fn open(options: &PostgresOptions) -> Result<PostgresStore, StoreError> {
        let shown = redacted(&options.url);
        let open_error = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let connect: PgConnectOptions = options.url.parse().map_err(open_error)?;
        // Notices such as "relation _sqlx_migrations already exists, skipping"
        // at every start are noise.
        let connect = connect.options([("client_min_messages", "warning")]);
        // One connection first: its error says why (refused, bad password),
        // where the pool would only say it timed out.
        PgConnection::connect_with(&connect)
            .await
            .map_err(open_error)?
            .close()
            .await
            .map_err(open_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(open_error)?;
        listener.listen(FEED_CHANNEL).await.map_err(open_error)?;
        let (notify, changes) = watch::channel(0u64);
        let listener = tokio::spawn(listen(listener, notify));
        let writer = writer::Writer::spawn(pool.clone());
        Ok(PostgresStore {
            pool,
            writer,
            changes,
            listener: std::sync::Arc::new(listener),
        })
    }
}

/// The URL with its password hidden, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Bumps `notify` for every notification on the feed channel, and once
/// after the connection was lost and restored (what was sent meanwhile is
/// lost, so listeners must look).
async fn listen(mut listener: PgListener, notify: watch::Sender<u64>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {}
            // The connection dropped; the next call reconnects.
            Ok(None) => tracing::warn!("lost the database's change notifications; reconnecting"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for changes; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        notify.send_modify(|count| *count = count.wrapping_add(1));
        if notify.is_closed() {
            return;
        }
    }
}

/// Whether `error` is worth running its transaction again: a deadlock or a
/// serialization failure between nodes.
pub(crate) fn is_retryable(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Database(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("40P01" | "40001"))
    )
}

/// Runs `attempt` until it succeeds, fails for good, or [`ATTEMPTS`] ran out.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(error) if tries < ATTEMPTS && is_retryable(&error) => {
                tracing::debug!(%error, tries, "transaction conflict; trying again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}

/// Takes the feed lock (held to commit) and tells the listeners.
pub(crate) async fn lock_feed(tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_LOCK)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(FEED_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// For the group-commit writer.
pub(crate) use crate::contexts::to_i64;

/// Drops `tenant`'s reference to `hash` if none of its contexts use it, then
/// the blob itself if no tenant references it. Returns (references, blobs,
/// bytes) released.
async fn release_if_unreferenced(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    hash: &str,
) -> Result<(u64, u64, u64), StoreError> {
    let released = sqlx::query(
        "DELETE FROM tenant_blobs WHERE tenant = $1 AND hash = $2 \
         AND NOT EXISTS (SELECT 1 FROM contexts WHERE tenant = $1 AND hash = $2) \
         AND NOT EXISTS (SELECT 1 FROM retained_blobs WHERE tenant = $1 AND hash = $2) \
         AND NOT EXISTS (SELECT 1 FROM messages WHERE tenant = $1 AND hash = $2)",
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
        "DELETE FROM blobs WHERE hash = $1 \
         AND NOT EXISTS (SELECT 1 FROM tenant_blobs WHERE hash = $1) RETURNING bytes_stored",
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

impl PostgresStore {
    async fn import_once(
        &self,
        tenant: &TenantId,
        import: &crate::SessionImport,
        now: Millis,
    ) -> Result<crate::ImportOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        for blob in &import.blobs {
            Contexts::insert_blob(&mut tx, tenant, blob, now).await?;
        }
        let created = Sessions::upsert(&mut tx, tenant, import, now).await?;
        // Messages are numbered from here on: under the feed lock, so they
        // become visible in order. (Taken after the blobs and sessions, whose
        // rows other transactions may hold while they wait for it.)
        lock_feed(&mut tx).await?;
        let outcome = Sessions::merge(&mut tx, tenant, import, created).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_once(&self, tenant: &TenantId, key: &ContextKey) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Lock the key's counter first, as a put does: a delete and a put of
        // one key never interleave.
        sqlx::query("SELECT 1 FROM key_versions WHERE tenant = $1 AND key = $2 FOR UPDATE")
            .bind(tenant.as_str())
            .bind(key.as_str())
            .execute(&mut *tx)
            .await?;
        let mut hashes: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT hash FROM contexts WHERE tenant = $1 AND key = $2")
                .bind(tenant.as_str())
                .bind(key.as_str())
                .fetch_all(&mut *tx)
                .await?;
        hashes.sort();
        let deleted = sqlx::query("DELETE FROM contexts WHERE tenant = $1 AND key = $2")
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

    async fn gc_once(&self, now: Millis) -> Result<GcReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let expired_keys = sqlx::query(
            "DELETE FROM contexts WHERE (tenant, key) IN ( \
                SELECT c.tenant, c.key FROM contexts c \
                WHERE c.expires_at IS NOT NULL AND c.expires_at <= $1 \
                AND c.version = (SELECT MAX(m.version) FROM contexts m \
                                 WHERE m.tenant = c.tenant AND m.key = c.key))",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let expired_versions =
            sqlx::query("DELETE FROM contexts WHERE expires_at IS NOT NULL AND expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let expired_retentions = sqlx::query("DELETE FROM retained_blobs WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut report = GcReport {
            expired_versions: expired_keys + expired_versions,
            expired_retentions,
            ..GcReport::default()
        };
        let orphans: Vec<(String, String)> = sqlx::query_as(
            "SELECT t.tenant, t.hash FROM tenant_blobs t WHERE NOT EXISTS \
             (SELECT 1 FROM contexts c WHERE c.tenant = t.tenant AND c.hash = t.hash) \
             AND NOT EXISTS \
             (SELECT 1 FROM retained_blobs r WHERE r.tenant = t.tenant AND r.hash = t.hash) \
             AND NOT EXISTS \
             (SELECT 1 FROM messages m WHERE m.tenant = t.tenant AND m.hash = t.hash) \
             ORDER BY t.tenant, t.hash",
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
}

#[async_trait]
impl Store for PostgresStore {
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
        retrying(|| async {
            let mut tx = self.pool.begin().await?;
            Contexts::insert_blob(&mut tx, tenant, blob, created_at).await?;
            sqlx::query(
                "INSERT INTO retained_blobs (tenant, hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, hash) \
                 DO UPDATE SET expires_at = GREATEST(retained_blobs.expires_at, EXCLUDED.expires_at)",
            )
            .bind(tenant.as_str())
            .bind(&hash)
            .bind(created_at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn get_context(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        version: Option<i64>,
    ) -> Result<Option<ContextRecord>, StoreError> {
        Contexts::get(&self.pool, tenant, key, version).await
    }

    async fn default_view(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<crate::RenderedDefault>, StoreError> {
        Contexts::default_view(&self.pool, tenant, hash).await
    }

    async fn blob_data(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<EncodedBlob>, StoreError> {
        Contexts::blob_data(&self.pool, tenant, hash).await
    }

    async fn resolve_ref(
        &self,
        tenant: &TenantId,
        reference: &CcrRef,
    ) -> Result<Option<BlobInfo>, StoreError> {
        Contexts::resolve_ref(&self.pool, tenant, reference).await
    }

    async fn list_contexts(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        now: Millis,
    ) -> Result<Vec<ContextRecord>, StoreError> {
        Contexts::list(&self.pool, tenant, filter, now).await
    }

    async fn delete_context(&self, tenant: &TenantId, key: &ContextKey) -> Result<u64, StoreError> {
        retrying(|| self.delete_once(tenant, key)).await
    }

    async fn stats(&self, tenant: &TenantId, now: Millis) -> Result<StoreStats, StoreError> {
        Contexts::stats(&self.pool, tenant, now).await
    }

    async fn activity(
        &self,
        tenant: &TenantId,
        since: Millis,
    ) -> Result<crate::StoreActivity, StoreError> {
        Contexts::activity(&self.pool, tenant, since).await
    }

    async fn gc(&self, now: Millis) -> Result<GcReport, StoreError> {
        retrying(|| self.gc_once(now)).await
    }

    async fn import_sessions(
        &self,
        tenant: &TenantId,
        import: &crate::SessionImport,
        now: Millis,
    ) -> Result<crate::ImportOutcome, StoreError> {
        retrying(|| self.import_once(tenant, import, now)).await
    }

    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &crate::SessionFilter,
    ) -> Result<Vec<crate::SessionRecord>, StoreError> {
        Sessions::list(&self.pool, tenant, filter).await
    }

    async fn get_session(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<crate::SessionRecord>, StoreError> {
        Sessions::get(&self.pool, tenant, id).await
    }

    async fn find_thread(
        &self,
        tenant: &TenantId,
        agent: &str,
        thread_key: &str,
    ) -> Result<Vec<String>, StoreError> {
        Sessions::find_thread(&self.pool, tenant, agent, thread_key).await
    }

    async fn session_messages(
        &self,
        tenant: &TenantId,
        id: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<crate::MessageRecord>, StoreError> {
        Sessions::messages(&self.pool, tenant, id, from, limit).await
    }

    async fn messages_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<crate::IndexedMessage>, StoreError> {
        Sessions::after(&self.pool, seq, limit).await
    }

    async fn last_message_seq(&self) -> Result<i64, StoreError> {
        Sessions::last_seq(&self.pool).await
    }

    async fn contexts_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<crate::IndexedContext>, StoreError> {
        Contexts::after(&self.pool, seq, limit).await
    }

    async fn last_context_seq(&self) -> Result<i64, StoreError> {
        Contexts::last_seq(&self.pool).await
    }

    async fn put_embeddings(
        &self,
        model: &str,
        embeddings: &[crate::Embedding],
        progress: crate::EmbeddingProgress,
    ) -> Result<(), StoreError> {
        Embeddings::put(self.pool.begin().await?, model, embeddings, progress).await
    }

    async fn embedding_progress(
        &self,
        model: &str,
    ) -> Result<Option<crate::EmbeddingProgress>, StoreError> {
        Embeddings::progress(&self.pool, model).await
    }

    async fn embeddings(
        &self,
        model: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<crate::Embedding>, StoreError> {
        Embeddings::page(&self.pool, model, after, limit).await
    }

    async fn store_views(&self, views: &[crate::RenderedDefault]) -> Result<(), StoreError> {
        if views.is_empty() {
            return Ok(());
        }
        retrying(|| async {
            let mut tx = self.pool.begin().await?;
            for view in views {
                crate::views::bind_view(sqlx::query(crate::views::STORE_VIEW_SQL), view)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn pending_views(
        &self,
        limit: u32,
        created_before: Millis,
    ) -> Result<Vec<EncodedBlob>, StoreError> {
        Contexts::pending_views(&self.pool, limit, created_before).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.listener.abort();
        self.pool.close().await;
    }

    fn shared(&self) -> bool {
        true
    }

    fn changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("postgres://cairn:s3cret@db:5432/cairn"),
            "postgres://cairn:***@db:5432/cairn"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1/cairn"),
            "postgres://postgres@127.0.0.1/cairn"
        );
    }
}
