//! Search over sessions and contexts: the indexer that keeps the tantivy
//! index up with the database, and the search verb.
//!
//! The index is derived data. What it has indexed is the watermark stored
//! with each commit: the last message sequence number and the last context
//! row (`m<seq> c<row>`). The indexer reads everything past it, in batches,
//! and commits; an index that is missing, of another schema, or ahead of the
//! database (a restored backup) starts over from nothing.

use std::sync::Arc;
use std::time::Duration;

use cairn_search::{Doc, SearchError, SearchIndex, SearchQuery};
use cairn_store::{IndexedContext, IndexedMessage, MessageBody};
use cairn_types::{SearchHit, SearchResults, TenantId};

use crate::{Cairn, ServiceError, format_millis, now_millis};

/// Rows read from the database per batch.
const BATCH: u32 = 2000;
/// Text the indexer holds before handing it to the index: a batch of large
/// contexts (up to a megabyte of each is indexed) must not sit in memory whole.
const DOCS_BYTES: usize = 16 << 20;
/// How long the indexer sleeps when nothing wakes it.
const IDLE: Duration = Duration::from_secs(2);

/// Documents on their way to the index, handed over every [`DOCS_BYTES`].
#[derive(Default)]
struct Docs {
    docs: Vec<Doc>,
    bytes: usize,
}

impl Docs {
    async fn push(&mut self, index: &Arc<SearchIndex>, doc: Doc) -> Result<(), ServiceError> {
        self.bytes += doc.text.len().min(cairn_search::MAX_INDEXED_BYTES);
        self.docs.push(doc);
        if self.bytes >= DOCS_BYTES {
            self.flush(index).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, index: &Arc<SearchIndex>) -> Result<(), ServiceError> {
        let docs = std::mem::take(&mut self.docs);
        self.bytes = 0;
        if !docs.is_empty() {
            let index = index.clone();
            blocking(move || index.add(docs)).await?;
        }
        Ok(())
    }
}

/// Where the indexer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermark {
    pub message: i64,
    pub context: i64,
}

impl Watermark {
    fn parse(text: &str) -> Option<Watermark> {
        let (message, context) = text.split_once(' ')?;
        Some(Watermark {
            message: message.strip_prefix('m')?.parse().ok()?,
            // `f`: the context feed's number. (An index whose watermark has
            // `c`, the rowid of contexts, is rebuilt: those numbers repeat.)
            context: context.strip_prefix('f')?.parse().ok()?,
        })
    }

    fn render(self) -> String {
        format!("m{} f{}", self.message, self.context)
    }
}

/// Progress of a (re)index, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexProgress {
    pub indexed: u64,
    /// Messages in the database (the total to reach).
    pub total: u64,
}

impl Cairn {
    /// Attaches a search index: searches use it, puts and imports wake its
    /// indexer ([`Cairn::run_indexer`]).
    pub fn with_search(mut self, index: Arc<SearchIndex>) -> Cairn {
        self.search = Some(index);
        self
    }

    pub(crate) fn wake_indexer(&self) {
        self.index_wake.notify_one();
        if let Some(ml) = &self.ml {
            ml.wake();
        }
    }

    fn index(&self) -> Result<&Arc<SearchIndex>, ServiceError> {
        self.search
            .as_ref()
            .ok_or_else(|| ServiceError::Unavailable("search is not enabled".into()))
    }

    /// Searches messages and contexts.
    pub async fn search(
        &self,
        tenant: &TenantId,
        mut query: SearchQuery,
    ) -> Result<SearchResults, ServiceError> {
        if query.text.len() > crate::MAX_QUERY_BYTES {
            return Err(ServiceError::InvalidRequest(format!(
                "the query is {} bytes; at most {} are accepted",
                query.text.len(),
                crate::MAX_QUERY_BYTES
            )));
        }
        // `message` or `context`; an empty kind is no filter, as none is.
        query.kind = query.kind.filter(|kind| !kind.is_empty());
        if let Some(kind) = query.kind.as_deref()
            && !matches!(kind, "message" | "context")
        {
            return Err(ServiceError::InvalidRequest(format!(
                "unknown kind {kind:?}: expected message or context"
            )));
        }
        let index = self.index()?.clone();
        query.tenant = tenant.as_str().to_owned();
        query.now = now_millis();
        let limit = query.limit.clamp(1, cairn_search::MAX_LIMIT);
        let hybrid = self.ml.is_some() && !query.text.trim().is_empty();
        // More candidates than shown: identical contexts fold into one hit.
        query.limit = (limit * 2).min(cairn_search::MAX_LIMIT);
        if hybrid {
            // And for the fusion to choose from.
            query.limit = query.limit.max(crate::ml::BM25_CANDIDATES);
        }
        let search_query = query.clone();
        let mut found = tokio::task::spawn_blocking(move || index.search(&search_query))
            .await
            .map_err(|error| ServiceError::Internal(format!("search task failed: {error}")))?
            .map_err(|error| match error {
                SearchError::Query(message) => {
                    ServiceError::InvalidRequest(format!("invalid query: {message}"))
                }
                other => ServiceError::Internal(other.to_string()),
            })?;
        if hybrid {
            match self.hybrid(&query, &found).await {
                Ok(Some((hits, total))) => {
                    found.hits = hits;
                    found.total = total;
                }
                Ok(None) => {}
                // Semantic search is an addition: BM25 answers alone.
                Err(error) => tracing::warn!(%error, "semantic search failed; BM25 alone"),
            }
        }
        let folded = cairn_search::group_by_content(&mut found.hits);
        found.total = found.total.saturating_sub(folded);
        found.hits.truncate(limit);
        if self.store.shared() {
            self.drop_keys_deleted_elsewhere(tenant, &mut found).await?;
        }
        self.snippets_past_the_preview(tenant, &query.text, &mut found)
            .await;
        Ok(SearchResults {
            total: found.total as u64,
            hits: found
                .hits
                .into_iter()
                .map(|hit| SearchHit {
                    kind: hit.kind,
                    agent: hit.agent,
                    project: hit.project,
                    session: hit.session,
                    position: hit.position,
                    keys: hit.keys,
                    key: hit.key,
                    role: hit.role,
                    tool: hit.tool,
                    reference: hit.reference,
                    at: format_millis(hit.at),
                    score: hit.score,
                    snippet: hit.snippet,
                })
                .collect(),
        })
    }

    /// The index keeps a document's first 8 KiB for snippets: a hit that
    /// matched further in (a word deep in a long tool output) gets its
    /// snippet cut from its whole text, read back through its `ccr:` ref.
    /// Best effort: a hit keeps the head of its text when this fails.
    async fn snippets_past_the_preview(
        &self,
        tenant: &TenantId,
        query: &str,
        found: &mut cairn_search::Found,
    ) {
        if query.trim().is_empty() {
            return;
        }
        let mut wanted = Vec::new();
        let mut texts = Vec::new();
        // The first hits only: each costs reading its whole original.
        for (index, hit) in found.hits.iter().enumerate().take(SNIPPET_READS) {
            if hit.highlighted {
                continue;
            }
            let Ok(reference) = cairn_core::CcrRef::parse(&hit.reference) else {
                continue;
            };
            let Ok(Some(blob)) = self.store.resolve_ref(tenant, &reference).await else {
                continue;
            };
            let Ok(bytes) = self.original(tenant, &blob).await else {
                continue;
            };
            // As much as was indexed: a match past it was not found anyway.
            let bytes = &bytes[..bytes.len().min(cairn_search::MAX_INDEXED_BYTES)];
            wanted.push(index);
            texts.push(masked(String::from_utf8_lossy(bytes).into_owned()));
        }
        if texts.is_empty() {
            return;
        }
        let Ok(index) = self.index() else { return };
        let index = index.clone();
        let query = query.to_owned();
        match blocking(move || index.snippets(&query, &texts)).await {
            Ok(snippets) => {
                for (at, snippet) in wanted.into_iter().zip(snippets) {
                    if let Some(snippet) = snippet {
                        found.hits[at].snippet = snippet;
                        found.hits[at].highlighted = true;
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "snippets past the preview failed"),
        }
    }

    /// On a shared database, a key another node deleted is still in this
    /// node's index (deletes are not in the feed, which lists versions): such
    /// hits are dropped here, and from the index.
    async fn drop_keys_deleted_elsewhere(
        &self,
        tenant: &TenantId,
        found: &mut cairn_search::Found,
    ) -> Result<(), ServiceError> {
        let mut gone = Vec::new();
        for hit in &found.hits {
            if let Some(key) = hit.key.as_deref()
                && hit.kind == "context"
                && let Ok(parsed) = cairn_types::ContextKey::parse(key)
                && self
                    .store
                    .get_context(tenant, &parsed, None)
                    .await?
                    .is_none()
            {
                gone.push(key.to_owned());
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        found.hits.retain(|hit| {
            !(hit.kind == "context" && hit.key.as_ref().is_some_and(|k| gone.contains(k)))
        });
        found.total = found.total.saturating_sub(gone.len());
        for key in gone {
            self.unindex_context(tenant, &key).await;
        }
        Ok(())
    }

    /// Where the index stands, starting over when it is missing, of another
    /// schema, or ahead of the database.
    async fn index_start(&self) -> Result<Watermark, ServiceError> {
        let index = self.index()?.clone();
        let stored = blocking(move || index.watermark()).await?;
        let last = self.store.last_message_seq().await?;
        match stored.as_deref().and_then(Watermark::parse) {
            Some(watermark) if watermark.message <= last => Ok(watermark),
            _ => {
                let index = self.index()?.clone();
                blocking(move || index.clear()).await?;
                Ok(Watermark::default())
            }
        }
    }

    /// Indexes everything past `from`; returns where it got to. `progress`
    /// hears after every batch.
    pub async fn index_pending(
        &self,
        from: Watermark,
        progress: &(dyn Fn(IndexProgress) + Send + Sync),
    ) -> Result<Watermark, ServiceError> {
        let index = self.index()?.clone();
        let total = self.store.last_message_seq().await?.max(0) as u64;
        let mut at = from;
        let mut indexed = 0u64;
        loop {
            let messages = self.store.messages_after(at.message, BATCH).await?;
            let contexts = self.store.contexts_after(at.context, BATCH).await?;
            if messages.is_empty() && contexts.is_empty() {
                return Ok(at);
            }
            let mut docs = Docs::default();
            for message in &messages {
                docs.push(&index, self.message_doc(message).await?).await?;
                at.message = at.message.max(message.message.seq);
            }
            for context in &contexts {
                if let Some(doc) = self.context_doc(context).await? {
                    docs.push(&index, doc).await?;
                }
                at.context = at.context.max(context.seq);
            }
            indexed += messages.len() as u64;
            docs.flush(&index).await?;
            let index = index.clone();
            let watermark = at.render();
            blocking(move || index.commit(&watermark)).await?;
            progress(IndexProgress {
                indexed,
                total: total.max(indexed),
            });
        }
    }

    /// Empties the index and indexes everything again.
    pub async fn reindex(
        &self,
        progress: &(dyn Fn(IndexProgress) + Send + Sync),
    ) -> Result<Watermark, ServiceError> {
        let index = self.index()?.clone();
        blocking(move || index.clear()).await?;
        self.index_pending(Watermark::default(), progress).await
    }

    /// Keeps the index up with the database until the task is dropped:
    /// catches up at start, then whenever a put or an import wakes it, or the
    /// store tells of another node's write ([`cairn_store::Store::changes`],
    /// PostgreSQL's NOTIFY), or every two seconds (writes by another process
    /// such as `cairn import` on SQLite).
    pub async fn run_indexer(self) {
        let mut changes = self.store.changes();
        let mut at = match self.index_start().await {
            Ok(at) => at,
            Err(error) => {
                tracing::error!(%error, "the search index cannot start");
                return;
            }
        };
        loop {
            match self.index_pending(at, &|_| {}).await {
                Ok(next) => {
                    if next != at {
                        tracing::debug!(watermark = %next.render(), "search index caught up");
                    }
                    at = next;
                }
                Err(error) => tracing::warn!(%error, "indexing failed; retrying"),
            }
            // Merges finish in the background, after the commit that started them.
            if let Ok(index) = self.index() {
                let index = index.clone();
                if let Err(error) = blocking(move || index.refresh()).await {
                    tracing::warn!(%error, "the search index cannot see its merged segments");
                }
            }
            let woken = async {
                match changes.as_mut() {
                    Some(changes) => tokio::select! {
                        () = self.index_wake.notified() => {}
                        changed = changes.changed() => {
                            if changed.is_err() {
                                // The store closed; keep to the timer.
                                std::future::pending::<()>().await;
                            }
                        }
                    },
                    None => self.index_wake.notified().await,
                }
            };
            let _ = tokio::time::timeout(IDLE, woken).await;
        }
    }

    pub(crate) async fn message_doc(&self, indexed: &IndexedMessage) -> Result<Doc, ServiceError> {
        let message = &indexed.message;
        let tenant = TenantId::new(&indexed.tenant);
        let (text, reference) = match &message.body {
            MessageBody::Text(text) => (
                text.clone(),
                cairn_core::ContentHash::of(text.as_bytes()).ccr_ref(),
            ),
            MessageBody::Blob(hash) => {
                let text = match self.store.resolve_ref(&tenant, &hash.ccr_ref()).await? {
                    Some(blob) => {
                        let bytes = self.original(&tenant, &blob).await?;
                        String::from_utf8_lossy(&bytes).into_owned()
                    }
                    None => String::new(),
                };
                (text, hash.ccr_ref())
            }
        };
        Ok(Doc {
            id: message_doc_id(&indexed.tenant, &indexed.session, message.position),
            tenant: indexed.tenant.clone(),
            kind: "message".to_owned(),
            agent: Some(indexed.agent.clone()),
            project: indexed.project.clone(),
            session: Some(indexed.session.clone()),
            role: Some(message.role.clone()),
            tool: message.tool.clone(),
            key: None,
            position: Some(message.position),
            reference: reference.to_string(),
            at: message.at.unwrap_or_default(),
            text: masked(text),
        })
    }

    pub(crate) async fn context_doc(
        &self,
        context: &IndexedContext,
    ) -> Result<Option<Doc>, ServiceError> {
        let record = &context.record;
        // Text and JSON are indexed; binary originals have nothing to find.
        if cairn_core::ContentKind::from_media_type(&record.blob.content_type).is_binary() {
            return Ok(None);
        }
        let tenant = TenantId::new(&context.tenant);
        let text = match self.original(&tenant, &record.blob).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // Deleted or collected since: nothing to index.
            Err(ServiceError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(Some(Doc {
            id: context_doc_id(&context.tenant, &record.key),
            tenant: context.tenant.clone(),
            kind: "context".to_owned(),
            agent: record.agent.clone(),
            project: None,
            session: record.session.clone(),
            role: None,
            tool: None,
            key: Some(record.key.clone()),
            position: None,
            reference: record.blob.hash.ccr_ref().to_string(),
            at: record.created_at,
            text: masked(text),
        }))
    }

    /// Drops a deleted key from the index, committing at once (the indexer
    /// commits only when there is something new to add).
    pub(crate) async fn unindex_context(&self, tenant: &TenantId, key: &str) {
        self.unindex(tenant, vec![context_doc_id(tenant.as_str(), key)])
            .await;
    }

    /// Drops documents from the index (and their vectors), committing at
    /// once: the indexer commits only when there is something new to add.
    pub(crate) async fn unindex(&self, tenant: &TenantId, ids: Vec<String>) {
        let Some(index) = self.search.clone() else {
            return;
        };
        if let Some(ml) = &self.ml {
            for id in &ids {
                ml.forget(tenant.as_str(), id);
            }
        }
        let outcome = blocking(move || {
            for id in &ids {
                index.remove(id);
            }
            let watermark = index.watermark()?.unwrap_or_default();
            index.commit(&watermark)
        })
        .await;
        if let Err(error) = outcome {
            tracing::warn!(%error, "removed documents stay in the search index until reindex");
        }
    }
}

/// Hits of one search whose snippet may be cut from the whole original.
const SNIPPET_READS: usize = 20;

/// One document per message position.
pub(crate) fn message_doc_id(tenant: &str, session: &str, position: u64) -> String {
    format!("m\u{1f}{tenant}\u{1f}{session}\u{1f}{position}")
}

/// One document per key: its latest version.
fn context_doc_id(tenant: &str, key: &str) -> String {
    format!("c\u{1f}{tenant}\u{1f}{key}")
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ServiceError::Internal(format!("index task failed: {error}")))?
        .map_err(|error| ServiceError::Internal(error.to_string()))
}

/// What the index holds of a text: secrets masked, so they are neither
/// terms nor in snippets.
fn masked(text: String) -> String {
    match cairn_core::secrets::mask(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(masked) => masked,
    }
}
