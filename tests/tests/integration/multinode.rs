//! Several nodes on one PostgreSQL database (SPEC §6): two real servers, each
//! with its own data directory (its own search index), sharing a database
//! created for the test. A put on one is read on the other at once and found
//! by the other's search within two seconds; a node that was down catches up
//! from where its index stopped; concurrent puts to one key through both
//! nodes keep every version, numbered without gaps or duplicates; a
//! subscriber on one node hears of the puts made through the other.

#[path = "../../../crates/cairn-store/tests/common/pg.rs"]
mod pg;

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_client::{GetOptions, SearchOptions, SharedContext};
use cairn_tests::TestServer;
use cairn_types::{SearchResults, View};

/// A node over `database`, with its index in `data_dir`.
async fn node(database: &pg::TestDatabase, data_dir: &Path) -> anyhow::Result<TestServer> {
    let url = database.url().to_owned();
    let data_dir = data_dir.to_path_buf();
    TestServer::start_with(move |config| {
        config.storage.database = Some(url);
        config.storage.data_dir = data_dir;
    })
    .await
}

fn query(text: &str) -> SearchOptions {
    SearchOptions {
        query: text.to_owned(),
        limit: Some(50),
        ..SearchOptions::default()
    }
}

/// Searches until `found` holds or `within` has passed; returns the last
/// results and how long it took.
async fn search_until(
    client: &SharedContext,
    text: &str,
    within: Duration,
    found: impl Fn(&SearchResults) -> bool,
) -> anyhow::Result<(SearchResults, Duration)> {
    let started = Instant::now();
    loop {
        let results = client.search(&query(text)).await?;
        if found(&results) || started.elapsed() > within {
            return Ok((results, started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_put_on_one_node_is_read_on_the_other_at_once_and_found_there_within_two_seconds()
-> anyhow::Result<()> {
    let Some(database) = pg::TestDatabase::create().await else {
        return Ok(());
    };
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = node(&database, dir_a.path()).await?;
    let b = node(&database, dir_b.path()).await?;
    let (on_a, on_b) = (a.agent("writer"), b.client());

    // B reads the key often (a node caching latest versions would keep v1);
    // every version A acknowledges is what B serves next.
    for version in 1..=20 {
        let content = format!("deploy notes, revision {version}");
        let receipt = on_a.put("notes/deploy", content.clone()).await?;
        assert_eq!(receipt.version, version);
        let read = on_b
            .get_with(
                "notes/deploy",
                GetOptions {
                    view: View::Full,
                    ..GetOptions::default()
                },
            )
            .await?;
        assert_eq!((read.version, read.content), (version, content));
    }

    on_a.put(
        "notes/incident",
        "the quokkafailover runbook: promote the replica, then repoint the pool",
    )
    .await?;
    let (found, took) = search_until(&on_b, "quokkafailover", Duration::from_secs(10), |r| {
        r.total > 0
    })
    .await?;
    eprintln!("a put on node A was found by node B's search after {took:?}");
    assert_eq!(
        found.hits.first().and_then(|hit| hit.key.as_deref()),
        Some("notes/incident")
    );
    assert!(took < Duration::from_secs(2), "found after {took:?}");

    // Deleted through A, B neither serves nor finds it.
    on_a.delete("notes/incident").await?;
    assert!(on_b.get("notes/incident").await.is_err());
    let after = on_b.search(&query("quokkafailover")).await?;
    assert_eq!(after.total, 0, "{after:?}");

    a.stop().await?;
    b.stop().await
}

#[tokio::test]
async fn a_subscriber_on_one_node_hears_of_puts_through_the_other_once() -> anyhow::Result<()> {
    use crate::graphql::{Graphql, WAIT_FOR_A, next_put, subscribe, wait_until_subscribed};

    let Some(database) = pg::TestDatabase::create().await else {
        return Ok(());
    };
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = node(&database, dir_a.path()).await?;
    let b = node(&database, dir_b.path()).await?;
    let mut socket = subscribe(&b, serde_json::json!({}), WAIT_FOR_A).await?;
    // Probes through A until one is delivered on B.
    wait_until_subscribed(&mut socket, &Graphql::new(&a)).await?;

    let put_at = Instant::now();
    let receipt = a
        .agent("A")
        .put("handoff/result", "the output B's subscriber waits for")
        .await?;
    let put = next_put(&mut socket).await?;
    let took = put_at.elapsed();
    eprintln!("a put on node A reached a subscriber on node B after {took:?}");
    assert_eq!(put["key"], "handoff/result");
    assert_eq!(put["agent"], "A");
    assert_eq!(put["version"], receipt.version);
    assert_eq!(put["ref"], receipt.reference.as_str());
    assert_eq!(put["tokensOriginal"], receipt.tokens_original);
    assert!(took < Duration::from_secs(2), "delivered after {took:?}");

    // B's own puts are announced once, in order with A's, and the filter
    // holds across nodes.
    a.agent("B").put("handoff/result", "not agent A").await?;
    b.agent("A")
        .put("handoff/result", "through B itself")
        .await?;
    a.agent("A")
        .put("handoff/result", "through A again")
        .await?;
    let versions = [
        next_put(&mut socket).await?["version"].clone(),
        next_put(&mut socket).await?["version"].clone(),
    ];
    assert_eq!(
        versions,
        [receipt.version + 2, receipt.version + 3].map(serde_json::Value::from)
    );
    let nothing_more =
        tokio::time::timeout(Duration::from_millis(500), next_put(&mut socket)).await;
    assert!(nothing_more.is_err(), "an extra event: {nothing_more:?}");

    futures::SinkExt::close(&mut socket).await?;
    a.stop().await?;
    b.stop().await
}

#[tokio::test]
async fn a_node_that_was_down_catches_up_from_where_its_index_stopped() -> anyhow::Result<()> {
    let Some(database) = pg::TestDatabase::create().await else {
        return Ok(());
    };
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = node(&database, dir_a.path()).await?;
    let b = node(&database, dir_b.path()).await?;
    for index in 0..5 {
        a.client()
            .put(
                &format!("before/{index}"),
                format!("wombatbefore entry {index}"),
            )
            .await?;
    }
    let (found, _) = search_until(&b.client(), "wombatbefore", Duration::from_secs(10), |r| {
        r.total == 5
    })
    .await?;
    assert_eq!(found.total, 5);
    b.stop().await?;

    // Down: B's index says where it stopped. A document only this index has
    // (no row in the database) shows whether B starts over: a rebuild would
    // drop it.
    let index = cairn_service::SearchIndex::open(&dir_b.path().join("index"))?;
    let watermark = index.watermark()?.expect("B's index has a watermark");
    assert_ne!(watermark, "m0 f0");
    index.add([cairn_search::Doc {
        id: "canary".into(),
        tenant: cairn_types::TenantId::local().as_str().to_owned(),
        kind: "message".into(),
        session: Some("canary".into()),
        position: Some(0),
        reference: cairn_core::ContentHash::of(b"canary").ccr_ref().to_string(),
        text: "platypuscanary only in node B's index".into(),
        ..cairn_search::Doc::default()
    }])?;
    index.commit(&watermark)?;
    index.close();
    drop(index);

    for index in 0..7 {
        a.client()
            .put(
                &format!("during/{index}"),
                format!("wombatduring entry {index}"),
            )
            .await?;
    }
    let b = node(&database, dir_b.path()).await?;
    let (caught_up, _) = search_until(&b.client(), "wombatduring", Duration::from_secs(10), |r| {
        r.total == 7
    })
    .await?;
    assert_eq!(
        caught_up.total, 7,
        "B indexed what A stored while B was down"
    );
    let canary = b.client().search(&query("platypuscanary")).await?;
    assert_eq!(
        canary.total, 1,
        "B resumed its index rather than rebuilding it"
    );
    let before = b.client().search(&query("wombatbefore")).await?;
    assert_eq!(before.total, 5);

    a.stop().await?;
    b.stop().await
}

#[tokio::test]
async fn concurrent_puts_through_both_nodes_to_one_key_keep_every_version_once()
-> anyhow::Result<()> {
    let Some(database) = pg::TestDatabase::create().await else {
        return Ok(());
    };
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = node(&database, dir_a.path()).await?;
    let b = node(&database, dir_b.path()).await?;
    const EACH: usize = 60;
    let mut tasks = Vec::new();
    for index in 0..2 * EACH {
        let client = if index % 2 == 0 {
            a.client()
        } else {
            b.client()
        };
        tasks.push(tokio::spawn(async move {
            let content = format!("racing write {index}");
            let receipt = client.put("race/key", content.clone()).await?;
            anyhow::Ok((receipt.version, content))
        }));
    }
    let mut written = Vec::new();
    for task in tasks {
        written.push(task.await??);
    }
    written.sort();
    let versions: Vec<i64> = written.iter().map(|(version, _)| *version).collect();
    assert_eq!(versions, (1..=(2 * EACH) as i64).collect::<Vec<_>>());
    // None lost: every version reads back, on either node, as what was put.
    for (version, content) in &written {
        let reader = if version % 2 == 0 {
            b.client()
        } else {
            a.client()
        };
        let read = reader
            .get_with(
                "race/key",
                GetOptions {
                    view: View::Full,
                    version: Some(*version),
                    ..GetOptions::default()
                },
            )
            .await?;
        assert_eq!(&read.content, content, "version {version}");
    }
    a.stop().await?;
    b.stop().await
}
