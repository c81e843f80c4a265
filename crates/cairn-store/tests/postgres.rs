//! Two PostgreSQL stores on one database, as two nodes have them: puts from
//! both to one key are numbered 1..N with no gap and no duplicate, the feed
//! holds each once in order, and each store hears of the other's writes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cairn_store::{PostgresOptions, PostgresStore, Store};
use cairn_types::{ContextKey, TenantId};

#[tokio::test]
async fn two_nodes_putting_to_one_key_get_every_version_once_and_hear_each_other() {
    let Some(database) = common::pg::TestDatabase::create().await else {
        return;
    };
    let open = || async {
        Arc::new(
            PostgresStore::open(&PostgresOptions::new(database.url()))
                .await
                .expect("the store opens"),
        )
    };
    let (a, b) = (open().await, open().await);
    let mut heard_by_b = b.changes().expect("postgres tells of changes");
    heard_by_b.borrow_and_update();

    const EACH: usize = 150;
    let mut tasks = Vec::new();
    for index in 0..2 * EACH {
        let store = if index % 2 == 0 { a.clone() } else { b.clone() };
        // Some contents repeat, across nodes too.
        let content = format!("content {}", index % 7);
        tasks.push(tokio::spawn(async move {
            store
                .put_context(common::write("t", "shared", content.as_bytes(), None))
                .await
                .expect("put")
                .version
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.expect("task"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=(2 * EACH) as i64).collect::<Vec<_>>());

    let tenant = TenantId::new("t");
    let key = ContextKey::parse("shared").expect("valid");
    let latest = b
        .get_context(&tenant, &key, None)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(latest.version, (2 * EACH) as i64);
    let feed = a.contexts_after(0, 1000).await.expect("feed");
    let mut fed: Vec<i64> = feed.iter().map(|c| c.record.version).collect();
    fed.sort_unstable();
    assert_eq!(fed, (1..=(2 * EACH) as i64).collect::<Vec<_>>());
    assert!(feed.windows(2).all(|pair| pair[0].seq < pair[1].seq));

    tokio::time::timeout(Duration::from_secs(5), heard_by_b.changed())
        .await
        .expect("b hears of the puts")
        .expect("the listener runs");

    a.close().await;
    b.close().await;
}
