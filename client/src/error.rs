//! The client's errors.

use cairn_types::ErrorCode;

/// Everything that can go wrong talking to Cairn.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error from the catalogue.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// The server could not be reached, after retries.
    #[error("cannot reach the Cairn server at {url}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The request failed on the way (timeout, connection reset).
    #[error("the request failed")]
    Http(#[source] reqwest::Error),
    /// The key cannot be sent: checked here, as the server would.
    #[error(transparent)]
    InvalidKey(#[from] cairn_types::InvalidKey),
    #[error("invalid server URL {0}")]
    InvalidUrl(String),
    /// The arguments cannot be sent as they are.
    #[error("{0}")]
    InvalidInput(String),
    /// The server answered something this client does not understand.
    #[error("{0}")]
    Protocol(String),
}

impl ClientError {
    /// The catalogue code, when the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            ClientError::InvalidKey(_) => Some(ErrorCode::InvalidKey),
            _ => None,
        }
    }
}
