//! Tenants never see each other: reads, lists, search, sessions, stats and
//! refs, known or guessed, answer like a key that does not exist.

use std::time::{Duration, Instant};

use cairn_auth::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;

/// The error body with the key's name taken out, to compare shapes.
fn without(body: &Value, name: &str) -> String {
    body.to_string().replace(name, "KEY")
}

#[tokio::test]
async fn tenants_never_see_each_other() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let a = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let b = token("agent-b", "b", &[Scope::Read, Scope::Write]);
    let text = "tenant a's build log: zebracorn failure in module quux\n".repeat(40);
    let (status, put) = call(
        &server,
        Method::PUT,
        "/v1/contexts/a/log",
        Some(&a),
        Some(&text),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let reference = put["ref"].as_str().expect("a ref").to_owned();
    let session = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/sessions/claude/session-9eda1058.jsonl"),
    )?;
    let imported = reqwest::Client::new()
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .bearer_auth(&a)
        .body(session)
        .send()
        .await?;
    assert_eq!(imported.status(), StatusCode::OK);
    let (_, sessions) = call(&server, Method::GET, "/v1/sessions", Some(&a), None).await?;
    let session_id = sessions["sessions"][0]["id"]
        .as_str()
        .expect("a session id")
        .to_owned();

    // Tenant a finds its own, once indexed.
    let started = Instant::now();
    loop {
        let (_, found) = call(
            &server,
            Method::GET,
            "/v1/search?q=zebracorn",
            Some(&a),
            None,
        )
        .await?;
        if found["total"] == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never indexed: {found}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Tenant b: a's key answers exactly like a key nobody stored.
    let (status, theirs) = call(&server, Method::GET, "/v1/contexts/a/log", Some(&b), None).await?;
    let (_, nobodys) = call(&server, Method::GET, "/v1/contexts/a/nop", Some(&b), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(without(&theirs, "a/log"), without(&nobodys, "a/nop"));
    // A known ref and a guessed one answer alike.
    let guessed = "ccr:0123456789abcdef01234567";
    let (status, known) = call(
        &server,
        Method::GET,
        &format!("/v1/ccr/{reference}"),
        Some(&b),
        None,
    )
    .await?;
    let (_, guess) = call(
        &server,
        Method::GET,
        &format!("/v1/ccr/{guessed}"),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(without(&known, &reference), without(&guess, guessed));
    // Lists, search, sessions and stats hold nothing of a's.
    let (_, list) = call(&server, Method::GET, "/v1/contexts", Some(&b), None).await?;
    assert_eq!(list["items"], json!([]), "{list}");
    let (_, found) = call(
        &server,
        Method::GET,
        "/v1/search?q=zebracorn",
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(found["total"], 0, "{found}");
    let (_, sessions) = call(&server, Method::GET, "/v1/sessions", Some(&b), None).await?;
    assert_eq!(sessions["sessions"], json!([]), "{sessions}");
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/v1/sessions/{session_id}"),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, stats) = call(&server, Method::GET, "/v1/stats", Some(&b), None).await?;
    assert_eq!(stats["contexts"], 0, "{stats}");
    // Deleting a's key from b deletes nothing.
    let (status, _) = call(
        &server,
        Method::DELETE,
        "/v1/contexts/a/log",
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&server, Method::GET, "/v1/contexts/a/log", Some(&a), None).await?;
    assert_eq!(status, StatusCode::OK);

    // Dedup stays invisible: b storing the same bytes learns nothing.
    let (_, put_b) = call(
        &server,
        Method::PUT,
        "/v1/contexts/b/log",
        Some(&b),
        Some(&text),
    )
    .await?;
    assert_eq!(put_b["deduplicated"], false, "{put_b}");
    let (_, again) = call(
        &server,
        Method::PUT,
        "/v1/contexts/b/log2",
        Some(&b),
        Some(&text),
    )
    .await?;
    assert_eq!(again["deduplicated"], true, "b's own second copy: {again}");
    // Now b references the blob, so the ref resolves for b too.
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/v1/ccr/{reference}"),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    server.stop().await
}

/// A briefing is made of the caller's tenant's sessions alone, on REST and
/// GraphQL: tenant b, in the same project folder, learns nothing of a's work.
#[tokio::test]
async fn a_briefing_never_holds_another_tenants_work() -> anyhow::Result<()> {
    let server = hs256_server().await?;
    let a = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let b = token("agent-b", "b", &[Scope::Read, Scope::Write]);
    let transcript = [
        json!({"type": "user", "uuid": "u1", "parentUuid": null, "sessionId": "s-a",
               "cwd": "/work/shop", "timestamp": "2026-12-04T10:00:01.000Z",
               "message": {"role": "user", "content": "fix the zebracorn checkout"}}),
        json!({"type": "assistant", "uuid": "u2", "parentUuid": "u1", "sessionId": "s-a",
               "cwd": "/work/shop", "timestamp": "2026-12-04T10:00:02.000Z",
               "message": {"role": "assistant", "id": "m1",
                           "content": [{"type": "text", "text": "Fixed the zebracorn checkout."}]}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let (status, _) = call(
        &server,
        Method::POST,
        "/v1/sessions/import?agent=claude",
        Some(&a),
        Some(&transcript),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    for (who, sees) in [(&a, true), (&b, false)] {
        let (status, briefing) = call(
            &server,
            Method::GET,
            "/v1/briefing?project=/work/shop&agent=codex",
            Some(who),
            None,
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{briefing}");
        let text = briefing["text"].as_str().unwrap_or_default();
        assert_eq!(text.contains("zebracorn"), sees, "{text}");
        assert_eq!(
            briefing["sessions"].as_array().map(Vec::len),
            Some(usize::from(sees))
        );
        let graphql: Value = serde_json::from_slice(&reqwest::Client::new()
            .post(format!("{}/graphql", server.url()))
            .bearer_auth(who)
            .header("content-type", "application/json")
            .body(
                json!({"query": "{ briefing(project: \"/work/shop\", agent: \"codex\") { text } }"})
                    .to_string(),
            )
            .send()
            .await?
            .bytes()
            .await?)?;
        assert_eq!(graphql["data"]["briefing"]["text"], text, "{graphql}");
    }
    Ok(())
}
