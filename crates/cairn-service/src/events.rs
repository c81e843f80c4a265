//! Put events: every acknowledged put is announced on one in-process
//! broadcast channel, so a surface (the GraphQL subscription) can let one
//! agent wait for another's output.
//!
//! On a store only this process writes (SQLite), a put is announced as it is
//! acknowledged. On a store several nodes write (PostgreSQL,
//! [`cairn_store::Store::shared`]), every node announces every put, its own
//! and the others', from the store's context feed: a follower task starts
//! with the first subscriber (at the feed's end: "from now on"), wakes on the
//! store's change notifications (or every two seconds), and stops when the
//! last subscriber has gone.
//!
//! Architecture invariant: a subscription sees its own tenant's puts only;
//! the tenant test is here, not in the surfaces. Events are best effort and
//! in memory: a subscriber that falls more than [`CAPACITY`] puts behind
//! misses the oldest (and a warning is logged), and nothing is replayed
//! after a restart.

use std::sync::Arc;
use std::time::Duration;

use cairn_store::IndexedContext;
use cairn_types::{PutReceipt, TenantId};
use tokio::sync::{Mutex, broadcast, watch};
use tokio::task::JoinHandle;

use crate::{Cairn, ServiceError};

/// Puts a subscriber may fall behind by before it misses some.
pub const CAPACITY: usize = 1024;

/// Feed rows read per query by the follower of a shared store.
const FEED_PAGE: u32 = 256;

/// How often the follower looks at the feed without a change notification.
const FEED_POLL: Duration = Duration::from_secs(2);

/// One acknowledged put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutEvent {
    pub tenant: TenantId,
    pub key: String,
    pub version: i64,
    /// The content's BLAKE3 hash, hex.
    pub hash: String,
    /// Its `ccr:` reference.
    pub reference: String,
    pub bytes: u64,
    pub tokens_original: u64,
    /// The default view's tokens (`tokens_original` while it is pending).
    pub tokens_compressed: u64,
    pub content_type: String,
    pub agent: Option<String>,
    pub session: Option<String>,
    /// Unix milliseconds of the put.
    pub at: i64,
}

impl PutEvent {
    fn from_receipt(
        tenant: &TenantId,
        receipt: &PutReceipt,
        agent: Option<String>,
        session: Option<String>,
        at: i64,
    ) -> PutEvent {
        PutEvent {
            tenant: tenant.clone(),
            key: receipt.key.clone(),
            version: receipt.version,
            hash: receipt.hash.clone(),
            reference: receipt.reference.clone(),
            bytes: receipt.bytes,
            tokens_original: receipt.tokens_original,
            tokens_compressed: receipt.tokens_compressed,
            content_type: receipt.content_type.clone(),
            agent,
            session,
            at,
        }
    }

    fn from_feed(row: IndexedContext) -> PutEvent {
        let record = row.record;
        PutEvent {
            tenant: TenantId::new(row.tenant),
            key: record.key,
            version: record.version,
            hash: record.blob.hash.to_hex(),
            reference: record.blob.hash.ccr_ref().to_string(),
            bytes: record.blob.bytes_original,
            tokens_original: record.blob.tokens_original,
            tokens_compressed: record.blob.tokens_compressed,
            content_type: record.blob.content_type,
            agent: record.agent,
            session: record.session,
            at: record.created_at,
        }
    }
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
            .is_none_or(|prefix| event.key.starts_with(prefix));
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
    /// The feed follower of a shared store, while anyone subscribes.
    follower: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl PutEvents {
    pub(crate) fn new() -> PutEvents {
        PutEvents {
            sender: broadcast::channel(CAPACITY).0,
            follower: Arc::default(),
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
    /// Subscribes to `tenant`'s puts that match `filter`, from now on: every
    /// put acknowledged after this returns, through any node of the store.
    pub async fn subscribe_puts(
        &self,
        tenant: &TenantId,
        filter: PutFilter,
    ) -> Result<PutSubscription, ServiceError> {
        // Subscribed before the follower is looked at, so a follower about
        // to stop for want of subscribers sees this one.
        let receiver = self.events.sender.subscribe();
        if self.store.shared() {
            self.follow_feed().await?;
        }
        Ok(PutSubscription {
            tenant: tenant.clone(),
            filter,
            receiver,
        })
    }

    /// Announces an acknowledged put to the subscribers, unless the feed
    /// follower of a shared store will.
    pub(crate) fn announce_put(
        &self,
        tenant: &TenantId,
        receipt: &PutReceipt,
        agent: Option<String>,
        session: Option<String>,
        at: i64,
    ) {
        if !self.store.shared() {
            self.events
                .send(PutEvent::from_receipt(tenant, receipt, agent, session, at));
        }
    }

    /// Starts the feed follower at the feed's end, unless it runs.
    async fn follow_feed(&self) -> Result<(), ServiceError> {
        let mut follower = self.events.follower.lock().await;
        if follower.as_ref().is_some_and(|task| !task.is_finished()) {
            return Ok(());
        }
        // Watched before the end is read, so no change after it goes unheard.
        let changes = self.store.changes();
        let end = self.store.last_context_seq().await?;
        *follower = Some(tokio::spawn(self.clone().announce_feed(end, changes)));
        Ok(())
    }

    /// Announces every context version the feed lists after `seq`, as it
    /// comes, until nobody subscribes.
    async fn announce_feed(self, mut seq: i64, mut changes: Option<watch::Receiver<u64>>) {
        loop {
            loop {
                match self.store.contexts_after(seq, FEED_PAGE).await {
                    Ok(rows) => {
                        let full = rows.len() == FEED_PAGE as usize;
                        for row in rows {
                            seq = row.seq;
                            self.events.send(PutEvent::from_feed(row));
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the context feed for put events failed");
                        break;
                    }
                }
            }
            if self.events.sender.receiver_count() == 0 {
                // Decided under the lock a new subscriber takes after
                // subscribing: either it sees this task finished, or this
                // task sees it.
                let mut follower = self.events.follower.lock().await;
                if self.events.sender.receiver_count() == 0 {
                    *follower = None;
                    return;
                }
            }
            let closed = match changes.as_mut() {
                Some(receiver) => tokio::select! {
                    changed = receiver.changed() => changed.is_err(),
                    () = tokio::time::sleep(FEED_POLL) => false,
                },
                None => {
                    tokio::time::sleep(FEED_POLL).await;
                    false
                }
            };
            if closed {
                changes = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, key: &str, agent: Option<&str>) -> PutEvent {
        PutEvent {
            tenant: TenantId::new(tenant),
            key: key.to_owned(),
            version: 1,
            hash: String::new(),
            reference: String::new(),
            bytes: 0,
            tokens_original: 0,
            tokens_compressed: 0,
            content_type: "text/plain".to_owned(),
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
        assert_eq!(got.key, "a2");
        assert_eq!(got.tenant.as_str(), "mine");
    }
}
