//! `compress`: stateless compression of one text.

use async_graphql::{Context, Object, SimpleObject};
use bytes::Bytes;
use cairn_auth::Scope;
use cairn_service::{CompressInput, Kind};
use cairn_types::Marker;

use super::caller;
use crate::ApiError;

/// A compressed text. The original of every cut is kept, so each marker's
/// `ref` resolves with `ccr`.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct CompressResult {
    content: String,
    /// What the content was taken for.
    kind: String,
    /// The `ccr:` reference of the original.
    #[graphql(name = "ref")]
    reference: String,
    tokens_before: u64,
    tokens_after: u64,
    markers: Vec<Marker>,
}

#[derive(Default)]
pub(crate) struct CompressMutation;

#[Object]
impl CompressMutation {
    /// Compresses `content`, keeping what matches `query`, within `maxTokens`.
    #[graphql(complexity = "crate::graphql::COSTLY + child_complexity")]
    async fn compress(
        &self,
        ctx: &Context<'_>,
        content: String,
        query: Option<String>,
        #[graphql(desc = "Cap the result at this many tokens (at least 1).")] max_tokens: Option<
            i64,
        >,
        #[graphql(
            desc = "What the content is (json_rows, json, log, search, diff, csv, tsv, html, prose, code, text); detected when absent."
        )]
        kind: Option<String>,
    ) -> Result<CompressResult, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Write)?;
        let hint = kind.as_deref().map(parse_kind).transpose()?;
        let input = CompressInput {
            content: Bytes::from(content),
            query: query.filter(|query| !query.trim().is_empty()),
            max_tokens: crate::graphql::count(max_tokens),
            hint,
        };
        let output = cairn.compress(&principal.tenant, input).await?;
        Ok(CompressResult {
            content: output.content,
            kind: output.kind.as_str().to_owned(),
            reference: output.hash.ccr_ref().to_string(),
            tokens_before: output.tokens_before,
            tokens_after: output.tokens_after,
            markers: output.markers,
        })
    }
}

fn parse_kind(name: &str) -> Result<Kind, ApiError> {
    Kind::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
        ApiError::invalid_request(format!(
            "unknown kind {name:?}; one of: {}",
            names.join(", ")
        ))
    })
}
