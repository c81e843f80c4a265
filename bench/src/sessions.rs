//! `cairn-bench sessions`: import throughput on the fixture sessions
//! replicated to hundreds of megabytes, indexing throughput, and search
//! latency over an index of a million generated messages.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_search::{Doc, SearchIndex, SearchQuery};
use cairn_service::{Cairn, ImportSource, ServiceConfig};
use cairn_sessions::Agent;
use cairn_store::{SqliteOptions, SqliteStore};
use cairn_types::TenantId;

use crate::Rng;

#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// Folder of session files to replicate.
    #[arg(long, default_value = "fixtures/sessions")]
    pub fixtures: PathBuf,
    /// Megabytes of session files to import (the fixtures, copied with new
    /// session ids until this much); 0 skips the import and index runs.
    #[arg(long, default_value_t = 500)]
    pub import_mb: u64,
    /// Messages in the generated search index; 0 skips the search run.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Searches to time.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Tenants that each import one copy of the fixtures, every text new to
    /// them (the cold import rate).
    #[arg(long, default_value_t = 20)]
    pub cold_tenants: u64,
}

pub async fn run(args: &SessionsArgs) -> anyhow::Result<()> {
    if args.import_mb > 0 {
        import(args).await?;
    }
    if args.messages > 0 {
        search(args)?;
    }
    Ok(())
}

/// Imports `files`, two in flight (one parses and encodes while the other
/// writes); returns the bytes and the messages added.
async fn import_all(
    cairn: &Cairn,
    files: Vec<(Vec<u8>, Agent, PathBuf, TenantId)>,
) -> anyhow::Result<(u64, u64)> {
    let mut bytes = 0u64;
    let mut messages = 0u64;
    let mut pending = tokio::task::JoinSet::new();
    for (content, agent, path, tenant) in files {
        bytes += content.len() as u64;
        if pending.len() >= 2
            && let Some(done) = pending.join_next().await
        {
            let report: cairn_types::ImportReport = done??;
            messages += report.messages;
        }
        let cairn = cairn.clone();
        pending.spawn(async move {
            let source = ImportSource {
                path: Some(path),
                ..ImportSource::default()
            };
            let report = cairn
                .import_session(&tenant, content.into(), Some(agent.as_str()), source)
                .await?;
            Ok::<_, anyhow::Error>(report)
        });
    }
    while let Some(done) = pending.join_next().await {
        messages += done??.messages;
    }
    Ok((bytes, messages))
}

/// One fixture file: its bytes and the session ids to rewrite per copy.
struct Fixture {
    path: PathBuf,
    agent: Agent,
    bytes: Vec<u8>,
    ids: Vec<String>,
}

fn fixtures(root: &Path) -> anyhow::Result<Vec<Fixture>> {
    let mut found = Vec::new();
    for agent in [Agent::Claude, Agent::Codex, Agent::Gemini] {
        for file in cairn_sessions::discover(agent, root)
            .with_context(|| format!("cannot read {}", root.display()))?
        {
            let bytes = std::fs::read(&file.path)?;
            let parsed = cairn_sessions::parse(&bytes, Some(agent), &Default::default())
                .map_err(|error| anyhow::anyhow!("{}: {error}", file.path.display()))?;
            // A subagent's id is `parent/agent`: the parent's id is what the file holds.
            let mut ids: Vec<String> = parsed
                .sessions
                .iter()
                .map(|session| session.id.split('/').next().unwrap_or_default().to_owned())
                .filter(|id| id.len() >= 8)
                .collect();
            ids.sort();
            ids.dedup();
            found.push(Fixture {
                path: file.path,
                agent,
                bytes,
                ids,
            });
        }
    }
    anyhow::ensure!(
        !found.is_empty(),
        "no session files under {}",
        root.display()
    );
    Ok(found)
}

/// `bytes` with every occurrence of each id replaced by a copy-specific one.
fn rewrite(bytes: &[u8], ids: &[String], copy: u64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for id in ids {
        let new = format!("{id}-c{copy}");
        out = replace_all(&out, id.as_bytes(), new.as_bytes());
    }
    out
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len() + haystack.len() / 50);
    let mut at = 0;
    while at < haystack.len() {
        if haystack[at..].starts_with(needle) {
            out.extend_from_slice(with);
            at += needle.len();
        } else {
            out.push(haystack[at]);
            at += 1;
        }
    }
    out
}

async fn import(args: &SessionsArgs) -> anyhow::Result<()> {
    let fixtures = fixtures(&args.fixtures)?;
    let per_copy: u64 = fixtures.iter().map(|f| f.bytes.len() as u64).sum();
    let copies = (args.import_mb * 1_000_000).div_ceil(per_copy.max(1));
    let dir = tempfile::tempdir()?;
    let store =
        Arc::new(SqliteStore::open(&SqliteOptions::new(dir.path().join("cairn.db"))).await?);
    let cairn = Cairn::new(
        store,
        ServiceConfig {
            default_ttl: None,
            zstd_level: 3,
            cache_bytes: 64 << 20,
            retention: Duration::from_secs(3600),
            ..ServiceConfig::default()
        },
    );
    eprintln!(
        "import: {} files, {:.2} MB a copy, {copies} copies",
        fixtures.len(),
        per_copy as f64 / 1e6
    );
    // The copies are made before the clock starts: only importing is timed.
    let tenant = TenantId::local();
    let mut files = Vec::new();
    for copy in 0..copies {
        for fixture in &fixtures {
            let content = rewrite(&fixture.bytes, &fixture.ids, copy);
            files.push((content, fixture.agent, fixture.path.clone(), tenant.clone()));
        }
    }
    let started = Instant::now();
    let (bytes, messages) = import_all(&cairn, files).await?;
    let elapsed = started.elapsed();
    let db_bytes = std::fs::metadata(dir.path().join("cairn.db"))?.len()
        + std::fs::metadata(dir.path().join("cairn.db-wal")).map_or(0, |m| m.len());
    println!(
        "| import | {:.0} MB | {messages} messages | {:.1} s | **{:.1} MB/s** | {:.0} messages/s | database {:.0} MB |",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        bytes as f64 / 1e6 / elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        db_bytes as f64 / 1e6,
    );

    // Cold: one copy into each of several new tenants, so every text is
    // new to its tenant and encoded (blobs are shared in the store, but
    // encoding is per tenant).
    let mut files = Vec::new();
    for cold in 0..args.cold_tenants {
        let tenant = TenantId::new(format!("cold-{cold}"));
        for fixture in &fixtures {
            files.push((
                fixture.bytes.clone(),
                fixture.agent,
                fixture.path.clone(),
                tenant.clone(),
            ));
        }
    }
    if !files.is_empty() {
        let started = Instant::now();
        let (bytes, messages) = import_all(&cairn, files).await?;
        let elapsed = started.elapsed();
        println!(
            "| import, every text new ({} tenants) | {:.0} MB | {messages} messages | {:.1} s | **{:.1} MB/s** | {:.0} messages/s |",
            args.cold_tenants,
            bytes as f64 / 1e6,
            elapsed.as_secs_f64(),
            bytes as f64 / 1e6 / elapsed.as_secs_f64(),
            messages as f64 / elapsed.as_secs_f64(),
        );
    }

    // Indexing what was imported, from the database.
    let index = Arc::new(SearchIndex::open(&dir.path().join("index"))?);
    let cairn = cairn.with_search(index.clone());
    let started = Instant::now();
    let done = cairn.reindex(&|_| {}).await?;
    let elapsed = started.elapsed();
    println!(
        "| index | {} messages | {:.1} s | {:.0} messages/s | index {:.0} MB |",
        done.message,
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        index.size_on_disk(&dir.path().join("index")) as f64 / 1e6,
    );
    Ok(())
}

const SYLLABLES: &[&str] = &[
    "ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "qi", "ro", "su", "ta",
    "ve", "wi", "xo", "yu", "za", "bre", "cla", "dro", "fli", "gra", "plo", "sta", "tri", "vro",
];

/// Word `n` of a synthetic vocabulary.
fn word(mut n: u64) -> String {
    let mut out = String::new();
    loop {
        out.push_str(SYLLABLES[(n % SYLLABLES.len() as u64) as usize]);
        n /= SYLLABLES.len() as u64;
        if n == 0 {
            return out;
        }
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

const VOCABULARY: u64 = 20_000;
const AGENTS: [&str; 3] = ["claude", "codex", "gemini"];
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A message of 8–60 words, with identifiers and paths among them.
fn message_text(rng: &mut Rng) -> String {
    let words = 8 + rng.below(52);
    let mut text = String::new();
    for _ in 0..words {
        let roll = rng.below(20);
        let piece = if roll == 0 {
            // getUserById-style identifier
            format!(
                "{}{}{}",
                word(rng.skewed(VOCABULARY)),
                capitalized(&word(rng.skewed(VOCABULARY))),
                capitalized(&word(rng.skewed(VOCABULARY)))
            )
        } else if roll == 1 {
            format!(
                "src/{}/{}.rs",
                word(rng.skewed(500)),
                word(rng.skewed(VOCABULARY))
            )
        } else {
            word(rng.skewed(VOCABULARY))
        };
        text.push_str(&piece);
        text.push(' ');
    }
    text
}

fn search(args: &SessionsArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("index");
    let index = SearchIndex::open(&path)?;
    let now = 1_795_000_000_000i64;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let started = Instant::now();
    let batch = 100_000u64;
    let mut added = 0u64;
    while added < args.messages {
        let take = batch.min(args.messages - added);
        let docs: Vec<Doc> = (added..added + take)
            .map(|n| {
                let session = n / 100;
                Doc {
                    id: format!("m{n}"),
                    tenant: "local".to_owned(),
                    kind: "message".to_owned(),
                    agent: Some(AGENTS[(session % 3) as usize].to_owned()),
                    project: Some(format!("/work/project-{}", session % 50)),
                    session: Some(format!("s{session}")),
                    role: Some(["user", "assistant", "tool"][(n % 3) as usize].to_owned()),
                    tool: None,
                    key: None,
                    position: Some(n % 100),
                    reference: format!("ccr:{n:024x}"),
                    at: now - (rng.below(90 * DAY_MS as u64) as i64),
                    text: message_text(&mut rng),
                }
            })
            .collect();
        index.add(docs)?;
        added += take;
        eprint!("\rsearch: indexed {added}/{}", args.messages);
    }
    index.commit("m0 c0")?;
    eprintln!();
    let build = started.elapsed();
    let size = index.size_on_disk(&path);

    let mut latencies = Vec::with_capacity(args.queries);
    let mut total_hits = 0u64;
    let mut probe = Rng(0x9e37_79b9_7f4a_7c15);
    for n in 0..args.queries {
        let text = match n % 5 {
            0 => word(probe.skewed(VOCABULARY)),
            1 => format!(
                "{} {}",
                word(probe.skewed(VOCABULARY)),
                word(probe.skewed(VOCABULARY))
            ),
            2 => format!(
                "\"{} {}\"",
                word(probe.skewed(200)),
                word(probe.skewed(200))
            ),
            3 => format!("{}.rs", word(probe.skewed(VOCABULARY))),
            _ => capitalized(&word(probe.skewed(VOCABULARY))),
        };
        let query = SearchQuery {
            tenant: "local".to_owned(),
            text,
            agent: (n % 4 == 0).then(|| AGENTS[n % 3].to_owned()),
            since: (n % 7 == 0).then_some(now - 30 * DAY_MS),
            limit: 20,
            now,
            ..SearchQuery::default()
        };
        let began = Instant::now();
        let found = index.search(&query)?;
        latencies.push(began.elapsed());
        total_hits += found.total as u64;
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "| search | {} messages | built in {:.1} s | index {:.0} MB | {} queries | p50 {:.2} ms | **p95 {:.2} ms** | p99 {:.2} ms | {:.0} hits a query |",
        args.messages,
        build.as_secs_f64(),
        size as f64 / 1e6,
        args.queries,
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        total_hits as f64 / args.queries.max(1) as f64,
    );
    Ok(())
}
