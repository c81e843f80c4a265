//! `cairn-bench attacks`: the release server as a child, attacked the ways
//! the security suite tests, many times, with what each costs it: cross-site
//! and DNS-rebinding requests on every surface, a zstd bomb to the session
//! import (the server's peak RSS before and after), GraphQL aliases
//! multiplying query-aware views, and bad tokens guessed as fast as one
//! address can. Prints BENCHMARKS.md's rows.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Args;
use serde_json::{Value, json};

use crate::ServerProcess;

#[derive(Debug, Args)]
pub(crate) struct AttacksArgs {
    /// The cairn binary to start [default: `cairn` beside this one].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Attempts of each cross-site and rebinding kind.
    #[arg(long, default_value_t = 1000)]
    attempts: u32,
    /// How far the zstd bomb expands, in MiB.
    #[arg(long, default_value_t = 1024)]
    bomb_mib: usize,
    /// Aliased views in the GraphQL amplification query.
    #[arg(long, default_value_t = 1000)]
    aliases: usize,
    /// Bad tokens sent from one address.
    #[arg(long, default_value_t = 2000)]
    guesses: u32,
}

pub(crate) async fn run(args: &AttacksArgs) -> anyhow::Result<()> {
    let binary = crate::server_binary(args.binary.as_ref())?;
    let server = ServerProcess::start(&binary).await?;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let secret = "the launch code is 0000";
    let put = http
        .put(format!("{url}/v1/contexts/notes/secret"))
        .body(secret)
        .send()
        .await?;
    ensure!(put.status().is_success(), "the setup put failed");
    println!("| what | how | result |");
    println!("|---|---|---|");

    // Cross-site: a form's text/plain GraphQL delete, an import, a read, a
    // WebSocket upgrade, each from a page on another origin.
    let mutation = r#"{"query":"mutation { delete(key: \"notes/secret\") { versions } }"}"#;
    let kinds: [(&str, reqwest::Method, &str, &str); 4] = [
        (
            "a form's GraphQL delete",
            reqwest::Method::POST,
            "/graphql",
            mutation,
        ),
        (
            "a session import",
            reqwest::Method::POST,
            "/v1/sessions/import",
            "{}",
        ),
        (
            "a read",
            reqwest::Method::GET,
            "/v1/contexts/notes/secret",
            "",
        ),
        ("an MCP initialize", reqwest::Method::POST, "/mcp", "{}"),
    ];
    let mut refused = 0u32;
    let mut served = 0u32;
    let started = Instant::now();
    for attempt in 0..args.attempts {
        let (_, method, path, body) = &kinds[(attempt % 4) as usize];
        let response = http
            .request(method.clone(), format!("{url}{path}"))
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .header("sec-fetch-site", "cross-site")
            .body(body.to_string())
            .send()
            .await?;
        if response.status() == 403 {
            refused += 1;
        } else {
            served += 1;
        }
    }
    let cross = started.elapsed();
    let kept = http
        .get(format!("{url}/v1/contexts/notes/secret?view=full"))
        .header("accept", "text/plain")
        .send()
        .await?
        .text()
        .await?
        == secret;
    println!(
        "| cross-site requests from a web page ({}) | `cairn-bench attacks`, {} attempts | **{refused} refused (403)**, {served} served; the context they tried to delete intact: {kept}; {:.0} µs per refusal |",
        kinds.map(|kind| kind.0).join(", "),
        args.attempts,
        cross.as_micros() as f64 / f64::from(args.attempts.max(1)),
    );

    // DNS rebinding: the page's own name pointing at 127.0.0.1.
    let paths = [
        "/v1/contexts",
        "/v1/stats",
        "/graphql",
        "/mcp",
        "/v1/messages",
        "/metrics",
    ];
    let mut refused = 0u32;
    let mut leaked = 0u32;
    for attempt in 0..args.attempts {
        let path = paths[attempt as usize % paths.len()];
        let response = http
            .get(format!("{url}{path}"))
            .header("host", "rebind.evil.example:8787")
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == 403 {
            refused += 1;
        }
        if text.contains("launch code") || text.contains("notes/secret") {
            leaked += 1;
        }
    }
    println!(
        "| DNS rebinding (`Host: rebind.evil.example`) on REST, GraphQL, MCP, the proxy and `/metrics` | `cairn-bench attacks`, {} attempts | **{refused} refused (403)**, {leaked} answers held anything stored |",
        args.attempts
    );

    // A zstd bomb to the session import.
    let line = br#"{"type":"user","sessionId":"bomb","uuid":"u","timestamp":"2026-11-01T10:00:00Z","message":{"role":"user","content":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#;
    let mut block = Vec::with_capacity(1 << 20);
    while block.len() + line.len() < 1 << 20 {
        block.extend_from_slice(line);
        block.push(b'\n');
    }
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3)?;
    for _ in 0..args.bomb_mib {
        encoder.write_all(&block)?;
    }
    let bomb = encoder.finish()?;
    let before = server.peak_rss_kib().unwrap_or(0);
    let started = Instant::now();
    let response = http
        .post(format!("{url}/v1/sessions/import?agent=claude"))
        .body(bomb.clone())
        .send()
        .await?;
    let status = response.status();
    let took = started.elapsed();
    let after = server.peak_rss_kib().unwrap_or(0);
    println!(
        "| a zstd bomb to `/v1/sessions/import` ({} KiB expanding to {} MiB) | `cairn-bench attacks` | **{status}** in {:.0} ms; the server's peak RSS {} → {} MiB |",
        bomb.len() / 1024,
        args.bomb_mib,
        took.as_secs_f64() * 1000.0,
        before / 1024,
        after / 1024
    );

    // GraphQL aliases multiplying query-aware views.
    let log: String = (0..3000)
        .map(|n| format!("2026-11-01T10:00:00Z INFO worker {n} done\n"))
        .collect();
    http.put(format!("{url}/v1/contexts/logs/big"))
        .body(log)
        .send()
        .await?;
    let fields: String = (0..args.aliases)
        .map(|n| format!("a{n}: context(key: \"logs/big\", query: \"worker {n}\") {{ content }} "))
        .collect();
    let cpu_before = server.cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let answer: Value = http
        .post(format!("{url}/graphql"))
        .header("content-type", "application/json")
        .body(json!({ "query": format!("{{ {fields} }}") }).to_string())
        .timeout(Duration::from_secs(300))
        .send()
        .await?
        .text()
        .await?
        .parse()?;
    let took = started.elapsed();
    let cpu = server.cpu_seconds().unwrap_or(0.0) - cpu_before;
    let refused = answer["errors"][0]["message"]
        .as_str()
        .is_some_and(|message| message.contains("complexity"));
    println!(
        "| {} aliased query-aware `context` views in one GraphQL request | `cairn-bench attacks` | refused: **{refused}**, in {:.1} ms and {:.3} s of server CPU |",
        args.aliases,
        took.as_secs_f64() * 1000.0,
        cpu
    );
    drop(server);

    // Guessing tokens, against a server with auth on and the default budget.
    let guarded = ServerProcess::start_with_env(
        &binary,
        &[(
            "CAIRN_JWT_SECRET",
            "a-bench-secret-that-is-long-enough-0123456789",
        )],
    )
    .await?;
    let (mut looked_at, mut limited) = (0u32, 0u32);
    let started = Instant::now();
    for guess in 0..args.guesses {
        let status = http
            .get(format!("{}/v1/contexts", guarded.url))
            .bearer_auth(format!("guess-{guess}"))
            .send()
            .await?
            .status();
        match status.as_u16() {
            401 => looked_at += 1,
            429 => limited += 1,
            _ => {}
        }
    }
    let took = started.elapsed();
    println!(
        "| guessing tokens: {} bad tokens from one address, as fast as it can | `cairn-bench attacks` | **{looked_at} looked at (401)**, {limited} refused unread (429) in {:.2} s; after the first 30, one guess every 2 s |",
        args.guesses,
        took.as_secs_f64()
    );
    Ok(())
}
