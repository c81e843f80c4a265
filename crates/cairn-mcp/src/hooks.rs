//! `cairn hooks install`: Cairn's hooks in the agents' own configuration, in
//! the shape each agent's code reads (checked against Claude Code 2.1,
//! Codex CLI 0.171 and Gemini CLI 0.61):
//!
//! - Claude Code: `hooks` in `settings.json` (`~/.claude/` or the
//!   project's `.claude/`); timeouts in seconds.
//! - Codex: `hooks.json` (`$CODEX_HOME` or the project's `.codex/`);
//!   timeouts in seconds. Codex runs a hook only once it is trusted: the
//!   trust a user would give in Codex's review is written for each of
//!   Cairn's hooks to `[hooks.state]` of the user's `config.toml`, as the
//!   SHA-256 of the hook's identity, the way Codex computes it.
//! - Gemini CLI: `hooks` in `settings.json` (`~/.gemini/` or the project's
//!   `.gemini/`); timeouts in milliseconds.
//!
//! The same care as [`crate::install`]: everything else in a file is kept in
//! its order, a changed file is first copied to `FILE.bak`, a file already
//! right is not written, and one that does not parse is never touched.
//! Installing again replaces Cairn's own hooks (found by their command) and
//! nothing else.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::install::{self, Agent, Homes, InstallError, Json, Scope};

/// How long an agent lets one of Cairn's hooks run, in seconds. The hook
/// itself gives up on the server well before (see `cairn hook`).
pub const TIMEOUT_SECONDS: u64 = 10;

/// The events Cairn hooks, per agent: the first starts a session (and gets
/// the briefing); the others capture the transcript as it grows. With the
/// matcher each needs, if any.
pub fn events(agent: Agent) -> &'static [(&'static str, Option<&'static str>)] {
    match agent {
        // A failed tool fires `PostToolUseFailure`, not `PostToolUse`.
        Agent::Claude => &[
            ("SessionStart", None),
            ("UserPromptSubmit", None),
            ("PostToolUse", Some("*")),
            ("PostToolUseFailure", Some("*")),
            ("Stop", None),
            ("SessionEnd", None),
        ],
        Agent::Codex => &[
            ("SessionStart", None),
            ("UserPromptSubmit", None),
            ("PostToolUse", Some("*")),
            ("Stop", None),
            ("SessionEnd", None),
        ],
        // Gemini writes a tool's call and result after `AfterTool`; the
        // next `AfterTool` or `AfterAgent` carries it.
        Agent::Gemini => &[
            ("SessionStart", None),
            ("AfterTool", Some("*")),
            ("AfterAgent", None),
            ("SessionEnd", None),
        ],
    }
}

/// The files `cairn hooks install` edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    pub agent: Agent,
    pub scope: Scope,
    /// Where the hooks go.
    pub path: PathBuf,
    /// Codex: the user's `config.toml`, where hook trust is kept.
    pub trust: Option<PathBuf>,
}

impl HookTarget {
    pub fn locate(agent: Agent, scope: Scope, homes: &Homes, project: &Path) -> HookTarget {
        let codex_home = || {
            homes
                .codex_home
                .clone()
                .unwrap_or_else(|| homes.home.join(".codex"))
        };
        let path = match (agent, scope) {
            (Agent::Claude, Scope::User) => homes
                .claude_config_dir
                .clone()
                .unwrap_or_else(|| homes.home.join(".claude"))
                .join("settings.json"),
            (Agent::Claude, Scope::Project) => project.join(".claude").join("settings.json"),
            (Agent::Codex, Scope::User) => codex_home().join("hooks.json"),
            (Agent::Codex, Scope::Project) => project.join(".codex").join("hooks.json"),
            (Agent::Gemini, Scope::User) => homes
                .gemini_cli_home
                .as_deref()
                .unwrap_or(&homes.home)
                .join(".gemini")
                .join("settings.json"),
            (Agent::Gemini, Scope::Project) => project.join(".gemini").join("settings.json"),
        };
        HookTarget {
            agent,
            scope,
            trust: (agent == Agent::Codex).then(|| codex_home().join("config.toml")),
            path,
        }
    }
}

/// A file as it would be written, for `--print`, or what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    /// The new text; `None` when the file is already right.
    pub text: Option<String>,
    /// Whether the file existed.
    pub existed: bool,
}

/// The changes installing Cairn's hooks makes: the hooks file, and for
/// Codex its trust in `config.toml`. The hook runs `PROGRAM hook AGENT
/// OPTIONS` (`/usr/bin/cairn hook claude --url …`).
pub fn plan(
    target: &HookTarget,
    program: &str,
    options: &str,
) -> Result<Vec<FileChange>, InstallError> {
    let command = format!("{program} hook {}{options}", agent_name(target.agent));
    let existing = install::read(&target.path)?;
    let (text, positions) = updated_hooks(target, &command, existing.as_deref())?;
    let mut changes = vec![FileChange {
        path: target.path.clone(),
        existed: existing.is_some(),
        text,
    }];
    if let Some(config) = &target.trust {
        let existing = install::read(config)?;
        let hooks_path = std::path::absolute(&target.path).unwrap_or_else(|_| target.path.clone());
        changes.push(FileChange {
            path: config.clone(),
            existed: existing.is_some(),
            text: updated_trust(
                config,
                &hooks_path,
                &command,
                &positions,
                existing.as_deref(),
            )?,
        });
    }
    Ok(changes)
}

/// Writes the changes [`plan`] made; each changed file's backup, if any.
pub fn apply(changes: &[FileChange]) -> Result<Vec<Option<PathBuf>>, InstallError> {
    changes
        .iter()
        .filter_map(|change| {
            change
                .text
                .as_ref()
                .map(|text| install::replace(&change.path, change.existed, text))
        })
        .collect()
}

fn agent_name(agent: Agent) -> &'static str {
    match agent {
        Agent::Claude => "claude",
        Agent::Codex => "codex",
        Agent::Gemini => "gemini",
    }
}

/// Whether a hook command is one of Cairn's for `agent`: its program is
/// named `cairn…` and it runs `hook AGENT`.
fn is_ours(command: &str, agent: Agent) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    let program = words
        .first()
        .map(|program| program.trim_matches(['"', '\'']))
        .and_then(|program| Path::new(program).file_name())
        .and_then(|name| name.to_str())
        .unwrap_or("");
    program.starts_with("cairn")
        && words
            .windows(2)
            .any(|pair| pair[0] == "hook" && pair[1] == agent_name(agent))
}

/// The timeout field's value in the agent's unit.
fn timeout(agent: Agent) -> u64 {
    match agent {
        Agent::Gemini => TIMEOUT_SECONDS * 1000,
        Agent::Claude | Agent::Codex => TIMEOUT_SECONDS,
    }
}

fn handler(agent: Agent, command: &str) -> Json {
    let mut fields = vec![
        ("type".to_owned(), Json::from("command")),
        ("command".to_owned(), Json::from(command)),
        (
            "timeout".to_owned(),
            Json::Number(serde_json::Number::from(timeout(agent))),
        ),
    ];
    if agent == Agent::Gemini {
        fields.push(("name".to_owned(), Json::from("cairn")));
    }
    Json::Object(fields)
}

/// The hooks file with Cairn's hooks (and no older ones of Cairn's), or
/// `None` when it already is so; and where each event's group of Cairn's
/// sits in its event's list (Codex's trust names it).
fn updated_hooks(
    target: &HookTarget,
    command: &str,
    existing: Option<&str>,
) -> Result<(Option<String>, Vec<usize>), InstallError> {
    let path = &target.path;
    let before = install::parse_json(path, existing)?;
    let mut document = before.clone();
    let Json::Object(fields) = &mut document else {
        return Err(InstallError::Unparsable {
            path: path.to_owned(),
            format: "a JSON object",
            reason: "the file holds another JSON value".into(),
        });
    };
    let not_a_table = || InstallError::NotATable {
        path: path.to_owned(),
        key: "hooks",
    };
    if !fields.iter().any(|(key, _)| key == "hooks") {
        fields.push(("hooks".to_owned(), Json::Object(Vec::new())));
    }
    let Some((_, Json::Object(hooks))) = fields.iter_mut().find(|(key, _)| key == "hooks") else {
        return Err(not_a_table());
    };
    let mut positions = Vec::new();
    for (event, matcher) in events(target.agent) {
        if !hooks.iter().any(|(key, _)| key == event) {
            hooks.push(((*event).to_owned(), Json::Array(Vec::new())));
        }
        let Some((_, Json::Array(groups))) = hooks.iter_mut().find(|(key, _)| key == event) else {
            return Err(not_a_table());
        };
        // Cairn's earlier hooks go; a group left empty by that goes too.
        for group in groups.iter_mut() {
            if let Json::Object(group) = group
                && let Some((_, Json::Array(handlers))) =
                    group.iter_mut().find(|(key, _)| key == "hooks")
            {
                handlers.retain(|handler| {
                    !matches!(handler, Json::Object(handler)
                        if handler.iter().any(|(key, value)| key == "command"
                            && matches!(value, Json::String(command) if is_ours(command, target.agent))))
                });
            }
        }
        groups.retain(|group| match group {
            Json::Object(group) => !group.iter().any(|(key, value)| {
                key == "hooks" && matches!(value, Json::Array(handlers) if handlers.is_empty())
            }),
            _ => true,
        });
        let mut group = Vec::new();
        if let Some(matcher) = matcher {
            group.push(("matcher".to_owned(), Json::from(*matcher)));
        }
        group.push((
            "hooks".to_owned(),
            Json::Array(vec![handler(target.agent, command)]),
        ));
        positions.push(groups.len());
        groups.push(Json::Object(group));
    }
    if document == before {
        return Ok((None, positions));
    }
    let mut text = serde_json::to_string_pretty(&document).map_err(|error| {
        InstallError::Unsupported(format!("cannot render {}: {error}", path.display()))
    })?;
    text.push('\n');
    Ok((Some(text), positions))
}

/// Codex's name for an event in its trust keys: `SessionStart` →
/// `session_start`.
fn snake(event: &str) -> String {
    let mut out = String::new();
    for (index, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The hash Codex trusts a hook by: SHA-256 over the compact JSON, keys
/// sorted, of `{"event_name", "hooks": [handler], "matcher"?}`, the handler
/// with `async` false and its timeout.
pub fn codex_trust_hash(event: &str, matcher: Option<&str>, command: &str) -> String {
    // Keys written in sorted order, by hand: the crate's map type may keep
    // insertion order.
    let handler = format!(
        "{{\"async\":false,\"command\":{},\"timeout\":{},\"type\":\"command\"}}",
        serde_json::Value::String(command.to_owned()),
        TIMEOUT_SECONDS
    );
    let identity = match matcher {
        Some(matcher) => format!(
            "{{\"event_name\":{},\"hooks\":[{handler}],\"matcher\":{}}}",
            serde_json::Value::String(snake(event)),
            serde_json::Value::String(matcher.to_owned())
        ),
        None => format!(
            "{{\"event_name\":{},\"hooks\":[{handler}]}}",
            serde_json::Value::String(snake(event))
        ),
    };
    let digest = sha2::Sha256::digest(identity.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// The user's Codex `config.toml` trusting each of Cairn's hooks at its
/// place in `hooks_path`, or `None` when it already does.
fn updated_trust(
    path: &Path,
    hooks_path: &Path,
    command: &str,
    positions: &[usize],
    existing: Option<&str>,
) -> Result<Option<String>, InstallError> {
    let mut document = install::parse_toml(path, existing)?;
    let not_a_table = || InstallError::NotATable {
        path: path.to_owned(),
        key: "hooks.state",
    };
    let implicit = || {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    };
    let hooks = document
        .entry("hooks")
        .or_insert_with(implicit)
        .as_table_like_mut()
        .ok_or_else(not_a_table)?;
    let state = hooks
        .entry("state")
        .or_insert_with(implicit)
        .as_table_like_mut()
        .ok_or_else(not_a_table)?;
    let mut changed = false;
    for ((event, matcher), group) in events(Agent::Codex).iter().zip(positions) {
        let key = format!("{}:{}:{group}:0", hooks_path.display(), snake(event));
        let hash = codex_trust_hash(event, *matcher, command);
        let entry = state.entry(&key).or_insert_with(|| {
            changed = true;
            toml_edit::Item::Table(toml_edit::Table::new())
        });
        let entry = entry.as_table_like_mut().ok_or_else(not_a_table)?;
        if entry.get("trusted_hash").and_then(|item| item.as_str()) != Some(hash.as_str()) {
            entry.insert("trusted_hash", toml_edit::value(hash));
            changed = true;
        }
    }
    Ok(changed.then(|| document.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn homes(root: &Path) -> Homes {
        Homes {
            home: root.to_owned(),
            claude_config_dir: None,
            codex_home: None,
            gemini_cli_home: None,
        }
    }

    #[test]
    fn the_trust_hash_is_the_one_codex_computes() {
        // Computed the way Codex 0.171 does (and checked against a run of
        // it): sha256 of {"event_name":"session_start","hooks":[{"async":
        // false,"command":"/x/cairn hook codex","timeout":10,"type":
        // "command"}]}.
        let identity = r#"{"event_name":"session_start","hooks":[{"async":false,"command":"/x/cairn hook codex","timeout":10,"type":"command"}]}"#;
        let expected: String = sha2::Sha256::digest(identity.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(
            codex_trust_hash("SessionStart", None, "/x/cairn hook codex"),
            format!("sha256:{expected}")
        );
        assert_eq!(snake("UserPromptSubmit"), "user_prompt_submit");
    }

    #[test]
    fn installing_keeps_other_hooks_replaces_ours_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let target = HookTarget::locate(Agent::Claude, Scope::User, &homes(dir.path()), dir.path());
        std::fs::create_dir_all(target.path.parent().expect("a parent")).expect("a folder");
        std::fs::write(
            &target.path,
            r#"{"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]},
               {"hooks": [{"type": "command", "command": "/old/cairn hook claude"}]}]}}"#,
        )
        .expect("a settings file");
        let changes = plan(&target, "/new/cairn", "").expect("a plan");
        apply(&changes).expect("written");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&target.path).expect("read"))
                .expect("JSON");
        assert_eq!(written["model"], "opus");
        let stop = written["hooks"]["Stop"].as_array().expect("a list");
        assert_eq!(stop.len(), 2, "{stop:?}");
        assert_eq!(stop[0]["hooks"][0]["command"], "notify-send done");
        assert_eq!(stop[1]["hooks"][0]["command"], "/new/cairn hook claude");
        assert_eq!(
            written["hooks"]["PostToolUse"][0]["matcher"], "*",
            "{written}"
        );
        assert!(install::backup_path(&target.path).exists());
        let again = plan(&target, "/new/cairn", "").expect("a plan");
        assert!(
            again.iter().all(|change| change.text.is_none()),
            "{again:?}"
        );
    }

    #[test]
    fn codex_hooks_are_trusted_where_they_sit() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let target = HookTarget::locate(Agent::Codex, Scope::User, &homes(dir.path()), dir.path());
        let changes = plan(&target, "cairn", "").expect("a plan");
        apply(&changes).expect("written");
        let config = std::fs::read_to_string(dir.path().join(".codex/config.toml")).expect("read");
        let key = format!(
            "{}:session_start:0:0",
            std::path::absolute(dir.path().join(".codex/hooks.json"))
                .expect("absolute")
                .display()
        );
        let parsed: toml_edit::DocumentMut = config.parse().expect("TOML");
        assert_eq!(
            parsed["hooks"]["state"][key.as_str()]["trusted_hash"].as_str(),
            Some(codex_trust_hash("SessionStart", None, "cairn hook codex").as_str()),
            "{config}"
        );
        assert!(
            plan(&target, "cairn", "")
                .expect("a plan")
                .iter()
                .all(|change| change.text.is_none())
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_left_alone() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let target = HookTarget::locate(
            Agent::Gemini,
            Scope::Project,
            &homes(dir.path()),
            dir.path(),
        );
        std::fs::create_dir_all(target.path.parent().expect("a parent")).expect("a folder");
        std::fs::write(&target.path, "{ not json").expect("written");
        let error = plan(&target, "cairn", "").expect_err("refused");
        assert!(matches!(error, InstallError::Unparsable { .. }), "{error}");
        assert_eq!(
            std::fs::read_to_string(&target.path).expect("read"),
            "{ not json"
        );
    }
}
