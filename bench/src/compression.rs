//! `cairn-bench compression`: Cairn's compression engine against headroom-ai
//! on a corpus of real tool outputs, each with the question an agent asks of
//! it and the needles the answer needs.
//!
//! Both sides get the same question: Cairn as the query of its view,
//! headroom-ai as the user turn of `compress(messages)` with the payload as a
//! tool result (through `bench/peer/headroom_worker.py`). Both are counted
//! with Cairn's o200k counter, and both are timed on their first call on each
//! payload (headroom-ai caches by content).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use cairn_core::{ContentHash, RenderedView, tokens};
use serde::{Deserialize, Serialize};

/// One case of the corpus.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub source: String,
    pub question: String,
    pub needles: Vec<String>,
    pub payload: String,
}

/// What one side made of one case.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub tokens: u64,
    pub seconds: f64,
    pub needles_kept: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub tokens_original: u64,
    pub needles: usize,
    pub cairn: Outcome,
    pub headroom: Option<Outcome>,
}

/// Loads every `*.json` case under `dir`, in name order.
pub fn load_corpus(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the corpus {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut cases = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let case: Case = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a corpus case", path.display()))?;
        cases.push(case);
    }
    if cases.is_empty() {
        bail!("no cases in {}", dir.display());
    }
    Ok(cases)
}

fn needles_kept(text: &str, needles: &[String]) -> usize {
    needles
        .iter()
        .filter(|needle| text.contains(needle.as_str()))
        .count()
}

/// Cairn's query-aware view of one case.
pub fn run_cairn(case: &Case) -> Outcome {
    let original = case.payload.as_bytes();
    let hash = ContentHash::of(original);
    let options = cairn_compress::Options {
        query: Some(&case.question),
        ..Default::default()
    };
    let started = Instant::now();
    let compressed = cairn_compress::compress(original, &hash, &options);
    let seconds = started.elapsed().as_secs_f64();
    let text = match &compressed.view {
        RenderedView::Original => case.payload.as_str(),
        RenderedView::Rendered { content, .. } => content.as_str(),
    };
    Outcome {
        tokens: tokens::count(text),
        seconds,
        needles_kept: needles_kept(text, &case.needles),
        error: None,
    }
}

#[derive(Debug, Deserialize)]
struct PeerAnswer {
    id: String,
    content: String,
    seconds: f64,
    error: Option<String>,
}

/// headroom-ai's outcome for every case, from one worker process.
pub fn run_headroom(python: &Path, worker: &Path, cases: &[Case]) -> anyhow::Result<Vec<Outcome>> {
    let mut child = Command::new(python)
        .arg(worker)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {} {}", python.display(), worker.display()))?;
    let mut stdin = child.stdin.take().context("the worker's stdin")?;
    let stdout = child.stdout.take().context("the worker's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut outcomes = Vec::with_capacity(cases.len());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (index, case) in cases.iter().enumerate() {
        let request =
            serde_json::json!({"id": case.id, "question": case.question, "payload": case.payload});
        writeln!(stdin, "{request}")?;
        stdin.flush()?;
        let line = lines.next().context("the worker stopped answering")??;
        let answer: PeerAnswer = serde_json::from_str(&line)
            .with_context(|| format!("the worker answered something else: {line:.200}"))?;
        if answer.id != case.id {
            bail!("the worker answered {} for {}", answer.id, case.id);
        }
        if terminal {
            eprint!("\rheadroom-ai: {}/{} cases", index + 1, cases.len());
        }
        outcomes.push(Outcome {
            tokens: tokens::count(&answer.content),
            seconds: answer.seconds,
            needles_kept: needles_kept(&answer.content, &case.needles),
            error: answer.error,
        });
    }
    if terminal {
        eprintln!();
    }
    drop(stdin);
    let _ = child.wait();
    Ok(outcomes)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn saved(before: u64, after: u64) -> f64 {
    100.0 * (1.0 - after as f64 / before.max(1) as f64)
}

/// Prints the per-kind and overall tables as Markdown.
pub fn print_report(results: &[CaseResult]) {
    let mut by_kind: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for result in results {
        by_kind
            .entry(result.kind.as_str())
            .or_default()
            .push(result);
    }
    let peer = results.iter().all(|result| result.headroom.is_some());
    println!(
        "| kind | cases | tokens | Cairn saved | headroom-ai saved | Cairn needles | headroom-ai needles | Cairn median ms | headroom-ai median ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows: Vec<(&str, Vec<&CaseResult>)> = by_kind.into_iter().collect();
    rows.push(("**all**", results.iter().collect()));
    for (kind, cases) in rows {
        let before: u64 = cases.iter().map(|c| c.tokens_original).sum();
        let ours: u64 = cases.iter().map(|c| c.cairn.tokens).sum();
        let needles: usize = cases.iter().map(|c| c.needles).sum();
        let ours_kept: usize = cases.iter().map(|c| c.cairn.needles_kept).sum();
        let ours_ms = median(cases.iter().map(|c| c.cairn.seconds * 1000.0).collect());
        let (theirs_saved, theirs_kept, theirs_ms) = if peer {
            let theirs: u64 = cases
                .iter()
                .filter_map(|c| c.headroom.as_ref())
                .map(|o| o.tokens)
                .sum();
            let kept: usize = cases
                .iter()
                .filter_map(|c| c.headroom.as_ref())
                .map(|o| o.needles_kept)
                .sum();
            let ms = median(
                cases
                    .iter()
                    .filter_map(|c| c.headroom.as_ref())
                    .map(|o| o.seconds * 1000.0)
                    .collect(),
            );
            (
                format!("{:.1}%", saved(before, theirs)),
                format!("{kept}/{needles}"),
                format!("{ms:.2}"),
            )
        } else {
            ("—".into(), "—".into(), "—".into())
        };
        println!(
            "| {kind} | {} | {before} | {:.1}% | {theirs_saved} | {ours_kept}/{needles} | {theirs_kept} | {ours_ms:.2} | {theirs_ms} |",
            cases.len(),
            saved(before, ours),
        );
    }
    let missed: Vec<&str> = results
        .iter()
        .filter(|c| c.cairn.needles_kept < c.needles)
        .map(|c| c.id.as_str())
        .collect();
    if !missed.is_empty() {
        println!(
            "\nCases where Cairn's view lost a needle: {}",
            missed.join(", ")
        );
    }
}

/// Runs the comparison over `corpus`, headroom-ai too when `python` is given.
pub fn compare(corpus: &Path, peer: Option<(&Path, &Path)>) -> anyhow::Result<Vec<CaseResult>> {
    let cases = load_corpus(corpus)?;
    cairn_core::tokens::count("warm up the tokenizer");
    let theirs = match peer {
        Some((python, worker)) => Some(run_headroom(python, worker, &cases)?),
        None => None,
    };
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        results.push(CaseResult {
            id: case.id.clone(),
            kind: case.kind.clone(),
            source: case.source.clone(),
            tokens_original: tokens::count(&case.payload),
            needles: case.needles.len(),
            cairn: run_cairn(case),
            headroom: theirs.as_ref().map(|outcomes| outcomes[index].clone()),
        });
    }
    Ok(results)
}
