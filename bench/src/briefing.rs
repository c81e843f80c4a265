//! `cairn-bench briefing`: briefing latency over a store of many sessions,
//! and what a hook costs an agent's turn. The release server runs as a
//! child; sessions are imported over HTTP as hooks send them; each hook is
//! the release `cairn hook` process, timed from spawn to exit.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use clap::Args;
use serde_json::json;

use crate::{Rng, ServerProcess};

#[derive(Debug, Args)]
pub(crate) struct BriefingArgs {
    /// The cairn binary to start [default: `cairn` beside this one].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Sessions in the store.
    #[arg(long, default_value_t = 10_000)]
    sessions: u32,
    /// Projects they are spread over.
    #[arg(long, default_value_t = 100)]
    projects: u32,
    /// Briefings to time.
    #[arg(long, default_value_t = 1000)]
    briefings: u32,
    /// Runs of each hook to time.
    #[arg(long, default_value_t = 30)]
    hook_runs: u32,
}

/// A Claude Code transcript of `turns` turns: a prompt, then per turn a
/// command (every third fails), a file written, and an answer.
fn transcript(session: &str, cwd: &str, turns: u32, rng: &mut Rng) -> String {
    let mut lines = Vec::new();
    let mut parent = serde_json::Value::Null;
    let mut n = 0u32;
    let mut push = |kind: &str, message: serde_json::Value, lines: &mut Vec<String>| {
        n += 1;
        let uuid = format!("{session}-{n}");
        lines.push(
            json!({"type": kind, "uuid": uuid, "parentUuid": parent, "sessionId": session,
                   "cwd": cwd, "timestamp": format!("2026-12-04T{:02}:{:02}:{:02}.000Z", n / 3600 % 24, n / 60 % 60, n % 60),
                   "message": message})
            .to_string(),
        );
        parent = json!(uuid);
    };
    push(
        "user",
        json!({"role": "user", "content": format!("Fix issue {} in the billing module", rng.below(10_000))}),
        &mut lines,
    );
    for turn in 0..turns {
        let id = format!("toolu_{session}_{turn}");
        let command = format!("cargo test -p billing case_{}", rng.below(50));
        push(
            "assistant",
            json!({"role": "assistant", "id": format!("m{turn}a"), "content": [
                {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": command}}]}),
            &mut lines,
        );
        let result = if turn % 3 == 0 {
            format!(
                "Exit code 101\nthread 'case' panicked at src/lib.rs:{}:5\n{}",
                rng.below(900),
                "test output line\n".repeat(20)
            )
        } else {
            format!(
                "running 1 test\ntest case ... ok\n{}",
                "test output line\n".repeat(20)
            )
        };
        push(
            "user",
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": result}]}),
            &mut lines,
        );
        let file = format!("{cwd}/src/module_{}.rs", rng.below(40));
        let write = format!("toolu_{session}_{turn}_w");
        push(
            "assistant",
            json!({"role": "assistant", "id": format!("m{turn}b"), "content": [
                {"type": "tool_use", "id": write, "name": "Edit",
                 "input": {"file_path": file, "old_string": "a", "new_string": "b"}}]}),
            &mut lines,
        );
        push(
            "user",
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": write, "content": "updated"}]}),
            &mut lines,
        );
        push(
            "assistant",
            json!({"role": "assistant", "id": format!("m{turn}c"),
                   "content": [{"type": "text", "text": format!("Turn {turn} done; next I look at the ledger rounding.")}]}),
            &mut lines,
        );
    }
    lines.join("\n") + "\n"
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

pub(crate) async fn run(args: &BriefingArgs) -> anyhow::Result<()> {
    let binary = crate::server_binary(args.binary.as_ref())?;
    let server = ServerProcess::start(&binary).await?;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // The store: sessions spread over projects, imported four at a time.
    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for index in 0..args.sessions {
        let project = format!("/work/project-{}", index % args.projects.max(1));
        let body = transcript(
            &format!("s{index:06}"),
            &project,
            1 + rng.below(6) as u32,
            &mut rng,
        );
        if pending.len() >= 4
            && let Some(done) = pending.join_next().await
        {
            done??;
        }
        let (http, url) = (http.clone(), url.clone());
        pending.spawn(async move {
            let response = http
                .post(format!("{url}/v1/sessions/import?agent=claude"))
                .body(body)
                .send()
                .await?;
            ensure!(
                response.status().is_success(),
                "import: {}",
                response.status()
            );
            Ok::<_, anyhow::Error>(())
        });
        if index % 1000 == 999 {
            eprint!("\r{} sessions imported", index + 1);
            std::io::stderr().flush().ok();
        }
    }
    while let Some(done) = pending.join_next().await {
        done??;
    }
    eprintln!(
        "\r{} sessions imported in {:.1} s",
        args.sessions,
        started.elapsed().as_secs_f64()
    );

    // Briefing latency.
    let mut times = Vec::new();
    let mut tokens = 0u64;
    for _ in 0..args.briefings {
        let project = format!(
            "/work/project-{}",
            rng.below(u64::from(args.projects.max(1)))
        );
        let started = Instant::now();
        let response = http
            .get(format!("{url}/v1/briefing"))
            .query(&[("project", project.as_str()), ("agent", "codex")])
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "briefing: {}",
            response.status()
        );
        let briefing: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
        times.push(started.elapsed());
        tokens += briefing["tokens"].as_u64().unwrap_or(0);
    }
    times.sort();
    println!("| what | p50 | p99 | notes |");
    println!("|---|---:|---:|---|");
    println!(
        "| `GET /v1/briefing` over {} sessions in {} projects | {} | {} | {} briefings, {} tokens on average (budget 1,500) |",
        args.sessions,
        args.projects,
        millis(percentile(&times, 0.5)),
        millis(percentile(&times, 0.99)),
        args.briefings,
        tokens / u64::from(args.briefings.max(1))
    );

    // Hooks: the whole `cairn hook` process, as an agent runs it.
    let dir = tempfile::tempdir()?;
    for turns in [5u32, 50, 500] {
        let path = dir.path().join(format!("t{turns}.jsonl"));
        let text = transcript(&format!("hook{turns}"), "/work/project-0", turns, &mut rng);
        std::fs::write(&path, &text)?;
        // `Stop` sends the transcript before it returns; a tool event hands
        // it to a background process and returns at once.
        for (event, how) in [
            ("Stop", "sent before the hook returns"),
            ("PostToolUse", "sent in the background"),
        ] {
            let event = json!({"hook_event_name": event, "session_id": format!("hook{turns}"),
                               "cwd": "/work/project-0", "transcript_path": path});
            let costs = time_hook(&binary, "claude", &url, dir.path(), &event, args.hook_runs)?;
            println!(
                "| a hook capturing a turn ({}), transcript of {} messages, {} KB | {} | {} | {how} |",
                event["hook_event_name"].as_str().unwrap_or_default(),
                1 + turns * 5,
                text.len() / 1024,
                millis(percentile(&costs, 0.5)),
                millis(percentile(&costs, 0.99)),
            );
        }
    }
    let event =
        json!({"hook_event_name": "SessionStart", "session_id": "new", "cwd": "/work/project-1"});
    // Codex starting where Claude Code worked: the briefing is made.
    let costs = time_hook(&binary, "codex", &url, dir.path(), &event, args.hook_runs)?;
    println!(
        "| Codex's hook starting a session (SessionStart: the briefing of Claude Code's sessions) | {} | {} | over the store above |",
        millis(percentile(&costs, 0.5)),
        millis(percentile(&costs, 0.99)),
    );
    let down = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        format!("http://127.0.0.1:{port}")
    };
    let event = json!({"hook_event_name": "PostToolUse", "session_id": "hook50", "cwd": "/work/project-0",
                       "transcript_path": dir.path().join("t50.jsonl")});
    let costs = time_hook(&binary, "claude", &down, dir.path(), &event, args.hook_runs)?;
    println!(
        "| a hook with Cairn down (the transcript is spooled) | {} | {} | the bar is 200 ms |",
        millis(percentile(&costs, 0.5)),
        millis(percentile(&costs, 0.99)),
    );
    Ok(())
}

/// Runs `cairn hook AGENT` `runs` times with `event` on its input; each
/// run's wall time, sorted.
fn time_hook(
    binary: &Path,
    agent: &str,
    url: &str,
    home: &Path,
    event: &serde_json::Value,
    runs: u32,
) -> anyhow::Result<Vec<Duration>> {
    let input = event.to_string();
    let mut costs = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = std::process::Command::new(binary)
            .args(["hook", agent, "--url", url])
            .env("HOME", home)
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        child
            .stdin
            .take()
            .context("no stdin")?
            .write_all(input.as_bytes())?;
        ensure!(child.wait()?.success(), "cairn hook failed");
        costs.push(started.elapsed());
    }
    costs.sort();
    Ok(costs)
}
