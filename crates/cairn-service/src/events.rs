//! Put events: every acknowledged put is announced on one in-process
//! broadcast channel, so a surface (the GraphQL subscription) can let one
//! agent wait for another's output.
//!
//! Architecture invariant: a subscription sees its own tenant's puts only;
//! the tenant test is here, not in the surfaces. Events are best effort and
//! in memory: a subscriber that falls more than [`CAPACITY`] puts behind
//! misses the oldest (and a warning is logged), and nothing is replayed
//! after a restart.

use cairn_types::{PutReceipt, TenantId};
use tokio::sync::broadcast;

use crate::Cairn;

/// Puts a subscriber may fall behind by before it misses some.
pub const CAPACITY: usize = 1024;

/// One acknowledged put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEvent {
    pub tenant: TenantId,
    pub receipt: PutReceipt,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Unix milliseconds of the put.
    pub at: i64,
}

/// Which puts a subscription wants, besides being of its tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutFilter {
    /// Only keys starting with this.
    pub key_prefix: Option<String>,
    /// Only puts recorded with this agent.
    pub agent: Option<String>,
}

impl PutFilter {
    fn matches(&self, event: &PutEvent) -> bool {
        let prefix_matches = self
            .key_prefix
            .as_deref()
            .is_none_or(|prefix| event.receipt.key.starts_with(prefix));
        let agent_matches = self
            .agent
            .as_deref()
            .is_none_or(|agent| event.agent.as_deref() == Some(agent));
        prefix_matches && agent_matches
    }
}

/// The sending side, owned by [`Cairn`].
#[derive(Debug, Clone)]
pub(crate) struct PutEvents {
    sender: broadcast::Sender<PutEvent>,
}

impl PutEvents {
    pub(crate) fn new() -> PutEvents {
        PutEvents {
            sender: broadcast::channel(CAPACITY).0,
        }
    }

    /// Announces a put; nobody listening is not an error.
    pub(crate) fn send(&self, event: PutEvent) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(event);
        }
    }
}

/// A tenant's filtered view of the put events.
#[derive(Debug)]
pub struct PutSubscription {
    tenant: TenantId,
    filter: PutFilter,
    receiver: broadcast::Receiver<PutEvent>,
}

impl PutSubscription {
    /// The next matching put; `None` once the service is gone.
    pub async fn next(&mut self) -> Option<PutEvent> {
        loop {
            match self.receiver.recv().await {
                Ok(event) if event.tenant == self.tenant && self.filter.matches(&event) => {
                    return Some(event);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a put subscriber fell behind and missed puts");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Cairn {
    /// Subscribes to `tenant`'s puts that match `filter`, from now on.
    pub fn subscribe_puts(&self, tenant: &TenantId, filter: PutFilter) -> PutSubscription {
        PutSubscription {
            tenant: tenant.clone(),
            filter,
            receiver: self.events.sender.subscribe(),
        }
    }

    /// Announces an acknowledged put to the subscribers.
    pub(crate) fn announce_put(
        &self,
        tenant: &TenantId,
        receipt: &PutReceipt,
        agent: Option<String>,
        session: Option<String>,
        at: i64,
    ) {
        self.events.send(PutEvent {
            tenant: tenant.clone(),
            receipt: receipt.clone(),
            agent,
            session,
            at,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, key: &str, agent: Option<&str>) -> PutEvent {
        PutEvent {
            tenant: TenantId::new(tenant),
            receipt: PutReceipt {
                key: key.to_owned(),
                hash: String::new(),
                reference: String::new(),
                version: 1,
                bytes: 0,
                tokens_original: 0,
                tokens_compressed: 0,
                content_type: "text/plain".to_owned(),
                deduplicated: false,
                view_pending: false,
                expires_at: None,
            },
            agent: agent.map(str::to_owned),
            session: None,
            at: 0,
        }
    }

    #[test]
    fn the_filter_checks_prefix_and_agent() {
        let filter = PutFilter {
            key_prefix: Some("build/".into()),
            agent: Some("A".into()),
        };
        assert!(filter.matches(&event("t", "build/log", Some("A"))));
        assert!(!filter.matches(&event("t", "test/log", Some("A"))));
        assert!(!filter.matches(&event("t", "build/log", Some("B"))));
        assert!(!filter.matches(&event("t", "build/log", None)));
        assert!(PutFilter::default().matches(&event("t", "anything", None)));
    }

    #[tokio::test]
    async fn a_subscription_sees_only_its_tenants_matching_puts() {
        let events = PutEvents::new();
        let mut subscription = PutSubscription {
            tenant: TenantId::new("mine"),
            filter: PutFilter {
                key_prefix: Some("a".into()),
                agent: None,
            },
            receiver: events.sender.subscribe(),
        };
        events.send(event("theirs", "a1", None));
        events.send(event("mine", "b1", None));
        events.send(event("mine", "a2", None));
        let got = subscription.next().await.expect("an event");
        assert_eq!(got.receipt.key, "a2");
        assert_eq!(got.tenant.as_str(), "mine");
    }
}
