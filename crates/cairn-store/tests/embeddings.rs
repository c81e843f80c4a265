//! Sentence embeddings and the embedder's progress in SQLite.

use cairn_store::{Embedding, EmbeddingProgress, SqliteOptions, SqliteStore, Store};

#[tokio::test]
async fn embeddings_round_trip_page_by_id_and_replace_with_progress() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cairn.db");
    let store = SqliteStore::open(&SqliteOptions::new(path.clone()))
        .await
        .expect("open");
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
    // Another model's vectors are apart.
    store
        .put_embeddings("m2", &rows[..1], EmbeddingProgress::default())
        .await
        .expect("put");
    let first = store.embeddings("m1", "", 3).await.expect("page");
    assert_eq!(first, rows[..3].to_vec());
    let rest = store.embeddings("m1", "doc2", 3).await.expect("page");
    assert_eq!(rest, rows[3..].to_vec());
    assert_eq!(store.embeddings("m2", "", 10).await.expect("m2").len(), 1);
    // A document embedded again replaces its vector.
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
    store.close().await;
    let store = SqliteStore::open(&SqliteOptions::new(path))
        .await
        .expect("reopen");
    assert_eq!(
        store.embedding_progress("m1").await.expect("progress"),
        Some(later)
    );
    let all = store.embeddings("m1", "", 100).await.expect("all");
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], again);
}
