//! The conformance suite: the real agent CLIs (Claude Code, Codex CLI and
//! Gemini CLI from npm, pinned in tests/agents/package.json and installed
//! by scripts/install-agents.sh) run through Cairn against a scripted model
//! on loopback (`mock.rs`), each in a throwaway HOME with a dummy key.
//!
//! A CLI that is not installed fails its test, naming the script that
//! installs it: these tests are never skipped.

mod briefing;
mod mock;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use cairn_server::{Config, RunningServer};
use mock::{Mock, Received, Recorder, first_ref, raw};
use serde_json::{Value, json};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

/// What a run may take: the CLIs start in seconds, a turn in milliseconds.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    Claude,
    Codex,
    Gemini,
}

impl Agent {
    const ALL: [Agent; 3] = [Agent::Claude, Agent::Codex, Agent::Gemini];

    fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// The installed CLI; a missing one fails the test loudly.
    fn program(self) -> PathBuf {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/agents/node_modules/.bin")
            .join(self.name());
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-agents.sh (scripts/test.sh does)",
            bin.display()
        );
        bin
    }
}

/// A throwaway home and project folder for one agent.
struct Sandbox {
    agent: Agent,
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(agent: Agent) -> Sandbox {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("home/.codex")).expect("CODEX_HOME");
        std::fs::create_dir_all(dir.path().join("home/.gemini")).expect(".gemini");
        std::fs::create_dir_all(dir.path().join("project")).expect("project");
        // Without a chosen auth type Gemini CLI refuses an API key from the
        // environment ("Invalid auth method selected").
        std::fs::write(
            dir.path().join("home/.gemini/settings.json"),
            r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
        )
        .expect("settings.json");
        Sandbox { agent, dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// The environment every run of this agent gets: its home, a dummy
    /// key, and `base` as its model API (a Cairn server or the mock).
    fn env(&self, base: &str) -> Vec<(String, String)> {
        let home = self.home().display().to_string();
        let mut env = vec![
            ("HOME".to_owned(), home.clone()),
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        match self.agent {
            Agent::Claude => env.extend([
                ("ANTHROPIC_BASE_URL".to_owned(), base.to_owned()),
                ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-dummy".to_owned()),
                (
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(),
                    "1".to_owned(),
                ),
                ("DISABLE_AUTOUPDATER".to_owned(), "1".to_owned()),
            ]),
            Agent::Codex => env.extend([
                ("CODEX_HOME".to_owned(), format!("{home}/.codex")),
                ("OPENAI_API_KEY".to_owned(), "sk-dummy".to_owned()),
            ]),
            Agent::Gemini => env.extend([
                ("GOOGLE_GEMINI_BASE_URL".to_owned(), base.to_owned()),
                ("GEMINI_API_KEY".to_owned(), "dummy".to_owned()),
                ("GEMINI_CLI_TRUST_WORKSPACE".to_owned(), "true".to_owned()),
            ]),
        }
        env
    }

    /// The agent's arguments for one prompt: a new session, or the latest
    /// one resumed. Codex gets its model provider here (`base` + `/v1`).
    fn args(&self, base: &str, prompt: &str, resume: Resume) -> Vec<String> {
        let own = |items: &[&str]| {
            items
                .iter()
                .map(|item| (*item).to_owned())
                .collect::<Vec<_>>()
        };
        match self.agent {
            Agent::Claude => {
                let mut args = own(&["-p", prompt, "--allowedTools", "Bash,Write,mcp__cairn"]);
                if let Resume::Session(id) = &resume {
                    args.extend(own(&["--resume", id]));
                }
                args
            }
            Agent::Codex => {
                let mut args = own(&["exec"]);
                if resume != Resume::No {
                    args.extend(own(&["resume", "--last"]));
                }
                if !base.is_empty() {
                    args.extend(codex_provider(base));
                }
                args.extend(own(&[
                    "--dangerously-bypass-approvals-and-sandbox",
                    "--skip-git-repo-check",
                    prompt,
                ]));
                args
            }
            Agent::Gemini => {
                let mut args = own(&["-p", prompt, "--yolo", "--skip-trust"]);
                if resume != Resume::No {
                    args.extend(own(&["--resume", "latest"]));
                }
                args
            }
        }
    }

    /// Runs the agent with `base` as its model API; panics when it fails.
    async fn run(&self, base: &str, prompt: &str, resume: Resume) -> String {
        self.run_with(base, prompt, resume, &[]).await.0
    }

    /// [`Sandbox::run`] with more arguments; standard output and error.
    async fn run_with(
        &self,
        base: &str,
        prompt: &str,
        resume: Resume,
        more: &[&str],
    ) -> (String, String) {
        let mut command = tokio::process::Command::new(self.agent.program());
        command
            .args(more)
            .args(self.args(base, prompt, resume))
            .envs(self.env(base))
            .current_dir(self.project());
        self.finish_both(command).await
    }

    /// `cairn mcp install` for this agent, into this home, pointed at `url`.
    async fn install_mcp(&self, url: &str, stdio: bool) {
        let mut command = tokio::process::Command::new(CAIRN);
        command
            .args(["mcp", "install", self.agent.name(), "--url", url])
            .args(stdio.then_some("--stdio"))
            .env("HOME", self.home())
            .env("CODEX_HOME", self.home().join(".codex"))
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("GEMINI_CLI_HOME")
            .current_dir(self.project());
        self.finish(command).await;
    }

    /// Runs the agent through `cairn wrap`, pointed at the server `url`.
    async fn wrap(&self, url: &str, prompt: &str, resume: Resume) -> String {
        let mut command = tokio::process::Command::new(CAIRN);
        command
            .args(["wrap", self.agent.name(), "--url", url, "--program"])
            .arg(self.agent.program())
            .arg("--")
            .args(self.args("", prompt, resume))
            .envs(self.env(url))
            .env("CAIRN_LOG", "warn")
            .current_dir(self.project());
        self.finish(command).await
    }

    async fn finish(&self, command: tokio::process::Command) -> String {
        self.finish_both(command).await.0
    }

    /// Runs the command to its end; its standard output and error.
    async fn finish_both(&self, mut command: tokio::process::Command) -> (String, String) {
        command
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output: Output = tokio::time::timeout(RUN_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("{:?} did not finish within {RUN_TIMEOUT:?}", self.agent))
            .expect("the agent runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "{:?} failed ({}):\n{stdout}\n{stderr}",
            self.agent,
            output.status
        );
        (stdout, stderr)
    }

    /// The agent's own session files, newest last.
    fn session_files(&self) -> Vec<PathBuf> {
        let (root, extension) = match self.agent {
            Agent::Claude => (self.home().join(".claude/projects"), "jsonl"),
            Agent::Codex => (self.home().join(".codex/sessions"), "jsonl"),
            Agent::Gemini => (self.home().join(".gemini/tmp"), "jsonl"),
        };
        let mut files = Vec::new();
        let mut folders = vec![root];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == extension)
                    && (self.agent != Agent::Gemini
                        || path.parent().is_some_and(|p| p.ends_with("chats")))
                {
                    files.push(path);
                }
            }
        }
        files.sort_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok());
        files
    }
}

/// How to resume the session `first` (its first model request) began:
/// Claude Code by its session id, the others by "the latest".
fn resume_of(agent: Agent, first: &Received) -> Resume {
    match agent {
        Agent::Claude => Resume::Session(
            first
                .headers
                .get("x-claude-code-session-id")
                .and_then(|value| value.to_str().ok())
                .expect("Claude Code names its session")
                .to_owned(),
        ),
        _ => Resume::Latest,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    No,
    /// The latest session (Codex, Gemini).
    Latest,
    /// A session by id (Claude Code).
    Session(String),
}

/// Codex's `-c` overrides for a provider at `base` (the Responses API over
/// HTTP, WebSockets off), as `cairn wrap` writes them.
fn codex_provider(base: &str) -> Vec<String> {
    let provider = "model_providers.cairn";
    [
        "model_provider=\"cairn\"".to_owned(),
        format!("{provider}.name=\"Cairn\""),
        format!("{provider}.base_url=\"{base}/v1\""),
        format!("{provider}.env_key=\"OPENAI_API_KEY\""),
        format!("{provider}.wire_api=\"responses\""),
        format!("{provider}.supports_websockets=false"),
    ]
    .into_iter()
    .flat_map(|value| ["-c".to_owned(), value])
    .collect()
}

/// A Cairn server whose proxy forwards to the mock.
async fn cairn(upstream: &str) -> (RunningServer, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".parse().expect("an address");
    config.storage.data_dir = data.path().to_owned();
    config.storage.gc_interval_seconds = 0;
    config.proxy.anthropic_upstream = upstream.to_owned();
    config.proxy.openai_upstream = upstream.to_owned();
    config.proxy.gemini_upstream = upstream.to_owned();
    let server = RunningServer::start(config).await.expect("cairn starts");
    (server, data)
}

async fn get(url: &str) -> Value {
    let response = reqwest::get(url).await.expect("cairn answers");
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{url}: {error}: {text}"))
}

/// Imports a session file through the REST API (as `cairn import` would).
async fn import(server: &RunningServer, agent: Agent, file: &Path) -> Value {
    let bytes = std::fs::read(file).expect("the session file");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/sessions/import?agent={}",
            server.url(),
            agent.name()
        ))
        .body(bytes)
        .send()
        .await
        .expect("cairn answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(
        status.is_success(),
        "import {}: {status} {text}",
        file.display()
    );
    serde_json::from_str(&text).expect("a report")
}

/// A command whose output is `lines` numbers, one of them replaced by `word`.
fn numbers(lines: u32, at: u32, word: &str) -> String {
    format!("seq 1 {lines} | sed 's/^{at}$/{word}/'")
}

/// The text of the tool results in a main request, per API.
fn tool_results(request: &Received) -> Vec<String> {
    let body = request.json();
    let text_of = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                out.push(text_of(&block["content"]));
            }
        }
    }
    for item in body["input"].as_array().into_iter().flatten() {
        if matches!(
            item["type"].as_str(),
            Some("function_call_output" | "custom_tool_call_output")
        ) {
            out.push(text_of(&item["output"]));
        }
    }
    for content in body["contents"].as_array().into_iter().flatten() {
        for part in content["parts"].as_array().into_iter().flatten() {
            if let Some(response) = part.get("functionResponse") {
                let response = &response["response"];
                out.push(text_of(
                    response.get("output").unwrap_or(&response["content"]),
                ));
            }
        }
    }
    out
}

/// Raw JSON without the `cairn_retrieve` definition the proxy appended to
/// a tool list (`,{…"name":"cairn_retrieve"…}`), as the agent wrote it.
fn without_our_tool(raw: &str) -> String {
    let Some(name) = raw.find("\"name\":\"cairn_retrieve\"") else {
        return raw.to_owned();
    };
    let Some(start) = raw[..name].rfind(",{") else {
        return raw.to_owned();
    };
    let mut values = serde_json::Deserializer::from_str(&raw[start + 1..]).into_iter::<Value>();
    match values.next() {
        Some(Ok(_)) => format!(
            "{}{}",
            &raw[..start],
            &raw[start + 1 + values.byte_offset()..]
        ),
        _ => raw.to_owned(),
    }
}

/// A request body without Anthropic's moving `cache_control` markers (the
/// client moves them to its newest message on every request).
fn without_cache_markers(text: &str) -> String {
    text.replace(",\"cache_control\":{\"type\":\"ephemeral\"}", "")
        .replace("\"cache_control\":{\"type\":\"ephemeral\"},", "")
}

/// How many leading bytes two request bodies share.
fn shared_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// A main request's tool list, as upstream received it.
fn tool_list(agent: Agent, request: &Received) -> Value {
    let body = request.json();
    match agent {
        Agent::Codex => body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|item| item["type"] == "additional_tools")
            .cloned()
            .unwrap_or(Value::Null),
        _ => body["tools"].clone(),
    }
}

fn names_retrieve(tools: &Value) -> bool {
    tools.to_string().contains("\"cairn_retrieve\"")
}

#[tokio::test]
async fn claude_code_through_the_proxy() {
    through_the_proxy(Agent::Claude).await;
}

#[tokio::test]
async fn codex_through_the_proxy() {
    through_the_proxy(Agent::Codex).await;
}

#[tokio::test]
async fn gemini_cli_through_the_proxy() {
    through_the_proxy(Agent::Gemini).await;
}

/// One agent, by its own base-URL setting, through Cairn's proxy: a
/// two-turn task whose first turn runs a command with a large output and
/// retrieves a line from it; then its own session file imported. A
/// recording hop between the agent and Cairn shows what the agent sent.
async fn through_the_proxy(agent: Agent) {
    let (mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let (recorder, hop) = Recorder::start(&server.url()).await;
    let sandbox = Sandbox::new(agent);
    let url = server.url();

    // Turn 1: a 5,000-line output (small enough that every CLI sends it
    // whole), compressed by Cairn; the model retrieves a line the view cut.
    // The line looks like its neighbours and the prompt names it backwards
    // (a view keeps what its question names).
    let first = "RUN seq 1 5000\nRETRIEVE-REVERSED 5432";
    let said_first = sandbox.run(&hop, first, Resume::No).await;
    assert!(
        said_first.contains("FOUND:") && said_first.contains("2345"),
        "{agent:?} said: {said_first}"
    );
    let turn1 = mock.main_requests();
    let compressed = turn1
        .iter()
        .flat_map(tool_results)
        .find(|result| result.contains("[cairn:"))
        .unwrap_or_else(|| panic!("{agent:?}: no tool result went upstream compressed"));
    assert!(
        compressed.len() < 8_000,
        "{agent:?}: {} bytes upstream",
        compressed.len()
    );
    assert!(
        !compressed.contains("\n2345\n"),
        "the line asked for was cut: {compressed}"
    );
    assert!(first_ref(&compressed).is_some(), "a marker with its ref");
    let retrieved = turn1
        .iter()
        .flat_map(tool_results)
        .any(|result| result.contains("2345") && !result.contains("[cairn:"));
    assert!(
        retrieved,
        "{agent:?}: the retrieve round sent the cut line upstream"
    );
    // The tool list is the same on every main request, cairn_retrieve in it.
    let tools: Vec<Value> = turn1
        .iter()
        .map(|request| tool_list(agent, request))
        .collect();
    assert!(
        tools.iter().all(|list| *list == tools[0]),
        "{agent:?}: the tool list changed"
    );
    assert!(
        names_retrieve(&tools[0]),
        "{agent:?}: cairn_retrieve is offered"
    );
    let mut report = Report::default();
    report.add(agent, &recorder.main_requests(), &turn1);

    // Turn 2, resuming the session: a 40,000-line output (the CLIs keep the
    // full text beside the session and send the model less).
    let session = resume_of(agent, &turn1[0]);
    mock.clear();
    recorder.clear();
    let second = format!("RUN {}", numbers(40000, 23456, "needle-quuxfrob"));
    let said = sandbox.run(&hop, &second, session).await;
    assert!(said.contains("DONE"), "{agent:?} said: {said}");
    let turn2 = mock.main_requests();
    assert!(turn2.len() >= 2, "{agent:?}: a call and its answer");
    // Within the turn, everything up to the end of turn 1 (its final
    // answer) goes upstream byte for byte on every request.
    let a = without_cache_markers(&turn2[0].text());
    let b = without_cache_markers(&turn2[turn2.len() - 1].text());
    let answer: String = said_first.trim().chars().take(24).collect();
    let earlier = a
        .find(&answer)
        .expect("turn 1's answer is in turn 2's request")
        + answer.len();
    let shared = shared_prefix(&a, &b);
    assert!(
        shared >= earlier,
        "{agent:?}: the earlier turns' bytes changed at {shared} of {earlier}"
    );
    assert_eq!(
        tool_list(agent, &turn2[0]),
        tools[0],
        "{agent:?}: the same tools on turn 2"
    );
    report.add(agent, &recorder.main_requests(), &turn2);
    report.write(agent);

    // The proxy recorded the conversation (in the background, after each
    // answer)…
    let mut recorded = Value::Null;
    for _ in 0..100 {
        recorded = get(&format!("{url}/v1/sessions?agent={}", agent.name())).await;
        if recorded["sessions"][0]["messages"].as_u64().unwrap_or(0) >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recorded["sessions"][0]["messages"].as_u64().unwrap_or(0) >= 8,
        "{agent:?}: the proxy recorded both turns: {recorded}"
    );
    assert_eq!(
        recorded["sessions"].as_array().map(Vec::len),
        Some(1),
        "{recorded}"
    );
    // …and the agent's own file, imported, joins it: one session, no
    // message twice, and a word from the middle of the long output is found.
    let files = sandbox.session_files();
    let file = files.last().expect("the agent wrote its session");
    let report = import(&server, agent, file).await;
    assert_eq!(report["errors"], json!([]), "{report}");
    let sessions = get(&format!("{url}/v1/sessions?agent={}", agent.name())).await;
    let listed = sessions["sessions"].as_array().expect("sessions");
    assert_eq!(listed.len(), 1, "{agent:?}: one session: {sessions}");
    let id = listed[0]["id"].as_str().expect("an id");
    let detail = get(&format!("{url}/v1/sessions/{id}?limit=2000")).await;
    assert_one_copy(agent, &detail);
    let mut hits = Value::Null;
    for _ in 0..100 {
        hits = get(&format!("{url}/v1/search?q=quuxfrob")).await;
        if hits["hits"].as_array().is_some_and(|hits| !hits.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hit = &hits["hits"][0];
    assert_eq!(hit["session"], json!(id), "{agent:?}: {hits}");
    assert!(
        hit["snippet"].to_string().contains("quuxfrob"),
        "{agent:?}: a snippet at the word: {hits}"
    );
    server.stop().await.expect("cairn stops");
}

/// What one agent's scripted task cost upstream, and what its requests
/// kept of each other, as the agent sent them and as the model got them.
#[derive(Debug, Default)]
struct Report {
    /// o200k tokens of the main requests: as sent by the agent, and upstream
    /// (retrieve rounds included).
    tokens_agent: u64,
    tokens_upstream: u64,
    /// Conversation items of each main request that the next one repeats
    /// byte for byte after the same tools and system prompt (the provider's
    /// cache prefix), and the items there were: as the agent sent them, and
    /// upstream.
    prefix_agent: (u64, u64),
    prefix_upstream: (u64, u64),
}

impl Report {
    /// Checks one turn's requests, the agent's against upstream's, and adds
    /// them up: everything the proxy did not compress goes upstream as the
    /// agent wrote it.
    fn add(&mut self, agent: Agent, sent: &[Received], upstream: &[Received]) {
        let key = match agent {
            Agent::Claude => "messages",
            Agent::Codex => "input",
            Agent::Gemini => "contents",
        };
        // The proxy's own retrieve rounds: the agent never sent them.
        let forwarded: Vec<&Received> = upstream
            .iter()
            .filter(|request| {
                !raw::member(&request.text(), key)
                    .map(raw::elements)
                    .unwrap_or_default()
                    .iter()
                    .any(|item| item.contains("\"cairn_retrieve\"") && !item.contains("\"tools\""))
            })
            .collect();
        assert_eq!(
            forwarded.len(),
            sent.len(),
            "{agent:?}: one upstream request for each"
        );
        for (client, model) in sent.iter().zip(&forwarded) {
            let (client, model) = (client.text(), model.text());
            let ours = raw::members(&client);
            let theirs = raw::members(&model);
            let names = |members: &[(String, &str)]| {
                members
                    .iter()
                    .map(|(name, _)| name.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                names(&theirs)[..ours.len()],
                names(&ours)[..],
                "{agent:?}: the agent's keys, in its order"
            );
            for (name, value) in &ours {
                let upstream = raw::member(&model, name).expect("every key goes upstream");
                if name == key {
                    let items = raw::elements(value);
                    let up = raw::elements(upstream);
                    assert_eq!(items.len(), up.len(), "{agent:?}: as many items");
                    for (item, up) in items.iter().zip(&up) {
                        let up = without_our_tool(up);
                        assert!(
                            *item == up || up.contains("[cairn:"),
                            "{agent:?}: an item the proxy did not compress changed:\n{item}\n---\n{up}"
                        );
                    }
                } else if name == "tools" {
                    let kept = &value[..value.len() - 1];
                    assert!(
                        upstream.starts_with(kept) && upstream[kept.len()..].starts_with(','),
                        "{agent:?}: the agent's tools go as they were, cairn_retrieve after them"
                    );
                } else {
                    assert_eq!(&upstream, value, "{agent:?}: {name} as the agent sent it");
                }
            }
        }
        let count = |requests: &[&Received]| {
            requests
                .iter()
                .map(|request| cairn_core::tokens::count(&request.text()) as u64)
                .sum::<u64>()
        };
        self.tokens_agent += count(&sent.iter().collect::<Vec<_>>());
        self.tokens_upstream += count(&upstream.iter().collect::<Vec<_>>());
        // The prompt cache's prefix, in the provider's order: the tools and
        // the system prompt, then the conversation's leading items. For each
        // request after the first: how many items of the one before it it
        // repeats byte for byte (none when the tools or the system changed).
        let kept = |requests: &[&Received]| -> Vec<(u64, u64)> {
            requests
                .windows(2)
                .map(|pair| {
                    let (a, b) = (
                        without_cache_markers(&pair[0].text()),
                        without_cache_markers(&pair[1].text()),
                    );
                    let items_a = raw::member(&a, key).map(raw::elements).unwrap_or_default();
                    let items_b = raw::member(&b, key).map(raw::elements).unwrap_or_default();
                    let same = |name: &str| raw::member(&a, name) == raw::member(&b, name);
                    let head = same("tools") && same("system") && same("systemInstruction");
                    let items = if head {
                        items_a
                            .iter()
                            .zip(&items_b)
                            .take_while(|(x, y)| x == y)
                            .count()
                    } else {
                        0
                    };
                    (items as u64, items_a.len() as u64)
                })
                .collect()
        };
        let by_agent = kept(&sent.iter().collect::<Vec<_>>());
        let upstream_kept = kept(&forwarded);
        for (index, (agent_pair, upstream_pair)) in by_agent.iter().zip(&upstream_kept).enumerate()
        {
            assert!(
                upstream_pair.0 >= agent_pair.0,
                "{agent:?}: request {} repeats {} items of the one before upstream, {} as the agent sent it",
                index + 1,
                upstream_pair.0,
                agent_pair.0
            );
        }
        for (into, pairs) in [
            (&mut self.prefix_agent, by_agent),
            (&mut self.prefix_upstream, upstream_kept),
        ] {
            for (kept, total) in pairs {
                into.0 += kept;
                into.1 += total;
            }
        }
    }

    /// One line of BENCHMARKS.md's table, printed, and appended to the file
    /// `$CAIRN_AGENT_REPORT` names when it is set.
    fn write(&self, agent: Agent) {
        let ratio = |(kept, total): (u64, u64)| 100.0 * kept as f64 / total.max(1) as f64;
        let line = format!(
            "| {} | {} | {} | {:.0}% | {:.1}% | {:.1}% |",
            agent.name(),
            self.tokens_agent,
            self.tokens_upstream,
            100.0 * (1.0 - self.tokens_upstream as f64 / self.tokens_agent.max(1) as f64),
            ratio(self.prefix_agent),
            ratio(self.prefix_upstream),
        );
        eprintln!("{line}");
        if let Ok(path) = std::env::var("CAIRN_AGENT_REPORT") {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .expect("the report file opens");
            writeln!(file, "{line}").expect("the report is written");
        }
    }
}

/// Each tool call and each result once; each prompt and answer once.
fn assert_one_copy(agent: Agent, detail: &Value) {
    let messages = detail["messages"].as_array().expect("messages");
    let mut seen = std::collections::HashSet::new();
    for message in messages {
        let role = message["role"].as_str().unwrap_or("");
        let key = match (role, message["call_id"].as_str()) {
            ("assistant" | "tool", Some(call)) => {
                format!("{role}:{}", call.rsplit("__").next().unwrap_or(call))
            }
            // Prompts and the model's answers: each scripted one is unique.
            ("user" | "assistant", None) if message["injected"] == false => {
                format!("{role}:{}", message["content"].as_str().unwrap_or(""))
            }
            _ => continue,
        };
        assert!(
            seen.insert(key.clone()),
            "{agent:?}: {key} twice in {detail:#}"
        );
    }
    assert!(
        seen.iter().any(|key| key.starts_with("user:RUN")),
        "{agent:?}: the prompts: {seen:?}"
    );
}

/// Each agent launched by `cairn wrap`, which points it at Cairn's proxy,
/// for two turns: the tool outputs reach the model compressed, and the
/// second turn carries the first.
#[tokio::test]
async fn each_agent_through_cairn_wrap() {
    let (mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    for agent in Agent::ALL {
        mock.clear();
        let sandbox = Sandbox::new(agent);
        let said = sandbox
            .wrap(&server.url(), "RUN seq 1 4000", Resume::No)
            .await;
        assert!(said.contains("DONE"), "{agent:?} said: {said}");
        let resume = resume_of(agent, &mock.main_requests()[0]);
        let said = sandbox.wrap(&server.url(), "RUN seq 1 3500", resume).await;
        assert!(said.contains("DONE"), "{agent:?} said: {said}");
        let last = mock.main_requests().pop().expect("requests").text();
        assert!(
            last.contains("RUN seq 1 4000") && last.contains("RUN seq 1 3500"),
            "{agent:?}: the second turn carries the first"
        );
        let compressed: std::collections::HashSet<String> = mock
            .main_requests()
            .iter()
            .flat_map(tool_results)
            .filter(|result| result.contains("[cairn:"))
            .filter_map(|result| first_ref(&result))
            .collect();
        assert_eq!(
            compressed.len(),
            2,
            "{agent:?}: both outputs went upstream compressed"
        );
        let path = mock.main_requests()[0].path.clone();
        let expected = match agent {
            Agent::Claude => "/v1/messages",
            Agent::Codex => "/v1/responses",
            Agent::Gemini => ":streamGenerateContent",
        };
        assert!(path.contains(expected), "{agent:?} called {path}");
    }
    server.stop().await.expect("cairn stops");
}

/// `cairn mcp install <agent>` (HTTP, the default, and `--stdio`), then a
/// real session of that agent lists Cairn's tools and calls one.
#[tokio::test]
async fn each_agent_calls_cairn_over_mcp_after_cairn_mcp_install() {
    let (mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let url = server.url();
    reqwest::Client::new()
        .put(format!("{url}/v1/contexts/notes/mcp"))
        .body("a note for the agents")
        .send()
        .await
        .expect("a put");
    for agent in Agent::ALL {
        for stdio in [false, true] {
            mock.clear();
            let sandbox = Sandbox::new(agent);
            sandbox.install_mcp(&url, stdio).await;
            // Gemini CLI's --debug shows what its MCP client did.
            let more: &[&str] = if agent == Agent::Gemini {
                &["--debug"]
            } else {
                &[]
            };
            let (said, stderr) = sandbox
                .run_with(&upstream, "MCP cairn_stats", Resume::No, more)
                .await;
            let transport = if stdio { "stdio" } else { "http" };
            assert!(
                said.contains("DONE") && !said.contains("no MCP tool"),
                "{agent:?} over {transport} said: {said}\n{stderr}"
            );
            let listed: String = mock.main_requests().iter().map(Received::text).collect();
            for tool in [
                "cairn_put",
                "cairn_get",
                "cairn_retrieve",
                "cairn_search",
                "cairn_stats",
            ] {
                assert!(
                    listed.contains(tool),
                    "{agent:?} over {transport}: {tool} is offered"
                );
            }
            let result = mock
                .main_requests()
                .iter()
                .flat_map(tool_results)
                .find(|result| result.contains("contexts"))
                .unwrap_or_default();
            assert!(
                result.contains("\"contexts\""),
                "{agent:?} over {transport}: cairn_stats answered: {said}"
            );
            if agent == Agent::Gemini {
                assert!(
                    !stderr.contains("MCP ERROR") && !said.contains("MCP ERROR"),
                    "Gemini CLI over {transport}: {stderr}"
                );
            }
        }
    }
    server.stop().await.expect("cairn stops");
}

/// Gemini CLI sends no session id: conversations in one folder (the same
/// preamble, even the same prompt) stay separate sessions, each whole.
#[tokio::test]
async fn gemini_conversations_in_one_folder_stay_separate_sessions() {
    let (_mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let url = server.url();
    let sandbox = Sandbox::new(Agent::Gemini);
    for prompt in ["RUN seq 1 3000", "RUN seq 1 3500", "RUN seq 1 3000"] {
        let said = sandbox.run(&url, prompt, Resume::No).await;
        assert!(said.contains("DONE"), "{said}");
    }
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = get(&format!("{url}/v1/sessions?agent=gemini")).await;
        let complete = listed["sessions"].as_array().is_some_and(|sessions| {
            sessions.len() == 3
                && sessions
                    .iter()
                    .all(|session| session["messages"].as_u64() == Some(5))
        });
        if complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sessions = listed["sessions"].as_array().expect("sessions");
    assert_eq!(
        sessions.len(),
        3,
        "three conversations, three sessions: {listed}"
    );
    for session in sessions {
        // preamble, prompt, call, result, answer
        assert_eq!(session["messages"], 5, "each whole: {listed}");
        assert!(
            session["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("RUN seq"),
            "{listed}"
        );
        let detail = get(&format!(
            "{url}/v1/sessions/{}",
            session["id"].as_str().unwrap_or("")
        ))
        .await;
        assert_one_copy(Agent::Gemini, &detail);
    }
    // Imported from their files, they stay three, one copy each.
    for file in sandbox.session_files() {
        import(&server, Agent::Gemini, &file).await;
    }
    let listed = get(&format!("{url}/v1/sessions?agent=gemini")).await;
    let sessions = listed["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3, "{listed}");
    // Each holds its own conversation whole, and nothing of another's.
    let mut calls_seen = std::collections::HashSet::new();
    for session in sessions {
        assert!(
            !session["id"].as_str().unwrap_or("").starts_with("proxy-"),
            "the file's ids: {listed}"
        );
        assert_eq!(session["messages"], 5, "each whole: {listed}");
        let detail = get(&format!(
            "{url}/v1/sessions/{}",
            session["id"].as_str().unwrap_or("")
        ))
        .await;
        assert_one_copy(Agent::Gemini, &detail);
        let calls: std::collections::HashSet<String> = detail["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|message| message["call_id"].as_str())
            .map(|call| call.rsplit("__").next().unwrap_or(call).to_owned())
            .collect();
        assert_eq!(calls.len(), 1, "one call, its call and result: {detail}");
        assert!(
            calls.iter().all(|call| calls_seen.insert(call.clone())),
            "a call in two sessions"
        );
    }
    server.stop().await.expect("cairn stops");
}

/// The other order: a session the agent had with the model directly,
/// imported from its file, then continued through the proxy, then imported
/// again: one session, no message twice.
#[tokio::test]
async fn a_session_imported_first_then_continued_through_the_proxy_is_one_session() {
    let (mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let url = server.url();
    for agent in Agent::ALL {
        let sandbox = Sandbox::new(agent);
        mock.clear();
        let said = sandbox.run(&upstream, "RUN seq 1 3000", Resume::No).await;
        assert!(said.contains("DONE"), "{agent:?}: {said}");
        let session = resume_of(agent, &mock.main_requests()[0]);
        let files = sandbox.session_files();
        import(&server, agent, files.last().expect("a session file")).await;
        let said = sandbox.run(&url, "RUN seq 1 2500", session).await;
        assert!(said.contains("DONE"), "{agent:?}: {said}");
        let mut detail = Value::Null;
        for _ in 0..100 {
            let listed = get(&format!("{url}/v1/sessions?agent={}", agent.name())).await;
            assert_eq!(
                listed["sessions"].as_array().map(Vec::len),
                Some(1),
                "{agent:?}: {listed}"
            );
            detail = get(&format!(
                "{url}/v1/sessions/{}?limit=2000",
                listed["sessions"][0]["id"].as_str().unwrap_or("")
            ))
            .await;
            if detail.to_string().contains("RUN seq 1 2500") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            detail.to_string().contains("RUN seq 1 2500"),
            "{agent:?}: the new turn is in: {detail}"
        );
        assert_one_copy(agent, &detail);
        let files = sandbox.session_files();
        import(&server, agent, files.last().expect("a session file")).await;
        let listed = get(&format!("{url}/v1/sessions?agent={}", agent.name())).await;
        assert_eq!(
            listed["sessions"].as_array().map(Vec::len),
            Some(1),
            "{agent:?}: {listed}"
        );
        let detail = get(&format!(
            "{url}/v1/sessions/{}?limit=2000",
            listed["sessions"][0]["id"].as_str().unwrap_or("")
        ))
        .await;
        assert_one_copy(agent, &detail);
    }
    server.stop().await.expect("cairn stops");
}
