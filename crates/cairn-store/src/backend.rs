//! What the two databases share above their SQL text: the one implementation
//! of [`Store`](crate::Store), written once over [`Backend`], the contract
//! each database fills in with what truly differs in kind (which pool reads,
//! how a write transaction begins, the PostgreSQL feed and key locks, retries
//! between nodes, notifications).
//!
//! The implementation is a macro, [`store_impl!`], instantiated for each
//! backend, rather than a generic `impl<B: Backend> Store for B`: `Store`'s
//! futures must be `Send`, and over a generic sqlx database that is a proof
//! the compiler would need spelled out for every query (executor, arguments
//! and row bounds for each lifetime). Instantiated for a concrete database,
//! each method is ordinary code, and the shared queries in `contexts.rs`,
//! `sessions.rs` and `embeddings.rs` stay generic.

use std::future::Future;
use std::time::Duration;

use sqlx::{Database, Pool, Transaction};
use tokio::sync::watch;

use crate::StoreError;

/// What a database backend supplies to the shared [`Store`](crate::Store)
/// implementation.
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: Database;

    /// How many times a write transaction is tried: PostgreSQL runs
    /// transactions of several nodes side by side, and one may lose a
    /// deadlock or a serialization conflict; SQLite's single writer never
    /// does.
    const ATTEMPTS: u32;

    /// Where reads go.
    fn readers(&self) -> &Pool<Self::Db>;

    /// The group-commit writer that puts go through.
    fn writer(&self) -> &crate::writer::Writer;

    /// Begins a write transaction.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, StoreError>> + Send;

    /// Taken by a transaction as its last step before it appends to a feed
    /// (sessions' messages), so that feed numbers become visible in order.
    fn lock_feed(
        tx: &mut Transaction<'static, Self::Db>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Taken by a delete before it reads a key's versions, so that a delete
    /// and a put of one key never interleave.
    fn lock_key(
        tx: &mut Transaction<'static, Self::Db>,
        tenant: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Flushes the writer and closes the connections.
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// See [`Store::shared`](crate::Store::shared).
    fn shared(&self) -> bool;

    /// See [`Store::changes`](crate::Store::changes).
    fn changes(&self) -> Option<watch::Receiver<u64>>;
}

/// Whether `error` is worth running its transaction again: a deadlock or a
/// serialization failure between nodes (PostgreSQL's codes; SQLite reports
/// neither).
pub(crate) fn is_retryable(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Database(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("40P01" | "40001"))
    )
}

/// Runs `attempt` until it succeeds, fails for good, or `attempts` ran out.
pub(crate) async fn retrying<T, F, Fut>(attempts: u32, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(error) if tries < attempts && is_retryable(&error) => {
                tracing::debug!(%error, tries, "transaction conflict; trying again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}

/// Implements [`Store`](crate::Store) for a [`Backend`] whose database is
/// `$db`.
macro_rules! store_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn put_context(
                &self,
                put: $crate::ContextWrite,
            ) -> Result<$crate::PutOutcome, $crate::StoreError> {
                $crate::backend::Backend::writer(self).put(put).await
            }

            async fn retain_blob(
                &self,
                tenant: &cairn_types::TenantId,
                blob: &$crate::NewBlob,
                created_at: $crate::Millis,
                expires_at: $crate::Millis,
            ) -> Result<(), $crate::StoreError> {
                let hash = blob.hash.to_hex();
                let sql = $crate::sql_for::<$db>(
                    "INSERT INTO retained_blobs (tenant, hash, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, hash) \
                     DO UPDATE SET expires_at = CASE \
                     WHEN EXCLUDED.expires_at > retained_blobs.expires_at \
                     THEN EXCLUDED.expires_at ELSE retained_blobs.expires_at END",
                );
                $crate::backend::retrying(
                    <$store as $crate::backend::Backend>::ATTEMPTS,
                    || async {
                        let mut tx = $crate::backend::Backend::begin_write(self).await?;
                        $crate::contexts::Contexts::insert_blob(&mut tx, tenant, blob, created_at)
                            .await?;
                        sqlx::query(&sql)
                            .bind(tenant.as_str())
                            .bind(&hash)
                            .bind(created_at)
                            .bind(expires_at)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok(())
                    },
                )
                .await
            }

            async fn get_context(
                &self,
                tenant: &cairn_types::TenantId,
                key: &cairn_types::ContextKey,
                version: Option<i64>,
            ) -> Result<Option<$crate::ContextRecord>, $crate::StoreError> {
                $crate::contexts::Contexts::get(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    key,
                    version,
                )
                .await
            }

            async fn default_view(
                &self,
                tenant: &cairn_types::TenantId,
                hash: &cairn_core::ContentHash,
            ) -> Result<Option<$crate::RenderedDefault>, $crate::StoreError> {
                $crate::contexts::Contexts::default_view(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    hash,
                )
                .await
            }

            async fn blob_data(
                &self,
                tenant: &cairn_types::TenantId,
                hash: &cairn_core::ContentHash,
            ) -> Result<Option<$crate::EncodedBlob>, $crate::StoreError> {
                $crate::contexts::Contexts::blob_data(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    hash,
                )
                .await
            }

            async fn resolve_ref(
                &self,
                tenant: &cairn_types::TenantId,
                reference: &cairn_core::CcrRef,
            ) -> Result<Option<$crate::BlobInfo>, $crate::StoreError> {
                $crate::contexts::Contexts::resolve_ref(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    reference,
                )
                .await
            }

            async fn list_contexts(
                &self,
                tenant: &cairn_types::TenantId,
                filter: &$crate::ListFilter,
                now: $crate::Millis,
            ) -> Result<Vec<$crate::ContextRecord>, $crate::StoreError> {
                $crate::contexts::Contexts::list(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    filter,
                    now,
                )
                .await
            }

            async fn delete_context(
                &self,
                tenant: &cairn_types::TenantId,
                key: &cairn_types::ContextKey,
            ) -> Result<u64, $crate::StoreError> {
                $crate::backend::retrying(
                    <$store as $crate::backend::Backend>::ATTEMPTS,
                    || async {
                        let mut tx = $crate::backend::Backend::begin_write(self).await?;
                        <$store as $crate::backend::Backend>::lock_key(
                            &mut tx,
                            tenant.as_str(),
                            key.as_str(),
                        )
                        .await?;
                        let deleted = $crate::contexts::Contexts::<$db>::delete(
                            &mut tx,
                            tenant.as_str(),
                            key.as_str(),
                        )
                        .await?;
                        tx.commit().await?;
                        Ok(deleted)
                    },
                )
                .await
            }

            async fn stats(
                &self,
                tenant: &cairn_types::TenantId,
                now: $crate::Millis,
            ) -> Result<$crate::StoreStats, $crate::StoreError> {
                $crate::contexts::Contexts::stats(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    now,
                )
                .await
            }

            async fn activity(
                &self,
                tenant: &cairn_types::TenantId,
                since: $crate::Millis,
            ) -> Result<$crate::StoreActivity, $crate::StoreError> {
                $crate::contexts::Contexts::activity(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    since,
                )
                .await
            }

            async fn gc(
                &self,
                now: $crate::Millis,
            ) -> Result<$crate::GcReport, $crate::StoreError> {
                $crate::backend::retrying(
                    <$store as $crate::backend::Backend>::ATTEMPTS,
                    || async {
                        let mut tx = $crate::backend::Backend::begin_write(self).await?;
                        let report = $crate::contexts::Contexts::<$db>::gc(&mut tx, now).await?;
                        tx.commit().await?;
                        Ok(report)
                    },
                )
                .await
            }

            async fn import_sessions(
                &self,
                tenant: &cairn_types::TenantId,
                import: &$crate::SessionImport,
                now: $crate::Millis,
            ) -> Result<$crate::ImportOutcome, $crate::StoreError> {
                $crate::backend::retrying(
                    <$store as $crate::backend::Backend>::ATTEMPTS,
                    || async {
                        let mut tx = $crate::backend::Backend::begin_write(self).await?;
                        for blob in &import.blobs {
                            $crate::contexts::Contexts::insert_blob(&mut tx, tenant, blob, now)
                                .await?;
                        }
                        let created =
                            $crate::sessions::Sessions::upsert(&mut tx, tenant, import, now)
                                .await?;
                        // Messages are numbered from here on, under the feed lock,
                        // so they become visible in order. (Taken after the blobs
                        // and sessions, whose rows other transactions may hold
                        // while they wait for it.)
                        <$store as $crate::backend::Backend>::lock_feed(&mut tx).await?;
                        let outcome =
                            $crate::sessions::Sessions::merge(&mut tx, tenant, import, created)
                                .await?;
                        tx.commit().await?;
                        Ok(outcome)
                    },
                )
                .await
            }

            async fn list_sessions(
                &self,
                tenant: &cairn_types::TenantId,
                filter: &$crate::SessionFilter,
            ) -> Result<Vec<$crate::SessionRecord>, $crate::StoreError> {
                $crate::sessions::Sessions::list(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    filter,
                )
                .await
            }

            async fn get_session(
                &self,
                tenant: &cairn_types::TenantId,
                id: &str,
            ) -> Result<Option<$crate::SessionRecord>, $crate::StoreError> {
                $crate::sessions::Sessions::get($crate::backend::Backend::readers(self), tenant, id)
                    .await
            }

            async fn find_thread(
                &self,
                tenant: &cairn_types::TenantId,
                agent: &str,
                thread_key: &str,
            ) -> Result<Vec<String>, $crate::StoreError> {
                $crate::sessions::Sessions::find_thread(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    agent,
                    thread_key,
                )
                .await
            }

            async fn session_messages(
                &self,
                tenant: &cairn_types::TenantId,
                id: &str,
                from: u64,
                limit: u32,
            ) -> Result<Vec<$crate::MessageRecord>, $crate::StoreError> {
                $crate::sessions::Sessions::messages(
                    $crate::backend::Backend::readers(self),
                    tenant,
                    id,
                    from,
                    limit,
                )
                .await
            }

            async fn messages_after(
                &self,
                seq: i64,
                limit: u32,
            ) -> Result<Vec<$crate::IndexedMessage>, $crate::StoreError> {
                $crate::sessions::Sessions::after(
                    $crate::backend::Backend::readers(self),
                    seq,
                    limit,
                )
                .await
            }

            async fn last_message_seq(&self) -> Result<i64, $crate::StoreError> {
                $crate::sessions::Sessions::last_seq($crate::backend::Backend::readers(self)).await
            }

            async fn contexts_after(
                &self,
                seq: i64,
                limit: u32,
            ) -> Result<Vec<$crate::IndexedContext>, $crate::StoreError> {
                $crate::contexts::Contexts::after(
                    $crate::backend::Backend::readers(self),
                    seq,
                    limit,
                )
                .await
            }

            async fn last_context_seq(&self) -> Result<i64, $crate::StoreError> {
                $crate::contexts::Contexts::last_seq($crate::backend::Backend::readers(self)).await
            }

            async fn put_embeddings(
                &self,
                model: &str,
                embeddings: &[$crate::Embedding],
                progress: $crate::EmbeddingProgress,
            ) -> Result<(), $crate::StoreError> {
                let tx = $crate::backend::Backend::begin_write(self).await?;
                $crate::embeddings::Embeddings::put(tx, model, embeddings, progress).await
            }

            async fn embedding_progress(
                &self,
                model: &str,
            ) -> Result<Option<$crate::EmbeddingProgress>, $crate::StoreError> {
                $crate::embeddings::Embeddings::progress(
                    $crate::backend::Backend::readers(self),
                    model,
                )
                .await
            }

            async fn embeddings(
                &self,
                model: &str,
                after: &str,
                limit: u32,
            ) -> Result<Vec<$crate::Embedding>, $crate::StoreError> {
                $crate::embeddings::Embeddings::page(
                    $crate::backend::Backend::readers(self),
                    model,
                    after,
                    limit,
                )
                .await
            }

            async fn store_views(
                &self,
                views: &[$crate::RenderedDefault],
            ) -> Result<(), $crate::StoreError> {
                if views.is_empty() {
                    return Ok(());
                }
                let sql = $crate::sql_for::<$db>($crate::views::STORE_VIEW_SQL);
                $crate::backend::retrying(
                    <$store as $crate::backend::Backend>::ATTEMPTS,
                    || async {
                        let mut tx = $crate::backend::Backend::begin_write(self).await?;
                        for view in views {
                            $crate::views::bind_view(sqlx::query(&sql), view)
                                .execute(&mut *tx)
                                .await?;
                        }
                        tx.commit().await?;
                        Ok(())
                    },
                )
                .await
            }

            async fn pending_views(
                &self,
                limit: u32,
                created_before: $crate::Millis,
            ) -> Result<Vec<$crate::EncodedBlob>, $crate::StoreError> {
                $crate::contexts::Contexts::pending_views(
                    $crate::backend::Backend::readers(self),
                    limit,
                    created_before,
                )
                .await
            }

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1")
                    .execute($crate::backend::Backend::readers(self))
                    .await?;
                Ok(())
            }

            async fn close(&self) {
                $crate::backend::Backend::close(self).await
            }

            fn shared(&self) -> bool {
                $crate::backend::Backend::shared(self)
            }

            fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
                $crate::backend::Backend::changes(self)
            }
        }
    };
}

pub(crate) use store_impl;
