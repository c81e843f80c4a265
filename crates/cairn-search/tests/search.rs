//! The search index on disk: identifiers by their parts, paths by file name,
//! phrases, filters, tenants, recency, snippets and malformed queries.

use cairn_search::{Doc, SearchError, SearchIndex, SearchQuery};

const DAY: i64 = 24 * 3600 * 1000;
const NOW: i64 = 1_790_000_000_000;

fn message(id: &str, agent: &str, session: &str, at: i64, text: &str) -> Doc {
    Doc {
        id: id.to_owned(),
        tenant: "default".to_owned(),
        kind: "message".to_owned(),
        agent: Some(agent.to_owned()),
        project: Some("/work/app".to_owned()),
        session: Some(session.to_owned()),
        role: Some("assistant".to_owned()),
        tool: None,
        key: None,
        position: Some(0),
        reference: format!("ccr:{:0>24}", id.len()),
        at,
        text: text.to_owned(),
    }
}

fn index() -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let index = SearchIndex::open(&dir.path().join("index")).expect("the index opens");
    index
        .add([
            message(
                "m1",
                "claude",
                "s1",
                NOW - DAY,
                "I changed getUserById to cache results",
            ),
            message(
                "m2",
                "codex",
                "s2",
                NOW - 2 * DAY,
                "error: connection reset by peer in src/net/client.rs",
            ),
            message(
                "m3",
                "gemini",
                "s3",
                NOW - 40 * DAY,
                "the connection was reset twice",
            ),
            message(
                "m4",
                "claude",
                "s1",
                NOW - 3 * DAY,
                "ran cargo test: 12 passed",
            ),
            Doc {
                kind: "context".to_owned(),
                key: Some("notes/plan.md".to_owned()),
                session: None,
                ..message(
                    "c1",
                    "codex",
                    "",
                    NOW,
                    "plan: migrate the user table to PostgreSQL",
                )
            },
        ])
        .expect("documents are added");
    index.commit("1").expect("commit");
    (dir, index)
}

fn search(index: &SearchIndex, text: &str) -> Vec<String> {
    search_with(
        index,
        SearchQuery {
            text: text.to_owned(),
            ..query()
        },
    )
}

fn query() -> SearchQuery {
    SearchQuery {
        tenant: "default".to_owned(),
        limit: 10,
        now: NOW,
        ..SearchQuery::default()
    }
}

fn search_with(index: &SearchIndex, query: SearchQuery) -> Vec<String> {
    let found = index.search(&query).expect("the search runs");
    let mut ids: Vec<String> = found.hits.into_iter().map(|hit| hit.id).collect();
    ids.sort();
    ids
}

#[test]
fn an_identifier_is_found_by_its_parts_and_whole() {
    let (_dir, index) = index();
    assert_eq!(search(&index, "getUserById"), ["m1"]);
    assert_eq!(search(&index, "user"), ["c1", "m1"]);
    assert_eq!(
        search(&index, "ById"),
        Vec::<String>::new(),
        "a part is a word, not a substring"
    );
    assert_eq!(search(&index, "by"), ["m1", "m2"]);
}

#[test]
fn a_path_is_found_by_its_file_name() {
    let (_dir, index) = index();
    assert_eq!(search(&index, "client.rs"), ["m2"]);
    assert_eq!(search(&index, "client"), ["m2"]);
    assert_eq!(search(&index, "src/net/client.rs"), ["m2"]);
}

#[test]
fn phrases_match_in_order() {
    let (_dir, index) = index();
    assert_eq!(search(&index, "\"connection reset\""), ["m2"]);
    assert_eq!(search(&index, "connection reset"), ["m2", "m3"]);
}

#[test]
fn filters_narrow_by_agent_kind_and_time() {
    let (_dir, index) = index();
    let by_agent = SearchQuery {
        text: "connection".to_owned(),
        agent: Some("gemini".to_owned()),
        ..query()
    };
    assert_eq!(search_with(&index, by_agent), ["m3"]);
    assert_eq!(search(&index, "connection agent:codex"), ["m2"]);
    let recent = SearchQuery {
        text: "connection".to_owned(),
        since: Some(NOW - 7 * DAY),
        ..query()
    };
    assert_eq!(search_with(&index, recent), ["m2"]);
    let old = SearchQuery {
        text: "connection".to_owned(),
        until: Some(NOW - 7 * DAY),
        ..query()
    };
    assert_eq!(search_with(&index, old), ["m3"]);
    let contexts = SearchQuery {
        kind: Some("context".to_owned()),
        ..query()
    };
    assert_eq!(search_with(&index, contexts), ["c1"]);
}

#[test]
fn tenants_never_see_each_other() {
    let (_dir, index) = index();
    let other = SearchQuery {
        tenant: "acme".to_owned(),
        text: "connection".to_owned(),
        ..query()
    };
    assert!(search_with(&index, other).is_empty());
}

/// A score depends on the caller's tenant alone: what another tenant
/// stores (the same word many times, long documents) does not move it, so
/// a one-hit search tells nothing of another tenant's data.
#[test]
fn scores_depend_on_the_callers_tenant_alone() {
    let (_dir, index) = index();
    let score = |index: &SearchIndex| {
        let found = index
            .search(&SearchQuery {
                text: "getUserById".to_owned(),
                ..query()
            })
            .expect("the search runs");
        assert_eq!(found.hits.len(), 1);
        found.hits[0].score
    };
    let alone = score(&index);
    let others: Vec<Doc> = (0..200)
        .map(|n| Doc {
            tenant: "acme".to_owned(),
            ..message(
                &format!("acme-{n}"),
                "codex",
                "s9",
                NOW,
                &format!("getUserById {} {}", "padding words ".repeat(n % 7 * 20), n),
            )
        })
        .collect();
    index.add(others).expect("adds");
    index.commit("w").expect("commits");
    assert_eq!(
        score(&index),
        alone,
        "another tenant's words moved the score"
    );
    // The caller's own new documents do move it.
    index
        .add([message(
            "m9",
            "claude",
            "s1",
            NOW - DAY,
            "getUserById again",
        )])
        .expect("adds");
    index.commit("w2").expect("commits");
    let found = index
        .search(&SearchQuery {
            text: "getUserById".to_owned(),
            ..query()
        })
        .expect("the search runs");
    assert!(found.hits.iter().all(|hit| hit.score != alone), "{found:?}");
}

#[test]
fn recent_messages_rank_first_and_snippets_highlight() {
    let (_dir, index) = index();
    index
        .add([
            message(
                "old",
                "codex",
                "s8",
                NOW - 90 * DAY,
                "deploy finished without errors",
            ),
            message(
                "new",
                "codex",
                "s9",
                NOW - DAY,
                "deploy finished without errors",
            ),
        ])
        .expect("add");
    index.commit("2").expect("commit");
    let found = index
        .search(&SearchQuery {
            text: "deploy".to_owned(),
            ..query()
        })
        .expect("search");
    assert_eq!(found.total, 2);
    assert_eq!(found.hits[0].id, "new", "the recent one first");
    assert!(found.hits[0].score > found.hits[1].score);
    assert_eq!(found.hits[0].snippet, "**deploy** finished without errors");
    assert_eq!(found.hits[0].session.as_deref(), Some("s9"));
    assert_eq!(found.hits[0].agent.as_deref(), Some("codex"));
}

#[test]
fn an_unclosed_quote_or_an_unknown_field_is_read_as_meant() {
    let (_dir, index) = index();
    assert_eq!(search(&index, "\"connection reset"), ["m2"]);
    assert_eq!(search(&index, "nosuchfield:x"), Vec::<String>::new());
}

#[test]
fn a_malformed_query_is_an_error_not_a_panic() {
    let (_dir, index) = index();
    for bad in ["(a OR", "a AND", "OR"] {
        match index.search(&SearchQuery {
            text: bad.to_owned(),
            ..query()
        }) {
            Err(SearchError::Query(message)) => assert!(!message.is_empty()),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn documents_are_replaced_by_id_and_the_index_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("index");
    {
        let index = SearchIndex::open(&path).expect("open");
        assert_eq!(index.watermark().expect("watermark"), None);
        index
            .add([message("m1", "claude", "s1", NOW, "first version")])
            .expect("add");
        index
            .add([message("m1", "claude", "s1", NOW, "second version")])
            .expect("add");
        index.commit("42").expect("commit");
        assert_eq!(index.len(), 1);
    }
    let index = SearchIndex::open(&path).expect("reopen");
    assert_eq!(index.watermark().expect("watermark").as_deref(), Some("42"));
    assert_eq!(search(&index, "second"), ["m1"]);
    assert!(search(&index, "first").is_empty());
    index.clear().expect("clear");
    assert!(index.is_empty());
    assert_eq!(index.watermark().expect("watermark"), None);
}

/// An index with one committed document, closed: its folder.
fn committed_index(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("index");
    let index = SearchIndex::open(&path).expect("open");
    index
        .add([message(
            "m1",
            "claude",
            "s1",
            NOW,
            "committed before the damage",
        )])
        .expect("add");
    index.commit("42").expect("commit");
    assert_eq!(index.started_over(), None);
    path
}

/// The files of the index's segments (not `meta.json` nor the lock).
fn segment_files(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(path)
        .expect("the index folder")
        .map(|entry| entry.expect("an entry").path())
        .filter(|file| {
            let name = file
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            !name.starts_with('.') && name != "meta.json"
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "a committed index has segment files");
    files
}

#[test]
fn a_damaged_index_is_started_over_with_the_reason_not_refused() {
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 4] = [
        ("meta.json overwritten", |path| {
            std::fs::write(path.join("meta.json"), b"{ not json").expect("write");
        }),
        ("a segment file removed", |path| {
            std::fs::remove_file(&segment_files(path)[0]).expect("remove");
        }),
        ("a segment file cut short", |path| {
            std::fs::write(&segment_files(path)[0], b"\x01").expect("truncate");
        }),
        ("bytes flipped in every segment file", |path| {
            for file in segment_files(path) {
                let mut bytes = std::fs::read(&file).expect("read");
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(&file, bytes).expect("write");
            }
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = committed_index(dir.path());
        damage(&path);
        let index = SearchIndex::open(&path).unwrap_or_else(|error| panic!("{what}: {error}"));
        assert!(index.started_over().is_some(), "{what}: not noticed");
        // Empty, with no watermark: the caller rebuilds it from the database.
        assert!(index.is_empty(), "{what}");
        assert_eq!(index.watermark().expect("watermark"), None, "{what}");
        index
            .add([message("m2", "codex", "s2", NOW, "written after")])
            .expect("add");
        index.commit("7").expect("commit");
        assert_eq!(search(&index, "written"), ["m2"], "{what}");
    }
    // An index in use by another (a running server) is refused, not judged.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = committed_index(dir.path());
    let running = SearchIndex::open(&path).expect("reopen");
    assert!(SearchIndex::open(&path).is_err(), "one writer per folder");
    assert_eq!(
        running.watermark().expect("watermark").as_deref(),
        Some("42")
    );
    assert_eq!(running.started_over(), None);
}

#[test]
fn a_document_is_replaced_within_one_add_after_a_commit_and_across_segments() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let index = SearchIndex::open(&dir.path().join("index")).expect("open");
    // Twice in one call: the last wins.
    index
        .add([
            message("k1", "claude", "s1", NOW, "alpha draft"),
            message("k2", "claude", "s1", NOW, "bravo kept"),
            message("k1", "claude", "s1", NOW, "alpha final"),
        ])
        .expect("add");
    index.commit("1").expect("commit");
    assert_eq!(index.len(), 2);
    assert_eq!(search(&index, "alpha"), ["k1"]);
    assert!(search(&index, "draft").is_empty());
    // A later commit replaces what an earlier one made searchable, in
    // whichever segment it landed; a new id next to it deletes nothing.
    for round in 2..6 {
        index
            .add([
                message("k1", "claude", "s1", NOW, &format!("alpha round{round}")),
                message(&format!("n{round}"), "claude", "s1", NOW, "charlie new"),
            ])
            .expect("add");
        index.commit(&round.to_string()).expect("commit");
    }
    assert_eq!(index.len(), 2 + 4);
    assert_eq!(search(&index, "round5"), ["k1"]);
    assert!(search(&index, "round4").is_empty());
    assert_eq!(search(&index, "bravo"), ["k2"]);
    assert_eq!(search(&index, "charlie").len(), 4);
}

#[test]
fn searches_move_to_merged_segments_once_the_merge_ends() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let index = SearchIndex::open(&dir.path().join("index")).expect("open");
    // Eight commits make eight segments: tantivy merges them in the
    // background, after the last commit (and its reload) returned.
    for round in 0..8 {
        index
            .add([message(&format!("m{round}"), "claude", "s1", NOW, "delta")])
            .expect("add");
        index.commit(&round.to_string()).expect("commit");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while index.segments() > 1 {
        index.refresh().expect("refresh");
        assert!(
            std::time::Instant::now() < deadline,
            "searches still read {} segments after 60 s",
            index.segments()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!index.refresh().expect("refresh"), "nothing new to see");
    assert_eq!(index.len(), 8);
    assert_eq!(search(&index, "delta").len(), 8);
}

#[test]
fn a_closed_index_releases_its_folder_and_refuses_writes() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("index");
    let first = SearchIndex::open(&path).expect("open");
    assert!(SearchIndex::open(&path).is_err(), "one writer per folder");
    first.close();
    assert!(matches!(
        first.add([message("m1", "claude", "s1", NOW, "text")]),
        Err(SearchError::Closed)
    ));
    let second = SearchIndex::open(&path).expect("the folder is free again");
    second
        .add([message("m1", "claude", "s1", NOW, "text")])
        .expect("add");
    second.commit("1").expect("commit");
    assert_eq!(
        search(&first, "text"),
        Vec::<String>::new(),
        "the closed one still reads (its last view)"
    );
}

/// An index in a temporary folder holding `docs`, committed.
fn committed(docs: impl IntoIterator<Item = Doc>) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let index = SearchIndex::open(&dir.path().join("index")).expect("the index opens");
    index.add(docs).expect("documents are added");
    index.commit("1").expect("commit");
    (dir, index)
}

/// One index of the identifier shapes issue 25 names, each in one message.
fn embedded_identifiers() -> (tempfile::TempDir, SearchIndex) {
    committed([
        message(
            "db",
            "claude",
            "s1",
            NOW,
            "sqlite3 opened 'user_prompts.db' (3 tables)",
        ),
        message(
            "dotted",
            "claude",
            "s1",
            NOW,
            "set a.b_c.d = 4 in the config",
        ),
        message(
            "path",
            "codex",
            "s2",
            NOW,
            "panicked at path/to/file_name.rs:12:5",
        ),
        message("rust", "codex", "s2", NOW, "calls Foo::bar_baz() twice"),
        message(
            "flag",
            "gemini",
            "s3",
            NOW,
            "run it with --flag-name=3 please",
        ),
        message(
            "url",
            "gemini",
            "s3",
            NOW,
            "GET https://api.example.com/v2/getUserById?id=7",
        ),
        message(
            "other",
            "gemini",
            "s3",
            NOW,
            "the user prompts are in a database",
        ),
    ])
}

#[test]
fn identifiers_are_found_inside_dotted_path_and_scoped_tokens() {
    let (_dir, index) = embedded_identifiers();
    for (query, expected) in [
        ("user_prompts", "db"),
        ("user_prompts.db", "db"),
        ("b_c", "dotted"),
        ("a.b_c.d", "dotted"),
        ("file_name.rs", "path"),
        ("file_name", "path"),
        ("file_name.rs:12", "path"),
        ("Foo::bar_baz", "rust"),
        ("bar_baz", "rust"),
        ("--flag-name", "flag"),
        ("flag-name", "flag"),
        ("getUserById", "url"),
        ("\"opened user_prompts.db\"", "db"),
    ] {
        assert_eq!(search(&index, query), [expected], "{query}");
    }
    // The words apart still find both the compound and the prose.
    assert_eq!(search(&index, "user prompts"), ["db", "other"]);
}

#[test]
fn query_syntax_characters_inside_an_identifier_are_searched_not_parsed() {
    let (_dir, index) = embedded_identifiers();
    assert_eq!(search(&index, "bar_baz()"), ["rust"]);
    assert_eq!(search(&index, "agent:codex bar_baz"), ["rust"]);
    assert_eq!(search(&index, "agent:claude bar_baz"), Vec::<String>::new());
    assert_eq!(search(&index, "file_name -Foo::bar_baz"), ["path"]);
    // Parentheses that group still group, around identifiers too.
    assert_eq!(
        search(&index, "(Foo::bar_baz OR file_name.rs:12) AND agent:codex"),
        ["path", "rust"]
    );
    assert_eq!(search(&index, "(user_prompts OR b_c) -a.b_c.d"), ["db"]);
    // A sign before a phrase keeps its meaning. (A negated phrase is not
    // run here: tantivy 0.27's phrase scorer trips a debug assertion when a
    // phrase is excluded from an intersection; release builds run it.)
    assert_eq!(
        cairn_search::prepare("user -\"user prompts\" (-\"a b\" OR +\"c:d\")"),
        "user -\"user prompts\" (-\"a b\" OR +\"c:d\")"
    );
    assert_eq!(
        cairn_search::prepare("-Foo::bar (--flag"),
        "-\"Foo::bar\" (\"--flag\""
    );
    assert_eq!(search(&index, "user +\"user prompts\""), ["other"]);
    assert_eq!(search(&index, "(-getUserById user)"), ["db", "other"]);
}

#[test]
fn a_snippet_shows_a_match_deep_in_a_long_text() {
    let mut text = "ordinary log line with nothing to find\n".repeat(2000);
    text.push_str("here the run calls reconcileLedgerEntries and stops\n");
    text.push_str(&"more ordinary lines\n".repeat(50));
    let (_dir, index) = committed([message("long", "codex", "s1", NOW, &text)]);
    let found = index
        .search(&SearchQuery {
            text: "reconcileLedgerEntries".to_owned(),
            ..query()
        })
        .expect("search");
    assert_eq!(found.hits.len(), 1);
    // Past the stored preview: the index says so, and cuts one from the whole text.
    assert!(!found.hits[0].highlighted, "{}", found.hits[0].snippet);
    let snippets = index
        .snippets("reconcileLedgerEntries", &[text])
        .expect("snippets");
    let snippet = snippets[0].as_deref().expect("a snippet");
    assert!(snippet.contains("**reconcileLedgerEntries**"), "{snippet}");
}

#[test]
fn a_match_inside_a_long_compound_gives_a_short_snippet() {
    let path = (0..400)
        .map(|n| format!("seg{n}"))
        .collect::<Vec<_>>()
        .join("/");
    let text = format!("fetched https://example.org/{path}/getUserById?x=1 ok");
    let (_dir, index) = committed([message("long", "codex", "s1", NOW, &text)]);
    let found = index
        .search(&SearchQuery {
            text: "getUserById".to_owned(),
            ..query()
        })
        .expect("search");
    let snippet = &found.hits[0].snippet;
    assert!(
        snippet.chars().count() <= 2 * 150 + 4,
        "{} chars",
        snippet.len()
    );
    assert!(snippet.contains("**"), "{snippet}");
}

#[test]
fn identical_contexts_are_one_hit_listing_their_keys() {
    let context = |id: &str, key: &str, text: &str| Doc {
        kind: "context".to_owned(),
        key: Some(key.to_owned()),
        reference: format!("ccr:{}", text.len()),
        ..message(id, "codex", "", NOW, text)
    };
    let (_dir, index) = committed([
        context("c1", "a/report", "the migration report: 3 tables moved"),
        context("c2", "b/report", "the migration report: 3 tables moved"),
        context("c3", "c/report", "the migration report: 3 tables moved"),
        context("c4", "d/other", "another migration, of one table"),
        message(
            "m1",
            "claude",
            "s1",
            NOW,
            "the migration report: 3 tables moved",
        ),
    ]);
    let mut found = index
        .search(&SearchQuery {
            text: "migration".to_owned(),
            ..query()
        })
        .expect("search");
    assert_eq!(found.hits.len(), 5);
    let folded = cairn_search::group_by_content(&mut found.hits);
    assert_eq!(folded, 2);
    let contexts: Vec<&cairn_search::Hit> = found
        .hits
        .iter()
        .filter(|hit| hit.kind == "context")
        .collect();
    assert_eq!(contexts.len(), 2);
    let report = contexts
        .iter()
        .find(|hit| !hit.keys.is_empty())
        .expect("the report is one hit");
    let mut keys = report.keys.clone();
    assert_eq!(Some(&keys[0]), report.key.as_ref(), "its own key first");
    keys.sort();
    assert_eq!(keys, ["a/report", "b/report", "c/report"]);
    assert!(
        found.hits.iter().any(|hit| hit.kind == "message"),
        "a message of the same text stays its own hit"
    );
}
