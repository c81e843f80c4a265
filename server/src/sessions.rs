//! `cairn import`, `cairn search` and `cairn reindex`: sessions from the
//! agents' own folders into the data directory, and search over them.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use cairn_service::{Cairn, ImportSource, IndexProgress};
use cairn_sessions::{Agent, Found};
use cairn_types::TenantId;

/// Largest session file imported (a bigger one is reported and skipped).
const MAX_FILE_BYTES: u64 = 2 << 30;
/// How often `--watch` looks for changed files.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// The folder an agent keeps its sessions under, from its environment
/// variables or the home directory.
pub fn default_root(agent: Agent) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match agent {
        Agent::Claude => std::env::var_os("CLAUDE_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| home.map(|home| home.join(".claude"))),
        Agent::Codex => std::env::var_os("CODEX_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|home| home.join(".codex"))),
        Agent::Gemini => std::env::var_os("GEMINI_CLI_HOME")
            .map(|root| PathBuf::from(root).join(".gemini"))
            .or_else(|| home.map(|home| home.join(".gemini"))),
    }
}

/// What an import run did, in all.
#[derive(Debug, Default, serde::Serialize)]
pub struct Totals {
    pub files: u64,
    pub sessions: u64,
    pub messages: u64,
    pub replaced: u64,
    pub skipped: u64,
    /// Files that could not be imported, and lines that could not be read.
    pub errors: Vec<String>,
}

/// A progress line on standard error, redrawn in place on a terminal and
/// silent otherwise.
#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    total: u64,
    shown: bool,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Progress {
        Progress {
            what,
            total,
            shown: std::io::stderr().is_terminal(),
        }
    }

    pub fn set(&self, done: u64) {
        if !self.shown {
            return;
        }
        let total = self.total.max(done).max(1);
        let width = 30;
        let filled = (done * width / total) as usize;
        let bar: String = "=".repeat(filled) + &" ".repeat(width as usize - filled);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r[{bar}] {done}/{total} {}", self.what);
        let _ = stderr.flush();
    }

    pub fn finish(&self) {
        if self.shown {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// The session files of `agents` under `path` (or each agent's own folder).
pub fn find(agents: &[Agent], path: Option<&Path>) -> anyhow::Result<Vec<Found>> {
    let mut found = Vec::new();
    for &agent in agents {
        let root = match path {
            Some(path) => path.to_path_buf(),
            None => match default_root(agent) {
                Some(root) if root.exists() => root,
                _ => continue,
            },
        };
        if !root.exists() {
            anyhow::bail!("{} does not exist", root.display());
        }
        let files = cairn_sessions::discover(agent, &root)
            .with_context(|| format!("cannot read {}", root.display()))?;
        found.extend(files);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

/// Imports `files` into `cairn`, adding what each did to `totals`.
pub async fn import_files(
    cairn: &Cairn,
    tenant: &TenantId,
    files: &[Found],
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let progress = Progress::new("files", files.len() as u64);
    for (done, file) in files.iter().enumerate() {
        progress.set(done as u64);
        match import_file(cairn, tenant, file).await {
            Ok(report) => {
                totals.files += 1;
                totals.sessions += report.sessions;
                totals.messages += report.messages;
                totals.replaced += report.replaced;
                totals.skipped += report.skipped;
                totals.errors.extend(report.errors.into_iter().map(|error| {
                    format!(
                        "{}: line {}: {}",
                        file.path.display(),
                        error.line,
                        error.message
                    )
                }));
            }
            Err(error) => totals
                .errors
                .push(format!("{}: {error:#}", file.path.display())),
        }
    }
    progress.set(files.len() as u64);
    progress.finish();
    Ok(())
}

async fn import_file(
    cairn: &Cairn,
    tenant: &TenantId,
    file: &Found,
) -> anyhow::Result<cairn_types::ImportReport> {
    let size = std::fs::metadata(&file.path)?.len();
    if size > MAX_FILE_BYTES {
        anyhow::bail!("{size} bytes is over the {MAX_FILE_BYTES}-byte limit");
    }
    let content = tokio::fs::read(&file.path).await?.into();
    let source = ImportSource {
        path: Some(file.path.clone()),
        project_root: file.project_root.clone(),
        spill_dir: file.spill_dir.clone(),
        max_decompressed: None,
    };
    Ok(cairn
        .import_session(tenant, content, Some(file.agent.as_str()), source)
        .await?)
}

/// Follows the folders: imports every file that is new or changed since the
/// last look, until interrupted. Each round's totals are printed as a line
/// of JSON.
pub async fn watch(
    cairn: &Cairn,
    tenant: &TenantId,
    agents: &[Agent],
    path: Option<&Path>,
) -> anyhow::Result<()> {
    let mut seen: HashMap<PathBuf, (u64, Option<SystemTime>)> = HashMap::new();
    loop {
        let files = find(agents, path)?;
        let changed: Vec<Found> = files
            .into_iter()
            .filter(|file| {
                let meta = std::fs::metadata(&file.path).ok();
                let stamp = (
                    meta.as_ref().map_or(0, std::fs::Metadata::len),
                    meta.and_then(|meta| meta.modified().ok()),
                );
                seen.insert(file.path.clone(), stamp) != Some(stamp)
            })
            .collect();
        if !changed.is_empty() {
            let mut totals = Totals::default();
            import_files(cairn, tenant, &changed, &mut totals).await?;
            println!("{}", serde_json::to_string(&totals)?);
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

/// Rebuilds the search index from the database, with a progress bar.
pub async fn reindex(cairn: &Cairn) -> anyhow::Result<IndexProgress> {
    let progress = std::sync::Mutex::new((Progress::new("messages", 0), IndexProgress::default()));
    let report = |step: IndexProgress| {
        if let Ok(mut guard) = progress.lock() {
            guard.0.total = step.total;
            guard.0.set(step.indexed);
            guard.1 = step;
        }
    };
    cairn.reindex(&report).await?;
    let (bar, last) = progress
        .into_inner()
        .map_err(|_| anyhow::anyhow!("the progress bar's lock was poisoned"))?;
    bar.finish();
    Ok(last)
}
