//! Extractors whose rejections speak our error shape.

use axum::extract::FromRequestParts;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::request::Parts;
use cairn_types::ErrorCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// `axum::extract::Query` with our error shape.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection: QueryRejection| ApiError::invalid_request(rejection.body_text()))
    }
}

/// `axum::extract::Path` with our error shape.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection: PathRejection| ApiError::invalid_request(rejection.body_text()))
    }
}

/// Maps a body that could not be read: too large is 413, anything else 400.
pub fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status().as_u16() == 413 {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    } else {
        ApiError::invalid_request(format!("cannot read the body: {}", rejection.body_text()))
    }
}

/// A header's value as UTF-8 text (agent names need not be ASCII), or a
/// clear error naming the header.
pub fn header_text(parts: &axum::http::HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    match parts.get(name) {
        None => Ok(None),
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map(|text| Some(text.to_owned()))
            .map_err(|_| ApiError::invalid_request(format!("header {name} is not UTF-8"))),
    }
}
