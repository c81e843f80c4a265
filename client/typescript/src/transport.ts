// Sending one request with `fetch`: the timeout, the caller's AbortSignal, the
// retries that are safe, and turning error answers into typed errors.
import {
  Aborted,
  CairnError,
  ConnectionFailed,
  ProtocolError,
  Timeout,
  TransportError,
  errorFor,
} from "./errors.js";

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call (an `Aborted` error). */
  signal?: AbortSignal;
  /** Milliseconds this call may take, per attempt (default: the client's `timeout`). */
  timeout?: number;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestSpec {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** An answer, read whole. */
export interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export interface TransportSettings {
  base: string;
  token: string | undefined;
  timeout: number;
  retries: number;
  fetch: typeof fetch;
}

const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 2000;
/** The longest wait a `Retry-After` may ask for. */
const MAX_RETRY_AFTER_MS = 60_000;
/** The longest timer JavaScript keeps (longer ones fire at once). */
const MAX_TIMER_MS = 2_147_483_647;

// A connection that was never made, so retrying cannot apply a request
// twice: Node's (undici's) codes, and the words of Deno's errors. Browsers
// say only "Failed to fetch": there, it is a TransportError.
const NOT_CONNECTED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const NOT_CONNECTED_WORDS = /connection refused|os error 111|dns error|failed to lookup address/i;

function neverConnected(error: unknown): boolean {
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 4; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === "string" && NOT_CONNECTED.has(code)) return true;
    if (NOT_CONNECTED_WORDS.test(at.message)) return true;
    at = at.cause;
  }
  return false;
}

/** A timeout as a timer can hold it; throws for one that is not a positive number. */
export function checkTimeout(value: number, name = "timeout"): number {
  if (typeof value !== "number" || !(value > 0)) {
    throw new TypeError(`${name} is a positive number of milliseconds, not ${String(value)}`);
  }
  return Math.min(value, MAX_TIMER_MS);
}

export class Transport {
  constructor(readonly settings: TransportSettings) {}

  /**
   * Sends `spec` and reads the answer. Retries, with backoff, what cannot
   * apply a request twice: a connection that was never made and a 503 with
   * `Retry-After` (the server turned the request away before handling it),
   * for any method; for GET also a failure on the way. Throws the typed
   * error of an error answer.
   */
  async send(spec: RequestSpec, call: CallOptions = {}): Promise<Answer> {
    const safe = spec.method === "GET";
    if (call.timeout !== undefined) checkTimeout(call.timeout);
    let wait = FIRST_BACKOFF_MS;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.settings.retries;
      let answer: Answer;
      try {
        answer = await this.once(spec, call);
      } catch (error) {
        if (error instanceof Aborted || error instanceof Timeout || last) throw error;
        if (!(error instanceof ConnectionFailed) && !safe) throw error;
        await sleep(wait, call.signal);
        wait = Math.min(wait * 2, MAX_BACKOFF_MS);
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) return answer;
      const after = answer.headers.get("retry-after");
      if (answer.status === 503 && after !== null && !last) {
        const seconds = Number(after);
        const ms = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : wait;
        await sleep(Math.min(Math.max(ms, wait), MAX_RETRY_AFTER_MS), call.signal);
        wait = Math.min(wait * 2, MAX_BACKOFF_MS);
        continue;
      }
      throw errorOf(answer);
    }
  }

  /** Sends and reads the answer as a JSON object. */
  async json<T>(spec: RequestSpec, call?: CallOptions): Promise<T> {
    const answer = await this.send(
      { ...spec, headers: { accept: "application/json", ...spec.headers } },
      call,
    );
    return parseJson(answer) as T;
  }

  private async once(spec: RequestSpec, call: CallOptions): Promise<Answer> {
    const { signal } = call;
    if (signal?.aborted) throw new Aborted("the call was aborted before it was sent", { cause: signal.reason });
    const controller = new AbortController();
    const timeout = checkTimeout(call.timeout ?? this.settings.timeout);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const url = this.url(spec.path, spec.query);
    try {
      const response = await this.settings.fetch(url, {
        method: spec.method,
        headers: this.headers(spec.headers),
        body: spec.body as BodyInit | undefined,
        signal: controller.signal,
      });
      const body = new Uint8Array(await response.arrayBuffer());
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      if (signal?.aborted) throw new Aborted(`${spec.method} ${url} was aborted`, { cause: signal.reason });
      if (timedOut) throw new Timeout(`${spec.method} ${url} took longer than ${timeout} ms`, { cause: error });
      if (neverConnected(error)) {
        throw new ConnectionFailed(`cannot reach the Cairn server at ${this.settings.base}: ${describe(error)}`, {
          cause: error,
        });
      }
      throw new TransportError(`${spec.method} ${url} failed: ${describe(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private url(path: string, query: Query | undefined): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) params.append(name, String(value));
    }
    const text = params.toString();
    return `${this.settings.base}${path}${text ? `?${text}` : ""}`;
  }

  private headers(extra: Record<string, string> | undefined): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.settings.token) headers.authorization = `Bearer ${this.settings.token}`;
    return headers;
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Aborted("the call was aborted", { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Aborted("the call was aborted", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The body as UTF-8 text; `undefined` when it is not UTF-8. */
export function utf8(body: Uint8Array): string | undefined {
  try {
    return decoder.decode(body);
  } catch {
    return undefined;
  }
}

function parseJson(answer: Answer): Record<string, unknown> {
  const text = utf8(answer.body);
  let data: unknown;
  try {
    data = text === undefined ? undefined : JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ProtocolError(`unexpected response body (HTTP ${answer.status}): not a JSON object`, {
      status: answer.status,
    });
  }
  return data as Record<string, unknown>;
}

/** The typed error an error answer stands for. */
function errorOf(answer: Answer): CairnError {
  let code: unknown;
  let message: unknown;
  try {
    const detail = (parseJson(answer) as { error?: { code?: unknown; message?: unknown } }).error;
    code = detail?.code;
    message = detail?.message;
  } catch {
    // not JSON: below
  }
  if (typeof code !== "string" || typeof message !== "string") {
    const snippet = JSON.stringify((utf8(answer.body) ?? "").slice(0, 200));
    // A gateway's 502 or 504 says nothing in Cairn's words, and is still the server side failing.
    if (answer.status >= 500) return errorFor(answer.status, undefined, `HTTP ${answer.status}: ${snippet}`);
    return new ProtocolError(`HTTP ${answer.status} without an error body: ${snippet}`, { status: answer.status });
  }
  return errorFor(answer.status, code, message);
}
