//! Failed authentication is rate limited per client address: each 401 spends
//! one of the address's tokens (a bucket of `per_minute`, refilled at
//! `per_minute` a minute); an address with none left is answered 429 with
//! `Retry-After` before its request is looked at, good token or not, so
//! guessing cannot go faster than the budget. Addresses that never fail
//! are never slowed. IPv6 addresses count by their /64, which one host
//! usually holds whole.
//!
//! The address is the TCP peer's. Behind a reverse proxy every client
//! shares the proxy's budget; a forwarded-for header is not trusted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use cairn_types::ErrorCode;

use crate::limits::{is_probe, retry_later};

/// Addresses remembered at once; past it, those whose budget is whole
/// again are forgotten first.
const MAX_PEERS: usize = 64 * 1024;

/// The shared state of the throttle layer.
#[derive(Debug)]
pub(crate) struct Throttle {
    per_minute: u32,
    peers: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Throttle {
    /// A budget of `per_minute` failed authentications per address;
    /// `None` when it is 0 (no limit).
    pub(crate) fn new(per_minute: u32) -> Option<Throttle> {
        (per_minute > 0).then(|| Throttle {
            per_minute,
            peers: Mutex::new(HashMap::new()),
        })
    }

    fn capacity(&self) -> f64 {
        f64::from(self.per_minute)
    }

    /// Tokens `bucket` holds at `now`.
    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let rate = self.capacity() / 60.0;
        (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(self.capacity())
    }

    /// How long `peer` must wait, if it has spent its budget.
    fn wait(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        let peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tokens = self.refilled(*peers.get(&peer)?, now);
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) * 60.0 / self.capacity()))
    }

    /// Spends one of `peer`'s tokens on a failed authentication.
    fn failed(&self, peer: IpAddr, now: Instant) {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, bucket| self.refilled(*bucket, now) < self.capacity());
            if peers.len() >= MAX_PEERS {
                tracing::warn!(
                    peers = peers.len(),
                    "failed authentication from too many addresses to remember; forgetting them"
                );
                peers.clear();
            }
        }
        let full = Bucket {
            tokens: self.capacity(),
            at: now,
        };
        let bucket = peers.entry(peer).or_insert(full);
        bucket.tokens = (self.refilled(*bucket, now) - 1.0).max(0.0);
        bucket.at = now;
    }
}

/// The key an address counts under: itself, or an IPv6 address's /64.
fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
        v4 => v4,
    }
}

pub(crate) async fn throttle(
    State(throttle): State<Arc<Throttle>>,
    request: Request,
    next: Next,
) -> Response {
    // Probes always answer (a load balancer shares an address with its
    // clients); requests served without an address (in-process tests)
    // are not counted.
    if is_probe(&request) {
        return next.run(request).await;
    }
    let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| key(info.0.ip()))
    else {
        return next.run(request).await;
    };
    if let Some(wait) = throttle.wait(peer, Instant::now()) {
        let seconds = wait.as_secs().max(1);
        tracing::debug!(%peer, seconds, "request refused: too many failed authentications");
        return retry_later(
            ErrorCode::RateLimited,
            format!(
                "too many failed authentications from this address (the limit is {} a minute); \
                 retry in {seconds} s",
                throttle.per_minute
            ),
            seconds,
        );
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        throttle.failed(peer, Instant::now());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn the_budget_is_spent_by_failures_and_refills_over_a_minute() {
        let throttle = Throttle::new(60).expect("a budget");
        let peer: IpAddr = ip("192.0.2.7");
        let start = Instant::now();
        for _ in 0..60 {
            assert!(throttle.wait(peer, start).is_none());
            throttle.failed(peer, start);
        }
        let wait = throttle.wait(peer, start).expect("the budget is spent");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            throttle
                .wait(peer, start + Duration::from_secs(1))
                .is_none()
        );
        let other: IpAddr = ip("192.0.2.8");
        assert!(
            throttle.wait(other, start).is_none(),
            "another address is not slowed"
        );
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64() {
        let a: IpAddr = ip("2001:db8:1:2::1");
        let b: IpAddr = ip("2001:db8:1:2:ffff::9");
        let c: IpAddr = ip("2001:db8:1:3::1");
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        let mapped: IpAddr = ip("::ffff:192.0.2.7");
        assert_eq!(key(mapped), ip("192.0.2.7"));
    }

    #[test]
    fn a_zero_budget_is_no_limit() {
        assert!(Throttle::new(0).is_none());
    }
}
