//! Sessions end to end: every fixture file imports over HTTP with the counts
//! pinned in cairn-sessions' tests, importing again adds nothing, a grown
//! file adds only its new records, tool outputs come back as views whose refs
//! lead to the full output, and search finds what was imported and put.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_client::{ClientError, SearchOptions, SharedContext};
use cairn_tests::TestServer;
use cairn_types::{ErrorCode, SearchResults};

fn fixture(path: &str) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sessions");
    std::fs::read(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Searches until the indexer has caught up (it runs in the background).
async fn search_until(
    client: &SharedContext,
    options: SearchOptions,
    found: impl Fn(&SearchResults) -> bool,
) -> anyhow::Result<SearchResults> {
    let started = Instant::now();
    loop {
        let results = client.search(&options).await?;
        if found(&results) || started.elapsed() > Duration::from_secs(20) {
            return Ok(results);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn query(text: &str) -> SearchOptions {
    SearchOptions {
        query: text.to_owned(),
        limit: Some(50),
        ..SearchOptions::default()
    }
}

#[tokio::test]
async fn every_fixture_imports_with_its_counts_and_importing_again_adds_nothing()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    // (file, agent, messages): the counts cairn-sessions pins from its
    // independent Python count of the fixtures.
    let cases = [
        ("claude/session-3fe1b6bc.jsonl", "claude", 196),
        ("claude/session-9eda1058.jsonl", "claude", 15),
        ("claude/incremental-subagents/turn-1.jsonl", "claude", 16),
        (
            "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
            "codex",
            82,
        ),
        (
            "gemini/session-2025-12-01T21-45-5b959dae.json",
            "gemini",
            26,
        ),
    ];
    for (file, agent, messages) in cases {
        let report = client.import_session(fixture(file), None).await?;
        assert_eq!(report.agent, agent, "{file}");
        assert_eq!(report.sessions, 1, "{file}");
        assert_eq!(report.messages, messages, "{file}");
        assert!(report.errors.is_empty(), "{file}: {:?}", report.errors);
        let again = client.import_session(fixture(file), Some(agent)).await?;
        assert_eq!(again.messages, 0, "{file}: importing again adds nothing");
    }
    // The Codex pair: the grown file adds only its new records.
    let first = client
        .import_session(fixture("codex/turn-1.jsonl"), None)
        .await?;
    assert_eq!(first.messages, 4);
    let grown = client
        .import_session(fixture("codex/turn-2.jsonl"), None)
        .await?;
    assert_eq!(
        grown.messages, 4,
        "turn-2 holds turn-1's four and four more"
    );
    server.stop().await
}

#[tokio::test]
async fn a_session_reads_back_with_tool_outputs_as_views_whose_refs_hold_the_output()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    client
        .import_session(fixture("claude/session-3fe1b6bc.jsonl"), None)
        .await?;
    let list: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("{}/v1/sessions?agent=claude", server.url()))
            .await?
            .bytes()
            .await?,
    )?;
    let sessions = list["sessions"].as_array().expect("a list");
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(session["project"], "/Users/user/repo");
    assert_eq!(session["messages"], 196);
    assert_eq!(session["tool_calls"], 76);
    let id = session["id"].as_str().expect("an id");
    let detail = client.session(id).await?;
    assert_eq!(detail.session.id, id);
    let viewed: Vec<_> = detail
        .messages
        .iter()
        .filter(|message| message.reference.is_some())
        .collect();
    assert!(!viewed.is_empty(), "long tool outputs are blobs");
    let compressed = viewed
        .iter()
        .find(|message| !message.markers.is_empty())
        .expect("some tool output is long enough to be cut");
    assert!(compressed.tokens < compressed.tokens_original);
    let reference = compressed.reference.as_deref().expect("a ref");
    let full = client.retrieve(reference).await?;
    assert!(full.len() > compressed.content.len());
    assert_eq!(compressed.role, "tool");

    let missing = client.session("no-such-session").await;
    assert!(matches!(&missing, Err(error) if error.code() == Some(ErrorCode::NotFound)));
    server.stop().await
}

#[tokio::test]
async fn search_finds_identifiers_by_their_parts_phrases_and_filters() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    for file in [
        "claude/session-3fe1b6bc.jsonl",
        "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl",
        "gemini/session-2025-12-01T21-45-5b959dae.json",
    ] {
        client.import_session(fixture(file), None).await?;
    }
    let whole = search_until(&client, query("parseSessionFile"), |r| r.total > 0).await?;
    assert!(whole.total > 0, "the identifier whole");
    assert!(
        whole
            .hits
            .iter()
            .all(|hit| hit.agent.as_deref() == Some("claude"))
    );
    assert!(
        whole.hits[0].snippet.contains("**"),
        "{}",
        whole.hits[0].snippet
    );
    let hit = &whole.hits[0];
    assert!(hit.session.is_some() && hit.position.is_some());
    // The ref of the full message resolves.
    let full = client.retrieve(&hit.reference).await?;
    assert!(
        String::from_utf8_lossy(&full).contains("parseSessionFile"),
        "{}",
        hit.reference
    );

    // By a part: `SessionFile` is no word of its own, `session` is.
    let part = client.search(&query("parse session file")).await?;
    assert!(part.total >= whole.total);

    let claude_only = client
        .search(&SearchOptions {
            agent: Some("codex".into()),
            ..query("parseSessionFile")
        })
        .await?;
    assert_eq!(claude_only.total, 0, "the agent filter");
    let in_query = client
        .search(&query("parseSessionFile agent:claude"))
        .await?;
    assert_eq!(in_query.total, whole.total, "a filter inside the query");
    let too_early = client
        .search(&SearchOptions {
            until: Some("2020-01-01T00:00:00Z".into()),
            ..query("parseSessionFile")
        })
        .await?;
    assert_eq!(too_early.total, 0, "the time filter");

    // A malformed query is a 400 saying why, not a 500.
    let bad = client.search(&query("unclosed AND")).await;
    match bad {
        Err(ClientError::Api {
            status, message, ..
        }) => {
            assert_eq!(status, 400);
            assert!(message.contains("invalid query"), "{message}");
        }
        other => panic!("expected a 400: {other:?}"),
    }
    server.stop().await
}

#[tokio::test]
async fn a_context_put_by_one_agent_is_found_by_another() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .agent("codex")
        .put(
            "notes/migration.md",
            "Plan: move the userAccounts table to PostgreSQL 15",
        )
        .await?;
    let found = search_until(&server.agent("claude"), query("accounts postgresql"), |r| {
        r.total > 0
    })
    .await?;
    assert_eq!(found.total, 1);
    let hit = &found.hits[0];
    assert_eq!(hit.kind, "context");
    assert_eq!(hit.key.as_deref(), Some("notes/migration.md"));
    assert_eq!(hit.agent.as_deref(), Some("codex"));
    // Deleted, it is gone from search.
    server.client().delete("notes/migration.md").await?;
    let gone = server
        .client()
        .search(&query("accounts postgresql"))
        .await?;
    assert_eq!(gone.total, 0);
    server.stop().await
}

/// Regression: the indexer followed the contexts' rowid, which SQLite hands
/// out again after the newest rows are deleted, so a context put after such
/// a delete was never found.
#[tokio::test]
async fn contexts_put_after_deleting_the_newest_are_still_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    client.put("notes/first", "an ordinary first note").await?;
    client
        .put("notes/newest", "the newest note, soon deleted")
        .await?;
    search_until(&client, query("newest"), |r| r.total == 1).await?;
    client.delete("notes/newest").await?;
    client
        .put("notes/after", "written after the delete: quokka")
        .await?;
    let found = search_until(&client, query("quokka"), |r| r.total > 0).await?;
    assert_eq!(found.total, 1, "{found:?}");
    assert_eq!(found.hits[0].key.as_deref(), Some("notes/after"));
    server.stop().await
}

#[tokio::test]
async fn bad_session_files_get_clear_errors_and_torn_lines_lose_nothing_else() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = server.client();
    for (body, why) in [
        (Vec::new(), "empty"),
        (vec![0xff, 0xfe, 0x00, 0x13, 0x37], "binary garbage"),
        (b"just some text\nnot json\n".to_vec(), "not a session"),
    ] {
        let result = client.import_session(body, None).await;
        assert!(
            matches!(&result, Err(error) if error.code() == Some(ErrorCode::InvalidRequest)),
            "{why}: {result:?}"
        );
    }
    let unknown_agent = client
        .import_session(fixture("codex/turn-1.jsonl"), Some("cursor"))
        .await;
    assert!(
        matches!(&unknown_agent, Err(error) if error.code() == Some(ErrorCode::InvalidRequest))
    );

    // A truncated last line: reported, and everything before it imported.
    let mut torn = fixture("claude/session-9eda1058.jsonl");
    let keep = torn.len() - 40;
    torn.truncate(keep);
    let report = client.import_session(torn, None).await?;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(report.messages >= 14, "{}", report.messages);
    server.stop().await
}

#[tokio::test]
async fn a_missing_index_is_rebuilt_from_the_database_on_start() -> anyhow::Result<()> {
    index_rebuilt_after(|index| {
        std::fs::remove_dir_all(index).expect("the index folder");
    })
    .await
}

#[tokio::test]
async fn a_corrupt_index_is_rebuilt_from_the_database_on_start() -> anyhow::Result<()> {
    index_rebuilt_after(|index| {
        // Every file of the index (meta.json and the segments) with bytes flipped.
        for entry in std::fs::read_dir(index).expect("the index folder") {
            let file = entry.expect("an entry").path();
            if file.is_file()
                && !file
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
            {
                let mut bytes = std::fs::read(&file).expect("read");
                let middle = bytes.len() / 2;
                if let Some(byte) = bytes.get_mut(middle) {
                    *byte ^= 0xff;
                }
                std::fs::write(&file, bytes).expect("write");
            }
        }
    })
    .await
}

/// Imports a session, stops the server, does `damage` to its index folder,
/// starts it again over the same database: search finds everything again.
async fn index_rebuilt_after(damage: impl FnOnce(&std::path::Path)) -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server
        .client()
        .import_session(
            fixture("gemini/session-2025-12-01T21-45-5b959dae.json"),
            None,
        )
        .await?;
    let before = search_until(&server.client(), query("gemini"), |r| r.total > 0).await?;
    assert!(before.total > 0);
    let index = server.data_dir().join("index");
    let server = server.restart_with(|| damage(&index)).await?;
    let after = search_until(&server.client(), query("gemini"), |r| {
        r.total >= before.total
    })
    .await?;
    assert_eq!(after.total, before.total);
    server.stop().await
}

#[tokio::test]
async fn a_deep_embedded_identifier_is_found_shown_and_its_copies_are_one_hit() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = server.client();
    // The identifier sits inside a quoted file name, 40 KB into a tool output.
    let mut output = "INFO scanning tables, nothing to report yet\n".repeat(1000);
    output.push_str("ERROR sqlite3: cannot open 'user_prompts.db': database is locked\n");
    output.push_str(&"INFO retrying later\n".repeat(20));
    for key in ["runs/a/stderr", "runs/b/stderr", "runs/c/stderr"] {
        client.put(key, output.clone()).await?;
    }
    client
        .put("runs/d/stderr", "the user prompts table is fine")
        .await?;
    let found = search_until(&client, query("user_prompts"), |r| {
        r.hits.iter().any(|hit| hit.keys.len() == 3)
    })
    .await?;
    assert_eq!(found.hits.len(), 1, "{found:#?}");
    let hit = &found.hits[0];
    let mut keys = hit.keys.clone();
    assert_eq!(keys.first(), hit.key.as_ref(), "its own key first");
    keys.sort();
    assert_eq!(keys, ["runs/a/stderr", "runs/b/stderr", "runs/c/stderr"]);
    assert!(
        hit.snippet.contains("**user_prompts.db**"),
        "the snippet shows the match, not the head: {}",
        hit.snippet
    );
    // The words apart find the prose too; the copies are still one hit.
    let both = client.search(&query("user prompts")).await?;
    assert_eq!(both.hits.len(), 2, "{both:#?}");
    // Over REST, as any client sees it.
    let body: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!(
            "{}/v1/search?q=file_name.rs%3A12%20OR%20user_prompts.db",
            server.url()
        ))
        .await?
        .error_for_status()?
        .bytes()
        .await?,
    )?;
    assert_eq!(
        body["hits"][0]["keys"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );
    server.stop().await
}
