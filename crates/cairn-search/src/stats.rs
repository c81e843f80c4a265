//! BM25 statistics of one tenant. tantivy scores with statistics of the
//! whole index (how many documents hold a term, how long documents are);
//! in an index shared by tenants that lets tenant A learn from the score of
//! a one-hit search whether a word occurs in tenant B's data. A search is
//! scored with its tenant's statistics alone: every count below is taken
//! over the documents of that tenant, deleted ones left out.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Mutex;

use tantivy::collector::Count;
use tantivy::query::{Bm25StatisticsProvider, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocSet as _, Searcher, TERMINATED, Term};

/// A tenant's token totals per field, kept for as long as searches read the
/// same segments: counting them walks every document of the tenant (2–3 ms
/// at a million messages), once per query term, and they change only when
/// the index's reader moves to a new generation.
#[derive(Debug, Default)]
pub(crate) struct StatsCache {
    totals: Mutex<Totals>,
}

/// The reader generation the totals are of, and each tenant's per field.
type Totals = (u64, HashMap<(String, Field), u64>);

impl StatsCache {
    fn get(&self, generation: u64, tenant: &str, field: Field) -> Option<u64> {
        let totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (totals.0 == generation)
            .then(|| totals.1.get(&(tenant.to_owned(), field)).copied())
            .flatten()
    }

    fn put(&self, generation: u64, tenant: &str, field: Field, total: u64) {
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if totals.0 != generation {
            *totals = (generation, HashMap::new());
        }
        totals.1.insert((tenant.to_owned(), field), total);
    }
}

/// The statistics provider for one search.
pub(crate) struct TenantStats<'a> {
    searcher: &'a Searcher,
    tenant: Term,
    tenant_name: String,
    docs: OnceCell<u64>,
    cache: &'a StatsCache,
}

impl<'a> TenantStats<'a> {
    pub(crate) fn new(
        searcher: &'a Searcher,
        tenant_field: Field,
        tenant: &str,
        cache: &'a StatsCache,
    ) -> TenantStats<'a> {
        TenantStats {
            searcher,
            tenant: Term::from_field_text(tenant_field, tenant),
            tenant_name: tenant.to_owned(),
            docs: OnceCell::new(),
            cache,
        }
    }

    fn tenant_query(&self) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            self.tenant.clone(),
            IndexRecordOption::Basic,
        ))
    }
}

impl Bm25StatisticsProvider for TenantStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let generation = self.searcher.generation().generation_id();
        let tenant = self.tenant_name.as_str();
        if let Some(total) = self.cache.get(generation, tenant, field) {
            return Ok(total);
        }
        let mut total = 0u64;
        for segment in self.searcher.segment_readers() {
            let Some(mut postings) = segment
                .inverted_index(self.tenant.field())?
                .read_postings(&self.tenant, IndexRecordOption::Basic)?
            else {
                continue;
            };
            let norms = segment.get_fieldnorms_reader(field)?;
            let alive = segment.alive_bitset();
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|alive| alive.is_alive(doc)) {
                    total += u64::from(norms.fieldnorm(doc));
                }
                doc = postings.advance();
            }
        }
        self.cache.put(generation, tenant, field, total);
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        if let Some(&docs) = self.docs.get() {
            return Ok(docs);
        }
        let docs = self.searcher.search(&*self.tenant_query(), &Count)? as u64;
        Ok(*self.docs.get_or_init(|| docs))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let both = BooleanQuery::new(vec![
            (Occur::Must, self.tenant_query()),
            (
                Occur::Must,
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic)),
            ),
        ]);
        Ok(self.searcher.search(&both, &Count)? as u64)
    }
}
