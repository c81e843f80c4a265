//! Finding session files: each agent's home folder layout, or any folder of
//! session files. The only I/O of this crate (directory listings, a bounded
//! prefix of candidate files, and Gemini's small project-root files).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::output::file_stem;
use crate::{Agent, detect};

/// A session file to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub agent: Agent,
    /// Gemini: the real project path, from `<tmp>/<projectId>/.project_root`
    /// or `~/.gemini/projects.json` (pass it as [`crate::SourceHints::project_root`]).
    pub project_root: Option<String>,
    /// Claude: `<project>/<sessionId>/tool-results`, where large tool results
    /// are spilled (it may not exist).
    pub spill_dir: Option<PathBuf>,
}

/// How deep any walk goes; session layouts are at most a few levels deep,
/// and this bounds a walk into something unexpected.
const MAX_DEPTH: usize = 16;

/// How much of a file [`detect`] sees when walking a plain folder.
const DETECT_PREFIX_BYTES: u64 = 256 * 1024;

/// The session files under `root`, sorted by path.
///
/// `root` is an agent's home folder (`~/.claude` with `projects/`, `~/.codex`
/// with `sessions/` or `archived_sessions/`, `~/.gemini` with `tmp/`), or any
/// folder, walked recursively for `*.jsonl`, `*.json` and `*.jsonl.zst` files
/// that [`detect`] says `agent` wrote (or a single such file). Directory
/// symlinks are not followed; unreadable subfolders are passed over. Gemini
/// may keep a session in both a hash and a slug project folder (a migration
/// copies them): deduplicating by session id is the caller's job.
pub fn discover(agent: Agent, root: &Path) -> io::Result<Vec<Found>> {
    let metadata = fs::metadata(root)?;
    let mut found = if metadata.is_file() {
        detected(agent, root).into_iter().collect()
    } else {
        match agent {
            Agent::Claude if root.join("projects").is_dir() => {
                claude_layout(&root.join("projects"))
            }
            Agent::Codex
                if root.join("sessions").is_dir() || root.join("archived_sessions").is_dir() =>
            {
                codex_layout(root)
            }
            Agent::Gemini if root.join("tmp").is_dir() => gemini_layout(root),
            _ => any_folder(agent, root),
        }
    };
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

/// `projects/<p>/<sessionId>.jsonl`, `projects/<p>/agent-<id>.jsonl` (before
/// 2.1.2) and `projects/<p>/<sessionId>/subagents/**/agent-<id>.jsonl`.
fn claude_layout(projects: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for project in subfolders(projects) {
        for file in files(&project) {
            if has_name(&file, |name| name.ends_with(".jsonl")) {
                found.push(claude_found(file));
            }
        }
        for session in subfolders(&project) {
            walk(&session.join("subagents"), 0, &mut |file| {
                if has_name(file, |name| {
                    name.starts_with("agent-") && name.ends_with(".jsonl")
                }) {
                    found.push(claude_found(file.to_path_buf()));
                }
            });
        }
    }
    found
}

fn claude_found(path: PathBuf) -> Found {
    let spill_dir = claude_spill_dir(&path);
    Found {
        path,
        agent: Agent::Claude,
        project_root: None,
        spill_dir,
    }
}

/// A session's spill folder is `<sessionId>/tool-results` beside its
/// transcript; a subagent shares its parent's. Old-layout subagents
/// (`agent-<id>.jsonl` beside the session) predate spilling.
fn claude_spill_dir(path: &Path) -> Option<PathBuf> {
    let stem = file_stem(path)?;
    if !stem.starts_with("agent-") {
        return Some(path.parent()?.join(stem).join("tool-results"));
    }
    let session = path
        .ancestors()
        .find(|folder| folder.file_name().is_some_and(|name| name == "subagents"))?
        .parent()?;
    Some(session.join("tool-results"))
}

/// `sessions/YYYY/MM/DD/rollout-*.jsonl[.zst]`, `archived_sessions/`, and the
/// TypeScript CLI's `sessions/rollout-*.json`. A plain `.jsonl` takes
/// precedence over a compressed sibling, as in Codex itself.
fn codex_layout(root: &Path) -> Vec<Found> {
    let mut paths = Vec::new();
    for base in ["sessions", "archived_sessions"] {
        walk(&root.join(base), 0, &mut |file| {
            let rollout = |name: &str| {
                name.starts_with("rollout-")
                    && (name.ends_with(".jsonl")
                        || name.ends_with(".jsonl.zst")
                        || name.ends_with(".json"))
            };
            if has_name(file, rollout) {
                paths.push(file.to_path_buf());
            }
        });
    }
    let plain: HashSet<PathBuf> = paths
        .iter()
        .filter(|path| has_name(path, |name| name.ends_with(".jsonl")))
        .cloned()
        .collect();
    paths
        .into_iter()
        .filter(|path| {
            path.extension().is_none_or(|ext| ext != "zst")
                || !plain.contains(&path.with_extension(""))
        })
        .map(|path| Found {
            path,
            agent: Agent::Codex,
            project_root: None,
            spill_dir: None,
        })
        .collect()
}

/// `tmp/<projectId>/chats/session-*.json[l]` and subagent chats in
/// `tmp/<projectId>/chats/<parentSessionId>/*.jsonl`. A legacy `.json` that
/// was converted to `.jsonl` on resume (and left in place) is dropped.
fn gemini_layout(root: &Path) -> Vec<Found> {
    let mut roots = GeminiRoots::default();
    let mut found = Vec::new();
    for project in subfolders(&root.join("tmp")) {
        let chats = project.join("chats");
        let project_root = roots.of_project_folder(&project);
        let mut push = |path: PathBuf| {
            found.push(Found {
                path,
                agent: Agent::Gemini,
                project_root: project_root.clone(),
                spill_dir: None,
            });
        };
        let sessions: Vec<PathBuf> = files(&chats)
            .into_iter()
            .filter(|file| {
                has_name(file, |name| {
                    name.starts_with("session-")
                        && (name.ends_with(".json") || name.ends_with(".jsonl"))
                })
            })
            .collect();
        for session in &sessions {
            let converted = session.with_extension("jsonl");
            let is_json = session.extension().is_some_and(|ext| ext == "json");
            if !(is_json && sessions.contains(&converted)) {
                push(session.clone());
            }
        }
        for parent in subfolders(&chats) {
            for file in files(&parent) {
                if has_name(&file, |name| name.ends_with(".jsonl")) {
                    push(file);
                }
            }
        }
    }
    found
}

/// Any folder: every candidate file that [`detect`] attributes to `agent`.
fn any_folder(agent: Agent, root: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    walk(root, 0, &mut |file| {
        let candidate = |name: &str| {
            name.ends_with(".jsonl") || name.ends_with(".json") || name.ends_with(".jsonl.zst")
        };
        if has_name(file, candidate) {
            found.extend(detected(agent, file));
        }
    });
    found
}

/// `path` as a [`Found`] when its first bytes look like `agent`'s.
fn detected(agent: Agent, path: &Path) -> Option<Found> {
    let mut prefix = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(DETECT_PREFIX_BYTES)
        .read_to_end(&mut prefix)
        .ok()?;
    if detect(&prefix)? != agent {
        return None;
    }
    let (project_root, spill_dir) = match agent {
        Agent::Claude => (None, claude_spill_dir(path)),
        Agent::Codex => (None, None),
        Agent::Gemini => (GeminiRoots::default().of_chat_file(path), None),
    };
    Some(Found {
        path: path.to_path_buf(),
        agent,
        project_root,
        spill_dir,
    })
}

/// Gemini project folders to real project paths, with `projects.json` read
/// once per Gemini home.
#[derive(Default)]
struct GeminiRoots {
    registries: HashMap<PathBuf, HashMap<String, String>>,
}

impl GeminiRoots {
    /// `<tmp>/<projectId>/.project_root`, else the slug's entry in
    /// `<home>/projects.json` (`{"projects": {"/abs/path": "slug"}}`).
    fn of_project_folder(&mut self, project: &Path) -> Option<String> {
        if let Ok(text) = fs::read_to_string(project.join(".project_root")) {
            let text = text.trim();
            if !text.is_empty() {
                return Some(text.to_owned());
            }
        }
        let slug = project.file_name()?.to_str()?;
        let home = project.parent()?.parent()?;
        let registry = self
            .registries
            .entry(home.to_path_buf())
            .or_insert_with(|| read_registry(home));
        registry.get(slug).cloned()
    }

    /// The project root of a chat file under `<projectId>/chats/`.
    fn of_chat_file(&mut self, path: &Path) -> Option<String> {
        let chats = path
            .ancestors()
            .find(|folder| folder.file_name().is_some_and(|name| name == "chats"))?;
        self.of_project_folder(chats.parent()?)
    }
}

/// `projects.json` as slug → path.
fn read_registry(home: &Path) -> HashMap<String, String> {
    let Ok(text) = fs::read(home.join("projects.json")) else {
        return HashMap::new();
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    let Some(projects) = value.get("projects").and_then(serde_json::Value::as_object) else {
        return HashMap::new();
    };
    projects
        .iter()
        .filter_map(|(path, slug)| Some((slug.as_str()?.to_owned(), path.clone())))
        .collect()
}

fn has_name(path: &Path, test: impl Fn(&str) -> bool) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(test)
}

/// The entries of a folder that are (or link to) files / real folders.
fn entries(folder: &Path) -> Vec<(PathBuf, bool)> {
    let Ok(listing) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut entries: Vec<(PathBuf, bool)> = listing
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let kind = entry.file_type().ok()?;
            let path = entry.path();
            if kind.is_dir() {
                Some((path, true))
            } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
                Some((path, false))
            } else {
                None
            }
        })
        .collect();
    entries.sort();
    entries
}

fn files(folder: &Path) -> Vec<PathBuf> {
    entries(folder)
        .into_iter()
        .filter(|(_, is_dir)| !is_dir)
        .map(|(path, _)| path)
        .collect()
}

fn subfolders(folder: &Path) -> Vec<PathBuf> {
    entries(folder)
        .into_iter()
        .filter(|(_, is_dir)| *is_dir)
        .map(|(path, _)| path)
        .collect()
}

/// Calls `visit` with every file under `folder`, depth first, in name order.
fn walk(folder: &Path, depth: usize, visit: &mut dyn FnMut(&Path)) {
    if depth > MAX_DEPTH {
        return;
    }
    for (path, is_dir) in entries(folder) {
        if is_dir {
            walk(&path, depth + 1, visit);
        } else {
            visit(&path);
        }
    }
}
