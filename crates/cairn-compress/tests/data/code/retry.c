/* Retry helpers for flaky network calls: exponential backoff with jitter. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXPONENT 30

/* How often and how long to retry. */
struct retry_policy {
    int attempts;
    long base_delay_ms;
    long max_delay_ms;
};

typedef int (*retry_fn)(void *arg);

/* The wait before the given attempt, capped at max_delay_ms. */
static long retry_delay(const struct retry_policy *policy, int attempt)
{
    int exponent = attempt < MAX_EXPONENT ? attempt : MAX_EXPONENT;
    long raw = policy->base_delay_ms << exponent;
    if (raw > policy->max_delay_ms || raw < 0) {
        raw = policy->max_delay_ms;
    }
    return raw;
}

/*
 * Calls fn until it returns 0 or the policy gives up. Each wait gets random
 * jitter so that many clients do not retry in lockstep.
 */
int retry_with_backoff(const struct retry_policy *policy, retry_fn fn, void *arg)
{
    int result = -1;
    for (int attempt = 0; attempt < policy->attempts; attempt++) {
        result = fn(arg);
        if (result == 0) {
            return 0;
        }
        long delay = retry_delay(policy, attempt);
        delay += rand() % (delay / 2 + 1); /* full jitter keeps clients apart */
        fprintf(stderr, "attempt %d failed (%s); retrying in %ld ms\n",
                attempt, strerror(errno), delay);
        usleep((useconds_t)delay * 1000);
    }
    fprintf(stderr, "gave up after %d attempts\n", policy->attempts);
    return result;
}

/* Splits host:port into its parts; returns 0 on success. */
int parse_endpoint(const char *text, char *host, size_t host_len, int *port)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text) {
        return -1;
    }
    size_t len = (size_t)(colon - text);
    if (len >= host_len) {
        return -1;
    }
    memcpy(host, text, len);
    host[len] = '\0';
    *port = atoi(colon + 1);
    return (*port > 0 && *port < 65536) ? 0 : -1;
}
