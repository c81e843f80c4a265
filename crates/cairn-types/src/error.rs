//! The error-code catalogue: one stable snake_case code and one HTTP status per
//! kind of failure. REST bodies, GraphQL `extensions.code` and MCP tool errors
//! all carry these codes.

use serde::{Deserialize, Serialize};

/// Every error a client of Cairn can observe.
///
/// Codes are part of the public contract: add new ones, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: a bad parameter, an unparsable body.
    InvalidRequest,
    /// The key is empty, too long or contains control characters.
    InvalidKey,
    /// The `ccr:` reference is not of the form `ccr:` + 24 lowercase hex digits.
    InvalidRef,
    /// The body is JSON that does not parse or does not have the expected shape.
    InvalidJson,
    /// No token, or a token that is not valid.
    Unauthorized,
    /// A valid token without the scope the request needs.
    Forbidden,
    /// Nothing is there (or the caller may not see it: the two look the same).
    NotFound,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    /// The entry existed but its time to live has passed.
    Expired,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The media type of the body is not one this endpoint accepts.
    UnsupportedMediaType,
    /// Too many failed authentications from the caller's address; retry
    /// after the `Retry-After` seconds.
    RateLimited,
    /// The server is not ready to serve (starting, shutting down, database unreachable).
    Unavailable,
    /// The storage ran out of space; nothing was written.
    StorageFull,
    /// Something went wrong on our side; the details are in the server log.
    Internal,
    /// A code this build does not know (sent by a newer server). Never sent.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code a server sends, for documentation and drift tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidRef,
        ErrorCode::InvalidJson,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Expired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::StorageFull,
        ErrorCode::Internal,
    ];

    /// The stable snake_case name of this code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InvalidRef => "invalid_ref",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Expired => "expired",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::StorageFull => "storage_full",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidKey
            | ErrorCode::InvalidRef
            | ErrorCode::InvalidJson => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Expired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::Unavailable => 503,
            ErrorCode::StorageFull => 507,
        }
    }

    /// Parses a code name as it appears on the wire.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response: `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_name_and_serde() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("a code serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(
                (400..600).contains(&code.http_status()),
                "{code} has an error status"
            );
        }
    }

    #[test]
    fn a_code_from_a_newer_server_is_unknown_not_an_error() {
        let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").expect("parses");
        assert_eq!(code, ErrorCode::Unknown);
    }

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody::new(ErrorCode::Expired, "key `a` expired");
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            serde_json::json!({"error": {"code": "expired", "message": "key `a` expired"}})
        );
    }
}
