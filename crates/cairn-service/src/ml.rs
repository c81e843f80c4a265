//! Local ML (SPEC §7): the background embedder, which follows the message
//! and context feeds with its own progress (stored with the vectors) and
//! embeds what is new, never on the put path; and hybrid search, which fuses
//! the BM25 ranking with an exact vector scan by reciprocal rank fusion,
//! then re-ranks the top of a natural-language query's hits ([`rerank`]).
//!
//! The vectors of the configured model are loaded into memory at start (one
//! `dim × 4` bytes per document) and scanned exactly per search.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cairn_ml::Embedder;
use cairn_search::{Hit, SearchQuery};
use cairn_store::{Embedding, EmbeddingProgress};

use crate::{Cairn, ServiceError, spawn_cpu};

/// Documents embedded per batch (and per database transaction).
const BATCH: u32 = 64;
/// How long the embedder sleeps when nothing wakes it.
const IDLE: Duration = Duration::from_secs(2);
/// Bytes of a document's text given to the tokenizer: more than the model's
/// 256 tokens take, so nothing is lost, while megabytes are not tokenized
/// only to be cut.
const EMBED_BYTES: usize = 4096;
/// Semantic candidates per search.
const VECTOR_CANDIDATES: usize = 50;
/// BM25 candidates per search, at least.
pub(crate) const BM25_CANDIDATES: usize = 50;
/// A semantic candidate below this cosine similarity is not one.
const MIN_SIMILARITY: f32 = 0.3;
/// Hits of a natural-language query the re-ranking stage scores.
const RERANK_CANDIDATES: usize = 8;
/// Bytes of each candidate's text the re-ranking stage embeds (about 40
/// wordpieces: the model's cost grows with the length of what it reads, and
/// this stage's budget is tens of milliseconds).
const RERANK_BYTES: usize = 160;
/// Weights of the re-ranking score: the similarity of the candidate with the
/// query's words masked, plus these times its whole text's similarity and
/// its BM25 score (over the best one).
const RERANK_WHOLE: f32 = 0.5;
const RERANK_LEXICAL: f32 = 0.3;
/// Reciprocal rank fusion's constant: a document's fused score is the sum of
/// `1 / (RRF_K + rank)` over the rankings it is in.
const RRF_K: f32 = 60.0;

/// The embedder and the vectors of its model.
#[derive(Debug)]
pub struct Ml {
    embedder: Arc<Embedder>,
    /// tenant → document id → vector.
    vectors: RwLock<HashMap<String, HashMap<String, Vec<f32>>>>,
    wake: tokio::sync::Notify,
    /// Whether hybrid search re-ranks a prose query's top hits ([`rerank`]).
    rerank: bool,
}

impl Ml {
    pub fn new(embedder: Embedder) -> Ml {
        Ml {
            embedder: Arc::new(embedder),
            vectors: RwLock::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            rerank: true,
        }
    }

    /// Turns the re-ranking stage of hybrid search on (the default) or off.
    pub fn with_rerank(mut self, rerank: bool) -> Ml {
        self.rerank = rerank;
        self
    }

    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// How many documents have a vector in memory.
    pub fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, HashMap<String, Vec<f32>>>> {
        self.vectors
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, embeddings: Vec<Embedding>) {
        let mut vectors = self
            .vectors
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for embedding in embeddings {
            vectors
                .entry(embedding.tenant)
                .or_default()
                .insert(embedding.doc, embedding.vector);
        }
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn forget(&self, tenant: &str, doc: &str) {
        let mut vectors = self
            .vectors
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(docs) = vectors.get_mut(tenant) {
            docs.remove(doc);
        }
    }

    /// The tenant's documents most similar to `query`, best first, at most
    /// `limit`, none under [`MIN_SIMILARITY`].
    fn nearest(&self, tenant: &str, query: &[f32], limit: usize) -> Vec<(String, f32)> {
        let vectors = self.read();
        let Some(docs) = vectors.get(tenant) else {
            return Vec::new();
        };
        let mut scored: Vec<(String, f32)> = docs
            .iter()
            .map(|(id, vector)| (id, cairn_ml::cosine(query, vector)))
            .filter(|(_, similarity)| *similarity >= MIN_SIMILARITY)
            .map(|(id, similarity)| (id.clone(), similarity))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(limit);
        scored
    }
}

impl Cairn {
    /// Attaches local ML: the background embedder ([`Cairn::run_embedder`])
    /// and hybrid search.
    pub fn with_ml(mut self, ml: Arc<Ml>) -> Cairn {
        self.ml = Some(ml);
        self
    }

    pub fn ml(&self) -> Option<&Arc<Ml>> {
        self.ml.as_ref()
    }

    /// Loads the stored vectors of the model, then embeds whatever is new
    /// until the task is dropped: at start, whenever a put or an import
    /// wakes it, or every two seconds.
    pub async fn run_embedder(self) {
        let Some(ml) = self.ml.clone() else {
            return;
        };
        let mut at = match self.embedder_start(&ml).await {
            Ok(at) => at,
            Err(error) => {
                tracing::error!(%error, "the embedder cannot start; search runs on BM25 alone");
                return;
            }
        };
        loop {
            match self.embed_pending(&ml, at).await {
                Ok(next) => at = next,
                Err(error) => tracing::warn!(%error, "embedding failed; retrying"),
            }
            let _ = tokio::time::timeout(IDLE, ml.wake.notified()).await;
        }
    }

    async fn embedder_start(&self, ml: &Ml) -> Result<EmbeddingProgress, ServiceError> {
        let model = ml.embedder.model_id().to_owned();
        let mut after = String::new();
        loop {
            let page = self.store.embeddings(&model, &after, 4096).await?;
            let Some(last) = page.last() else { break };
            after = last.doc.clone();
            ml.insert(page);
        }
        let stored = self.store.embedding_progress(&model).await?;
        let last = self.store.last_message_seq().await?;
        Ok(match stored {
            // Ahead of the database (a restored backup): start over.
            Some(progress) if progress.message > last => EmbeddingProgress::default(),
            Some(progress) => progress,
            None => EmbeddingProgress::default(),
        })
    }

    /// Embeds everything past `from`; returns where it got to.
    pub async fn embed_pending(
        &self,
        ml: &Ml,
        from: EmbeddingProgress,
    ) -> Result<EmbeddingProgress, ServiceError> {
        let model = ml.embedder.model_id().to_owned();
        let mut at = from;
        loop {
            let messages = self.store.messages_after(at.message, BATCH).await?;
            let contexts = self.store.contexts_after(at.context, BATCH).await?;
            if messages.is_empty() && contexts.is_empty() {
                return Ok(at);
            }
            let mut docs = Vec::with_capacity(messages.len() + contexts.len());
            for message in &messages {
                docs.push(self.message_doc(message).await?);
                at.message = at.message.max(message.message.seq);
            }
            for context in &contexts {
                if let Some(doc) = self.context_doc(context).await? {
                    docs.push(doc);
                }
                at.context = at.context.max(context.seq);
            }
            docs.retain(|doc| !doc.text.trim().is_empty());
            let embedder = ml.embedder.clone();
            let texts: Vec<String> = docs
                .iter()
                .map(|doc| head(&doc.text, EMBED_BYTES).to_owned())
                .collect();
            let vectors = spawn_cpu(move || embedder.embed(&texts))
                .await?
                .map_err(|error| ServiceError::Internal(error.to_string()))?;
            let embeddings: Vec<Embedding> = docs
                .into_iter()
                .zip(vectors)
                .map(|(doc, vector)| Embedding {
                    doc: doc.id,
                    tenant: doc.tenant,
                    vector,
                })
                .collect();
            self.store.put_embeddings(&model, &embeddings, at).await?;
            ml.insert(embeddings);
        }
    }

    /// A hybrid search: the BM25 candidates and the semantic ones fused by
    /// reciprocal rank. Every BM25 candidate stays in the fused list (a
    /// semantic score never removes one); a semantic candidate that shares
    /// no word with the query can rank among them. `None` when there is
    /// nothing semantic to add (no vectors for the tenant, an empty query).
    pub(crate) async fn hybrid(
        &self,
        query: &SearchQuery,
        bm25: &cairn_search::Found,
    ) -> Result<Option<(Vec<Hit>, usize)>, ServiceError> {
        let (Some(ml), Some(index)) = (self.ml.clone(), self.search.clone()) else {
            return Ok(None);
        };
        let text = semantic_text(&query.text);
        if text.is_empty() || ml.read().get(&query.tenant).is_none_or(HashMap::is_empty) {
            return Ok(None);
        }
        let embedder = ml.embedder.clone();
        let vector = spawn_cpu(move || embedder.embed_query(&[text]))
            .await?
            .map_err(|error| ServiceError::Internal(error.to_string()))?
            .pop()
            .unwrap_or_default();
        let nearest = ml.nearest(&query.tenant, &vector, VECTOR_CANDIDATES);
        let ids: Vec<String> = nearest.iter().map(|(id, _)| id.clone()).collect();
        let (search_query, wanted) = (query.clone(), ids.clone());
        let semantic = spawn_cpu(move || index.hits_by_id(&search_query, &wanted))
            .await?
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        let mut fused: HashMap<String, (f32, Hit)> = HashMap::new();
        for (rank, hit) in bm25.hits.iter().enumerate() {
            fused.insert(hit.id.clone(), (rrf(rank), hit.clone()));
        }
        let mut added = 0;
        for (rank, hit) in semantic.into_iter().enumerate() {
            match fused.get_mut(&hit.id) {
                Some((score, _)) => *score += rrf(rank),
                None => {
                    added += 1;
                    fused.insert(hit.id.clone(), (rrf(rank), hit));
                }
            }
        }
        let bm25_rank: HashMap<&str, usize> = bm25
            .hits
            .iter()
            .enumerate()
            .map(|(rank, hit)| (hit.id.as_str(), rank))
            .collect();
        let mut hits: Vec<(f32, Hit)> = fused.into_values().collect();
        hits.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| {
                    let rank = |hit: &Hit| {
                        bm25_rank
                            .get(hit.id.as_str())
                            .copied()
                            .unwrap_or(usize::MAX)
                    };
                    rank(&a.1).cmp(&rank(&b.1))
                })
                .then_with(|| a.1.id.cmp(&b.1.id))
        });
        if ml.rerank
            && let Some(words) = natural_language(&query.text)
            && let Err(error) = self
                .rerank(&ml, &query.tenant, &vector, &words, bm25, &mut hits)
                .await
        {
            tracing::warn!(%error, "re-ranking failed; the fused order stands");
        }
        let hits = hits
            .into_iter()
            .map(|(score, mut hit)| {
                hit.score = score;
                hit
            })
            .collect();
        Ok(Some((hits, bm25.total + added)))
    }

    /// Re-ranks the first [`RERANK_CANDIDATES`] of `hits` for a
    /// natural-language query by what each says *besides* the query's
    /// words. A bi-encoder rates a text that shares the query's words in
    /// other senses ("car pool lanes are exhausted" for "connection pool
    /// exhausted") above one that means the query in other words ("ran out
    /// of database connections"); with the shared words masked, the
    /// look-alike has little left that resembles the query and the real
    /// match keeps its meaning. The score adds, with smaller weights, the
    /// whole text's similarity and BM25, so a text that matches both ways
    /// still leads. Bounded: one batch of short passages per search.
    async fn rerank(
        &self,
        ml: &Ml,
        tenant: &str,
        query: &[f32],
        words: &[String],
        bm25: &cairn_search::Found,
        hits: &mut [(f32, Hit)],
    ) -> Result<(), ServiceError> {
        let n = hits.len().min(RERANK_CANDIDATES);
        if n < 2 {
            return Ok(());
        }
        // The similarity of the whole text, from its stored vector.
        let whole: Vec<Option<f32>> = {
            let vectors = ml.read();
            let docs = vectors.get(tenant);
            hits[..n]
                .iter()
                .map(|(_, hit)| {
                    docs.and_then(|docs| docs.get(&hit.id))
                        .map(|vector| cairn_ml::cosine(query, vector))
                })
                .collect()
        };
        // Only a passage that holds a query word changes when masked: the
        // others keep their whole text's similarity, and only the changed
        // ones go through the model (one batch, the cost of this stage).
        let mut changed = Vec::new();
        let mut texts = Vec::new();
        for (at, ((_, hit), whole)) in hits[..n].iter().zip(&whole).enumerate() {
            let passage = head(&hit.head, RERANK_BYTES);
            let masked = without_words(passage, words);
            if masked != passage || whole.is_none() {
                changed.push(at);
                texts.push(masked);
            }
        }
        let embedder = ml.embedder.clone();
        let vectors = spawn_cpu(move || embedder.embed_query(&texts))
            .await?
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        let mut masked: Vec<f32> = whole.iter().map(|whole| whole.unwrap_or(0.0)).collect();
        for (at, vector) in changed.into_iter().zip(vectors) {
            masked[at] = cairn_ml::cosine(query, &vector);
        }
        let best = bm25.hits.iter().map(|hit| hit.score).fold(0f32, f32::max);
        let lexical: HashMap<&str, f32> = bm25
            .hits
            .iter()
            .map(|hit| (hit.id.as_str(), hit.score))
            .collect();
        for (((score, hit), masked), whole) in hits[..n].iter_mut().zip(masked).zip(whole) {
            let lexical = match lexical.get(hit.id.as_str()) {
                Some(score) if best > 0.0 => score / best,
                _ => 0.0,
            };
            *score = masked + RERANK_WHOLE * whole.unwrap_or(0.0) + RERANK_LEXICAL * lexical;
        }
        hits[..n].sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(())
    }
}

/// Words a natural-language query's re-ranking ignores.
const STOPWORDS: [&str; 40] = [
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "has",
    "have", "how", "i", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "there",
    "these", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "with",
];

/// The content words of a query in prose (lowercased, stopwords dropped),
/// or `None` for a query that is not: one with quotes, operators, filters,
/// or a word shaped like an identifier (`user_id`, `getUser`, `v2`), which
/// BM25's order answers best, or fewer than two content words.
fn natural_language(query: &str) -> Option<Vec<String>> {
    if query.contains(['"', ':', '(', ')', '*', '[', '{']) {
        return None;
    }
    let mut words = Vec::new();
    let mut shaped = 0;
    let mut total = 0;
    for word in query.split_whitespace() {
        if matches!(word, "AND" | "OR" | "NOT") || word.starts_with(['-', '+']) {
            return None;
        }
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        if word.is_empty() {
            continue;
        }
        if !word
            .chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        {
            return None;
        }
        total += 1;
        if word.chars().skip(1).any(char::is_uppercase) {
            shaped += 1;
        }
        let lower = word.to_lowercase();
        if !STOPWORDS.contains(&lower.as_str()) {
            words.push(lower);
        }
    }
    // `OpenAI` in a sentence is a name; a query of names is a lookup.
    (words.len() >= 2 && shaped * 3 <= total).then_some(words)
}

/// `text` without the words that are one of `words` or differ from one by a
/// suffix of at most two letters (`connection`, `connections`).
fn without_words(text: &str, words: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = None;
    for (at, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, c.is_alphanumeric()) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                let word = text[from..at].to_lowercase();
                let masked = words.iter().any(|query| {
                    let (short, long) = if query.len() <= word.len() {
                        (query.as_str(), word.as_str())
                    } else {
                        (word.as_str(), query.as_str())
                    };
                    long.starts_with(short) && long.len() - short.len() <= 2 && short.len() >= 3
                });
                if !masked {
                    out.push_str(&text[from..at]);
                }
                start = None;
                if at < text.len() {
                    out.push(c);
                }
            }
            (None, false) => {
                if at < text.len() {
                    out.push(c);
                }
            }
            (Some(_), true) => {}
        }
    }
    out
}

/// Prose sentences of a view with a query are scored by similarity to it as
/// well as by BM25, unless there are more than this many (or bytes): the
/// latency cap is a work budget, not a timer, so a view is the same for the
/// same content, query and configuration (256 short sentences take about
/// 0.6 s on one core; see BENCHMARKS.md). Past it the view is BM25's.
const SCORE_MAX_SENTENCES: usize = 256;
const SCORE_MAX_BYTES: usize = 64 * 1024;

/// The embedder as a [`cairn_compress::SentenceScorer`].
#[derive(Debug)]
pub(crate) struct ProseScorer(pub(crate) Arc<Embedder>);

impl cairn_compress::SentenceScorer for ProseScorer {
    fn scores(&self, query: &str, sentences: &[&str]) -> Option<Vec<f32>> {
        let bytes: usize = sentences.iter().map(|s| s.len()).sum();
        if sentences.len() > SCORE_MAX_SENTENCES || bytes > SCORE_MAX_BYTES {
            return None;
        }
        let mut texts = Vec::with_capacity(sentences.len() + 1);
        texts.push(query);
        texts.extend_from_slice(sentences);
        let vectors = match self.0.embed_query(&texts) {
            Ok(vectors) => vectors,
            Err(error) => {
                tracing::warn!(%error, "scoring sentences failed; BM25 alone");
                return None;
            }
        };
        let (query, sentences) = vectors.split_first()?;
        Some(
            sentences
                .iter()
                .map(|v| cairn_ml::cosine(query, v))
                .collect(),
        )
    }
}

fn rrf(rank: usize) -> f32 {
    1.0 / (RRF_K + rank as f32 + 1.0)
}

/// The query as a sentence: its `field:value` filters and operators dropped.
fn semantic_text(query: &str) -> String {
    query
        .split_whitespace()
        .filter(|word| {
            !matches!(*word, "AND" | "OR" | "NOT")
                && !word.starts_with('-')
                && !word.split_once(':').is_some_and(|(field, _)| {
                    matches!(
                        field,
                        "agent" | "project" | "session" | "kind" | "role" | "tool"
                    )
                })
        })
        .map(|word| word.trim_matches(|c| c == '"' || c == '(' || c == ')' || c == '+'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The longest prefix of `text` of at most `max` bytes, on a char boundary.
fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_semantic_text_drops_filters_and_operators() {
        assert_eq!(
            semantic_text(r#"agent:claude "pool exhausted" AND -noise (db) tool:bash"#),
            "pool exhausted db"
        );
        assert_eq!(semantic_text("   "), "");
    }

    #[test]
    fn only_prose_queries_are_re_ranked() {
        assert_eq!(
            natural_language("connection pool exhausted"),
            Some(vec!["connection".into(), "pool".into(), "exhausted".into()])
        );
        assert!(natural_language("usage statistics adapter for the OpenAI coding agent").is_some());
        for lookup in [
            "user_prompts",
            "getUserById failed",
            "\"connection reset\"",
            "agent:codex pool",
            "pool -car",
            "v2 release",
            "pool",
            "the pool",
        ] {
            assert_eq!(natural_language(lookup), None, "{lookup}");
        }
    }

    #[test]
    fn the_query_words_are_masked_with_their_suffixes() {
        let words = vec![
            "connection".to_owned(),
            "pool".to_owned(),
            "exhausted".to_owned(),
        ];
        assert_eq!(
            without_words("Car pool lanes are exhausted; 3 connections.", &words),
            "Car  lanes are ; 3 ."
        );
        assert_eq!(
            without_words("pooling poolside", &words),
            "pooling poolside"
        );
        assert_eq!(without_words("", &words), "");
    }

    #[test]
    fn rrf_favours_the_top_and_sums() {
        assert!(rrf(0) > rrf(1));
        assert!(rrf(5) + rrf(5) > rrf(0));
    }
}
