//! `cairn-bench proxy`: the LLM proxy's overhead and savings. A mock
//! upstream runs in this process on loopback (it answers every request with
//! a small fixed message); the real `cairn serve` runs as a child pointed at
//! it. Overhead: the same requests sent to the mock directly and through the
//! proxy, one at a time. Savings: the real sessions under `--sessions`
//! replayed as the requests their agent sends (Claude Code → Anthropic
//! Messages, Codex → Responses, Gemini CLI → generateContent), one request
//! per user turn, each carrying the whole conversation so far, and the
//! proxy's `x-cairn-tokens-original` / `x-cairn-tokens-sent` summed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};

use crate::{ServerProcess, payload, percentile};

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The cairn binary [default: `cairn` beside this one].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Requests per overhead phase.
    #[arg(long, default_value_t = 500)]
    requests: u64,
    /// Folder of real session files to replay.
    #[arg(long, default_value = "fixtures/sessions")]
    sessions: PathBuf,
}

/// Makes the i-th request of an overhead row.
type MakeRequest = Box<dyn Fn(u64) -> Value>;

const ANSWER: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;

async fn start_mock() -> anyhow::Result<String> {
    // The body is read (as an upstream would) before the answer goes out.
    let app = axum::Router::new().fallback(|_body: axum::body::Bytes| async {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            ANSWER,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

pub async fn run(args: &ProxyArgs) -> anyhow::Result<()> {
    let binary = crate::server_binary(args.binary.as_ref())?;
    let mock = start_mock().await?;
    let server = ServerProcess::start_with_env(
        &binary,
        &[
            ("CAIRN_ANTHROPIC_UPSTREAM", mock.as_str()),
            ("CAIRN_OPENAI_UPSTREAM", mock.as_str()),
            ("CAIRN_GEMINI_UPSTREAM", mock.as_str()),
        ],
    )
    .await?;
    let http = reqwest::Client::new();

    println!(
        "## Proxy overhead (one client, {} requests per row)\n",
        args.requests
    );
    println!(
        "| request | direct p50 ms | direct p99 ms | proxy p50 ms | proxy p99 ms | overhead p50 ms | overhead p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let small = json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "What is the capital of France?"}]});
    let tool = |log: String| {
        json!({"model": "m", "max_tokens": 100, "messages": [
            {"role": "user", "content": "why did the build fail?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": log}]}
        ]})
    };
    let repeated = tool(payload(1, 64 * 1024));
    let rows: [(&str, MakeRequest); 3] = [
        (
            "small chat, nothing to compress",
            Box::new(move |_| small.clone()),
        ),
        (
            "64 KiB tool result, same each time (view cached)",
            Box::new(move |_| repeated.clone()),
        ),
        (
            "64 KiB tool result, new each time (compressed and stored)",
            Box::new(move |i| tool(payload(1000 + i, 64 * 1024))),
        ),
    ];
    for (name, make) in rows {
        let direct = timings(&format!("{mock}/v1/messages"), args.requests, &make).await?;
        let proxied = timings(&format!("{}/v1/messages", server.url), args.requests, &make).await?;
        let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
        let (p50, p99) = (percentile(&proxied, 0.5), percentile(&proxied, 0.99));
        println!(
            "| {name} | {d50:.2} | {d99:.2} | {p50:.2} | {p99:.2} | {:.2} | {:.2} |",
            p50 - d50,
            p99 - d99
        );
    }

    println!("\n## Tokens saved on real sessions replayed through the proxy\n");
    println!(
        "| session file | API | requests | tokens sent by the agent | tokens sent upstream | saved |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let mut files = Vec::new();
    collect_files(&args.sessions, &mut files)?;
    files.sort();
    let (mut total_original, mut total_sent, mut total_requests) = (0u64, 0u64, 0u64);
    for file in files {
        let bytes = std::fs::read(&file)?;
        let Ok(parsed) = cairn_sessions::parse(&bytes, None, &Default::default()) else {
            continue;
        };
        let (path, api) = match parsed.agent {
            cairn_sessions::Agent::Claude => ("/v1/messages", "Anthropic Messages"),
            cairn_sessions::Agent::Codex => ("/v1/responses", "OpenAI Responses"),
            cairn_sessions::Agent::Gemini => ("/v1beta/models/m:generateContent", "Gemini"),
        };
        let (mut original, mut sent, mut requests) = (0u64, 0u64, 0u64);
        for session in &parsed.sessions {
            let messages: Vec<&cairn_sessions::Message> = parsed
                .messages
                .iter()
                .filter(|message| message.session == session.id)
                .collect();
            let turns: Vec<usize> = messages
                .iter()
                .enumerate()
                .filter(|(_, message)| {
                    message.role == cairn_sessions::Role::User && !message.injected
                })
                .map(|(index, _)| index)
                .skip(1)
                .chain(std::iter::once(messages.len()))
                .collect();
            for end in turns {
                let request = build_request(parsed.agent, &messages[..end]);
                let response = http
                    .post(format!("{}{path}", server.url))
                    .header("content-type", "application/json")
                    .body(request.to_string())
                    .send()
                    .await?;
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                original += header("x-cairn-tokens-original");
                sent += header("x-cairn-tokens-sent");
                requests += 1;
                anyhow::ensure!(
                    response.status().is_success(),
                    "the proxy answered {}",
                    response.status()
                );
            }
        }
        if requests == 0 {
            continue;
        }
        let name = file
            .strip_prefix(&args.sessions)
            .unwrap_or(&file)
            .display()
            .to_string();
        println!(
            "| {name} | {api} | {requests} | {original} | {sent} | {:.1}% |",
            saved_percent(original, sent)
        );
        total_original += original;
        total_sent += sent;
        total_requests += requests;
    }
    println!(
        "| **all** | | {total_requests} | {total_original} | {total_sent} | {:.1}% |",
        saved_percent(total_original, total_sent)
    );
    Ok(())
}

fn saved_percent(original: u64, sent: u64) -> f64 {
    100.0 * original.saturating_sub(sent) as f64 / original.max(1) as f64
}

/// Sorted request latencies in microseconds. Each phase has a client of its
/// own (a connection left idle through another phase may have been closed by
/// the server) and one unmeasured request to open its connection.
async fn timings(
    url: &str,
    requests: u64,
    make: &dyn Fn(u64) -> Value,
) -> anyhow::Result<Vec<u32>> {
    let http = reqwest::Client::new();
    let mut micros = Vec::with_capacity(requests as usize);
    for index in 0..=requests {
        let body = make(index).to_string();
        let started = Instant::now();
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("x-api-key", "bench")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        if index > 0 {
            micros.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        anyhow::ensure!(status.is_success(), "{url} answered {status}");
    }
    micros.sort_unstable();
    Ok(micros)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|extension| extension == "jsonl" || extension == "json")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// A conversation as the request its agent would send.
fn build_request(agent: cairn_sessions::Agent, messages: &[&cairn_sessions::Message]) -> Value {
    use cairn_sessions::{Agent, Role};
    let id = |message: &cairn_sessions::Message| {
        message
            .call_id
            .clone()
            .unwrap_or_else(|| message.uid.clone())
    };
    let tool = |message: &cairn_sessions::Message| {
        message.tool.clone().unwrap_or_else(|| "tool".to_owned())
    };
    let items: Vec<Value> = messages
        .iter()
        .filter(|message| message.role != Role::System)
        .map(|message| {
            let calls = message.role == Role::Assistant && message.tool.is_some();
            match (agent, message.role) {
                (Agent::Claude, Role::User) => json!({"role": "user", "content": message.text}),
                (Agent::Claude, Role::Tool) => json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id(message), "content": message.text}]}),
                (Agent::Claude, _) if calls => json!({"role": "assistant", "content": [{"type": "tool_use", "id": id(message), "name": tool(message), "input": {"call": message.text}}]}),
                (Agent::Claude, _) => json!({"role": "assistant", "content": message.text}),
                (Agent::Codex, Role::User) => json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": message.text}]}),
                (Agent::Codex, Role::Tool) => json!({"type": "function_call_output", "call_id": id(message), "output": message.text}),
                (Agent::Codex, _) if calls => json!({"type": "function_call", "call_id": id(message), "name": tool(message), "arguments": message.text}),
                (Agent::Codex, _) => json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": message.text}]}),
                (Agent::Gemini, Role::User) => json!({"role": "user", "parts": [{"text": message.text}]}),
                (Agent::Gemini, Role::Tool) => json!({"role": "user", "parts": [{"functionResponse": {"name": tool(message), "response": {"output": message.text}}}]}),
                (Agent::Gemini, _) if calls => json!({"role": "model", "parts": [{"functionCall": {"name": tool(message), "args": {"call": message.text}}}]}),
                (Agent::Gemini, _) => json!({"role": "model", "parts": [{"text": message.text}]}),
            }
        })
        .collect();
    match agent {
        Agent::Claude => json!({"model": "m", "max_tokens": 100, "messages": items}),
        Agent::Codex => json!({"model": "m", "input": items}),
        Agent::Gemini => json!({"contents": items}),
    }
}
