//! `cairn-bench ml`: local ML on the fixture sessions. Imports them, embeds
//! every message (throughput), then runs a labelled query set (each query
//! worded differently from the message it should find) with BM25 alone and
//! with hybrid search: hit@5, MRR and search latency.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_search::SearchIndex;
use cairn_service::{Cairn, ImportSource, Ml, SearchQuery, ServiceConfig};
use cairn_sessions::Agent;
use cairn_store::{SqliteOptions, SqliteStore, Store as _};
use cairn_types::TenantId;
use clap::Args;
use serde::Deserialize;

/// What `ml` and `search-eval` read: the models, the sessions searched and
/// the labelled queries about them.
#[derive(Debug, Args)]
pub struct QueryFiles {
    /// The models directory (`scripts/install-models.sh` lays it out).
    #[arg(long, env = "CAIRN_MODELS_DIR", default_value = "models")]
    pub models: PathBuf,
    /// The session files the queries are about.
    #[arg(long, default_value = "fixtures/sessions")]
    pub fixtures: PathBuf,
    /// The labelled queries (paraphrases, with their look-alikes).
    #[arg(long, default_value = "bench/ml-queries.json")]
    pub queries: PathBuf,
}

#[derive(Debug, Args)]
pub struct MlArgs {
    #[command(flatten)]
    pub files: QueryFiles,
    /// Times each query is run for the latency figures.
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
}

#[derive(Debug, Deserialize)]
pub(crate) struct QuerySet {
    pub(crate) queries: Vec<Labelled>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Labelled {
    pub(crate) query: String,
    pub(crate) relevant: Vec<String>,
    /// Look-alikes of the query (`cairn-bench search-eval` adds them).
    #[serde(default)]
    pub(crate) distractors: Vec<String>,
}

/// Reads a labelled query set.
pub(crate) fn read_query_set(path: &std::path::Path) -> anyhow::Result<QuerySet> {
    serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a query set", path.display()))
}

/// A service on a fresh SQLite store and search index in `dir`, with the
/// fixture sessions under `fixtures` imported.
pub(crate) async fn fixture_service(
    dir: &std::path::Path,
    fixtures: &std::path::Path,
) -> anyhow::Result<(Arc<SqliteStore>, Cairn)> {
    let store = Arc::new(SqliteStore::open(&SqliteOptions::new(dir.join("cairn.db"))).await?);
    let index = Arc::new(SearchIndex::open(&dir.join("index"))?);
    let cairn = Cairn::new(
        store.clone(),
        ServiceConfig {
            default_ttl: None,
            zstd_level: 3,
            cache_bytes: 64 << 20,
            retention: Duration::from_secs(3600),
            ..ServiceConfig::default()
        },
    )
    .with_search(index);
    import_fixtures(&cairn, &TenantId::local(), fixtures).await?;
    Ok((store, cairn))
}

/// Imports the session files of the three agents under `fixtures`.
pub(crate) async fn import_fixtures(
    cairn: &Cairn,
    tenant: &TenantId,
    fixtures: &std::path::Path,
) -> anyhow::Result<()> {
    for agent in [Agent::Claude, Agent::Codex, Agent::Gemini] {
        for file in cairn_sessions::discover(agent, fixtures)? {
            let bytes = std::fs::read(&file.path)?;
            let source = ImportSource {
                path: Some(file.path.clone()),
                ..ImportSource::default()
            };
            cairn
                .import_session(tenant, bytes.into(), Some(agent.as_str()), source)
                .await?;
        }
    }
    Ok(())
}

pub async fn run(args: &MlArgs) -> anyhow::Result<()> {
    let set = read_query_set(&args.files.queries)?;
    let embedder = cairn_ml::Embedder::load(&args.files.models, cairn_ml::DEFAULT_EMBEDDER)?;
    let dir = tempfile::tempdir()?;
    let (store, plain) = fixture_service(dir.path(), &args.files.fixtures).await?;
    let tenant = TenantId::local();
    plain.index_pending(Default::default(), &|_| {}).await?;

    let messages = store.last_message_seq().await?;
    // The originals of hits, to judge relevance, by reference.
    let mut texts: HashMap<String, String> = HashMap::new();

    let hybrid = plain.clone().with_ml(Arc::new(Ml::new(embedder)));
    let ml = hybrid.ml().context("ML is attached")?.clone();
    let started = Instant::now();
    hybrid.embed_pending(&ml, Default::default()).await?;
    let embed_time = started.elapsed();
    let embedded = ml.len();
    // Short sentences alone, batched: the queries, many times.
    let sentences: Vec<&str> = set
        .queries
        .iter()
        .map(|q| q.query.as_str())
        .cycle()
        .take(set.queries.len() * 25)
        .collect();
    let started = Instant::now();
    ml.embedder().embed(&sentences)?;
    let sentence_time = started.elapsed();

    println!(
        "{messages} messages, {} queries, model {}\n",
        set.queries.len(),
        ml.embedder().model_id()
    );
    println!("| | hit@5 | MRR (top 10) | search p50 | search p95 |");
    println!("|---|---|---|---|---|");
    for (name, cairn) in [("BM25 alone", &plain), ("BM25 + embeddings (RRF)", &hybrid)] {
        let mut hits_at_5 = 0usize;
        let mut reciprocal = 0f64;
        let mut latencies = Vec::new();
        for labelled in &set.queries {
            let query = SearchQuery {
                text: labelled.query.clone(),
                limit: 10,
                ..SearchQuery::default()
            };
            let results = cairn.search(&tenant, query.clone()).await?;
            let mut rank = None;
            for (at, hit) in results.hits.iter().enumerate() {
                if !texts.contains_key(&hit.reference) {
                    let original = cairn.retrieve(&tenant, &hit.reference).await?;
                    let text = String::from_utf8_lossy(&original.content).into_owned();
                    texts.insert(hit.reference.clone(), text);
                }
                let text = &texts[&hit.reference];
                if labelled
                    .relevant
                    .iter()
                    .any(|needle| text.contains(needle.as_str()))
                {
                    rank = Some(at);
                    break;
                }
            }
            if rank.is_some_and(|rank| rank < 5) {
                hits_at_5 += 1;
            }
            reciprocal += rank.map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0));
            for _ in 0..args.repeat {
                let started = Instant::now();
                cairn.search(&tenant, query.clone()).await?;
                latencies.push(started.elapsed());
            }
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let n = set.queries.len() as f64;
        println!(
            "| {name} | {:.2} ({hits_at_5}/{}) | {:.3} | {:.1} ms | {:.1} ms |",
            hits_at_5 as f64 / n,
            set.queries.len(),
            reciprocal / n,
            at(0.5).as_secs_f64() * 1e3,
            at(0.95).as_secs_f64() * 1e3,
        );
    }
    println!(
        "\nembedding, background path (read, embed, store): {embedded} messages in {:.1} s: \
         **{:.0} messages/s**",
        embed_time.as_secs_f64(),
        embedded as f64 / embed_time.as_secs_f64()
    );
    println!(
        "embedding, short sentences (the queries), batched: {} in {:.2} s: **{:.0} sentences/s**",
        sentences.len(),
        sentence_time.as_secs_f64(),
        sentences.len() as f64 / sentence_time.as_secs_f64()
    );
    Ok(())
}
