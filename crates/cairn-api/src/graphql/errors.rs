//! Error codes on GraphQL errors. A resolver fails with an [`ApiError`],
//! which becomes a GraphQL error with `extensions.code`; errors async-graphql
//! makes itself (syntax, validation, limits, bad arguments) get theirs from
//! the [`ErrorCodes`] extension, on queries and subscriptions alike.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
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

/// Longest message of an error async-graphql raised that is passed on whole.
const MAX_MESSAGE_BYTES: usize = 1024;

/// A long message's first and last lines (a syntax error's position, and
/// what was expected there), each cut to a quarter of the limit.
fn shortened(message: &str) -> String {
    let cut = |line: &str| -> String {
        let mut end = line.len().min(MAX_MESSAGE_BYTES / 4);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line[..end].trim().to_owned()
    };
    let mut lines = message.lines();
    let first = lines.next().map(cut).unwrap_or_default();
    let last = lines.next_back().map(cut).unwrap_or_default();
    format!("{first} … {last}")
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
    // A syntax error quotes the line it is on, which may be the whole query.
    if error.message.len() > MAX_MESSAGE_BYTES {
        error.message = shortened(&error.message);
    }
    // async-graphql's own wording, made to name the limit.
    if error.message == "Query is nested too deep." {
        error.message = format!("the query is nested deeper than the limit of {MAX_DEPTH} levels");
    } else if error.message == "Query is too complex." {
        error.message = format!(
            "the query selects more than the limit of {MAX_COMPLEXITY} fields (its complexity)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(message: &str) -> ServerError {
        let mut error = ServerError::new(message, None);
        add_code(&mut error);
        error
    }

    #[test]
    fn errors_without_a_code_get_invalid_request_and_a_code_is_kept() {
        let error = coded("Unknown field \"nope\" on type \"Stats\".");
        let code = error
            .extensions
            .as_ref()
            .and_then(|values| values.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from("invalid_request")));
        let mut found = server_error(ErrorCode::NotFound, "no context under key `a`");
        add_code(&mut found);
        let code = found
            .extensions
            .as_ref()
            .and_then(|values| values.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from("not_found")));
    }

    #[test]
    fn the_limit_errors_name_the_limit() {
        let deep = coded("Query is nested too deep.");
        assert!(
            deep.message.contains(&MAX_DEPTH.to_string()),
            "{}",
            deep.message
        );
        let complex = coded("Query is too complex.");
        assert!(
            complex.message.contains("complexity"),
            "{}",
            complex.message
        );
    }

    #[test]
    fn a_long_message_keeps_its_first_and_last_lines_only() {
        let long_line = "é".repeat(10_000);
        let message = format!(" --> 1:7\n  |\n1 | {long_line}\n  |\n  = expected selection");
        let error = coded(&message);
        assert!(error.message.len() < MAX_MESSAGE_BYTES, "{}", error.message);
        assert_eq!(error.message, "--> 1:7 … = expected selection");
        let one_line = coded(&"x".repeat(5_000));
        assert!(
            one_line.message.len() <= MAX_MESSAGE_BYTES,
            "{}",
            one_line.message
        );
    }
}
