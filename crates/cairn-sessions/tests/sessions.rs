//! cairn-sessions against real session files (fixtures/sessions at the repository root),
//! against files built here from the format notes for the generations that
//! have no real sample, and against damaged input.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use cairn_sessions::{
    Agent, Found, ImportError, Message, Parsed, Role, SourceHints, detect, discover, parse,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sessions");

const CLAUDE_MAIN: &str = "claude/session-3fe1b6bc.jsonl";
const CLAUDE_SHORT: &str = "claude/session-9eda1058.jsonl";
const CLAUDE_TURN: &str = "claude/incremental-subagents/turn-1.jsonl";
const CLAUDE_SUBAGENT: &str = "claude/incremental-subagents/turn-1/subagents/agent-a485154.jsonl";
const CLAUDE_OLD_SESSION: &str = "claude/-tmp-private/4c2ddfdc-b619-4525-8d03-1950fb1b0257.jsonl";
const CLAUDE_OLD_AGENT_1: &str = "claude/-tmp-private/agent-36541525.jsonl";
const CLAUDE_OLD_AGENT_2: &str = "claude/-tmp-private/agent-50243ee8.jsonl";
const CODEX_ROLLOUT: &str =
    "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl";
const CODEX_TURN_1: &str = "codex/turn-1.jsonl";
const CODEX_TURN_2: &str = "codex/turn-2.jsonl";
const GEMINI_JSON: &str = "gemini/session-2025-12-01T21-45-5b959dae.json";

const ALL_FIXTURES: [&str; 11] = [
    CLAUDE_MAIN,
    CLAUDE_SHORT,
    CLAUDE_TURN,
    CLAUDE_SUBAGENT,
    CLAUDE_OLD_SESSION,
    CLAUDE_OLD_AGENT_1,
    CLAUDE_OLD_AGENT_2,
    CODEX_ROLLOUT,
    CODEX_TURN_1,
    CODEX_TURN_2,
    GEMINI_JSON,
];

fn fixture_path(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    fs::read(fixture_path(name)).expect("the shared fixtures are readable")
}

fn parse_fixture(name: &str) -> Parsed {
    let path = fixture_path(name);
    let hints = SourceHints {
        path: Some(&path),
        ..SourceHints::default()
    };
    parse(&fixture(name), None, &hints).expect("every fixture parses")
}

fn parse_text(text: &str, path: Option<&Path>) -> Parsed {
    let hints = SourceHints {
        path,
        ..SourceHints::default()
    };
    parse(text.as_bytes(), None, &hints).expect("the built file parses")
}

fn texts(parsed: &Parsed) -> Vec<(Role, &str)> {
    parsed
        .messages
        .iter()
        .map(|message| (message.role, message.text.as_str()))
        .collect()
}

fn only_session(parsed: &Parsed) -> &cairn_sessions::Session {
    assert_eq!(parsed.sessions.len(), 1, "{:?}", parsed.sessions);
    &parsed.sessions[0]
}

// ---------------------------------------------------------------------------
// Real files.

/// What one file yields, in numbers.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    agent: Agent,
    sessions: usize,
    messages: usize,
    tool_calls: u64,
    skipped: u64,
    errors: usize,
    injected: usize,
}

fn counts(parsed: &Parsed) -> Counts {
    Counts {
        agent: parsed.agent,
        sessions: parsed.sessions.len(),
        messages: parsed.messages.len(),
        tool_calls: parsed.tool_calls,
        skipped: parsed.skipped,
        errors: parsed.errors.len(),
        injected: parsed
            .messages
            .iter()
            .filter(|message| message.injected)
            .count(),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_counts(
    name: &str,
    agent: Agent,
    sessions: usize,
    messages: usize,
    tool_calls: u64,
    skipped: u64,
    errors: usize,
    injected: usize,
) {
    let parsed = parse_fixture(name);
    let expected = Counts {
        agent,
        sessions,
        messages,
        tool_calls,
        skipped,
        errors,
        injected,
    };
    assert_eq!(counts(&parsed), expected, "{name}");
    let calls = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::Assistant && message.tool.is_some());
    assert_eq!(
        calls.count() as u64,
        parsed.tool_calls,
        "{name}: a tool call is an assistant message with a tool"
    );
}

/// The counts were made by tests/fixture_counts.py, a separate Python reading
/// of the fixtures that follows the documented rules (which record and block
/// kinds become messages, which are skipped, what is injected) without
/// sharing any code with the crate; its output is pasted here. Cross-checks
/// by hand: session-3fe1b6bc has 275 records = 10 file-history-snapshot + 4
/// queue-operation (14 skipped) + 89 user (11 typed prompts, 76 tool results,
/// 2 text blocks) + 172 assistant lines (65 thinking, skipped; 31 text; 76
/// tool_use), so 89 + 107 = 196 messages and 14 + 65 = 79 skipped. Codex
/// turn-2 has 25 lines: session_meta, 8 response_item messages (4 of them
/// injected developer/environment context), 2 encrypted reasoning + 2
/// turn_context + 8 task/token event_msg (skipped), and 2 user_message + 2
/// agent_message events that duplicate response items (skipped): 8 messages,
/// 16 skipped.
#[test]
fn every_fixture_parses_to_the_pinned_counts() {
    // file, agent, sessions, messages, tool_calls, skipped, errors, injected
    check_counts(CLAUDE_OLD_SESSION, Agent::Claude, 1, 19, 6, 6, 0, 0);
    check_counts(CLAUDE_OLD_AGENT_1, Agent::Claude, 1, 2, 0, 0, 0, 0);
    check_counts(CLAUDE_OLD_AGENT_2, Agent::Claude, 1, 2, 0, 0, 0, 0);
    check_counts(CLAUDE_TURN, Agent::Claude, 1, 16, 7, 8, 0, 0);
    check_counts(CLAUDE_SUBAGENT, Agent::Claude, 1, 44, 20, 0, 0, 0);
    check_counts(CLAUDE_MAIN, Agent::Claude, 1, 196, 76, 79, 0, 6);
    check_counts(CLAUDE_SHORT, Agent::Claude, 1, 15, 3, 9, 0, 1);
    check_counts(CODEX_ROLLOUT, Agent::Codex, 1, 82, 38, 16, 0, 0);
    check_counts(CODEX_TURN_1, Agent::Codex, 1, 4, 0, 8, 0, 2);
    check_counts(CODEX_TURN_2, Agent::Codex, 1, 8, 0, 16, 0, 4);
    check_counts(GEMINI_JSON, Agent::Gemini, 1, 26, 10, 0, 0, 0);
}

#[test]
fn detect_names_the_agent_of_every_fixture() {
    for name in ALL_FIXTURES {
        let expected = match name.split('/').next() {
            Some("claude") => Agent::Claude,
            Some("codex") => Agent::Codex,
            _ => Agent::Gemini,
        };
        assert_eq!(detect(&fixture(name)), Some(expected), "{name}");
    }
}

#[test]
fn every_message_belongs_to_a_session_and_uids_are_unique_in_it() {
    for name in ALL_FIXTURES {
        let parsed = parse_fixture(name);
        let sessions: HashSet<&str> = parsed
            .sessions
            .iter()
            .map(|session| session.id.as_str())
            .collect();
        let mut uids = HashSet::new();
        for message in &parsed.messages {
            assert!(
                sessions.contains(message.session.as_str()),
                "{name}: {message:?}"
            );
            assert!(
                uids.insert((&message.session, &message.uid)),
                "{name}: duplicate uid {}",
                message.uid
            );
            assert!(
                !message.text.is_empty() || message.role == Role::Tool,
                "{name}: {message:?}"
            );
        }
    }
}

#[test]
fn parsing_the_same_bytes_twice_gives_the_same_result() {
    for name in ALL_FIXTURES {
        assert_eq!(parse_fixture(name), parse_fixture(name), "{name}");
    }
}

#[test]
fn sessions_carry_project_times_and_titles() {
    let claude = parse_fixture(CLAUDE_MAIN);
    let session = only_session(&claude);
    assert_eq!(session.id, "3fe1b6bc-dbd0-4320-b980-4f147befa187");
    assert_eq!(session.project.as_deref(), Some("/Users/user/repo"));
    // The caveat, /clear and the slash command are injected; the title is
    // the first thing the human typed.
    assert_eq!(
        session.title.as_deref(),
        Some(
            "analyze existing codex folder for sessions structure and writen details. there is a need to implement metrics plugin for"
        )
    );
    assert!(session.started_at <= session.updated_at && session.started_at.is_some());

    let codex = parse_fixture(CODEX_ROLLOUT);
    let session = only_session(&codex);
    assert_eq!(session.id, "019e1695-0522-7c83-8b39-0dd379793f80");
    assert_eq!(session.project.as_deref(), Some("/Users/Sample_User/naya"));
    // The IDE's "files mentioned" preamble is not the title.
    assert!(
        session
            .title
            .as_deref()
            .is_some_and(|title| title.starts_with("analyze trascript")),
        "{session:?}"
    );
    // session_meta.timestamp (10:28:45.482Z) is earlier than any line.
    assert_eq!(session.started_at, Some(1_778_495_325_482));

    let gemini = parse_fixture(GEMINI_JSON);
    let session = only_session(&gemini);
    assert_eq!(session.id, "5b959dae-8655-4cd1-b10f-720b8c336ea2");
    assert_eq!(session.title.as_deref(), Some("hi"));
    assert_eq!(session.project, None, "no project root hint was given");
    assert_eq!(
        (session.started_at, session.updated_at),
        (Some(1_764_625_534_362), Some(1_764_625_810_837))
    );
}

// ---------------------------------------------------------------------------
// Claude Code.

#[test]
fn claude_subagents_are_sessions_of_their_own() {
    let parent = "e9fb405b-169f-40eb-9396-7e75076f045d";
    let parsed = parse_fixture(CLAUDE_SUBAGENT);
    let session = only_session(&parsed);
    assert_eq!(session.id, format!("{parent}/a485154"));
    assert_eq!(session.parent.as_deref(), Some(parent));
    assert!(
        parsed
            .messages
            .iter()
            .all(|message| message.session == session.id)
    );

    for (name, agent_id) in [
        (CLAUDE_OLD_AGENT_1, "36541525"),
        (CLAUDE_OLD_AGENT_2, "50243ee8"),
    ] {
        let parsed = parse_fixture(name);
        let session = only_session(&parsed);
        assert_eq!(
            session.id,
            format!("4c2ddfdc-b619-4525-8d03-1950fb1b0257/{agent_id}")
        );
        assert_eq!(
            session.parent.as_deref(),
            Some("4c2ddfdc-b619-4525-8d03-1950fb1b0257")
        );
        assert_eq!(session.title.as_deref(), Some("Warmup"));
    }
    assert_eq!(only_session(&parse_fixture(CLAUDE_TURN)).parent, None);
}

#[test]
fn claude_tool_results_are_named_by_their_call() {
    for name in [
        CLAUDE_MAIN,
        CLAUDE_SHORT,
        CLAUDE_TURN,
        CLAUDE_SUBAGENT,
        CLAUDE_OLD_SESSION,
    ] {
        let parsed = parse_fixture(name);
        let calls: HashMap<&str, &str> = parsed
            .messages
            .iter()
            .filter(|message| message.role == Role::Assistant)
            .filter_map(|message| Some((message.call_id.as_deref()?, message.tool.as_deref()?)))
            .collect();
        for result in parsed
            .messages
            .iter()
            .filter(|message| message.role == Role::Tool)
        {
            let call_id = result
                .call_id
                .as_deref()
                .expect("a tool result names its call");
            assert_eq!(
                result.tool.as_deref(),
                calls.get(call_id).copied(),
                "{name}: {result:?}"
            );
        }
    }
    let parsed = parse_fixture(CLAUDE_SHORT);
    let write = parsed
        .messages
        .iter()
        .find(|message| message.tool.as_deref() == Some("Write"));
    let write = write.expect("the session calls Write");
    assert!(write.text.starts_with("Write({\""), "{}", write.text);
    assert_eq!(
        write.call_id.as_deref(),
        Some("toolu_bdrk_01SKk2dM5q1c8gecaoatnwJn")
    );
}

#[test]
fn claude_injected_content_is_flagged() {
    let parsed = parse_fixture(CLAUDE_MAIN);
    let injected = |start: &str| {
        let message = parsed
            .messages
            .iter()
            .find(|message| message.text.starts_with(start));
        message.expect("the message is there").injected
    };
    assert!(injected("Caveat: The messages below"));
    assert!(injected("<command-name>/clear</command-name>"));
    assert!(injected("<local-command-stdout>"));
    assert!(
        injected("IT IS CRITICAL THAT YOU FOLLOW THESE STEPS"),
        "isMeta text block"
    );
    assert!(!injected("analyze existing codex folder"));
}

/// Claude titles: custom-title beats ai-title beats a summary of a branch in
/// this file; summaries of other sessions' branches (which Claude Code writes
/// at the top of a file) are ignored.
#[test]
fn claude_titles_prefer_the_agents_own() {
    let user = r#"{"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","message":{"role":"user","content":"first prompt"},"uuid":"u1","timestamp":"2026-01-01T00:00:00Z"}"#;
    let own_summary = r#"{"type":"summary","summary":"Own branch summary","leafUuid":"u1"}"#;
    let other_summary = r#"{"type":"summary","summary":"Someone else's","leafUuid":"elsewhere"}"#;
    let ai_title = r#"{"type":"ai-title","aiTitle":"AI title","sessionId":"s1"}"#;
    let custom_title = r#"{"type":"custom-title","customTitle":"Custom title","sessionId":"s1"}"#;
    let title = |lines: &[&str]| {
        only_session(&parse_text(&lines.join("\n"), None))
            .title
            .clone()
    };
    assert_eq!(
        title(&[other_summary, user]).as_deref(),
        Some("first prompt")
    );
    assert_eq!(
        title(&[other_summary, own_summary, user]).as_deref(),
        Some("Own branch summary")
    );
    assert_eq!(
        title(&[own_summary, user, ai_title]).as_deref(),
        Some("AI title")
    );
    assert_eq!(
        title(&[custom_title, own_summary, user, ai_title]).as_deref(),
        Some("Custom title")
    );
    // The fixture's 16 summaries all name branches of other sessions.
    assert_eq!(
        only_session(&parse_fixture(CLAUDE_SHORT)).title.as_deref(),
        Some("show tools and store response in file")
    );
}

#[test]
fn claude_torn_line_recovers_the_record_after_the_tear() {
    let bytes = fixture(CLAUDE_SHORT);
    let lines: Vec<&[u8]> = bytes
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    // Lines 20 and 21: a tool_use and its tool_result. Tear line 20 in the
    // middle and let line 21 follow it on the same line, as seen in the wild.
    let (torn, next) = (lines[19], lines[20]);
    let uuid = |line: &[u8]| {
        let value: serde_json::Value =
            serde_json::from_slice(line).expect("fixture lines are json");
        value["uuid"]
            .as_str()
            .expect("records have uuids")
            .to_owned()
    };
    let mut damaged = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        match index {
            19 => {
                damaged.extend_from_slice(&torn[..torn.len() / 2]);
                damaged.extend_from_slice(next);
            }
            20 => continue,
            _ => damaged.extend_from_slice(line),
        }
        damaged.push(b'\n');
    }
    let parsed = parse(&damaged, None, &SourceHints::default()).expect("a torn line is not fatal");
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    assert_eq!(parsed.errors[0].line, 20);
    assert!(
        parsed.errors[0].message.contains("recovered 1 record"),
        "{}",
        parsed.errors[0]
    );
    let uids: HashSet<&str> = parsed
        .messages
        .iter()
        .map(|message| message.uid.as_str())
        .collect();
    assert!(
        uids.contains(uuid(next).as_str()),
        "the record after the tear is imported"
    );
    assert!(
        !uids.contains(uuid(torn).as_str()),
        "the torn record is lost"
    );
    assert_eq!(parsed.messages.len(), 14);
}

#[test]
fn claude_spilled_tool_results_are_read_through_the_hint() {
    let preview = "<persisted-output>\nOutput too large (126.7KB). Full output saved to: /h/.claude/projects/-p/s1/tool-results/toolu_1.txt\n\nPreview (first 2KB):\nline 1\n</persisted-output>";
    let records = [
        serde_json::json!({"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"assistant","uuid":"a1","timestamp":"2026-01-01T00:00:00Z",
            "message":{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"cat big"}}]}}),
        serde_json::json!({"parentUuid":"a1","isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","uuid":"u1","timestamp":"2026-01-01T00:00:01Z",
            "message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":preview}]}}),
    ];
    let text: Vec<String> = records.iter().map(|record| record.to_string()).collect();
    let text = text.join("\n");
    let full = "line 1\n".repeat(20_000);
    let spill = |id: &str| (id == "toolu_1").then(|| full.clone());
    let hints = SourceHints {
        spill: Some(&spill),
        ..SourceHints::default()
    };
    let parsed = parse(text.as_bytes(), None, &hints).expect("parses");
    let result = &parsed.messages[1];
    assert_eq!(
        (result.role, result.tool.as_deref()),
        (Role::Tool, Some("Bash"))
    );
    assert_eq!(result.text, full);

    let without = parse(text.as_bytes(), None, &SourceHints::default()).expect("parses");
    assert_eq!(
        without.messages[1].text, preview,
        "without the spill the preview stays"
    );

    // A real spilled result whose record also kept the full output in
    // toolUseResult.stdout (129,724 bytes): that is used when no spill is given.
    let parsed = parse_fixture(CLAUDE_SUBAGENT);
    let result = parsed.messages.iter().find(|message| {
        message.call_id.as_deref() == Some("toolu_bdrk_01CaTZ658VzFpoM9YptVLjGg")
            && message.role == Role::Tool
    });
    let result = result.expect("the spilled result is there");
    assert_eq!(result.text.len(), 129_724);
    assert!(!result.text.starts_with("<persisted-output>"));
}

/// What the service's spill closure does: plain names only, read as
/// `<spill_dir>/<name>.txt`.
fn spill_reader(dir: &Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| cairn_sessions::read_spilled(dir, name)
}

#[test]
fn claude_spill_file_is_found_by_the_name_the_transcript_gives() {
    // Claude Code 2.1.332: the spill file has a random name, given in the
    // preview and in toolUseResult.persistedOutputPath, not the tool_use_id.
    let home = tempfile::tempdir().expect("tempdir");
    let spill_dir = home.path().join("s1").join("tool-results");
    fs::create_dir_all(&spill_dir).expect("mkdir");
    let full: String =
        (1..=100_000).map(|n| format!("{n}\n")).collect::<String>() + "the full output ends here\n";
    let full = full.replace("\n50000\n", "\n50000 middle-of-the-output\n");
    write(&spill_dir.join("bx5llwyx6.txt"), full.as_bytes());
    let saved = spill_dir.join("bx5llwyx6.txt");
    let saved = saved.to_string_lossy();
    let preview = format!(
        "<persisted-output>\nOutput too large (575.1KB). Full output saved to: {saved}\n\nPreview (first 2KB):\n1\n2\n</persisted-output>"
    );
    let result = |uid: &str, call: &str, preview: &str, tool_use_result: serde_json::Value| {
        serde_json::json!({"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","uuid":uid,"timestamp":"2026-01-01T00:00:01Z",
            "message":{"role":"user","content":[{"type":"tool_result","tool_use_id":call,"content":preview}]},
            "toolUseResult":tool_use_result})
        .to_string()
    };
    let stdout_only = serde_json::json!({"stdout":"1\n2","stderr":"","interrupted":false});
    let outside = home.path().join("secret.txt");
    write(&outside, b"not a spill file");
    let records = [
        // The name from persistedOutputPath and from the preview.
        result(
            "u1",
            "toolu_1",
            &preview,
            serde_json::json!({"stdout":"1\n2","persistedOutputPath":saved,"persistedOutputSize":588_895}),
        ),
        // The name from the preview alone.
        result("u2", "toolu_2", &preview, stdout_only.clone()),
        // A path outside the spill folder is never opened: only its stem is
        // asked for, in the spill folder, where there is no such file.
        result(
            "u3",
            "toolu_3",
            "<persisted-output>\nPreview (first 2KB):\n1\n</persisted-output>",
            serde_json::json!({"persistedOutputPath": outside.to_string_lossy()}),
        ),
    ]
    .join("\n");
    let spill = spill_reader(&spill_dir);
    let hints = SourceHints {
        spill: Some(&spill),
        ..SourceHints::default()
    };
    let parsed = parse(records.as_bytes(), Some(Agent::Claude), &hints).expect("parses");
    let check = |index: usize, expected: &str| {
        assert_eq!(parsed.messages[index].text, expected, "message {index}");
    };
    check(0, &full);
    check(1, &full);
    check(
        2,
        "<persisted-output>\nPreview (first 2KB):\n1\n</persisted-output>",
    );
    assert!(parsed.messages[0].text.contains("middle-of-the-output"));

    // The older layout, `<tool_use_id>.txt`, is still read.
    write(&spill_dir.join("toolu_3.txt"), b"spilled by id");
    let parsed = parse(records.as_bytes(), Some(Agent::Claude), &hints).expect("parses");
    assert_eq!(parsed.messages[2].text, "spilled by id");
}

// ---------------------------------------------------------------------------
// Codex CLI.

#[test]
fn codex_reimport_of_a_grown_file_adds_only_new_records() {
    let before = parse_fixture(CODEX_TURN_1);
    let after = parse_fixture(CODEX_TURN_2);
    let after_by_uid: HashMap<&str, &Message> = after
        .messages
        .iter()
        .map(|message| (message.uid.as_str(), message))
        .collect();
    for message in &before.messages {
        let again = after_by_uid
            .get(message.uid.as_str())
            .expect("every earlier uid is still there");
        assert_eq!(*again, message);
    }
    assert!(after.messages.len() > before.messages.len());
    let new: Vec<&str> = after
        .messages
        .iter()
        .filter(|message| !before.messages.iter().any(|old| old.uid == message.uid))
        .map(|message| message.text.as_str())
        .collect();
    assert_eq!(new.len(), 4);
    assert!(new.contains(&"What languages can you work with?"));
}

#[test]
fn codex_event_messages_fill_in_only_missing_turns() {
    // The 0.128 rollout recorded the user's turns only as event_msg.
    let parsed = parse_fixture(CODEX_ROLLOUT);
    let users = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::User)
        .count();
    assert_eq!(users, 3);
    // Later builds record both: one copy is kept.
    let turn = parse_fixture(CODEX_TURN_2);
    let hello = turn
        .messages
        .iter()
        .filter(|message| message.text == "Hello, Codex! Please explain what you do.");
    assert_eq!(hello.count(), 1);
    let answer = turn
        .messages
        .iter()
        .filter(|message| message.text == "I am Codex, an AI coding assistant by OpenAI.");
    assert_eq!(answer.count(), 1);
}

/// A Codex envelope line.
fn codex_line(kind: &str, payload: serde_json::Value) -> String {
    serde_json::json!({"timestamp":"2026-06-01T10:00:00.000Z","type":kind,"payload":payload})
        .to_string()
}

/// An `item_completed` event for a command run inside a tool call.
fn command_completed(id: &str, script: &str, output: &str) -> String {
    codex_line(
        "event_msg",
        serde_json::json!({"type":"item_completed","thread_id":"t1","turn_id":"turn-1",
            "item":{"type":"CommandExecution","id":id,"process_id":"72914",
                "command":["/bin/bash","-lc",script],"cwd":"file:///tmp/x","parsed_cmd":[],
                "source":"unified_exec_startup","status":"completed","aggregated_output":output,
                "exit_code":0,"duration":{"secs":0,"nanos":6620}}}),
    )
}

#[test]
fn codex_command_outputs_complete_truncated_tool_results() {
    let full: String = (1..=5000).map(|n| format!("{n}\n")).collect();
    let full = full.replace("\n2500\n", "\n2500 zebra-in-the-middle\n");
    let seen_by_model = "Warning: truncated output (original token count: 147224)\nTotal output lines: 5000\n\n1\n2\n…4990 lines truncated…\n4999\n5000\n";
    let exec_output = |parts: &[&str]| {
        let parts: Vec<serde_json::Value> = parts
            .iter()
            .map(|text| serde_json::json!({"type":"input_text","text":text}))
            .collect();
        serde_json::Value::Array(parts)
    };
    let call = |id: &str, input: &str| {
        codex_line(
            "response_item",
            serde_json::json!({"type":"custom_tool_call","call_id":id,"name":"exec","input":input}),
        )
    };
    let output = |id: &str, parts: &[&str]| {
        codex_line(
            "response_item",
            serde_json::json!({"type":"custom_tool_call_output","call_id":id,"output":exec_output(parts)}),
        )
    };
    let header = "Script completed\nWall time 0.1 seconds\nOutput:\n";
    let lines = [
        codex_line(
            "session_meta",
            serde_json::json!({"id":"s-1","timestamp":"2026-06-01T10:00:00.000Z","cwd":"/tmp/x"}),
        ),
        codex_line(
            "event_msg",
            serde_json::json!({"type":"task_started","turn_id":"turn-1"}),
        ),
        // One exec call running two commands, both cut for the model.
        call(
            "call_0",
            "const r = await tools.exec_command({cmd: 'seq 1 5000'}); text(r.output);",
        ),
        command_completed("exec-1", "seq 1 5000", &full),
        codex_line(
            "event_msg",
            serde_json::json!({"type":"item_completed","thread_id":"t1","turn_id":"turn-1",
                "item":{"type":"AgentMessage","id":"m-1","text":"Counting."}}),
        ),
        command_completed("exec-2", "printf 'quokka\\n'", "quokka\n"),
        output("call_0", &[header, seen_by_model]),
        // A small output the model saw whole: nothing is added.
        call(
            "call_1",
            "text((await tools.exec_command({cmd: 'echo hi'})).output);",
        ),
        command_completed("exec-3", "echo hi", "hi\n"),
        output("call_1", &[header, "hi\n"]),
        // The older exec_command_end, linked by call_id, even when it is
        // written after the result.
        codex_line(
            "response_item",
            serde_json::json!({"type":"function_call","call_id":"call_2","name":"shell","arguments":"{\"command\":[\"bash\",\"-lc\",\"cat log\"]}"}),
        ),
        codex_line(
            "response_item",
            serde_json::json!({"type":"function_call_output","call_id":"call_2","output":"Total output lines: 3\n\nfirst\n[... truncated ...]"}),
        ),
        codex_line(
            "event_msg",
            serde_json::json!({"type":"exec_command_end","call_id":"call_2","command":["bash","-lc","cat log"],
                "aggregated_output":"first\nwombat\nlast\n","exit_code":0,"formatted_output":"first\n…"}),
        ),
        // A command whose call never got a result: skipped.
        command_completed("exec-4", "sleep 100", "never shown\n"),
    ];
    let parsed = parse(
        lines.join("\n").as_bytes(),
        Some(Agent::Codex),
        &SourceHints::default(),
    )
    .expect("parses");
    let results: Vec<(&str, &str)> = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::Tool)
        .map(|message| {
            (
                message.call_id.as_deref().unwrap_or_default(),
                message.text.as_str(),
            )
        })
        .collect();
    let expected_0 = format!(
        "{header}\n{seen_by_model}\n$ seq 1 5000\n{}\n\n$ printf 'quokka\\n'\nquokka",
        full.trim_end()
    );
    assert_eq!(
        results,
        vec![
            ("call_0", expected_0.as_str()),
            (
                "call_1",
                "Script completed\nWall time 0.1 seconds\nOutput:\n\nhi\n"
            ),
            (
                "call_2",
                "Total output lines: 3\n\nfirst\n[... truncated ...]\n\n$ cat log\nfirst\nwombat\nlast"
            ),
        ]
    );
    assert!(results[0].1.contains("2500 zebra-in-the-middle"));
    assert_eq!(parsed.messages[1].tool.as_deref(), Some("exec"));
    // task_started, the AgentMessage item and the command without a result.
    assert_eq!((parsed.tool_calls, parsed.skipped), (3, 3));
    assert!(
        !parsed
            .messages
            .iter()
            .any(|message| message.text.contains("never shown"))
    );
}

#[test]
fn codex_zstd_rollout_parses_like_the_plain_one() {
    let plain = fixture(CODEX_ROLLOUT);
    let packed = zstd::encode_all(&plain[..], 3).expect("compresses");
    assert_eq!(&packed[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
    assert_eq!(detect(&packed), Some(Agent::Codex));
    let path = fixture_path(CODEX_ROLLOUT).with_extension("jsonl.zst");
    let hints = SourceHints {
        path: Some(&path),
        ..SourceHints::default()
    };
    let from_zstd = parse(&packed, None, &hints).expect("a .jsonl.zst parses");
    assert_eq!(from_zstd, parse_fixture(CODEX_ROLLOUT));

    let torn = parse(&packed[..packed.len() - 10], None, &hints);
    assert!(matches!(torn, Err(ImportError::Decompress(_))), "{torn:?}");
}

/// Early Rust rollouts (≈ May – Sept 2025): a bare `{id, timestamp,
/// instructions}` first line, bare ResponseItems, `{"record_type":"state"}`.
#[test]
fn codex_pre_envelope_rollout() {
    let rollout = [
        r#"{"id":"0198a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","timestamp":"2025-07-20T10:00:00.000Z","instructions":null,"git":{"commit_hash":"abc"}}"#,
        r#"{"record_type":"state"}"#,
        r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>\n  <cwd>/home/me/old</cwd>\n</environment_context>"}]}"#,
        r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]}"#,
        r#"{"type":"function_call","name":"shell","arguments":"{\"command\": [\"ls\"]}","call_id":"call_1"}"#,
        r#"{"type":"function_call_output","call_id":"call_1","output":"{\"output\":\"a.txt\\nb.txt\\n\",\"metadata\":{\"exit_code\":0,\"duration_seconds\":0.1}}"}"#,
        r#"{"record_type":"state"}"#,
        r#"{"type":"reasoning","summary":[{"type":"summary_text","text":"Listing done"}],"encrypted_content":"x"}"#,
        r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Two files."}]}"#,
    ]
    .join("\n");
    assert_eq!(detect(rollout.as_bytes()), Some(Agent::Codex));
    let parsed = parse_text(&rollout, None);
    let session = only_session(&parsed);
    assert_eq!(session.id, "0198a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    assert_eq!(
        session.project.as_deref(),
        Some("/home/me/old"),
        "from <environment_context>"
    );
    assert_eq!(session.title.as_deref(), Some("list the files"));
    assert_eq!(session.started_at, Some(1_753_005_600_000));
    assert_eq!(
        texts(&parsed),
        vec![
            (
                Role::User,
                "<environment_context>\n  <cwd>/home/me/old</cwd>\n</environment_context>"
            ),
            (Role::User, "list the files"),
            (Role::Assistant, r#"shell({"command":["ls"]})"#),
            (Role::Tool, "a.txt\nb.txt\n"),
            (Role::Assistant, "Listing done"),
            (Role::Assistant, "Two files."),
        ]
    );
    assert_eq!(parsed.messages[3].tool.as_deref(), Some("shell"));
    assert!(parsed.messages[0].injected && !parsed.messages[1].injected);
    assert_eq!(
        (parsed.tool_calls, parsed.skipped, parsed.errors.len()),
        (1, 2, 0)
    );
}

/// The TypeScript codex-cli (Apr – May 2025): one pretty-printed JSON document.
#[test]
fn codex_typescript_document() {
    let document = serde_json::to_string_pretty(&serde_json::json!({
        "session": {"timestamp": "2025-04-20T09:00:00.000Z", "id": "3f2c0d1e-aaaa-4bbb-8ccc-123456789abc", "instructions": ""},
        "items": [
            {"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix the tests"}]},
            {"id": "fc_1", "type": "function_call", "call_id": "call_a", "name": "shell", "arguments": "{\"command\":[\"npm\",\"test\"]}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "{\"output\":\"ok\",\"metadata\":{\"exit_code\":0}}"},
            {"id": "msg_2", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "All green."}]},
            {"id": "x_1", "type": "some_future_item"}
        ]
    }))
    .expect("serializes");
    assert_eq!(detect(document.as_bytes()), Some(Agent::Codex));
    let parsed = parse_text(&document, None);
    let session = only_session(&parsed);
    assert_eq!(session.id, "3f2c0d1e-aaaa-4bbb-8ccc-123456789abc");
    assert_eq!(session.title.as_deref(), Some("fix the tests"));
    assert_eq!(
        texts(&parsed),
        vec![
            (Role::User, "fix the tests"),
            (Role::Assistant, r#"shell({"command":["npm","test"]})"#),
            (Role::Tool, "ok"),
            (Role::Assistant, "All green."),
        ]
    );
    assert_eq!(parsed.messages[0].uid, "msg_1:0");
    assert_eq!((parsed.tool_calls, parsed.skipped), (1, 1));
    assert_eq!(
        parse_text(&document, None),
        parsed,
        "a rewritten document keeps its uids"
    );

    let torn = parse(
        &document.as_bytes()[..document.len() / 2],
        None,
        &SourceHints::default(),
    );
    assert!(matches!(torn, Err(ImportError::NotASession(_))), "{torn:?}");
}

// ---------------------------------------------------------------------------
// Gemini CLI.

/// Gemini JSONL (v0.39+): metadata, a message re-appended when it changed
/// (the last copy wins, the first position stays), `$set`, `$rewindTo`.
#[test]
fn gemini_jsonl_replays_updates_set_and_rewind() {
    let log = [
        r#"{"sessionId":"g-1","projectHash":"abc","startTime":"2026-05-01T10:00:00.000Z","lastUpdated":"2026-05-01T10:00:00.000Z","kind":"main"}"#,
        r#"{"id":"m1","timestamp":"2026-05-01T10:00:01.000Z","type":"user","content":[{"text":"read the readme"}]}"#,
        r#"{"id":"m2","timestamp":"2026-05-01T10:00:02.000Z","type":"gemini","content":"","toolCalls":[{"id":"c1","name":"read_file","args":{"path":"README.md"},"status":"executing","timestamp":"2026-05-01T10:00:02.500Z"}]}"#,
        r#"{"id":"m3","timestamp":"2026-05-01T10:00:03.000Z","type":"info","content":"Switched model"}"#,
        r#"{"id":"m2","timestamp":"2026-05-01T10:00:02.000Z","type":"gemini","content":"It says hello.","toolCalls":[{"id":"c1","name":"read_file","args":{"path":"README.md"},"result":[{"functionResponse":{"id":"c1","name":"read_file","response":{"output":"hello"}}}],"status":"success","timestamp":"2026-05-01T10:00:02.500Z"}]}"#,
        r#"{"$set":{"lastUpdated":"2026-05-01T10:05:00.000Z","summary":"Reading the readme"}}"#,
        r#"{"id":"m4","timestamp":"2026-05-01T10:00:04.000Z","type":"user","content":"oops, wrong prompt"}"#,
        r#"{"id":"m5","timestamp":"2026-05-01T10:00:05.000Z","type":"gemini","content":"Sure."}"#,
        r#"{"$rewindTo":"m4"}"#,
        r#"{"id":"m6","timestamp":"2026-05-01T10:00:06.000Z","type":"user","content":"thanks"}"#,
        r#"{"unknown":"line kind"}"#,
    ]
    .join("\n");
    assert_eq!(detect(log.as_bytes()), Some(Agent::Gemini));
    let hints = SourceHints {
        project_root: Some("/home/me/proj"),
        ..SourceHints::default()
    };
    let parsed = parse(log.as_bytes(), None, &hints).expect("parses");
    assert_eq!(
        texts(&parsed),
        vec![
            (Role::User, "read the readme"),
            (Role::Assistant, "It says hello."),
            (Role::Assistant, r#"read_file({"path":"README.md"})"#),
            (Role::Tool, "hello"),
            (Role::System, "Switched model"),
            (Role::User, "thanks"),
        ]
    );
    let uids: Vec<&str> = parsed
        .messages
        .iter()
        .map(|message| message.uid.as_str())
        .collect();
    assert_eq!(uids, vec!["m1", "m2", "m2/c1", "m2/c1:result", "m3", "m6"]);
    assert!(parsed.messages[4].injected);
    assert_eq!(parsed.messages[3].tool.as_deref(), Some("read_file"));
    let session = only_session(&parsed);
    assert_eq!(session.id, "g-1");
    assert_eq!(session.title.as_deref(), Some("Reading the readme"));
    assert_eq!(session.project.as_deref(), Some("/home/me/proj"));
    assert_eq!(
        session.updated_at,
        Some(1_777_629_900_000),
        "lastUpdated from $set"
    );
    assert_eq!(
        (parsed.tool_calls, parsed.skipped, parsed.errors.len()),
        (1, 1, 0)
    );

    // Every later copy of the file (it only grows) keeps the earlier uids.
    let first_lines: Vec<&str> = log.lines().take(3).collect();
    let early = parse_text(&first_lines.join("\n"), None);
    assert_eq!(early.messages[0].uid, "m1");
    assert_eq!(early.messages.len(), 2, "m2 has a call but no result yet");
}

#[test]
fn gemini_set_messages_replaces_and_unknown_rewind_clears() {
    let meta = r#"{"sessionId":"g-2","projectHash":"abc","startTime":"2026-05-01T10:00:00.000Z","lastUpdated":"2026-05-01T10:00:00.000Z"}"#;
    let m1 = r#"{"id":"m1","timestamp":"2026-05-01T10:00:01.000Z","type":"user","content":"one"}"#;
    let checkpoint = r#"{"$set":{"messages":[{"id":"s1","timestamp":"2026-05-01T10:00:02.000Z","type":"user","content":"compressed history"}]}}"#;
    let m2 = r#"{"id":"m2","timestamp":"2026-05-01T10:00:03.000Z","type":"gemini","content":[{"text":"two"},{"text":"hidden","thought":true},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}"#;
    let parsed = parse_text(&[meta, m1, checkpoint, m2].join("\n"), None);
    assert_eq!(
        texts(&parsed),
        vec![
            (Role::User, "compressed history"),
            (Role::Assistant, "two\n[image]")
        ]
    );
    let parsed = parse_text(&[meta, m1, m2, r#"{"$rewindTo":"nope"}"#].join("\n"), None);
    assert!(parsed.messages.is_empty());
    assert_eq!(parsed.sessions.len(), 1);
}

#[test]
fn gemini_subagent_chat_names_its_parent() {
    let log = [
        r#"{"sessionId":"child-1","projectHash":"abc","startTime":"2026-05-01T10:00:00.000Z","lastUpdated":"2026-05-01T10:00:00.000Z","kind":"subagent"}"#,
        r#"{"id":"m1","timestamp":"2026-05-01T10:00:01.000Z","type":"user","content":"look around"}"#,
    ]
    .join("\n");
    let path = Path::new("/h/.gemini/tmp/proj/chats/parent-session-id/child-1.jsonl");
    let parsed = parse_text(&log, Some(path));
    assert_eq!(
        only_session(&parsed).parent.as_deref(),
        Some("parent-session-id")
    );
    let main = Path::new("/h/.gemini/tmp/proj/chats/session-2026-05-01T10-00-child-1.jsonl");
    assert_eq!(only_session(&parse_text(&log, Some(main))).parent, None);
}

#[test]
fn gemini_session_context_is_injected_and_not_the_title() {
    let log = [
        r#"{"sessionId":"g-3","projectHash":"abc","startTime":"2026-06-01T10:00:00.000Z","lastUpdated":"2026-06-01T10:00:00.000Z","kind":"main"}"#,
        r#"{"id":"m1","timestamp":"2026-06-01T10:00:01.000Z","type":"user","content":[{"text":"<session_context>\nThis is the Gemini CLI. We are setting up the context for our chat.\nToday's date is Monday, June 1, 2026.\n</session_context>"}]}"#,
        r#"{"id":"m2","timestamp":"2026-06-01T10:00:02.000Z","type":"user","content":[{"text":"count to a hundred thousand"}]}"#,
    ]
    .join("\n");
    let parsed = parse_text(&log, None);
    let injected: Vec<bool> = parsed
        .messages
        .iter()
        .map(|message| message.injected)
        .collect();
    assert_eq!(injected, vec![true, false]);
    assert_eq!(
        only_session(&parsed).title.as_deref(),
        Some("count to a hundred thousand")
    );
}

#[test]
fn gemini_long_shell_output_comes_from_result_display() {
    let full: String = (1..=100_000).map(|n| format!("{n}\n")).collect();
    let full = full.replace("\n50000\n", "\n50000 narwhal\n");
    let seen = format!(
        "Output too large. Showing first 8,000 and last 32,000 characters. For full output see: /home/u/.gemini/tmp/x/tool-outputs/session-g-4/run_shell_command_1796386817099_0.txt\n<untrusted_context>\nOutput: {}\n... [truncated] ...\n{}",
        &full[..8000],
        &full[full.len() - 32_000..]
    );
    let call = |id: &str, result: &str, display: &str| {
        serde_json::json!({"id":id,"name":"run_shell_command","args":{"command":"seq 1 100000"},
            "result":[{"functionResponse":{"id":id,"name":"run_shell_command","response":{"output":result}}}],
            "status":"success","timestamp":"2026-06-01T10:00:03.000Z","resultDisplay":display})
    };
    let message = serde_json::json!({"id":"m2","timestamp":"2026-06-01T10:00:02.000Z","type":"gemini","content":"",
    "toolCalls":[
        call("run_shell_command__run_shell_command_1796386817099_0", &seen, &full),
        call("run_shell_command__run_shell_command_1796386817099_1", "Output: hi\nExit Code: 0", "hi"),
    ]});
    let log = [
        r#"{"sessionId":"g-4","projectHash":"abc","startTime":"2026-06-01T10:00:00.000Z","lastUpdated":"2026-06-01T10:00:00.000Z"}"#.to_owned(),
        message.to_string(),
    ]
    .join("\n");
    let parsed = parse_text(&log, None);
    let results: Vec<(&str, &str)> = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::Tool)
        .map(|message| {
            (
                message.call_id.as_deref().unwrap_or_default(),
                message.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            (
                "run_shell_command__run_shell_command_1796386817099_0",
                full.as_str()
            ),
            (
                "run_shell_command__run_shell_command_1796386817099_1",
                "Output: hi\nExit Code: 0"
            ),
        ],
        "the full output when the display holds more than the model saw"
    );
    assert!(results[0].1.contains("50000 narwhal"));
    assert!(!seen.contains("narwhal"));
}

#[test]
fn gemini_torn_json_document_is_not_imported() {
    // The legacy file is rewritten whole; a torn copy must not replace the
    // session with a fragment.
    let bytes = fixture(GEMINI_JSON);
    let torn = parse(&bytes[..bytes.len() / 2], None, &SourceHints::default());
    assert!(matches!(torn, Err(ImportError::NotASession(_))), "{torn:?}");
    assert_eq!(detect(&bytes[..bytes.len() / 2]), Some(Agent::Gemini));
}

// ---------------------------------------------------------------------------
// Damaged input.

#[test]
fn an_empty_file_is_empty() {
    for bytes in [&b""[..], b"\n\n  \r\n"] {
        assert!(matches!(
            parse(bytes, None, &SourceHints::default()),
            Err(ImportError::Empty)
        ));
        for agent in Agent::ALL {
            assert!(matches!(
                parse(bytes, Some(agent), &SourceHints::default()),
                Err(ImportError::Empty)
            ));
        }
    }
    let empty_zstd = zstd::encode_all(&b""[..], 3).expect("compresses");
    assert!(matches!(
        parse(&empty_zstd, None, &SourceHints::default()),
        Err(ImportError::Empty)
    ));
}

#[test]
fn a_truncated_last_line_is_an_error_not_a_failure() {
    for (name, last_line, messages) in [
        (CODEX_TURN_2, 25, 8),
        (CLAUDE_SHORT, 40, 15),
        (CLAUDE_MAIN, 275, 195),
    ] {
        let bytes = fixture(name);
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let cut = &body[..body.len() - 20];
        let parsed =
            parse(cut, None, &SourceHints::default()).expect("a truncated last line is not fatal");
        assert_eq!(parsed.errors.len(), 1, "{name}: {:?}", parsed.errors);
        assert_eq!(parsed.errors[0].line, last_line, "{name}");
        // Codex's and 9eda1058's last records yield no message; 3fe1b6bc loses
        // its last assistant text.
        assert_eq!(parsed.messages.len(), messages, "{name}");
    }
}

#[test]
fn binary_garbage_is_not_a_session() {
    let garbage = pseudo_random_bytes(64 * 1024, 7);
    assert_eq!(detect(&garbage), None);
    let error = parse(&garbage, None, &SourceHints::default()).expect_err("garbage is refused");
    assert!(matches!(error, ImportError::NotASession(_)), "{error}");
    for agent in Agent::ALL {
        let error =
            parse(&garbage, Some(agent), &SourceHints::default()).expect_err("garbage is refused");
        assert!(
            matches!(error, ImportError::NotASession(_)),
            "{agent}: {error}"
        );
    }
    // Garbage lines inside a real file are reported and the rest imported.
    let mut mixed = fixture(CODEX_TURN_1);
    mixed.extend_from_slice(&garbage[..200]);
    mixed.push(b'\n');
    mixed.extend_from_slice(&fixture(CODEX_TURN_2));
    let parsed =
        parse(&mixed, None, &SourceHints::default()).expect("a file with junk lines parses");
    assert!(!parsed.errors.is_empty());
    assert!(
        parsed.errors.iter().all(|error| error.line >= 14),
        "{:?}",
        parsed.errors
    );
    // turn-2 repeats turn-1's lines; a repeated identical line is a new
    // occurrence with its own uid (bare rollouts repeat lines legitimately).
    assert_eq!(parsed.messages.len(), 4 + 8);
}

#[test]
fn twenty_megabyte_lines_valid_and_invalid() {
    let huge = "x".repeat(20 << 20);
    let record = |uuid: &str, text: &str| {
        serde_json::json!({"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","uuid":uuid,
            "timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":text}]}})
        .to_string()
    };
    let big = record("u-big", &huge);
    let small = record("u-small", "after");
    let valid = format!("{big}\n{small}\n");
    let parsed =
        parse(valid.as_bytes(), None, &SourceHints::default()).expect("a 20 MB line parses");
    assert_eq!(parsed.messages.len(), 2);
    assert_eq!(parsed.messages[0].text.len(), 20 << 20);

    let invalid = format!("{}\n{small}\n", &big[..big.len() - 100]);
    let parsed = parse(invalid.as_bytes(), None, &SourceHints::default())
        .expect("a torn 20 MB line is not fatal");
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 1);
    assert_eq!(texts(&parsed), vec![(Role::Tool, "after")]);

    // The same for a Codex tool output.
    let output = serde_json::json!({"timestamp":"2026-01-01T00:00:00Z","type":"response_item",
        "payload":{"type":"function_call_output","call_id":"c","output":huge}})
    .to_string();
    let parsed = parse(
        output.as_bytes(),
        Some(Agent::Codex),
        &SourceHints::default(),
    )
    .expect("parses");
    assert_eq!(parsed.messages[0].text.len(), 20 << 20);
}

/// Fixtures cut at many places and with flipped bytes, parsed as every agent:
/// errors are fine, panics are not.
#[test]
fn damaged_fixtures_never_panic() {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for name in ALL_FIXTURES {
        let bytes = fixture(name);
        for _ in 0..12 {
            let cut = (next_random(&mut state) as usize) % bytes.len();
            let mut damaged = bytes[..cut].to_vec();
            for _ in 0..8 {
                if !damaged.is_empty() {
                    let at = (next_random(&mut state) as usize) % damaged.len();
                    damaged[at] = next_random(&mut state) as u8;
                }
            }
            let _ = detect(&damaged);
            let _ = parse(&damaged, None, &SourceHints::default());
            for agent in Agent::ALL {
                let _ = parse(&damaged, Some(agent), &SourceHints::default());
            }
        }
    }
}

#[test]
fn records_of_unknown_kinds_are_skipped_and_counted() {
    let lines = [
        r#"{"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","message":{"role":"user","content":"hi"},"uuid":"u1","timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"type":"worktree-state","sessionId":"s1","state":{}}"#,
        r#"{"parentUuid":"u1","isSidechain":false,"cwd":"/p","sessionId":"s1","type":"progress","data":{"type":"bash_progress"},"uuid":"p1","timestamp":"2026-01-01T00:00:01Z"}"#,
        r#"{"parentUuid":"u1","isSidechain":false,"cwd":"/p","sessionId":"s1","type":"assistant","uuid":"a1","timestamp":"2026-01-01T00:00:02Z","message":{"role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"hello"},{"type":"future_block"}]}}"#,
        r#"{"parentUuid":"a1","isSidechain":false,"cwd":"/p","sessionId":"s1","type":"system","subtype":"local_command","content":"<local-command-stdout>ok</local-command-stdout>","uuid":"y1","timestamp":"2026-01-01T00:00:03Z"}"#,
        "[1, 2, 3]",
    ]
    .join("\n");
    let parsed = parse_text(&lines, None);
    assert_eq!(
        texts(&parsed),
        vec![
            (Role::User, "hi"),
            (Role::Assistant, "hello"),
            (
                Role::System,
                "<local-command-stdout>ok</local-command-stdout>"
            )
        ]
    );
    assert_eq!(
        parsed.skipped, 4,
        "worktree-state, progress, thinking, future_block"
    );
    assert_eq!(
        parsed.errors.len(),
        1,
        "the array line: {:?}",
        parsed.errors
    );
    assert_eq!(
        parsed.messages[1].uid, "a1",
        "one message from the record keeps the bare uuid"
    );
    assert!(parsed.messages[2].injected);
}

#[test]
fn one_record_with_several_blocks_gets_a_uid_per_block() {
    let record = serde_json::json!({"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","uuid":"u1",
        "timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"one"},{"type":"image","source":{}}]},
            {"type":"tool_result","tool_use_id":"t2","content":"two","is_error":true},
            {"type":"text","text":"and a note"},
            {"type":"image","source":{}}]}});
    let parsed = parse_text(&record.to_string(), None);
    let uids: Vec<&str> = parsed
        .messages
        .iter()
        .map(|message| message.uid.as_str())
        .collect();
    assert_eq!(uids, vec!["u1#0", "u1#1", "u1#2"]);
    assert_eq!(
        texts(&parsed),
        vec![
            (Role::Tool, "one\n[image]"),
            (Role::Tool, "two"),
            (Role::User, "and a note\n[image]")
        ]
    );
}

#[test]
fn lone_surrogates_do_not_cost_the_record() {
    // JSON.stringify writes a cut emoji as a lone surrogate escape, which
    // strict parsers refuse.
    let claude = r#"{"parentUuid":null,"isSidechain":false,"cwd":"/p","sessionId":"s1","type":"user","uuid":"u1","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"cut \ud83d emoji"}}"#;
    assert_eq!(
        texts(&parse_text(claude, None)),
        vec![(Role::User, "cut \u{fffd} emoji")]
    );
    let gemini = "{\n  \"sessionId\": \"g\",\n  \"projectHash\": \"h\",\n  \"messages\": [{\"id\": \"m\", \"type\": \"user\", \"content\": \"x \\udc00\"}]\n}";
    assert_eq!(
        texts(&parse_text(gemini, None)),
        vec![(Role::User, "x \u{fffd}")]
    );
}

// ---------------------------------------------------------------------------
// Discovery.

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("test paths have a parent")).expect("creates folders");
    fs::write(path, bytes).expect("writes the file");
}

fn relative(root: &Path, found: &[Found]) -> Vec<String> {
    found
        .iter()
        .map(|found| {
            found
                .path
                .strip_prefix(root)
                .expect("found under root")
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

#[test]
fn discover_walks_the_claude_home_in_both_subagent_layouts() {
    let home = tempfile::tempdir().expect("temp dir");
    let root = home.path();
    let sid = "e9fb405b-169f-40eb-9396-7e75076f045d";
    let project = root.join("projects/-Users-User-repo-codemie-ai-codemie-code");
    write(&project.join(format!("{sid}.jsonl")), &fixture(CLAUDE_TURN));
    write(
        &project.join(format!("{sid}/subagents/agent-a485154.jsonl")),
        &fixture(CLAUDE_SUBAGENT),
    );
    write(
        &project.join(format!("{sid}/subagents/agent-a485154.meta.json")),
        br#"{"agentType":"general-purpose"}"#,
    );
    write(
        &project.join(format!(
            "{sid}/tool-results/toolu_bdrk_01CaTZ658VzFpoM9YptVLjGg.txt"
        )),
        b"the full output",
    );
    let old = root.join("projects/-tmp-private");
    write(
        &old.join("4c2ddfdc-b619-4525-8d03-1950fb1b0257.jsonl"),
        &fixture(CLAUDE_OLD_SESSION),
    );
    write(
        &old.join("agent-36541525.jsonl"),
        &fixture(CLAUDE_OLD_AGENT_1),
    );
    write(
        &root.join("history.jsonl"),
        br#"{"display":"hi","timestamp":1}"#,
    );

    let found = discover(Agent::Claude, root).expect("walks");
    // Sorted by path component by component: the session's folder sorts
    // before its `.jsonl`.
    assert_eq!(
        relative(root, &found),
        vec![
            format!(
                "projects/-Users-User-repo-codemie-ai-codemie-code/{sid}/subagents/agent-a485154.jsonl"
            ),
            format!("projects/-Users-User-repo-codemie-ai-codemie-code/{sid}.jsonl"),
            "projects/-tmp-private/4c2ddfdc-b619-4525-8d03-1950fb1b0257.jsonl".to_owned(),
            "projects/-tmp-private/agent-36541525.jsonl".to_owned(),
        ]
    );
    let spill_dir = project.join(sid).join("tool-results");
    assert_eq!(found[1].spill_dir.as_deref(), Some(spill_dir.as_path()));
    assert_eq!(
        found[0].spill_dir.as_deref(),
        Some(spill_dir.as_path()),
        "a subagent spills into its parent's folder"
    );
    assert_eq!(found[3].spill_dir, None);
    assert!(found.iter().all(|found| found.agent == Agent::Claude));

    // The subagent, parsed as the caller would, with its spill folder.
    let subagent = &found[0];
    let folder = subagent.spill_dir.clone().expect("has a spill folder");
    let spill = move |id: &str| fs::read_to_string(folder.join(format!("{id}.txt"))).ok();
    let hints = SourceHints {
        path: Some(&subagent.path),
        spill: Some(&spill),
        ..SourceHints::default()
    };
    let parsed = parse(&fs::read(&subagent.path).expect("reads"), None, &hints).expect("parses");
    assert_eq!(only_session(&parsed).id, format!("{sid}/a485154"));
    assert!(
        parsed
            .messages
            .iter()
            .any(|message| message.text == "the full output")
    );
}

#[test]
fn discover_walks_the_codex_home_and_prefers_plain_over_zstd() {
    let home = tempfile::tempdir().expect("temp dir");
    let root = home.path();
    let name = "rollout-2026-05-12T10-00-00-a1b2c3d4-e5f6-7890-abcd-ef1234567890";
    let day = root.join("sessions/2026/05/12");
    let turn = fixture(CODEX_TURN_2);
    let packed = zstd::encode_all(&turn[..], 3).expect("compresses");
    write(&day.join(format!("{name}.jsonl")), &turn);
    write(&day.join(format!("{name}.jsonl.zst")), &packed);
    write(&root.join("sessions/2026/05/11/rollout-2026-05-11T09-00-00-019e0000-0000-7000-8000-000000000000.jsonl.zst"), &packed);
    write(&root.join("archived_sessions/rollout-2026-01-01T00-00-00-019b0000-0000-7000-8000-000000000000.jsonl"), &turn);
    write(
        &root.join("sessions/rollout-2025-04-20-3f2c0d1e-aaaa-4bbb-8ccc-123456789abc.json"),
        br#"{"session":{"id":"x"},"items":[]}"#,
    );
    write(
        &root.join("sessions/2026/05/12/notes.txt"),
        b"not a rollout",
    );
    write(
        &root.join("history.jsonl"),
        br#"{"session_id":"x","ts":1,"text":"hi"}"#,
    );

    let found = discover(Agent::Codex, root).expect("walks");
    assert_eq!(
        relative(root, &found),
        vec![
            "archived_sessions/rollout-2026-01-01T00-00-00-019b0000-0000-7000-8000-000000000000.jsonl".to_owned(),
            "sessions/2026/05/11/rollout-2026-05-11T09-00-00-019e0000-0000-7000-8000-000000000000.jsonl.zst".to_owned(),
            format!("sessions/2026/05/12/{name}.jsonl"),
            "sessions/rollout-2025-04-20-3f2c0d1e-aaaa-4bbb-8ccc-123456789abc.json".to_owned(),
        ]
    );
    for found in &found {
        let hints = SourceHints {
            path: Some(&found.path),
            ..SourceHints::default()
        };
        let parsed = parse(&fs::read(&found.path).expect("reads"), None, &hints)
            .expect("every rollout parses");
        assert_eq!(parsed.agent, Agent::Codex);
    }
}

#[test]
fn discover_walks_the_gemini_home_with_project_roots() {
    let home = tempfile::tempdir().expect("temp dir");
    let root = home.path();
    let gemini = fixture(GEMINI_JSON);
    let chats = root.join("tmp/assistants/chats");
    write(
        &root.join("tmp/assistants/.project_root"),
        b"/Users/Jane_Smith/Documents/projects/epm-cdme/assistants\n",
    );
    write(
        &chats.join("session-2025-12-01T21-45-5b959dae.json"),
        &gemini,
    );
    // A legacy file converted to JSONL on resume: only the JSONL counts.
    write(
        &chats.join("session-2025-12-02T08-00-11111111.json"),
        &gemini,
    );
    write(&chats.join("session-2025-12-02T08-00-11111111.jsonl"), br#"{"sessionId":"11111111-x","projectHash":"h","startTime":"2025-12-02T08:00:00Z","lastUpdated":"2025-12-02T08:00:00Z"}"#);
    write(&chats.join("5b959dae-8655-4cd1-b10f-720b8c336ea2/child-1.jsonl"), br#"{"sessionId":"child-1","projectHash":"h","startTime":"2025-12-02T08:00:00Z","lastUpdated":"2025-12-02T08:00:00Z","kind":"subagent"}"#);
    write(&root.join("tmp/assistants/logs.json"), b"[]");
    // A slug folder without .project_root, named in projects.json.
    write(
        &root.join("projects.json"),
        br#"{"projects":{"/home/me/other":"other"}}"#,
    );
    write(&root.join("tmp/other/chats/session-2026-05-01T10-00-22222222.jsonl"), br#"{"sessionId":"22222222-x","projectHash":"h","startTime":"2026-05-01T10:00:00Z","lastUpdated":"2026-05-01T10:00:00Z"}"#);

    let found = discover(Agent::Gemini, root).expect("walks");
    assert_eq!(
        relative(root, &found),
        vec![
            "tmp/assistants/chats/5b959dae-8655-4cd1-b10f-720b8c336ea2/child-1.jsonl",
            "tmp/assistants/chats/session-2025-12-01T21-45-5b959dae.json",
            "tmp/assistants/chats/session-2025-12-02T08-00-11111111.jsonl",
            "tmp/other/chats/session-2026-05-01T10-00-22222222.jsonl",
        ]
    );
    let roots: Vec<Option<&str>> = found
        .iter()
        .map(|found| found.project_root.as_deref())
        .collect();
    let assistants = Some("/Users/Jane_Smith/Documents/projects/epm-cdme/assistants");
    assert_eq!(
        roots,
        vec![assistants, assistants, assistants, Some("/home/me/other")]
    );

    let child = &found[0];
    let hints = SourceHints {
        path: Some(&child.path),
        project_root: child.project_root.as_deref(),
        ..SourceHints::default()
    };
    let parsed = parse(&fs::read(&child.path).expect("reads"), None, &hints).expect("parses");
    let session = only_session(&parsed);
    assert_eq!(
        session.parent.as_deref(),
        Some("5b959dae-8655-4cd1-b10f-720b8c336ea2")
    );
    assert_eq!(session.project.as_deref(), assistants);
}

/// A plain folder with sessions of every agent and junk: discovery keeps what
/// each agent wrote, and parsing every file gives a clear answer.
#[test]
fn discover_and_parse_a_folder_of_mixed_junk() {
    let folder = tempfile::tempdir().expect("temp dir");
    let root = folder.path();
    write(&root.join("claude.jsonl"), &fixture(CLAUDE_SHORT));
    write(
        &root.join("nested/deeper/subagent.jsonl"),
        &fixture(CLAUDE_OLD_AGENT_2),
    );
    write(
        &root.join("codex.jsonl.zst"),
        &zstd::encode_all(&fixture(CODEX_TURN_1)[..], 3).expect("compresses"),
    );
    write(&root.join("gemini.json"), &fixture(GEMINI_JSON));
    write(
        &root.join("package.json"),
        br#"{"name":"x","version":"1.0.0"}"#,
    );
    write(&root.join("garbage.jsonl"), &pseudo_random_bytes(4096, 3));
    write(&root.join("empty.jsonl"), b"");
    write(&root.join("torn.json"), &fixture(GEMINI_JSON)[..1000]);
    write(&root.join("notes.txt"), b"{\"parentUuid\":null}");

    let claude = discover(Agent::Claude, root).expect("walks");
    assert_eq!(
        relative(root, &claude),
        vec!["claude.jsonl", "nested/deeper/subagent.jsonl"]
    );
    assert_eq!(
        relative(root, &discover(Agent::Codex, root).expect("walks")),
        vec!["codex.jsonl.zst"]
    );
    // The torn Gemini document is still recognisably Gemini; parsing refuses it.
    assert_eq!(
        relative(root, &discover(Agent::Gemini, root).expect("walks")),
        vec!["gemini.json", "torn.json"]
    );
    assert_eq!(
        discover(Agent::Codex, &root.join("claude.jsonl"))
            .expect("a file")
            .len(),
        0
    );
    assert_eq!(
        discover(Agent::Claude, &root.join("claude.jsonl"))
            .expect("a file")
            .len(),
        1
    );
    assert!(discover(Agent::Claude, &root.join("missing")).is_err());

    let mut outcomes = Vec::new();
    for name in [
        "claude.jsonl",
        "codex.jsonl.zst",
        "gemini.json",
        "package.json",
        "garbage.jsonl",
        "empty.jsonl",
        "torn.json",
        "notes.txt",
    ] {
        let path = root.join(name);
        let hints = SourceHints {
            path: Some(&path),
            ..SourceHints::default()
        };
        let outcome = match parse(&fs::read(&path).expect("reads"), None, &hints) {
            Ok(parsed) => format!("{} {} messages", parsed.agent, parsed.messages.len()),
            Err(ImportError::Empty) => "empty".to_owned(),
            Err(ImportError::NotASession(_)) => "not a session".to_owned(),
            Err(error) => error.to_string(),
        };
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes,
        vec![
            "claude 15 messages",
            "codex 4 messages",
            "gemini 26 messages",
            "not a session",
            "not a session",
            "empty",
            "not a session",
            "claude 0 messages",
        ]
    );
}

// ---------------------------------------------------------------------------

fn next_random(state: &mut u64) -> u64 {
    // xorshift64: deterministic, dependency-free noise.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len).map(|_| next_random(&mut state) as u8).collect()
}

/// Gemini CLI rewrites a resumed session's history (`$set messages`): its
/// calls become content parts of the model's message and their results
/// functionResponse parts of user messages, sent twice, as the model saw
/// them. The import keeps every call and result once, with the full output
/// the records before the rewrite held (Gemini CLI 0.61, a real log's
/// shape).
#[test]
fn a_resumed_gemini_history_keeps_its_calls_once_with_their_full_output() {
    let id = "run_shell_command__run_shell_command_1796386817099_0";
    let full: String = (1..=3000).map(|n| format!("{n}\n")).collect();
    let seen = "Output too large. Showing first 8,000 and last 32,000 characters.";
    let response = serde_json::json!({"functionResponse": {"id": id, "name": "run_shell_command", "response": {"output": seen}}});
    let log = [
        serde_json::json!({"sessionId": "g-5", "projectHash": "abc", "startTime": "2026-06-01T10:00:00.000Z", "lastUpdated": "2026-06-01T10:00:00.000Z", "kind": "main"}),
        serde_json::json!({"id": "u1", "timestamp": "2026-06-01T10:00:01.000Z", "type": "user", "content": [{"text": "big output"}]}),
        serde_json::json!({"id": "m1", "timestamp": "2026-06-01T10:00:02.000Z", "type": "gemini", "content": "",
            "toolCalls": [{"id": id, "name": "run_shell_command", "args": {"command": "seq 1 3000"},
                           "result": [response], "status": "success", "resultDisplay": full}]}),
        serde_json::json!({"id": "u2", "timestamp": "2026-06-01T10:00:03.000Z", "type": "user", "content": [response]}),
        serde_json::json!({"id": "m2", "timestamp": "2026-06-01T10:00:04.000Z", "type": "gemini", "content": "done"}),
        // The resume: the same history, rewritten under the same ids, the
        // result once more in a `<id>_response` message.
        serde_json::json!({"$set": {"messages": [
            {"id": "u1", "type": "user", "content": [{"text": "big output"}]},
            {"id": "m1", "type": "gemini", "content": [{"functionCall": {"id": id, "name": "run_shell_command", "args": {"command": "seq 1 3000"}}}]},
            {"id": "m1_response", "type": "user", "content": [response]},
            {"id": "u2", "type": "user", "content": [response]},
            {"id": "m2", "type": "gemini", "content": [{"text": "done"}]},
        ]}}),
        serde_json::json!({"id": "u3", "timestamp": "2026-06-01T10:01:00.000Z", "type": "user", "content": [{"text": "second turn"}]}),
    ]
    .iter()
    .map(|record| record.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let parsed = parse_text(&log, None);
    let calls: Vec<&str> = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::Assistant && message.tool.is_some())
        .filter_map(|message| message.call_id.as_deref())
        .collect();
    assert_eq!(calls, [id], "the call, once");
    let results: Vec<&str> = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::Tool)
        .map(|message| message.text.as_str())
        .collect();
    assert_eq!(results, [full.as_str()], "its result, once, whole");
    let prompts: Vec<&str> = parsed
        .messages
        .iter()
        .filter(|message| message.role == Role::User && !message.injected)
        .map(|message| message.text.as_str())
        .collect();
    assert_eq!(prompts, ["big output", "second turn"]);
    // Before the resume, the same call and result had the same uids: a file
    // imported before and after it holds each once.
    let before = parse_text(&log.lines().take(5).collect::<Vec<_>>().join("\n"), None);
    let uids = |parsed: &cairn_sessions::Parsed| {
        parsed
            .messages
            .iter()
            .filter(|message| message.call_id.is_some())
            .map(|message| message.uid.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(&before), uids(&parsed));
}
