import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "./logger";
import { defaultLogger } from "./logger";
import { Metrics, counter } from "./metrics";

/** How often and how long to retry. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelay: number;
  readonly maxDelay: number;
}

export type Endpoint = { host: string; port: number };

export const DEFAULT_POLICY: RetryPolicy = { attempts: 5, baseDelay: 100, maxDelay: 10_000 };

/** The wait before the given attempt, capped at maxDelay. */
export function delayFor(policy: RetryPolicy, attempt: number): number {
  const exponent = Math.min(attempt, 30);
  const raw = policy.baseDelay * 2 ** exponent;
  const capped = Math.min(raw, policy.maxDelay);
  if (capped < 0) {
    throw new RangeError("negative delay");
  }
  return capped;
}

export class Retrier {
  private failures = 0;

  constructor(private readonly policy: RetryPolicy, private readonly log: Logger = defaultLogger) {}

  /**
   * Calls `fn` until it succeeds or the policy gives up. Each wait gets
   * random jitter so that many clients do not retry in lockstep.
   */
  async retryWithBackoff<T>(fn: () => Promise<T>, metrics?: Metrics): Promise<T> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.policy.attempts; attempt++) {
      try {
        return await fn();
      } catch (error: unknown) {
        lastError = error;
        this.failures += 1;
        metrics?.increment(counter("retry.failures"));
        let delay = delayFor(this.policy, attempt);
        delay += Math.random() * (delay / 2); // full jitter keeps clients apart
        this.log.warn(`attempt ${attempt} failed; retrying in ${delay}ms`);
        await sleep(delay);
      }
    }
    throw new Error(`gave up after ${this.policy.attempts} attempts: ${String(lastError)}`);
  }

  get failureCount(): number {
    return this.failures;
  }
}

export const parseEndpoint = (text: string): Endpoint => {
  const index = text.lastIndexOf(":");
  if (index <= 0) {
    throw new Error(`no host in ${JSON.stringify(text)}`);
  }
  const port = Number(text.slice(index + 1));
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new Error(`bad port in ${JSON.stringify(text)}`);
  }
  return { host: text.slice(0, index), port };
};
