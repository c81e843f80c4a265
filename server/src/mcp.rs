//! `cairn mcp`: the MCP server on standard input and output, as a bridge to
//! a running server (`--url`) or over a data directory opened here
//! (`--data-dir`); and `cairn mcp install`, which registers Cairn with Claude
//! Code, Codex or Gemini CLI.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_mcp::install::{Agent, Entry, Scope, Target, Transport};
use clap::{Args, Subcommand, ValueEnum};

use crate::Config;

const DEFAULT_URL: &str = "http://127.0.0.1:8787";

/// `cairn mcp`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct McpArgs {
    #[command(subcommand)]
    pub command: Option<McpCommand>,
    /// URL of the running Cairn server to bridge to (its /mcp endpoint serves
    /// the tools). Ignored with --data-dir.
    #[arg(long, env = "CAIRN_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Bearer token sent to the server, when it requires one.
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve this data directory directly instead of bridging to a server
    /// (the `local` tenant, no token). Search needs the index, which a
    /// running server holds: with one running, use --url.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file for --data-dir [default: ./cairn.toml if it exists].
    #[arg(long, env = "CAIRN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Register Cairn as an MCP server with Claude Code, Codex or Gemini CLI.
    ///
    /// Writes the agent's own configuration file (Claude Code: .mcp.json or
    /// ~/.claude.json; Codex: .codex/config.toml or ~/.codex/config.toml;
    /// Gemini CLI: .gemini/settings.json or ~/.gemini/settings.json), keeping
    /// everything else in it and a copy of it in FILE.bak. Running it again
    /// changes nothing. A file that does not parse is left alone.
    Install(InstallArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentArg {
    Claude,
    Codex,
    Gemini,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Every project of this user.
    User,
    /// This project only (the current directory).
    Project,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The agent to register Cairn with.
    #[arg(value_enum)]
    pub agent: AgentArg,
    /// Where: the user's configuration, or the current project's.
    #[arg(long, value_enum, default_value = "user")]
    pub scope: ScopeArg,
    /// Print the file as it would be written, and write nothing.
    #[arg(long)]
    pub print: bool,
    /// URL of the Cairn server the agent connects to.
    #[arg(long, env = "CAIRN_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Register the stdio command `cairn mcp --url URL` (this binary) instead
    /// of the server's HTTP endpoint.
    #[arg(long)]
    pub stdio: bool,
    /// Name of the environment variable holding the agent's token, when the
    /// server has auth on (for example CAIRN_TOKEN). The token itself is
    /// never written: the agent reads the variable.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
}

/// Runs `cairn mcp`.
pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    match args.command {
        Some(McpCommand::Install(install)) => self::install(install),
        None => match args.data_dir {
            Some(dir) => serve_data_dir(&dir, args.config.as_deref()).await,
            None => {
                let endpoint = endpoint(&args.url);
                tracing::info!(%endpoint, "mcp: bridging stdio to the server");
                cairn_mcp::bridge::run(cairn_mcp::bridge::BridgeOptions {
                    endpoint,
                    token: args.token.filter(|token| !token.trim().is_empty()),
                })
                .await
                .context("the MCP bridge failed")
            }
        },
    }
}

/// The MCP endpoint of a server URL (`…/mcp`, whether or not it was named).
pub fn endpoint(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/mcp") {
        url.to_owned()
    } else {
        format!("{url}/mcp")
    }
}

/// Serves the tools on stdio over the data directory `dir`.
async fn serve_data_dir(dir: &Path, config_file: Option<&Path>) -> anyhow::Result<()> {
    let mut config = Config::load(config_file)?;
    config.storage.data_dir = dir.to_owned();
    let store = crate::open_store(&config).await?;
    let mut cairn = crate::service(&config, store.clone());
    let search = match crate::open_search(&config) {
        Ok(search) => Some(search),
        Err(error) => {
            tracing::warn!(
                error = %format!("{error:#}"),
                "mcp: search is off; the other tools work"
            );
            None
        }
    };
    let mut server_note = None;
    let indexer = match &search {
        Some(search) => {
            cairn = cairn.with_search(search.clone());
            Some(tokio::spawn(cairn.clone().run_indexer()))
        }
        None => {
            server_note = Some(format!(
                "search is off: the index in {} is held by another cairn process (a running \
                 server?); register `cairn mcp --url URL` to use that server instead",
                config.index_path().display()
            ));
            None
        }
    };
    let mut server = cairn_mcp::McpServer::local(cairn, cairn_auth::Principal::local());
    if let Some(note) = server_note {
        server = server.with_search_note(note);
    }
    let served = server.serve_stdio().await;
    if let Some(indexer) = indexer {
        indexer.abort();
        let _ = indexer.await;
    }
    if let Some(search) = search {
        search.close();
    }
    store.close().await;
    served.context("the MCP server failed")
}

/// Runs `cairn mcp install`.
fn install(args: InstallArgs) -> anyhow::Result<()> {
    let agent = match args.agent {
        AgentArg::Claude => Agent::Claude,
        AgentArg::Codex => Agent::Codex,
        AgentArg::Gemini => Agent::Gemini,
    };
    let scope = match args.scope {
        ScopeArg::User => Scope::User,
        ScopeArg::Project => Scope::Project,
    };
    let homes = homes()?;
    let project = std::env::current_dir().context("cannot read the current directory")?;
    let target = Target::locate(agent, scope, &homes, &project);
    let transport = if args.stdio {
        let program = std::env::current_exe()
            .context("cannot find this program's path")?
            .display()
            .to_string();
        Transport::Stdio {
            program,
            url: args.url.trim_end_matches('/').to_owned(),
        }
    } else {
        Transport::Http {
            endpoint: endpoint(&args.url),
        }
    };
    let entry = Entry {
        transport,
        token_env: args.token_env.filter(|name| !name.trim().is_empty()),
    };
    if args.print {
        let text = cairn_mcp::install::render(&target, &entry)?;
        print!("{text}");
        eprintln!("(not written: {})", target.path.display());
        return Ok(());
    }
    let outcome = cairn_mcp::install::install(&target, &entry)?;
    eprintln!("{outcome}");
    Ok(())
}

/// Where each agent keeps its user configuration, from the environment.
pub(crate) fn homes() -> anyhow::Result<cairn_mcp::install::Homes> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME")
        .or_else(|| var("USERPROFILE"))
        .context("cannot find the home directory: HOME is not set")?;
    Ok(cairn_mcp::install::Homes {
        claude_config_dir: var("CLAUDE_CONFIG_DIR"),
        codex_home: var("CODEX_HOME"),
        gemini_cli_home: var("GEMINI_CLI_HOME"),
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_url_with_mcp_once() {
        assert_eq!(
            endpoint("http://127.0.0.1:8787"),
            "http://127.0.0.1:8787/mcp"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8787/"),
            "http://127.0.0.1:8787/mcp"
        );
        assert_eq!(endpoint("http://h:1/mcp"), "http://h:1/mcp");
        assert_eq!(endpoint("http://h:1/mcp/"), "http://h:1/mcp");
    }
}
