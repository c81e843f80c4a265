//! `cairn-bench search-eval`: Cairn's search against SQLite FTS5 (bm25(),
//! `porter unicode61`, what most local memory tools use) on the same
//! messages: the fixture sessions of the three agents, plus hard lexical
//! distractors (the paraphrase queries' words in other senses).
//!
//! Two labelled query sets:
//! - **lexical**: identifiers, dotted and path compounds, names embedded in
//!   longer tokens, file names and error phrases, drawn from the messages
//!   themselves (deterministically) where they occur in one to three
//!   messages; a hit is relevant when its text contains the query
//!   (case-insensitive);
//! - **paraphrase**: `bench/ml-queries.json`, worded unlike the message
//!   they should find.
//!
//! For each system: hit@1, hit@5, MRR (top 10), p50/p95 latency; for
//! Cairn, whether each top-5 hit's snippet shows a query term.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cairn_core::ContentHash;
use cairn_search::tokenizer::Token;
use cairn_service::{Cairn, Ml, PutInput, SearchQuery};
use cairn_store::{MessageBody, Store as _};
use cairn_types::{ContextKey, TenantId};
use clap::Args;
use sqlx::Row as _;

use crate::ml::{QueryFiles, fixture_service, read_query_set};

/// Without the models the hybrid rows are left out.
#[derive(Debug, Args)]
pub struct SearchEvalArgs {
    #[command(flatten)]
    pub files: QueryFiles,
    /// Lexical queries drawn per shape.
    #[arg(long, default_value_t = 20)]
    pub per_shape: usize,
    /// Times each query is run for the latency figures.
    #[arg(long, default_value_t = 10)]
    pub repeat: usize,
    /// Print every lexical query and where each system ranked it.
    #[arg(long)]
    pub verbose: bool,
}

/// A query and what makes a hit relevant.
#[derive(Debug, Clone)]
struct Labelled {
    shape: &'static str,
    query: String,
    /// A hit is relevant when its text contains one of these (lowercased).
    relevant: Vec<String>,
}

/// How one system did on one set.
#[derive(Debug, Default)]
struct Score {
    hit1: usize,
    hit5: usize,
    reciprocal: f64,
    errors: usize,
    latencies: Vec<Duration>,
    /// Top-5 hits, and those whose snippet shows a query term (Cairn only).
    snippets: (usize, usize),
    /// Misses by shape.
    missed: BTreeMap<&'static str, usize>,
}

impl Score {
    fn add(&mut self, shape: &'static str, rank: Option<usize>) {
        if rank == Some(0) {
            self.hit1 += 1;
        }
        if rank.is_some_and(|rank| rank < 5) {
            self.hit5 += 1;
        } else {
            *self.missed.entry(shape).or_default() += 1;
        }
        self.reciprocal += rank.map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0));
    }

    fn row(&mut self, name: &str, n: usize) -> String {
        self.latencies.sort();
        let at = |q: f64| {
            self.latencies
                .get(((self.latencies.len().max(1) - 1) as f64 * q) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let n_f = n.max(1) as f64;
        let snippets = if self.snippets.0 > 0 {
            format!("{}/{}", self.snippets.1, self.snippets.0)
        } else {
            "—".to_owned()
        };
        let missed: Vec<String> = self
            .missed
            .iter()
            .map(|(shape, count)| format!("{shape} {count}"))
            .collect();
        format!(
            "| {name} | {:.2} | **{:.2}** ({}/{n}) | {:.3} | {:.2} ms | {:.2} ms | {snippets} | {} |",
            self.hit1 as f64 / n_f,
            self.hit5 as f64 / n_f,
            self.hit5,
            self.reciprocal / n_f,
            at(0.5),
            at(0.95),
            if missed.is_empty() && self.errors == 0 {
                "—".to_owned()
            } else if self.errors > 0 {
                format!("{}; {} errors", missed.join(", "), self.errors)
            } else {
                missed.join(", ")
            },
        )
    }
}

pub async fn run(args: &SearchEvalArgs) -> anyhow::Result<()> {
    let set = read_query_set(&args.files.queries)?;
    let dir = tempfile::tempdir()?;
    let (store, plain) = fixture_service(dir.path(), &args.files.fixtures).await?;
    let tenant = TenantId::local();
    let distractors: Vec<&String> = set.queries.iter().flat_map(|q| &q.distractors).collect();
    for (n, text) in distractors.iter().enumerate() {
        let key = ContextKey::parse(format!("notes/distractor-{n}"))?;
        let input = PutInput {
            content: text.as_bytes().to_vec().into(),
            ..PutInput::default()
        };
        plain.put(&tenant, &key, input).await?;
    }
    plain.index_pending(Default::default(), &|_| {}).await?;

    // Every document's text, by the reference search hits carry.
    let mut docs: Vec<(String, String)> = Vec::new();
    for indexed in store.messages_after(0, u32::MAX).await? {
        let (reference, text) = match &indexed.message.body {
            MessageBody::Text(text) => (ContentHash::of(text.as_bytes()).ccr_ref(), text.clone()),
            MessageBody::Blob(hash) => {
                let original = plain.retrieve(&tenant, &hash.ccr_ref().to_string()).await?;
                (
                    hash.ccr_ref(),
                    String::from_utf8_lossy(&original.content).into_owned(),
                )
            }
        };
        docs.push((reference.to_string(), text));
    }
    for text in &distractors {
        docs.push((
            ContentHash::of(text.as_bytes()).ccr_ref().to_string(),
            (*text).clone(),
        ));
    }
    let lower: HashMap<&str, String> = docs
        .iter()
        .map(|(reference, text)| (reference.as_str(), text.to_lowercase()))
        .collect();

    let lexical = lexical_set(&docs, args.per_shape);
    let paraphrase: Vec<Labelled> = set
        .queries
        .iter()
        .map(|q| Labelled {
            shape: "paraphrase",
            query: q.query.clone(),
            relevant: q.relevant.iter().map(|r| r.to_lowercase()).collect(),
        })
        .collect();

    let fts = Fts::build(&dir.path().join("fts.db"), &docs).await?;
    let hybrid = match cairn_ml::Embedder::load(&args.files.models, cairn_ml::DEFAULT_EMBEDDER) {
        Ok(embedder) => {
            let hybrid = plain.clone().with_ml(Arc::new(Ml::new(embedder)));
            let ml = hybrid.ml().context("ML is attached")?.clone();
            hybrid.embed_pending(&ml, Default::default()).await?;
            // The same vectors, without the re-ranking stage.
            let again = cairn_ml::Embedder::load(&args.files.models, cairn_ml::DEFAULT_EMBEDDER)?;
            let rrf = plain
                .clone()
                .with_ml(Arc::new(Ml::new(again).with_rerank(false)));
            let rrf_ml = rrf.ml().context("ML is attached")?.clone();
            rrf.embed_pending(&rrf_ml, Default::default()).await?;
            Some((rrf, hybrid))
        }
        Err(error) => {
            eprintln!("search-eval: no hybrid row: {error}");
            None
        }
    };

    println!(
        "{} documents ({} messages of the fixture sessions, {} distractors); \
         {} lexical queries, {} paraphrase queries; limit 10\n",
        docs.len(),
        docs.len() - distractors.len(),
        distractors.len(),
        lexical.len(),
        paraphrase.len()
    );
    for (name, queries) in [("lexical", &lexical), ("paraphrase", &paraphrase)] {
        println!("**{name}**\n");
        println!(
            "| system | hit@1 | hit@5 | MRR | p50 | p95 | snippets showing a term (top 5) | misses (hit@5) |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let mut systems: Vec<(&str, System)> = vec![
            ("Cairn, BM25", System::Cairn(&plain)),
            ("SQLite FTS5, AND", System::Fts(&fts, false)),
            ("SQLite FTS5, OR", System::Fts(&fts, true)),
        ];
        if let Some((rrf, reranked)) = &hybrid {
            systems.insert(1, ("Cairn, BM25 + embeddings (RRF)", System::Cairn(rrf)));
            systems.insert(2, ("Cairn, RRF + re-rank", System::Cairn(reranked)));
        }
        for (system_name, system) in systems {
            let mut score = Score::default();
            for labelled in queries {
                let relevant = |reference: &str| {
                    lower.get(reference).is_some_and(|text| {
                        labelled
                            .relevant
                            .iter()
                            .any(|needle| text.contains(needle.as_str()))
                    })
                };
                let ranked = match system.search(&tenant, &labelled.query).await {
                    Ok(ranked) => ranked,
                    Err(error) => {
                        if args.verbose {
                            println!("  {system_name}: {:?}: {error}", labelled.query);
                        }
                        score.errors += 1;
                        score.add(labelled.shape, None);
                        continue;
                    }
                };
                let rank = ranked.iter().position(|(reference, _)| relevant(reference));
                if args.verbose && rank.is_none_or(|rank| rank >= 5) {
                    println!(
                        "  {system_name} misses {:?} ({}): rank {rank:?}",
                        labelled.query, labelled.shape
                    );
                }
                score.add(labelled.shape, rank);
                if let System::Cairn(_) = system {
                    let terms = query_terms(&labelled.query);
                    for (_, snippet) in ranked.iter().take(5) {
                        score.snippets.0 += 1;
                        let snippet = snippet.replace("**", "").to_lowercase();
                        if terms.iter().any(|term| snippet.contains(term.as_str())) {
                            score.snippets.1 += 1;
                        }
                    }
                }
                for _ in 0..args.repeat {
                    let started = Instant::now();
                    let _ = system.search(&tenant, &labelled.query).await;
                    score.latencies.push(started.elapsed());
                }
            }
            println!("{}", score.row(system_name, queries.len()));
        }
        println!();
    }
    println!(
        "Snippets: for paraphrase queries a snippet may rightly show none of the query's words \
         (the passage that scored)."
    );
    Ok(())
}

/// A system under test.
#[derive(Clone, Copy)]
enum System<'a> {
    Cairn(&'a Cairn),
    /// FTS5, and whether the query's words are ORed (else ANDed).
    Fts(&'a Fts, bool),
}

impl System<'_> {
    /// The references of the top 10 hits, with their snippets.
    async fn search(
        &self,
        tenant: &TenantId,
        query: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            System::Cairn(cairn) => {
                let results = cairn
                    .search(
                        tenant,
                        SearchQuery {
                            text: query.to_owned(),
                            limit: 10,
                            ..SearchQuery::default()
                        },
                    )
                    .await?;
                Ok(results
                    .hits
                    .into_iter()
                    .map(|hit| (hit.reference, hit.snippet))
                    .collect())
            }
            System::Fts(fts, or) => fts.search(query, *or).await,
        }
    }
}

/// An FTS5 table of the same documents, in a SQLite file.
struct Fts {
    pool: sqlx::SqlitePool,
    references: Vec<String>,
}

impl Fts {
    async fn build(path: &std::path::Path, docs: &[(String, String)]) -> anyhow::Result<Fts> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query("CREATE VIRTUAL TABLE docs USING fts5(text, tokenize = 'porter unicode61')")
            .execute(&pool)
            .await?;
        let mut transaction = pool.begin().await?;
        for (n, (_, text)) in docs.iter().enumerate() {
            sqlx::query("INSERT INTO docs(rowid, text) VALUES (?1, ?2)")
                .bind(n as i64)
                .bind(text)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(Fts {
            pool,
            references: docs
                .iter()
                .map(|(reference, _)| reference.clone())
                .collect(),
        })
    }

    /// Each whitespace-separated word quoted (FTS5 reads `a.b` or `x:y` as
    /// syntax otherwise; a quoted word is a phrase of its tokens), ANDed or
    /// ORed; a `"phrase"` of the query stays one.
    async fn search(&self, query: &str, or: bool) -> anyhow::Result<Vec<(String, String)>> {
        let words: Vec<String> = split_query(query)
            .into_iter()
            .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
            .collect();
        let expression = words.join(if or { " OR " } else { " " });
        let rows = sqlx::query(
            "SELECT rowid, snippet(docs, 0, '**', '**', '…', 16) FROM docs \
             WHERE docs MATCH ?1 ORDER BY rank LIMIT 10",
        )
        .bind(expression)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let rowid: i64 = row.get(0);
                let snippet: String = row.get(1);
                (self.references[rowid as usize].clone(), snippet)
            })
            .collect())
    }
}

/// The query's words, a `"quoted phrase"` as one.
fn split_query(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, part) in query.split('"').enumerate() {
        if n % 2 == 1 {
            if !part.trim().is_empty() {
                out.push(part.trim().to_owned());
            }
        } else {
            out.extend(part.split_whitespace().map(str::to_owned));
        }
    }
    out
}

/// The query's words, lowercased, for the snippet check.
fn query_terms(query: &str) -> Vec<String> {
    split_query(query)
        .into_iter()
        .flat_map(|word| {
            word.split_whitespace()
                .map(|w| w.to_lowercase())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The lexical set, drawn from the documents: up to `per_shape` queries of
/// each shape that occur (case-insensitively) in one to three documents.
fn lexical_set(docs: &[(String, String)], per_shape: usize) -> Vec<Labelled> {
    let lower: Vec<String> = docs.iter().map(|(_, text)| text.to_lowercase()).collect();
    let mut by_shape: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for (_, text) in docs {
        for token in cairn_search::tokenizer::tokens(text, true) {
            let original = &text[token.offset_from..token.offset_to];
            let Some(shape) = shape_of(text, &token, original) else {
                continue;
            };
            if seen.insert(token.text.clone()) {
                by_shape.entry(shape).or_default().push(original.to_owned());
            }
        }
        for phrase in error_phrases(text) {
            if seen.insert(phrase.to_lowercase()) {
                by_shape.entry("error phrase").or_default().push(phrase);
            }
        }
    }
    let mut out = Vec::new();
    for (shape, mut candidates) in by_shape {
        // A fixed order that is not the documents' (FNV-1a of the text).
        candidates.sort_by_key(|text| fnv(text));
        let mut taken = 0;
        for candidate in candidates {
            if taken == per_shape {
                break;
            }
            let needle = candidate.trim_matches('"').to_lowercase();
            let df = lower.iter().filter(|text| text.contains(&needle)).count();
            if (1..=3).contains(&df) {
                out.push(Labelled {
                    shape,
                    query: candidate,
                    relevant: vec![needle],
                });
                taken += 1;
            }
        }
    }
    out
}

/// Which lexical shape a token is, if it is one worth a query.
fn shape_of(text: &str, token: &Token, original: &str) -> Option<&'static str> {
    if original.len() < 5 || original.len() > 40 || !original.chars().any(char::is_alphabetic) {
        return None;
    }
    if original.chars().filter(|c| c.is_ascii_hexdigit()).count() * 10 > original.len() * 7 {
        return None; // hashes and ids
    }
    // Embedded: the token is part of a longer chunk (`user_prompts` in
    // `'user_prompts.db'`), and itself joins two parts.
    let joined = original.contains(['.', '/', ':', '_', '-']);
    let before = text[..token.offset_from].chars().next_back();
    let after = text[token.offset_to..].chars().next();
    let inside = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || ".:/_-".contains(c));
    let embedded = inside(before) || inside(after);
    let camel = original
        .chars()
        .zip(original.chars().skip(1))
        .any(|(a, b)| a.is_lowercase() && b.is_uppercase());
    let file = original.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (2..=4).contains(&ext.len()) && ext.chars().all(char::is_alphabetic)
    }) && !original.contains('/');
    match () {
        _ if embedded && joined => Some("embedded"),
        _ if embedded => None,
        _ if original.contains('/') || original.contains("::") => Some("path or ::"),
        _ if file => Some("file name"),
        _ if original.contains('.') => Some("dotted"),
        _ if original.contains('_') || original.starts_with("--") => Some("snake or flag"),
        _ if camel => Some("camelCase"),
        _ => None,
    }
}

/// Three to five words of a line that reports a failure, quoted.
fn error_phrases(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let lower = line.to_lowercase();
        let Some(at) = [
            "error",
            "failed",
            "cannot",
            "not found",
            "denied",
            "refused",
        ]
        .iter()
        .find_map(|word| lower.find(word)) else {
            continue;
        };
        if !line.is_char_boundary(at) {
            continue;
        }
        let words: Vec<&str> = line[at..]
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .take(4)
            .collect();
        if words.len() >= 3 && words.iter().all(|w| w.chars().all(char::is_alphanumeric)) {
            out.push(format!("\"{}\"", words.join(" ")));
        }
    }
    out
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
