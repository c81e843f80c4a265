//! Memory that arrives by itself: the real CLIs with Cairn's hooks
//! (`cairn hooks install`), talking to the mock directly (no proxy). Each
//! turn reaches Cairn through the hooks as it happens; each new session
//! starts with a briefing on what the other agents did in the project.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::{Agent, CAIRN, Mock, Resume, Sandbox, cairn, get};

impl Sandbox {
    /// `cairn hooks install` for this agent, into this home, sending to `url`.
    async fn install_hooks(&self, url: &str) {
        let mut command = tokio::process::Command::new(CAIRN);
        command
            .args(["hooks", "install", self.agent.name(), "--url", url])
            .env("HOME", self.home())
            .env("CODEX_HOME", self.home().join(".codex"))
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("GEMINI_CLI_HOME")
            .current_dir(self.project());
        self.finish(command).await;
    }

    /// Runs the agent in `dir` (instead of its own project folder).
    async fn run_in(&self, base: &str, dir: &Path, prompt: &str) -> String {
        let mut command = tokio::process::Command::new(self.agent.program());
        command
            .args(self.args(base, prompt, Resume::No))
            .envs(self.env(base))
            .current_dir(dir);
        self.finish(command).await
    }

    /// Where this agent's hooks spool transcripts while Cairn is down.
    fn spool(&self) -> PathBuf {
        self.home().join(".local/state/cairn/spool")
    }
}

/// A repository (a folder with `.git`) under `parent`.
fn repository(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join(".git")).expect("a repository");
    dir
}

/// The briefing the server gives `agent` for `project`.
async fn briefing(url: &str, project: &Path, agent: Agent) -> Value {
    get(&format!(
        "{url}/v1/briefing?project={}&agent={}",
        project.display(),
        agent.name()
    ))
    .await
}

/// An MCP client of the server's `/mcp`, as another agent uses it: one
/// session, tool calls in it.
struct McpClient {
    http: reqwest::Client,
    url: String,
    session: String,
}

impl McpClient {
    async fn post(
        http: &reqwest::Client,
        url: &str,
        session: Option<&str>,
        body: Value,
    ) -> (String, Option<String>) {
        let mut request = http
            .post(format!("{url}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.expect("cairn answers");
        let id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        (response.text().await.expect("a body"), id)
    }

    async fn open(url: &str) -> McpClient {
        let http = reqwest::Client::new();
        let (_, session) = McpClient::post(
            &http,
            url,
            None,
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "codex-beside", "version": "1"}}}),
        )
        .await;
        let session = session.expect("an MCP session");
        McpClient::post(
            &http,
            url,
            Some(&session),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        McpClient {
            http,
            url: url.to_owned(),
            session,
        }
    }

    /// `cairn_briefing`'s text for `project`, as `agent` asks for it.
    async fn briefing(&self, project: &Path, agent: Agent) -> String {
        let (answer, _) = McpClient::post(
            &self.http,
            &self.url,
            Some(&self.session),
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "cairn_briefing",
                           "arguments": {"project": project, "agent": agent.name()}}}),
        )
        .await;
        // A JSON answer, or one server-sent event holding it.
        let json = answer
            .lines()
            .find_map(|line| line.strip_prefix("data:"))
            .unwrap_or(&answer);
        let value: Value = serde_json::from_str(json.trim()).unwrap_or_default();
        value["result"]["structuredContent"]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("cairn_briefing answered {answer}"))
            .to_owned()
    }
}

/// Whether any string in `value` contains `text`.
fn holds(value: &Value, text: &str) -> bool {
    match value {
        Value::String(string) => string.contains(text),
        Value::Array(items) => items.iter().any(|item| holds(item, text)),
        Value::Object(fields) => fields.values().any(|item| holds(item, text)),
        _ => false,
    }
}

#[tokio::test]
async fn each_new_session_starts_with_a_briefing_on_the_other_agents_work() {
    let (mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let url = server.url();
    let work = tempfile::tempdir().expect("a temp dir");
    let shop = repository(work.path(), "shop");
    let elsewhere = repository(work.path(), "elsewhere");
    let remote = "[remote \"origin\"]\n\turl = git@github.com:acme/shop.git\n";
    std::fs::write(shop.join(".git/config"), remote).expect("a git config");
    std::fs::write(
        shop.join("test_calc.py"),
        "from calc import add\nassert add(2, 3) == 5\nprint('test_calc passed')\n",
    )
    .expect("a test");
    std::fs::write(
        shop.join("test_more.py"),
        "from more import mul\nassert mul(2, 3) == 6\nprint('test_more passed')\n",
    )
    .expect("a test");

    // Claude Code runs a failing test, writes the missing module, and the
    // test passes; then works in another project.
    let claude = Sandbox::new(Agent::Claude);
    claude.install_hooks(&url).await;
    claude
        .run_in(
            &upstream,
            &shop,
            &format!(
                "STEPS RUN python3 test_calc.py ;; WRITE {}/calc.py :: def add(a, b): return a + b \
                 ;; RUN python3 test_calc.py\nSAY calc.add is written and test_calc.py passes",
                shop.display()
            ),
        )
        .await;
    claude
        .run_in(&upstream, &elsewhere, "SAY the zanzibar report is done")
        .await;

    // Codex starts in the project: its first request carries the briefing.
    mock.clear();
    let codex = Sandbox::new(Agent::Codex);
    codex.install_hooks(&url).await;
    codex
        .run_in(
            &upstream,
            &shop,
            "STEPS RUN python3 test_more.py; echo \"exit code $?\" ;; WRITE more.py :: def mul(a, b): return a * b \
             ;; RUN python3 test_more.py; echo \"exit code $?\"\nSAY more.mul is written and test_more.py passes",
        )
        .await;
    let expected = briefing(&url, &shop, Agent::Codex).await;
    let text = expected["text"].as_str().expect("a briefing");
    assert!(
        expected["tokens"].as_u64().expect("tokens") <= 1500,
        "{text}"
    );
    for needle in [
        "## claude",
        "Task: STEPS RUN python3 test_calc.py",
        "Wrote: calc.py [ccr:",
        "Failed: `python3 test_calc.py` (exit 1) [ccr:",
        ", passed later [ccr:",
        "Last state: DONE: calc.add is written and test_calc.py passes",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
    }
    assert!(!text.contains("zanzibar"), "another project's work: {text}");
    let first = mock
        .main_requests()
        .into_iter()
        .next()
        .expect("Codex asked the model");
    assert!(
        holds(&first.json(), text),
        "Codex's first request does not carry the briefing:\n{text}\n{}",
        first.text()
    );

    // Gemini CLI starts after Codex: its first request names Codex's work
    // (and Claude's), not the other project's.
    mock.clear();
    let gemini = Sandbox::new(Agent::Gemini);
    gemini.install_hooks(&url).await;
    gemini
        .run_in(&upstream, &shop, "SAY hello from gemini")
        .await;
    let expected = briefing(&url, &shop, Agent::Gemini).await;
    let text = expected["text"].as_str().expect("a briefing");
    for needle in [
        "## codex",
        "Failed: `python3 test_more.py; echo \"exit code $?\"` (exit 1)",
        "## claude",
        "Wrote: calc.py",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
    }
    let first = mock
        .main_requests()
        .into_iter()
        .next()
        .expect("Gemini asked the model");
    let sent = first.json();
    // Gemini CLI escapes angle brackets in hook context; the lines arrive.
    for line in text
        .lines()
        .filter(|line| line.starts_with("Failed:") || line.starts_with("## "))
    {
        assert!(
            holds(&sent, line),
            "{line:?} is not in Gemini's first request:\n{}",
            first.text()
        );
    }
    assert!(!first.text().contains("zanzibar"));

    // Claude Code, back in the project in a new session, hears of both.
    mock.clear();
    claude.run_in(&upstream, &shop, "SAY hello again").await;
    let expected = briefing(&url, &shop, Agent::Claude).await;
    let text = expected["text"].as_str().expect("a briefing");
    assert!(
        text.contains("## gemini") && text.contains("## codex"),
        "{text}"
    );
    let first = mock
        .main_requests()
        .into_iter()
        .next()
        .expect("Claude Code asked the model");
    assert!(
        holds(&first.json(), text),
        "Claude Code's first request does not carry the briefing:\n{text}\n{}",
        first.text()
    );

    // Codex in another clone of the repository, in another folder: the
    // same project, known by its remote.
    let clone = repository(work.path(), "shop-clone");
    std::fs::write(
        clone.join(".git/config"),
        "[remote \"origin\"]\n\turl = https://github.com/acme/shop\n",
    )
    .expect("a git config");
    mock.clear();
    codex
        .run_in(&upstream, &clone, "SAY hello from the clone")
        .await;
    let first = mock
        .main_requests()
        .into_iter()
        .next()
        .expect("Codex asked the model");
    for needle in ["Wrote: calc.py", "`python3 test_calc.py`", "## gemini"] {
        assert!(
            first.text().contains(needle),
            "{needle:?} is not in:\n{}",
            first.text()
        );
    }
}

#[tokio::test]
async fn a_turn_one_agent_takes_reaches_the_other_agents_briefing_within_a_second() {
    let (_mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let url = server.url();
    let work = tempfile::tempdir().expect("a temp dir");
    let shop = repository(work.path(), "shop");
    std::fs::write(
        shop.join("stamp_and_fail.py"),
        "import time\nopen('stamp', 'w').write(repr(time.time()))\nprint('kumquat broke')\nraise SystemExit(4)\n",
    )
    .expect("a script");
    let claude = Sandbox::new(Agent::Claude);
    claude.install_hooks(&url).await;
    let running = {
        let (upstream, shop) = (upstream.clone(), shop.clone());
        tokio::spawn(async move {
            claude
                .run_in(
                    &upstream,
                    &shop,
                    "STEPS RUN python3 stamp_and_fail.py ;; RUN sleep 6\nSAY done",
                )
                .await
        })
    };
    // Codex, working beside it, calls `cairn_briefing` over and over.
    let mcp = McpClient::open(&url).await;
    let started = Instant::now();
    let seen = loop {
        let now = mcp.briefing(&shop, Agent::Codex).await;
        if now.contains("Failed: `python3 stamp_and_fail.py` (exit 4)") {
            break SystemTime::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the failed command never reached the briefing: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!running.is_finished(), "Claude Code was still at work");
    let ran: f64 = std::fs::read_to_string(shop.join("stamp"))
        .expect("the command ran")
        .trim()
        .parse()
        .expect("a time");
    let seen = seen
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let latency = seen - ran;
    eprintln!(
        "the command ran; {:.0} ms later it was in another agent's briefing",
        latency * 1000.0
    );
    assert!(
        latency < 1.0,
        "{latency:.3} s from the command to the briefing"
    );
    running.await.expect("Claude Code finished");
}

#[tokio::test]
async fn with_cairn_down_hooks_cost_little_spool_and_deliver_when_it_is_back() {
    let (_mock, upstream) = Mock::start().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("an address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let claude = Sandbox::new(Agent::Claude);
    claude.install_hooks(&url).await;
    claude
        .run(
            &upstream,
            "STEPS RUN echo turn-while-down ;; RUN echo second-turn\nSAY done while Cairn was down",
            Resume::No,
        )
        .await;
    let spooled: Vec<PathBuf> = std::fs::read_dir(claude.spool())
        .expect("a spool")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(
        spooled.len(),
        1,
        "one transcript waits, however many turns: {spooled:?}"
    );

    // What a hook costs a turn while Cairn is down: the whole process.
    let transcript = claude.session_files().pop().expect("a transcript");
    let event = serde_json::json!({
        "hook_event_name": "PostToolUse", "session_id": "s", "cwd": claude.project(),
        "transcript_path": transcript,
    })
    .to_string();
    let mut costs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut child = std::process::Command::new(CAIRN)
            .args(["hook", "claude", "--url", &url])
            .env("HOME", claude.home())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cairn hook starts");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), event.as_bytes())
            .expect("the event");
        assert!(child.wait().expect("cairn hook ends").success());
        costs.push(started.elapsed());
    }
    costs.sort();
    eprintln!("a hook with Cairn down: {costs:?}");
    assert!(
        costs[2] < Duration::from_millis(200),
        "median {:?}",
        costs[2]
    );

    // Cairn comes back on the same port; the spool is sent.
    let data = tempfile::tempdir().expect("a temp dir");
    let mut config = cairn_server::Config::default();
    config.server.bind = format!("127.0.0.1:{port}").parse().expect("an address");
    config.storage.data_dir = data.path().to_owned();
    let server = cairn_server::RunningServer::start(config)
        .await
        .expect("cairn starts");
    let mut flush = tokio::process::Command::new(CAIRN);
    flush
        .args(["hooks", "flush", "--url", &url])
        .env("HOME", claude.home());
    claude.finish(flush).await;
    assert!(
        std::fs::read_dir(claude.spool())
            .expect("a spool")
            .next()
            .is_none()
    );
    let sessions = get(&format!("{}/v1/sessions", server.url())).await;
    let id = sessions["sessions"][0]["id"].as_str().expect("a session");
    let detail = get(&format!("{}/v1/sessions/{id}", server.url())).await;
    assert!(
        holds(&detail, "turn-while-down") && holds(&detail, "second-turn"),
        "{detail}"
    );
}

/// Without hooks, through the proxy with `proxy.briefing = "first-turn"`:
/// each agent's first request reaches the model with the briefing for the
/// folder it works in (found in the request itself), and its next request
/// in the conversation carries the same bytes.
#[tokio::test]
async fn through_the_proxy_a_new_conversation_starts_with_the_briefing() {
    let (mock, upstream) = Mock::start().await;
    let data = tempfile::tempdir().expect("a temp dir");
    let mut config = cairn_server::Config::default();
    config.server.bind = "127.0.0.1:0".parse().expect("an address");
    config.storage.data_dir = data.path().to_owned();
    config.proxy.anthropic_upstream = upstream.clone();
    config.proxy.openai_upstream = upstream.clone();
    config.proxy.gemini_upstream = upstream.clone();
    config.proxy.briefing = cairn_server::config::ProxyBriefing::FirstTurn;
    let server = cairn_server::RunningServer::start(config)
        .await
        .expect("cairn starts");
    let url = server.url();
    for agent in Agent::ALL {
        let sandbox = Sandbox::new(agent);
        // Another agent's earlier work in this agent's project folder: a
        // client of the proxy that names its project.
        let project = sandbox.project().display().to_string();
        let earlier = reqwest::Client::new()
            .post(format!("{url}/v1/messages"))
            .header("x-api-key", "sk-ant-dummy")
            .header("anthropic-version", "2023-06-01")
            .header("x-cairn-project", &project)
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"model": "m", "max_tokens": 64, "messages": [
                    {"role": "user", "content": format!("make the quokka invoice total right ({})", agent.name())}]})
                .to_string(),
            )
            .send()
            .await
            .expect("cairn answers");
        assert!(earlier.status().is_success(), "{}", earlier.status());
        let started = Instant::now();
        while get(&format!("{url}/v1/sessions?project={project}")).await["sessions"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the earlier work was not recorded: {}",
                get(&format!("{url}/v1/sessions")).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        mock.clear();
        sandbox
            .run(
                &url,
                "STEPS RUN echo one ;; RUN echo two\nSAY done",
                Resume::No,
            )
            .await;
        let main = mock.main_requests();
        assert!(main.len() >= 2, "{agent:?}: {} main requests", main.len());
        let first = main[0].text();
        assert!(
            first.contains("quokka invoice total") && first.contains("cairn-briefing"),
            "{agent:?}: the first request carries no briefing:\n{first}"
        );
        // The later requests repeat the first turn as the first sent it.
        let briefed = main[0].json().to_string().split("quokka").count();
        for later in &main[1..] {
            assert_eq!(
                later.json().to_string().split("quokka").count(),
                briefed,
                "{agent:?}: a later request lost or doubled the briefing"
            );
        }
    }
}

/// An agent with Cairn's hooks working through Cairn's proxy: the hooks'
/// captures and the proxy's recording of the conversation are one session,
/// each message once, and `cairn import` of the file afterwards adds no
/// second copy.
#[tokio::test]
async fn hook_captured_and_proxied_records_of_one_conversation_are_one_session() {
    let (_mock, upstream) = Mock::start().await;
    let (server, _data) = cairn(&upstream).await;
    let url = server.url();
    for agent in Agent::ALL {
        let sandbox = Sandbox::new(agent);
        sandbox.install_hooks(&url).await;
        let said = sandbox
            .run(&url, "RUN seq 1 40\nSAY counted to forty", Resume::No)
            .await;
        assert!(said.contains("DONE"), "{agent:?}: {said}");
        // The background captures finish within moments of the turn.
        let mut detail = Value::Null;
        for _ in 0..100 {
            let listed = get(&format!("{url}/v1/sessions?agent={}", agent.name())).await;
            let sessions = listed["sessions"].as_array().cloned().unwrap_or_default();
            assert!(sessions.len() <= 1, "{agent:?}: {listed}");
            if let Some(session) = sessions.first() {
                detail = get(&format!(
                    "{url}/v1/sessions/{}?limit=2000",
                    session["id"].as_str().unwrap_or("")
                ))
                .await;
                if detail.to_string().contains("counted to forty") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        crate::assert_one_copy(agent, &detail);
        let files = sandbox.session_files();
        crate::import(&server, agent, files.last().expect("a session file")).await;
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
        crate::assert_one_copy(agent, &detail);
    }
}
