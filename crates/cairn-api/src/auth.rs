//! Authentication on every HTTP surface: the [`authenticate`] layer turns the
//! `Authorization` header into a [`Principal`] in the request's extensions,
//! and the [`Caller`] extractor demands one that holds the handler's scope.
//!
//! Services mounted beside the REST routes (GraphQL, MCP) find the same
//! `Principal` in the request extensions. A WebSocket upgrade may come
//! without a header (browsers cannot set one); it then authenticates in its
//! own handshake through [`ApiState::auth`](crate::ApiState).

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cairn_auth::{AuthError, Authenticator, Carrier, Principal, Scope};

use crate::{ApiError, ApiState};

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        ApiError::new(error.code(), error.to_string())
    }
}

/// The principal a request's `Authorization` header speaks for: `Ok(None)`
/// when auth is on and there is none.
pub fn principal_from_headers(
    auth: &Authenticator,
    headers: &HeaderMap,
) -> Result<Option<Principal>, AuthError> {
    auth.principal_from_header(
        headers.get(AUTHORIZATION).map(HeaderValue::as_bytes),
        Carrier::Authorization,
    )
}

/// A 401 or 403 in our error shape; a 401 says which scheme to use.
pub fn auth_error_response(error: AuthError) -> Response {
    let unauthorized = error.code() == cairn_types::ErrorCode::Unauthorized;
    let mut response = ApiError::from(error).into_response();
    if unauthorized {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cairn\""),
        );
    }
    response
}

/// The layer in front of every route: a bad token is refused here; a good
/// one (or auth off) leaves a [`Principal`] in the extensions.
pub(crate) async fn authenticate(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    match principal_from_headers(&state.auth, request.headers()) {
        Err(error) => {
            tracing::debug!(%error, "request refused");
            auth_error_response(error)
        }
        Ok(principal) => {
            if let Some(principal) = principal {
                if let Some(agent) = &principal.agent {
                    tracing::Span::current().record("principal", agent.as_str());
                }
                request.extensions_mut().insert(principal);
            }
            next.run(request).await
        }
    }
}

/// A scope a handler needs, as a type.
pub trait Needs: Send + Sync + 'static {
    const SCOPE: Scope;
}

/// Reading: views, originals, lists, sessions, search, stats.
#[derive(Debug)]
pub enum Read {}
impl Needs for Read {
    const SCOPE: Scope = Scope::Read;
}

/// Writing: puts, deletes, imports, compression (which stores originals).
#[derive(Debug)]
pub enum Write {}
impl Needs for Write {
    const SCOPE: Scope = Scope::Write;
}

/// The authenticated caller of a handler that needs scope `N`: 401 without
/// a principal, 403 without the scope. Derefs to the [`Principal`].
#[derive(Debug)]
pub struct Caller<N: Needs> {
    principal: Principal,
    needs: PhantomData<N>,
}

impl<N: Needs> Deref for Caller<N> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<N: Needs, S: Send + Sync> FromRequestParts<S> for Caller<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller<N>, Response> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| auth_error_response(AuthError::MissingToken))?;
        principal.require(N::SCOPE).map_err(auth_error_response)?;
        Ok(Caller {
            principal,
            needs: PhantomData,
        })
    }
}
