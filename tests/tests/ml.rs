//! Local ML end to end, with real inference (scripts/install-models.sh):
//! contexts are embedded in the background and hybrid search finds a hit
//! that shares no word with the query, which BM25 alone cannot; a corrupt
//! model leaves the server running on BM25. Without the models the tests say
//! so loudly and pass, except under `CI=true`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_client::{SearchOptions, SharedContext};
use cairn_tests::TestServer;
use cairn_types::SearchResults;

fn models() -> Option<PathBuf> {
    let dir = cairn_ml::test_models_dir();
    if dir.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no models: run scripts/install-models.sh"
        );
        eprintln!(
            "\n*** SKIPPED: no models (run scripts/install-models.sh or set CAIRN_MODELS_DIR) ***\n"
        );
    }
    dir
}

const TARGET: &str = "incidents/2026-03-02.md";
const NOTES: [(&str, &str); 8] = [
    (
        TARGET,
        "At 09:40 the API started failing: it ran out of database connections \
         and every request waited for one until it timed out.",
    ),
    (
        "notes/pool-party.md",
        "The swimming pool party is on Saturday; bring towels and sunscreen.",
    ),
    (
        "notes/connection-flight.md",
        "Our connection flight in Frankfurt was delayed by two hours.",
    ),
    (
        "notes/exhausted.md",
        "After the marathon everyone was exhausted and went to sleep early.",
    ),
    (
        "notes/css.md",
        "Centre the logo with flexbox and give the header a sticky position.",
    ),
    (
        "notes/recipe.md",
        "Banana bread: three ripe bananas, flour, butter, sugar and walnuts.",
    ),
    (
        "notes/release.md",
        "Release 2.3 ships the new billing page and fixes the login redirect.",
    ),
    (
        "notes/garden.md",
        "Water the tomatoes every evening and prune the basil weekly.",
    ),
];

async fn put_notes(client: &SharedContext) -> anyhow::Result<()> {
    for (key, text) in NOTES {
        client.put(key, text).await?;
    }
    Ok(())
}

fn query(text: &str) -> SearchOptions {
    SearchOptions {
        query: text.to_owned(),
        limit: Some(10),
        ..SearchOptions::default()
    }
}

fn rank_of(results: &SearchResults, key: &str) -> Option<usize> {
    results
        .hits
        .iter()
        .position(|hit| hit.key.as_deref() == Some(key))
}

/// Searches until `found` holds or 30 s pass (indexing and embedding run in
/// the background).
async fn search_until(
    client: &SharedContext,
    text: &str,
    found: impl Fn(&SearchResults) -> bool,
) -> anyhow::Result<SearchResults> {
    let started = Instant::now();
    loop {
        let results = client.search(&query(text)).await?;
        if found(&results) || started.elapsed() > Duration::from_secs(30) {
            return Ok(results);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_search_in_other_words_finds_the_hit_with_ml_and_not_without() -> anyhow::Result<()> {
    let Some(dir) = models() else { return Ok(()) };
    let with_ml = TestServer::start_with(|config| config.ml.models_dir = Some(dir)).await?;
    let without = TestServer::start().await?;
    put_notes(&with_ml.client()).await?;
    put_notes(&without.client()).await?;

    // BM25 alone: every note is indexed, but none has the query's words.
    search_until(&without.client(), "banana", |r| r.total > 0).await?;
    let plain = without
        .client()
        .search(&query("connection pool exhausted"))
        .await?;
    assert_eq!(rank_of(&plain, TARGET), None, "{plain:?}");

    let hybrid = search_until(&with_ml.client(), "connection pool exhausted", |r| {
        rank_of(r, TARGET).is_some()
    })
    .await?;
    let rank = rank_of(&hybrid, TARGET);
    assert!(rank.is_some_and(|rank| rank < 3), "{rank:?} in {hybrid:?}");
    // A BM25 hit is still found, first, and nothing unrelated crowds in.
    let exact = with_ml.client().search(&query("flexbox")).await?;
    assert_eq!(
        exact.hits[0].key.as_deref(),
        Some("notes/css.md"),
        "{exact:?}"
    );
    assert!(rank_of(&exact, "notes/recipe.md").is_none(), "{exact:?}");

    // The vectors are in the database: after a restart they are loaded.
    let restarted = with_ml.restart().await?;
    let again = search_until(&restarted.client(), "ran short of DB connections", |r| {
        r.total > 0
    })
    .await?;
    assert!(
        rank_of(&again, TARGET).is_some_and(|rank| rank < 3),
        "{again:?}"
    );
    restarted.stop().await?;
    without.stop().await
}

#[tokio::test]
async fn a_corrupt_model_leaves_the_server_on_bm25() -> anyhow::Result<()> {
    let Some(dir) = models() else { return Ok(()) };
    let broken = tempfile::tempdir()?;
    std::fs::create_dir(broken.path().join("minilm"))?;
    std::fs::copy(
        dir.join(cairn_ml::RUNTIME_LIBRARY),
        broken.path().join(cairn_ml::RUNTIME_LIBRARY),
    )?;
    std::fs::copy(
        dir.join("minilm/tokenizer.json"),
        broken.path().join("minilm/tokenizer.json"),
    )?;
    let model = std::fs::read(dir.join("minilm/model.onnx"))?;
    std::fs::write(
        broken.path().join("minilm/model.onnx"),
        &model[..model.len() / 2],
    )?;
    let path = broken.path().to_path_buf();
    let server = TestServer::start_with(|config| config.ml.models_dir = Some(path)).await?;
    put_notes(&server.client()).await?;
    let found = search_until(&server.client(), "flexbox", |r| r.total > 0).await?;
    assert_eq!(found.hits[0].key.as_deref(), Some("notes/css.md"));
    let semantic = server
        .client()
        .search(&query("connection pool exhausted"))
        .await?;
    assert_eq!(semantic.total, 0, "{semantic:?}");
    server.stop().await
}
