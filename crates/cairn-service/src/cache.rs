//! In-memory caches of decoded originals and rendered views, bounded by
//! bytes. Both are keyed by content hash, so they never go stale: the bytes
//! behind a hash cannot change. They are cleared only to give memory back
//! after gc.

use std::sync::Arc;

use bytes::Bytes;
use cairn_core::{ContentHash, RenderedView, ViewOptions};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Weight of an entry besides its bytes (keys, bookkeeping).
const ENTRY_OVERHEAD: u64 = 128;

#[derive(Clone)]
struct ByteWeighter;

impl Weighter<ContentHash, Bytes> for ByteWeighter {
    fn weight(&self, _key: &ContentHash, value: &Bytes) -> u64 {
        value.len() as u64 + ENTRY_OVERHEAD
    }
}

impl Weighter<(ContentHash, ViewOptions), Arc<RenderedView>> for ByteWeighter {
    fn weight(&self, _key: &(ContentHash, ViewOptions), value: &Arc<RenderedView>) -> u64 {
        match value.as_ref() {
            RenderedView::Original => ENTRY_OVERHEAD,
            RenderedView::Rendered { content, .. } => content.len() as u64 + ENTRY_OVERHEAD,
        }
    }
}

/// Decoded originals and rendered views, sharing one byte budget half and half.
#[derive(Clone)]
pub struct OriginalCache {
    originals: Arc<Cache<ContentHash, Bytes, ByteWeighter>>,
    views: Arc<Cache<(ContentHash, ViewOptions), Arc<RenderedView>, ByteWeighter>>,
    /// Originals larger than this are not cached: one would evict many.
    max_entry: u64,
}

impl std::fmt::Debug for OriginalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginalCache")
            .field("originals", &self.originals.len())
            .field("views", &self.views.len())
            .finish()
    }
}

impl OriginalCache {
    pub fn new(capacity_bytes: u64) -> OriginalCache {
        let half = (capacity_bytes / 2).max(ENTRY_OVERHEAD);
        let estimated_items = usize::try_from(half / 4096).unwrap_or(1).clamp(16, 1 << 20);
        OriginalCache {
            originals: Arc::new(Cache::with_weighter(estimated_items, half, ByteWeighter)),
            views: Arc::new(Cache::with_weighter(estimated_items, half, ByteWeighter)),
            max_entry: half / 16,
        }
    }

    pub fn get(&self, hash: &ContentHash) -> Option<Bytes> {
        self.originals.get(hash)
    }

    pub fn insert(&self, hash: ContentHash, original: Bytes) {
        if (original.len() as u64) <= self.max_entry {
            self.originals.insert(hash, original);
        }
    }

    pub fn view(&self, hash: ContentHash, options: &ViewOptions) -> Option<Arc<RenderedView>> {
        self.views.get(&(hash, options.clone()))
    }

    pub fn insert_view(&self, hash: ContentHash, options: ViewOptions, view: Arc<RenderedView>) {
        self.views.insert((hash, options), view);
    }

    pub fn clear(&self) {
        self.originals.clear();
        self.views.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_small_originals_and_skips_huge_ones() {
        let cache = OriginalCache::new(1024 * 1024);
        let small = Bytes::from_static(b"small");
        cache.insert(ContentHash::of(&small), small.clone());
        assert_eq!(cache.get(&ContentHash::of(&small)), Some(small));
        let huge = Bytes::from(vec![7u8; 600 * 1024]);
        cache.insert(ContentHash::of(&huge), huge.clone());
        assert_eq!(cache.get(&ContentHash::of(&huge)), None);
    }
}
