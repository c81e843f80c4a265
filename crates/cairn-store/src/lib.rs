//! Cairn's storage: the [`Store`] trait every backend implements, and the
//! SQLite backend (WAL) that is the embedded default.
//!
//! Architecture invariant: SQL lives in this crate only. Callers hand the store
//! originals already hashed and encoded ([`NewBlob`]); the store never runs the
//! compression engine, so CPU work stays out of database transactions.
//!
//! API boundary: depends on `cairn-types` and `cairn-core` only; nothing here
//! reads configuration or the environment.

mod error;
mod sqlite;

use async_trait::async_trait;
use cairn_core::{CcrRef, ContentHash};
use cairn_types::{ContextKey, TenantId};

pub use error::StoreError;
pub use sqlite::{SqliteOptions, SqliteStore};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The backend every surface stores through. Every method is scoped by tenant.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// The stored facts about a blob this tenant references, without its data.
    async fn blob_info(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
    ) -> Result<Option<BlobInfo>, StoreError>;

    /// Whether any tenant stored these bytes already, so the caller can skip
    /// encoding them. Never shown to a client (see [`PutOutcome::deduplicated`]).
    async fn blob_exists(&self, hash: &ContentHash) -> Result<bool, StoreError>;

    /// Stores a new version of `key`: the blob (once, if absent), the tenant's
    /// reference to it and the context row, in one transaction.
    async fn put_context(&self, put: NewContext<'_>) -> Result<PutOutcome, StoreError>;

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

    /// Removes versions expired at `now`, then references and blobs nothing uses.
    async fn gc(&self, now: Millis) -> Result<GcReport, StoreError>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flushes and closes; further calls fail.
    async fn close(&self);
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

/// What [`Store::put_context`] needs. `blob` is `None` when the caller knows the
/// blob exists already ([`Store::blob_exists`]); if it vanished meanwhile (a
/// concurrent gc), the put fails with [`StoreError::BlobMissing`] and the
/// caller retries with the blob.
#[derive(Debug, Clone)]
pub struct NewContext<'a> {
    pub tenant: &'a TenantId,
    pub key: &'a ContextKey,
    pub hash: ContentHash,
    pub blob: Option<&'a NewBlob>,
    pub agent: Option<&'a str>,
    pub session: Option<&'a str>,
    /// A JSON object, already serialized.
    pub metadata: Option<&'a str>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub version: i64,
    pub blob: BlobInfo,
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
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub expired_versions: u64,
    pub released_references: u64,
    pub deleted_blobs: u64,
    pub bytes_freed: u64,
}
