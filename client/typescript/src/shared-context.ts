// `SharedContext`: a handle on a Cairn server's shared, compressed, reversible
// store, with Headroom's TypeScript surface and Cairn's own.
import { BinaryContent, CairnError, Expired, InvalidKey, InvalidRef, InvalidRequest, NotFound } from "./errors.js";
import { type CallOptions, type Query, type RequestSpec, Transport, checkTimeout, utf8 } from "./transport.js";
import type {
  Activity,
  Briefing,
  CcrRetrieveQuery,
  CompressResponse,
  ContextList,
  ContextSummary,
  ContextView,
  ContextsListQuery,
  Deleted,
  Health,
  ImportReport,
  PutReceipt,
  Retrieved,
  SearchQuery,
  SearchResults,
  SessionDetail,
  SessionList,
  SessionsBriefingQuery,
  SessionsGetQuery,
  SessionsImportQuery,
  SessionsListQuery,
  Stats,
  StatsActivityQuery,
} from "./wire.js";

/** Where the client looks when neither `url` nor `$CAIRN_URL` says. */
export const DEFAULT_URL = "http://127.0.0.1:8787";
/** The longest key the server takes, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 512;
/** This package's version. */
export const VERSION = "0.1.0";

/** `max_tokens` → `maxTokens`. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
/** A wire type's fields in camelCase: the options of the calls that send them. */
export type CamelCased<T> = { [K in keyof T as Camel<K & string>]: T[K] };

/** What a put stores: text, or bytes. */
export type Content = string | Uint8Array | ArrayBuffer;

export interface SharedContextOptions {
  /** The server, such as `http://127.0.0.1:8787`; else `$CAIRN_URL`; else `http://127.0.0.1:8787`. */
  url?: string;
  /** Headroom's name for `url`. */
  baseUrl?: string;
  /** A bearer token (`cairn token issue`); else `$CAIRN_TOKEN`. Its tenant is the store you see. */
  token?: string;
  /** Recorded on every put that names no agent. */
  agent?: string;
  /** Recorded on every put that names no session. */
  session?: string;
  /** Seconds every put lives unless it says otherwise (as Headroom's `ttl`); default: kept until deleted. */
  ttl?: number;
  /**
   * Milliseconds a request may take, per attempt (default 130000: longer than
   * the server's own 120 s deadline, so its answer, which says whether a
   * write may have been applied, arrives first).
   */
  timeout?: number;
  /**
   * Retries of what cannot apply a request twice (default 4): a connection
   * that was never made, and for reads also a failure on the way or a 503.
   */
  retries?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Accepted for Headroom compatibility and ignored: Cairn counts o200k tokens. */
  model?: string;
  /** Accepted for Headroom compatibility and ignored: Cairn evicts nothing. */
  maxEntries?: number;
}

export interface PutOptions extends CallOptions {
  /** Who wrote it (default: the client's `agent`). */
  agent?: string;
  /** Seconds until this version expires (default: the client's `ttl`). */
  ttl?: number;
  /** The session it belongs to (default: the client's `session`). */
  session?: string;
  /** A JSON object stored with the version (text content only). */
  metadata?: Record<string, unknown>;
}

/**
 * What `put` returns: the server's receipt (its fields as the REST API names
 * them), and Headroom's `ContextEntry` fields in camelCase.
 */
export interface PutEntry<C extends Content = string> extends PutReceipt {
  /** The content as it was put. */
  original: C;
  /** Tokens of the original (o200k), as `tokens_original`. */
  originalTokens: number;
  /** Tokens of the default compressed view, as `tokens_compressed`. */
  compressedTokens: number;
  /** The agent the put named (or the client's), or `null`. */
  agent: string | null;
  /** When the put was acknowledged, in seconds since the epoch. */
  timestamp: number;
  /** `(originalTokens - compressedTokens) / originalTokens * 100`; 0 when empty. */
  savingsPercent: number;
}

/** Headroom's `ContextEntry`, read back from the server by `getEntry`. */
export interface ContextEntry {
  key: string;
  original: string;
  compressed: string;
  originalTokens: number;
  compressedTokens: number;
  agent: string | null;
  /** When the version was written, in seconds since the epoch. */
  timestamp: number;
  /** Always empty: Cairn's views name their cuts in markers (`getView`). */
  transforms: string[];
  savingsPercent: number;
}

/** The server's `Stats`, and Headroom's `SharedContextStats` fields in camelCase. */
export interface SharedContextStats extends Stats {
  /** Live keys, as `contexts`. */
  entries: number;
  totalOriginalTokens: number;
  totalCompressedTokens: number;
  totalTokensSaved: number;
  savingsPercent: number;
}

export interface GetOptions extends CallOptions {
  /** The original instead of the compressed view. */
  full?: boolean;
  /** Keep everything matching this in the compressed view. */
  query?: string;
  /** Cap the compressed view at this many tokens. */
  maxTokens?: number;
  /** An older version instead of the latest. */
  version?: number;
}

/** Lines `[start, end]` (1-based, inclusive), one line, or `"A-B"`. */
export type Lines = [number, number] | number | string;
/** A part of an original: lines (or items of a JSON array), or the lines matching a query. */
export type Selection = { lines: Lines; query?: never } | { query: string; lines?: never };

export type ListOptions = Omit<CamelCased<ContextsListQuery>, "prefix" | "limit" | "cursor"> &
  CallOptions & {
    /** Keys a request, 1-1000 (default 1000). */
    pageSize?: number;
  };
export type SearchOptions = Omit<CamelCased<SearchQuery>, "q"> & CallOptions;
export type BriefingOptions = CamelCased<SessionsBriefingQuery> & CallOptions;
export type SessionsOptions = CamelCased<SessionsListQuery> & CallOptions;
export type SessionOptions = CamelCased<SessionsGetQuery> & CallOptions;
export type ImportOptions = CamelCased<SessionsImportQuery> & CallOptions;
export interface CompressTextOptions extends CallOptions {
  /** Keep everything matching this. */
  query?: string;
  /** Cap the result at this many tokens. */
  maxTokens?: number;
  /** What the content is (`json_rows`, `log`, `code`, ...); detected when absent. */
  kind?: string;
}

const encoder = new TextEncoder();

/**
 * A handle on a Cairn server's store. Every method returns a Promise.
 *
 * ```ts
 * const ctx = new SharedContext({ agent: "researcher" });
 * const entry = await ctx.put("research/latency", toolOutput);
 * const view = await ctx.get("research/latency");           // compressed, with markers
 * const original = await ctx.get("research/latency", { full: true });
 * ```
 */
export class SharedContext {
  /** The server's base URL. */
  readonly url: string;
  readonly #transport: Transport;
  readonly #agent: string | undefined;
  readonly #session: string | undefined;
  readonly #ttl: number | undefined;

  constructor(options: SharedContextOptions = {}) {
    const url = options.url ?? options.baseUrl ?? env("CAIRN_URL") ?? DEFAULT_URL;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || !parsed.hostname) {
      throw new CairnError(`invalid server URL ${JSON.stringify(url)}: expected http://HOST[:PORT]`);
    }
    this.url = url.replace(/\/+$/, "");
    const fetcher = options.fetch ?? globalThis.fetch;
    if (typeof fetcher !== "function") {
      throw new CairnError("no fetch in this runtime: pass `fetch` (Node 18+, Deno and browsers have one)");
    }
    const token = options.token ?? env("CAIRN_TOKEN");
    if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
      throw new CairnError("a token is printable ASCII without spaces (as `cairn token issue` prints it)");
    }
    this.#transport = new Transport({
      base: this.url,
      token,
      timeout: checkTimeout(options.timeout ?? 130_000),
      retries: Math.floor(nonNegative(options.retries ?? 4, "retries")),
      fetch: fetcher.bind(globalThis),
    });
    this.#agent = options.agent;
    this.#session = options.session;
    this.#ttl = options.ttl === undefined ? undefined : ttlSeconds(options.ttl);
  }

  // Contexts ----------------------------------------------------------------

  /**
   * Stores `content` (text or bytes, kept byte for byte) as the next version
   * of `key`. Keys are 1-512 bytes of UTF-8 without control characters;
   * slashes are fine.
   */
  async put<C extends Content>(key: string, content: C, options: PutOptions = {}): Promise<PutEntry<C>> {
    const agent = options.agent ?? this.#agent;
    const session = options.session ?? this.#session;
    const ttl = options.ttl === undefined ? this.#ttl : ttlSeconds(options.ttl);
    const spec = putRequest(contextPath(key), content, agent, session, ttl, options.metadata);
    const receipt = await this.#transport.json<PutReceipt>(spec, options);
    return {
      ...receipt,
      original: content,
      originalTokens: receipt.tokens_original,
      compressedTokens: receipt.tokens_compressed,
      agent: agent ?? null,
      timestamp: Date.now() / 1000,
      savingsPercent: savings(receipt.tokens_original, receipt.tokens_compressed),
    };
  }

  /**
   * The compressed view of `key` as text (`full: true`: the original);
   * `null` when the key does not exist or has expired, as in Headroom.
   * Throws `BinaryContent` for a binary original (read it with `getBytes`).
   */
  async get(key: string, options: GetOptions = {}): Promise<string | null> {
    try {
      return viewText(await this.getView(key, options));
    } catch (error) {
      if (error instanceof NotFound || error instanceof Expired) return null;
      throw error;
    }
  }

  /**
   * The view of `key` with its facts (version, ref, tokens, markers, agent,
   * metadata, times). Throws `NotFound` or `Expired`.
   */
  async getView(key: string, options: GetOptions = {}): Promise<ContextView> {
    const query: Query = {
      view: options.full ? "full" : "compressed",
      query: options.query,
      max_tokens: options.maxTokens,
      version: options.version,
    };
    return this.#transport.json<ContextView>({ method: "GET", path: contextPath(key), query }, options);
  }

  /** The original of `key`, byte for byte (binary content included). */
  async getBytes(key: string, options: CallOptions & { version?: number } = {}): Promise<Uint8Array> {
    const spec: RequestSpec = {
      method: "GET",
      path: contextPath(key),
      query: { view: "full", version: options.version },
      headers: { accept: "application/octet-stream" },
    };
    return (await this.#transport.send(spec, options)).body;
  }

  /**
   * Headroom's `getEntry`: the original and the compressed view of `key` with
   * their token counts, or `null` when the key does not exist or has expired.
   */
  async getEntry(key: string, options: CallOptions = {}): Promise<ContextEntry | null> {
    let view: ContextView;
    try {
      view = await this.getView(key, options);
    } catch (error) {
      if (error instanceof NotFound || error instanceof Expired) return null;
      throw error;
    }
    const compressed = viewText(view);
    // A view with no cut, of the original's tokens and size, is the original: no second request.
    const original =
      view.markers.length === 0 && view.tokens === view.tokens_original && compressed.length === view.bytes
        ? compressed
        : await this.retrieve(view.ref, options);
    return {
      key,
      original,
      compressed,
      originalTokens: view.tokens_original,
      compressedTokens: view.tokens,
      agent: view.agent ?? null,
      timestamp: Date.parse(view.created_at) / 1000,
      transforms: [],
      savingsPercent: savings(view.tokens_original, view.tokens),
    };
  }

  /** Every live key starting with `prefix`, in key order. */
  async keys(prefix = "", options: ListOptions = {}): Promise<string[]> {
    return (await this.entries(prefix, options)).map((entry) => entry.key);
  }

  /**
   * Every live key starting with `prefix` with its latest version, following
   * the pages; optionally only those whose latest version `agent` or
   * `session` wrote.
   */
  async entries(prefix = "", options: ListOptions = {}): Promise<ContextSummary[]> {
    const found: ContextSummary[] = [];
    let cursor: string | undefined;
    do {
      const query: Query = {
        prefix: prefix || undefined,
        agent: options.agent,
        session: options.session,
        content_type: options.contentType,
        since: options.since,
        limit: options.pageSize ?? 1000,
        cursor,
      };
      const page = await this.#transport.json<ContextList>({ method: "GET", path: "/v1/contexts", query }, options);
      found.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    return found;
  }

  /** Deletes every version of `key`; `NotFound` if there is none. */
  async delete(key: string, options: CallOptions = {}): Promise<Deleted> {
    return this.#transport.json<Deleted>({ method: "DELETE", path: contextPath(key) }, options);
  }

  /**
   * Deletes every live key starting with `prefix` (every key of the tenant
   * when empty, as Headroom's `clear()`); returns how many.
   */
  async clear(prefix = "", options: CallOptions = {}): Promise<number> {
    let deleted = 0;
    for (const key of await this.keys(prefix, options)) {
      try {
        await this.delete(key, options);
        deleted += 1;
      } catch (error) {
        // Deleted by someone else meanwhile: the outcome is the same.
        if (!(error instanceof NotFound)) throw error;
      }
    }
    return deleted;
  }

  // References ----------------------------------------------------------------

  /**
   * What a `ccr:` reference names. Without a selection: the original, as
   * text. With `lines` (1-based, inclusive; items of a JSON array) or
   * `query` (the matching lines, each with its position): that part, as a
   * `Retrieved`.
   */
  retrieve(ref: string, options: Selection & CallOptions): Promise<Retrieved>;
  retrieve(ref: string, options?: CallOptions): Promise<string>;
  async retrieve(ref: string, options: Partial<Selection> & CallOptions = {}): Promise<string | Retrieved> {
    checkRef(ref);
    if (options.lines === undefined && options.query === undefined) {
      const text = utf8(await this.retrieveBytes(ref, options));
      if (text === undefined) throw new BinaryContent(`${ref} names binary content; use retrieveBytes()`);
      return text;
    }
    const query: CcrRetrieveQuery = { lines: lineRange(options.lines), query: options.query };
    return this.#transport.json<Retrieved>({ method: "GET", path: refPath(ref), query: { ...query } }, options);
  }

  /** The original a `ccr:` reference names, byte for byte. */
  async retrieveBytes(ref: string, options: CallOptions = {}): Promise<Uint8Array> {
    checkRef(ref);
    const spec: RequestSpec = { method: "GET", path: refPath(ref), headers: { accept: "application/octet-stream" } };
    return (await this.#transport.send(spec, options)).body;
  }

  // Search, briefings, sessions -------------------------------------------------

  /**
   * Searches contexts and imported sessions. `query` takes words (an
   * identifier is found by its parts), `"phrases"`, `field:value` and
   * `AND`/`OR`/`-word`; each hit's snippet shows the match in `**`.
   */
  async search(query: string, options: SearchOptions = {}): Promise<SearchResults> {
    const { agent, project, session, kind, since, until, limit } = options;
    const params: SearchQuery = { q: query, agent, project, session, kind, since, until, limit };
    return this.#transport.json<SearchResults>({ method: "GET", path: "/v1/search", query: { ...params } }, options);
  }

  /**
   * What the other agents did in a project, digested within a token budget:
   * what a new session should read first.
   */
  async briefing(options: BriefingOptions): Promise<Briefing> {
    const { project, agent, maxTokens, session, repository } = options;
    const params: SessionsBriefingQuery = { project, agent, max_tokens: maxTokens, session, repository };
    return this.#transport.json<Briefing>({ method: "GET", path: "/v1/briefing", query: { ...params } }, options);
  }

  /** A page of imported sessions, most recently updated first. */
  async sessions(options: SessionsOptions = {}): Promise<SessionList> {
    const { agent, project, since, limit, cursor } = options;
    const params: SessionsListQuery = { agent, project, since, limit, cursor };
    return this.#transport.json<SessionList>({ method: "GET", path: "/v1/sessions", query: { ...params } }, options);
  }

  /** One session's messages, a page at a time (`from`: the previous page's `next_from`). */
  async session(id: string, options: SessionOptions = {}): Promise<SessionDetail> {
    const params: SessionsGetQuery = { from: options.from, limit: options.limit };
    const path = `/v1/sessions/${segment(id)}`;
    return this.#transport.json<SessionDetail>({ method: "GET", path, query: { ...params } }, options);
  }

  /**
   * Imports a session file of Claude Code, Codex or Gemini CLI (its bytes;
   * the agent is detected when not given). Importing the same file again
   * adds only what is new.
   */
  async importSession(content: Content, options: ImportOptions = {}): Promise<ImportReport> {
    const { agent, path, project, repository, root } = options;
    const params: SessionsImportQuery = { agent, path, project, repository, root };
    const spec: RequestSpec = {
      method: "POST",
      path: "/v1/sessions/import",
      query: { ...params },
      headers: { "content-type": "application/octet-stream" },
      body: bytesOf(content),
    };
    return this.#transport.json<ImportReport>(spec, options);
  }

  // Stats, compression, health -----------------------------------------------------

  /** Counts, bytes and tokens saved for this tenant (and Headroom's names). */
  async stats(options: CallOptions = {}): Promise<SharedContextStats> {
    const stats = await this.#transport.json<Stats>({ method: "GET", path: "/v1/stats" }, options);
    return {
      ...stats,
      entries: stats.contexts,
      totalOriginalTokens: stats.tokens_original,
      totalCompressedTokens: stats.tokens_compressed,
      totalTokensSaved: stats.tokens_saved,
      savingsPercent: savings(stats.tokens_original, stats.tokens_compressed),
    };
  }

  /**
   * Compresses the tool results of a conversation (OpenAI Chat or Anthropic
   * Messages shape), each for the user turn before it; the rest is left as
   * it is. Every cut's original is kept, so its marker's ref resolves.
   */
  async compress(messages: readonly object[], options: CallOptions = {}): Promise<CompressResponse> {
    if (!Array.isArray(messages) || !messages.every((m) => m !== null && typeof m === "object")) {
      throw new TypeError("messages is an array of message objects (OpenAI Chat or Anthropic shape)");
    }
    return this.#compress({ messages }, options);
  }

  /** Compresses one text without storing it under a key. */
  async compressText(content: string, options: CompressTextOptions = {}): Promise<CompressResponse> {
    if (typeof content !== "string") throw new TypeError("content is a string");
    const { query, maxTokens, kind } = options;
    return this.#compress({ content, query, max_tokens: maxTokens, kind }, options);
  }

  /**
   * What this tenant's agents put and imported over the last `days` days
   * (default 30), by day, agent and content type, and the proxy's savings
   * by provider: the numbers behind the dashboard at `/ui`.
   */
  async activity(options: CamelCased<StatsActivityQuery> & CallOptions = {}): Promise<Activity> {
    const params: StatsActivityQuery = { days: options.days };
    return this.#transport.json<Activity>({ method: "GET", path: "/v1/activity", query: { ...params } }, options);
  }

  /** Whether the server is up (`GET /healthz`). */
  async health(options: CallOptions = {}): Promise<Health> {
    return this.#transport.json<Health>({ method: "GET", path: "/healthz" }, options);
  }

  #compress(body: Record<string, unknown>, options: CallOptions): Promise<CompressResponse> {
    const spec: RequestSpec = {
      method: "POST",
      path: "/v1/compress",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    };
    return this.#transport.json<CompressResponse>(spec, options);
  }

  toString(): string {
    return `SharedContext(${this.url})`;
  }
}

// Requests --------------------------------------------------------------------------

function putRequest(
  path: string,
  content: Content,
  agent: string | undefined,
  session: string | undefined,
  ttl: number | undefined,
  metadata: Record<string, unknown> | undefined,
): RequestSpec {
  if (metadata !== undefined && (metadata === null || typeof metadata !== "object" || Array.isArray(metadata))) {
    throw new TypeError("metadata is a JSON object");
  }
  const text = typeof content === "string" ? content : utf8(bytesOf(content));
  // The JSON form carries metadata, and names in any script: a header value
  // travels as bytes that runtimes encode differently (Node and Deno as
  // Latin-1, browsers as UTF-8). It carries text only.
  if (metadata !== undefined || !ascii(agent) || !ascii(session)) {
    if (text !== undefined) {
      const body = { content: text, agent, session, ttl_seconds: ttl, metadata };
      return { method: "PUT", path, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    }
    if (metadata !== undefined) {
      throw new InvalidRequest("metadata can only travel with UTF-8 content", { code: "invalid_request" });
    }
  }
  // Raw bytes otherwise, so nothing needs escaping; names go in headers, as
  // UTF-8, which the server reads.
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (agent !== undefined) headers["x-cairn-agent"] = headerValue(agent, "agent");
  if (session !== undefined) headers["x-cairn-session"] = headerValue(session, "session");
  if (ttl !== undefined) headers["x-cairn-ttl-seconds"] = String(ttl);
  return { method: "PUT", path, headers, body: bytesOf(content) };
}

/** Whether `text` is ASCII (control characters included: `headerValue` refuses those). */
function ascii(text: string | undefined): boolean {
  return text === undefined || /^[\x00-\x7f]*$/.test(text);
}

function bytesOf(content: Content): Uint8Array {
  if (typeof content === "string") return encoder.encode(content);
  if (content instanceof Uint8Array) return content;
  if (content instanceof ArrayBuffer) return new Uint8Array(content);
  throw new TypeError(`content is a string, Uint8Array or ArrayBuffer, not ${describeType(content)}`);
}

/**
 * A header value carrying `text` as UTF-8 (for binary content only, whose
 * names cannot travel in JSON): Node's and Deno's fetch send each character
 * of a header value as one byte, so the UTF-8 bytes go as characters 0-255.
 * Browsers re-encode them: a binary put from a page needs ASCII names.
 */
function headerValue(text: string, what: string): string {
  if (typeof text !== "string") throw new TypeError(`${what} is a string, not ${describeType(text)}`);
  if (/[\0\r\n]/.test(text)) throw new InvalidRequest(`${what} cannot hold NUL, CR or LF`, { code: "invalid_request" });
  return String.fromCharCode(...encoder.encode(text));
}

function viewText(view: ContextView): string {
  if (view.encoding === "base64") {
    throw new BinaryContent(`${view.key} holds binary content; use getBytes()`);
  }
  return view.content;
}

function contextPath(key: string): string {
  checkKey(key);
  return `/v1/contexts/${segment(key)}`;
}

function refPath(ref: string): string {
  return `/v1/ccr/${segment(ref)}`;
}

/** Throws `InvalidKey` for a key the server would refuse. */
export function checkKey(key: string): void {
  if (typeof key !== "string") throw new TypeError(`a key is a string, not ${describeType(key)}`);
  if (key === "") throw new InvalidKey("a key cannot be empty", { code: "invalid_key" });
  const size = encoder.encode(key).length;
  if (size > MAX_KEY_BYTES) {
    throw new InvalidKey(`a key is at most ${MAX_KEY_BYTES} bytes, not ${size}`, { code: "invalid_key" });
  }
  if (key === "." || key === "..") {
    throw new InvalidKey(`'${key}' is reserved and cannot be a key`, { code: "invalid_key" });
  }
  let at = 0;
  for (const char of key) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      throw new InvalidKey(`a key cannot hold control characters (one at ${at})`, { code: "invalid_key" });
    }
    at += 1;
  }
}

function checkRef(ref: string): void {
  if (typeof ref !== "string" || ref === "") {
    throw new InvalidRef("a reference is a non-empty ccr:... string", { code: "invalid_ref" });
  }
}

/**
 * `text` percent-encoded as one path segment: everything but RFC 3986's
 * unreserved characters is escaped, slashes included.
 */
function segment(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function lineRange(lines: Lines | undefined): string | undefined {
  if (lines === undefined) return undefined;
  if (Array.isArray(lines)) return `${lines[0]}-${lines[1]}`;
  return String(lines);
}

function ttlSeconds(ttl: number): number {
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1) {
    throw new TypeError(`a TTL is a whole number of seconds, at least 1, not ${String(ttl)}`);
  }
  return ttl;
}

function nonNegative(value: number, name: string): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new TypeError(`${name} is a non-negative number, not ${String(value)}`);
  }
  return value;
}

function savings(before: number, after: number): number {
  return before > 0 ? ((before - after) / before) * 100 : 0;
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}

/** An environment variable, where the runtime has them (Node, Deno with --allow-env). */
function env(name: string): string | undefined {
  try {
    const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
    const deno = (globalThis as { Deno?: { env?: { get(name: string): string | undefined } } }).Deno;
    const value = process?.env?.[name] ?? deno?.env?.get(name);
    return value || undefined;
  } catch {
    return undefined; // Deno without --allow-env
  }
}
