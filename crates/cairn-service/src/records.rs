//! A cache of each key's latest version record, so a hot GET skips the
//! database.
//!
//! Correctness against concurrent writes: a writer bumps `epoch` and evicts
//! the key after its commit; a reader that missed notes the epoch before it
//! reads the database and inserts what it read only if no write happened
//! since. Both steps run under `guard`, so a reader can never insert a record
//! older than a write that already evicted the key.
//!
//! Architecture invariant: only writes made through this process invalidate
//! the cache. That is exact for SQLite, which one server process writes (the
//! only other writer, `cairn gc`, removes nothing but expired versions, and an
//! expired cached record is always read again). A store that other nodes
//! write ([`cairn_store::Store::shared`], PostgreSQL) is not served from this
//! cache at all: invalidating through the change feed would still leave a
//! window in which a node serves a version older than one another node
//! already acknowledged, and a latest-version read there is one indexed query.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_store::ContextRecord;
use cairn_types::{ContextKey, TenantId};
use quick_cache::sync::Cache;

/// Keys whose latest record is kept (a few hundred bytes each: the key, its
/// metadata, the blob's facts).
const RECORDS: usize = 16 * 1024;

pub(crate) struct RecordCache {
    records: Cache<(TenantId, ContextKey), ContextRecord>,
    epoch: AtomicU64,
    guard: Mutex<()>,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("records", &self.records.len())
            .finish()
    }
}

impl RecordCache {
    pub(crate) fn new() -> RecordCache {
        RecordCache {
            records: Cache::new(RECORDS),
            epoch: AtomicU64::new(0),
            guard: Mutex::new(()),
        }
    }

    pub(crate) fn get(&self, tenant: &TenantId, key: &ContextKey) -> Option<ContextRecord> {
        self.records.get(&(tenant.clone(), key.clone()))
    }

    /// The epoch to pass to [`RecordCache::insert`] after reading the database.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches `record` as the latest version of its key, unless a write
    /// happened since `epoch` was taken.
    pub(crate) fn insert(
        &self,
        tenant: &TenantId,
        key: &ContextKey,
        record: ContextRecord,
        epoch: u64,
    ) {
        let _guard = self
            .guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.records.insert((tenant.clone(), key.clone()), record);
        }
    }

    /// Forgets `key` after a write to it committed.
    pub(crate) fn evict(&self, tenant: &TenantId, key: &ContextKey) {
        let _guard = self
            .guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.records.remove(&(tenant.clone(), key.clone()));
    }

    /// Forgets everything (after gc).
    pub(crate) fn clear(&self) {
        let _guard = self
            .guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.records.clear();
    }

    /// Whether a cached record names `hash` (for tests).
    #[cfg(test)]
    fn holds(&self, tenant: &TenantId, key: &ContextKey, hash: &cairn_core::ContentHash) -> bool {
        self.get(tenant, key)
            .is_some_and(|record| record.blob.hash == *hash)
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::ContentHash;
    use cairn_store::BlobInfo;

    use super::*;

    fn record(version: i64, content: &[u8]) -> ContextRecord {
        ContextRecord {
            key: "k".into(),
            version,
            blob: BlobInfo {
                hash: ContentHash::of(content),
                bytes_original: content.len() as u64,
                bytes_stored: content.len() as u64,
                content_type: "text/plain".into(),
                tokens_original: 1,
                tokens_compressed: 1,
            },
            agent: None,
            session: None,
            metadata: None,
            created_at: 0,
            expires_at: None,
        }
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_cached() {
        let cache = RecordCache::new();
        let (tenant, key) = (
            TenantId::local(),
            ContextKey::parse("k").expect("valid key"),
        );
        let before_read = cache.epoch();
        // A write commits and evicts while the reader holds an older record.
        cache.evict(&tenant, &key);
        cache.insert(&tenant, &key, record(1, b"old"), before_read);
        assert!(
            cache.get(&tenant, &key).is_none(),
            "the stale read was dropped"
        );

        let fresh = cache.epoch();
        cache.insert(&tenant, &key, record(2, b"new"), fresh);
        assert!(cache.holds(&tenant, &key, &ContentHash::of(b"new")));
        cache.evict(&tenant, &key);
        assert!(cache.get(&tenant, &key).is_none());
    }
}
