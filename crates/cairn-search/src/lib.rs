//! Cairn's search index: session messages and contexts in one tantivy index
//! on disk, read with a tokenizer that splits identifiers ([`tokenizer`]),
//! ranked by BM25 with a recency boost, filtered by tenant, agent, project,
//! session, kind and time, with highlighted snippets.
//!
//! The index is derived data: everything in it is rebuilt from the database
//! (`SearchIndex::clear` then `add` everything). The caller records what it
//! has indexed with [`SearchIndex::commit`]'s watermark, read back by
//! [`SearchIndex::watermark`]: it rebuilds when the index is missing, from
//! another schema version or ahead of the database, and catches up when it
//! is behind.
//!
//! API boundary: depends on tantivy only; callers pass plain documents.

mod stats;
pub mod tokenizer;

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{
    Directory as _, DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument,
    Term,
};

use crate::tokenizer::CodeTokenizer;

/// Bumped whenever the schema or the tokenizer changes: an index of another
/// version is rebuilt.
pub const SCHEMA_VERSION: u32 = 2;
/// The tokenizer's name in the index's schema.
const TOKENIZER: &str = "cairn_code";
/// Text beyond this many bytes of a document is not indexed (tool outputs
/// of megabytes: their head is what a search finds them by).
pub const MAX_INDEXED_BYTES: usize = 1 << 20;
/// The indexing arena: tantivy writes a segment out when it fills. Its heap
/// stays allocated between commits, so it counts against the server's
/// memory (SPEC §8); the indexer hands over at most 16 MiB of text at a time.
const WRITER_ARENA_BYTES: usize = 32 << 20;
/// Segments merge on one thread (tantivy's default is four): each merge
/// holds buffers of its own, and on a small machine more threads only run
/// more merges at once, not sooner.
const MERGE_THREADS: usize = 1;
/// Bytes of a hit's text it carries in [`Hit::head`].
pub const HEAD_BYTES: usize = 1024;
/// Bytes of a document kept in the index for snippets.
const PREVIEW_BYTES: usize = 8 * 1024;
/// The recency boost halves every this many milliseconds (30 days).
const RECENCY_HALF_LIFE_MS: f64 = 30.0 * 24.0 * 3600.0 * 1000.0;
/// At most this many results per search.
pub const MAX_LIMIT: usize = 1000;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query does not parse: the message says where and why.
    #[error("invalid query: {0}")]
    Query(String),
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Open(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    #[error("the search index is closed")]
    Closed,
}

/// A document: a session message or a context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doc {
    /// Unique per document: adding a document with the same id replaces it.
    pub id: String,
    pub tenant: String,
    /// `message` or `context`.
    pub kind: String,
    pub agent: Option<String>,
    pub project: Option<String>,
    pub session: Option<String>,
    pub role: Option<String>,
    pub tool: Option<String>,
    /// The context's key.
    pub key: Option<String>,
    /// The message's position in its session.
    pub position: Option<u64>,
    /// The `ccr:` reference of the full message or context.
    pub reference: String,
    /// Unix milliseconds.
    pub at: i64,
    pub text: String,
}

/// A search.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub tenant: String,
    /// The query: words, `"phrases"`, `field:value` filters (agent, project,
    /// session, kind, role, tool), `AND`/`OR`/`-`; empty matches everything.
    pub text: String,
    pub agent: Option<String>,
    pub project: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    pub limit: usize,
    /// Now, in unix milliseconds: what recency is measured from.
    pub now: i64,
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub kind: String,
    pub agent: Option<String>,
    pub project: Option<String>,
    pub session: Option<String>,
    pub role: Option<String>,
    pub tool: Option<String>,
    pub key: Option<String>,
    /// Every key holding the same content, `key` first, when more than one
    /// does ([`group_by_content`]).
    pub keys: Vec<String>,
    pub position: Option<u64>,
    pub reference: String,
    pub at: i64,
    pub score: f32,
    /// A fragment of the text around the best match, matches in `**`.
    pub snippet: String,
    /// The first [`HEAD_BYTES`] of the text (secrets masked, as indexed),
    /// for a re-ranking stage to read.
    pub head: String,
    /// Whether `snippet` shows a match. The index keeps a document's first
    /// 8 KiB for snippets: a match further in is not shown, and
    /// [`SearchIndex::snippets`] cuts one from the whole text instead.
    pub highlighted: bool,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// All matching documents (before the limit).
    pub total: usize,
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    tenant: Field,
    kind: Field,
    agent: Field,
    project: Field,
    session: Field,
    role: Field,
    tool: Field,
    key: Field,
    position: Field,
    reference: Field,
    at: Field,
    text: Field,
    preview: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        tenant: builder.add_text_field("tenant", STRING),
        kind: builder.add_text_field("kind", STRING | STORED),
        agent: builder.add_text_field("agent", STRING | STORED),
        project: builder.add_text_field("project", STRING | STORED),
        session: builder.add_text_field("session", STRING | STORED),
        role: builder.add_text_field("role", STRING | STORED),
        tool: builder.add_text_field("tool", STRING | STORED),
        key: builder.add_text_field("key", STRING | STORED),
        position: builder.add_u64_field("position", STORED),
        reference: builder.add_text_field("reference", STORED),
        at: builder.add_i64_field("at", INDEXED | FAST | STORED),
        text: builder.add_text_field("text", text_options),
        // Not indexed: the head of the text, for snippets.
        preview: builder.add_text_field("preview", STORED),
    };
    (builder.build(), fields)
}

/// The search index in one folder.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// `None` once closed: the writer's lock on the folder is released.
    writer: Mutex<Option<Writer>>,
    fields: Fields,
    parser: QueryParser,
    /// Why `open` started the index over, if it did.
    started_over: Option<String>,
    /// Tenants' token totals for BM25, per reader generation.
    stats_cache: stats::StatsCache,
}

/// The index writer and the ids it added since its last commit.
struct Writer {
    writer: IndexWriter,
    /// Ids added since the last commit: a second add of one of them must
    /// delete the first, which the committed index does not show yet.
    uncommitted: HashSet<String>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

/// `index` and its reader, if every segment it lists is there, opens and
/// matches its checksum.
fn whole(index: Index) -> tantivy::Result<(Index, IndexReader)> {
    let failing = index.validate_checksum()?;
    if !failing.is_empty() {
        let mut files: Vec<_> = failing
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        files.sort();
        return Err(tantivy::TantivyError::DataCorruption(
            tantivy::error::DataCorruption::comment_only(format!(
                "checksum mismatch in {}",
                files.join(", ")
            )),
        ));
    }
    // Opening the reader opens every segment's files: a missing one fails here.
    let reader = reader(&index)?;
    Ok((index, reader))
}

/// The index's reader, reloaded by hand ([`SearchIndex::refresh`]).
fn reader(index: &Index) -> tantivy::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
}

/// Whether `error`, met opening an index, means the index is damaged or of
/// other fields (to be started over) rather than a machine's trouble (a
/// permission, a full disk, a lock) to report.
fn damaged(error: &tantivy::TantivyError) -> bool {
    use std::io::ErrorKind;
    use tantivy::TantivyError;
    use tantivy::directory::error::OpenReadError;
    match error {
        TantivyError::SchemaError(_)
        | TantivyError::DataCorruption(_)
        | TantivyError::IncompatibleIndex(_)
        | TantivyError::DeserializeError(_)
        | TantivyError::OpenReadError(OpenReadError::FileDoesNotExist(_)) => true,
        TantivyError::IoError(io_error)
        | TantivyError::OpenReadError(OpenReadError::IoError { io_error, .. }) => {
            matches!(
                io_error.kind(),
                ErrorKind::InvalidData | ErrorKind::UnexpectedEof
            )
        }
        _ => false,
    }
}

/// The watermark stored with each commit: the schema version and what the
/// caller says it has indexed.
fn payload(watermark: &str) -> String {
    format!("v{SCHEMA_VERSION} {watermark}")
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (and `dir`) when missing. An
    /// index whose fields differ, or a damaged one (an unreadable
    /// `meta.json`, a segment file missing, cut short or failing its
    /// checksum), is started over here: [`SearchIndex::started_over`] says
    /// why. One committed under another [`SCHEMA_VERSION`] has no
    /// [`SearchIndex::watermark`], so the caller clears and rebuilds it.
    ///
    /// Checking every segment's checksum reads the whole index once.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        // The writer's lock, held while the index is judged: the index of a
        // server still running (between a merge and its cleanup, say) must
        // not be taken for damaged and removed.
        let lock = directory
            .acquire_lock(&tantivy::directory::INDEX_WRITER_LOCK)
            .map_err(|error| tantivy::TantivyError::LockFailure(error, None))?;
        let mut started_over = None;
        let (index, reader) = match Index::open_or_create(directory, schema.clone()).and_then(whole)
        {
            Ok(opened) => opened,
            // The index is derived data: start over.
            Err(error) if damaged(&error) => {
                started_over = Some(error.to_string());
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                let index = Index::create_in_dir(dir, schema.clone())?;
                let reader = reader(&index)?;
                (index, reader)
            }
            Err(error) => return Err(error.into()),
        };
        drop(lock);
        index.tokenizers().register(
            TOKENIZER,
            TextAnalyzer::builder(CodeTokenizer::INDEX).build(),
        );
        let writer = index.writer_with_options(
            tantivy::indexer::IndexWriterOptions::builder()
                .num_worker_threads(1)
                .memory_budget_per_thread(WRITER_ARENA_BYTES)
                .num_merge_threads(MERGE_THREADS)
                .build(),
        )?;
        // Queries are read with the chunk-only tokenizer.
        let query_tokenizers = TokenizerManager::default();
        query_tokenizers.register(
            TOKENIZER,
            TextAnalyzer::builder(CodeTokenizer::QUERY).build(),
        );
        let mut parser = QueryParser::new(schema, vec![fields.text], query_tokenizers);
        parser.set_conjunction_by_default();
        let search = SearchIndex {
            index,
            reader,
            writer: Mutex::new(Some(Writer {
                writer,
                uncommitted: HashSet::new(),
            })),
            fields,
            parser,
            started_over,
            stats_cache: stats::StatsCache::default(),
        };
        Ok(search)
    }

    /// Why [`SearchIndex::open`] found the index damaged (or of other
    /// fields) and started it over, if it did.
    pub fn started_over(&self) -> Option<&str> {
        self.started_over.as_deref()
    }

    /// What the last commit said was indexed, or `None` for an index that
    /// was never committed (or is of another schema version).
    pub fn watermark(&self) -> Result<Option<String>, SearchError> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.and_then(|payload| {
            let (version, watermark) = payload.split_once(' ')?;
            (version == format!("v{SCHEMA_VERSION}")).then(|| watermark.to_owned())
        }))
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        // A panic while holding the lock leaves nothing half-done that
        // tantivy would not roll back on the next commit.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops the writer, releasing its lock on the folder (another process,
    /// or a server started next, can then open it); searches still work,
    /// writes fail with [`SearchError::Closed`]. Uncommitted additions are
    /// lost, as the index is derived data.
    pub fn close(&self) {
        self.writer().take();
    }

    /// Adds documents, replacing any with the same id (in the index, or
    /// earlier in `docs`); visible after [`SearchIndex::commit`].
    ///
    /// The documents they replace are deleted by one query for the whole
    /// call, naming only ids the index holds, not by a delete per document:
    /// tantivy queues every delete operation (about a kilobyte each with its
    /// weight) until every segment's cursor, a long merge's included, has
    /// passed it. A heap profile of 30,000 puts found 374 MB of them.
    pub fn add(&self, docs: impl IntoIterator<Item = Doc>) -> Result<usize, SearchError> {
        let mut guard = self.writer();
        let Writer {
            writer,
            uncommitted,
        } = guard.as_mut().ok_or(SearchError::Closed)?;
        let fields = self.fields;
        // The last document of each id wins.
        let mut seen = HashSet::new();
        let mut docs: Vec<Doc> = docs.into_iter().collect();
        docs.reverse();
        docs.retain(|doc| seen.insert(doc.id.clone()));
        docs.reverse();
        let searcher = self.reader.searcher();
        let mut replaced = Vec::new();
        for doc in &docs {
            let term = Term::from_field_text(fields.id, &doc.id);
            // A count that cannot be read deletes: a needless delete is harmless.
            if uncommitted.contains(&doc.id) || searcher.doc_freq(&term).map_or(true, |n| n > 0) {
                replaced.push(term);
            }
        }
        if !replaced.is_empty() {
            writer.delete_query(Box::new(TermSetQuery::new(replaced)))?;
        }
        let mut added = 0;
        for doc in docs {
            uncommitted.insert(doc.id.clone());
            let mut document = TantivyDocument::default();
            document.add_text(fields.id, &doc.id);
            document.add_text(fields.tenant, &doc.tenant);
            document.add_text(fields.kind, &doc.kind);
            for (field, value) in [
                (fields.agent, &doc.agent),
                (fields.project, &doc.project),
                (fields.session, &doc.session),
                (fields.role, &doc.role),
                (fields.tool, &doc.tool),
                (fields.key, &doc.key),
            ] {
                if let Some(value) = value {
                    document.add_text(field, value);
                }
            }
            if let Some(position) = doc.position {
                document.add_u64(fields.position, position);
            }
            document.add_text(fields.reference, &doc.reference);
            document.add_i64(fields.at, doc.at);
            document.add_text(fields.text, head(&doc.text, MAX_INDEXED_BYTES));
            document.add_text(fields.preview, head(&doc.text, PREVIEW_BYTES));
            writer.add_document(document)?;
            added += 1;
        }
        Ok(added)
    }

    /// Removes one document by id; visible after the next commit.
    pub fn remove(&self, id: &str) {
        if let Some(Writer { writer, .. }) = self.writer().as_ref() {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
        }
    }

    /// Makes everything added visible, recording `watermark` with it.
    pub fn commit(&self, watermark: &str) -> Result<(), SearchError> {
        let mut guard = self.writer();
        let Writer {
            writer,
            uncommitted,
        } = guard.as_mut().ok_or(SearchError::Closed)?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload(watermark));
        prepared.commit()?;
        // Only once searches (and so `add`'s look-ups) see the commit.
        self.reader.reload()?;
        uncommitted.clear();
        Ok(())
    }

    /// Lets searches see segments merged since the last commit, and so lets
    /// go of the merged-away ones: their files are deleted, but their pages
    /// stay mapped (and in the server's RSS, 86 MiB at 100,000 contexts)
    /// until no searcher holds them. Returns whether anything changed; the
    /// indexer calls it whenever it wakes.
    pub fn refresh(&self) -> Result<bool, SearchError> {
        let committed: HashSet<tantivy::index::SegmentId> =
            self.index.searchable_segment_ids()?.into_iter().collect();
        let searched: HashSet<tantivy::index::SegmentId> = self
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|segment| segment.segment_id())
            .collect();
        if committed == searched {
            return Ok(false);
        }
        self.reader.reload()?;
        Ok(true)
    }

    /// Empties the index (committed at once, with no watermark).
    pub fn clear(&self) -> Result<(), SearchError> {
        {
            let mut guard = self.writer();
            let Writer {
                writer,
                uncommitted,
            } = guard.as_mut().ok_or(SearchError::Closed)?;
            writer.delete_all_documents()?;
            writer.commit()?;
            uncommitted.clear();
        }
        self.reader.reload()?;
        Ok(())
    }

    /// How many segments searches read.
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// How many documents are searchable.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self, dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
            .sum()
    }

    fn term_filter(&self, field: Field, value: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        ))
    }

    /// `main` within the query's tenant and filters.
    fn filtered(&self, query: &SearchQuery, main: Box<dyn Query>) -> BooleanQuery {
        let fields = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, main),
            (Occur::Must, self.term_filter(fields.tenant, &query.tenant)),
        ];
        for (field, value) in [
            (fields.agent, &query.agent),
            (fields.project, &query.project),
            (fields.session, &query.session),
            (fields.kind, &query.kind),
        ] {
            if let Some(value) = value {
                clauses.push((Occur::Must, self.term_filter(field, value)));
            }
        }
        if query.since.is_some() || query.until.is_some() {
            let bound = |value: Option<i64>, inclusive: bool| match value {
                None => Bound::Unbounded,
                Some(value) if inclusive => Bound::Included(Term::from_field_i64(fields.at, value)),
                Some(value) => Bound::Excluded(Term::from_field_i64(fields.at, value)),
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(query.since, true),
                    bound(query.until, false),
                )),
            ));
        }
        BooleanQuery::new(clauses)
    }

    /// The documents among `ids` that pass the query's tenant and filters
    /// (its text aside), in the order of `ids`, with score 0 and a snippet
    /// highlighting the query's words where there are any: the semantic
    /// candidates of a hybrid search.
    pub fn hits_by_id(&self, query: &SearchQuery, ids: &[String]) -> Result<Vec<Hit>, SearchError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let fields = self.fields;
        let wanted: Vec<(Occur, Box<dyn Query>)> = ids
            .iter()
            .map(|id| (Occur::Should, self.term_filter(fields.id, id)))
            .collect();
        let full = self.filtered(query, Box::new(BooleanQuery::new(wanted)));
        let searcher = self.reader.searcher();
        let top = searcher.search(&full, &TopDocs::with_limit(ids.len()).order_by_score())?;
        let highlight: Box<dyn Query> = match self.parser.parse_query(&prepare(&query.text)) {
            Ok(parsed) if !query.text.trim().is_empty() => parsed,
            _ => Box::new(AllQuery),
        };
        let snippets = snippet_generator(&searcher, &*highlight, fields.text)?;
        let mut hits = top
            .into_iter()
            .map(|(_, address)| self.hit(&searcher, address, 0.0, &snippets))
            .collect::<Result<Vec<Hit>, SearchError>>()?;
        hits.sort_by_key(|hit| ids.iter().position(|id| *id == hit.id));
        Ok(hits)
    }

    /// Runs a search.
    pub fn search(&self, query: &SearchQuery) -> Result<Found, SearchError> {
        let fields = self.fields;
        let text = query.text.trim();
        let parsed: Box<dyn Query> = if text.is_empty() {
            Box::new(AllQuery)
        } else {
            self.parser
                .parse_query(&prepare(text))
                .map_err(|error| SearchError::Query(error.to_string()))?
        };
        let full = self.filtered(query, parsed.box_clone());
        let searcher = self.reader.searcher();
        let now = query.now;
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let collector =
            TopDocs::with_limit(limit).tweak_score(move |segment: &tantivy::SegmentReader| {
                let at = segment
                    .fast_fields()
                    .i64("at")
                    .ok()
                    .map(|column| column.first_or_default_col(0));
                move |doc: tantivy::DocId, score: tantivy::Score| {
                    let when = at.as_ref().map_or(now, |column| column.get_val(doc));
                    score * recency_boost(now, when)
                }
            });
        // Scored with the caller's tenant's statistics, not the whole index's.
        let stats =
            stats::TenantStats::new(&searcher, fields.tenant, &query.tenant, &self.stats_cache);
        let (top, total) =
            searcher.search_with_statistics_provider(&full, &(collector, Count), &stats)?;
        // The query's terms are on `text`; the snippet is cut from `preview`.
        let snippets = snippet_generator(&searcher, &*parsed, fields.text)?;
        let hits = top
            .into_iter()
            .map(|(score, address)| self.hit(&searcher, address, score, &snippets))
            .collect::<Result<Vec<Hit>, SearchError>>()?;
        Ok(Found { total, hits })
    }

    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
        score: f32,
        snippets: &SnippetGenerator,
    ) -> Result<Hit, SearchError> {
        let fields = self.fields;
        let document: TantivyDocument = searcher.doc(address)?;
        let text = |field: Field| {
            document
                .get_first(field)
                .and_then(|value| value.as_str())
                .map(str::to_owned)
        };
        let preview = text(fields.preview).unwrap_or_default();
        let (mut rendered, highlighted) = cut(snippets, &preview);
        if rendered.is_empty() {
            // No highlight (a filter-only search, or a match past the
            // preview): the head of the text.
            rendered = head(&preview, 150).to_owned();
        }
        Ok(Hit {
            id: text(fields.id).unwrap_or_default(),
            kind: text(fields.kind).unwrap_or_default(),
            agent: text(fields.agent),
            project: text(fields.project),
            session: text(fields.session),
            role: text(fields.role),
            tool: text(fields.tool),
            key: text(fields.key),
            keys: Vec::new(),
            position: document
                .get_first(fields.position)
                .and_then(|value| value.as_u64()),
            reference: text(fields.reference).unwrap_or_default(),
            at: document
                .get_first(fields.at)
                .and_then(|value| value.as_i64())
                .unwrap_or_default(),
            score,
            snippet: rendered,
            head: head(&preview, HEAD_BYTES).to_owned(),
            highlighted,
        })
    }

    /// Snippets of whole texts around their best passage for `query`
    /// (matches in `**`): for hits whose match lies past the preview the
    /// index keeps. Each text is read up to [`MAX_INDEXED_BYTES`], as it was
    /// indexed; `None` where the text holds no match.
    pub fn snippets(
        &self,
        query: &str,
        texts: &[String],
    ) -> Result<Vec<Option<String>>, SearchError> {
        let parsed = self
            .parser
            .parse_query(&prepare(query))
            .map_err(|error| SearchError::Query(error.to_string()))?;
        let searcher = self.reader.searcher();
        let generator = snippet_generator(&searcher, &*parsed, self.fields.text)?;
        Ok(texts
            .iter()
            .map(|text| {
                let (snippet, highlighted) = cut(&generator, head(text, MAX_INDEXED_BYTES));
                highlighted.then_some(snippet)
            })
            .collect())
    }
}

/// Snippets of `field` for `query`'s terms, as tantivy's
/// `SnippetGenerator::create` makes them (rarer terms score higher) but cut
/// with [`CodeTokenizer::SNIPPET`]: the index's tokens inside compounds
/// overlap, and tantivy's fragment search needs offsets that never go back.
fn snippet_generator(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    field: Field,
) -> Result<SnippetGenerator, SearchError> {
    let mut terms = std::collections::BTreeSet::new();
    query.query_terms(&mut |term, _| {
        if term.field() == field {
            terms.insert(term.clone());
        }
    });
    let mut scored = std::collections::BTreeMap::new();
    for term in terms {
        let Some(text) = term.value().as_str().map(str::to_owned) else {
            continue;
        };
        let doc_freq = searcher.doc_freq(&term)?;
        if doc_freq > 0 {
            scored.insert(text, 1.0 / (1.0 + doc_freq as f32));
        }
    }
    Ok(SnippetGenerator::new(
        scored,
        TextAnalyzer::builder(CodeTokenizer::SNIPPET).build(),
        field,
        SNIPPET_CHARS,
    ))
}

/// Characters of a snippet.
const SNIPPET_CHARS: usize = 150;

/// The snippet of `text` (plain text, matches in `**`) and whether it
/// highlights a match.
fn cut(generator: &SnippetGenerator, text: &str) -> (String, bool) {
    let mut snippet = generator.snippet(text);
    snippet.set_snippet_prefix_postfix("**", "**");
    let highlighted = !snippet.highlighted().is_empty();
    (trimmed(unescape_html(&snippet.to_html())), highlighted)
}

/// A snippet cut to about [`SNIPPET_CHARS`] around its first highlight: a
/// match inside a long compound (a URL of kilobytes) highlights the whole
/// compound, and tantivy's fragment then spans all of it.
fn trimmed(snippet: String) -> String {
    let chars = snippet.chars().count();
    if chars <= 2 * SNIPPET_CHARS {
        return snippet;
    }
    let first = snippet.find("**").unwrap_or(0);
    let at = snippet[..first].chars().count();
    let from = at.saturating_sub(SNIPPET_CHARS / 3);
    let to = (from + SNIPPET_CHARS * 2).min(chars);
    let mut out: String = snippet.chars().skip(from).take(to - from).collect();
    if out.matches("**").count() % 2 == 1 {
        out.push_str("**");
    }
    if from > 0 {
        out.insert(0, '…');
    }
    if to < chars {
        out.push('…');
    }
    out
}

/// The fields a query may filter on with `field:value`.
const FILTER_FIELDS: [&str; 6] = ["agent", "project", "session", "kind", "role", "tool"];

/// The query as the parser should read it: a word that holds the query
/// syntax's characters without meaning them (`file_name.rs:12`,
/// `Foo::bar_baz`, `getUserById(x)`, `a[0]`) is quoted, so it is searched
/// as the identifier it is; `field:value` filters, `"phrases"`, `AND`, `OR`
/// and a leading `-` or `+` keep their meaning. An unclosed quote is closed.
pub fn prepare(query: &str) -> String {
    let mut out = String::new();
    let mut parts = query.trim().split('"').peekable();
    let mut quoted = false;
    while let Some(part) = parts.next() {
        if quoted {
            out.push('"');
            out.push_str(part);
            out.push('"');
        } else {
            // What follows a phrase with no space (`"a b")`) stays glued to it.
            let after_phrase = out.ends_with('"') && !part.starts_with(char::is_whitespace);
            for (n, word) in part.split_whitespace().enumerate() {
                if n > 0 || (!out.is_empty() && !after_phrase) {
                    out.push(' ');
                }
                out.push_str(&prepare_word(word));
            }
            // A sign or a parenthesis right before a quote belongs to the
            // phrase: `-"car pool"` excludes it, `("a b"` groups it.
            let glued = !part.ends_with(char::is_whitespace)
                && part
                    .split_whitespace()
                    .next_back()
                    .is_some_and(|word| word.chars().all(|c| matches!(c, '-' | '+' | '(')));
            if parts.peek().is_some() && !out.is_empty() && !out.ends_with(' ') && !glued {
                out.push(' ');
            }
        }
        quoted = !quoted;
    }
    out.trim().to_owned()
}

fn prepare_word(word: &str) -> std::borrow::Cow<'_, str> {
    // Operators alone (`-` or `(` before a phrase) are left to the parser.
    if word.chars().all(|c| matches!(c, '-' | '+' | '(' | ')')) {
        return std::borrow::Cow::Borrowed(word);
    }
    // Grouping: parentheses that open the word (before or after its sign),
    // and those that close it beyond what the word opens itself (`(a`,
    // `-(a`, `(-a`, `b)`, but not `f(x)`).
    let unopened = word.trim_start_matches(['(', '-', '+']);
    let lead = &word[..word.len() - unopened.len()];
    // `--flag` is a flag, not the negation of `-flag`: a lead with two signs
    // is part of the word.
    let open = if lead.matches(['-', '+']).count() > 1 {
        lead.trim_end_matches(['-', '+'])
    } else {
        lead
    };
    let core = &word[open.len()..];
    let mut end = core.len();
    while core[..end].ends_with(')')
        && core[..end].matches(')').count() > core[..end].matches('(').count()
    {
        end -= 1;
    }
    let (core, close) = core.split_at(end);
    let special = |c: char| ":()^[]{}~!*\'<>=".contains(c);
    let filter = core
        .split_once(':')
        .is_some_and(|(field, value)| FILTER_FIELDS.contains(&field) && !value.contains(special));
    if core.is_empty() || filter || !(core.contains(special) || core.starts_with(['-', '+'])) {
        return std::borrow::Cow::Borrowed(word);
    }
    std::borrow::Cow::Owned(format!("{open}\"{core}\"{close}"))
}

/// Folds contexts of identical content into the first (best-ranked) of
/// them, which lists every key in [`Hit::keys`]; returns how many hits were
/// folded away. Messages stay apart: each is a turn of its own session.
pub fn group_by_content(hits: &mut Vec<Hit>) -> usize {
    let mut first_of: std::collections::HashMap<String, usize> = Default::default();
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    let before = hits.len();
    for hit in hits.drain(..) {
        let Some(key) = hit.key.clone().filter(|_| hit.kind == "context") else {
            kept.push(hit);
            continue;
        };
        match first_of.get(&hit.reference) {
            Some(&at) => {
                let first = &mut kept[at];
                if first.keys.is_empty() {
                    first.keys.extend(first.key.clone());
                }
                first.keys.push(key);
            }
            None => {
                first_of.insert(hit.reference.clone(), kept.len());
                kept.push(hit);
            }
        }
    }
    *hits = kept;
    before - hits.len()
}

/// 1.5 for a document from now, falling to 1.0 with a 30-day half-life.
fn recency_boost(now: i64, at: i64) -> f32 {
    let age = (now - at).max(0) as f64;
    (1.0 + 0.5 * 0.5f64.powf(age / RECENCY_HALF_LIFE_MS)) as f32
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

/// Snippets come back HTML-escaped; the API returns plain text.
fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}
