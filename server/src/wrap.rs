//! `cairn wrap claude|codex|gemini -- ARGS`: make sure a Cairn server answers
//! at `--url` (starting `cairn serve` when none does), then run the agent
//! with its base URL pointed at Cairn's proxy, and exit with its status.
//!
//! Claude Code gets `ANTHROPIC_BASE_URL`, Gemini CLI `GOOGLE_GEMINI_BASE_URL`,
//! and Codex a `model_providers.cairn` entry through `-c` overrides (the
//! Responses API over HTTP, WebSockets off: its built-in provider may open a
//! WebSocket that ignores a base URL). A Cairn token (`--token` /
//! `CAIRN_TOKEN`) travels in the `x-cairn-token` header: Claude Code's
//! `ANTHROPIC_CUSTOM_HEADERS`, Gemini CLI's `GEMINI_CLI_CUSTOM_HEADERS`,
//! Codex's `env_http_headers`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;

/// Which agent to launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrapAgent {
    Claude,
    Codex,
    Gemini,
}

#[derive(Debug, Clone, Args)]
pub struct WrapArgs {
    /// The agent: claude (Claude Code), codex (Codex CLI) or gemini (Gemini CLI).
    #[arg(value_enum)]
    pub agent: WrapAgent,
    /// The Cairn server; when none answers there (and it is a loopback
    /// address), `cairn serve --bind` it is started for the agent's lifetime.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:8787")]
    pub url: String,
    /// A Cairn token with the proxy scope, for a server with auth on.
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory of a server this command starts [default: ./cairn-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Run this program instead of the agent's own (`claude`, `codex`, `gemini`).
    #[arg(long, value_name = "PROGRAM")]
    pub program: Option<PathBuf>,
    /// Arguments for the agent (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

pub async fn run(args: WrapArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    let mut started = None;
    if !healthy(&url).await {
        started = Some(start_server(&url, args.data_dir.as_ref()).await?);
    }
    let program = args.program.clone().unwrap_or_else(|| {
        PathBuf::from(match args.agent {
            WrapAgent::Claude => "claude",
            WrapAgent::Codex => "codex",
            WrapAgent::Gemini => "gemini",
        })
    });
    let mut command = tokio::process::Command::new(&program);
    let mut agent_args: Vec<String> = Vec::new();
    match args.agent {
        WrapAgent::Claude => {
            command.env("ANTHROPIC_BASE_URL", &url);
            if let Some(token) = &args.token {
                let mut headers = std::env::var("ANTHROPIC_CUSTOM_HEADERS").unwrap_or_default();
                if !headers.is_empty() {
                    headers.push('\n');
                }
                headers.push_str(&format!("{}: {token}", cairn_proxy::TOKEN_HEADER));
                command.env("ANTHROPIC_CUSTOM_HEADERS", headers);
            }
        }
        WrapAgent::Gemini => {
            command.env("GOOGLE_GEMINI_BASE_URL", &url);
            if let Some(token) = &args.token {
                // `name: value` pairs, comma-separated.
                let mut headers = std::env::var("GEMINI_CLI_CUSTOM_HEADERS").unwrap_or_default();
                if !headers.trim().is_empty() {
                    headers.push_str(", ");
                }
                headers.push_str(&format!("{}: {token}", cairn_proxy::TOKEN_HEADER));
                command.env("GEMINI_CLI_CUSTOM_HEADERS", headers);
            }
        }
        WrapAgent::Codex => {
            let provider = "model_providers.cairn";
            agent_args.extend(
                [
                    "model_provider=\"cairn\"".to_owned(),
                    format!("{provider}.name=\"Cairn proxy\""),
                    format!("{provider}.base_url=\"{url}/v1\""),
                    format!("{provider}.env_key=\"OPENAI_API_KEY\""),
                    format!("{provider}.wire_api=\"responses\""),
                    format!("{provider}.supports_websockets=false"),
                ]
                .into_iter()
                .chain(args.token.as_ref().map(|_| {
                    // The token stays in the environment, not in the arguments.
                    format!(
                        "{provider}.env_http_headers={{\"{}\"=\"CAIRN_TOKEN\"}}",
                        cairn_proxy::TOKEN_HEADER
                    )
                }))
                .flat_map(|value| ["-c".to_owned(), value]),
            );
            if let Some(token) = &args.token {
                command.env("CAIRN_TOKEN", token);
            }
        }
    }
    agent_args.extend(args.args.iter().cloned());
    command.args(&agent_args).kill_on_drop(false);
    let status = command
        .status()
        .await
        .with_context(|| format!("cannot run {}", program.display()));
    if let Some(mut server) = started {
        stop_server(&mut server).await;
    }
    let status = status?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

async fn healthy(url: &str) -> bool {
    let client = reqwest::Client::new();
    matches!(
        client
            .get(format!("{url}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await,
        Ok(response) if response.status().is_success()
    )
}

/// Starts `cairn serve` on the URL's loopback address and waits until it answers.
async fn start_server(
    url: &str,
    data_dir: Option<&PathBuf>,
) -> anyhow::Result<tokio::process::Child> {
    let address = url
        .strip_prefix("http://")
        .context("cairn wrap starts a server only for an http:// URL")?;
    let address: std::net::SocketAddr = address.parse().with_context(|| {
        format!("no Cairn server answers at {url}, and it is not an IP:PORT to start one on")
    })?;
    if !address.ip().is_loopback() {
        bail!("no Cairn server answers at {url}; wrap starts one only on a loopback address");
    }
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args(["serve", "--bind", &address.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    let mut child = command.spawn().context("cannot start cairn serve")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("cairn serve exited at start ({status}); its log above says why");
        }
        if healthy(url).await {
            tracing::info!(%url, "started a cairn server for the agent");
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill().await;
    bail!("cairn serve did not answer at {url} within 20 s")
}

/// Stops the server this command started: SIGTERM-free, a kill is enough
/// since every acknowledged write is durable.
async fn stop_server(child: &mut tokio::process::Child) {
    let _ = child.kill().await;
    let _ = child.wait().await;
}
