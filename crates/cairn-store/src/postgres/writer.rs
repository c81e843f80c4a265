//! How PostgreSQL writes a batch of puts (see [`crate::writer`]). Several
//! nodes write at once, so a batch draws its version numbers from each key's
//! counter row (raised under the row's lock) rather than from what it read,
//! and appends to the context feed last, under the feed lock. Rows are
//! written in a fixed order (blobs by hash, references by tenant and hash,
//! counters by tenant and key) so that two nodes' batches wait on each other
//! rather than deadlock; a deadlock or serialization failure that happens
//! anyway is retried.

use std::collections::{BTreeMap, HashMap};

use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder, Row};

use super::lock_feed;
use crate::backend::retrying;
use crate::contexts::Contexts;
use crate::{ContextWrite, PutOutcome, StoreError};

/// Batches in flight at once. Unlike SQLite, PostgreSQL runs transactions
/// side by side; only their last step (the feed, under the feed lock, and
/// the commit) takes turns, so while one batch commits the next is written.
pub(crate) const WORKERS: usize = 4;

/// The pool, as the group-commit writer's backend.
pub(crate) struct PostgresBatches(pub(crate) PgPool);

impl crate::writer::Batches for PostgresBatches {
    async fn write(&self, puts: &[&ContextWrite]) -> Result<Vec<PutOutcome>, StoreError> {
        retrying(super::ATTEMPTS, || write_transaction(&self.0, puts)).await
    }
}

async fn write_transaction(
    pool: &PgPool,
    puts: &[&ContextWrite],
) -> Result<Vec<PutOutcome>, StoreError> {
    let mut tx = pool.begin().await?;
    let new_references = Contexts::insert_batch_blobs(&mut tx, puts).await?;

    // Each key's counter raised by its number of puts, under the row's lock:
    // this batch owns the numbers (last - n, last].
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for put in puts {
        *counts
            .entry((put.tenant.as_str(), put.key.as_str()))
            .or_insert(0) += 1;
    }
    let mut upsert =
        QueryBuilder::<Postgres>::new("INSERT INTO key_versions (tenant, key, last_version) ");
    upsert.push_values(&counts, |mut row, ((tenant, key), count)| {
        row.push_bind(*tenant).push_bind(*key).push_bind(*count);
    });
    upsert.push(
        " ON CONFLICT (tenant, key) DO UPDATE \
         SET last_version = key_versions.last_version + EXCLUDED.last_version \
         RETURNING tenant, key, last_version",
    );
    let mut next: HashMap<(String, String), i64> = HashMap::new();
    for row in upsert.build().fetch_all(&mut *tx).await? {
        let tenant: String = row.try_get("tenant")?;
        let key: String = row.try_get("key")?;
        let last: i64 = row.try_get("last_version")?;
        let count = counts
            .get(&(tenant.as_str(), key.as_str()))
            .copied()
            .ok_or_else(|| StoreError::Corrupt(format!("unexpected counter for key {key:?}")))?;
        next.insert((tenant, key), last - count + 1);
    }
    let mut versions = Vec::with_capacity(puts.len());
    for put in puts {
        let slot = next
            .get_mut(&(put.tenant.to_string(), put.key.to_string()))
            .ok_or_else(|| StoreError::Corrupt(format!("no counter for key {}", put.key)))?;
        versions.push(*slot);
        *slot += 1;
    }
    let outcomes =
        Contexts::insert_batch_versions(&mut tx, puts, &versions, new_references).await?;

    // Last: the feed, numbered under the feed lock, held until commit.
    lock_feed(&mut tx).await?;
    let mut feed =
        QueryBuilder::<Postgres>::new("INSERT INTO context_feed (tenant, key, version) ");
    feed.push_values(puts.iter().zip(&versions), |mut row, (put, version)| {
        row.push_bind(put.tenant.as_str())
            .push_bind(put.key.as_str())
            .push_bind(*version);
    });
    feed.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(outcomes)
}
