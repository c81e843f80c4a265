//! Attacks on the server's memory: a small compressed body that expands to
//! gigabytes. Refused with 413 while decompressing, memory flat.

use std::io::Write as _;

use cairn_tests::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

/// The process's peak resident memory so far, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::test]
async fn a_zstd_bomb_to_the_session_import_is_refused_with_memory_flat() -> anyhow::Result<()> {
    // 1 GiB of one session line repeated, compressed to a few hundred KiB
    // (the server takes 32 MiB uncompressed).
    let line = br#"{"type":"user","sessionId":"bomb","uuid":"u","timestamp":"2026-11-01T10:00:00Z","message":{"role":"user","content":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#;
    let mut block = Vec::with_capacity(1 << 20);
    while block.len() + line.len() < 1 << 20 {
        block.extend_from_slice(line);
        block.push(b'\n');
    }
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3)?;
    for _ in 0..1024 {
        encoder.write_all(&block)?;
    }
    let bomb = encoder.finish()?;
    assert!(bomb.len() < 4 << 20, "a small body: {} bytes", bomb.len());

    let server = TestServer::start().await?;
    let before = peak_rss();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .body(bomb)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.text().await?.parse()?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 256 << 20,
        "the peak grew by {} MiB decompressing a bomb",
        grown >> 20
    );
    // A compressed session within the limit is imported as before.
    let small = zstd::stream::encode_all(&line[..], 3)?;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sessions/import?agent=claude", server.url()))
        .body(small)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await
}

/// Aliases multiply a costly field (a query-aware view renders for each):
/// a request counts every view, compression and search it asks for, and
/// one asking for many is refused before any is rendered.
#[tokio::test]
async fn aliased_views_cannot_multiply_the_cost_of_a_graphql_request() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let log: String = (0..3000)
        .map(|n| format!("2026-11-01T10:00:00Z INFO worker {n} done\n"))
        .collect();
    reqwest::Client::new()
        .put(format!("{}/v1/contexts/logs/big", server.url()))
        .body(log)
        .send()
        .await?;
    let query = |aliases: usize| {
        let fields: String = (0..aliases)
            .map(|n| {
                format!("a{n}: context(key: \"logs/big\", query: \"worker {n}\") {{ content }} ")
            })
            .collect();
        serde_json::json!({ "query": format!("{{ {fields} }}") }).to_string()
    };
    let post = |body: String| {
        reqwest::Client::new()
            .post(format!("{}/graphql", server.url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let started = std::time::Instant::now();
    let refused: Value = post(query(1000)).await?.text().await?.parse()?;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "refused before rendering"
    );
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("complexity"), "{refused}");
    assert!(refused["data"].is_null(), "{refused}");
    let served: Value = post(query(5)).await?.text().await?.parse()?;
    assert!(
        served["errors"].is_null(),
        "a few views are served: {served}"
    );
    assert!(served["data"]["a4"]["content"].is_string(), "{served}");
    server.stop().await
}
