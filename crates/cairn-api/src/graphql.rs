//! The GraphQL surface at `/graphql`: queries and mutations over POST,
//! GraphiQL on GET, subscriptions over WebSocket (`graphql-transport-ws`).
//!
//! API boundary: resolvers are as thin as the REST handlers. Each checks the
//! caller's scope, calls one verb of [`cairn_service::Cairn`] for the
//! caller's tenant and converts the answer into a GraphQL type; no storage,
//! compression or search logic lives here. Every error carries
//! `extensions.code` from the catalogue in `cairn-types`.

mod briefing;
mod compress;
mod contexts;
mod errors;
mod graphiql;
mod http;
mod search;
mod sessions;
mod subscription;
mod ws;

use async_graphql::{Context, MergedObject, Schema};
use axum::Router;
use axum::routing::get;
use cairn_auth::{Principal, Scope};
use cairn_service::Cairn;

use crate::{ApiError, ApiState};

/// Deepest selection accepted, counting leaf fields. Cairn's own types nest
/// at most six deep; GraphiQL's introspection query reaches thirteen.
pub const MAX_DEPTH: usize = 16;

/// Largest complexity accepted. Every field selected counts one, and the
/// fields under a list (`contexts`, `sessions`, a session's `messages`,
/// `search`) count once per item of the page asked for (its default size
/// when `first` is absent): 100 contexts of fifteen fields cost about 1,600,
/// a page of 200 messages about 2,800, a GraphiQL introspection about 200.
/// So messages of many sessions at once are refused, not read.
pub const MAX_COMPLEXITY: usize = 20_000;

/// What a field that renders a view, compresses, or searches counts, beside
/// its selection: one request holds at most twenty, however they are
/// aliased (a thousand aliased query-aware `context` views once took 38 s
/// of CPU in one request).
pub(crate) const COSTLY: usize = 1_000;

/// `first` as a page size of at most `max`: a value outside `1..=max`
/// (negative ones included, which an unsigned argument would reject with
/// "Failed to parse Int") is refused with the bounds.
pub(crate) fn page_size(first: Option<i32>, max: u32) -> Result<Option<u32>, ApiError> {
    match first {
        None => Ok(None),
        Some(first) => match u32::try_from(first) {
            Ok(size @ 1..) if size <= max => Ok(Some(size)),
            _ => Err(ApiError::invalid_request(format!(
                "first must be between 1 and {max}"
            ))),
        },
    }
}

/// A count argument (`maxTokens`, `ttlSeconds`) as the signed `Int` a
/// client may send: a negative one, or one past `T`, is taken as 0, which
/// each of them refuses with the bounds it names, rather than the "Failed
/// to parse Int" an unsigned argument would answer.
pub(crate) fn count<T: TryFrom<i64> + From<u8>>(value: Option<i64>) -> Option<T> {
    value.map(|value| T::try_from(value).unwrap_or_else(|_| T::from(0)))
}

/// What a page of `first` (or `default`) costs in query complexity. A
/// `first` above `max` costs what `max` does: its resolver refuses it with
/// the bounds, which says more than "Query is too complex".
pub(crate) fn first_cost(
    first: Option<i32>,
    default: usize,
    max: u32,
    child_complexity: usize,
) -> usize {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    page_cost(
        first.map_or(default, |first| {
            usize::try_from(first).unwrap_or(0).min(max)
        }),
        child_complexity,
    )
}

/// The complexity of a list field: one, plus its selection once per item of
/// a page of `first` (at least one).
pub(crate) fn page_cost(first: usize, child_complexity: usize) -> usize {
    first
        .max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// The schema type of Cairn's GraphQL surface.
pub type CairnSchema = Schema<Query, Mutation, subscription::Subscription>;

/// Every query field.
#[derive(MergedObject, Default)]
pub struct Query(
    contexts::ContextQuery,
    sessions::SessionQuery,
    search::SearchQuery,
    briefing::BriefingQuery,
);

/// Every mutation field.
#[derive(MergedObject, Default)]
pub struct Mutation(
    contexts::ContextMutation,
    sessions::SessionMutation,
    compress::CompressMutation,
);

/// The schema over `cairn`, with the limits and the error codes.
pub fn schema(cairn: Cairn) -> CairnSchema {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
    .data(cairn)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(errors::ErrorCodes)
    .finish()
}

/// The schema in SDL, as committed in `schema/cairn.graphql`.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
    .finish()
    .sdl()
}

/// `/graphql`: POST for queries and mutations; GET for GraphiQL or, with an
/// upgrade, the WebSocket of subscriptions.
pub(crate) fn router(state: &ApiState) -> Router<ApiState> {
    let schema = schema(state.cairn.clone());
    Router::new()
        .route("/graphql", get(http::get).post(http::post))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .layer(axum::Extension(schema))
}

/// The service and the caller of a resolver, once the caller is known to
/// hold `scope`.
pub(crate) fn caller<'a>(
    ctx: &Context<'a>,
    scope: Scope,
) -> Result<(&'a Cairn, &'a Principal), ApiError> {
    let principal = ctx
        .data_opt::<Principal>()
        .ok_or_else(|| ApiError::from(cairn_auth::AuthError::MissingToken))?;
    principal.require(scope)?;
    let cairn = ctx
        .data_opt::<Cairn>()
        .ok_or_else(|| ApiError::new(cairn_types::ErrorCode::Internal, "no service"))?;
    Ok((cairn, principal))
}
