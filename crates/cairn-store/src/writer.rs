//! Group commit, for both databases. Puts queue up for writer tasks; each
//! takes whatever has queued (up to [`MAX_BATCH`] puts or
//! [`MAX_BATCH_BYTES`]) and commits it as one transaction of multi-row
//! statements. Under load this turns N puts' worth of round trips, and N
//! commits, into a handful; alone, a put is a batch of one and waits for
//! nothing.
//!
//! Each put is answered only after its transaction committed. If a batch
//! fails, its puts are written one transaction each, so one bad put (its blob
//! collected meanwhile, say) fails alone. How a batch is written (how
//! versions are numbered, which locks it takes) is the backend's
//! [`Batches`]; SQLite runs one writer task, PostgreSQL several.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{ContextWrite, PutOutcome, StoreError};

/// Most puts in one transaction (SQLite allows 32,766 bound values and
/// PostgreSQL 65,535; a blob row has 13).
pub(crate) const MAX_BATCH: usize = 256;
/// Most blob bytes in one transaction.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// How a backend writes one batch of puts.
pub(crate) trait Batches: Send + Sync + 'static {
    /// Writes `puts` in one transaction; outcomes in the same order.
    fn write(
        &self,
        puts: &[&ContextWrite],
    ) -> impl Future<Output = Result<Vec<PutOutcome>, StoreError>> + Send;
}

type Reply = oneshot::Sender<Result<PutOutcome, StoreError>>;

enum Message {
    Put(Box<ContextWrite>, Reply),
    Close(oneshot::Sender<()>),
}

/// A handle on the writer tasks. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    sender: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts `workers` tasks writing batches through `batches`.
    pub(crate) fn spawn<B: Batches>(batches: B, workers: usize) -> Writer {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let receiver = Arc::new(Mutex::new(receiver));
        let batches = Arc::new(batches);
        for _ in 0..workers.max(1) {
            tokio::spawn(run(batches.clone(), receiver.clone()));
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

/// One writer task: takes the next batch (holding the receiver only while
/// it gathers), commits it, and so on. On `Close`, waits until the other
/// tasks finished their batches, then answers.
async fn run<B: Batches>(batches: Arc<B>, receiver: Arc<Mutex<mpsc::Receiver<Message>>>) {
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
            commit(batches.as_ref(), std::mem::take(&mut batch)).await;
        }
        if let Some(done) = closing {
            // Every other task holds a clone of `receiver` until its batch is
            // committed and it sees the channel closed.
            while Arc::strong_count(&receiver) > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let _ = done.send(());
            return;
        }
    }
}

/// Commits `batch` and answers every put in it.
async fn commit<B: Batches>(batches: &B, batch: Vec<(Box<ContextWrite>, Reply)>) {
    let puts: Vec<&ContextWrite> = batch.iter().map(|(put, _)| put.as_ref()).collect();
    match write(batches, &puts).await {
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
                let outcome = write(batches, &[put.as_ref()])
                    .await
                    .map(|mut outcomes| outcomes.remove(0));
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Writes `puts` in one transaction; a put alone whose blob is gone fails
/// with [`StoreError::BlobMissing`].
async fn write<B: Batches>(
    batches: &B,
    puts: &[&ContextWrite],
) -> Result<Vec<PutOutcome>, StoreError> {
    match batches.write(puts).await {
        Err(error) if puts.len() == 1 && is_foreign_key_violation(&error) => {
            Err(StoreError::BlobMissing(puts[0].hash.to_hex()))
        }
        other => other,
    }
}

fn is_foreign_key_violation(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(sqlx::Error::Database(error)) if error.is_foreign_key_violation())
}
