//! `contextPut`: each put of the caller's tenant that matches, as it is
//! acknowledged, so one agent can wait for another's output.

use async_graphql::{Context, InputObject, SimpleObject, Subscription as SubscriptionRoot};
use cairn_auth::Scope;
use cairn_service::{PutEvent, PutFilter};
use futures::Stream;

use super::caller;
use crate::ApiError;

/// Which puts `contextPut` delivers.
#[derive(InputObject, Debug, Clone, Default)]
pub(crate) struct ContextPutFilter {
    /// Only keys starting with this.
    key_prefix: Option<String>,
    /// Only puts recorded with this agent.
    agent: Option<String>,
}

/// A put, as announced once it was acknowledged.
#[derive(SimpleObject, Debug, Clone)]
pub(crate) struct ContextPut {
    key: String,
    version: i64,
    hash: String,
    #[graphql(name = "ref")]
    reference: String,
    agent: Option<String>,
    session: Option<String>,
    bytes: u64,
    tokens_original: u64,
    tokens_compressed: u64,
    content_type: String,
    /// When the put was made (RFC 3339).
    created_at: String,
}

impl From<PutEvent> for ContextPut {
    fn from(event: PutEvent) -> ContextPut {
        ContextPut {
            key: event.key,
            version: event.version,
            hash: event.hash,
            reference: event.reference,
            agent: event.agent,
            session: event.session,
            bytes: event.bytes,
            tokens_original: event.tokens_original,
            tokens_compressed: event.tokens_compressed,
            content_type: event.content_type,
            created_at: cairn_service::format_millis(event.at),
        }
    }
}

/// Every subscription field.
#[derive(Debug, Default)]
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Each put of this tenant that matches `filter`, from now on. A
    /// subscriber more than a thousand puts behind misses the oldest.
    async fn context_put(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContextPutFilter>,
    ) -> Result<impl Stream<Item = ContextPut> + use<>, ApiError> {
        let (cairn, principal) = caller(ctx, Scope::Read)?;
        let filter = filter.unwrap_or_default();
        let subscription = cairn
            .subscribe_puts(
                &principal.tenant,
                PutFilter {
                    key_prefix: filter.key_prefix.filter(|prefix| !prefix.is_empty()),
                    agent: filter.agent,
                },
            )
            .await?;
        Ok(futures::stream::unfold(
            subscription,
            |mut subscription| async move {
                let event = subscription.next().await?;
                Some((ContextPut::from(event), subscription))
            },
        ))
    }
}
