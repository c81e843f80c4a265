//! `cairn wrap`: the binary as a user runs it, launching a stand-in agent (a
//! script that prints what it was given and calls the server) instead of the
//! real agents, which are not installed here.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

/// A stand-in agent: prints its environment and arguments, and whether the
/// Cairn server answers at its base URL; exits with $AGENT_EXIT.
const AGENT: &str = r#"#!/usr/bin/env python3
import os, sys, urllib.request
base = os.environ.get("ANTHROPIC_BASE_URL") or os.environ.get("GOOGLE_GEMINI_BASE_URL") or os.environ.get("PROBE_URL")
for name in ["ANTHROPIC_BASE_URL", "ANTHROPIC_CUSTOM_HEADERS", "GOOGLE_GEMINI_BASE_URL", "GEMINI_CLI_CUSTOM_HEADERS", "CAIRN_TOKEN"]:
    print(f"{name}={os.environ.get(name, '')}")
print("ARGS=" + " ".join(sys.argv[1:]))
try:
    print("HEALTH=" + str(urllib.request.urlopen(base + "/healthz", timeout=5).status))
except Exception as error:
    print("HEALTH=down " + str(error))
sys.exit(int(os.environ.get("AGENT_EXIT", "0")))
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn agent_script(dir: &Path) -> String {
    let path = dir.join("agent.py");
    std::fs::write(&path, AGENT).expect("script written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("script executable");
    }
    path.display().to_string()
}

fn wrap(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(CAIRN)
        .current_dir(cwd)
        .arg("wrap")
        .args(args)
        .env("CAIRN_LOG", "warn")
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_TOKEN")
        .env_remove("ANTHROPIC_CUSTOM_HEADERS")
        .env_remove("GEMINI_CLI_CUSTOM_HEADERS")
        .envs(env.iter().copied())
        .output()
        .expect("cairn wrap runs")
}

fn up(url: &str) -> bool {
    let Some(address) = url.strip_prefix("http://") else {
        return false;
    };
    std::net::TcpStream::connect_timeout(
        &address.parse().expect("an address"),
        Duration::from_millis(200),
    )
    .is_ok()
}

#[test]
fn wrap_starts_a_server_for_the_agent_points_it_there_and_passes_its_exit_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = agent_script(dir.path());
    let url = format!("http://127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let output = wrap(
        dir.path(),
        &[
            "claude",
            "--url",
            &url,
            "--token",
            "tok-123",
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--program",
            &script,
            "--",
            "--model",
            "opus",
        ],
        &[("AGENT_EXIT", "3")],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains(&format!("ANTHROPIC_BASE_URL={url}\n")),
        "{text}"
    );
    assert!(
        text.contains("ANTHROPIC_CUSTOM_HEADERS=x-cairn-token: tok-123\n"),
        "{text}"
    );
    assert!(text.contains("ARGS=--model opus\n"), "{text}");
    assert!(
        text.contains("HEALTH=200"),
        "the server answered while the agent ran: {text}"
    );
    assert!(data.join("cairn.db").exists(), "the server used --data-dir");
    let deadline = Instant::now() + Duration::from_secs(5);
    while up(&url) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!up(&url), "the server wrap started stops with the agent");
}

#[test]
fn wrap_reuses_a_running_server_and_gives_codex_a_provider_of_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = agent_script(dir.path());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(CAIRN)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("server"))
        .env("CAIRN_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("cairn serve starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !up(&url) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = wrap(
        dir.path(),
        &[
            "codex",
            "--url",
            &url,
            "--token",
            "tok-9",
            "--program",
            &script,
            "--",
            "exec",
            "hi",
        ],
        &[("PROBE_URL", &url)],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "-c model_provider=\"cairn\"".to_owned(),
        format!("-c model_providers.cairn.base_url=\"{url}/v1\""),
        "-c model_providers.cairn.wire_api=\"responses\"".to_owned(),
        "-c model_providers.cairn.supports_websockets=false".to_owned(),
        "-c model_providers.cairn.env_http_headers={\"x-cairn-token\"=\"CAIRN_TOKEN\"}".to_owned(),
        "exec hi\n".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected} in {text}");
    }
    assert!(text.contains("CAIRN_TOKEN=tok-9\n"), "{text}");
    assert!(
        !text.contains("tok-9 "),
        "the token is not an argument: {text}"
    );
    assert!(text.contains("HEALTH=200"), "{text}");
    assert!(
        !dir.path().join("cairn-data").exists(),
        "no second server was started"
    );
    assert!(up(&url), "a server wrap did not start keeps running");
    server.kill().expect("server stopped");
    let _ = server.wait();

    let output = wrap(
        dir.path(),
        &[
            "gemini",
            "--url",
            &url,
            "--token",
            "tok-g",
            "--program",
            &script,
        ],
        &[("GEMINI_CLI_CUSTOM_HEADERS", "x-team: blue")],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("GOOGLE_GEMINI_BASE_URL={url}\n")),
        "{text}"
    );
    assert!(
        text.contains("GEMINI_CLI_CUSTOM_HEADERS=x-team: blue, x-cairn-token: tok-g\n"),
        "the token joins the user's own headers: {text}"
    );
    assert!(text.contains("HEALTH=200"), "{text}");
    assert!(
        dir.path().join("cairn-data").exists(),
        "started in the default data directory"
    );
}

#[test]
fn help_names_wrap_and_the_proxy_flags() {
    let help = |args: &[&str]| {
        let output = Command::new(CAIRN).args(args).output().expect("cairn runs");
        assert!(output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(help(&["--help"]).contains("wrap"));
    let wrap = help(&["wrap", "--help"]);
    for word in [
        "claude",
        "codex",
        "gemini",
        "--url",
        "--token",
        "--program",
        "--data-dir",
        "ARGS",
    ] {
        assert!(wrap.contains(word), "wrap --help mentions {word}: {wrap}");
    }
    let serve = help(&["serve", "--help"]);
    for flag in [
        "--anthropic-upstream",
        "--openai-upstream",
        "--gemini-upstream",
        "--proxy-upstream-timeout-seconds",
        "CAIRN_ANTHROPIC_UPSTREAM",
    ] {
        assert!(serve.contains(flag), "serve --help mentions {flag}");
    }
}
