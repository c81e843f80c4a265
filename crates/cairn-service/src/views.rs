//! Default views rendered after the put (issue 28).
//!
//! A put stores the original and is acknowledged; its default view (what a
//! GET returns, and the receipt's `tokens_compressed`) is rendered on the
//! request path only when nothing else is rendering, so a lone client gets
//! an exact receipt at once. Under load the put leaves the view to
//! [`Cairn::run_view_renderer`]: the blob is stored with
//! [`StoredView::PENDING`](cairn_store::StoredView::PENDING) (its `tokens_compressed` equal to its
//! `tokens_original` meanwhile), the receipt says `view_pending`, and a job
//! goes on a bounded queue. A full queue makes the put render after all.
//!
//! Nothing is lost across a crash: pending blobs are marked in the database,
//! and the renderer looks for them when it starts. A GET that arrives before
//! the view renders it at once; two GETs of one pending blob share one
//! rendering.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_core::{ContentHash, RenderedView, ViewOptions};
use cairn_store::{BlobInfo, RenderedDefault};
use cairn_types::{ContextKey, TenantId};
use tokio::sync::{OnceCell, mpsc};

use crate::{Cairn, ServiceError, decode_blob, render_default, spawn_cpu};

/// Jobs the queue holds at most (about 200 bytes each).
const QUEUE: usize = 16 * 1024;

/// Views stored per transaction.
const BATCH: usize = 64;

/// How long the renderer waits on an empty queue before it looks in the
/// database for views left pending (by a node that stopped, or a batch that
/// failed to store), and how old those must be.
const SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// A put whose default view was left to the renderer.
#[derive(Debug)]
struct Job {
    tenant: TenantId,
    key: ContextKey,
    blob: BlobInfo,
}

type Shared = Arc<OnceCell<Arc<RenderedView>>>;

#[derive(Debug)]
pub(crate) struct Views {
    jobs: mpsc::Sender<Job>,
    queue: Mutex<Option<mpsc::Receiver<Job>>>,
    /// Whether [`Cairn::run_view_renderer`] runs: without it, puts render
    /// their views themselves.
    running: AtomicBool,
    /// Renderings in progress, on a request or in the renderer.
    busy: AtomicUsize,
    /// Blobs each tenant put with their view pending, not stored since.
    pending: Mutex<HashSet<(TenantId, ContentHash)>>,
    /// One rendering per blob at a time: later callers wait for the first.
    renderings: Mutex<HashMap<ContentHash, Shared>>,
    /// Views rendered after their puts, since start.
    rendered: AtomicU64,
}

impl Default for Views {
    fn default() -> Views {
        let (jobs, queue) = mpsc::channel(QUEUE);
        Views {
            jobs,
            queue: Mutex::new(Some(queue)),
            running: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            pending: Mutex::default(),
            renderings: Mutex::default(),
            rendered: AtomicU64::new(0),
        }
    }
}

/// Counts a rendering as in progress while it lives.
pub(crate) struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Views {
    /// Whether a put should leave its view to the renderer: the renderer
    /// runs, something is rendering already (or `always`), and the queue
    /// has room.
    pub(crate) fn defer(&self, always: bool) -> bool {
        self.running.load(Ordering::Relaxed)
            && (always || self.busy.load(Ordering::Relaxed) > 0)
            && self.jobs.capacity() > 0
    }

    pub(crate) fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(&self.busy)
    }

    pub(crate) fn is_pending(&self, tenant: &TenantId, hash: ContentHash) -> bool {
        lock(&self.pending).contains(&(tenant.clone(), hash))
    }

    pub(crate) fn mark_pending(&self, tenant: &TenantId, hash: ContentHash) {
        lock(&self.pending).insert((tenant.clone(), hash));
    }

    fn done(&self, tenant: &TenantId, hash: ContentHash) {
        lock(&self.pending).remove(&(tenant.clone(), hash));
    }
}

impl Cairn {
    /// Queues the default view of a put that left it pending; renders it
    /// here when the queue is full.
    pub(crate) async fn queue_view(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        blob: &BlobInfo,
    ) -> Result<(), ServiceError> {
        let job = Job {
            tenant: tenant.clone(),
            key: key.clone(),
            blob: blob.clone(),
        };
        match self.views.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
                let (rendered, _) = self.render_pending(&job.tenant, &job.blob).await?;
                self.store.store_views(&[rendered]).await?;
                self.view_stored(&job.tenant, &job.key, &job.blob);
                Ok(())
            }
        }
    }

    /// Renders the default views that puts left pending, until the task is
    /// aborted: first those a previous process left in the database, then
    /// the queue, storing them a batch at a time; when the queue has been
    /// empty a while, views left pending in the database again (a node that
    /// stopped, a batch that failed to store).
    pub async fn run_view_renderer(self) {
        let Some(mut queue) = lock(&self.views.queue).take() else {
            tracing::warn!("the view renderer runs already");
            return;
        };
        self.views.running.store(true, Ordering::Relaxed);
        if let Err(error) = self.render_left_pending(crate::now_millis()).await {
            tracing::warn!(%error, "could not render the views left pending before the start");
        }
        let mut jobs = Vec::with_capacity(BATCH);
        loop {
            match tokio::time::timeout(SWEEP, queue.recv_many(&mut jobs, BATCH)).await {
                Ok(0) => return,
                Ok(_) => {
                    if let Err(error) = self.render_jobs(&jobs).await {
                        // Their blobs stay pending in the database: a GET
                        // renders them, and so does the next sweep.
                        tracing::warn!(%error, views = jobs.len(), "could not store rendered views");
                    }
                    jobs.clear();
                }
                Err(_) => {
                    let before = crate::now_millis()
                        .saturating_sub(i64::try_from(SWEEP.as_millis()).unwrap_or(i64::MAX));
                    if let Err(error) = self.render_left_pending(before).await {
                        tracing::warn!(%error, "could not render views left pending");
                    }
                }
            }
        }
    }

    async fn render_jobs(&self, jobs: &[Job]) -> Result<(), ServiceError> {
        let _busy = self.views.busy();
        let mut rendered = Vec::with_capacity(jobs.len());
        let mut seen = HashSet::new();
        for job in jobs {
            if !seen.insert(job.blob.hash) {
                continue;
            }
            if self.stored_view_engine(&job.tenant, &job.blob.hash).await? != Some(0) {
                continue; // rendered meanwhile, or deleted
            }
            match self.render_pending(&job.tenant, &job.blob).await {
                Ok((view, _)) => rendered.push(view),
                // Deleted meanwhile: nothing to render.
                Err(ServiceError::NotFound(_)) => {}
                // This one stays pending (a GET will say what is wrong);
                // the rest of the batch goes on.
                Err(error) => {
                    tracing::warn!(%error, hash = %job.blob.hash, "a view did not render")
                }
            }
        }
        self.store.store_views(&rendered).await?;
        for job in jobs {
            self.view_stored(&job.tenant, &job.key, &job.blob);
        }
        Ok(())
    }

    async fn stored_view_engine(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<u32>, ServiceError> {
        Ok(self
            .store
            .default_view(tenant, hash)
            .await?
            .map(|stored| stored.view.engine))
    }

    /// Renders the views left pending in the database by puts before
    /// `created_before` (a process stopped, or was killed, before it
    /// rendered them). A blob that does not decode or render gets the
    /// original as its view, so it is not tried forever; reading it says
    /// what is wrong.
    async fn render_left_pending(&self, created_before: i64) -> Result<(), ServiceError> {
        let level = self.config.zstd_level;
        let mut done = 0usize;
        loop {
            let blobs = self
                .store
                .pending_views(BATCH as u32, created_before)
                .await?;
            if blobs.is_empty() {
                break;
            }
            let _busy = self.views.busy();
            let count = blobs.len();
            let rendered = spawn_cpu(move || {
                blobs
                    .into_iter()
                    .map(|blob| {
                        let info = blob.info.clone();
                        decode_blob(blob)
                            .and_then(|original| {
                                render_default(info.hash, &original, info.tokens_original, level)
                            })
                            .map(|(rendered, _)| rendered)
                            .unwrap_or_else(|error| {
                                tracing::warn!(%error, hash = %info.hash, "a pending view did not render");
                                RenderedDefault {
                                    hash: info.hash,
                                    tokens_compressed: info.tokens_original,
                                    view: cairn_store::StoredView {
                                        engine: cairn_compress::ENGINE_VERSION,
                                        rendered: None,
                                    },
                                }
                            })
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
            self.store.store_views(&rendered).await?;
            self.views
                .rendered
                .fetch_add(count as u64, Ordering::Relaxed);
            done += count;
        }
        if done > 0 {
            // Which keys these were is not known here: forget every cached
            // record and blob fact, which may still say "pending".
            self.records.clear();
            self.known_blobs.clear();
            lock(&self.views.pending).clear();
            tracing::info!(views = done, "rendered views left pending");
        }
        Ok(())
    }

    /// Renders `blob`'s default view, sharing the work with any other caller
    /// rendering it now, and keeps it in the cache for the next GET.
    pub(crate) async fn render_pending(
        &self,
        tenant: &TenantId,
        blob: &BlobInfo,
    ) -> Result<(RenderedDefault, Arc<RenderedView>), ServiceError> {
        let _busy = self.views.busy();
        let original = self.original(tenant, blob).await?;
        let (hash, tokens_original, level) =
            (blob.hash, blob.tokens_original, self.config.zstd_level);
        let (rendered, compressed) =
            spawn_cpu(move || render_default(hash, &original, tokens_original, level)).await??;
        self.views.rendered.fetch_add(1, Ordering::Relaxed);
        let view =
            self.originals
                .insert_view(tenant, hash, ViewOptions::default(), compressed.view);
        Ok((rendered, view))
    }

    /// The default view of `blob` for a GET that found none stored: rendered
    /// once however many GETs ask at the same time, and stored.
    pub(crate) async fn render_for_get(
        &self,
        tenant: &TenantId,
        blob: &BlobInfo,
    ) -> Result<Arc<RenderedView>, ServiceError> {
        let shared: Shared = lock(&self.views.renderings)
            .entry(blob.hash)
            .or_default()
            .clone();
        let result = shared
            .get_or_try_init(|| async {
                // Another GET may have stored it since this one looked.
                if let Some(view) = self.stored_view(tenant, blob).await? {
                    return Ok(Arc::new(view));
                }
                let (rendered, view) = self.render_pending(tenant, blob).await?;
                self.store
                    .store_views(std::slice::from_ref(&rendered))
                    .await?;
                self.views.done(tenant, blob.hash);
                self.known_blobs.remove(&(tenant.clone(), blob.hash));
                Ok::<_, ServiceError>(view)
            })
            .await
            .cloned();
        let mut renderings = lock(&self.views.renderings);
        if renderings
            .get(&blob.hash)
            .is_some_and(|current| Arc::ptr_eq(current, &shared))
        {
            renderings.remove(&blob.hash);
        }
        result
    }

    /// Brings the caches in line with a view just stored: the key's record
    /// and the blob's facts carry its token count now.
    fn view_stored(&self, tenant: &TenantId, key: &ContextKey, blob: &BlobInfo) {
        self.views.done(tenant, blob.hash);
        self.records.evict(tenant, key);
        self.known_blobs.remove(&(tenant.clone(), blob.hash));
    }
}

/// Locks `mutex`, whose data stays whole even if a holder panicked (every
/// critical section here is a single insert, remove or lookup).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cairn_store::{SqliteOptions, SqliteStore, Store};

    use super::*;
    use crate::{GetOptions, PutInput, ServiceConfig};

    async fn service(dir: &std::path::Path) -> Cairn {
        let store = SqliteStore::open(&SqliteOptions::new(dir.join("cairn.db")))
            .await
            .expect("the store opens");
        let config = ServiceConfig {
            views_after_put: true,
            ..ServiceConfig::default()
        };
        Cairn::new(Arc::new(store) as Arc<dyn Store>, config)
    }

    /// A log whose default view cuts most of it.
    fn log() -> bytes::Bytes {
        let lines: String = (0..400)
            .map(|i| {
                let level = if i == 123 { "ERROR" } else { "INFO" };
                format!(
                    "2026-12-05T02:00:{:02}Z {level} request {i} served in {}ms\n",
                    i % 60,
                    i % 17
                )
            })
            .collect();
        bytes::Bytes::from(lines)
    }

    async fn put(cairn: &Cairn, key: &str) -> cairn_types::PutReceipt {
        let input = PutInput {
            content: log(),
            ..PutInput::default()
        };
        let key = ContextKey::parse(key).expect("a valid key");
        cairn
            .put(&TenantId::local(), &key, input)
            .await
            .expect("the put")
    }

    async fn views_pending(cairn: &Cairn) -> u64 {
        cairn
            .stats(&TenantId::local())
            .await
            .expect("stats")
            .views_pending
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_put_without_the_renderer_renders_its_view_itself() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cairn = service(dir.path()).await;
        let receipt = put(&cairn, "log").await;
        assert!(!receipt.view_pending);
        assert!(receipt.tokens_compressed < receipt.tokens_original);
        assert_eq!(views_pending(&cairn).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gets_of_a_pending_view_render_it_once_and_store_it() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cairn = service(dir.path()).await;
        // The renderer counts as running but takes no jobs: the view stays
        // pending until a GET asks for it.
        cairn.views.running.store(true, Ordering::Relaxed);
        let receipt = put(&cairn, "log").await;
        assert!(receipt.view_pending);
        assert_eq!(receipt.tokens_compressed, receipt.tokens_original);
        assert_eq!(views_pending(&cairn).await, 1);

        // Out of the cache, as after a restart, so the GETs must render.
        cairn.originals.clear();
        let key = ContextKey::parse("log").expect("a valid key");
        let gets = (0..4).map(|_| {
            let (cairn, key) = (cairn.clone(), key.clone());
            tokio::spawn(async move {
                cairn
                    .get(&TenantId::local(), &key, GetOptions::default())
                    .await
            })
        });
        let mut contents = Vec::new();
        for get in gets {
            contents.push(get.await.expect("a GET task").expect("the GET").content);
        }
        assert!(contents.windows(2).all(|pair| pair[0] == pair[1]));
        assert!(contents[0].len() < log().len(), "the view cuts");
        assert_eq!(
            cairn.views.rendered.load(Ordering::Relaxed),
            1,
            "rendered once"
        );
        assert_eq!(views_pending(&cairn).await, 0, "and stored");
        let stats = cairn.stats(&TenantId::local()).await.expect("stats");
        assert!(stats.tokens_compressed < stats.tokens_original, "{stats:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_renderer_renders_queued_views_and_those_left_by_a_stopped_process() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cairn = service(dir.path()).await;
        cairn.views.running.store(true, Ordering::Relaxed);
        for key in ["a", "b"] {
            assert!(put(&cairn, key).await.view_pending);
        }
        assert_eq!(views_pending(&cairn).await, 1, "one blob under two keys");
        cairn.store().close().await;
        drop(cairn);

        // A new process over the same database: its renderer finds the view
        // left pending, then takes queued ones.
        let cairn = service(dir.path()).await;
        let renderer = tokio::spawn(cairn.clone().run_view_renderer());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while views_pending(&cairn).await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the pending view was not rendered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let key = ContextKey::parse("a").expect("a valid key");
        let view = cairn
            .get(&TenantId::local(), &key, GetOptions::default())
            .await
            .expect("GET");
        assert!(view.content.len() < log().len());

        let fresh = cairn
            .put(
                &TenantId::local(),
                &ContextKey::parse("c").expect("a valid key"),
                PutInput {
                    content: bytes::Bytes::from(format!(
                        "{}one more line\n",
                        String::from_utf8_lossy(&log())
                    )),
                    ..PutInput::default()
                },
            )
            .await
            .expect("the put");
        assert!(fresh.view_pending);
        while views_pending(&cairn).await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the queued view was not rendered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(cairn.views.rendered.load(Ordering::Relaxed), 2);
        renderer.abort();
    }
}
