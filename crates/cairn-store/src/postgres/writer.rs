//! Group commit on PostgreSQL, as for SQLite (see `sqlite/writer.rs`): a
//! writer task takes whatever puts have queued up and commits them as one
//! transaction; if a batch fails, its puts are written one by one so a bad
//! put fails alone. Several such tasks share the queue ([`WORKERS`]).
//!
//! Within a transaction, rows are written in a fixed order (blobs by hash,
//! references by tenant and hash, counters by tenant and key) so that two
//! nodes' batches wait on each other rather than deadlock; a deadlock or
//! serialization failure that happens anyway is retried.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder, Row};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{lock_feed, retrying, to_i64};
use crate::{ContextWrite, PutOutcome, StoreError};

/// Most puts in one transaction (PostgreSQL allows 65,535 bound values; a
/// blob row has 13).
const MAX_BATCH: usize = 256;
/// Most blob bytes in one transaction.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Batches in flight at once. Unlike SQLite, PostgreSQL runs transactions
/// side by side; only their last step (the feed, under the feed lock, and
/// the commit) takes turns, so while one batch commits the next is written.
const WORKERS: usize = 4;

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
    pub(crate) fn spawn(pool: PgPool) -> Writer {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WORKERS {
            tokio::spawn(run(pool.clone(), receiver.clone()));
        }
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

/// One of [`WORKERS`] tasks: takes the next batch (holding the receiver only
/// while it gathers), commits it, and so on. On `Close`, waits until the
/// other workers finished their batches, then answers.
async fn run(pool: PgPool, receiver: Arc<Mutex<mpsc::Receiver<Message>>>) {
    let mut batch: Vec<(Box<ContextWrite>, Reply)> = Vec::new();
    loop {
        let mut closing = None;
        {
            let mut receiver = receiver.lock().await;
            let Some(message) = receiver.recv().await else {
                return;
            };
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
            if closing.is_some() {
                // Nothing more is taken: the others finish what they hold.
                receiver.close();
            }
        }
        if !batch.is_empty() {
            commit(&pool, std::mem::take(&mut batch)).await;
        }
        if let Some(done) = closing {
            // Every other worker holds a clone of `receiver` until its batch
            // is committed and it sees the channel closed.
            while Arc::strong_count(&receiver) > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let _ = done.send(());
            return;
        }
    }
}

async fn commit(pool: &PgPool, batch: Vec<(Box<ContextWrite>, Reply)>) {
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

async fn write(pool: &PgPool, puts: &[&ContextWrite]) -> Result<Vec<PutOutcome>, StoreError> {
    match retrying(|| write_transaction(pool, puts)).await {
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
    pool: &PgPool,
    puts: &[&ContextWrite],
) -> Result<Vec<PutOutcome>, StoreError> {
    let mut tx = pool.begin().await?;

    // Blobs not stored yet, in hash order; a hash twice in the batch is stored once.
    let mut blobs: BTreeMap<String, (i64, &crate::NewBlob)> = BTreeMap::new();
    for put in puts {
        if let Some(blob) = &put.blob {
            blobs
                .entry(blob.hash.to_hex())
                .or_insert((put.created_at, blob));
        }
    }
    if !blobs.is_empty() {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO blobs (hash, bytes_original, bytes_stored, encoding, content_type, \
             tokens_original, tokens_compressed, created_at, data, \
             view_engine, view_encoding, view_data, view_markers) ",
        );
        insert.push_values(&blobs, |mut row, (hash, (created_at, blob))| {
            row.push_bind(hash.as_str())
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

    // The tenants' references, in order; the rows that come back are new.
    let mut references: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for put in puts {
        references
            .entry((put.tenant.as_str(), put.hash.to_hex()))
            .or_insert(put.created_at);
    }
    let mut insert =
        QueryBuilder::<Postgres>::new("INSERT INTO tenant_blobs (tenant, hash, created_at) ");
    insert.push_values(&references, |mut row, ((tenant, hash), created_at)| {
        row.push_bind(*tenant)
            .push_bind(hash.as_str())
            .push_bind(*created_at);
    });
    insert.push(" ON CONFLICT (tenant, hash) DO NOTHING RETURNING tenant, hash");
    let mut new_references: HashSet<(String, String)> = HashSet::new();
    for row in insert.build().fetch_all(&mut *tx).await? {
        new_references.insert((row.try_get("tenant")?, row.try_get("hash")?));
    }

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

    let mut outcomes = Vec::with_capacity(puts.len());
    let mut rows = Vec::with_capacity(puts.len());
    for put in puts {
        let slot = next
            .get_mut(&(put.tenant.to_string(), put.key.to_string()))
            .ok_or_else(|| StoreError::Corrupt(format!("no counter for key {}", put.key)))?;
        let version = *slot;
        *slot += 1;
        let hash = put.hash.to_hex();
        let deduplicated = !new_references.remove(&(put.tenant.to_string(), hash.clone()));
        outcomes.push(PutOutcome {
            version,
            deduplicated,
        });
        rows.push((put, version, hash));
    }
    let mut insert = QueryBuilder::<Postgres>::new(
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

    // Last: the feed, numbered under the feed lock, held until commit.
    lock_feed(&mut tx).await?;
    let mut feed =
        QueryBuilder::<Postgres>::new("INSERT INTO context_feed (tenant, key, version) ");
    feed.push_values(&rows, |mut row, (put, version, _)| {
        row.push_bind(put.tenant.as_str())
            .push_bind(put.key.as_str())
            .push_bind(*version);
    });
    feed.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(outcomes)
}
