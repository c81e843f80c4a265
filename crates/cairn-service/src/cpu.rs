//! The one way to run CPU-bound work from async code.

use crate::ServiceError;

/// Runs `work` on the blocking pool, inside the caller's tracing span, so an
/// async worker thread never stalls on hashing, zstd, tokenizing or rendering.
/// A panic in `work` becomes an internal error instead of taking the server down.
pub async fn spawn_cpu<F, R>(work: F) -> Result<R, ServiceError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|error| ServiceError::Internal(format!("background work failed: {error}")))
}
