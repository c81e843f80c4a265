//! What the proxy saved, per tenant, since the server started (the numbers
//! behind `proxy` in `/v1/stats`). Kept in memory: the proxy's traffic is
//! not stored beyond its sessions.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_types::{ProxyStats, TenantId};

use crate::Cairn;

#[derive(Debug, Default)]
pub(crate) struct ProxyTraffic {
    tenants: Mutex<HashMap<TenantId, ProxyStats>>,
}

impl ProxyTraffic {
    pub(crate) fn stats(&self, tenant: &TenantId) -> ProxyStats {
        self.tenants
            .lock()
            .map(|tenants| tenants.get(tenant).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Cairn {
    /// Counts one request through the proxy: its tokens as the client sent
    /// it and as it went upstream.
    pub fn record_proxy_traffic(&self, tenant: &TenantId, original: u64, sent: u64) {
        if let Ok(mut tenants) = self.proxy_traffic.tenants.lock() {
            let stats = tenants.entry(tenant.clone()).or_default();
            stats.requests += 1;
            stats.tokens_original += original;
            stats.tokens_sent += sent;
            stats.tokens_saved = stats.tokens_original.saturating_sub(stats.tokens_sent);
        }
    }
}
