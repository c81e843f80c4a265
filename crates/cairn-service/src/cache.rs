//! In-memory caches of decoded originals and rendered views, bounded by
//! bytes. Both are keyed by content hash, so they never go stale: the bytes
//! behind a hash cannot change. They are cleared only to give memory back
//! after gc. Keys carry the tenant too: one tenant's reads must not make
//! another's faster (timing would tell that the other stored the same bytes).

use std::sync::Arc;

use bytes::Bytes;
use cairn_core::{ContentHash, RenderedView, ViewOptions};
use cairn_types::TenantId;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Weight of an entry besides its bytes (keys, bookkeeping).
const ENTRY_OVERHEAD: u64 = 128;

#[derive(Clone)]
struct ByteWeighter;

type OriginalKey = (TenantId, ContentHash);
type ViewKey = (TenantId, ContentHash, ViewOptions);

// Weights are what an entry holds on the heap: capacities, not lengths, so a
// string built by pushing (up to twice its length) counts in full.

impl Weighter<OriginalKey, Bytes> for ByteWeighter {
    fn weight(&self, key: &OriginalKey, value: &Bytes) -> u64 {
        // `value` owns exactly its bytes: [`OriginalCache::insert`] copies.
        (key.0.as_str().len() + value.len()) as u64 + ENTRY_OVERHEAD
    }
}

impl Weighter<ViewKey, Arc<RenderedView>> for ByteWeighter {
    fn weight(&self, key: &ViewKey, value: &Arc<RenderedView>) -> u64 {
        // The key counts too: a query can be kilobytes long.
        let key_bytes = key.0.as_str().len() + key.2.query.as_ref().map_or(0, String::capacity);
        let value_bytes = match value.as_ref() {
            RenderedView::Original => 0,
            RenderedView::Rendered {
                content, markers, ..
            } => {
                content.capacity()
                    + markers.capacity() * std::mem::size_of::<cairn_types::Marker>()
                    + markers
                        .iter()
                        .map(|m| m.summary.capacity() + m.reference.capacity())
                        .sum::<usize>()
            }
        };
        (key_bytes + value_bytes) as u64 + ENTRY_OVERHEAD
    }
}

/// Decoded originals and rendered views, sharing one byte budget: a quarter
/// for originals, three quarters for views (GETs serve views; originals are
/// read for full views and for rendering).
#[derive(Clone)]
pub struct OriginalCache {
    originals: Arc<Cache<OriginalKey, Bytes, ByteWeighter>>,
    views: Arc<Cache<ViewKey, Arc<RenderedView>, ByteWeighter>>,
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
        let originals_bytes = (capacity_bytes / 4).max(ENTRY_OVERHEAD);
        let views_bytes = (capacity_bytes - capacity_bytes / 4).max(ENTRY_OVERHEAD);
        let estimated_items = |bytes: u64| {
            usize::try_from(bytes / 4096)
                .unwrap_or(1)
                .clamp(16, 1 << 20)
        };
        OriginalCache {
            originals: Arc::new(Cache::with_weighter(
                estimated_items(originals_bytes),
                originals_bytes,
                ByteWeighter,
            )),
            views: Arc::new(Cache::with_weighter(
                estimated_items(views_bytes),
                views_bytes,
                ByteWeighter,
            )),
            max_entry: originals_bytes / 16,
        }
    }

    pub fn get(&self, tenant: &TenantId, hash: &ContentHash) -> Option<Bytes> {
        self.originals.get(&(tenant.clone(), *hash))
    }

    /// Caches a copy of `original`: the caller's `Bytes` may be a slice of
    /// a larger buffer (a request body is a slice of the connection's read
    /// buffer), which caching it would keep alive whole, unweighed.
    pub fn insert(&self, tenant: &TenantId, hash: ContentHash, original: Bytes) {
        if (original.len() as u64) <= self.max_entry {
            self.originals
                .insert((tenant.clone(), hash), Bytes::copy_from_slice(&original));
        }
    }

    pub fn view(
        &self,
        tenant: &TenantId,
        hash: ContentHash,
        options: &ViewOptions,
    ) -> Option<Arc<RenderedView>> {
        self.views.get(&(tenant.clone(), hash, options.clone()))
    }

    /// Caches `view` with its buffers shrunk to their contents, and returns
    /// it shared. A rendered or decoded view is built by pushing, so its
    /// buffers can hold up to twice what they carry; shrunk, a cache holds
    /// about twice as many views in the same memory.
    pub fn insert_view(
        &self,
        tenant: &TenantId,
        hash: ContentHash,
        options: ViewOptions,
        mut view: RenderedView,
    ) -> Arc<RenderedView> {
        if let RenderedView::Rendered {
            content, markers, ..
        } = &mut view
        {
            content.shrink_to_fit();
            markers.shrink_to_fit();
            for marker in markers.iter_mut() {
                marker.reference.shrink_to_fit();
                marker.summary.shrink_to_fit();
            }
        }
        let view = Arc::new(view);
        self.views
            .insert((tenant.clone(), hash, options), view.clone());
        view
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
        let tenant = TenantId::local();
        let small = Bytes::from_static(b"small");
        cache.insert(&tenant, ContentHash::of(&small), small.clone());
        assert_eq!(cache.get(&tenant, &ContentHash::of(&small)), Some(small));
        assert_eq!(
            cache.get(&TenantId::new("other"), &ContentHash::of(b"small")),
            None
        );
        let huge = Bytes::from(vec![7u8; 600 * 1024]);
        cache.insert(&tenant, ContentHash::of(&huge), huge.clone());
        assert_eq!(cache.get(&tenant, &ContentHash::of(&huge)), None);
    }

    #[test]
    fn views_are_weighed_and_kept_by_what_they_carry_not_what_they_reserved() {
        // 768 KiB for views: 50 views of 4 KiB fit, 50 buffers of 64 KiB do not.
        let cache = OriginalCache::new(1024 * 1024);
        let tenant = TenantId::local();
        let hashes: Vec<ContentHash> = (0..50u32)
            .map(|i| ContentHash::of(&i.to_le_bytes()))
            .collect();
        for hash in &hashes {
            let mut content = String::with_capacity(64 * 1024);
            content.push_str(&"x".repeat(4096));
            let mut markers = Vec::with_capacity(64);
            markers.push(cairn_types::Marker {
                reference: String::with_capacity(1024) + "ccr:abc",
                summary: String::with_capacity(1024) + "3 lines omitted",
            });
            let view = RenderedView::Rendered {
                content,
                tokens: 1,
                markers,
            };
            let cached = cache.insert_view(&tenant, *hash, ViewOptions::default(), view);
            let RenderedView::Rendered {
                content, markers, ..
            } = cached.as_ref()
            else {
                panic!("a rendered view stays rendered");
            };
            assert_eq!((content.capacity(), content.len()), (4096, 4096));
            assert_eq!(markers.capacity(), 1);
            assert_eq!(markers[0].summary.capacity(), "3 lines omitted".len());
        }
        let kept = hashes
            .iter()
            .filter(|hash| {
                cache
                    .view(&tenant, **hash, &ViewOptions::default())
                    .is_some()
            })
            .count();
        assert_eq!(kept, hashes.len(), "every shrunk view fits the budget");
    }
}
