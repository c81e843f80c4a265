//! The `cairn` command line. Every setting of `serve` can come from a flag, a
//! `CAIRN_*` variable or `cairn.toml`, in that order of precedence.

use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use cairn_client::{GetOptions, PutOptions, SharedContext};
use cairn_types::View;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::Config;

pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// Cairn: a shared, compressed, reversible memory server for AI agents.
///
/// Agents put tool outputs, logs, files and sessions into one store keyed by
/// BLAKE3; other agents read them back as compressed views or byte for byte.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, max_term_width = 100)]
pub struct Cli {
    /// Log filter, for example `info`, `debug` or `cairn_api=debug`.
    #[arg(long, global = true, env = "CAIRN_LOG", default_value = "info")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: REST API on one port, SQLite under the data directory or a shared PostgreSQL
    /// (--database).
    Serve(Box<ServeArgs>),
    /// Store a file (or standard input) under KEY on a running server.
    Put(PutArgs),
    /// Print a context from a running server: the compressed view, or the original.
    Get(GetArgs),
    /// Print what a running server holds and what compression saved.
    Stats(ClientArgs),
    /// Compress a file (or standard input) locally, with no server: print the
    /// view, and its stats on standard error.
    Compress(CompressArgs),
    /// Remove expired versions and data nothing references, in the data directory.
    Gc(GcArgs),
    /// Import Claude Code, Codex CLI or Gemini CLI sessions into the data
    /// directory (a running server indexes them within seconds).
    Import(ImportArgs),
    /// Search imported sessions and contexts on a running server.
    Search(SearchArgs),
    /// Rebuild the search index from the database (stop the server first:
    /// it holds the index).
    Reindex(GcArgs),
    /// Issue bearer tokens for agents (when the server has auth on).
    #[command(subcommand)]
    Token(crate::token::TokenCommand),
    /// Serve the MCP tools on standard input and output (for an agent to
    /// start), or register Cairn with an agent (`cairn mcp install`).
    ///
    /// With --url (the default), a bridge to the running server's /mcp
    /// endpoint; with --data-dir, the tools over that data directory with no
    /// server. Logs go to standard error.
    Mcp(crate::mcp::McpArgs),
    /// Run Claude Code, Codex CLI or Gemini CLI through Cairn's LLM proxy:
    /// start (or reuse) the server at --url, point the agent's base URL at
    /// it, and pass ARGS on (`cairn wrap claude -- --model opus`).
    Wrap(crate::wrap::WrapArgs),
    /// Print a briefing: what the other agents did recently in this project
    /// (the repository of the current directory), within a token budget.
    Brief(crate::hooks::BriefArgs),
    /// Live capture through the agents' own hooks, and a briefing at the
    /// start of every session (`cairn hooks install claude`).
    #[command(subcommand)]
    Hooks(crate::hooks::HooksCommand),
    /// Run one of Cairn's hooks: what the agents run, with the event on
    /// standard input (installed by `cairn hooks install`). Always exits 0.
    Hook(crate::hooks::HookArgs),
}

/// Which agent's sessions to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentChoice {
    Claude,
    Codex,
    Gemini,
    All,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Whose sessions: claude (~/.claude or $CLAUDE_CONFIG_DIR), codex (~/.codex or
    /// $CODEX_HOME), gemini (~/.gemini or $GEMINI_CLI_HOME/.gemini), or all.
    #[arg(value_enum)]
    pub agent: AgentChoice,
    /// Import from this folder (an agent's home layout, or any folder of
    /// session files) instead of the agent's own.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Keep running: import files as they appear and grow.
    #[arg(long)]
    pub watch: bool,
    /// Tenant to import into.
    #[arg(long, default_value = "local")]
    pub tenant: String,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Words (`user` finds `getUserById`), "phrases", field:value, AND, OR, -word.
    pub query: String,
    /// Only this agent: claude, codex or gemini.
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this project (its working directory).
    #[arg(long)]
    pub project: Option<String>,
    /// Only this session.
    #[arg(long)]
    pub session: Option<String>,
    /// Only `message` or `context`.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only from this time on (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Most results to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Where the configuration file is.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Configuration file [default: ./cairn.toml if it exists].
    #[arg(long, env = "CAIRN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Storage settings shared by `serve` and `gc`.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory of the SQLite database and the search index [default: ./cairn-data].
    #[arg(long, env = "CAIRN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL database to use instead of SQLite in the data directory,
    /// as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE: several `cairn serve`
    /// nodes may share it (the search index stays in each node's data directory)
    /// [default: SQLite in the data directory].
    #[arg(
        long,
        env = "CAIRN_DATABASE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// fsync every commit, to survive power loss as well as crashes [default: false].
    #[arg(long, env = "CAIRN_FSYNC_EVERY_COMMIT", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub fsync_every_commit: Option<bool>,
    /// Leave every put's default view to the background renderer (receipts
    /// say `view_pending`); off, a put renders it unless the server is busy
    /// [default: false].
    #[arg(long, env = "CAIRN_RENDER_VIEWS_AFTER_PUT", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub render_views_after_put: Option<bool>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address and port to listen on; only loopback without auth [default: 127.0.0.1:8787].
    #[arg(long, env = "CAIRN_BIND", value_name = "ADDR:PORT")]
    pub bind: Option<SocketAddr>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Largest request body in bytes [default: 33554432 (32 MiB)].
    #[arg(long, env = "CAIRN_BODY_LIMIT_BYTES", value_name = "BYTES")]
    pub body_limit_bytes: Option<usize>,
    /// TTL for puts that name none, in seconds; 0 keeps forever [default: 0].
    #[arg(long, env = "CAIRN_DEFAULT_TTL_SECONDS", value_name = "SECONDS")]
    pub default_ttl_seconds: Option<u64>,
    /// Seconds between automatic gc runs; 0 never [default: 3600].
    #[arg(long, env = "CAIRN_GC_INTERVAL_SECONDS", value_name = "SECONDS")]
    pub gc_interval_seconds: Option<u64>,
    /// zstd level for originals at rest, 1-22 [default: 3].
    #[arg(long, env = "CAIRN_ZSTD_LEVEL", value_name = "LEVEL")]
    pub zstd_level: Option<i32>,
    /// Memory for cached originals and views, in MiB [default: 16].
    #[arg(long, env = "CAIRN_CACHE_MIB", value_name = "MIB")]
    pub cache_mib: Option<u64>,
    /// How long the originals of POST /v1/compress cuts are kept, in seconds [default: 2592000].
    #[arg(long, env = "CAIRN_COMPRESS_RETENTION_SECONDS", value_name = "SECONDS")]
    pub compress_retention_seconds: Option<u64>,
    /// File holding the HS256 secret that signs tokens (32+ bytes). The secret
    /// itself may come from the CAIRN_JWT_SECRET environment variable instead.
    /// Setting either turns auth on.
    #[arg(long, env = "CAIRN_JWT_SECRET_FILE", value_name = "FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// PEM public key whose RS256 (RSA) or EdDSA (Ed25519) tokens are
    /// accepted; repeat for several issuers. Turns auth on.
    #[arg(long = "jwt-public-key", value_name = "FILE")]
    pub jwt_public_keys: Vec<PathBuf>,
    /// Requests handled at once; more get 503 with Retry-After [default: 1024].
    #[arg(long, env = "CAIRN_MAX_CONCURRENT_REQUESTS", value_name = "N")]
    pub max_concurrent_requests: Option<usize>,
    /// Seconds a request may take until its response starts; then 503 [default: 120].
    #[arg(long, env = "CAIRN_REQUEST_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub request_timeout_seconds: Option<u64>,
    /// Seconds a client may take to send its request headers; then the
    /// connection is closed [default: 10].
    #[arg(
        long,
        env = "CAIRN_HEADER_READ_TIMEOUT_SECONDS",
        value_name = "SECONDS"
    )]
    pub header_read_timeout_seconds: Option<u64>,
    /// Failed authentications a client address may have a minute; past it
    /// the address is answered 429 until its budget refills; 0 for no
    /// limit [default: 30].
    #[arg(long, env = "CAIRN_AUTH_FAILURES_PER_MINUTE", value_name = "N")]
    pub auth_failures_per_minute: Option<u32>,
    /// Browser origin allowed to call the API (CORS), such as
    /// https://app.example.com; repeat for several [default: none].
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Host name the server answers to besides loopback names (how it is
    /// reached behind a proxy or on a network); repeat for several
    /// [default: none: loopback names only on a loopback address].
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Models directory for local ML (semantic search), as laid out by
    /// scripts/install-models.sh [default: none: ML off, BM25 alone].
    #[arg(long, env = "CAIRN_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// With ML on, re-rank the top hits of a search in prose by meaning,
    /// the query's own words masked [default: true].
    #[arg(long, env = "CAIRN_ML_RERANK", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub ml_rerank: Option<bool>,
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Where the LLM proxy sends each provider's requests.
#[derive(Debug, Clone, Default, Args)]
pub struct ProxyArgs {
    /// Anthropic base URL for /v1/messages, without /v1 [default: https://api.anthropic.com].
    #[arg(long, env = "CAIRN_ANTHROPIC_UPSTREAM", value_name = "URL")]
    pub anthropic_upstream: Option<String>,
    /// OpenAI base URL for /v1/chat/completions and /v1/responses, without /v1
    /// [default: https://api.openai.com].
    #[arg(long, env = "CAIRN_OPENAI_UPSTREAM", value_name = "URL")]
    pub openai_upstream: Option<String>,
    /// Gemini base URL for /v1beta/models/…, without /v1beta
    /// [default: https://generativelanguage.googleapis.com].
    #[arg(long, env = "CAIRN_GEMINI_UPSTREAM", value_name = "URL")]
    pub gemini_upstream: Option<String>,
    /// Seconds an upstream may take to answer or to send the next part of a
    /// stream; then 504 or an error event [default: 600].
    #[arg(
        long,
        env = "CAIRN_PROXY_UPSTREAM_TIMEOUT_SECONDS",
        value_name = "SECONDS"
    )]
    pub proxy_upstream_timeout_seconds: Option<f64>,
    /// `first-turn`: start a new conversation's first user turn with the
    /// briefing for its project (clients without hooks) [default: off].
    #[arg(long, env = "CAIRN_PROXY_BRIEFING", value_enum, value_name = "WHEN")]
    pub proxy_briefing: Option<crate::config::ProxyBriefing>,
}

impl ProxyArgs {
    fn apply(&self, proxy: &mut crate::config::ProxyConfig) {
        if let Some(url) = &self.anthropic_upstream {
            proxy.anthropic_upstream = url.clone();
        }
        if let Some(url) = &self.openai_upstream {
            proxy.openai_upstream = url.clone();
        }
        if let Some(url) = &self.gemini_upstream {
            proxy.gemini_upstream = url.clone();
        }
        if let Some(timeout) = self.proxy_upstream_timeout_seconds {
            proxy.upstream_timeout_seconds = timeout;
        }
        if let Some(briefing) = self.proxy_briefing {
            proxy.briefing = briefing;
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// How client commands reach the server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// URL of the Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Bearer token, when the server requires one.
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// The key to store under (1-512 bytes; slashes allowed).
    pub key: String,
    /// File to store; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// Agent recorded with the put.
    #[arg(long, env = "CAIRN_AGENT")]
    pub agent: Option<String>,
    /// Session recorded with the put.
    #[arg(long, env = "CAIRN_SESSION")]
    pub session: Option<String>,
    /// Time to live, for example `90s`, `2h` or `30d`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ttl: Option<Duration>,
    /// A JSON object stored with the version (the content must be UTF-8).
    #[arg(long, value_parser = parse_json_object)]
    pub metadata: Option<serde_json::Value>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// The key to read.
    pub key: String,
    /// Print the original, byte for byte, instead of the compressed view.
    #[arg(long)]
    pub full: bool,
    /// Keep everything matching this query in the view.
    #[arg(long, conflicts_with = "full")]
    pub query: Option<String>,
    /// Cap the view at this many tokens.
    #[arg(long, conflicts_with = "full")]
    pub max_tokens: Option<u64>,
    /// Read this version instead of the latest.
    #[arg(long)]
    pub version: Option<i64>,
    /// Print the whole JSON answer (hash, ref, tokens, markers), not just the content.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CompressArgs {
    /// File to compress; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// Keep everything matching this query in the view.
    #[arg(long)]
    pub query: Option<String>,
    /// Cap the view at this many tokens (query matches are kept past it).
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// What the content is, instead of detecting it: json_rows, json, log, search, diff, csv,
    /// tsv, html, prose, code, text.
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<cairn_compress::Kind>,
    /// Print one JSON object (content, kind, tokens, markers) instead of the bare view.
    #[arg(long)]
    pub json: bool,
}

fn parse_kind(name: &str) -> Result<cairn_compress::Kind, String> {
    cairn_compress::Kind::parse(name).ok_or_else(|| {
        let names: Vec<&str> = cairn_compress::Kind::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        format!("unknown kind {name:?}; one of: {}", names.join(", "))
    })
}

fn parse_json_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err("metadata must be a JSON object".to_owned()),
        Err(error) => Err(format!("metadata is not JSON: {error}")),
    }
}

/// Parses the command line, runs it, and turns any error into a message on
/// standard error and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs one command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(*args).await,
        Command::Put(args) => put(args).await,
        Command::Get(args) => get(args).await,
        Command::Stats(args) => {
            let stats = client(&args)?.stats().await?;
            print_json(&stats)
        }
        Command::Gc(args) => gc(args).await,
        Command::Compress(args) => compress(args),
        Command::Import(args) => import(args).await,
        Command::Search(args) => search(args).await,
        Command::Reindex(args) => reindex(args).await,
        Command::Token(command) => crate::token::run(command),
        Command::Mcp(args) => crate::mcp::run(args).await,
        Command::Wrap(args) => crate::wrap::run(args).await,
        Command::Brief(args) => crate::hooks::brief(args).await,
        Command::Hooks(command) => crate::hooks::run_hooks(command).await,
        Command::Hook(args) => crate::hooks::run_hook(args).await,
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    use cairn_sessions::Agent;
    let config = storage_config(&args.config, &args.storage)?;
    let agents: Vec<Agent> = match args.agent {
        AgentChoice::Claude => vec![Agent::Claude],
        AgentChoice::Codex => vec![Agent::Codex],
        AgentChoice::Gemini => vec![Agent::Gemini],
        AgentChoice::All => vec![Agent::Claude, Agent::Codex, Agent::Gemini],
    };
    let tenant = cairn_types::TenantId::new(&args.tenant);
    let store = crate::open_store(&config).await?;
    let cairn = crate::service(&config, store.clone());
    let outcome = if args.watch {
        crate::sessions::watch(&cairn, &tenant, &agents, args.path.as_deref()).await
    } else {
        let files = crate::sessions::find(&agents, args.path.as_deref())?;
        let mut totals = crate::sessions::Totals::default();
        let imported = crate::sessions::import_files(&cairn, &tenant, &files, &mut totals).await;
        imported.and_then(|()| print_json(&totals))
    };
    store.close().await;
    outcome
}

async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let options = cairn_client::SearchOptions {
        query: args.query,
        agent: args.agent,
        project: args.project,
        session: args.session,
        kind: args.kind,
        since: args.since,
        until: args.until,
        limit: Some(args.limit),
    };
    let results = client(&args.client)?.search(&options).await?;
    if args.json {
        return print_json(&results);
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{} matches", results.total)?;
    for hit in &results.hits {
        let place = match (&hit.session, hit.position, &hit.key) {
            (Some(session), Some(position), _) => format!("session {session} #{position}"),
            (_, _, Some(key)) => format!("context {key}"),
            _ => hit.kind.clone(),
        };
        let who = [
            hit.agent.as_deref(),
            hit.role.as_deref(),
            hit.tool.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        writeln!(stdout, "\n{} {place} ({who}) {}", hit.at, hit.reference)?;
        writeln!(stdout, "  {}", hit.snippet.replace('\n', "\n  "))?;
    }
    Ok(())
}

async fn reindex(args: GcArgs) -> anyhow::Result<()> {
    let config = storage_config(&args.config, &args.storage)?;
    let store = crate::open_store(&config).await?;
    let outcome = async {
        let cairn =
            crate::service(&config, store.clone()).with_search(crate::open_search(&config)?);
        crate::sessions::reindex(&cairn).await
    }
    .await;
    store.close().await;
    let progress = outcome?;
    print_json(&serde_json::json!({ "messages_indexed": progress.indexed }))
}

/// Merges the configuration file and the storage flags (flags and environment win).
fn storage_config(config: &ConfigArgs, storage: &StorageArgs) -> anyhow::Result<Config> {
    let mut merged = Config::load(config.config.as_deref())?;
    if let Some(data_dir) = &storage.data_dir {
        merged.storage.data_dir = data_dir.clone();
    }
    if let Some(fsync) = storage.fsync_every_commit {
        merged.storage.fsync_every_commit = fsync;
    }
    if let Some(after_put) = storage.render_views_after_put {
        merged.storage.render_views_after_put = after_put;
    }
    if let Some(database) = &storage.database {
        merged.storage.database = Some(database.clone());
    }
    Ok(merged)
}

/// The configuration `serve` runs with.
pub fn serve_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = storage_config(&args.config, &args.storage)?;
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    if let Some(limit) = args.body_limit_bytes {
        config.server.body_limit_bytes = limit;
    }
    if let Some(ttl) = args.default_ttl_seconds {
        config.storage.default_ttl_seconds = ttl;
    }
    if let Some(interval) = args.gc_interval_seconds {
        config.storage.gc_interval_seconds = interval;
    }
    if let Some(level) = args.zstd_level {
        config.storage.zstd_level = level;
    }
    if let Some(cache) = args.cache_mib {
        config.storage.cache_mib = cache;
    }
    if let Some(retention) = args.compress_retention_seconds {
        config.storage.compress_retention_seconds = retention;
    }
    if let Some(limit) = args.max_concurrent_requests {
        config.server.max_concurrent_requests = limit;
    }
    if let Some(timeout) = args.request_timeout_seconds {
        config.server.request_timeout_seconds = timeout;
    }
    if let Some(timeout) = args.header_read_timeout_seconds {
        config.server.header_read_timeout_seconds = timeout;
    }
    if let Some(budget) = args.auth_failures_per_minute {
        config.server.auth_failures_per_minute = budget;
    }
    if let Some(file) = &args.jwt_secret_file {
        config.auth.jwt_secret_file = Some(file.clone());
    }
    args.proxy.apply(&mut config.proxy);
    // Set but blank is an error (in `authenticator`), not auth off: a
    // deployment that meant to turn auth on must not run open.
    if let Ok(secret) = std::env::var(crate::token::SECRET_ENV) {
        config.auth.jwt_secret = Some(secret);
    }
    config
        .auth
        .jwt_public_key_files
        .extend(args.jwt_public_keys.iter().cloned());
    config
        .server
        .cors_allowed_origins
        .extend(args.cors_origins.iter().cloned());
    config
        .server
        .allowed_hosts
        .extend(args.allowed_hosts.iter().cloned());
    if let Some(dir) = &args.models_dir {
        config.ml.models_dir = Some(dir.clone());
    }
    if let Some(rerank) = args.ml_rerank {
        config.ml.rerank = rerank;
    }
    config.validate()?;
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = serve_config(&args)?;
    let listener = TcpListener::bind(config.server.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
    crate::serve(config, listener, shutdown_signal()).await
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining requests in flight");
}

pub(crate) fn client(args: &ClientArgs) -> anyhow::Result<SharedContext> {
    let mut client = SharedContext::connect(&args.url)?;
    if let Some(token) = &args.token {
        client = client.with_token(token.clone());
    }
    Ok(client)
}

async fn put(args: PutArgs) -> anyhow::Result<()> {
    let content = match args.file.as_deref() {
        None => read_stdin()?,
        Some(path) if path.as_os_str() == "-" => read_stdin()?,
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
    };
    let options = PutOptions {
        agent: args.agent,
        session: args.session,
        ttl: args.ttl,
        metadata: args.metadata,
    };
    let receipt = client(&args.client)?
        .put_with(&args.key, content, options)
        .await?;
    print_json(&receipt)
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    if std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no FILE given and standard input is a terminal: pipe the content in \
             (`cmd | cairn put KEY -`) or name a file (`cairn put KEY FILE`)"
        );
    }
    let mut content = Vec::new();
    std::io::stdin()
        .read_to_end(&mut content)
        .context("cannot read standard input")?;
    Ok(content)
}

async fn get(args: GetArgs) -> anyhow::Result<()> {
    let client = client(&args.client)?;
    let options = GetOptions {
        view: if args.full {
            View::Full
        } else {
            View::Compressed
        },
        query: args.query,
        max_tokens: args.max_tokens,
        version: args.version,
    };
    if args.json {
        return print_json(&client.get_with(&args.key, options).await?);
    }
    let content = if args.full && args.version.is_none() {
        client.get_full(&args.key).await?.to_vec()
    } else {
        let view = client.get_with(&args.key, options).await?;
        match view.encoding {
            cairn_types::ContentEncoding::Utf8 => view.content.into_bytes(),
            cairn_types::ContentEncoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(view.content)
                .context("the server sent invalid base64")?,
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&content)?;
    stdout.flush()?;
    Ok(())
}

fn compress(args: CompressArgs) -> anyhow::Result<()> {
    let original = match args.file.as_deref() {
        None => read_stdin()?,
        Some(path) if path.as_os_str() == "-" => read_stdin()?,
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
    };
    if args.max_tokens == Some(0) {
        anyhow::bail!("--max-tokens must be at least 1");
    }
    let hash = cairn_core::ContentHash::of(&original);
    let options = cairn_compress::Options {
        query: args.query.as_deref(),
        max_tokens: args.max_tokens,
        hint: args.kind,
        tokens_original: None,
        scorer: None,
    };
    let started = std::time::Instant::now();
    let compressed = cairn_compress::compress(&original, &hash, &options);
    let elapsed = started.elapsed();
    let tokens_before = cairn_core::tokens::count_bytes(&original);
    let (content, tokens_after, markers) = match compressed.view {
        cairn_core::RenderedView::Original => (
            String::from_utf8_lossy(&original).into_owned(),
            tokens_before,
            Vec::new(),
        ),
        cairn_core::RenderedView::Rendered {
            content,
            tokens,
            markers,
        } => (content, tokens, markers),
    };
    if args.json {
        return print_json(&serde_json::json!({
            "content": content,
            "kind": compressed.kind.as_str(),
            "ref": hash.ccr_ref().to_string(),
            "tokens_before": tokens_before,
            "tokens_after": tokens_after,
            "markers": markers,
        }));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(content.as_bytes())?;
    stdout.flush()?;
    let saved = 100.0 * (1.0 - tokens_after as f64 / tokens_before.max(1) as f64);
    eprintln!(
        "{}: {tokens_before} → {tokens_after} tokens ({saved:.1}% saved), {} markers, {:.1} ms; \
         the original is {} (put it in Cairn to make its markers retrievable)",
        compressed.kind,
        markers.len(),
        elapsed.as_secs_f64() * 1000.0,
        hash.ccr_ref()
    );
    Ok(())
}

async fn gc(args: GcArgs) -> anyhow::Result<()> {
    let config = storage_config(&args.config, &args.storage)?;
    let store = crate::open_store(&config).await?;
    let cairn = crate::service(&config, store.clone());
    let report = cairn.gc().await;
    store.close().await;
    let report = report?;
    print_json(&serde_json::json!({
        "expired_versions": report.expired_versions,
        "expired_retentions": report.expired_retentions,
        "released_references": report.released_references,
        "deleted_blobs": report.deleted_blobs,
        "bytes_freed": report.bytes_freed,
    }))
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_complete_help() {
        let mut cli = Cli::command();
        for command in cli.get_subcommands_mut() {
            let name = command.get_name().to_owned();
            assert!(
                command.get_about().is_some(),
                "`cairn {name}` has a description"
            );
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" {
                    continue;
                }
                assert!(
                    arg.get_help().is_some(),
                    "`cairn {name}` argument {id} has help"
                );
            }
        }
    }

    #[test]
    fn flags_win_over_the_configuration_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("cairn.toml");
        std::fs::write(&file, "[storage]\nzstd_level = 9\ncache_mib = 8\n").expect("write config");
        let cli = Cli::try_parse_from([
            "cairn",
            "serve",
            "--config",
            file.to_str().expect("utf-8 path"),
            "--zstd-level",
            "5",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve parsed")
        };
        let config = serve_config(&args).expect("valid");
        assert_eq!(config.storage.zstd_level, 5, "the flag wins");
        assert_eq!(
            config.storage.cache_mib, 8,
            "the file wins over the default"
        );
        assert_eq!(config.server.bind, Config::default().server.bind);
    }
}
