//! Subscriptions over WebSocket: `graphql-transport-ws` (and the older
//! `graphql-ws`), bridged between axum's socket and async-graphql's protocol.
//!
//! The caller is the upgrade request's principal when it carried a token
//! (or auth is off); otherwise the `connection_init` payload must carry one
//! (`{"Authorization": "Bearer <t>"}`, `{"authorization": ...}` or
//! `{"token": "<t>"}`), and the connection is closed with 4403 (Forbidden,
//! as graphql-transport-ws says) without a good one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols as Protocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use axum::response::Response;
use bytes::Bytes;
use cairn_auth::{AuthError, Principal};
use futures::{SinkExt as _, StreamExt as _};

use super::CairnSchema;
use crate::ApiState;

/// The close code of a connection refused for want of a good token.
const FORBIDDEN: u16 = 4403;

/// Upgrades to a GraphQL WebSocket in the protocol the client offered
/// (`graphql-transport-ws` when it offered none we speak).
pub(crate) fn serve(
    upgrade: WebSocketUpgrade,
    headers: &HeaderMap,
    state: ApiState,
    schema: CairnSchema,
    principal: Option<Principal>,
) -> Response {
    let protocol = offered_protocol(headers).unwrap_or(Protocols::GraphQLWS);
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .on_upgrade(move |socket| run(socket, protocol, state, schema, principal))
}

/// Runs one connection until either side closes it.
async fn run(
    socket: axum::extract::ws::WebSocket,
    protocol: Protocols,
    state: ApiState,
    schema: CairnSchema,
    principal: Option<Principal>,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| {
            std::future::ready(
                matches!(message, Ok(message) if !matches!(message, Message::Close(_))),
            )
        })
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        });
    let refused = Arc::new(AtomicBool::new(false));
    let refused_in_init = Arc::clone(&refused);
    // When the caller's token expires, the connection ends: a subscription
    // must not keep reading with a token that no longer would.
    let (expiry_tx, mut expiry) =
        tokio::sync::watch::channel(principal.as_ref().and_then(|p| p.expires_at));
    let auth = state.auth;
    let mut connection =
        WebSocket::new(schema, input, protocol).on_connection_init(move |payload| async move {
            let principal = match principal {
                Some(principal) => Ok(principal),
                None => init_token(&payload)
                    .ok_or(AuthError::MissingToken)
                    .and_then(|token| auth.authenticate(Some(token))),
            };
            let principal = principal.map_err(|error| {
                refused_in_init.store(true, Ordering::Relaxed);
                async_graphql::Error::new(error.to_string())
            })?;
            let _ = expiry_tx.send(principal.expires_at);
            let mut data = Data::default();
            data.insert(principal);
            Ok(data)
        });
    loop {
        let expires = async {
            loop {
                let at = *expiry.borrow_and_update();
                match at {
                    Some(at) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |now| now.as_secs());
                        tokio::time::sleep(std::time::Duration::from_secs(at.saturating_sub(now)))
                            .await;
                        return;
                    }
                    None => {
                        if expiry.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            }
        };
        let message = tokio::select! {
            message = connection.next() => message,
            () = expires => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: FORBIDDEN,
                        reason: "the token expired".into(),
                    })))
                    .await;
                return;
            }
        };
        let Some(message) = message else { break };
        let outgoing = match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                // async-graphql closes a refused init as a protocol error
                // (1002); graphql-transport-ws says 4403.
                let code = if refused.load(Ordering::Relaxed) {
                    FORBIDDEN
                } else {
                    code
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        };
        if sink.send(outgoing).await.is_err() {
            break;
        }
    }
}

/// The first GraphQL protocol the client offered that we speak.
fn offered_protocol(headers: &HeaderMap) -> Option<Protocols> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| name.trim().parse::<Protocols>().ok())
}

/// The bearer token of a `connection_init` payload.
fn init_token(payload: &serde_json::Value) -> Option<&str> {
    let field = |name: &str| payload.get(name).and_then(serde_json::Value::as_str);
    if let Some(token) = field("token") {
        return Some(token);
    }
    let header = field("Authorization").or_else(|| field("authorization"))?;
    cairn_auth::bearer_token(header)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::init_token;

    fn check(payload: serde_json::Value, expected: Option<&str>) {
        assert_eq!(init_token(&payload), expected, "{payload}");
    }

    #[test]
    fn the_token_comes_from_any_of_the_three_payload_shapes() {
        check(json!({"Authorization": "Bearer abc"}), Some("abc"));
        check(json!({"authorization": "bearer abc"}), Some("abc"));
        check(json!({"token": "abc"}), Some("abc"));
        check(
            json!({"token": "abc", "Authorization": "Bearer def"}),
            Some("abc"),
        );
    }

    #[test]
    fn a_payload_without_a_bearer_token_has_none() {
        check(json!({}), None);
        check(json!(null), None);
        check(json!("Bearer abc"), None);
        check(json!({"Authorization": "Basic abc"}), None);
        check(json!({"Authorization": 42}), None);
        check(json!({"token": ["abc"]}), None);
    }
}
