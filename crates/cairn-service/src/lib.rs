//! Cairn's application layer: the verbs every surface (REST, GraphQL, MCP,
//! proxy, CLI) calls — put, get, retrieve, list, delete, stats, gc — so no
//! surface reimplements any of them.
//!
//! Architecture invariant: CPU work (hashing large bodies, zstd, token
//! counting, rendering views) runs through [`spawn_cpu`], never on an async
//! worker thread, and never inside a database transaction.
//!
//! API boundary: depends on `cairn-core`, `cairn-store` (the trait, not a
//! backend) and `cairn-types`. It reads no configuration files and no
//! environment: the server hands it a [`ServiceConfig`].

mod briefing;
mod cache;
mod compress;
mod cpu;
mod error;
mod events;
mod ml;
mod proxy_traffic;
mod records;
mod search;
mod select;
mod sessions;
mod time;
mod views;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use cairn_core::{CcrRef, ContentHash, RenderedView, ViewOptions, sniff, tokens};
use cairn_store::{
    BlobInfo, ContextRecord, ContextWrite, EncodedBlob, Encoding, GcReport, ListFilter, NewBlob,
    PutOutcome, RenderedDefault, Store, StoreError, StoredRendering, StoredView,
};
use cairn_types::{
    Activity, ContentEncoding, ContextActivity, ContextKey, ContextList, ContextSummary, Marker,
    PutReceipt, SessionActivity, Stats, TenantId, View,
};
use tracing::Instrument as _;

pub use briefing::{
    BRIEFING_TAG, BriefingQuery, DEFAULT_BRIEFING_TOKENS, MAX_BRIEFING_TOKENS, MIN_BRIEFING_TOKENS,
};
pub use cache::OriginalCache;
pub use cairn_compress::Kind;
pub use cairn_search::{MAX_LIMIT as MAX_SEARCH_RESULTS, SearchIndex, SearchQuery};
pub use compress::{CompressInput, CompressOutput, DEFAULT_RETENTION, MessagesOutput};
pub use cpu::spawn_cpu;
pub use error::ServiceError;
pub use events::{PutEvent, PutFilter, PutSubscription};
pub use ml::Ml;
pub use search::{IndexProgress, Watermark};
pub use select::{Part, Selection};
pub use sessions::{
    DEFAULT_MESSAGES, ImportSource, MAX_MESSAGES, ProxiedMessage, ProxiedSession, SessionQuery,
};
pub use time::{format_millis, now_millis, parse_time};

/// The longest time to live accepted: 100 years.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600 + 25 * 24 * 3600;

/// Longest query accepted in a view, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Checks a time to live is between one second and [`MAX_TTL_SECONDS`].
pub fn check_ttl(ttl: Duration) -> Result<(), ServiceError> {
    if ttl.is_zero() {
        return Err(ServiceError::InvalidRequest(
            "ttl_seconds must be at least 1".into(),
        ));
    }
    if ttl.as_secs() > MAX_TTL_SECONDS {
        return Err(ServiceError::InvalidRequest(format!(
            "ttl_seconds must be at most {MAX_TTL_SECONDS} (100 years)"
        )));
    }
    Ok(())
}

/// Checks a query is no longer than [`MAX_QUERY_BYTES`].
pub(crate) fn check_query(query: &str) -> Result<(), ServiceError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(ServiceError::InvalidRequest(format!(
            "the query is {} bytes long; the limit is {MAX_QUERY_BYTES}",
            query.len()
        )));
    }
    Ok(())
}

/// Longest agent or session name, in bytes.
pub const MAX_LABEL_BYTES: usize = 256;

/// Default memory for decoded originals and rendered views (the server's
/// `storage.cache_mib`): 16 MiB, part of SPEC §8's 200 MB with 100,000
/// contexts (BENCHMARKS.md, "Memory").
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The service's settings, resolved by the server from its configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// TTL applied to puts that name none. `None`: keep forever.
    pub default_ttl: Option<Duration>,
    /// zstd level for blobs at rest.
    pub zstd_level: i32,
    /// Bytes of decoded originals kept in memory for fast reads.
    pub cache_bytes: u64,
    /// How long `compress` keeps the originals of its cuts.
    pub retention: Duration,
    /// Leave every put's default view to [`Cairn::run_view_renderer`]; off,
    /// a put renders it unless another rendering is in progress.
    pub views_after_put: bool,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            default_ttl: None,
            zstd_level: 3,
            cache_bytes: DEFAULT_CACHE_BYTES,
            retention: DEFAULT_RETENTION,
            views_after_put: false,
        }
    }
}

/// Everything a put carries besides the key.
#[derive(Debug, Clone, Default)]
pub struct PutInput {
    pub content: Bytes,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub ttl: Option<Duration>,
    pub metadata: Option<serde_json::Value>,
}

/// What a get asks for.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub view: View,
    pub version: Option<i64>,
    pub query: Option<String>,
    pub max_tokens: Option<u64>,
}

/// A context as read: the stored record and the view's bytes.
#[derive(Debug, Clone)]
pub struct ContextContent {
    pub record: ContextRecord,
    pub view: View,
    pub content: Bytes,
    pub tokens: u64,
    pub markers: Vec<Marker>,
}

impl ContextContent {
    /// The content as a JSON string: UTF-8 as it is, anything else as base64.
    pub fn content_for_json(&self) -> (String, ContentEncoding) {
        encode_for_json(&self.content)
    }

    /// The wire form every surface answers with.
    pub fn into_view(self) -> cairn_types::ContextView {
        let (content, encoding) = self.content_for_json();
        let record = self.record;
        cairn_types::ContextView {
            key: record.key,
            hash: record.blob.hash.to_hex(),
            reference: record.blob.hash.ccr_ref().to_string(),
            version: record.version,
            view: self.view,
            content,
            encoding,
            tokens: self.tokens,
            tokens_original: record.blob.tokens_original,
            markers: self.markers,
            bytes: record.blob.bytes_original,
            content_type: record.blob.content_type,
            agent: record.agent,
            session: record.session,
            metadata: record
                .metadata
                .and_then(|text| serde_json::from_str(&text).ok()),
            created_at: format_millis(record.created_at),
            expires_at: record.expires_at.map(format_millis),
        }
    }
}

/// Text as it is, anything else as base64.
pub fn encode_for_json(bytes: &[u8]) -> (String, ContentEncoding) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), ContentEncoding::Utf8),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            ContentEncoding::Base64,
        ),
    }
}

/// An original fetched by its `ccr:` reference.
#[derive(Debug, Clone)]
pub struct Retrieved {
    pub blob: BlobInfo,
    pub content: Bytes,
}

impl Retrieved {
    /// The wire form every surface answers with: the whole original, or
    /// `part` of it.
    pub fn into_wire(self, part: Option<Part>) -> cairn_types::Retrieved {
        let (content, encoding, selection, total, matches) = match part {
            Some(part) => (
                part.content,
                ContentEncoding::Utf8,
                Some(part.selection),
                Some(part.total),
                part.matches,
            ),
            None => {
                let (content, encoding) = encode_for_json(&self.content);
                (content, encoding, None, None, None)
            }
        };
        let blob = self.blob;
        cairn_types::Retrieved {
            reference: blob.hash.ccr_ref().to_string(),
            hash: blob.hash.to_hex(),
            bytes: blob.bytes_original,
            content_type: blob.content_type,
            tokens: blob.tokens_original,
            content,
            encoding,
            selection,
            total,
            matches,
        }
    }
}

/// What `list` asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Only keys whose latest version has this media type (`application/json`).
    pub content_type: Option<String>,
    /// Only keys whose latest version was written at or after this time (RFC 3339).
    pub since: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Default and largest page of `list`.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

/// A page size: `limit`, or `default` without one; one outside `1..=max` is
/// refused, the same way by every list.
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ServiceError> {
    match limit.unwrap_or(default) {
        limit @ 1.. if limit <= max => Ok(limit),
        _ => Err(ServiceError::InvalidRequest(format!(
            "limit must be between 1 and {max}"
        ))),
    }
}

/// The verbs, over one store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cairn {
    store: Arc<dyn Store>,
    config: Arc<ServiceConfig>,
    originals: OriginalCache,
    /// Blobs each tenant stored recently, so a re-put skips encoding. Per
    /// tenant: another tenant's copy must not make a put faster (timing is a
    /// channel too).
    known_blobs: Arc<quick_cache::sync::Cache<(TenantId, ContentHash), BlobInfo>>,
    /// The latest version record of hot keys.
    records: Arc<records::RecordCache>,
    /// Whether `records` may answer: not when other nodes write the same
    /// database ([`Store::shared`]), since a put acknowledged by another node
    /// must be read here at once.
    trust_latest: bool,
    /// Search over sessions and contexts, when enabled.
    search: Option<Arc<SearchIndex>>,
    /// Wakes the indexer when something was written.
    index_wake: Arc<tokio::sync::Notify>,
    /// Announces acknowledged puts to subscribers.
    events: events::PutEvents,
    /// Tokens through the proxy, per tenant, since start.
    proxy_traffic: Arc<proxy_traffic::ProxyTraffic>,
    /// Local ML (the embedder and its vectors), when a models directory is
    /// configured and loads.
    ml: Option<Arc<ml::Ml>>,
    /// Session imports and proxied recordings, one at a time: where a
    /// proxied conversation goes, and what a file replaces, depend on what
    /// is stored.
    session_writes: Arc<tokio::sync::Mutex<()>>,
    /// Default views rendered after the put ([`Cairn::run_view_renderer`]).
    views: Arc<views::Views>,
}

/// How many (tenant, blob) pairs [`Cairn`] remembers as stored (about 200
/// bytes each with the cache's bookkeeping).
const KNOWN_BLOBS: usize = 16 * 1024;

impl Cairn {
    pub fn new(store: Arc<dyn Store>, config: ServiceConfig) -> Cairn {
        let originals = OriginalCache::new(config.cache_bytes);
        let known_blobs = Arc::new(quick_cache::sync::Cache::new(KNOWN_BLOBS));
        let records = Arc::new(records::RecordCache::new());
        let trust_latest = !store.shared();
        Cairn {
            trust_latest,
            store,
            config: Arc::new(config),
            originals,
            known_blobs,
            records,
            search: None,
            index_wake: Arc::new(tokio::sync::Notify::new()),
            events: events::PutEvents::new(),
            proxy_traffic: Arc::default(),
            ml: None,
            session_writes: Arc::default(),
            views: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Stores `input.content` as the next version of `key`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, key = %key, bytes = input.content.len()))]
    pub async fn put(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        input: PutInput,
    ) -> Result<PutReceipt, ServiceError> {
        let agent = validate_label("agent", input.agent)?;
        let session = validate_label("session", input.session)?;
        let metadata = match input.metadata {
            None | Some(serde_json::Value::Null) => None,
            Some(value @ serde_json::Value::Object(_)) => Some(value.to_string()),
            Some(_) => {
                return Err(ServiceError::InvalidRequest(
                    "metadata must be a JSON object".into(),
                ));
            }
        };
        let ttl = input.ttl.or(self.config.default_ttl);
        if let Some(ttl) = ttl {
            check_ttl(ttl)?;
        }
        let content = input.content;
        let hash = hash_content(&content).await?;
        // A blob this tenant stored recently needs no encoding; the store says
        // so if it was collected since, and then we encode after all.
        let known = self.known_blobs.get(&(tenant.clone(), hash));
        let (blob, info, default_view, view_pending) = match known {
            Some(info) => (None, info, None, self.views.is_pending(tenant, hash)),
            // Busy: the view is left to the renderer (see `views.rs`).
            None if self.views.defer(self.config.views_after_put) => {
                let new = self.encode_original(hash, content.clone()).await?;
                let info = new.info();
                (Some(new), info, None, true)
            }
            None => {
                let _busy = self.views.busy();
                let (new, default) = self.encode_blob(hash, content.clone()).await?;
                let info = new.info();
                (Some(new), info, Some(default.view), false)
            }
        };
        if view_pending {
            self.views.mark_pending(tenant, hash);
        }
        let created_at = now_millis();
        let expires_at = ttl.map(|ttl| {
            created_at.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
        });
        let write = ContextWrite {
            tenant: tenant.clone(),
            key: key.clone(),
            hash,
            blob,
            agent: agent.clone(),
            session: session.clone(),
            metadata,
            created_at,
            expires_at,
        };
        // The write and the cache updates that follow it run on their own task:
        // if the client goes away, its request is dropped, but a write that
        // commits must still evict the key's cached record.
        let this = self.clone();
        let committed_info = info.clone();
        let outcome = tokio::spawn(
            async move {
                this.commit_put(write, content, committed_info, default_view)
                    .await
            }
            .instrument(tracing::Span::current()),
        )
        .await
        .map_err(|error| ServiceError::Internal(format!("the write task failed: {error}")))??;
        tracing::debug!(
            version = outcome.version,
            deduplicated = outcome.deduplicated,
            "put"
        );
        self.wake_indexer();
        if view_pending {
            self.queue_view(tenant, key, &info).await?;
        }
        let receipt = PutReceipt {
            key: key.to_string(),
            hash: hash.to_hex(),
            reference: hash.ccr_ref().to_string(),
            version: outcome.version,
            bytes: info.bytes_original,
            tokens_original: info.tokens_original,
            tokens_compressed: info.tokens_compressed,
            content_type: info.content_type,
            deduplicated: outcome.deduplicated,
            view_pending,
            expires_at: expires_at.map(format_millis),
        };
        self.announce_put(tenant, &receipt, agent, session, created_at);
        Ok(receipt)
    }

    /// Writes `write` (encoding the blob after all if the store no longer has
    /// it), then brings the caches in line with what committed.
    async fn commit_put(
        &self,
        write: ContextWrite,
        content: Bytes,
        info: BlobInfo,
        default_view: Option<RenderedView>,
    ) -> Result<PutOutcome, ServiceError> {
        let (tenant, key, hash) = (write.tenant.clone(), write.key.clone(), write.hash);
        let outcome = if write.blob.is_none() {
            let retry = write.clone();
            match self.store.put_context(write).await {
                Err(StoreError::BlobMissing(_)) => {
                    let (blob, _) = self.encode_blob(hash, content.clone()).await?;
                    self.store
                        .put_context(ContextWrite {
                            blob: Some(blob),
                            ..retry
                        })
                        .await
                }
                other => other,
            }
        } else {
            self.store.put_context(write).await
        };
        // Evicted whatever the outcome: a failed batch may still have committed
        // nothing, and a needless eviction only costs a read.
        self.records.evict(&tenant, &key);
        let outcome = outcome?;
        self.known_blobs.insert((tenant.clone(), hash), info);
        self.originals.insert(&tenant, hash, content);
        if let Some(view) = default_view {
            // The first GET of a fresh put finds its view ready.
            self.originals
                .insert_view(&tenant, hash, ViewOptions::default(), view);
        }
        Ok(outcome)
    }

    /// Measures and encodes an original for storage; its default view comes
    /// along (computed anyway for its token count).
    async fn encode_blob(
        &self,
        hash: ContentHash,
        content: Bytes,
    ) -> Result<(NewBlob, cairn_compress::Compressed), ServiceError> {
        let level = self.config.zstd_level;
        if content.len() <= INLINE_ENCODE_BYTES {
            return encode(hash, &content, level);
        }
        spawn_cpu(move || encode(hash, &content, level)).await?
    }

    /// Measures and encodes an original for storage, leaving its default
    /// view pending ([`StoredView::PENDING`]).
    async fn encode_original(
        &self,
        hash: ContentHash,
        content: Bytes,
    ) -> Result<NewBlob, ServiceError> {
        let level = self.config.zstd_level;
        if content.len() <= INLINE_ENCODE_BYTES {
            return encode_without_view(hash, &content, level);
        }
        spawn_cpu(move || encode_without_view(hash, &content, level)).await?
    }

    /// Reads a version of `key` (the latest by default) as the view `options` ask for.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, key = %key))]
    pub async fn get(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        options: GetOptions,
    ) -> Result<ContextContent, ServiceError> {
        let record = self
            .record(tenant, key, options.version)
            .await?
            .ok_or_else(|| match options.version {
                Some(version) => {
                    ServiceError::NotFound(format!("key `{key}` has no version {version}"))
                }
                None => ServiceError::NotFound(format!("no context under key `{key}`")),
            })?;
        if record.is_expired(now_millis()) {
            return Err(ServiceError::Expired(format!(
                "key `{key}` version {} expired at {}",
                record.version,
                format_millis(record.expires_at.unwrap_or_default())
            )));
        }
        if let Some(query) = &options.query {
            check_query(query)?;
        }
        let view_options = ViewOptions {
            view: options.view,
            query: options.query,
            max_tokens: options.max_tokens,
        };
        let rendered = self.view(tenant, &record.blob, view_options).await?;
        let (content, tokens, markers) = match rendered.as_ref() {
            RenderedView::Original => (
                self.original(tenant, &record.blob).await?,
                record.blob.tokens_original,
                Vec::new(),
            ),
            RenderedView::Rendered {
                content,
                tokens,
                markers,
            } => (
                Bytes::copy_from_slice(content.as_bytes()),
                *tokens,
                markers.clone(),
            ),
        };
        Ok(ContextContent {
            record,
            view: options.view,
            content,
            tokens,
            markers,
        })
    }

    /// The original a `ccr:` reference names, or the part `selection` asks for.
    pub async fn retrieve_selected(
        &self,
        tenant: &TenantId,
        reference: &str,
        selection: Option<Selection>,
    ) -> Result<(Retrieved, Option<Part>), ServiceError> {
        match selection {
            None => Ok((self.retrieve(tenant, reference).await?, None)),
            Some(selection) => {
                let (retrieved, part) = self.retrieve_part(tenant, reference, selection).await?;
                Ok((retrieved, Some(part)))
            }
        }
    }

    /// A part of the original a `ccr:` reference names: lines (or JSON array
    /// items) by position, or those matching a query.
    pub async fn retrieve_part(
        &self,
        tenant: &TenantId,
        reference: &str,
        selection: Selection,
    ) -> Result<(Retrieved, Part), ServiceError> {
        if let Selection::Query(query) = &selection {
            check_query(query)?;
        }
        let retrieved = self.retrieve(tenant, reference).await?;
        let content = retrieved.content.clone();
        let part = spawn_cpu(move || select::select(&content, &selection)).await??;
        Ok((retrieved, part))
    }

    /// A version of `key`, the latest from the record cache when it has it.
    async fn record(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        version: Option<i64>,
    ) -> Result<Option<ContextRecord>, ServiceError> {
        if version.is_some() || !self.trust_latest {
            return Ok(self.store.get_context(tenant, key, version).await?);
        }
        // An expired record is read again: `cairn gc`, in another process,
        // may have removed it (gc removes nothing that has not expired).
        if let Some(record) = self.records.get(tenant, key)
            && !record.is_expired(now_millis())
        {
            return Ok(Some(record));
        }
        let epoch = self.records.epoch();
        let record = self.store.get_context(tenant, key, None).await?;
        if let Some(record) = &record {
            self.records.insert(tenant, key, record.clone(), epoch);
        }
        Ok(record)
    }

    /// The original a `ccr:` reference names, if this tenant references it.
    pub async fn retrieve(
        &self,
        tenant: &TenantId,
        reference: &str,
    ) -> Result<Retrieved, ServiceError> {
        let parsed = CcrRef::parse(reference)?;
        let blob = self
            .store
            .resolve_ref(tenant, &parsed)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("nothing stored under {parsed}")))?;
        let content = self.original(tenant, &blob).await?;
        Ok(Retrieved { blob, content })
    }

    /// The rendered view of a blob, from the cache or rendered now.
    async fn view(
        &self,
        tenant: &TenantId,
        blob: &BlobInfo,
        options: ViewOptions,
    ) -> Result<Arc<RenderedView>, ServiceError> {
        if options.view == View::Full {
            return Ok(Arc::new(RenderedView::Original));
        }
        if let Some(view) = self.originals.view(tenant, blob.hash, &options) {
            return Ok(view);
        }
        if options == ViewOptions::default() {
            return match self.stored_view(tenant, blob).await? {
                Some(view) => Ok(self.originals.insert_view(tenant, blob.hash, options, view)),
                // Pending, or stored by an older engine.
                None => self.render_for_get(tenant, blob).await,
            };
        }
        let original = self.original(tenant, blob).await?;
        let (hash, media_type, tokens_original) =
            (blob.hash, blob.content_type.clone(), blob.tokens_original);
        let render_options = options.clone();
        // With ML on, prose sentences are scored by meaning too.
        let scorer = options
            .query
            .as_ref()
            .and(self.ml.as_ref())
            .map(|ml| ml::ProseScorer(ml.embedder().clone()));
        let view = spawn_cpu(move || {
            cairn_compress::render_view_scored(
                &original,
                &hash,
                &media_type,
                &render_options,
                Some(tokens_original),
                scorer
                    .as_ref()
                    .map(|scorer| scorer as &dyn cairn_compress::SentenceScorer),
            )
        })
        .await?;
        Ok(self.originals.insert_view(tenant, hash, options, view))
    }

    /// The default view stored with a blob at put, if the engine that stored
    /// it is this one.
    async fn stored_view(
        &self,
        tenant: &TenantId,
        blob: &BlobInfo,
    ) -> Result<Option<RenderedView>, ServiceError> {
        let Some(stored) = self.store.default_view(tenant, &blob.hash).await? else {
            return Ok(None);
        };
        // The count stored with the view: `blob` may have been read while
        // the view was pending.
        let tokens = stored.tokens_compressed;
        let stored = stored.view;
        if stored.engine != cairn_compress::ENGINE_VERSION {
            return Ok(None);
        }
        let Some(rendered) = stored.rendered else {
            return Ok(Some(RenderedView::Original));
        };
        let damaged = |what: String| {
            ServiceError::Internal(format!("the stored view of {}: {what}", blob.hash))
        };
        let content = match rendered.encoding {
            Encoding::Identity => rendered.data,
            Encoding::Zstd => decompress_zstd(&rendered.data, MAX_VIEW_BYTES)
                .map_err(|error| damaged(error.to_string()))?,
        };
        let content = String::from_utf8(content).map_err(|error| damaged(error.to_string()))?;
        let markers =
            serde_json::from_str(&rendered.markers).map_err(|error| damaged(error.to_string()))?;
        Ok(Some(RenderedView::Rendered {
            content,
            tokens,
            markers,
        }))
    }

    /// The decoded original of a blob, from the cache or the store.
    async fn original(&self, tenant: &TenantId, blob: &BlobInfo) -> Result<Bytes, ServiceError> {
        if let Some(bytes) = self.originals.get(tenant, &blob.hash) {
            return Ok(bytes);
        }
        let encoded = self
            .store
            .blob_data(tenant, &blob.hash)
            .await?
            .ok_or_else(|| {
                // The row that named the blob was read a moment ago; a concurrent
                // delete took it since.
                ServiceError::NotFound(format!("nothing stored under {}", blob.hash.ccr_ref()))
            })?;
        let hash = blob.hash;
        let bytes = spawn_cpu(move || decode_blob(encoded)).await??;
        self.originals.insert(tenant, hash, bytes.clone());
        Ok(bytes)
    }

    /// Live keys, a page at a time.
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: ListQuery,
    ) -> Result<ContextList, ServiceError> {
        let limit = page_limit(query.limit, DEFAULT_PAGE, MAX_PAGE)?;
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let filter = ListFilter {
            prefix: query.prefix.filter(|prefix| !prefix.is_empty()),
            agent: query.agent,
            session: query.session,
            content_type: query.content_type,
            since: query.since.as_deref().map(parse_time).transpose()?,
            after,
            limit: limit + 1,
        };
        let mut records = self
            .store
            .list_contexts(tenant, &filter, now_millis())
            .await?;
        let next_cursor = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|last| encode_cursor(&last.key))
        } else {
            None
        };
        let items = records.into_iter().map(summary).collect();
        Ok(ContextList { items, next_cursor })
    }

    /// Deletes every version of `key`.
    pub async fn delete(&self, tenant: &TenantId, key: &ContextKey) -> Result<u64, ServiceError> {
        // On its own task for the same reason as a put's write: a delete that
        // commits must evict, whether or not its client is still there.
        let this = self.clone();
        let (tenant, key) = (tenant.clone(), key.clone());
        tokio::spawn(
            async move {
                let deleted = this.store.delete_context(&tenant, &key).await;
                this.records.evict(&tenant, &key);
                if matches!(deleted, Ok(versions) if versions > 0) {
                    this.unindex_context(&tenant, key.as_str()).await;
                }
                // Blobs the delete released must not look stored to this tenant.
                this.known_blobs.retain(|(owner, _), _| *owner != tenant);
                match deleted? {
                    0 => Err(ServiceError::NotFound(format!(
                        "no context under key `{key}`"
                    ))),
                    versions => Ok(versions),
                }
            }
            .instrument(tracing::Span::current()),
        )
        .await
        .map_err(|error| ServiceError::Internal(format!("the delete task failed: {error}")))?
    }

    pub async fn stats(&self, tenant: &TenantId) -> Result<Stats, ServiceError> {
        let stats = self.store.stats(tenant, now_millis()).await?;
        let dedup_ratio = if stats.bytes_stored == 0 {
            1.0
        } else {
            stats.bytes_original as f64 / stats.bytes_stored as f64
        };
        Ok(Stats {
            contexts: stats.contexts,
            versions: stats.versions,
            blobs: stats.blobs,
            bytes_original: stats.bytes_original,
            bytes_unique: stats.bytes_unique,
            bytes_stored: stats.bytes_stored,
            dedup_ratio,
            tokens_original: stats.tokens_original,
            tokens_compressed: stats.tokens_compressed,
            tokens_saved: stats
                .tokens_original
                .saturating_sub(stats.tokens_compressed),
            views_pending: stats.views_pending,
            proxy: self.proxy_traffic.stats(tenant),
        })
    }

    /// What this tenant's agents put and imported over the last `days` days
    /// (today included), by day, agent and content type, and what the proxy
    /// saved for each provider.
    pub async fn activity(&self, tenant: &TenantId, days: u32) -> Result<Activity, ServiceError> {
        const DAY: i64 = 86_400_000;
        if !(1..=366).contains(&days) {
            return Err(ServiceError::InvalidRequest(format!(
                "days is 1 to 366, not {days}"
            )));
        }
        let today = now_millis().div_euclid(DAY);
        let first = today - i64::from(days) + 1;
        let activity = self.store.activity(tenant, first * DAY).await?;
        let date = |day: i64| format_millis(day * DAY)[..10].to_owned();
        Ok(Activity {
            since: date(first),
            contexts: activity
                .contexts
                .into_iter()
                .map(|row| ContextActivity {
                    day: date(row.day),
                    agent: row.agent,
                    content_type: row.content_type,
                    versions: row.versions,
                    tokens_saved: row.tokens_original.saturating_sub(row.tokens_compressed),
                    tokens_original: row.tokens_original,
                    tokens_compressed: row.tokens_compressed,
                })
                .collect(),
            sessions: activity
                .sessions
                .into_iter()
                .map(|row| SessionActivity {
                    day: date(row.day),
                    agent: row.agent,
                    sessions: row.sessions,
                    messages: row.messages,
                })
                .collect(),
            sessions_total: activity.sessions_total,
            messages_total: activity.messages_total,
            proxy: self.proxy_traffic.by_provider(tenant),
        })
    }

    /// Removes expired versions and whatever nothing references any more.
    pub async fn gc(&self) -> Result<GcReport, ServiceError> {
        let report = self.store.gc(now_millis()).await?;
        if report.deleted_blobs > 0 {
            self.originals.clear();
            self.known_blobs.clear();
        }
        if report.expired_versions > 0 {
            self.records.clear();
        }
        Ok(report)
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        self.store
            .ping()
            .await
            .map_err(|error| ServiceError::Unavailable(error.to_string()))
    }
}

/// Bodies up to this size are encoded on the async worker: their encoding
/// (about 10 µs a KiB, mostly token counting) costs less than handing them to
/// the blocking pool and back.
const INLINE_ENCODE_BYTES: usize = 16 * 1024;

/// Measures and encodes an original for storage, with its default view (the
/// engine's result, kind included, so a caller can reuse it).
pub(crate) fn encode(
    hash: ContentHash,
    content: &Bytes,
    level: i32,
) -> Result<(NewBlob, cairn_compress::Compressed), ServiceError> {
    let mut blob = encode_without_view(hash, content, level)?;
    let (rendered, view) = render_default(hash, content, blob.tokens_original, level)?;
    blob.tokens_compressed = rendered.tokens_compressed;
    blob.view = rendered.view;
    Ok((blob, view))
}

/// An original measured and encoded for storage, its default view pending.
fn encode_without_view(
    hash: ContentHash,
    content: &Bytes,
    level: i32,
) -> Result<NewBlob, ServiceError> {
    let kind = sniff(content);
    let tokens_original = tokens::count_bytes(content);
    let compressed = compress_zstd(content, level)
        .map_err(|error| ServiceError::Internal(format!("zstd compression failed: {error}")))?;
    // Keep whichever is smaller: incompressible data (already compressed
    // images, archives) is stored as it is.
    let (encoding, data) = if compressed.len() < content.len() {
        (Encoding::Zstd, compressed)
    } else {
        (Encoding::Identity, content.to_vec())
    };
    Ok(NewBlob {
        hash,
        bytes_original: content.len() as u64,
        content_type: kind.media_type().to_owned(),
        tokens_original,
        tokens_compressed: tokens_original,
        encoding,
        data,
        view: StoredView::PENDING,
    })
}

/// Renders an original's default view: as stored, and as the engine gave it.
pub(crate) fn render_default(
    hash: ContentHash,
    content: &Bytes,
    tokens_original: u64,
    level: i32,
) -> Result<(RenderedDefault, cairn_compress::Compressed), ServiceError> {
    let kind = sniff(content);
    let default = cairn_compress::compress(
        content,
        &hash,
        &cairn_compress::Options {
            hint: kind.is_binary().then_some(Kind::Binary),
            tokens_original: Some(tokens_original),
            ..cairn_compress::Options::default()
        },
    );
    let (tokens_compressed, rendered) = match &default.view {
        RenderedView::Original => (tokens_original, None),
        RenderedView::Rendered {
            content,
            tokens,
            markers,
        } => (
            *tokens,
            Some(StoredRendering {
                encoding: Encoding::Zstd,
                data: compress_zstd(content.as_bytes(), level).map_err(|error| {
                    ServiceError::Internal(format!("zstd compression failed: {error}"))
                })?,
                markers: serde_json::to_string(markers).map_err(|error| {
                    ServiceError::Internal(format!("markers do not serialize: {error}"))
                })?,
            }),
        ),
    };
    let stored = RenderedDefault {
        hash,
        tokens_compressed,
        view: StoredView {
            engine: cairn_compress::ENGINE_VERSION,
            rendered,
        },
    };
    Ok((stored, default))
}

/// zstd with a compression context kept per thread and level, instead of a
/// new one (and its allocations) per blob.
fn compress_zstd(content: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|(cached, _)| *cached != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot {
            Some((_, compressor)) => compressor.compress(content),
            None => zstd::bulk::compress(content, level),
        }
    })
}

/// The largest default view decoded in one allocation (a view is at most
/// about its original's size; larger frames are decoded as a stream).
const MAX_VIEW_BYTES: u64 = 64 * 1024 * 1024;

/// A zstd frame decoded with a decompression context kept per thread: a new
/// context per read (as `zstd::stream::decode_all` makes) costs its
/// allocation and zeroed window on every GET of a stored view. The size the
/// frame declares is trusted up to `limit` (decoding fails if the frame
/// holds more); a frame that declares none, or more, is decoded as a stream,
/// which allocates only what the data really decodes to.
fn decompress_zstd(data: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let declared = match zstd::zstd_safe::get_frame_content_size(data) {
        Ok(Some(size)) if size <= limit => usize::try_from(size).ok(),
        _ => None,
    };
    let Some(size) = declared else {
        return zstd::stream::decode_all(data);
    };
    DECOMPRESSOR.with_borrow_mut(|slot| {
        let decompressor = match slot {
            Some(decompressor) => decompressor,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(data, size)
    })
}

async fn hash_content(content: &Bytes) -> Result<ContentHash, ServiceError> {
    // BLAKE3 runs at GB/s: small bodies are cheaper to hash in place than to
    // hand to another thread.
    const INLINE_HASH_BYTES: usize = 256 * 1024;
    if content.len() <= INLINE_HASH_BYTES {
        return Ok(ContentHash::of(content));
    }
    let content = content.clone();
    spawn_cpu(move || ContentHash::of(&content)).await
}

fn decode_blob(encoded: EncodedBlob) -> Result<Bytes, ServiceError> {
    let hash = encoded.info.hash;
    let bytes = match encoded.encoding {
        Encoding::Identity => encoded.data,
        // A damaged size in the row or the frame cannot make us allocate
        // more than the row says the original is.
        Encoding::Zstd => {
            decompress_zstd(&encoded.data, encoded.info.bytes_original).map_err(|error| {
                ServiceError::Internal(format!("blob {hash} does not decode: {error}"))
            })?
        }
    };
    if bytes.len() as u64 != encoded.info.bytes_original || ContentHash::of(&bytes) != hash {
        return Err(ServiceError::Internal(format!(
            "blob {hash} does not match its hash; the database is damaged"
        )));
    }
    Ok(Bytes::from(bytes))
}

pub(crate) fn validate_label(
    what: &str,
    label: Option<String>,
) -> Result<Option<String>, ServiceError> {
    let Some(label) = label.filter(|label| !label.is_empty()) else {
        return Ok(None);
    };
    if label.len() > MAX_LABEL_BYTES {
        return Err(ServiceError::InvalidRequest(format!(
            "{what} is {} bytes long; the limit is {MAX_LABEL_BYTES}",
            label.len()
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ServiceError::InvalidRequest(format!(
            "{what} contains a control character"
        )));
    }
    Ok(Some(label))
}

fn summary(record: ContextRecord) -> ContextSummary {
    ContextSummary {
        key: record.key,
        version: record.version,
        hash: record.blob.hash.to_hex(),
        reference: record.blob.hash.ccr_ref().to_string(),
        bytes: record.blob.bytes_original,
        tokens_original: record.blob.tokens_original,
        tokens_compressed: record.blob.tokens_compressed,
        content_type: record.blob.content_type,
        agent: record.agent,
        session: record.session,
        created_at: format_millis(record.created_at),
        expires_at: record.expires_at.map(format_millis),
    }
}

fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &str) -> Result<String, ServiceError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ServiceError::InvalidRequest("cursor is not one this server handed out".into())
        })
}

#[cfg(test)]
mod tests {
    use super::{compress_zstd, decompress_zstd};

    #[test]
    fn zstd_frames_decode_with_a_reused_context_or_as_a_stream() {
        let text = "2026-12-05 09:00:00 INFO worker 3 done\n".repeat(500);
        let framed = compress_zstd(text.as_bytes(), 3).expect("compressed");
        for _ in 0..3 {
            let decoded = decompress_zstd(&framed, 1 << 20).expect("decoded");
            assert_eq!(decoded, text.as_bytes());
        }
        // Declaring more than the limit: decoded as a stream all the same.
        let decoded = decompress_zstd(&framed, 10).expect("decoded as a stream");
        assert_eq!(decoded, text.as_bytes());
        // A streamed frame declares no size.
        let streamed = zstd::stream::encode_all(text.as_bytes(), 3).expect("compressed");
        let decoded = decompress_zstd(&streamed, 1 << 20).expect("decoded");
        assert_eq!(decoded, text.as_bytes());
        assert!(decompress_zstd(b"not a zstd frame", 1 << 20).is_err());
        let mut cut = framed.clone();
        cut.truncate(framed.len() / 2);
        assert!(decompress_zstd(&cut, 1 << 20).is_err());
    }
}
