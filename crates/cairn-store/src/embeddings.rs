//! Sentence embeddings for both databases: vectors as little-endian f32
//! BLOB/BYTEA, and the embedder's progress along the feeds. One SQL text each
//! (`$n` placeholders, see [`crate::sql_for`]); the backends begin the write
//! transaction (SQLite's `BEGIN IMMEDIATE`).

use std::marker::PhantomData;

use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row as _, Transaction,
    Type,
};

use crate::{Embedding, EmbeddingProgress, StoreError};

/// The embedding queries on `DB`, a type so that their bounds are written once.
pub(crate) struct Embeddings<DB>(PhantomData<DB>);

impl<DB: Database> Embeddings<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// Stores `embeddings` and `progress` in `tx`, and commits it.
    pub(crate) async fn put(
        mut tx: Transaction<'static, DB>,
        model: &str,
        embeddings: &[Embedding],
        progress: EmbeddingProgress,
    ) -> Result<(), StoreError> {
        let sql = crate::sql_for::<DB>(
            "INSERT INTO embeddings (model, doc, tenant, vector) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (model, doc) DO UPDATE SET tenant = excluded.tenant, \
             vector = excluded.vector",
        );
        for embedding in embeddings {
            let bytes: Vec<u8> = embedding
                .vector
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            sqlx::query(&sql)
                .bind(model)
                .bind(embedding.doc.as_str())
                .bind(embedding.tenant.as_str())
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&crate::sql_for::<DB>(
            "INSERT INTO embedding_progress (model, message, context) VALUES ($1, $2, $3) \
             ON CONFLICT (model) DO UPDATE SET message = excluded.message, \
             context = excluded.context",
        ))
        .bind(model)
        .bind(progress.message)
        .bind(progress.context)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn progress(
        pool: &Pool<DB>,
        model: &str,
    ) -> Result<Option<EmbeddingProgress>, StoreError> {
        let row = sqlx::query(&crate::sql_for::<DB>(
            "SELECT message, context FROM embedding_progress WHERE model = $1",
        ))
        .bind(model)
        .fetch_optional(pool)
        .await?;
        row.map(|row| {
            Ok(EmbeddingProgress {
                message: row.try_get("message")?,
                context: row.try_get("context")?,
            })
        })
        .transpose()
    }

    /// The vectors of `model` whose document id sorts after `after`.
    pub(crate) async fn page(
        pool: &Pool<DB>,
        model: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<Embedding>, StoreError> {
        let rows = sqlx::query(&crate::sql_for::<DB>(
            "SELECT doc, tenant, vector FROM embeddings WHERE model = $1 AND doc > $2 \
             ORDER BY doc LIMIT $3",
        ))
        .bind(model)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("vector")?;
                Ok(Embedding {
                    doc: row.try_get("doc")?,
                    tenant: row.try_get("tenant")?,
                    vector: bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                })
            })
            .collect()
    }
}
