//! The service's errors, each mapped to one code of the catalogue.

use cairn_core::InvalidRef;
use cairn_store::StoreError;
use cairn_types::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    InvalidRef(#[from] InvalidRef),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Expired(String),
    /// Content over a limit once decoded (a compressed body that expands).
    #[error("{0}")]
    TooLarge(String),
    #[error("the server is not ready: {0}")]
    Unavailable(String),
    #[error("the storage is full; nothing was written")]
    StorageFull(#[source] StoreError),
    #[error("{0}")]
    Internal(String),
    #[error("storage failure")]
    Store(#[source] StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        match error {
            StoreError::Full => ServiceError::StorageFull(error),
            other => ServiceError::Store(other),
        }
    }
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ServiceError::InvalidRef(_) => ErrorCode::InvalidRef,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Expired(_) => ErrorCode::Expired,
            ServiceError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            ServiceError::Unavailable(_) => ErrorCode::Unavailable,
            ServiceError::StorageFull(_) => ErrorCode::StorageFull,
            ServiceError::Internal(_) | ServiceError::Store(_) => ErrorCode::Internal,
        }
    }

    /// The message a client sees. Internal details stay in the server log.
    pub fn client_message(&self) -> String {
        match self.code() {
            ErrorCode::Internal => "internal error; the server log has the details".to_owned(),
            _ => self.to_string(),
        }
    }
}
