//! Error codes on GraphQL errors. A resolver fails with an [`ApiError`],
//! which becomes a GraphQL error with `extensions.code`; errors async-graphql
//! makes itself (syntax, validation, limits, bad arguments) get theirs from
//! the [`ErrorCodes`] extension, on queries and subscriptions alike.

use std::sync::Arc;

use async_graphql::extensions::NextSubscribe;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{ErrorExtensionValues, Response, ServerError};
use cairn_types::ErrorCode;
use futures::StreamExt as _;

use super::{MAX_COMPLEXITY, MAX_DEPTH};
use crate::ApiError;

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> async_graphql::Error {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", error.code.as_str());
        async_graphql::Error {
            message: error.message,
            source: None,
            extensions: Some(extensions),
        }
    }
}

/// A GraphQL error carrying `code`, for errors raised outside any resolver.
pub(crate) fn server_error(code: ErrorCode, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code.as_str());
    error
}

/// Gives every error of a response a code: those async-graphql raised
/// before any resolver ran are the request's fault (`invalid_request`), and
/// the limit errors say what the limit is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }
}

fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        add_code(error);
    }
    response
}

fn add_code(error: &mut ServerError) {
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_some() {
        return;
    }
    extensions.set("code", ErrorCode::InvalidRequest.as_str());
    // async-graphql's own wording, made to name the limit.
    if error.message == "Query is nested too deep." {
        error.message = format!("the query is nested deeper than the limit of {MAX_DEPTH} levels");
    } else if error.message == "Query is too complex." {
        error.message = format!(
            "the query selects more than the limit of {MAX_COMPLEXITY} fields (its complexity)"
        );
    }
}
