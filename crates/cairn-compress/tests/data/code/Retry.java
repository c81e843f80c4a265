package com.example.net;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.logging.Logger;

/**
 * Retry helpers for flaky network calls: exponential backoff with jitter.
 */
public final class Retry {
    private static final Logger LOG = Logger.getLogger(Retry.class.getName());

    /** How often and how long to retry. */
    public record Policy(int attempts, Duration baseDelay, Duration maxDelay) {
        public Policy {
            if (attempts <= 0) {
                throw new IllegalArgumentException("attempts must be positive");
            }
            Objects.requireNonNull(baseDelay, "baseDelay");
            Objects.requireNonNull(maxDelay, "maxDelay");
        }

        /** The wait before the given attempt, capped at maxDelay. */
        public Duration delay(int attempt) {
            int exponent = Math.min(attempt, 30);
            Duration raw = baseDelay.multipliedBy(1L << exponent);
            Duration capped = raw.compareTo(maxDelay) > 0 ? maxDelay : raw;
            LOG.fine(() -> "attempt " + attempt + ": delay " + capped);
            return capped;
        }
    }

    private Retry() {}

    /**
     * Calls {@code call} until it succeeds or the policy gives up. Each wait gets
     * random jitter so that many clients do not retry in lockstep.
     */
    public static <T> T retryWithBackoff(Callable<T> call, Policy policy) throws Exception {
        Exception last = null;
        for (int attempt = 0; attempt < policy.attempts(); attempt++) {
            try {
                return call.call();
            } catch (Exception error) {
                last = error;
                long delay = policy.delay(attempt).toMillis();
                delay += ThreadLocalRandom.current().nextLong(delay / 2 + 1); // full jitter keeps clients apart
                LOG.warning("attempt " + attempt + " failed; retrying in " + delay + "ms");
                Thread.sleep(delay);
            }
        }
        throw new IllegalStateException("gave up after " + policy.attempts() + " attempts", last);
    }

    /** Splits host:port into its parts. */
    public static String[] parseEndpoint(String text) {
        int index = text.lastIndexOf(':');
        if (index <= 0) {
            throw new IllegalArgumentException("no host in " + text);
        }
        int port = Integer.parseInt(text.substring(index + 1));
        if (port <= 0 || port >= 65536) {
            throw new IllegalArgumentException("bad port in " + text);
        }
        return new String[] {text.substring(0, index), Integer.toString(port)};
    }
}
