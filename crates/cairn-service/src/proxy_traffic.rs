//! What the proxy saved, per tenant and provider, since the server started
//! (the numbers behind `proxy` in `/v1/stats` and `/v1/activity`). Kept in
//! memory: the proxy's traffic is not stored beyond its sessions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use cairn_types::{ProviderTraffic, ProxyStats, TenantId};

use crate::Cairn;

#[derive(Debug, Default)]
pub(crate) struct ProxyTraffic {
    tenants: Mutex<HashMap<TenantId, BTreeMap<String, ProxyStats>>>,
}

impl ProxyTraffic {
    /// The tenant's traffic, all providers together.
    pub(crate) fn stats(&self, tenant: &TenantId) -> ProxyStats {
        let mut total = ProxyStats::default();
        for stats in self.by_provider(tenant) {
            total.requests += stats.requests;
            total.tokens_original += stats.tokens_original;
            total.tokens_sent += stats.tokens_sent;
            total.tokens_saved += stats.tokens_saved;
        }
        total
    }

    /// The tenant's traffic to each provider, by name.
    pub(crate) fn by_provider(&self, tenant: &TenantId) -> Vec<ProviderTraffic> {
        let Ok(tenants) = self.tenants.lock() else {
            return Vec::new();
        };
        tenants
            .get(tenant)
            .into_iter()
            .flatten()
            .map(|(provider, stats)| ProviderTraffic {
                provider: provider.clone(),
                requests: stats.requests,
                tokens_original: stats.tokens_original,
                tokens_sent: stats.tokens_sent,
                tokens_saved: stats.tokens_saved,
            })
            .collect()
    }
}

impl Cairn {
    /// Counts one request through the proxy to `provider`: its tokens as
    /// the client sent it and as it went upstream.
    pub fn record_proxy_traffic(
        &self,
        tenant: &TenantId,
        provider: &str,
        original: u64,
        sent: u64,
    ) {
        if let Ok(mut tenants) = self.proxy_traffic.tenants.lock() {
            let stats = tenants
                .entry(tenant.clone())
                .or_default()
                .entry(provider.to_owned())
                .or_default();
            stats.requests += 1;
            stats.tokens_original += original;
            stats.tokens_sent += sent;
            stats.tokens_saved = stats.tokens_original.saturating_sub(stats.tokens_sent);
        }
    }
}
