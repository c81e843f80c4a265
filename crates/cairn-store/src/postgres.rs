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
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, PgConnection, Postgres, Row, Transaction};
use tokio::sync::watch;

use crate::embeddings::Embeddings;
use crate::sessions::Sessions;
use crate::{
    BlobInfo, ContextRecord, ContextWrite, EncodedBlob, Encoding, GcReport, ListFilter, Millis,
    PutOutcome, Store, StoreError, StoreStats,
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

const BLOB_COLUMNS: &str = "b.hash, b.bytes_original, b.bytes_stored, b.content_type, \
     b.tokens_original, b.tokens_compressed";

const CONTEXT_COLUMNS: &str = "c.key, c.version, c.agent, c.session, c.metadata, \
     c.created_at, c.expires_at";

fn to_u64(row: &PgRow, column: &str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative value {value} in column {column}")))
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn blob_info(row: &PgRow) -> Result<BlobInfo, StoreError> {
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
fn encoded_blob(row: &PgRow) -> Result<EncodedBlob, StoreError> {
    let encoding: String = row.try_get("encoding")?;
    Ok(EncodedBlob {
        info: blob_info(row)?,
        encoding: Encoding::parse(&encoding)?,
        data: row.try_get("data")?,
    })
}

fn context_record(row: &PgRow) -> Result<ContextRecord, StoreError> {
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
    tx: &mut Transaction<'static, Postgres>,
    tenant: &TenantId,
    blob: &crate::NewBlob,
    created_at: Millis,
) -> Result<(), StoreError> {
    let hash = blob.hash.to_hex();
    let rendered = blob.view.rendered.as_ref();
    sqlx::query(&format!(
        "INSERT INTO blobs (hash, bytes_original, bytes_stored, encoding, content_type, \
             tokens_original, tokens_compressed, created_at, data, \
             view_engine, view_encoding, view_data, view_markers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13){}",
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
    .bind(rendered.map(|view| view.encoding.as_str()))
    .bind(rendered.map(|view| view.data.as_slice()))
    .bind(rendered.map(|view| view.markers.as_str()))
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_blobs (tenant, hash, created_at) VALUES ($1, $2, $3) \
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
            insert_blob(&mut tx, tenant, blob, now).await?;
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
            insert_blob(&mut tx, tenant, blob, created_at).await?;
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
        let row = sqlx::query(&format!(
            "SELECT {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM contexts c \
             JOIN blobs b ON b.hash = c.hash \
             WHERE c.tenant = $1 AND c.key = $2 AND ($3::BIGINT IS NULL OR c.version = $3) \
             ORDER BY c.version DESC LIMIT 1"
        ))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
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
             WHERE t.tenant = $1 AND t.hash = $2",
        )
        .bind(tenant.as_str())
        .bind(hash.to_hex())
        .fetch_optional(&self.pool)
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
             JOIN blobs b ON b.hash = t.hash WHERE t.tenant = $1 AND t.hash = $2"
        ))
        .bind(tenant.as_str())
        .bind(hash.to_hex())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(encoded_blob).transpose()
    }

    async fn resolve_ref(
        &self,
        tenant: &TenantId,
        reference: &CcrRef,
    ) -> Result<Option<BlobInfo>, StoreError> {
        let prefix = reference.hex();
        let low = format!("{prefix:0<64}");
        let high = format!("{prefix:f<64}");
        let rows = sqlx::query(&format!(
            "SELECT {BLOB_COLUMNS} FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash \
             WHERE t.tenant = $1 AND t.hash BETWEEN $2 AND $3 ORDER BY t.hash LIMIT 2"
        ))
        .bind(tenant.as_str())
        .bind(low)
        .bind(high)
        .fetch_all(&self.pool)
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
             WHERE c.tenant = $1 \
             AND c.version = (SELECT MAX(m.version) FROM contexts m \
                              WHERE m.tenant = c.tenant AND m.key = c.key) \
             AND ($2::TEXT IS NULL OR c.key > $2) \
             AND ($3::TEXT IS NULL OR (c.key >= $3 AND substr(c.key, 1, length($3)) = $3)) \
             AND ($4::TEXT IS NULL OR c.agent = $4) \
             AND ($5::TEXT IS NULL OR c.session = $5) \
             AND (c.expires_at IS NULL OR c.expires_at > $6) \
             AND ($8::TEXT IS NULL OR b.content_type = $8) \
             AND ($9::BIGINT IS NULL OR c.created_at >= $9) \
             ORDER BY c.key LIMIT $7"
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
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(context_record).collect()
    }

    async fn delete_context(&self, tenant: &TenantId, key: &ContextKey) -> Result<u64, StoreError> {
        retrying(|| self.delete_once(tenant, key)).await
    }

    async fn stats(&self, tenant: &TenantId, now: Millis) -> Result<StoreStats, StoreError> {
        let live = sqlx::query(
            "SELECT COUNT(*) AS n FROM contexts c WHERE c.tenant = $1 \
             AND c.version = (SELECT MAX(m.version) FROM contexts m \
                              WHERE m.tenant = c.tenant AND m.key = c.key) \
             AND (c.expires_at IS NULL OR c.expires_at > $2)",
        )
        .bind(tenant.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let versions = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(b.bytes_original), 0)::BIGINT AS bytes_original, \
             COALESCE(SUM(b.tokens_original), 0)::BIGINT AS tokens_original, \
             COALESCE(SUM(b.tokens_compressed), 0)::BIGINT AS tokens_compressed \
             FROM contexts c JOIN blobs b ON b.hash = c.hash WHERE c.tenant = $1",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?;
        let blobs = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(b.bytes_original), 0)::BIGINT AS bytes_unique, \
             COALESCE(SUM(b.bytes_stored), 0)::BIGINT AS bytes_stored, \
             COALESCE(SUM(CASE WHEN b.view_engine = 0 THEN 1 ELSE 0 END), 0)::BIGINT AS views_pending \
             FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash WHERE t.tenant = $1",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
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
        let contexts = sqlx::query(crate::activity::CONTEXT_ACTIVITY_SQL)
            .bind(tenant.as_str())
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        let sessions = sqlx::query(crate::activity::SESSION_ACTIVITY_SQL)
            .bind(tenant.as_str())
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        let totals = sqlx::query(crate::activity::SESSION_TOTALS_SQL)
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
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
        let rows = sqlx::query(&format!(
            "SELECT f.seq AS seq, c.tenant, {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM context_feed f \
             JOIN contexts c ON c.tenant = f.tenant AND c.key = f.key AND c.version = f.version \
             JOIN blobs b ON b.hash = c.hash WHERE f.seq > $1 ORDER BY f.seq LIMIT $2"
        ))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        let rows = sqlx::query(&crate::views::pending_sql(BLOB_COLUMNS))
            .bind(i64::from(limit))
            .bind(created_before)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(encoded_blob).collect()
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
