//! Local ML end to end, with real inference (scripts/install-models.sh):
//! contexts are embedded in the background and hybrid search finds a hit
//! that shares no word with the query, which BM25 alone cannot, and ranks a
//! report above lexical look-alikes of the query; a corrupt
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
        cairn_core::skip::cannot_run(
            "the ML tests",
            "no models (run scripts/install-models.sh or set CAIRN_MODELS_DIR)",
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

/// Two dozen sentences that share the words of "connection pool
/// exhausted" in other senses (issue 25's look-alikes).
const LOOK_ALIKES: [&str; 24] = [
    "Car pool lanes are exhausted at rush hour.",
    "The swimming pool closes early on Sundays.",
    "After the marathon everyone was exhausted.",
    "Our connection flight in Frankfurt was delayed.",
    "The typing pool was exhausted by noon.",
    "Tide pools are exhausted of life after the storm.",
    "A weak connection between the two ideas.",
    "The prize pool was exhausted within an hour.",
    "The gene pool of the island is small.",
    "Exhausted parents queued at the pool entrance.",
    "The phone connection dropped twice during the call.",
    "The hotel pool heater exhausted its warranty last spring.",
    "Her family connection to the museum got her the tickets.",
    "The betting pool for the final is larger than ever.",
    "Exhausted soil needs a season of clover.",
    "The pool table in the bar needs new felt.",
    "A loose connection in the doorbell made it ring at night.",
    "The motor pool lent us a van for the move.",
    "The exhausted hikers reached the hut after dark.",
    "The Wi-Fi connection on the train is slow.",
    "They pool their savings for a summer trip.",
    "The supply of patience was exhausted by the third delay.",
    "Splash pool parties are exhausting for lifeguards.",
    "The connection between sleep and memory is well studied.",
];
const INCIDENT: (&str, &str) = (
    "incidents/checkout-stall.md",
    "The checkout service stalled because it ran out of database connections; every \
     worker waited for a free handle.",
);

#[tokio::test]
async fn the_report_outranks_lexical_look_alikes_once_all_are_embedded() -> anyhow::Result<()> {
    let Some(dir) = models() else { return Ok(()) };
    // Without the re-ranking stage the look-alikes come first (issue 25).
    let mut ranks = Vec::new();
    for rerank in [false, true] {
        let dir = dir.clone();
        let server = TestServer::start_with(|config| {
            config.ml.models_dir = Some(dir);
            config.ml.rerank = rerank;
        })
        .await?;
        let client = server.client();
        client.put(INCIDENT.0, INCIDENT.1).await?;
        for (n, text) in LOOK_ALIKES.iter().enumerate() {
            client
                .put(&format!("notes/look-alike-{n}.md"), *text)
                .await?;
        }
        // Every document embedded: the look-alike put last is a semantic
        // candidate too.
        let last = LOOK_ALIKES.len() - 1;
        search_until(&client, "sleep and memory studies", |r| {
            rank_of(r, &format!("notes/look-alike-{last}.md")).is_some()
        })
        .await?;
        let found = client.search(&query("connection pool exhausted")).await?;
        ranks.push(rank_of(&found, INCIDENT.0));
        if rerank {
            assert_eq!(ranks[1], Some(0), "{found:#?}");
            // A query that names a look-alike's words still finds it first.
            let exact = client.search(&query("\"car pool lanes\"")).await?;
            assert_eq!(
                exact.hits[0].key.as_deref(),
                Some("notes/look-alike-0.md"),
                "{exact:#?}"
            );
        }
        server.stop().await?;
    }
    assert!(
        ranks[0].is_none_or(|rank| rank >= 3),
        "fused by rank alone, the report is outside the top 3: {ranks:?}"
    );
    Ok(())
}

/// A long report: thirty paragraphs of routine, then the one that matters,
/// in words the query does not use (and long: a kept sentence shorter than
/// a marker would be folded into the cuts around it).
fn report() -> String {
    let mut text = String::from("# Weekly operations report\n\n");
    for day in 0..30 {
        text.push_str(&format!(
            "On day {day} the office plants were watered, the weekly newsletter went out to \
             every subscriber on the list, and the team lunch was pasta with a green salad. \
             Nothing else happened.\n\n"
        ));
    }
    text.push_str(
        "Late on Friday the checkout service ran out of database connections: every request \
         waited thirty seconds for a free one and then failed, until the service was restarted \
         by hand, which took the engineer on call most of the night to work out, because the \
         dashboards showed healthy hosts, normal memory and quiet disks the whole time. \
         The cause is being investigated.\n",
    );
    text
}

#[tokio::test]
async fn a_query_aware_view_keeps_the_sentence_that_means_the_query() -> anyhow::Result<()> {
    let Some(dir) = models() else { return Ok(()) };
    let with_ml = TestServer::start_with(|config| config.ml.models_dir = Some(dir)).await?;
    let without = TestServer::start().await?;
    let options = || cairn_client::GetOptions {
        query: Some("db pool exhausted".to_owned()),
        max_tokens: Some(200),
        ..cairn_client::GetOptions::default()
    };
    let mut views = Vec::new();
    for server in [&with_ml, &without] {
        server.client().put("reports/week.md", report()).await?;
        let view = server
            .client()
            .get_with("reports/week.md", options())
            .await?;
        views.push(view.content);
    }
    assert!(
        views[0].contains("ran out of database connections"),
        "{}",
        views[0]
    );
    assert!(
        !views[1].contains("ran out of database connections"),
        "{}",
        views[1]
    );
    // Deterministic: the same request renders the same view.
    let again = with_ml
        .client()
        .get_with("reports/week.md", options())
        .await?;
    assert_eq!(again.content, views[0]);
    with_ml.stop().await?;
    without.stop().await
}
