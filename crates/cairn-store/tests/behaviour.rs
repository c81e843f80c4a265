//! The store's behaviour, on SQLite and on PostgreSQL alike: tenants that never see each other, the
//! per-tenant dedup flag, group commit of mixed batches, version numbers that
//! are never reused, and gc.

#[macro_use]
mod common;

use std::sync::Arc;

use cairn_core::ContentHash;
use cairn_store::{ListFilter, Store};
use cairn_types::{ContextKey, TenantId};
use common::write;

async fn tenants_never_see_each_others_keys_refs_blobs_or_dedup(store: Arc<dyn Store>) {
    let (alice, bob) = (TenantId::new("alice"), TenantId::new("bob"));
    let secret = b"alice's secret tool output";
    let hash = ContentHash::of(secret);
    let first = store
        .put_context(write("alice", "k", secret, None))
        .await
        .expect("put");
    assert!(!first.deduplicated);

    let key = ContextKey::parse("k").expect("valid");
    assert!(
        store
            .get_context(&bob, &key, None)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .resolve_ref(&bob, &hash.ccr_ref())
            .await
            .expect("read")
            .is_none()
    );
    assert!(store.blob_data(&bob, &hash).await.expect("read").is_none());
    let filter = ListFilter {
        limit: 10,
        ..ListFilter::default()
    };
    assert!(
        store
            .list_contexts(&bob, &filter, 0)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(store.stats(&bob, 0).await.expect("stats").blobs, 0);

    // Bob storing the same bytes is not told Alice has them.
    let bobs = store
        .put_context(write("bob", "other", secret, None))
        .await
        .expect("put");
    assert!(!bobs.deduplicated, "dedup across tenants is invisible");
    assert_eq!(bobs.version, 1);
    // Alice deleting hers leaves Bob's intact.
    assert_eq!(store.delete_context(&alice, &key).await.expect("delete"), 1);
    assert!(
        store
            .resolve_ref(&alice, &hash.ccr_ref())
            .await
            .expect("read")
            .is_none()
    );
    assert!(store.blob_data(&bob, &hash).await.expect("read").is_some());
}

async fn concurrent_puts_batch_together_with_exact_versions_and_dedup_flags(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for index in 0..60 {
        let store = store.clone();
        // Three keys, two tenants, and only four distinct contents.
        let tenant = if index % 2 == 0 { "even" } else { "odd" };
        let key = format!("key-{}", index % 3);
        let content = format!("content {}", index % 4);
        tasks.push(tokio::spawn(async move {
            let outcome = store
                .put_context(write(tenant, &key, content.as_bytes(), None))
                .await;
            (tenant, key, content, outcome.expect("put"))
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    for tenant in ["even", "odd"] {
        for key in ["key-0", "key-1", "key-2"] {
            let mut versions: Vec<i64> = outcomes
                .iter()
                .filter(|(t, k, _, _)| *t == tenant && k == key)
                .map(|(_, _, _, outcome)| outcome.version)
                .collect();
            versions.sort_unstable();
            assert_eq!(
                versions,
                (1..=versions.len() as i64).collect::<Vec<_>>(),
                "{tenant}/{key}"
            );
        }
        // Each (tenant, content) pair was new exactly once.
        let fresh = outcomes
            .iter()
            .filter(|(t, _, _, outcome)| *t == tenant && !outcome.deduplicated)
            .count();
        let distinct: std::collections::BTreeSet<&str> = outcomes
            .iter()
            .filter(|(t, _, _, _)| *t == tenant)
            .map(|(_, _, content, _)| content.as_str())
            .collect();
        assert_eq!(fresh, distinct.len(), "{tenant}");
    }
}

async fn the_context_feed_lists_each_version_once_in_order_after_a_point(store: Arc<dyn Store>) {
    assert_eq!(store.last_context_seq().await.expect("empty feed"), 0);
    for (index, key) in ["a", "b", "a"].into_iter().enumerate() {
        let content = format!("content {index}");
        store
            .put_context(write("t", key, content.as_bytes(), None))
            .await
            .expect("put");
    }
    let feed = store.contexts_after(0, 10).await.expect("feed");
    let fed: Vec<(&str, i64)> = feed
        .iter()
        .map(|row| (row.record.key.as_str(), row.record.version))
        .collect();
    assert_eq!(fed, [("a", 1), ("b", 1), ("a", 2)]);
    assert!(feed.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    let last = store.last_context_seq().await.expect("last");
    assert_eq!(last, feed[2].seq);
    // A reader starting at the end sees only what comes next.
    assert!(
        store
            .contexts_after(last, 10)
            .await
            .expect("after")
            .is_empty()
    );
    store
        .put_context(write("t", "c", b"later", None))
        .await
        .expect("put");
    let next = store.contexts_after(last, 10).await.expect("after");
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].tenant.as_str(), next[0].record.key.as_str()),
        ("t", "c")
    );
}

async fn a_put_without_its_blob_fails_alone_as_blob_missing(store: Arc<dyn Store>) {
    let mut orphan = write("t", "orphan", b"never stored", None);
    orphan.blob = None;
    let good = write("t", "good", b"stored", None);
    let (orphan, good) = tokio::join!(store.put_context(orphan), store.put_context(good));
    assert!(
        matches!(orphan, Err(cairn_store::StoreError::BlobMissing(_))),
        "{orphan:?}"
    );
    assert_eq!(good.expect("the other put is unaffected").version, 1);
}

async fn version_numbers_survive_delete_and_gc(store: Arc<dyn Store>) {
    let tenant = TenantId::new("t");
    let key = ContextKey::parse("k").expect("valid");
    for round in 0..3 {
        store
            .put_context(write("t", "k", format!("v{round}").as_bytes(), None))
            .await
            .expect("put");
    }
    store.delete_context(&tenant, &key).await.expect("delete");
    let after_delete = store
        .put_context(write("t", "k", b"again", Some(2_000)))
        .await
        .expect("put");
    assert_eq!(after_delete.version, 4);
    let report = store.gc(3_000).await.expect("gc");
    assert_eq!(report.expired_versions, 1);
    assert_eq!(report.deleted_blobs, 1, "{report:?}");
    let after_gc = store
        .put_context(write("t", "k", b"and again", None))
        .await
        .expect("put");
    assert_eq!(after_gc.version, 5);
}

async fn retained_originals_live_until_their_time_then_gc_takes_them(store: Arc<dyn Store>) {
    let tenant = TenantId::new("t");
    let blob = write("t", "unused", b"original of a cut", None)
        .blob
        .expect("a blob");
    store
        .retain_blob(&tenant, &blob, 1_000, 5_000)
        .await
        .expect("retain");
    let reference = blob.hash.ccr_ref();
    assert!(
        store
            .resolve_ref(&tenant, &reference)
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .resolve_ref(&TenantId::new("other"), &reference)
            .await
            .expect("read")
            .is_none()
    );
    let early = store.gc(4_000).await.expect("gc");
    assert_eq!((early.expired_retentions, early.deleted_blobs), (0, 0));
    // Retaining again extends; it never shortens.
    store
        .retain_blob(&tenant, &blob, 2_000, 3_000)
        .await
        .expect("retain");
    assert_eq!(store.gc(4_999).await.expect("gc").deleted_blobs, 0);
    let late = store.gc(5_000).await.expect("gc");
    assert_eq!((late.expired_retentions, late.deleted_blobs), (1, 1));
    assert!(
        store
            .resolve_ref(&tenant, &reference)
            .await
            .expect("read")
            .is_none()
    );
}

/// Sentence embeddings (local ML): per model, paged in document order, a
/// document embedded again replacing its vector, the progress with them.
async fn embeddings_page_by_document_and_replace_with_the_progress(store: Arc<dyn Store>) {
    use cairn_store::{Embedding, EmbeddingProgress};
    assert_eq!(
        store.embedding_progress("m1").await.expect("progress"),
        None
    );
    let vector = |x: f32| vec![x, -x, 0.5, f32::MIN_POSITIVE];
    let rows: Vec<Embedding> = (0..5)
        .map(|i| Embedding {
            doc: format!("doc{i}"),
            tenant: if i % 2 == 0 { "a" } else { "b" }.into(),
            vector: vector(i as f32),
        })
        .collect();
    let progress = EmbeddingProgress {
        message: 7,
        context: 3,
    };
    store
        .put_embeddings("m1", &rows, progress)
        .await
        .expect("put");
    store
        .put_embeddings("m2", &rows[..1], EmbeddingProgress::default())
        .await
        .expect("put");
    assert_eq!(
        store.embeddings("m1", "", 3).await.expect("page"),
        rows[..3].to_vec()
    );
    assert_eq!(
        store.embeddings("m1", "doc2", 3).await.expect("page"),
        rows[3..].to_vec()
    );
    assert_eq!(store.embeddings("m2", "", 10).await.expect("m2").len(), 1);
    let again = Embedding {
        vector: vector(42.0),
        ..rows[0].clone()
    };
    let later = EmbeddingProgress {
        message: 9,
        context: 4,
    };
    store
        .put_embeddings("m1", std::slice::from_ref(&again), later)
        .await
        .expect("put");
    assert_eq!(
        store.embedding_progress("m1").await.expect("progress"),
        Some(later)
    );
    let all = store.embeddings("m1", "", 100).await.expect("all");
    assert_eq!((all.len(), &all[0]), (5, &again));
}

async fn views_left_pending_are_found_and_stored_later(store: Arc<dyn Store>) {
    use cairn_store::{Encoding, RenderedDefault, StoredRendering, StoredView};
    let tenant = TenantId::new("alice");
    let mut older = write("alice", "older", b"first original", None);
    older.created_at = 500;
    store.put_context(older).await.expect("put");
    store
        .put_context(write("alice", "newer", b"second original", None))
        .await
        .expect("put");
    assert!(
        store
            .pending_views(10, 500)
            .await
            .expect("pending")
            .is_empty(),
        "none stored before 500"
    );
    let pending = store.pending_views(10, i64::MAX).await.expect("pending");
    let hashes: Vec<_> = pending.iter().map(|blob| blob.info.hash).collect();
    assert_eq!(
        hashes,
        [
            ContentHash::of(b"first original"),
            ContentHash::of(b"second original")
        ],
        "oldest first"
    );
    assert_eq!(
        pending[0].data, b"first original",
        "with the original's bytes"
    );
    assert_eq!(
        store
            .pending_views(1, i64::MAX)
            .await
            .expect("pending")
            .len(),
        1
    );
    assert_eq!(
        store.pending_views(10, 1_000).await.expect("pending").len(),
        1
    );
    assert_eq!(
        store.stats(&tenant, 0).await.expect("stats").views_pending,
        2
    );

    let rendered = RenderedDefault {
        hash: ContentHash::of(b"first original"),
        tokens_compressed: 0,
        view: StoredView {
            engine: 7,
            rendered: Some(StoredRendering {
                encoding: Encoding::Identity,
                data: b"first [cut]".to_vec(),
                markers: "[]".into(),
            }),
        },
    };
    let gone = RenderedDefault {
        hash: ContentHash::of(b"collected meanwhile"),
        ..rendered.clone()
    };
    store
        .store_views(&[rendered.clone(), gone])
        .await
        .expect("store");
    store.store_views(&[]).await.expect("nothing to store");
    let stored = store
        .default_view(&tenant, &rendered.hash)
        .await
        .expect("read")
        .expect("a view");
    assert_eq!(stored, rendered);
    let key = ContextKey::parse("older").expect("valid");
    let record = store
        .get_context(&tenant, &key, None)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.blob.tokens_compressed, 0);
    let pending = store.pending_views(10, i64::MAX).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].info.hash, ContentHash::of(b"second original"));
    assert_eq!(
        store.stats(&tenant, 0).await.expect("stats").views_pending,
        1
    );
    assert_eq!(
        store
            .stats(&TenantId::new("bob"), 0)
            .await
            .expect("stats")
            .views_pending,
        0
    );

    // Bob puts the same bytes with their view rendered: the pending row
    // takes it, so neither tenant's stats count it pending any more.
    let mut bobs = write("bob", "same", b"second original", None);
    let blob = bobs.blob.as_mut().expect("a blob");
    blob.view = rendered.view.clone();
    blob.tokens_compressed = 0;
    store.put_context(bobs).await.expect("put");
    assert!(
        store
            .pending_views(10, i64::MAX)
            .await
            .expect("pending")
            .is_empty()
    );
    assert_eq!(
        store.stats(&tenant, 0).await.expect("stats").views_pending,
        0
    );
    // A put without a view leaves a stored view alone.
    store
        .put_context(write("bob", "again", b"second original", None))
        .await
        .expect("put");
    let hash = ContentHash::of(b"second original");
    let kept = store
        .default_view(&tenant, &hash)
        .await
        .expect("read")
        .expect("a view");
    assert_eq!(kept.view, rendered.view);
}

async fn lists_filter_by_prefix_cursor_agent_session_kind_and_time(store: Arc<dyn Store>) {
    let tenant = TenantId::new("alice");
    let puts = [
        ("a/1", Some("claude"), Some("s1"), 1_000),
        ("a/2", Some("codex"), Some("s2"), 2_000),
        ("a/3", Some("claude"), None, 3_000),
        ("ab", Some("claude"), Some("s1"), 4_000),
        ("b/1", None, Some("s1"), 5_000),
    ];
    for (key, agent, session, at) in puts {
        let mut put = write("alice", key, key.as_bytes(), None);
        put.agent = agent.map(str::to_owned);
        put.session = session.map(str::to_owned);
        put.created_at = at;
        if key == "b/1" {
            put.blob.as_mut().expect("a blob").content_type = "application/json".into();
        }
        store.put_context(put).await.expect("put");
    }
    // A second version of a/1: lists show the latest, a version reads the older.
    let mut again = write("alice", "a/1", b"a/1 again", None);
    again.created_at = 6_000;
    store.put_context(again).await.expect("put");
    store
        .put_context(write("bob", "a/9", b"bob's", None))
        .await
        .expect("put");

    let keys = |filter: ListFilter| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move {
            let filter = ListFilter {
                limit: 10,
                ..filter
            };
            store
                .list_contexts(&tenant, &filter, 0)
                .await
                .expect("list")
                .into_iter()
                .map(|record| (record.key, record.version))
                .collect::<Vec<_>>()
        }
    };
    let owned = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
        pairs
            .iter()
            .map(|(key, version)| ((*key).to_owned(), *version))
            .collect()
    };
    assert_eq!(
        keys(ListFilter::default()).await,
        owned(&[("a/1", 2), ("a/2", 1), ("a/3", 1), ("ab", 1), ("b/1", 1)])
    );
    let prefix = ListFilter {
        prefix: Some("a/".into()),
        ..ListFilter::default()
    };
    assert_eq!(
        keys(prefix.clone()).await,
        owned(&[("a/1", 2), ("a/2", 1), ("a/3", 1)])
    );
    let after = ListFilter {
        after: Some("a/1".into()),
        ..prefix
    };
    assert_eq!(keys(after).await, owned(&[("a/2", 1), ("a/3", 1)]));
    let agent = ListFilter {
        agent: Some("claude".into()),
        ..ListFilter::default()
    };
    assert_eq!(keys(agent).await, owned(&[("a/3", 1), ("ab", 1)]));
    let session = ListFilter {
        session: Some("s1".into()),
        ..ListFilter::default()
    };
    assert_eq!(keys(session).await, owned(&[("ab", 1), ("b/1", 1)]));
    let since = ListFilter {
        since: Some(4_000),
        ..ListFilter::default()
    };
    assert_eq!(
        keys(since).await,
        owned(&[("a/1", 2), ("ab", 1), ("b/1", 1)])
    );
    let kind = ListFilter {
        content_type: Some("text/plain".into()),
        ..ListFilter::default()
    };
    assert_eq!(
        keys(kind).await,
        owned(&[("a/1", 2), ("a/2", 1), ("a/3", 1), ("ab", 1)])
    );

    let key = ContextKey::parse("a/1").expect("valid");
    let first = store
        .get_context(&tenant, &key, Some(1))
        .await
        .expect("read")
        .expect("v1");
    assert_eq!(
        (first.version, first.blob.hash),
        (1, ContentHash::of(b"a/1"))
    );
    let latest = store
        .get_context(&tenant, &key, None)
        .await
        .expect("read")
        .expect("latest");
    assert_eq!(latest.version, 2);
    assert!(
        store
            .get_context(&tenant, &key, Some(3))
            .await
            .expect("read")
            .is_none()
    );
}

on_every_backend!(
    tenants_never_see_each_others_keys_refs_blobs_or_dedup,
    concurrent_puts_batch_together_with_exact_versions_and_dedup_flags,
    the_context_feed_lists_each_version_once_in_order_after_a_point,
    a_put_without_its_blob_fails_alone_as_blob_missing,
    version_numbers_survive_delete_and_gc,
    retained_originals_live_until_their_time_then_gc_takes_them,
    embeddings_page_by_document_and_replace_with_the_progress,
    views_left_pending_are_found_and_stored_later,
    lists_filter_by_prefix_cursor_agent_session_kind_and_time,
);
