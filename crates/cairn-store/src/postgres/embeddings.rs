//! Sentence embeddings in PostgreSQL: vectors as little-endian f32 BYTEA, and the
//! embedder's progress along the feeds.

use sqlx::Row as _;
use sqlx::postgres::PgPool;

use crate::{Embedding, EmbeddingProgress, StoreError};

pub(crate) async fn put(
    pool: &PgPool,
    model: &str,
    embeddings: &[Embedding],
    progress: EmbeddingProgress,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for embedding in embeddings {
        let bytes: Vec<u8> = embedding
            .vector
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        sqlx::query(
            "INSERT INTO embeddings (model, doc, tenant, vector) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (model, doc) DO UPDATE SET tenant = excluded.tenant, \
             vector = excluded.vector",
        )
        .bind(model)
        .bind(&embedding.doc)
        .bind(&embedding.tenant)
        .bind(bytes)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO embedding_progress (model, message, context) VALUES ($1, $2, $3) \
         ON CONFLICT (model) DO UPDATE SET message = excluded.message, \
         context = excluded.context",
    )
    .bind(model)
    .bind(progress.message)
    .bind(progress.context)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn progress(
    pool: &PgPool,
    model: &str,
) -> Result<Option<EmbeddingProgress>, StoreError> {
    let row = sqlx::query("SELECT message, context FROM embedding_progress WHERE model = $1")
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

pub(crate) async fn page(
    pool: &PgPool,
    model: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<Embedding>, StoreError> {
    let rows = sqlx::query(
        "SELECT doc, tenant, vector FROM embeddings WHERE model = $1 AND doc > $2 \
         ORDER BY doc LIMIT $3",
    )
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
