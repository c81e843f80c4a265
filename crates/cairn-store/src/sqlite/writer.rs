//! Group commit. Every put goes to one writer task, which takes whatever has
//! queued up (up to [`MAX_BATCH`] puts or [`MAX_BATCH_BYTES`]) and commits it
//! as one transaction of multi-row statements. Under load this turns N puts'
//! worth of round trips to SQLite's connection thread, and N commits, into a
//! handful; alone, a put is a batch of one and waits for nothing.
//!
//! Each put is answered only after its transaction committed. If a batch
//! fails, its puts are retried one transaction each, so one bad put (its blob
//! collected meanwhile, say) fails alone.

use std::collections::{HashMap, HashSet};

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::{begin_write, to_i64};
use crate::{ContextWrite, PutOutcome, StoreError};

/// Most puts in one transaction (SQLite allows 32,766 bound values; a context
/// row has 9).
const MAX_BATCH: usize = 256;
/// Most blob bytes in one transaction.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

type Reply = oneshot::Sender<Result<PutOutcome, StoreError>>;

enum Message {
    Put(Box<ContextWrite>, Reply),
    Close(oneshot::Sender<()>),
}

/// A handle on the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    sender: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the writer task over the single-connection write pool.
    pub(crate) fn spawn(pool: SqlitePool) -> Writer {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, receiver));
        Writer { sender }
    }

    pub(crate) async fn put(&self, put: ContextWrite) -> Result<PutOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Message::Put(Box::new(put), reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits what is queued, then stops; later puts fail with `Closed`.
    pub(crate) async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.sender.send(Message::Close(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(pool: SqlitePool, mut receiver: mpsc::Receiver<Message>) {
    let mut batch: Vec<(Box<ContextWrite>, Reply)> = Vec::new();
    while let Some(message) = receiver.recv().await {
        let mut closing = None;
        let mut bytes = 0;
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Message::Put(put, reply) => {
                    bytes += put.blob.as_ref().map_or(0, |blob| blob.data.len());
                    batch.push((put, reply));
                }
                Message::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&pool, std::mem::take(&mut batch)).await;
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}

/// Commits `batch` and answers every put in it.
async fn commit(pool: &SqlitePool, batch: Vec<(Box<ContextWrite>, Reply)>) {
    let puts: Vec<&ContextWrite> = batch.iter().map(|(put, _)| put.as_ref()).collect();
    match write(pool, &puts).await {
        Ok(outcomes) => {
            for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some((_, reply)) = batch.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
        Err(error) => {
            tracing::debug!(%error, puts = batch.len(), "batch failed; writing its puts one by one");
            for (put, reply) in batch {
                let outcome = write(pool, &[put.as_ref()])
                    .await
                    .map(|mut outcomes| outcomes.remove(0));
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Writes `puts` in one transaction; outcomes in the same order.
async fn write(pool: &SqlitePool, puts: &[&ContextWrite]) -> Result<Vec<PutOutcome>, StoreError> {
    match write_transaction(pool, puts).await {
        Err(error) if puts.len() == 1 && is_foreign_key_violation(&error) => {
            Err(StoreError::BlobMissing(puts[0].hash.to_hex()))
        }
        other => other,
    }
}

fn is_foreign_key_violation(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(sqlx::Error::Database(error)) if error.is_foreign_key_violation())
}

async fn write_transaction(
    pool: &SqlitePool,
    puts: &[&ContextWrite],
) -> Result<Vec<PutOutcome>, StoreError> {
    let mut tx = begin_write(pool).await?;

    // The latest version of every key in the batch.
    let keys: Vec<(&str, &str)> = distinct(
        puts.iter()
            .map(|put| (put.tenant.as_str(), put.key.as_str())),
    );
    let mut latest: HashMap<(String, String), i64> = HashMap::new();
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT tenant, key, last_version AS version FROM key_versions WHERE (tenant, key) IN (",
    );
    let mut separated = query.separated(", ");
    for (tenant, key) in &keys {
        separated
            .push("(")
            .push_bind_unseparated(*tenant)
            .push_unseparated(", ");
        separated.push_bind_unseparated(*key).push_unseparated(")");
    }
    query.push(")");
    for row in query.build().fetch_all(&mut *tx).await? {
        latest.insert(
            (row.try_get("tenant")?, row.try_get("key")?),
            row.try_get("version")?,
        );
    }

    // Blobs not stored yet; a hash twice in the batch is stored once.
    let mut seen = HashSet::new();
    let blobs: Vec<_> = puts
        .iter()
        .filter_map(|put| put.blob.as_ref().map(|blob| (put.created_at, blob)))
        .filter(|(_, blob)| seen.insert(blob.hash))
        .collect();
    if !blobs.is_empty() {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO blobs (hash, bytes_original, bytes_stored, encoding, content_type, \
             tokens_original, tokens_compressed, created_at, data, \
             view_engine, view_encoding, view_data, view_markers) ",
        );
        insert.push_values(&blobs, |mut row, (created_at, blob)| {
            row.push_bind(blob.hash.to_hex())
                .push_bind(to_i64(blob.bytes_original))
                .push_bind(to_i64(blob.data.len() as u64))
                .push_bind(blob.encoding.as_str())
                .push_bind(blob.content_type.as_str())
                .push_bind(to_i64(blob.tokens_original))
                .push_bind(to_i64(blob.tokens_compressed))
                .push_bind(*created_at)
                .push_bind(blob.data.as_slice());
            let rendered = blob.view.rendered.as_ref();
            row.push_bind(i64::from(blob.view.engine))
                .push_bind(rendered.map(|view| view.encoding.as_str()))
                .push_bind(rendered.map(|view| view.data.as_slice()))
                .push_bind(rendered.map(|view| view.markers.as_str()));
        });
        insert.push(crate::views::BLOB_CONFLICT);
        insert.build().execute(&mut *tx).await?;
    }

    // The tenants' references; the rows that come back are new references.
    let mut seen = HashSet::new();
    let references: Vec<(&str, String, i64)> = puts
        .iter()
        .map(|put| (put.tenant.as_str(), put.hash.to_hex(), put.created_at))
        .filter(|(tenant, hash, _)| seen.insert((*tenant, hash.clone())))
        .collect();
    let mut insert =
        QueryBuilder::<Sqlite>::new("INSERT INTO tenant_blobs (tenant, hash, created_at) ");
    insert.push_values(&references, |mut row, (tenant, hash, created_at)| {
        row.push_bind(*tenant)
            .push_bind(hash.as_str())
            .push_bind(*created_at);
    });
    insert.push(" ON CONFLICT (tenant, hash) DO NOTHING RETURNING tenant, hash");
    let mut new_references: HashSet<(String, String)> = HashSet::new();
    for row in insert.build().fetch_all(&mut *tx).await? {
        new_references.insert((row.try_get("tenant")?, row.try_get("hash")?));
    }

    // The context rows, numbered on from each key's latest version.
    let mut outcomes = Vec::with_capacity(puts.len());
    let mut rows = Vec::with_capacity(puts.len());
    for put in puts {
        let slot = latest
            .entry((put.tenant.to_string(), put.key.to_string()))
            .or_insert(0);
        *slot += 1;
        let hash = put.hash.to_hex();
        // Only the first put of a new reference is not deduplicated.
        let deduplicated = !new_references.remove(&(put.tenant.to_string(), hash.clone()));
        outcomes.push(PutOutcome {
            version: *slot,
            deduplicated,
        });
        rows.push((put, *slot, hash));
    }
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO contexts \
         (tenant, key, version, hash, agent, session, metadata, created_at, expires_at) ",
    );
    insert.push_values(&rows, |mut row, (put, version, hash)| {
        row.push_bind(put.tenant.as_str())
            .push_bind(put.key.as_str())
            .push_bind(*version)
            .push_bind(hash.as_str())
            .push_bind(put.agent.as_deref())
            .push_bind(put.session.as_deref())
            .push_bind(put.metadata.as_deref())
            .push_bind(put.created_at)
            .push_bind(put.expires_at);
    });
    insert.build().execute(&mut *tx).await?;

    // The new high-water mark of every key.
    let mut upsert =
        QueryBuilder::<Sqlite>::new("INSERT INTO key_versions (tenant, key, last_version) ");
    upsert.push_values(&latest, |mut row, ((tenant, key), version)| {
        row.push_bind(tenant.as_str())
            .push_bind(key.as_str())
            .push_bind(*version);
    });
    upsert.push(" ON CONFLICT (tenant, key) DO UPDATE SET last_version = excluded.last_version");
    upsert.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// The items of `items` in first-seen order, each once.
fn distinct<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(item.clone())).collect()
}
