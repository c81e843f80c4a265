//! Secrets are masked in views, snippets, session titles and the index,
//! and kept in the full view.

use std::time::{Duration, Instant};

use cairn_auth::Scope;
use cairn_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn secrets_are_masked_in_views_snippets_and_the_index_but_not_in_the_full_view()
-> anyhow::Result<()> {
    let server = hs256_server().await?;
    let a = token("agent-a", "a", &[Scope::Read, Scope::Write]);
    let anthropic = "sk-ant-api03-Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo";
    let aws = "AKIAZ7QW3ERT5YUI9OPL";
    let mut output = String::from("$ env | sort\n");
    output.push_str(&format!("ANTHROPIC_API_KEY={anthropic}\n"));
    output.push_str(&format!("AWS_ACCESS_KEY_ID={aws}\n"));
    for line in 0..60 {
        output.push_str(&format!(
            "VARIABLE_{line}=ordinary value number {line} marmoset\n"
        ));
    }
    let (status, _) = call(
        &server,
        Method::PUT,
        "/v1/contexts/tool/env",
        Some(&a),
        Some(&output),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);

    let (_, view) = call(
        &server,
        Method::GET,
        "/v1/contexts/tool/env",
        Some(&a),
        None,
    )
    .await?;
    let content = view["content"].as_str().expect("content");
    assert!(
        !content.contains(anthropic) && !content.contains(aws),
        "{content}"
    );
    assert!(content.contains("[masked Anthropic API key]"), "{content}");
    // A query for the variable keeps its line, still masked.
    let (_, queried) = call(
        &server,
        Method::GET,
        "/v1/contexts/tool/env?query=ANTHROPIC_API_KEY",
        Some(&a),
        None,
    )
    .await?;
    let queried = queried["content"].as_str().expect("content");
    assert!(
        queried.contains("ANTHROPIC_API_KEY=[masked Anthropic API key]"),
        "{queried}"
    );

    let (_, full) = call(
        &server,
        Method::GET,
        "/v1/contexts/tool/env?view=full",
        Some(&a),
        None,
    )
    .await?;
    assert_eq!(full["content"], output.as_str());

    // Search: the document is found by its other words, its snippet is
    // masked, and the secret's parts are not terms.
    let started = Instant::now();
    let hit = loop {
        let (_, found) = call(
            &server,
            Method::GET,
            "/v1/search?q=ANTHROPIC_API_KEY",
            Some(&a),
            None,
        )
        .await?;
        if found["total"] == 1 {
            break found["hits"][0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never indexed: {found}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let snippet = hit["snippet"].as_str().expect("a snippet");
    assert!(
        !snippet.contains(anthropic) && !snippet.contains("Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo"),
        "{snippet}"
    );
    for part in [anthropic, "Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo", aws] {
        let (_, found) = call(
            &server,
            Method::GET,
            &format!("/v1/search?q={part}"),
            Some(&a),
            None,
        )
        .await?;
        assert_eq!(found["total"], 0, "{part} is a term: {found}");
    }
    server.stop().await
}

/// A session's title is its first prompt or one the agent wrote (Claude
/// Code's `custom-title`): it is masked like the messages, on REST and
/// GraphQL.
#[tokio::test]
async fn session_titles_are_masked_like_messages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let key = "sk-ant-api03-Qx7vLmZpW3rT9yKcB2nJdF5hGs8aE1uo";
    let records = [
        json!({"type": "user", "sessionId": "titled", "uuid": "u1", "timestamp": "2026-11-01T10:00:00Z",
               "cwd": "/work", "message": {"role": "user", "content": format!("use ANTHROPIC_API_KEY={key} to test")}}),
        json!({"type": "user", "sessionId": "named", "uuid": "u2", "timestamp": "2026-11-01T10:00:00Z",
               "cwd": "/work", "message": {"role": "user", "content": "hello"}}),
        json!({"type": "custom-title", "sessionId": "named", "customTitle": format!("deploy with {key}")}),
    ];
    let file: String = records.iter().map(|record| format!("{record}\n")).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .body(file)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let listed = reqwest::get(format!("{}/v1/sessions", server.url()))
        .await?
        .text()
        .await?;
    assert!(!listed.contains(key), "{listed}");
    assert_eq!(listed.matches("\"title\"").count(), 2, "{listed}");
    for id in ["titled", "named"] {
        let one = reqwest::get(format!("{}/v1/sessions/{id}", server.url()))
            .await?
            .text()
            .await?;
        assert!(!one.contains(key), "{one}");
    }
    let graphql = reqwest::Client::new()
        .post(format!("{}/graphql", server.url()))
        .header("content-type", "application/json")
        .body(r#"{"query":"{ sessions { nodes { id title } } }"}"#)
        .send()
        .await?
        .text()
        .await?;
    assert!(graphql.contains("\"title\""), "{graphql}");
    assert!(!graphql.contains(key), "{graphql}");
    server.stop().await
}
