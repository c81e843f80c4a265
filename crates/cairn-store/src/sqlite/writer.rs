//! How SQLite writes a batch of puts (see [`crate::writer`]): its one write
//! connection serialises transactions, so a batch reads each key's latest
//! version and numbers its puts on from there.

use std::collections::{BTreeSet, HashMap};

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::begin_write;
use crate::contexts::Contexts;
use crate::{ContextWrite, PutOutcome, StoreError};

/// The write pool (one connection), as the group-commit writer's backend.
pub(crate) struct SqliteBatches(pub(crate) SqlitePool);

impl crate::writer::Batches for SqliteBatches {
    async fn write(&self, puts: &[&ContextWrite]) -> Result<Vec<PutOutcome>, StoreError> {
        let mut tx = begin_write(&self.0).await?;

        // The latest version of every key in the batch (each key asked once).
        let keys: BTreeSet<(&str, &str)> = puts
            .iter()
            .map(|put| (put.tenant.as_str(), put.key.as_str()))
            .collect();
        let mut latest: HashMap<(String, String), i64> = HashMap::new();
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT tenant, key, last_version AS version FROM key_versions WHERE (tenant, key) IN (",
        );
        let mut separated = query.separated(", ");
        for (tenant, key) in keys {
            separated
                .push("(")
                .push_bind_unseparated(tenant)
                .push_unseparated(", ");
            separated.push_bind_unseparated(key).push_unseparated(")");
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *tx).await? {
            latest.insert(
                (row.try_get("tenant")?, row.try_get("key")?),
                row.try_get("version")?,
            );
        }

        let new_references = Contexts::insert_batch_blobs(&mut tx, puts).await?;
        // Each put numbered on from its key's latest version.
        let versions: Vec<i64> = puts
            .iter()
            .map(|put| {
                let slot = latest
                    .entry((put.tenant.to_string(), put.key.to_string()))
                    .or_insert(0);
                *slot += 1;
                *slot
            })
            .collect();
        let outcomes =
            Contexts::insert_batch_versions(&mut tx, puts, &versions, new_references).await?;

        // The new high-water mark of every key.
        let mut upsert =
            QueryBuilder::<Sqlite>::new("INSERT INTO key_versions (tenant, key, last_version) ");
        upsert.push_values(&latest, |mut row, ((tenant, key), version)| {
            row.push_bind(tenant.as_str())
                .push_bind(key.as_str())
                .push_bind(*version);
        });
        upsert
            .push(" ON CONFLICT (tenant, key) DO UPDATE SET last_version = excluded.last_version");
        upsert.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}
