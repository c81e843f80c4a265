'use strict';

const assert = require('assert');
const { setTimeout: sleep } = require('timers/promises');
const debug = require('debug')('retry');
const { EventEmitter } = require('events');

/**
 * How often and how long to retry.
 */
class RetryPolicy extends EventEmitter {
  constructor({ attempts = 5, baseDelay = 100, maxDelay = 10000 } = {}) {
    super();
    assert(attempts > 0, 'attempts must be positive');
    this.attempts = attempts;
    this.baseDelay = baseDelay;
    this.maxDelay = maxDelay;
  }

  /** The wait before the given attempt, capped at maxDelay. */
  delay(attempt) {
    const exponent = Math.min(attempt, 30);
    const raw = this.baseDelay * 2 ** exponent;
    const capped = Math.min(raw, this.maxDelay);
    debug('attempt %d: raw %d, capped %d', attempt, raw, capped);
    this.emit('delay', { attempt, capped });
    return capped;
  }
}

/**
 * Calls `fn` until it succeeds or the policy gives up. Each wait gets
 * random jitter so that many clients do not retry in lockstep.
 */
async function retryWithBackoff(fn, policy = new RetryPolicy()) {
  let lastError;
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    try {
      return await fn();
    } catch (error) {
      lastError = error;
      let delay = policy.delay(attempt);
      delay += Math.random() * (delay / 2); // full jitter keeps clients apart
      debug('attempt %d failed (%s); retrying in %dms', attempt, error.message, delay);
      await sleep(delay);
    }
  }
  throw new Error(`gave up after ${policy.attempts} attempts: ${lastError}`);
}

const parseEndpoint = (text) => {
  const index = text.lastIndexOf(':');
  if (index <= 0) {
    throw new Error(`no host in ${JSON.stringify(text)}`);
  }
  const port = Number(text.slice(index + 1));
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new Error(`bad port in ${JSON.stringify(text)}`);
  }
  return { host: text.slice(0, index), port };
};

module.exports = { RetryPolicy, retryWithBackoff, parseEndpoint };
