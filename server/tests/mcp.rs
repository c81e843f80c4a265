//! `cairn mcp` as an agent starts it: the stdio bridge to a running server
//! (`--url`) and the tools over a data directory (`--data-dir`), each driven
//! by the official MCP Python SDK (`tests/mcp/client.py`, one client session
//! per run, in `.venv-mcp` from `scripts/install-mcp-client.sh`); and
//! `cairn mcp install`, whose files are parsed and compared with the shape
//! each agent documents.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cairn_server::{Config, RunningServer};
use serde_json::{Value, json};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ is in the workspace")
        .to_owned()
}

/// The venv's python. A missing venv fails the test: it is never skipped.
fn python() -> PathBuf {
    let python = workspace_root().join(".venv-mcp/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-mcp-client.sh .venv-mcp (scripts/test.sh does)",
        python.display()
    );
    python
}

/// One client session of `scenario` against `cairn mcp SERVER_ARGS…` on
/// stdio; returns the facts it printed, or panics with its standard error.
async fn session(scenario: &str, client_args: &[&str], server_args: &[&str]) -> Value {
    let run = tokio::process::Command::new(python())
        .arg(workspace_root().join("tests/mcp/client.py"))
        .arg(scenario)
        .args(client_args)
        .args(["--stdio", CAIRN, "--log", "warn", "mcp"])
        .args(server_args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the client session ends within two minutes")
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client.py {scenario} over `cairn mcp {}` failed:\n{stderr}",
        server_args.join(" ")
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!("client.py {scenario} printed no JSON ({error}):\n{stdout}\n{stderr}")
    })
}

async fn start_server(data_dir: &Path, adjust: impl FnOnce(&mut Config)) -> RunningServer {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".parse().expect("an address");
    config.storage.data_dir = data_dir.to_owned();
    config.storage.gc_interval_seconds = 0;
    adjust(&mut config);
    RunningServer::start(config).await.expect("server starts")
}

/// Writes in one session and reads, retrieves and searches in another.
async fn write_then_read(server_args: &[&str]) {
    let written = session(
        "writer",
        &["--protocol", "2025-06-18", "--name", "stdio-writer"],
        server_args,
    )
    .await;
    assert_eq!(written["protocol"], "2025-06-18");
    let reference = written["ref"].as_str().expect("a ref").to_owned();
    let read = session(
        "reader",
        &["--protocol", "2025-11-25", "--ref", &reference],
        server_args,
    )
    .await;
    assert_eq!(read["protocol"], "2025-11-25");
    assert_eq!(read["agent"], "stdio-writer");
    assert_eq!(read["search_agent"], "stdio-writer");
    assert_eq!(read["session"], "codex-session-1");
}

#[tokio::test]
async fn the_stdio_bridge_serves_the_running_servers_tools() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_server(data.path(), |_| {}).await;
    let url = server.url();
    write_then_read(&["--url", &url]).await;
    let errors = session("errors", &[], &["--url", &url]).await;
    assert_eq!(errors["stats_after"], true);
    // The bridge carries the stateless 2026-07-28 revision too (it adds the
    // headers that revision needs).
    let modern = session("writer", &["--mode", "auto"], &["--url", &url]).await;
    assert_eq!(modern["protocol"], "2026-07-28");
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn the_stdio_bridge_sends_the_token() {
    let secret = "a bridge test secret of at least thirty-two bytes";
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_server(data.path(), |config| {
        config.auth.jwt_secret = Some(secret.into());
    })
    .await;
    let token = cairn_auth::SigningKey::secret(secret.as_bytes())
        .and_then(|key| {
            key.issue(&cairn_auth::TokenRequest {
                sub: "bridged-agent".into(),
                tenant: "team".into(),
                scopes: cairn_auth::Scopes::all(),
                ttl_seconds: 600,
            })
        })
        .expect("a token");
    let url = server.url();
    let written = session("writer", &[], &["--url", &url, "--token", &token]).await;
    let reference = written["ref"].as_str().expect("a ref").to_owned();
    let read = session(
        "reader",
        &["--ref", &reference],
        &["--url", &url, "--token", &token],
    )
    .await;
    assert_eq!(read["agent"], "bridged-agent");
    // Without the token, the server's 401 reaches the client as the error
    // of its `initialize`, with the reason; the bridge does not hang.
    let refused = tokio::process::Command::new(python())
        .arg(workspace_root().join("tests/mcp/client.py"))
        .args([
            "writer", "--stdio", CAIRN, "--log", "warn", "mcp", "--url", &url,
        ])
        .kill_on_drop(true)
        .output();
    let refused = tokio::time::timeout(Duration::from_secs(60), refused)
        .await
        .expect("the refused session ends")
        .expect("python runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("unauthorized"),
        "{stderr}"
    );
    server.stop().await.expect("server stops");
}

#[tokio::test]
async fn the_tools_over_a_data_directory_without_a_server() {
    let data = tempfile::tempdir().expect("a temp dir");
    let dir = data.path().to_str().expect("a UTF-8 path").to_owned();
    write_then_read(&["--data-dir", &dir]).await;
}

#[tokio::test]
async fn over_a_data_directory_a_running_server_holds_search_and_the_tool_says_so() {
    let data = tempfile::tempdir().expect("a temp dir");
    let server = start_server(data.path(), |_| {}).await;
    let dir = data.path().to_str().expect("a UTF-8 path").to_owned();
    let facts = session("nosearch", &[], &["--data-dir", &dir]).await;
    let message = facts["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("held by another cairn process") && message.contains("--url"),
        "{message}"
    );
    server.stop().await.expect("server stops");
}

// `cairn mcp install`.

/// A home and a project folder, and `cairn mcp install` run in them.
struct Install {
    _root: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl Install {
    fn new() -> Install {
        let root = tempfile::tempdir().expect("a temp dir");
        let home = root.path().join("home");
        let project = root.path().join("project");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::create_dir_all(&project).expect("project");
        Install {
            _root: root,
            home,
            project,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(CAIRN)
            .args(["mcp", "install"])
            .args(args)
            .current_dir(&self.project)
            .env("HOME", &self.home)
            .env("CAIRN_LOG", "warn")
            .env_remove("CAIRN_URL")
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("CODEX_HOME")
            .env_remove("GEMINI_CLI_HOME")
            .output()
            .expect("cairn runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "install {args:?} failed: {stderr}");
        stderr
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&read(path)).expect("the file is JSON")
}

fn toml_file(path: &Path) -> toml::Table {
    read(path).parse().expect("the file is TOML")
}

const ENDPOINT: &str = "http://127.0.0.1:8787/mcp";

#[test]
fn install_writes_each_agents_documented_shape_in_each_scope() {
    let setup = Install::new();
    let claude_http = json!({"type": "http", "url": ENDPOINT});
    let gemini_http = json!({"url": ENDPOINT, "type": "http"});
    let cases: [(&str, &str, PathBuf); 4] = [
        ("claude", "user", setup.home.join(".claude.json")),
        ("claude", "project", setup.project.join(".mcp.json")),
        ("gemini", "user", setup.home.join(".gemini/settings.json")),
        (
            "gemini",
            "project",
            setup.project.join(".gemini/settings.json"),
        ),
    ];
    for (agent, scope, path) in &cases {
        let said = setup.ok(&[agent, "--scope", scope]);
        assert!(said.contains("registered `cairn`"), "{said}");
        let expected = if *agent == "claude" {
            &claude_http
        } else {
            &gemini_http
        };
        assert_eq!(
            json_file(path),
            json!({"mcpServers": {"cairn": expected}}),
            "{agent} {scope}"
        );
    }
    for (scope, path) in [
        ("user", setup.home.join(".codex/config.toml")),
        ("project", setup.project.join(".codex/config.toml")),
    ] {
        setup.ok(&["codex", "--scope", scope]);
        let written = toml_file(&path);
        let expected: toml::Table = format!("[mcp_servers.cairn]\nurl = \"{ENDPOINT}\"\n")
            .parse()
            .expect("TOML");
        assert_eq!(written, expected, "codex {scope}");
        assert_eq!(
            read(&path),
            format!("[mcp_servers.cairn]\nurl = \"{ENDPOINT}\"\n")
        );
    }
}

#[test]
fn install_with_a_token_variable_and_as_a_stdio_command() {
    let setup = Install::new();
    let url = "http://127.0.0.1:9999";
    setup.ok(&["claude", "--url", url, "--token-env", "CAIRN_TOKEN"]);
    assert_eq!(
        json_file(&setup.home.join(".claude.json"))["mcpServers"]["cairn"],
        json!({"type": "http", "url": "http://127.0.0.1:9999/mcp",
               "headers": {"Authorization": "Bearer ${CAIRN_TOKEN}"}})
    );
    setup.ok(&["codex", "--url", url, "--token-env", "MY_CAIRN_TOKEN"]);
    let codex = toml_file(&setup.home.join(".codex/config.toml"));
    assert_eq!(
        codex["mcp_servers"]["cairn"],
        toml::Value::Table(
            "url = \"http://127.0.0.1:9999/mcp\"\nbearer_token_env_var = \"MY_CAIRN_TOKEN\"\n"
                .parse()
                .expect("TOML")
        )
    );
    setup.ok(&[
        "gemini",
        "--url",
        url,
        "--stdio",
        "--token-env",
        "CAIRN_TOKEN",
    ]);
    assert_eq!(
        json_file(&setup.home.join(".gemini/settings.json"))["mcpServers"]["cairn"],
        json!({"command": CAIRN, "args": ["mcp", "--url", url],
               "env": {"CAIRN_TOKEN": "${CAIRN_TOKEN}"}})
    );
    setup.ok(&["claude", "--scope", "project", "--stdio"]);
    assert_eq!(
        json_file(&setup.project.join(".mcp.json"))["mcpServers"]["cairn"],
        json!({"type": "stdio", "command": CAIRN, "args": ["mcp", "--url", "http://127.0.0.1:8787"]})
    );
    // Codex forwards variables by name, and `cairn mcp` reads CAIRN_TOKEN.
    let refused = setup.run(&[
        "codex",
        "--scope",
        "project",
        "--stdio",
        "--token-env",
        "OTHER",
    ]);
    assert!(!refused.status.success());
    assert!(!setup.project.join(".codex/config.toml").exists());
}

#[test]
fn install_keeps_everything_else_backs_up_and_changes_nothing_the_second_time() {
    let setup = Install::new();
    let claude = setup.home.join(".claude.json");
    let before = "{\n  \"zeta\": 1,\n  \"projects\": {\"/p\": {\"allowedTools\": []}},\n  \
                  \"mcpServers\": {\"other\": {\"command\": \"other-server\"}},\n  \"alpha\": 2.5\n}\n";
    std::fs::write(&claude, before).expect("written");
    setup.ok(&["claude"]);
    let after = read(&claude);
    // Every other key is kept, in its order; the registration joins the servers.
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&after)
        .expect("JSON")
        .keys()
        .cloned()
        .collect();
    assert!(
        after.find("\"zeta\"") < after.find("\"projects\""),
        "order kept:\n{after}"
    );
    assert!(
        after.find("\"mcpServers\"") < after.find("\"alpha\""),
        "order kept:\n{after}"
    );
    assert_eq!(keys.len(), 4);
    let value = json_file(&claude);
    assert_eq!(value["zeta"], 1);
    assert_eq!(value["alpha"], 2.5);
    assert_eq!(value["projects"], json!({"/p": {"allowedTools": []}}));
    assert_eq!(
        value["mcpServers"]["other"],
        json!({"command": "other-server"})
    );
    assert_eq!(
        value["mcpServers"]["cairn"],
        json!({"type": "http", "url": ENDPOINT})
    );
    assert_eq!(read(&setup.home.join(".claude.json.bak")), before);
    // Again: nothing changes, and the backup still holds the original.
    let said = setup.ok(&["claude"]);
    assert!(said.contains("nothing changed"), "{said}");
    assert_eq!(read(&claude), after);
    assert_eq!(read(&setup.home.join(".claude.json.bak")), before);

    let codex = setup.home.join(".codex/config.toml");
    std::fs::create_dir_all(codex.parent().expect("a folder")).expect("folder");
    let before = "# my settings\nmodel = \"o3\"  # the model\n\n[mcp_servers.docs]\n\
                  command = \"docs-mcp\"\nargs = [\"--stdio\"]\n\n[profiles.fast]\nmodel = \"o4-mini\"\n";
    std::fs::write(&codex, before).expect("written");
    setup.ok(&["codex"]);
    let after = read(&codex);
    // The old text is kept as it was; the table joins its siblings.
    let expected = before.replace(
        "[profiles.fast]",
        &format!("[mcp_servers.cairn]\nurl = \"{ENDPOINT}\"\n\n[profiles.fast]"),
    );
    assert_eq!(after, expected);
    let table = toml_file(&codex);
    assert_eq!(table["model"].as_str(), Some("o3"));
    assert_eq!(table["profiles"]["fast"]["model"].as_str(), Some("o4-mini"));
    assert_eq!(
        table["mcp_servers"]["docs"]["command"].as_str(),
        Some("docs-mcp")
    );
    assert_eq!(
        table["mcp_servers"]["cairn"]["url"].as_str(),
        Some(ENDPOINT)
    );
    assert_eq!(read(&setup.home.join(".codex/config.toml.bak")), before);
    let said = setup.ok(&["codex"]);
    assert!(said.contains("nothing changed"), "{said}");
    assert_eq!(read(&codex), after);

    let gemini = setup.project.join(".gemini/settings.json");
    setup.ok(&["gemini", "--scope", "project"]);
    let first = read(&gemini);
    assert!(!setup.project.join(".gemini/settings.json.bak").exists());
    setup.ok(&["gemini", "--scope", "project"]);
    assert_eq!(read(&gemini), first);
    assert!(!setup.project.join(".gemini/settings.json.bak").exists());
}

#[test]
fn install_leaves_an_unparsable_file_untouched_and_says_why() {
    let setup = Install::new();
    let cases = [
        (
            setup.home.join(".claude.json"),
            "claude",
            "{\"mcpServers\": {",
        ),
        (
            setup.home.join(".gemini/settings.json"),
            "gemini",
            "not json at all",
        ),
        (
            setup.home.join(".codex/config.toml"),
            "codex",
            "[mcp_servers\nurl = ",
        ),
        (
            setup.home.join(".claude.json"),
            "claude",
            "{\"mcpServers\": [1, 2]}",
        ),
    ];
    for (path, agent, text) in cases {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
        std::fs::write(&path, text).expect("written");
        let output = setup.run(&[agent]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{agent} accepted {text:?}");
        assert!(
            stderr.contains(&path.display().to_string()) && stderr.contains("untouched"),
            "{stderr}"
        );
        assert_eq!(read(&path), text, "the file is as it was");
        let mut backup = path.clone().into_os_string();
        backup.push(".bak");
        assert!(
            !PathBuf::from(backup).exists(),
            "no backup: nothing was written"
        );
    }
}

#[test]
fn install_print_shows_the_file_and_writes_nothing() {
    let setup = Install::new();
    let output = setup.run(&["gemini", "--print"]);
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(
        printed,
        json!({"mcpServers": {"cairn": {"url": ENDPOINT, "type": "http"}}})
    );
    assert!(!setup.home.join(".gemini").exists());
}

#[test]
fn install_honours_the_agents_home_variables() {
    let setup = Install::new();
    let codex_home = setup.home.join("elsewhere-codex");
    std::fs::create_dir_all(&codex_home).expect("folder");
    let output = Command::new(CAIRN)
        .args(["mcp", "install", "codex"])
        .current_dir(&setup.project)
        .env("HOME", &setup.home)
        .env("CODEX_HOME", &codex_home)
        .env("CAIRN_LOG", "warn")
        .env_remove("CAIRN_URL")
        .output()
        .expect("cairn runs");
    assert!(output.status.success());
    assert!(codex_home.join("config.toml").exists());
    assert!(!setup.home.join(".codex").exists());
}

/// examples/mcp holds each agent's registration as `cairn mcp install` writes
/// it (plain, and sending a token from CAIRN_TOKEN): the files a user copies
/// by hand are the ones the command would write.
#[test]
fn the_example_registrations_are_what_install_writes() {
    let examples = workspace_root().join("examples/mcp");
    let cases = [
        ("claude", "claude.mcp.json", false),
        ("codex", "codex.config.toml", false),
        ("gemini", "gemini.settings.json", false),
        ("claude", "claude-token.mcp.json", true),
        ("codex", "codex-token.config.toml", true),
        ("gemini", "gemini-token.settings.json", true),
    ];
    for (agent, file, token) in cases {
        let home = tempfile::tempdir().expect("a temporary home");
        let mut command = Command::new(CAIRN);
        command
            .args(["mcp", "install", agent, "--scope", "project", "--print"])
            .current_dir(home.path())
            .env("HOME", home.path())
            .env_remove("CAIRN_URL");
        if token {
            command.args(["--token-env", "CAIRN_TOKEN"]);
        }
        let output = command.output().expect("cairn runs");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            read(&examples.join(file)),
            "examples/mcp/{file} is not what `cairn mcp install {agent}` writes"
        );
    }
}
