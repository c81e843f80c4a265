//! Briefings over HTTP: what another agent did in a project (task, files,
//! a failing command and its later pass, last state, what is open), every
//! item with a `ccr:` ref that resolves, the same bytes on every call,
//! within the budget, masked, and never another project's or tenant's work.

use cairn_client::{BriefingOptions, ClientError, ImportOptions, SharedContext};
use cairn_tests::TestServer;
use cairn_types::ErrorCode;
use serde_json::{Value, json};

/// A Claude Code transcript: `steps` in order, each a user prompt, a tool
/// call with its result, or an answer.
enum Step<'a> {
    Prompt(&'a str),
    /// Tool name, input, result text.
    Tool(&'a str, Value, &'a str),
    Answer(&'a str),
}

fn claude_transcript(session: &str, cwd: &str, minute: u32, steps: &[Step<'_>]) -> Vec<u8> {
    let mut lines = Vec::new();
    let mut parent: Option<String> = None;
    let mut second = 0;
    let mut record = |kind: &str, message: Value, lines: &mut Vec<String>| {
        second += 1;
        let uuid = format!("{session}-{second}");
        let line = json!({
            "type": kind, "uuid": uuid, "parentUuid": parent, "sessionId": session,
            "cwd": cwd, "version": "2.1.332", "isSidechain": false, "userType": "external",
            "timestamp": format!("2026-12-04T10:{minute:02}:{second:02}.000Z"),
            "message": message,
        });
        parent = Some(uuid);
        lines.push(line.to_string());
    };
    for (index, step) in steps.iter().enumerate() {
        match step {
            Step::Prompt(text) => {
                record("user", json!({"role": "user", "content": text}), &mut lines)
            }
            Step::Tool(name, input, result) => {
                let id = format!("toolu_{session}_{index}");
                record(
                    "assistant",
                    json!({"role": "assistant", "id": format!("msg_{index}"), "content": [
                        {"type": "tool_use", "id": id, "name": name, "input": input}]}),
                    &mut lines,
                );
                record(
                    "user",
                    json!({"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": id, "content": result}]}),
                    &mut lines,
                );
            }
            Step::Answer(text) => record(
                "assistant",
                json!({"role": "assistant", "id": format!("msg_{index}"),
                       "content": [{"type": "text", "text": text}]}),
                &mut lines,
            ),
        }
    }
    (lines.join("\n") + "\n").into_bytes()
}

/// Claude fixing a failing test in /work/shop.
fn the_fix(session: &str, cwd: &str, minute: u32) -> Vec<u8> {
    claude_transcript(
        session,
        cwd,
        minute,
        &[
            Step::Prompt("Make test_cart.py pass; the total is off by the discount"),
            Step::Tool(
                "Bash",
                json!({"command": "python3 -m pytest test_cart.py"}),
                "Exit code 1\nFAILED test_cart.py::test_total - assert 90 == 81",
            ),
            Step::Tool(
                "Read",
                json!({"file_path": format!("{cwd}/cart.py")}),
                "def total(items): ...",
            ),
            Step::Tool(
                "Edit",
                json!({"file_path": format!("{cwd}/cart.py"), "old_string": "- d", "new_string": "* (1 - d)"}),
                "The file cart.py has been updated.",
            ),
            Step::Tool(
                "Bash",
                json!({"command": "python3 -m pytest test_cart.py"}),
                "1 passed in 0.01s",
            ),
            Step::Tool(
                "Bash",
                json!({"command": "ruff check ."}),
                "Exit code 1\ncart.py:3:1: E501 line too long",
            ),
            Step::Answer(
                "The discount is now a rate; test_cart.py passes. ruff still flags a long line in cart.py.",
            ),
        ],
    )
}

fn options(project: &str, agent: Option<&str>) -> BriefingOptions {
    BriefingOptions {
        project: project.to_owned(),
        agent: agent.map(str::to_owned),
        max_tokens: None,
        session: None,
        repository: None,
    }
}

async fn resolves(client: &SharedContext, reference: &str) -> bool {
    client.retrieve(reference).await.is_ok()
}

#[tokio::test]
async fn a_briefing_tells_another_agent_what_was_done_failed_and_left_open() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    client
        .import_session(the_fix("s-fix", "/work/shop/api", 10), Some("claude"))
        .await?;
    // Another project (a sibling whose name starts the same) and Codex's
    // own earlier session stay out.
    client
        .import_session(
            claude_transcript(
                "s-other",
                "/work/shopping",
                20,
                &[
                    Step::Prompt("Rename the ZEBRA module"),
                    Step::Answer("Renamed."),
                ],
            ),
            Some("claude"),
        )
        .await?;
    let briefing = client
        .briefing(&options("/work/shop", Some("codex")))
        .await?;
    let text = &briefing.text;
    assert!(
        text.starts_with("<cairn-briefing project=\"/work/shop\" for=\"codex\">"),
        "{text}"
    );
    assert!(text.contains("Task: Make test_cart.py pass"), "{text}");
    assert!(text.contains("Wrote: cart.py [ccr:"), "{text}");
    assert!(text.contains("Read: cart.py [ccr:"), "{text}");
    assert!(
        text.contains("Failed: `python3 -m pytest test_cart.py` (exit 1) [ccr:")
            && text.contains(", passed later [ccr:"),
        "{text}"
    );
    assert!(
        text.contains("Failed: `ruff check .` (exit 1) [ccr:") && text.contains(", not fixed"),
        "{text}"
    );
    assert!(
        briefing.sessions[0]
            .open
            .iter()
            .any(|open| open.text == "`ruff check .` still fails (exit 1)"),
        "{:?}",
        briefing.sessions[0].open
    );
    assert!(
        text.contains("Last state: The discount is now a rate"),
        "{text}"
    );
    assert!(!text.contains("ZEBRA"), "another project's work: {text}");
    assert_eq!(briefing.sessions.len(), 1);
    assert!(
        briefing.tokens <= 1500 && briefing.tokens > 50,
        "{}",
        briefing.tokens
    );

    // Every item's reference expands to the message it names.
    let session = &briefing.sessions[0];
    let failure = &session.failures[0];
    let failed = client.retrieve(&failure.reference).await?;
    assert!(String::from_utf8_lossy(&failed).contains("assert 90 == 81"));
    let passed = failure.passed_later.as_deref().expect("passed later");
    assert!(String::from_utf8_lossy(&client.retrieve(passed).await?).contains("1 passed"));
    for item in session
        .task
        .iter()
        .chain(&session.files_written)
        .chain(&session.files_read)
        .chain(&session.last_state)
        .chain(&session.open)
    {
        assert!(resolves(&client, &item.reference).await, "{item:?}");
    }

    // The agent's own sessions are left out; the same call gives the same bytes.
    let for_claude = client
        .briefing(&options("/work/shop", Some("claude")))
        .await?;
    assert!(for_claude.sessions.is_empty(), "{}", for_claude.text);
    let again = client
        .briefing(&options("/work/shop/", Some("codex")))
        .await?;
    assert_eq!(again.text, briefing.text);
    Ok(())
}

#[tokio::test]
async fn a_briefing_keeps_to_its_budget_newest_first_and_masks_secrets() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    for index in 0..8u32 {
        let session = format!("s-{index}");
        let prompt = format!(
            "Step {index}: deploy with OPENAI key sk-proj-{}",
            "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7".repeat(2)
        );
        client
            .import_session(
                claude_transcript(
                    &session,
                    "/work/big",
                    index,
                    &[
                        Step::Prompt(&prompt),
                        Step::Answer(&format!("Deployed step {index}.")),
                    ],
                ),
                Some("claude"),
            )
            .await?;
    }
    let full = client
        .briefing(&options("/work/big", Some("gemini")))
        .await?;
    assert_eq!(full.sessions.len(), 8);
    assert_eq!(full.sessions[0].id, "s-7", "newest first");
    assert!(!full.text.contains("sk-proj-"), "{}", full.text);
    assert!(full.text.contains("[masked"), "{}", full.text);
    let small = client
        .briefing(&BriefingOptions {
            max_tokens: Some(200),
            ..options("/work/big", Some("gemini"))
        })
        .await?;
    assert!(
        small.tokens <= 200,
        "{} tokens: {}",
        small.tokens,
        small.text
    );
    assert!(small.omitted > 0 && (small.sessions.len() as u64) + small.omitted == 8);
    assert!(
        small.text.contains("older sessions not shown"),
        "{}",
        small.text
    );
    assert_eq!(
        cairn_core::tokens::count(&small.text) as u64,
        small.tokens,
        "tokens is the text's o200k count"
    );
    for budget in [0, 99, 32_001] {
        let error = client
            .briefing(&BriefingOptions {
                max_tokens: Some(budget),
                ..options("/work/big", None)
            })
            .await
            .expect_err("refused");
        assert!(
            matches!(
                &error,
                ClientError::Api {
                    code: ErrorCode::InvalidRequest,
                    ..
                }
            ),
            "{error}"
        );
    }
    let error = client
        .briefing(&options("  ", None))
        .await
        .expect_err("no project");
    assert!(error.to_string().contains("project is required"), "{error}");
    Ok(())
}

/// Another clone of the repository (another folder, another machine) is the
/// same project, once a hook has said which repository a folder holds.
#[tokio::test]
async fn another_clone_of_the_repository_is_the_same_project() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client();
    client
        .import_session_from(
            the_fix("s-clone", "/home/ana/shop/api", 5),
            &ImportOptions {
                agent: Some("claude".to_owned()),
                repository: Some("github.com/acme/shop".to_owned()),
                root: Some("/home/ana/shop".to_owned()),
                ..ImportOptions::default()
            },
        )
        .await?;
    let with = |repository: Option<&str>| BriefingOptions {
        repository: repository.map(str::to_owned),
        ..options("/srv/ci/shop", Some("codex"))
    };
    let same = client.briefing(&with(Some("github.com/acme/shop"))).await?;
    assert_eq!(same.sessions.len(), 1, "{}", same.text);
    assert!(same.text.contains("Wrote: cart.py"), "{}", same.text);
    for other in [None, Some("github.com/acme/other")] {
        let briefing = client.briefing(&with(other)).await?;
        assert!(briefing.sessions.is_empty(), "{other:?}: {}", briefing.text);
    }
    Ok(())
}
