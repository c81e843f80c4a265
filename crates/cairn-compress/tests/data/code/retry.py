"""Retry helpers for flaky network calls.

The helpers here wrap a callable and retry it with exponential backoff.
"""

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class RetryPolicy:
    """How often and how long to retry."""

    attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 10.0
    retry_on: tuple = field(default_factory=lambda: (ConnectionError, TimeoutError))

    def delay(self, attempt: int) -> float:
        """The delay before the given attempt, capped at max_delay."""
        exponent = min(attempt, 30)
        raw = self.base_delay * (2 ** exponent)
        capped = min(raw, self.max_delay)
        log.debug("attempt %d: raw delay %.3f, capped %.3f", attempt, raw, capped)
        if capped < 0:
            raise ValueError("negative delay")
        return capped


def retry_with_backoff(call: Callable[[], T], policy: Optional[RetryPolicy] = None) -> T:
    """Calls `call` until it succeeds or the policy gives up.

    Each failure waits longer than the one before; the wait gets random
    jitter so that many clients do not retry in lockstep.
    """
    policy = policy or RetryPolicy()
    last_error = None
    for attempt in range(policy.attempts):
        try:
            return call()
        except policy.retry_on as error:
            last_error = error
            delay = policy.delay(attempt)
            delay += random.uniform(0, delay / 2)  # full jitter keeps clients apart
            log.warning("attempt %d failed (%s); retrying in %.2fs", attempt, error, delay)
            time.sleep(delay)
    raise RuntimeError(f"gave up after {policy.attempts} attempts") from last_error


def parse_endpoint(text: str) -> tuple:
    """Splits `host:port` into its parts."""
    host, _, port = text.rpartition(":")
    if not host:
        raise ValueError(f"no host in {text!r}")
    if not port.isdigit():
        raise ValueError(f"port is not a number in {text!r}")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, number
