//! `POST /graphql` (queries and mutations, one per request) and `GET
//! /graphql` (GraphiQL, or the WebSocket upgrade of subscriptions).

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::UPGRADE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_auth::{AuthError, Principal};
use cairn_types::ErrorCode;

use super::CairnSchema;
use super::errors::server_error;
use crate::auth::auth_error_response;
use crate::extract::body_error;
use crate::{ApiError, ApiState};

/// `POST /graphql`: `{"query", "operationName", "variables"}`. The answer is
/// 200 with `data` and `errors` (each with `extensions.code`) whatever the
/// errors; only a request that is no GraphQL request at all (not JSON, over
/// the body limit) or has no caller gets another status.
pub(crate) async fn post(
    State(state): State<ApiState>,
    axum::Extension(schema): axum::Extension<CairnSchema>,
    principal: Option<axum::Extension<Principal>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(axum::Extension(principal)) = principal else {
        return auth_error_response(AuthError::MissingToken);
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return error_response(body_error(rejection, state.config.body_limit)),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(ApiError::new(
                ErrorCode::InvalidJson,
                format!(
                    "the body must be a GraphQL request, {{\"query\": \"...\", \
                     \"operationName\", \"variables\"}}: {error}"
                ),
            ));
        }
    };
    let response = schema.execute(request.data(principal)).await;
    Json(response).into_response()
}

/// `GET /graphql`: the WebSocket of subscriptions when the request asks for
/// an upgrade, else GraphiQL (a static page served with its own scripts,
/// without a token; its requests carry their own).
pub(crate) async fn get(
    State(state): State<ApiState>,
    axum::Extension(schema): axum::Extension<CairnSchema>,
    request: Request,
) -> Response {
    if request.headers().contains_key(UPGRADE) {
        let (mut parts, _body) = request.into_parts();
        let principal = parts.extensions.get::<Principal>().cloned();
        return match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
        {
            Ok(upgrade) => super::ws::serve(upgrade, &parts.headers, state, schema, principal),
            Err(rejection) => ApiError::invalid_request(format!(
                "not a WebSocket upgrade: {}",
                rejection.body_text()
            ))
            .into_response(),
        };
    }
    super::graphiql::page()
}

/// A GraphQL-shaped error answer, `{"errors": [...]}`, with the code's status.
fn error_response(error: ApiError) -> Response {
    let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let response =
        async_graphql::Response::from_errors(vec![server_error(error.code, error.message)]);
    (status, Json(response)).into_response()
}
