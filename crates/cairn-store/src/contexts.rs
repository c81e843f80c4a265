//! The SQL of contexts and blobs for both databases: one SQL text each (`$n`
//! placeholders, see [`crate::sql_for`]; `CAST` rather than PostgreSQL's
//! `::`) and one row mapping. The writes here ([`Contexts::insert_blob`],
//! [`Contexts::delete`], [`Contexts::gc`]) run in a transaction the caller
//! begins and commits; puts go through the group-commit writers instead.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::marker::PhantomData;

use cairn_core::{CcrRef, ContentHash};
use cairn_types::{ContextKey, TenantId};
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row as _, Transaction,
    Type,
};

use crate::activity::{self, count as to_u64};
use crate::{
    BlobInfo, ContextRecord, ContextWrite, EncodedBlob, Encoding, GcReport, IndexedContext,
    ListFilter, Millis, NewBlob, PutOutcome, RenderedDefault, StoreActivity, StoreError,
    StoreStats, StoredRendering, StoredView,
};

const BLOB_COLUMNS: &str = "b.hash, b.bytes_original, b.bytes_stored, \
     b.content_type, b.tokens_original, b.tokens_compressed";

const CONTEXT_COLUMNS: &str = "c.key, c.version, c.agent, c.session, c.metadata, \
     c.created_at, c.expires_at";

/// `value` as the database stores it (saturating).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `($1, $2, …), (…), …`: `rows` rows of `columns` numbered placeholders,
/// for a multi-row `VALUES`.
fn placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}", row * columns + column + 1);
        }
        sql.push(')');
    }
    sql
}

/// How many rows a statement changed, whichever the database.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// The context and blob queries on `DB`, a type so that their bounds are
/// written once.
pub(crate) struct Contexts<DB>(PhantomData<DB>);

impl<DB: Database> Contexts<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    DB::QueryResult: RowsAffected,
{
    /// Stores `blob` (once) and `tenant`'s reference to it.
    pub(crate) async fn insert_blob(
        tx: &mut Transaction<'static, DB>,
        tenant: &TenantId,
        blob: &NewBlob,
        created_at: Millis,
    ) -> Result<(), StoreError> {
        let hash = blob.hash.to_hex();
        Self::insert_blob_rows(tx, &BTreeMap::from([(hash.clone(), (created_at, blob))])).await?;
        sqlx::query(&crate::sql_for::<DB>(
            "INSERT INTO tenant_blobs (tenant, hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, hash) DO NOTHING",
        ))
        .bind(tenant.as_str())
        .bind(hash.as_str())
        .bind(created_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Rows of `blobs` (by hex hash: the time stored and the blob) not stored
    /// yet, in one statement; a pending view is filled in where one is
    /// stored now ([`crate::views::BLOB_CONFLICT`]).
    async fn insert_blob_rows(
        tx: &mut Transaction<'static, DB>,
        blobs: &BTreeMap<String, (Millis, &NewBlob)>,
    ) -> Result<(), StoreError> {
        if blobs.is_empty() {
            return Ok(());
        }
        let sql = crate::sql_for::<DB>(&format!(
            "INSERT INTO blobs (hash, bytes_original, bytes_stored, encoding, content_type, \
             tokens_original, tokens_compressed, created_at, data, \
             view_engine, view_encoding, view_data, view_markers) VALUES {}{}",
            placeholders(blobs.len(), 13),
            crate::views::BLOB_CONFLICT
        ))
        .into_owned();
        let mut insert = sqlx::query(&sql);
        for (hash, (created_at, blob)) in blobs {
            let rendered = blob.view.rendered.as_ref();
            insert = insert
                .bind(hash.as_str())
                .bind(to_i64(blob.bytes_original))
                .bind(to_i64(blob.data.len() as u64))
                .bind(blob.encoding.as_str())
                .bind(blob.content_type.as_str())
                .bind(to_i64(blob.tokens_original))
                .bind(to_i64(blob.tokens_compressed))
                .bind(*created_at)
                .bind(blob.data.as_slice())
                .bind(i64::from(blob.view.engine))
                .bind(rendered.map(|view| view.encoding.as_str()))
                .bind(rendered.map(|view| view.data.as_slice()))
                .bind(rendered.map(|view| view.markers.as_str()));
        }
        insert.execute(&mut **tx).await?;
        Ok(())
    }

    /// The blobs and tenants' references of a batch of puts (each once, in
    /// hash order, so that two nodes' batches wait on each other rather than
    /// deadlock). Returns the references that are new: a put that made one
    /// is not deduplicated.
    pub(crate) async fn insert_batch_blobs(
        tx: &mut Transaction<'static, DB>,
        puts: &[&ContextWrite],
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let mut blobs: BTreeMap<String, (i64, &NewBlob)> = BTreeMap::new();
        for put in puts {
            if let Some(blob) = &put.blob {
                blobs
                    .entry(blob.hash.to_hex())
                    .or_insert((put.created_at, blob));
            }
        }
        Self::insert_blob_rows(tx, &blobs).await?;
        let mut references: BTreeMap<(&str, String), i64> = BTreeMap::new();
        for put in puts {
            references
                .entry((put.tenant.as_str(), put.hash.to_hex()))
                .or_insert(put.created_at);
        }
        let sql = crate::sql_for::<DB>(&format!(
            "INSERT INTO tenant_blobs (tenant, hash, created_at) VALUES {} \
             ON CONFLICT (tenant, hash) DO NOTHING RETURNING tenant, hash",
            placeholders(references.len(), 3)
        ))
        .into_owned();
        let mut insert = sqlx::query(&sql);
        for ((tenant, hash), created_at) in &references {
            insert = insert.bind(*tenant).bind(hash.as_str()).bind(*created_at);
        }
        let mut new_references = HashSet::new();
        for row in insert.fetch_all(&mut **tx).await? {
            new_references.insert((row.try_get("tenant")?, row.try_get("hash")?));
        }
        Ok(new_references)
    }

    /// The context rows of a batch of puts, each put with the version the
    /// backend numbered it: `versions[i]` is `puts[i]`'s. Returns the
    /// outcomes, in the same order.
    pub(crate) async fn insert_batch_versions(
        tx: &mut Transaction<'static, DB>,
        puts: &[&ContextWrite],
        versions: &[i64],
        mut new_references: HashSet<(String, String)>,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(puts.len());
        let mut rows = Vec::with_capacity(puts.len());
        for (put, &version) in puts.iter().zip(versions) {
            let hash = put.hash.to_hex();
            // Only the first put of a new reference is not deduplicated.
            let deduplicated = !new_references.remove(&(put.tenant.to_string(), hash.clone()));
            outcomes.push(PutOutcome {
                version,
                deduplicated,
            });
            rows.push((put, version, hash));
        }
        let sql = crate::sql_for::<DB>(&format!(
            "INSERT INTO contexts \
             (tenant, key, version, hash, agent, session, metadata, created_at, expires_at) \
             VALUES {}",
            placeholders(rows.len(), 9)
        ))
        .into_owned();
        let mut insert = sqlx::query(&sql);
        for (put, version, hash) in &rows {
            insert = insert
                .bind(put.tenant.as_str())
                .bind(put.key.as_str())
                .bind(*version)
                .bind(hash.as_str())
                .bind(put.agent.as_deref())
                .bind(put.session.as_deref())
                .bind(put.metadata.as_deref())
                .bind(put.created_at)
                .bind(put.expires_at);
        }
        insert.execute(&mut **tx).await?;
        Ok(outcomes)
    }

    /// Deletes every version of `key`, then the references and blobs it
    /// alone held. Returns the number of versions deleted.
    pub(crate) async fn delete(
        tx: &mut Transaction<'static, DB>,
        tenant: &str,
        key: &str,
    ) -> Result<u64, StoreError> {
        // In hash order, so that two nodes' deletes wait rather than deadlock.
        let hashes = sqlx::query(&crate::sql_for::<DB>(
            "SELECT DISTINCT hash FROM contexts WHERE tenant = $1 AND key = $2 ORDER BY hash",
        ))
        .bind(tenant)
        .bind(key)
        .fetch_all(&mut **tx)
        .await?;
        let deleted = sqlx::query(&crate::sql_for::<DB>(
            "DELETE FROM contexts WHERE tenant = $1 AND key = $2",
        ))
        .bind(tenant)
        .bind(key)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        for row in &hashes {
            let hash: String = row.try_get("hash")?;
            Self::release_if_unreferenced(tx, tenant, &hash).await?;
        }
        Ok(deleted)
    }

    /// Removes versions and retentions expired at `now`, then references
    /// and blobs nothing uses (see [`crate::Store::gc`]).
    pub(crate) async fn gc(
        tx: &mut Transaction<'static, DB>,
        now: Millis,
    ) -> Result<GcReport, StoreError> {
        // In order: a key whose latest version expired goes whole (its older
        // versions must not come back as its value); older versions that
        // expired on their own; retentions.
        let expiries = [
            "DELETE FROM contexts WHERE (tenant, key) IN ( \
                SELECT c.tenant, c.key FROM contexts c \
                WHERE c.expires_at IS NOT NULL AND c.expires_at <= $1 \
                AND c.version = (SELECT MAX(m.version) FROM contexts m \
                                 WHERE m.tenant = c.tenant AND m.key = c.key))",
            "DELETE FROM contexts WHERE expires_at IS NOT NULL AND expires_at <= $1",
            "DELETE FROM retained_blobs WHERE expires_at <= $1",
        ];
        let mut expired = [0; 3];
        for (count, sql) in expired.iter_mut().zip(expiries) {
            *count = sqlx::query(&crate::sql_for::<DB>(sql))
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        }
        let [expired_keys, expired_versions, expired_retentions] = expired;
        let mut report = GcReport {
            expired_versions: expired_keys + expired_versions,
            expired_retentions,
            ..GcReport::default()
        };
        // References no context holds any more: from expiry just now, or left
        // over by an interrupted delete. In order, as a delete takes them.
        let orphans = sqlx::query(
            "SELECT t.tenant, t.hash FROM tenant_blobs t WHERE NOT EXISTS \
             (SELECT 1 FROM contexts c WHERE c.tenant = t.tenant AND c.hash = t.hash) \
             AND NOT EXISTS \
             (SELECT 1 FROM retained_blobs r WHERE r.tenant = t.tenant AND r.hash = t.hash) \
             AND NOT EXISTS \
             (SELECT 1 FROM messages m WHERE m.tenant = t.tenant AND m.hash = t.hash) \
             ORDER BY t.tenant, t.hash",
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in &orphans {
            let tenant: String = row.try_get("tenant")?;
            let hash: String = row.try_get("hash")?;
            let (references, blobs, bytes) =
                Self::release_if_unreferenced(tx, &tenant, &hash).await?;
            report.released_references += references;
            report.deleted_blobs += blobs;
            report.bytes_freed += bytes;
        }
        let stray = sqlx::query(
            "DELETE FROM blobs WHERE NOT EXISTS \
             (SELECT 1 FROM tenant_blobs t WHERE t.hash = blobs.hash) RETURNING bytes_stored",
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in &stray {
            let bytes: i64 = row.try_get("bytes_stored")?;
            report.deleted_blobs += 1;
            report.bytes_freed += bytes.max(0).unsigned_abs();
        }
        Ok(report)
    }

    /// Drops `tenant`'s reference to `hash` if none of its contexts,
    /// retentions or messages use it, then the blob itself if no tenant
    /// references it. Returns (references, blobs, bytes) released.
    async fn release_if_unreferenced(
        tx: &mut Transaction<'static, DB>,
        tenant: &str,
        hash: &str,
    ) -> Result<(u64, u64, u64), StoreError> {
        let released = sqlx::query(&crate::sql_for::<DB>(
            "DELETE FROM tenant_blobs WHERE tenant = $1 AND hash = $2 \
             AND NOT EXISTS (SELECT 1 FROM contexts WHERE tenant = $1 AND hash = $2) \
             AND NOT EXISTS (SELECT 1 FROM retained_blobs WHERE tenant = $1 AND hash = $2) \
             AND NOT EXISTS (SELECT 1 FROM messages WHERE tenant = $1 AND hash = $2)",
        ))
        .bind(tenant)
        .bind(hash)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if released == 0 {
            return Ok((0, 0, 0));
        }
        let freed = sqlx::query(&crate::sql_for::<DB>(
            "DELETE FROM blobs WHERE hash = $1 \
             AND NOT EXISTS (SELECT 1 FROM tenant_blobs WHERE hash = $1) RETURNING bytes_stored",
        ))
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = freed else {
            return Ok((released, 0, 0));
        };
        let bytes: i64 = row.try_get("bytes_stored")?;
        Ok((released, 1, bytes.max(0).unsigned_abs()))
    }

    /// A version of a key (the latest when `version` is `None`).
    pub(crate) async fn get(
        pool: &Pool<DB>,
        tenant: &TenantId,
        key: &ContextKey,
        version: Option<i64>,
    ) -> Result<Option<ContextRecord>, StoreError> {
        let row = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM contexts c \
             JOIN blobs b ON b.hash = c.hash \
             WHERE c.tenant = $1 AND c.key = $2 \
             AND (CAST($3 AS BIGINT) IS NULL OR c.version = $3) \
             ORDER BY c.version DESC LIMIT 1"
        )))
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(version)
        .fetch_optional(pool)
        .await?;
        row.as_ref().map(Self::context_record).transpose()
    }

    pub(crate) async fn default_view(
        pool: &Pool<DB>,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<RenderedDefault>, StoreError> {
        let row = sqlx::query(&crate::sql_for::<DB>(
            "SELECT b.view_engine, b.view_encoding, b.view_data, b.view_markers, \
             b.tokens_compressed \
             FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash \
             WHERE t.tenant = $1 AND t.hash = $2",
        ))
        .bind(tenant.as_str())
        .bind(hash.to_hex())
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let engine: i64 = row.try_get("view_engine")?;
        let encoding: Option<String> = row.try_get("view_encoding")?;
        let rendered = match encoding {
            None => None,
            Some(encoding) => Some(StoredRendering {
                encoding: Encoding::parse(&encoding)?,
                data: row
                    .try_get::<Option<Vec<u8>>, _>("view_data")?
                    .unwrap_or_default(),
                markers: row
                    .try_get::<Option<String>, _>("view_markers")?
                    .unwrap_or_default(),
            }),
        };
        Ok(Some(RenderedDefault {
            hash: *hash,
            tokens_compressed: to_u64(&row, "tokens_compressed")?,
            view: StoredView {
                engine: u32::try_from(engine).unwrap_or(0),
                rendered,
            },
        }))
    }

    pub(crate) async fn blob_data(
        pool: &Pool<DB>,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<EncodedBlob>, StoreError> {
        let row = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {BLOB_COLUMNS}, b.encoding, b.data FROM tenant_blobs t \
             JOIN blobs b ON b.hash = t.hash WHERE t.tenant = $1 AND t.hash = $2"
        )))
        .bind(tenant.as_str())
        .bind(hash.to_hex())
        .fetch_optional(pool)
        .await?;
        row.as_ref().map(Self::encoded_blob).transpose()
    }

    pub(crate) async fn resolve_ref(
        pool: &Pool<DB>,
        tenant: &TenantId,
        reference: &CcrRef,
    ) -> Result<Option<BlobInfo>, StoreError> {
        // Hashes are fixed-length lowercase hex, so every hash a reference names
        // sorts between its prefix padded with 0s and with fs.
        let prefix = reference.hex();
        let low = format!("{prefix:0<64}");
        let high = format!("{prefix:f<64}");
        let rows = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {BLOB_COLUMNS} FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash \
             WHERE t.tenant = $1 AND t.hash BETWEEN $2 AND $3 ORDER BY t.hash LIMIT 2"
        )))
        .bind(tenant.as_str())
        .bind(low)
        .bind(high)
        .fetch_all(pool)
        .await?;
        if rows.len() > 1 {
            tracing::warn!(reference = %reference, "ccr reference names two blobs; serving the first");
        }
        rows.first().map(Self::blob_info).transpose()
    }

    /// Live keys in key order. Filters may be NULL (not set); the casts tell
    /// PostgreSQL their types.
    pub(crate) async fn list(
        pool: &Pool<DB>,
        tenant: &TenantId,
        filter: &ListFilter,
        now: Millis,
    ) -> Result<Vec<ContextRecord>, StoreError> {
        let rows = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM contexts c \
             JOIN blobs b ON b.hash = c.hash \
             WHERE c.tenant = $1 \
             AND c.version = (SELECT MAX(m.version) FROM contexts m \
                              WHERE m.tenant = c.tenant AND m.key = c.key) \
             AND (CAST($2 AS TEXT) IS NULL OR c.key > $2) \
             AND (CAST($3 AS TEXT) IS NULL \
                  OR (c.key >= $3 AND substr(c.key, 1, length($3)) = $3)) \
             AND (CAST($4 AS TEXT) IS NULL OR c.agent = $4) \
             AND (CAST($5 AS TEXT) IS NULL OR c.session = $5) \
             AND (c.expires_at IS NULL OR c.expires_at > $6) \
             AND (CAST($8 AS TEXT) IS NULL OR b.content_type = $8) \
             AND (CAST($9 AS BIGINT) IS NULL OR c.created_at >= $9) \
             ORDER BY c.key LIMIT $7"
        )))
        .bind(tenant.as_str())
        .bind(filter.after.as_deref())
        .bind(filter.prefix.as_deref())
        .bind(filter.agent.as_deref())
        .bind(filter.session.as_deref())
        .bind(now)
        .bind(i64::from(filter.limit))
        .bind(filter.content_type.as_deref())
        .bind(filter.since)
        .fetch_all(pool)
        .await?;
        rows.iter().map(Self::context_record).collect()
    }

    /// Sums are cast to BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC.
    pub(crate) async fn stats(
        pool: &Pool<DB>,
        tenant: &TenantId,
        now: Millis,
    ) -> Result<StoreStats, StoreError> {
        let live = sqlx::query(&crate::sql_for::<DB>(
            "SELECT COUNT(*) AS n FROM contexts c WHERE c.tenant = $1 \
             AND c.version = (SELECT MAX(m.version) FROM contexts m \
                              WHERE m.tenant = c.tenant AND m.key = c.key) \
             AND (c.expires_at IS NULL OR c.expires_at > $2)",
        ))
        .bind(tenant.as_str())
        .bind(now)
        .fetch_one(pool)
        .await?;
        let versions = sqlx::query(&crate::sql_for::<DB>(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(b.bytes_original), 0) AS BIGINT) AS bytes_original, \
             CAST(COALESCE(SUM(b.tokens_original), 0) AS BIGINT) AS tokens_original, \
             CAST(COALESCE(SUM(b.tokens_compressed), 0) AS BIGINT) AS tokens_compressed \
             FROM contexts c JOIN blobs b ON b.hash = c.hash WHERE c.tenant = $1",
        ))
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await?;
        let blobs = sqlx::query(&crate::sql_for::<DB>(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(b.bytes_original), 0) AS BIGINT) AS bytes_unique, \
             CAST(COALESCE(SUM(b.bytes_stored), 0) AS BIGINT) AS bytes_stored, \
             CAST(COALESCE(SUM(CASE WHEN b.view_engine = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             AS views_pending \
             FROM tenant_blobs t JOIN blobs b ON b.hash = t.hash WHERE t.tenant = $1",
        ))
        .bind(tenant.as_str())
        .fetch_one(pool)
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

    /// See [`crate::activity`].
    pub(crate) async fn activity(
        pool: &Pool<DB>,
        tenant: &TenantId,
        since: Millis,
    ) -> Result<StoreActivity, StoreError> {
        let contexts = sqlx::query(&crate::sql_for::<DB>(activity::CONTEXT_ACTIVITY_SQL))
            .bind(tenant.as_str())
            .bind(since)
            .fetch_all(pool)
            .await?;
        let sessions = sqlx::query(&crate::sql_for::<DB>(activity::SESSION_ACTIVITY_SQL))
            .bind(tenant.as_str())
            .bind(since)
            .fetch_all(pool)
            .await?;
        let totals = sqlx::query(&crate::sql_for::<DB>(activity::SESSION_TOTALS_SQL))
            .bind(tenant.as_str())
            .fetch_one(pool)
            .await?;
        let (sessions_total, messages_total) = activity::totals_row(&totals)?;
        Ok(StoreActivity {
            contexts: contexts
                .iter()
                .map(activity::context_row)
                .collect::<Result<_, _>>()?,
            sessions: sessions
                .iter()
                .map(activity::session_row)
                .collect::<Result<_, _>>()?,
            sessions_total,
            messages_total,
        })
    }

    /// Every tenant's context versions stored after feed row `seq`.
    pub(crate) async fn after(
        pool: &Pool<DB>,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<IndexedContext>, StoreError> {
        let rows = sqlx::query(&crate::sql_for::<DB>(&format!(
            "SELECT f.seq AS seq, c.tenant, {CONTEXT_COLUMNS}, {BLOB_COLUMNS} FROM context_feed f \
             JOIN contexts c ON c.tenant = f.tenant AND c.key = f.key AND c.version = f.version \
             JOIN blobs b ON b.hash = c.hash WHERE f.seq > $1 ORDER BY f.seq LIMIT $2"
        )))
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(IndexedContext {
                    seq: row.try_get("seq")?,
                    tenant: row.try_get("tenant")?,
                    record: Self::context_record(row)?,
                })
            })
            .collect()
    }

    /// The latest context feed number (0 when nothing was ever put).
    pub(crate) async fn last_seq(pool: &Pool<DB>) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS last FROM context_feed")
            .fetch_one(pool)
            .await?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(last.unwrap_or(0))
    }

    /// Blobs whose default view is pending (see [`crate::views::pending_sql`]).
    pub(crate) async fn pending_views(
        pool: &Pool<DB>,
        limit: u32,
        created_before: Millis,
    ) -> Result<Vec<EncodedBlob>, StoreError> {
        let sql = crate::sql_for::<DB>(&crate::views::pending_sql(BLOB_COLUMNS)).into_owned();
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .bind(created_before)
            .fetch_all(pool)
            .await?;
        rows.iter().map(Self::encoded_blob).collect()
    }

    /// A row of [`BLOB_COLUMNS`].
    fn blob_info(row: &DB::Row) -> Result<BlobInfo, StoreError> {
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
    fn encoded_blob(row: &DB::Row) -> Result<EncodedBlob, StoreError> {
        let encoding: String = row.try_get("encoding")?;
        Ok(EncodedBlob {
            info: Self::blob_info(row)?,
            encoding: Encoding::parse(&encoding)?,
            data: row.try_get("data")?,
        })
    }

    /// A row of [`CONTEXT_COLUMNS`] and [`BLOB_COLUMNS`].
    fn context_record(row: &DB::Row) -> Result<ContextRecord, StoreError> {
        Ok(ContextRecord {
            key: row.try_get("key")?,
            version: row.try_get("version")?,
            blob: Self::blob_info(row)?,
            agent: row.try_get("agent")?,
            session: row.try_get("session")?,
            metadata: row.try_get("metadata")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }
}
