//! Retry helpers for flaky network calls: exponential backoff with jitter.

use std::error::Error;
use std::fmt;
use std::thread;
use std::time::Duration;

use rand::Rng;
use tracing::{debug, warn};

/// How often and how long to retry.
#[derive(Debug, Clone)]
pub struct Policy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// Every attempt failed; the last error is kept.
#[derive(Debug)]
pub struct GaveUp<E> {
    pub attempts: u32,
    pub last: E,
}

impl<E: fmt::Display> fmt::Display for GaveUp<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gave up after {} attempts: {}", self.attempts, self.last)
    }
}

impl Policy {
    /// The wait before `attempt`, capped at `max_delay`.
    #[inline]
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.min(30);
        let raw = self.base_delay.saturating_mul(1 << exponent);
        let capped = raw.min(self.max_delay);
        debug!(attempt, ?raw, ?capped, "computed delay");
        if capped.is_zero() {
            return Duration::from_millis(1);
        }
        capped
    }
}

/// Calls `call` until it succeeds or the policy gives up. Each wait gets
/// random jitter so that many clients do not retry in lockstep.
pub fn retry_with_backoff<T, E, F>(policy: &Policy, mut call: F) -> Result<T, GaveUp<E>>
where
    E: Error,
    F: FnMut() -> Result<T, E>,
{
    let mut rng = rand::thread_rng();
    let mut attempt = 0;
    loop {
        match call() {
            Ok(value) => return Ok(value),
            Err(last) if attempt + 1 >= policy.attempts => {
                return Err(GaveUp { attempts: policy.attempts, last });
            }
            Err(error) => {
                let delay = policy.delay(attempt);
                let jitter = rng.gen_range(Duration::ZERO..=delay / 2); // full jitter keeps clients apart
                warn!(attempt, %error, ?delay, "attempt failed; retrying");
                thread::sleep(delay + jitter);
                attempt += 1;
            }
        }
    }
}

/// Splits `host:port` into its parts.
pub fn parse_endpoint(text: &str) -> Result<(&str, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("no port in {text:?}"))?;
    if host.is_empty() {
        return Err(format!("no host in {text:?}"));
    }
    let port: u16 = port
        .parse()
        .map_err(|error| format!("bad port in {text:?}: {error}"))?;
    Ok((host, port))
}
