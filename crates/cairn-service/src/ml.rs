//! Local ML (SPEC §7): the background embedder, which follows the message
//! and context feeds with its own progress (stored with the vectors) and
//! embeds what is new, never on the put path; and hybrid search, which fuses
//! the BM25 ranking with an exact vector scan by reciprocal rank fusion.
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
}

impl Ml {
    pub fn new(embedder: Embedder) -> Ml {
        Ml {
            embedder: Arc::new(embedder),
            vectors: RwLock::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
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
        let vector = spawn_cpu(move || embedder.embed(&[text]))
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
        let hits = hits
            .into_iter()
            .map(|(score, mut hit)| {
                hit.score = score;
                hit
            })
            .collect();
        Ok(Some((hits, bm25.total + added)))
    }
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
        let vectors = match self.0.embed(&texts) {
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
    fn rrf_favours_the_top_and_sums() {
        assert!(rrf(0) > rrf(1));
        assert!(rrf(5) + rrf(5) > rrf(0));
    }
}
