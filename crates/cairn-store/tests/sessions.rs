//! Imported sessions, on SQLite and on PostgreSQL alike: re-importing adds nothing, a newer copy of a
//! record replaces it in place, positions follow import order, tool outputs
//! are blobs that gc keeps while a message points at them; activity by day,
//! and the list's kind and time filters.

#[macro_use]
mod common;

use std::sync::Arc;

use cairn_core::ContentHash;
use cairn_store::{
    ListFilter, MessageBody, NewMessage, Origin, SessionFilter, SessionImport, SessionRow, Store,
};
use cairn_types::TenantId;

fn session(id: &str, agent: &str, at: i64) -> SessionRow {
    SessionRow {
        id: id.to_owned(),
        agent: agent.to_owned(),
        project: Some("/work/app".to_owned()),
        title: Some(format!("session {id}")),
        parent: None,
        started_at: Some(at),
        updated_at: Some(at + 10),
        thread_key: None,
    }
}

fn text(session: &str, uid: &str, role: &str, body: &str) -> NewMessage {
    NewMessage {
        session: session.to_owned(),
        uid: uid.to_owned(),
        role: role.to_owned(),
        tool: None,
        call_id: None,
        at: Some(5),
        injected: false,
        body: MessageBody::Text(body.to_owned()),
    }
}

fn first_import() -> SessionImport {
    let output = b"tool output, long enough to live in a blob";
    SessionImport {
        origin: Origin::File,
        sessions: vec![session("s1", "claude", 1_000)],
        messages: vec![
            text("s1", "u1", "user", "fix the build"),
            NewMessage {
                tool: Some("Bash".into()),
                call_id: Some("c1".into()),
                ..text(
                    "s1",
                    "u2",
                    "assistant",
                    "Bash({\"command\":\"cargo build\"})",
                )
            },
            NewMessage {
                tool: Some("Bash".into()),
                call_id: Some("c1".into()),
                body: MessageBody::Blob(ContentHash::of(output)),
                ..text("s1", "u3", "tool", "")
            },
        ],
        blobs: vec![common::blob(output)],
    }
}

async fn importing_again_adds_nothing_and_a_grown_file_adds_its_new_records(store: Arc<dyn Store>) {
    let tenant = TenantId::new("default");
    let outcome = store
        .import_sessions(&tenant, &first_import(), 100)
        .await
        .expect("import");
    assert_eq!((outcome.sessions_created, outcome.messages_added), (1, 3));
    let again = store
        .import_sessions(&tenant, &first_import(), 200)
        .await
        .expect("import");
    assert_eq!((again.sessions_created, again.messages_added), (0, 0));
    assert_eq!(again.messages_unchanged, 3);

    let mut grown = first_import();
    grown
        .messages
        .push(text("s1", "u4", "assistant", "the build passes now"));
    // The same record, rewritten (a Gemini message gains its tokens).
    grown.messages[0] = text("s1", "u1", "user", "fix the build, please");
    let outcome = store
        .import_sessions(&tenant, &grown, 300)
        .await
        .expect("import");
    assert_eq!(outcome.messages_added, 1);
    assert_eq!(outcome.messages_replaced, 1);

    let messages = store
        .session_messages(&tenant, "s1", 0, 100)
        .await
        .expect("messages");
    let positions: Vec<(u64, &str)> = messages
        .iter()
        .map(|message| (message.position, message.uid.as_str()))
        .collect();
    assert_eq!(positions, [(0, "u1"), (1, "u2"), (2, "u3"), (3, "u4")]);
    assert_eq!(
        messages[0].body,
        MessageBody::Text("fix the build, please".into())
    );
    let record = store
        .get_session(&tenant, "s1")
        .await
        .expect("get")
        .expect("the session");
    assert_eq!((record.messages, record.tool_calls), (4, 1));
    assert_eq!(record.row.project.as_deref(), Some("/work/app"));

    // The indexer sees every message once, and the replaced one again.
    let all = store.messages_after(0, 100).await.expect("after");
    assert_eq!(all.len(), 4);
    let seq = |uid: &str| {
        all.iter()
            .find(|m| m.message.uid == uid)
            .map(|m| m.message.seq)
            .expect("indexed")
    };
    assert!(seq("u1") > seq("u3"), "the replaced record comes again");
    let last = all.iter().map(|m| m.message.seq).max().expect("some");
    assert_eq!(store.last_message_seq().await.expect("seq"), last);
    assert!(
        store
            .messages_after(last, 10)
            .await
            .expect("after")
            .is_empty()
    );
}

async fn sessions_list_newest_first_filtered_and_per_tenant(store: Arc<dyn Store>) {
    let tenant = TenantId::new("default");
    let import = SessionImport {
        sessions: vec![
            session("old", "codex", 1_000),
            session("new", "claude", 9_000),
            session("mid", "claude", 5_000),
        ],
        ..SessionImport::default()
    };
    store
        .import_sessions(&tenant, &import, 1)
        .await
        .expect("import");
    let list = |filter: SessionFilter| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move {
            store
                .list_sessions(
                    &tenant,
                    &SessionFilter {
                        limit: 10,
                        ..filter
                    },
                )
                .await
                .expect("list")
                .into_iter()
                .map(|record| record.row.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(SessionFilter::default()).await, ["new", "mid", "old"]);
    let claude = SessionFilter {
        agent: Some("claude".into()),
        ..SessionFilter::default()
    };
    assert_eq!(list(claude).await, ["new", "mid"]);
    let since = SessionFilter {
        since: Some(5_000),
        ..SessionFilter::default()
    };
    assert_eq!(list(since).await, ["new", "mid"]);
    let page = SessionFilter {
        after: Some((5_010, "mid".into())),
        ..SessionFilter::default()
    };
    assert_eq!(list(page).await, ["old"]);
    let same_time = SessionFilter {
        after: Some((5_010, "a".into())),
        ..SessionFilter::default()
    };
    assert_eq!(list(same_time).await, ["mid", "old"]);
    let other = store
        .list_sessions(
            &TenantId::new("acme"),
            &SessionFilter {
                limit: 10,
                ..SessionFilter::default()
            },
        )
        .await
        .expect("list");
    assert!(other.is_empty());
}

async fn gc_keeps_tool_output_blobs_that_messages_point_at(store: Arc<dyn Store>) {
    let tenant = TenantId::new("default");
    store
        .import_sessions(&tenant, &first_import(), 100)
        .await
        .expect("import");
    let report = store.gc(i64::MAX / 2).await.expect("gc");
    assert_eq!(report.deleted_blobs, 0);
    let hash = ContentHash::of(b"tool output, long enough to live in a blob");
    assert!(
        store
            .blob_data(&tenant, &hash)
            .await
            .expect("read")
            .is_some()
    );
}

async fn a_uid_twice_in_one_import_keeps_its_first_place_and_last_body(store: Arc<dyn Store>) {
    let tenant = TenantId::new("default");
    let import = SessionImport {
        sessions: vec![session("g1", "gemini", 1_000)],
        messages: vec![
            text("g1", "a", "assistant", "thinking..."),
            text("g1", "b", "user", "next question"),
            text("g1", "a", "assistant", "the final answer"),
        ],
        ..SessionImport::default()
    };
    let outcome = store
        .import_sessions(&tenant, &import, 1)
        .await
        .expect("import");
    assert_eq!(outcome.messages_added, 2);
    let messages = store
        .session_messages(&tenant, "g1", 0, 10)
        .await
        .expect("messages");
    let seen: Vec<(u64, &str, &MessageBody)> = messages
        .iter()
        .map(|m| (m.position, m.uid.as_str(), &m.body))
        .collect();
    assert_eq!(
        seen,
        [
            (0, "a", &MessageBody::Text("the final answer".into())),
            (1, "b", &MessageBody::Text("next question".into())),
        ]
    );
}

/// A conversation as the proxy records it (uids left to the store), or as
/// the agent's file holds it.
fn conversation(origin: Origin, session: &str, key: &str, turns: &[(&str, &str)]) -> SessionImport {
    let mut blobs = Vec::new();
    let messages = turns
        .iter()
        .enumerate()
        .map(|(index, (role, body))| {
            let call = body.strip_prefix("call ").or(body.strip_prefix("result "));
            let (role, tool) = match (*role, call) {
                ("assistant", Some(_)) => ("assistant", Some("Bash".to_owned())),
                (role, _) => (role, None),
            };
            let bytes = body.as_bytes();
            blobs.push(common::blob(bytes));
            NewMessage {
                tool,
                call_id: call.map(str::to_owned),
                body: MessageBody::Blob(ContentHash::of(bytes)),
                ..text(session, &format!("f{index}"), role, "")
            }
        })
        .collect();
    let mut row = self::session(session, "gemini", 1_000);
    row.thread_key = Some(key.to_owned());
    SessionImport {
        origin,
        sessions: vec![row],
        messages,
        blobs,
    }
}

async fn the_proxys_copy_and_the_files_copy_become_one_session(store: Arc<dyn Store>) {
    let tenant = TenantId::new("default");
    let turn = [
        ("user", "run the build"),
        ("assistant", "call c1"),
        ("tool", "result c1"),
        ("assistant", "it passes"),
    ];
    // The proxy saw the conversation first, under an id of its own.
    let proxied = conversation(Origin::Proxy, "proxy-gemini-1", "k1", &turn);
    let outcome = store
        .import_sessions(&tenant, &proxied, 1)
        .await
        .expect("import");
    assert_eq!(outcome.messages_added, 4);
    let again = store
        .import_sessions(&tenant, &proxied, 2)
        .await
        .expect("import");
    assert_eq!((again.messages_added, again.messages_unchanged), (0, 4));
    assert_eq!(
        store
            .find_thread(&tenant, "gemini", "k1")
            .await
            .expect("find"),
        ["proxy-gemini-1"]
    );
    // The agent's file: its own id, the same conversation and a notice.
    let mut filed = turn.to_vec();
    filed.insert(1, ("system", "a notice the wire never had"));
    let file = conversation(Origin::File, "s-file", "k1", &filed);
    let outcome = store
        .import_sessions(&tenant, &file, 3)
        .await
        .expect("import");
    assert_eq!(outcome.messages_added, 5);
    assert_eq!(
        outcome.freed,
        (0..4)
            .map(|p| ("proxy-gemini-1".to_owned(), p))
            .collect::<Vec<_>>(),
        "the proxied copy's positions are emptied"
    );
    assert!(
        store
            .get_session(&tenant, "proxy-gemini-1")
            .await
            .expect("get")
            .is_none(),
        "the proxied copy is folded into the file's session"
    );
    assert_eq!(
        store
            .find_thread(&tenant, "gemini", "k1")
            .await
            .expect("find"),
        ["s-file"]
    );
    // The proxy again, one turn longer, into the file's session.
    let mut longer = turn.to_vec();
    longer.extend([("user", "and the tests?"), ("assistant", "call c2")]);
    let proxied = conversation(Origin::Proxy, "s-file", "k1", &longer);
    let outcome = store
        .import_sessions(&tenant, &proxied, 4)
        .await
        .expect("import");
    assert_eq!(outcome.messages_added, 2, "only the new turn");
    let messages = store
        .session_messages(&tenant, "s-file", 0, 100)
        .await
        .expect("messages");
    let uids: Vec<&str> = messages.iter().map(|m| m.uid.as_str()).collect();
    assert_eq!(uids.len(), 7, "{uids:?}");
    assert!(uids[..5].iter().all(|uid| uid.starts_with('f')), "{uids:?}");
    assert!(
        uids[5..]
            .iter()
            .all(|uid| uid.starts_with(cairn_store::PROXY_UID)),
        "{uids:?}"
    );
    // The file grows to the new turn: the proxied rest is replaced.
    let mut grown = filed.clone();
    grown.extend([
        ("user", "and the tests?"),
        ("assistant", "call c2"),
        ("tool", "result c2"),
    ]);
    let outcome = store
        .import_sessions(
            &tenant,
            &conversation(Origin::File, "s-file", "k1", &grown),
            5,
        )
        .await
        .expect("import");
    assert_eq!(outcome.messages_added, 3);
    let messages = store
        .session_messages(&tenant, "s-file", 0, 100)
        .await
        .expect("messages");
    assert_eq!(messages.len(), 8);
    assert!(messages.iter().all(|m| m.uid.starts_with('f')));
    let positions: Vec<u64> = messages.iter().map(|m| m.position).collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{positions:?}"
    );
}

/// Contexts by day, agent and content type; sessions by the day they
/// started; everything per tenant; the days before `since` left out.
async fn activity_counts_puts_and_sessions_by_day_agent_and_kind(store: Arc<dyn Store>) {
    const DAY: i64 = 86_400_000;
    let tenant = TenantId::new("default");
    let at = |key: &str, agent: &str, content: &[u8], day: i64, json: bool| {
        let mut write = common::write("default", key, content, None);
        write.agent = Some(agent.to_owned());
        write.created_at = day * DAY + 5;
        if let Some(blob) = write.blob.as_mut() {
            blob.tokens_original = 100;
            blob.tokens_compressed = 10;
            if json {
                blob.content_type = "application/json".into();
            }
        }
        write
    };
    for write in [
        at("a", "claude", b"one", 20_000, false),
        at("b", "claude", b"two", 20_000, false),
        at("c", "codex", b"[3]", 20_000, true),
        at("d", "codex", b"four", 20_001, false),
        at("old", "codex", b"five", 19_000, false),
    ] {
        store.put_context(write).await.expect("put");
    }
    store
        .put_context(common::write("acme", "x", b"another tenant", None))
        .await
        .expect("put");
    let mut import = first_import();
    import.sessions[0].started_at = Some(20_001 * DAY);
    import
        .sessions
        .push(session("s2", "gemini", 20_001 * DAY + 7));
    import.sessions.push(session("s0", "gemini", 19_000 * DAY));
    store
        .import_sessions(&tenant, &import, 1)
        .await
        .expect("import");

    let activity = store
        .activity(&tenant, 20_000 * DAY)
        .await
        .expect("activity");
    let contexts: Vec<_> = activity
        .contexts
        .iter()
        .map(|row| {
            (
                row.day,
                row.agent.as_deref().unwrap_or("-"),
                row.content_type.as_str(),
                row.versions,
                row.tokens_original,
                row.tokens_compressed,
            )
        })
        .collect();
    assert_eq!(
        contexts,
        [
            (20_000, "claude", "text/plain", 2, 200, 20),
            (20_000, "codex", "application/json", 1, 100, 10),
            (20_001, "codex", "text/plain", 1, 100, 10),
        ]
    );
    let sessions: Vec<_> = activity
        .sessions
        .iter()
        .map(|row| (row.day, row.agent.as_str(), row.sessions, row.messages))
        .collect();
    assert_eq!(
        sessions,
        [(20_001, "claude", 1, 3), (20_001, "gemini", 1, 0)]
    );
    assert_eq!((activity.sessions_total, activity.messages_total), (3, 3));
    let other = store
        .activity(&TenantId::new("acme"), 0)
        .await
        .expect("activity");
    assert_eq!(other.contexts.len(), 1);
    assert!(other.sessions.is_empty() && other.sessions_total == 0);
}

/// The list's kind and time filters look at each key's latest version.
async fn contexts_list_by_content_type_and_time(store: Arc<dyn Store>) {
    let tenant = TenantId::new("default");
    let json_at_5000 = |key: &str, content: &[u8]| {
        let mut json = common::write("default", key, content, None);
        json.created_at = 5_000;
        if let Some(blob) = json.blob.as_mut() {
            blob.content_type = "application/json".into();
        }
        json
    };
    store
        .put_context(json_at_5000("j", b"[1]"))
        .await
        .expect("put");
    // `v` was JSON written at 5,000; its latest version is text written at 1,000.
    store
        .put_context(json_at_5000("v", b"[2]"))
        .await
        .expect("put");
    for (key, content) in [("v", b"now text".as_slice()), ("t", b"text")] {
        store
            .put_context(common::write("default", key, content, None))
            .await
            .expect("put");
    }
    let keys = |filter: ListFilter| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move {
            store
                .list_contexts(
                    &tenant,
                    &ListFilter {
                        limit: 10,
                        ..filter
                    },
                    0,
                )
                .await
                .expect("list")
                .into_iter()
                .map(|record| record.key)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(keys(ListFilter::default()).await, ["j", "t", "v"]);
    let kind = ListFilter {
        content_type: Some("application/json".into()),
        ..ListFilter::default()
    };
    assert_eq!(keys(kind).await, ["j"]);
    let since = ListFilter {
        since: Some(2_000),
        ..ListFilter::default()
    };
    assert_eq!(keys(since).await, ["j"]);
}

on_every_backend!(
    activity_counts_puts_and_sessions_by_day_agent_and_kind,
    contexts_list_by_content_type_and_time,
    the_proxys_copy_and_the_files_copy_become_one_session,
    importing_again_adds_nothing_and_a_grown_file_adds_its_new_records,
    sessions_list_newest_first_filtered_and_per_tenant,
    gc_keeps_tool_output_blobs_that_messages_point_at,
    a_uid_twice_in_one_import_keeps_its_first_place_and_last_body,
);
