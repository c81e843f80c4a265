//! Live capture through the agents' own hooks, and the briefing at session
//! start: `cairn hooks install` writes the hooks, `cairn hook AGENT` is what
//! they run, `cairn hooks flush` sends what was spooled, `cairn brief`
//! prints a briefing.
//!
//! A hook never holds the agent up: it reads the event the agent sends on
//! standard input, imports the transcript it names (the server merges it
//! with the proxy's and earlier imports' copies of the same conversation),
//! and at session start prints the briefing in the agent's hook output
//! format. It gives up on the server after [`CONNECT_TIMEOUT`] to connect
//! and `--timeout-ms` in all, and then spools the transcript's path to
//! disk; the next hook that reaches the server (or `cairn hooks flush`)
//! imports it. It always exits 0.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_client::types::Briefing;
use cairn_client::{BriefingOptions, ClientError, ImportOptions, Retry, SharedContext};
use cairn_mcp::hooks::HookTarget;
use cairn_mcp::install::{Agent, Scope};
use clap::{Args, Subcommand, ValueEnum};

use crate::cli::DEFAULT_URL;

/// How long a hook waits to connect to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(150);
/// Largest event a hook reads from the agent.
const MAX_EVENT_BYTES: u64 = 64 << 20;
/// Largest transcript a hook sends (the server takes at most its body limit
/// once decompressed: 32 MiB by default).
const MAX_TRANSCRIPT_BYTES: u64 = 256 << 20;
/// Transcripts waiting in the spool at most; older ones are dropped.
const MAX_SPOOLED: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookAgent {
    Claude,
    Codex,
    Gemini,
}

impl HookAgent {
    fn name(self) -> &'static str {
        match self {
            HookAgent::Claude => "claude",
            HookAgent::Codex => "codex",
            HookAgent::Gemini => "gemini",
        }
    }

    fn install_agent(self) -> Agent {
        match self {
            HookAgent::Claude => Agent::Claude,
            HookAgent::Codex => Agent::Codex,
            HookAgent::Gemini => Agent::Gemini,
        }
    }

    fn parse(name: &str) -> Option<HookAgent> {
        [HookAgent::Claude, HookAgent::Codex, HookAgent::Gemini]
            .into_iter()
            .find(|agent| agent.name() == name)
    }
}

/// How a hook reaches the server.
#[derive(Debug, Clone, Args)]
pub struct HookServer {
    /// URL of the Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// The environment variable holding the bearer token, when the server
    /// has auth on. The token is read from it when the hook runs; it is never
    /// written to a file.
    #[arg(long, value_name = "VAR", default_value = "CAIRN_TOKEN")]
    pub token_env: String,
    /// Folder where transcripts wait while the server cannot be reached
    /// [default: $XDG_STATE_HOME/cairn/spool or ~/.local/state/cairn/spool].
    #[arg(long, env = "CAIRN_SPOOL_DIR", value_name = "DIR")]
    pub spool: Option<PathBuf>,
}

/// `cairn hook AGENT`: what the agents' hooks run.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent whose hook this is.
    #[arg(value_enum)]
    pub agent: HookAgent,
    #[command(flatten)]
    pub server: HookServer,
    /// Give up on the server after this many milliseconds in all (then the
    /// transcript is spooled).
    #[arg(long, env = "CAIRN_HOOK_TIMEOUT_MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Budget of the briefing at session start, in tokens.
    #[arg(long, env = "CAIRN_BRIEFING_TOKENS", default_value_t = cairn_service::DEFAULT_BRIEFING_TOKENS)]
    pub max_tokens: u32,
    /// Wait for the agent to write the transcript, then send it (what a
    /// tool event's hook starts in the background).
    #[arg(long, hide = true)]
    pub after_write: bool,
}

/// Events the agent fires before it writes the tool's result to the
/// transcript (checked: Claude Code's `PostToolUse` and
/// `PostToolUseFailure`, Gemini CLI's `AfterTool`): the hook hands the
/// capture to a process of its own that waits for the write, and returns
/// at once.
const BEFORE_THE_WRITE: [&str; 3] = ["PostToolUse", "PostToolUseFailure", "AfterTool"];

/// How long the background capture waits for the transcript to change.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long the transcript must stay unchanged before it is sent.
const WRITE_SETTLE: Duration = Duration::from_millis(40);

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Install Cairn's hooks in Claude Code, Codex or Gemini CLI: each turn
    /// and tool result reaches Cairn as it happens, and each new session
    /// starts with a briefing on what the other agents did in the project.
    ///
    /// Writes the agent's own hook configuration (Claude Code:
    /// .claude/settings.json or ~/.claude/settings.json; Codex: .codex/hooks.json or
    /// ~/.codex/hooks.json, and the hooks' trust in ~/.codex/config.toml; Gemini CLI:
    /// .gemini/settings.json or ~/.gemini/settings.json), keeping everything else in it and a
    /// copy of it in FILE.bak. Running it again changes nothing. A file that does not parse is
    /// left alone.
    Install(HooksInstallArgs),
    /// Send the transcripts spooled while the server could not be reached.
    Flush(HookServer),
}

#[derive(Debug, Args)]
pub struct HooksInstallArgs {
    /// The agent to install the hooks in.
    #[arg(value_enum)]
    pub agent: HookAgent,
    /// Where: the user's configuration, or the current project's.
    #[arg(long, value_enum, default_value = "user")]
    pub scope: crate::mcp::ScopeArg,
    /// Print the files as they would be written, and write nothing.
    #[arg(long)]
    pub print: bool,
    /// URL of the Cairn server the hooks send to.
    #[arg(long, env = "CAIRN_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// The environment variable the hooks read the token from, when the
    /// server has auth on.
    #[arg(long, value_name = "VAR", default_value = "CAIRN_TOKEN")]
    pub token_env: String,
}

/// `cairn brief`.
#[derive(Debug, Args)]
pub struct BriefArgs {
    /// The project folder [default: the repository root of the current
    /// directory, or the directory].
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// The agent being briefed: its own sessions are left out.
    #[arg(long)]
    pub agent: Option<String>,
    /// Budget in tokens (100-32000).
    #[arg(long, default_value_t = cairn_service::DEFAULT_BRIEFING_TOKENS)]
    pub max_tokens: u32,
    /// Print the briefing as JSON (its sessions and items too).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: crate::cli::ClientArgs,
}

pub async fn run_hooks(command: HooksCommand) -> anyhow::Result<()> {
    match command {
        HooksCommand::Install(args) => install(args),
        HooksCommand::Flush(server) => {
            let client = link(&server, Duration::from_secs(60))?;
            let spool = Spool::open(&server)?;
            let (sent, left) = spool.replay(&client, None).await;
            eprintln!(
                "sent {sent} spooled transcript{}; {left} left in {}",
                if sent == 1 { "" } else { "s" },
                spool.dir.display()
            );
            if left > 0 {
                anyhow::bail!("{left} spooled transcripts could not be sent");
            }
            Ok(())
        }
    }
}

pub async fn brief(args: BriefArgs) -> anyhow::Result<()> {
    let project = match args.project {
        Some(project) => project,
        None => {
            project_root(&std::env::current_dir().context("cannot read the current directory")?)
        }
    };
    let client = crate::cli::client(&args.client)?;
    let briefing = client
        .briefing(&BriefingOptions {
            project: project.display().to_string(),
            agent: args.agent,
            max_tokens: Some(args.max_tokens),
            session: None,
            repository: repository_of(&project),
        })
        .await?;
    if args.json {
        return crate::cli::print_json(&briefing);
    }
    print!("{}", briefing.text);
    Ok(())
}

fn install(args: HooksInstallArgs) -> anyhow::Result<()> {
    let agent = args.agent.install_agent();
    let scope = match args.scope {
        crate::mcp::ScopeArg::User => Scope::User,
        crate::mcp::ScopeArg::Project => Scope::Project,
    };
    let homes = crate::mcp::homes()?;
    let project = std::env::current_dir().context("cannot read the current directory")?;
    let target = HookTarget::locate(agent, scope, &homes, &project);
    let program = std::env::current_exe().context("cannot find this program's path")?;
    let program = shell_word(&program.display().to_string());
    let mut options = String::new();
    if args.url.trim_end_matches('/') != DEFAULT_URL {
        options.push_str(&format!(
            " --url {}",
            shell_word(args.url.trim_end_matches('/'))
        ));
    }
    if args.token_env != "CAIRN_TOKEN" {
        options.push_str(&format!(" --token-env {}", shell_word(&args.token_env)));
    }
    let changes = cairn_mcp::hooks::plan(&target, &program, &options)?;
    if args.print {
        for change in &changes {
            match &change.text {
                Some(text) => print!("# {}\n{text}", change.path.display()),
                None => println!("# {} (already right)", change.path.display()),
            }
        }
        eprintln!("(nothing written)");
        return Ok(());
    }
    let backups = cairn_mcp::hooks::apply(&changes)?;
    for change in &changes {
        if change.text.is_some() {
            eprintln!("wrote {}", change.path.display());
        } else {
            eprintln!(
                "{} already has Cairn's hooks; nothing changed",
                change.path.display()
            );
        }
    }
    for backup in backups.into_iter().flatten() {
        eprintln!("  the previous file is in {}", backup.display());
    }
    match (agent, scope) {
        (Agent::Codex, Scope::Project) => eprintln!(
            "note: Codex runs project hooks only in a trusted project \
             (`[projects.\"{}\"] trust_level = \"trusted\"` in ~/.codex/config.toml)",
            project.display()
        ),
        (Agent::Gemini, _) => eprintln!(
            "note: Gemini CLI runs hooks only in a trusted folder (`gemini` asks; headless: \
             GEMINI_CLI_TRUST_WORKSPACE=true)"
        ),
        _ => {}
    }
    Ok(())
}

/// A word as a POSIX shell reads it back: quoted when it needs to be.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=@%+,".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The normalised remote of the repository at `root` (`origin`, else the
/// first remote its git config names): `git@github.com:acme/shop.git` and
/// `https://github.com/acme/shop` are both `github.com/acme/shop`. Read
/// from the config file (a worktree's `.git` file is followed), no git run.
pub fn repository_of(root: &Path) -> Option<String> {
    let dot_git = root.join(".git");
    let git_dir = if dot_git.is_file() {
        let pointer = std::fs::read_to_string(&dot_git).ok()?;
        let dir = PathBuf::from(pointer.trim().strip_prefix("gitdir:")?.trim());
        let dir = if dir.is_absolute() {
            dir
        } else {
            root.join(dir)
        };
        // A worktree's folder is `<repo>/.git/worktrees/<name>`; its
        // `commondir` names the repository's.
        match std::fs::read_to_string(dir.join("commondir")) {
            Ok(common) => dir.join(common.trim()),
            Err(_) => dir,
        }
    } else {
        dot_git
    };
    let config = std::fs::read_to_string(git_dir.join("config")).ok()?;
    let mut remotes: Vec<(String, String)> = Vec::new();
    let mut section = String::new();
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if let Some(url) = line
            .strip_prefix("url")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('='))
            && let Some(name) = section
                .strip_prefix("[remote \"")
                .and_then(|rest| rest.strip_suffix("\"]"))
        {
            remotes.push((name.to_owned(), url.trim().to_owned()));
        }
    }
    let (_, url) = remotes
        .iter()
        .find(|(name, _)| name == "origin")
        .or_else(|| remotes.first())?;
    normalize_remote(url)
}

/// A remote URL without scheme, user, port-less `:` path separator and
/// `.git`, its host lower-cased.
fn normalize_remote(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        // scp-like: `user@host:path`.
        None => url.replacen(':', "/", 1),
    };
    let rest = rest
        .rsplit_once('@')
        .map_or(rest.as_str(), |(_, host)| host);
    let rest = rest.trim_end_matches(".git").trim_end_matches('/');
    let (host, path) = rest.split_once('/')?;
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    (!host.is_empty() && !path.is_empty()).then(|| format!("{host}/{path}"))
}

/// The repository root above `dir` (the nearest folder holding `.git`), or
/// `dir` itself outside a repository.
pub fn project_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|folder| folder.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// How a hook reaches the server: plain HTTP/1.1 on a socket for an
/// `http://` URL, the SDK otherwise. An HTTP client with TLS support loads
/// the system's certificates when it is built, even for plain HTTP (about
/// 45 ms here), more than a hook should spend on every turn.
enum Link {
    Plain(Plain),
    Sdk(SharedContext),
}

struct Plain {
    /// `host:port`, as the URL names it (also the `Host` header).
    authority: String,
    /// The URL's path, without a trailing slash.
    base: String,
    token: Option<String>,
    total: Duration,
}

fn link(server: &HookServer, total: Duration) -> anyhow::Result<Link> {
    let token = std::env::var(&server.token_env)
        .ok()
        .filter(|token| !token.trim().is_empty());
    let url =
        reqwest::Url::parse(&server.url).with_context(|| format!("{} is not a URL", server.url))?;
    if url.scheme() == "http"
        && let Some(host) = url.host_str()
    {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        return Ok(Link::Plain(Plain {
            authority: format!("{host}:{port}"),
            base: url.path().trim_end_matches('/').to_owned(),
            token,
            total,
        }));
    }
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(total)
        .build()
        .context("cannot set up an HTTP client")?;
    let mut client = SharedContext::connect_with(&server.url, http)?.with_retry(Retry {
        attempts: 1,
        ..Retry::default()
    });
    if let Some(token) = token {
        client = client.with_token(token);
    }
    Ok(Link::Sdk(client))
}

/// Why a request failed, and whether trying later can help.
struct Failed {
    message: String,
    retryable: bool,
}

impl Link {
    async fn import(&self, body: Vec<u8>, options: &ImportOptions) -> Result<(), Failed> {
        match self {
            Link::Sdk(client) => client
                .import_session_from(body, options)
                .await
                .map(drop)
                .map_err(sdk_failure),
            Link::Plain(plain) => {
                let query: Vec<(&str, &str)> = [
                    ("agent", &options.agent),
                    ("path", &options.path),
                    ("project", &options.project),
                    ("repository", &options.repository),
                    ("root", &options.root),
                ]
                .into_iter()
                .filter_map(|(name, value)| value.as_deref().map(|value| (name, value)))
                .collect();
                plain
                    .request("POST", "/v1/sessions/import", &query, &body)
                    .await
                    .map(drop)
            }
        }
    }

    async fn briefing(&self, options: &BriefingOptions) -> Result<Briefing, Failed> {
        match self {
            Link::Sdk(client) => client.briefing(options).await.map_err(sdk_failure),
            Link::Plain(plain) => {
                let budget = options.max_tokens.map(|tokens| tokens.to_string());
                let mut query = vec![("project", options.project.as_str())];
                query.extend(options.agent.as_deref().map(|agent| ("agent", agent)));
                query.extend(
                    options
                        .session
                        .as_deref()
                        .map(|session| ("session", session)),
                );
                query.extend(budget.as_deref().map(|budget| ("max_tokens", budget)));
                query.extend(
                    options
                        .repository
                        .as_deref()
                        .map(|repository| ("repository", repository)),
                );
                let body = plain.request("GET", "/v1/briefing", &query, &[]).await?;
                serde_json::from_slice(&body).map_err(|error| Failed {
                    message: format!("the server's briefing is not the JSON expected: {error}"),
                    retryable: false,
                })
            }
        }
    }
}

fn sdk_failure(error: ClientError) -> Failed {
    let retryable = match &error {
        ClientError::Api { status, .. } => *status >= 500 || *status == 429,
        _ => true,
    };
    Failed {
        message: error.to_string(),
        retryable,
    }
}

impl Plain {
    /// One request on its own connection (`Connection: close`); the body
    /// of a 2xx answer.
    async fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<u8>, Failed> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let unreachable = |message: String| Failed {
            message,
            retryable: true,
        };
        let mut target = reqwest::Url::parse("http://cairn.invalid").map_err(|error| Failed {
            message: error.to_string(),
            retryable: false,
        })?;
        target.set_path(&format!("{}{path}", self.base));
        if !query.is_empty() {
            target.query_pairs_mut().extend_pairs(query);
        }
        let target = match target.query() {
            Some(query) => format!("{}?{query}", target.path()),
            None => target.path().to_owned(),
        };
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect(&self.authority),
        )
        .await
        .map_err(|_| {
            unreachable(format!(
                "cannot reach the Cairn server at {}: timed out",
                self.authority
            ))
        })?
        .map_err(|error| {
            unreachable(format!(
                "cannot reach the Cairn server at {}: {error}",
                self.authority
            ))
        })?;
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/octet-stream\r\n");
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        let exchange = async {
            let mut stream = stream;
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(self.total, exchange)
            .await
            .map_err(|_| {
                unreachable(format!(
                    "the Cairn server at {} did not answer in time",
                    self.authority
                ))
            })?
            .map_err(|error| {
                unreachable(format!("the Cairn server at {}: {error}", self.authority))
            })?;
        let (status, body) = parse_answer(&answer).ok_or_else(|| {
            unreachable(format!(
                "the Cairn server at {} sent a garbled answer",
                self.authority
            ))
        })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(Failed {
            message: format!(
                "the Cairn server answered {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ),
            retryable: status >= 500 || status == 429,
        })
    }
}

/// The status and body of an HTTP/1.1 answer read to its end (chunked or
/// not).
fn parse_answer(answer: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = answer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..split]).ok()?;
    let body = &answer[split + 4..];
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut decoded = Vec::new();
    let mut rest = body;
    loop {
        let end = rest.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Some((status, decoded));
        }
        decoded.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Runs one hook. Whatever happens, the agent goes on: errors are reported
/// on standard error and the exit status is 0.
pub async fn run_hook(args: HookArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Err(error) = hook(&args).await {
        eprintln!("cairn hook: {error:#}");
    }
    tracing::debug!(elapsed = ?started.elapsed(), "hook done");
    Ok(())
}

async fn hook(args: &HookArgs) -> anyhow::Result<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_EVENT_BYTES)
        .read_to_end(&mut input)
        .context("cannot read the event on standard input")?;
    let event: serde_json::Value =
        serde_json::from_slice(&input).context("the event on standard input is not JSON")?;
    let name = event["hook_event_name"].as_str().unwrap_or_default();
    let cwd = event["cwd"]
        .as_str()
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .context("the event names no cwd")?;
    let transcript = event["transcript_path"]
        .as_str()
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    if BEFORE_THE_WRITE.contains(&name) && !args.after_write {
        return capture_after_the_write(args, &input);
    }
    if args.after_write
        && let Some(path) = &transcript
    {
        wait_for_write(path).await;
    }
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
    let client = link(&args.server, Duration::from_millis(args.timeout_ms))?;
    let spool = Spool::open(&args.server)?;
    let starting = name == "SessionStart";
    let root = project_root(&cwd);
    let repository = repository_of(&root);
    let capture = Capture {
        agent: args.agent,
        transcript: transcript.clone(),
        project: cwd.display().to_string(),
        repository: repository
            .clone()
            .map(|repository| (repository, root.display().to_string())),
    };
    // A session that is only starting has nothing to capture yet.
    let reached = if starting {
        true
    } else {
        match capture.send(&client).await {
            Ok(()) => true,
            Err(error) if error.retryable => {
                spool.add(&capture);
                eprintln!("cairn hook: {}; spooled for later", error.message);
                false
            }
            Err(error) => {
                eprintln!("cairn hook: {}", error.message);
                true
            }
        }
    };
    if reached && !spool.is_empty() {
        spool.replay(&client, Some(deadline)).await;
    }
    if starting {
        let briefing = client
            .briefing(&BriefingOptions {
                project: root.display().to_string(),
                agent: Some(args.agent.name().to_owned()),
                max_tokens: Some(args.max_tokens),
                session: event["session_id"].as_str().map(str::to_owned),
                repository: repository.clone(),
            })
            .await;
        match briefing {
            Ok(briefing) if !briefing.sessions.is_empty() => {
                // The format all three agents read as context to add.
                let output = serde_json::json!({
                    "hookSpecificOutput": {
                        "hookEventName": "SessionStart",
                        "additionalContext": briefing.text,
                    }
                });
                println!("{output}");
            }
            Ok(_) => {}
            Err(error) => eprintln!("cairn hook: no briefing: {}", error.message),
        }
    }
    Ok(())
}

/// Starts `cairn hook AGENT --after-write` in the background with the same
/// event, detached from the agent (its own process group, no pipes the
/// agent waits on).
fn capture_after_the_write(args: &HookArgs, input: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let program = std::env::current_exe().context("cannot find this program's path")?;
    let mut command = std::process::Command::new(program);
    command
        .args([
            "hook",
            args.agent.name(),
            "--after-write",
            "--url",
            &args.server.url,
        ])
        .args(["--token-env", &args.server.token_env])
        .args(["--timeout-ms", &args.timeout_ms.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(spool) = &args.server.spool {
        command.arg("--spool").arg(spool);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .context("cannot start the background capture")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .context("cannot hand the event to the background capture")?;
    }
    // Not waited for: it ends on its own within WRITE_WAIT and the timeout.
    drop(child);
    Ok(())
}

/// Waits until the transcript at `path` has changed and then stayed
/// unchanged for [`WRITE_SETTLE`], or [`WRITE_WAIT`] has passed.
async fn wait_for_write(path: &Path) {
    let size = || std::fs::metadata(path).map(|metadata| metadata.len()).ok();
    let before = size();
    let started = Instant::now();
    let mut last = before;
    let mut since = Instant::now();
    while started.elapsed() < WRITE_WAIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = size();
        if now != last {
            last = now;
            since = Instant::now();
        } else if now != before && since.elapsed() >= WRITE_SETTLE {
            return;
        }
    }
}

/// A transcript to import.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Capture {
    #[serde(with = "agent_name")]
    agent: HookAgent,
    transcript: Option<PathBuf>,
    /// The agent's working directory (Gemini's chats do not name it).
    project: String,
    /// The repository's normalised remote, and the folder of this clone.
    #[serde(default)]
    repository: Option<(String, String)>,
}

mod agent_name {
    use super::HookAgent;

    pub fn serialize<S: serde::Serializer>(agent: &HookAgent, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(agent.name())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<HookAgent, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        HookAgent::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("agent {name:?}")))
    }
}

impl Capture {
    async fn send(&self, client: &Link) -> Result<(), Failed> {
        let Some(path) = &self.transcript else {
            return Ok(());
        };
        let permanent = |message: String| Failed {
            message,
            retryable: false,
        };
        let size = match std::fs::metadata(path) {
            Ok(metadata) => metadata.len(),
            // Not written yet (or gone): nothing to send.
            Err(_) => return Ok(()),
        };
        if size == 0 {
            return Ok(());
        }
        if size > MAX_TRANSCRIPT_BYTES {
            return Err(permanent(format!(
                "{} is {size} bytes, over {MAX_TRANSCRIPT_BYTES}: import it with `cairn import`",
                path.display()
            )));
        }
        let content = std::fs::read(path)
            .map_err(|error| permanent(format!("cannot read {}: {error}", path.display())))?;
        let compressed = zstd::bulk::compress(&content, 1)
            .map_err(|error| permanent(format!("cannot compress {}: {error}", path.display())))?;
        let options = ImportOptions {
            agent: Some(self.agent.name().to_owned()),
            path: Some(path.display().to_string()),
            project: Some(self.project.clone()),
            repository: self.repository.as_ref().map(|(remote, _)| remote.clone()),
            root: self.repository.as_ref().map(|(_, root)| root.clone()),
        };
        client
            .import(compressed, &options)
            .await
            .map_err(|error| Failed {
                message: format!("cannot send {}: {}", path.display(), error.message),
                retryable: error.retryable,
            })
    }
}

/// Transcripts waiting for the server, one file each (named by the
/// transcript, so a transcript waits once however many turns it missed).
struct Spool {
    dir: PathBuf,
}

impl Spool {
    fn open(server: &HookServer) -> anyhow::Result<Spool> {
        let dir = match &server.spool {
            Some(dir) => dir.clone(),
            None => {
                let state = std::env::var_os("XDG_STATE_HOME")
                    .filter(|value| !value.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME")
                            .map(|home| PathBuf::from(home).join(".local/state"))
                    })
                    .context("cannot find a folder for the spool: set CAIRN_SPOOL_DIR")?;
                state.join("cairn").join("spool")
            }
        };
        Ok(Spool { dir })
    }

    fn entries(&self) -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .collect();
        entries.sort();
        entries
    }

    fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    fn add(&self, capture: &Capture) {
        let Some(transcript) = &capture.transcript else {
            return;
        };
        let name = cairn_core::ContentHash::of(
            format!("{}\0{}", capture.agent.name(), transcript.display()).as_bytes(),
        )
        .to_hex();
        let written = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let text = serde_json::to_vec(capture).map_err(std::io::Error::other)?;
            std::fs::write(self.dir.join(format!("{}.json", &name[..32])), text)
        });
        if let Err(error) = written {
            eprintln!(
                "cairn hook: cannot spool to {}: {error}",
                self.dir.display()
            );
        }
        let entries = self.entries();
        if entries.len() > MAX_SPOOLED {
            let mut by_age: Vec<(std::time::SystemTime, PathBuf)> = entries
                .into_iter()
                .map(|path| {
                    let modified = std::fs::metadata(&path)
                        .and_then(|metadata| metadata.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    (modified, path)
                })
                .collect();
            by_age.sort();
            for (_, path) in by_age.iter().take(by_age.len() - MAX_SPOOLED) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Sends what waits, oldest name first, until one fails for a reason
    /// that may pass or the deadline comes; how many were sent, and how many
    /// are left.
    async fn replay(&self, client: &Link, deadline: Option<Instant>) -> (usize, usize) {
        let entries = self.entries();
        let mut sent = 0;
        for (index, entry) in entries.iter().enumerate() {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return (sent, entries.len() - index);
            }
            let capture = std::fs::read(entry)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Capture>(&bytes).ok());
            let Some(capture) = capture else {
                let _ = std::fs::remove_file(entry);
                continue;
            };
            match capture.send(client).await {
                Ok(()) => {
                    sent += 1;
                    let _ = std::fs::remove_file(entry);
                }
                Err(error) if error.retryable => return (sent, entries.len() - index),
                Err(error) => {
                    eprintln!("cairn hook: dropped from the spool: {}", error.message);
                    let _ = std::fs::remove_file(entry);
                }
            }
        }
        (sent, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_word("/usr/bin/cairn"), "/usr/bin/cairn");
        assert_eq!(shell_word("/my apps/cairn"), "'/my apps/cairn'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn answers_are_read_plain_or_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_answer(plain), Some((200, b"{}".to_vec())));
        let chunked =
            b"HTTP/1.1 413 Payload Too Large\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked), Some((413, b"abcde".to_vec())));
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            None
        );
    }

    #[test]
    fn a_repository_is_named_by_its_remote_however_it_is_written() {
        for url in [
            "git@github.com:acme/shop.git",
            "https://github.com/acme/shop",
            "https://user:secret@GitHub.com/acme/shop.git/",
            "ssh://git@github.com:22/acme/shop.git",
        ] {
            assert_eq!(
                normalize_remote(url).as_deref(),
                Some("github.com/acme/shop"),
                "{url}"
            );
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir(dir.path().join(".git")).expect("a .git");
        assert_eq!(repository_of(dir.path()), None);
        std::fs::write(
            dir.path().join(".git/config"),
            "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.com/a/b\n\
             [remote \"origin\"]\n\turl = git@github.com:acme/shop.git\n",
        )
        .expect("a config");
        assert_eq!(
            repository_of(dir.path()).as_deref(),
            Some("github.com/acme/shop")
        );
        // A worktree points at the repository's folder.
        let worktree = tempfile::tempdir().expect("a temporary folder");
        let admin = dir.path().join(".git/worktrees/feature");
        std::fs::create_dir_all(&admin).expect("a worktree folder");
        std::fs::write(admin.join("commondir"), "../..\n").expect("commondir");
        std::fs::write(
            worktree.path().join(".git"),
            format!("gitdir: {}\n", admin.display()),
        )
        .expect("a .git file");
        assert_eq!(
            repository_of(worktree.path()).as_deref(),
            Some("github.com/acme/shop")
        );
    }

    #[test]
    fn the_project_is_the_repository_root() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).expect("folders");
        assert_eq!(project_root(&nested), nested);
        std::fs::create_dir(dir.path().join(".git")).expect("a .git");
        assert_eq!(project_root(&nested), dir.path());
    }
}
