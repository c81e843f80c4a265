//! Cairn's storage: the [`Store`] trait every backend implements, the
//! SQLite backend (WAL) that is the embedded default, and the PostgreSQL
//! backend that several nodes share.
//!
//! Architecture invariant: SQL lives in this crate only. Callers hand the store
//! originals already hashed and encoded ([`NewBlob`]); the store never runs the
//! compression engine, so CPU work stays out of database transactions.
//!
//! API boundary: depends on `cairn-types` and `cairn-core` only; nothing here
//! reads configuration or the environment.

mod activity;
mod backend;
mod contexts;
mod embeddings;
mod error;
mod merge;
mod postgres;
mod sessions;
mod sqlite;
mod views;
mod writer;

use async_trait::async_trait;
use cairn_core::{CcrRef, ContentHash};
use cairn_types::{ContextKey, TenantId};

pub use error::StoreError;
pub use merge::{Origin, PROXY_UID, conversation_answers, message_anchor, new_message_anchor};
pub use postgres::{FEED_CHANNEL, PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteStore};

/// `sql`, written with `$n` placeholders, as `DB` reads it: SQLite's numbered
/// form is `?n` (there `$n` would name a parameter).
pub(crate) fn sql_for<DB: sqlx::Database>(sql: &str) -> std::borrow::Cow<'_, str> {
    if DB::NAME == <sqlx::Sqlite as sqlx::Database>::NAME {
        sql.replace('$', "?").into()
    } else {
        sql.into()
    }
}

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The backend every surface stores through. Every method is scoped by tenant.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a new version of a key and returns its number: the blob (once,
    /// if absent), the tenant's reference to it and the context row, in one
    /// transaction. Concurrent puts may share a transaction (group commit);
    /// each is acknowledged only once its transaction is durable.
    async fn put_context(&self, put: ContextWrite) -> Result<PutOutcome, StoreError>;

    /// Keeps `blob` for `tenant` until `expires_at` without a key: the
    /// original of a cut made outside a context (stateless compression).
    /// Retaining it again extends its time.
    async fn retain_blob(
        &self,
        tenant: &TenantId,
        blob: &NewBlob,
        created_at: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError>;

    /// A version of a key (the latest when `version` is `None`), expired or not.
    async fn get_context(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        version: Option<i64>,
    ) -> Result<Option<ContextRecord>, StoreError>;

    /// The encoded data of a blob this tenant references.
    async fn blob_data(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<EncodedBlob>, StoreError>;

    /// The stored default view of a blob this tenant references, with its
    /// token count.
    async fn default_view(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<RenderedDefault>, StoreError>;

    /// The blob a `ccr:` reference names, if this tenant references it.
    async fn resolve_ref(
        &self,
        tenant: &TenantId,
        reference: &CcrRef,
    ) -> Result<Option<BlobInfo>, StoreError>;

    /// Live keys (latest version not expired at `now`) in key order.
    async fn list_contexts(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        now: Millis,
    ) -> Result<Vec<ContextRecord>, StoreError>;

    /// Deletes every version of a key; drops the tenant's reference to blobs
    /// nothing of theirs references any more, and blobs nobody references.
    /// Returns the number of versions deleted.
    async fn delete_context(&self, tenant: &TenantId, key: &ContextKey) -> Result<u64, StoreError>;

    async fn stats(&self, tenant: &TenantId, now: Millis) -> Result<StoreStats, StoreError>;

    /// What was put and imported from `since` on, by day (UTC), agent and
    /// content type: the numbers behind the dashboard's charts.
    async fn activity(&self, tenant: &TenantId, since: Millis)
    -> Result<StoreActivity, StoreError>;

    /// Removes versions and retentions expired at `now`, then references and
    /// blobs nothing uses.
    async fn gc(&self, now: Millis) -> Result<GcReport, StoreError>;

    /// Stores imported sessions and their messages in one transaction: a
    /// session is created or widened (times, missing project and title), a
    /// message whose `uid` the session already holds with the same body is
    /// skipped, with another body it is replaced in place (a newer copy of
    /// the same record), and a new one goes at the end of its session.
    async fn import_sessions(
        &self,
        tenant: &TenantId,
        import: &SessionImport,
        now: Millis,
    ) -> Result<ImportOutcome, StoreError>;

    /// Sessions, most recently updated first.
    async fn list_sessions(
        &self,
        tenant: &TenantId,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    async fn get_session(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// The sessions stored under this agent and thread key (conversations
    /// that began with the same prompt): those an agent's file brought
    /// first, then proxied ones, oldest first.
    async fn find_thread(
        &self,
        tenant: &TenantId,
        agent: &str,
        thread_key: &str,
    ) -> Result<Vec<String>, StoreError>;

    /// A session's messages from `from` (a position) on, in order.
    async fn session_messages(
        &self,
        tenant: &TenantId,
        id: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError>;

    /// Every tenant's messages inserted after `seq`, in insertion order:
    /// what the search indexer reads.
    async fn messages_after(&self, seq: i64, limit: u32)
    -> Result<Vec<IndexedMessage>, StoreError>;

    /// The latest insertion sequence number (0 when there are no messages).
    async fn last_message_seq(&self) -> Result<i64, StoreError>;

    /// Every tenant's context versions stored after row `seq`, in order:
    /// what the search indexer reads.
    async fn contexts_after(&self, seq: i64, limit: u32)
    -> Result<Vec<IndexedContext>, StoreError>;

    /// The latest context feed number (0 when nothing was ever put): where a
    /// reader that wants only what comes next starts [`Store::contexts_after`].
    async fn last_context_seq(&self) -> Result<i64, StoreError>;

    /// Stores sentence embeddings of `model` (replacing a document's earlier
    /// vector) and, in the same transaction, how far its embedder has got.
    async fn put_embeddings(
        &self,
        model: &str,
        embeddings: &[Embedding],
        progress: EmbeddingProgress,
    ) -> Result<(), StoreError>;

    /// How far the embedder of `model` has got (`None`: not started).
    async fn embedding_progress(
        &self,
        model: &str,
    ) -> Result<Option<EmbeddingProgress>, StoreError>;

    /// The vectors of `model` whose document id sorts after `after`, in id
    /// order, at most `limit`: pages to load them all at start.
    async fn embeddings(
        &self,
        model: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<Embedding>, StoreError>;

    /// Stores default views rendered after their puts (a put may leave its
    /// blob's view pending: [`StoredView::PENDING`]), in one transaction.
    async fn store_views(&self, views: &[RenderedDefault]) -> Result<(), StoreError>;

    /// Up to `limit` blobs stored before `created_before` whose default view
    /// is pending, oldest first: what the background renderer picks up after
    /// a restart, or that a node stopped before rendering.
    async fn pending_views(
        &self,
        limit: u32,
        created_before: Millis,
    ) -> Result<Vec<EncodedBlob>, StoreError>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flushes and closes; further calls fail.
    async fn close(&self);

    /// Whether other processes (other nodes) write to this database, so that
    /// what this process last wrote or read may be stale at once: a cache of
    /// latest versions must not be trusted.
    fn shared(&self) -> bool {
        false
    }

    /// Changes whenever another process wrote to a feed ([`Store::messages_after`],
    /// [`Store::contexts_after`]), and after a lost connection was restored
    /// (what was sent meanwhile is lost, so look). `None`: nothing tells.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// An original ready to store: hashed, measured and encoded by the caller.
#[derive(Debug, Clone)]
pub struct NewBlob {
    pub hash: ContentHash,
    pub bytes_original: u64,
    pub content_type: String,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
    pub encoding: Encoding,
    pub data: Vec<u8>,
    /// The default view, stored with the blob.
    pub view: StoredView,
}

/// A blob's default view as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredView {
    /// The compression engine's version that rendered it (0: none stored).
    pub engine: u32,
    /// `None`: the view is the original itself.
    pub rendered: Option<StoredRendering>,
}

impl StoredView {
    /// No view stored yet: the put left it to the background renderer (the
    /// blob's `tokens_compressed` is its `tokens_original` meanwhile).
    pub const PENDING: StoredView = StoredView {
        engine: 0,
        rendered: None,
    };

    pub fn is_pending(&self) -> bool {
        self.engine == 0
    }
}

/// A blob's default view and its token count: rendered after its put, for
/// [`Store::store_views`], or as [`Store::default_view`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDefault {
    pub hash: ContentHash,
    pub tokens_compressed: u64,
    pub view: StoredView,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRendering {
    pub encoding: Encoding,
    pub data: Vec<u8>,
    /// The markers, a JSON array.
    pub markers: String,
}

impl NewBlob {
    /// The facts the store will record for this blob.
    pub fn info(&self) -> BlobInfo {
        BlobInfo {
            hash: self.hash,
            bytes_original: self.bytes_original,
            bytes_stored: self.data.len() as u64,
            content_type: self.content_type.clone(),
            tokens_original: self.tokens_original,
            tokens_compressed: self.tokens_compressed,
        }
    }
}

/// How a blob's data is encoded at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Identity,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Identity => "identity",
        }
    }

    pub fn parse(name: &str) -> Result<Encoding, StoreError> {
        match name {
            "zstd" => Ok(Encoding::Zstd),
            "identity" => Ok(Encoding::Identity),
            other => Err(StoreError::Corrupt(format!(
                "unknown blob encoding {other:?}"
            ))),
        }
    }
}

/// What [`Store::put_context`] stores. `blob` may be `None` when the caller
/// knows the blob is stored already; if it is not (collected meanwhile), the
/// put fails with [`StoreError::BlobMissing`] and the caller retries with it.
#[derive(Debug, Clone)]
pub struct ContextWrite {
    pub tenant: TenantId,
    pub key: ContextKey,
    pub hash: ContentHash,
    pub blob: Option<NewBlob>,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// A JSON object, already serialized.
    pub metadata: Option<String>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    pub version: i64,
    /// Whether this tenant referenced these bytes before this put. Whether
    /// another tenant did is never reported (SPEC invariant 6).
    pub deduplicated: bool,
}

/// The stored facts about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub hash: ContentHash,
    pub bytes_original: u64,
    pub bytes_stored: u64,
    pub content_type: String,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
}

/// A blob's data as stored.
#[derive(Debug, Clone)]
pub struct EncodedBlob {
    pub info: BlobInfo,
    pub encoding: Encoding,
    pub data: Vec<u8>,
}

/// One version of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRecord {
    pub key: String,
    pub version: i64,
    pub blob: BlobInfo,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub metadata: Option<String>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

impl ContextRecord {
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Which keys [`Store::list_contexts`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub prefix: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Only latest versions of this media type.
    pub content_type: Option<String>,
    /// Only latest versions written at or after this instant.
    pub since: Option<Millis>,
    /// Only keys strictly after this one.
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub contexts: u64,
    pub versions: u64,
    pub blobs: u64,
    pub bytes_original: u64,
    pub bytes_unique: u64,
    pub bytes_stored: u64,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
    /// This tenant's blobs whose default view is still being rendered.
    pub views_pending: u64,
}

/// [`Store::activity`]: contexts and sessions by day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreActivity {
    pub contexts: Vec<ContextActivity>,
    pub sessions: Vec<SessionActivity>,
    /// Every session and message of the tenant, whenever they started.
    pub sessions_total: u64,
    pub messages_total: u64,
}

/// The versions one agent put on one day, of one content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextActivity {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub agent: Option<String>,
    pub content_type: String,
    pub versions: u64,
    pub tokens_original: u64,
    pub tokens_compressed: u64,
}

/// The sessions of one agent that started on one day, and their messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionActivity {
    pub day: i64,
    pub agent: String,
    pub sessions: u64,
    pub messages: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub expired_versions: u64,
    /// Retained originals whose time ran out.
    pub expired_retentions: u64,
    pub released_references: u64,
    pub deleted_blobs: u64,
    pub bytes_freed: u64,
}

/// One imported session as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub agent: String,
    pub project: Option<String>,
    pub title: Option<String>,
    pub parent: Option<String>,
    pub started_at: Option<Millis>,
    pub updated_at: Option<Millis>,
    /// The agent and its first real prompt, hashed: the conversations that
    /// began alike, among which a proxied copy without the agent's session
    /// id finds its file's session (by the model's answers), and the other
    /// way.
    pub thread_key: Option<String>,
}

/// A message's body: inline text, or a blob (tool outputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageBody {
    Text(String),
    Blob(ContentHash),
}

/// One imported message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub session: String,
    pub uid: String,
    pub role: String,
    pub tool: Option<String>,
    pub call_id: Option<String>,
    pub at: Option<Millis>,
    pub injected: bool,
    pub body: MessageBody,
}

/// What [`Store::import_sessions`] stores: `blobs` holds every blob a
/// message's body names (stored once, referenced by the tenant). `origin`
/// says whether the messages come from an agent's file or the proxy, which
/// decides how the two copies of one conversation merge (see `merge.rs`).
#[derive(Debug, Clone, Default)]
pub struct SessionImport {
    pub origin: Origin,
    pub sessions: Vec<SessionRow>,
    pub messages: Vec<NewMessage>,
    pub blobs: Vec<NewBlob>,
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub sessions_created: u64,
    pub messages_added: u64,
    pub messages_replaced: u64,
    pub messages_unchanged: u64,
    /// Positions (session, position) that held a message and hold none
    /// now: a proxied copy the file replaced. The search index drops them.
    pub freed: Vec<(String, u64)>,
}

/// An import's messages as rows, grouped by session in order of first
/// appearance, each group in import order.
pub(crate) fn by_session(import: &SessionImport) -> Vec<(&str, Vec<merge::Row>)> {
    let mut groups: Vec<(&str, Vec<merge::Row>)> = Vec::new();
    for message in &import.messages {
        let row = merge::Row::from_message(message);
        match groups
            .iter_mut()
            .find(|(session, _)| *session == message.session)
        {
            Some((_, rows)) => rows.push(row),
            None => groups.push((&message.session, vec![row])),
        }
    }
    groups
}

/// Which sessions [`Store::list_sessions`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub agent: Option<String>,
    /// A folder: sessions whose project is it or lies under it.
    pub project: Option<String>,
    /// Only sessions updated at or after this time.
    pub since: Option<Millis>,
    /// Only sessions after this one in the listing's order (the cursor): its
    /// update time and id.
    pub after: Option<(Millis, String)>,
    pub limit: u32,
}

/// A session and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub row: SessionRow,
    pub messages: u64,
    pub tool_calls: u64,
    pub imported_at: Millis,
}

/// One message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub seq: i64,
    pub position: u64,
    pub uid: String,
    pub role: String,
    pub tool: Option<String>,
    pub call_id: Option<String>,
    pub at: Option<Millis>,
    pub injected: bool,
    pub body: MessageBody,
}

/// A message with what the search index files it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedMessage {
    pub tenant: String,
    pub session: String,
    pub agent: String,
    pub project: Option<String>,
    pub message: MessageRecord,
}

/// A context version with what the search index files it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedContext {
    pub seq: i64,
    pub tenant: String,
    pub record: ContextRecord,
}

/// A sentence embedding of one search document (a message or a context).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The search document's id.
    pub doc: String,
    pub tenant: String,
    pub vector: Vec<f32>,
}

/// How far an embedder has followed the feeds: the last message sequence
/// number and context feed number it has embedded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbeddingProgress {
    pub message: i64,
    pub context: i64,
}
