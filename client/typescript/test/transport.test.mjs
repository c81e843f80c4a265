// Retries, timeouts, aborts and error answers, against small loopback
// servers that misbehave on purpose, and against a real `cairn serve`.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { after, before, describe, test } from "node:test";

import {
  Aborted,
  ConnectionFailed,
  Expired,
  Forbidden,
  InvalidRequest,
  NotFound,
  PayloadTooLarge,
  ProtocolError,
  RateLimited,
  ServerError,
  SharedContext,
  StorageFull,
  Timeout,
  TransportError,
  Unauthorized,
  Unavailable,
  errorFor,
} from "cairn-sdk";

import { closedPort, startServer, uniquePrefix } from "./support.mjs";

/** An HTTP server answering each request with the next of `answers` (the last repeats). */
async function scripted(answers) {
  const seen = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (c) => chunks.push(c));
    request.on("end", () => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks) });
      const [status, body, headers = {}] = answers[Math.min(seen.length - 1, answers.length - 1)];
      response.writeHead(status, { "content-type": "application/json", ...headers });
      response.end(typeof body === "string" ? body : JSON.stringify(body));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
}

const receipt = {
  key: "k",
  hash: "0".repeat(64),
  ref: `ccr:${"0".repeat(24)}`,
  version: 1,
  bytes: 1,
  tokens_original: 1,
  tokens_compressed: 1,
  content_type: "text/plain",
  deduplicated: false,
};

describe("errors", () => {
  test("each code and status maps to its class", () => {
    const cases = [
      [400, "invalid_request", InvalidRequest],
      [401, "unauthorized", Unauthorized],
      [403, "forbidden", Forbidden],
      [404, "not_found", NotFound],
      [410, "expired", Expired],
      [413, "payload_too_large", PayloadTooLarge],
      [429, "rate_limited", RateLimited],
      [503, "unavailable", Unavailable],
      [507, "storage_full", StorageFull],
      [500, "internal", ServerError],
      [418, "a_future_code", InvalidRequest],
      [599, undefined, ServerError],
    ];
    for (const [status, code, cls] of cases) {
      const error = errorFor(status, code, "what happened");
      assert.ok(error instanceof cls, `${status} ${code} → ${error.name}`);
      assert.equal(error.name, cls.name);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      assert.equal(error.message, "what happened");
    }
  });

  test("an answer without an error body: a 5xx is the server's failure, anything else a ProtocolError", async () => {
    const html = { "content-type": "text/html" };
    const fake = await scripted([[502, "<html>bad gateway</html>", html], [404, "<html>oops</html>", html], [200, "[1]"]]);
    try {
      const ctx = new SharedContext({ url: fake.url });
      const gateway = await ctx.stats().catch((e) => e);
      assert.ok(gateway instanceof ServerError, String(gateway));
      assert.equal(gateway.status, 502);
      assert.match(gateway.message, /bad gateway/);
      const missing = await ctx.stats().catch((e) => e);
      assert.ok(missing instanceof ProtocolError, String(missing));
      assert.equal(missing.status, 404);
      const notObject = await ctx.stats().catch((e) => e);
      assert.ok(notObject instanceof ProtocolError, String(notObject));
    } finally {
      fake.close();
    }
  });

  test("a body over the server's limit is PayloadTooLarge, and the server keeps nothing", async () => {
    const server = await startServer({ args: ["--body-limit-bytes", "4096"] });
    try {
      const ctx = new SharedContext({ url: server.url });
      const error = await ctx.put("big", "x".repeat(10_000)).catch((e) => e);
      assert.ok(error instanceof PayloadTooLarge, String(error));
      assert.equal(error.code, "payload_too_large");
      assert.equal(error.status, 413);
      assert.equal(await ctx.get("big"), null);
    } finally {
      await server.stop();
    }
  });
});

describe("retries", () => {
  test("a server that is not there: ConnectionFailed after the retries", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const ctx = new SharedContext({ url, retries: 2 });
    const started = Date.now();
    const error = await ctx.put("k", "v").catch((e) => e);
    assert.ok(error instanceof ConnectionFailed, String(error));
    assert.equal(error.code, undefined);
    assert.ok(error.message.startsWith(`cannot reach the Cairn server at ${url}`), error.message);
    assert.ok(Date.now() - started >= 140, "50 + 100 ms of backoff");
  });

  test("a connection never made is retried, for puts too", async () => {
    let calls = 0;
    const refused = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
    });
    const fetch = async (...args) => {
      calls += 1;
      if (calls <= 2) throw refused;
      return globalThis.fetch(...args);
    };
    const server = await startServer();
    try {
      const ctx = new SharedContext({ url: server.url, fetch });
      const entry = await ctx.put(`${uniquePrefix()}retried`, "once");
      assert.equal(calls, 3);
      assert.equal(entry.version, 1, "applied once");
    } finally {
      await server.stop();
    }
  });

  test("a failure on the way is retried for reads, never for writes", async () => {
    let calls = 0;
    const reset = async () => {
      calls += 1;
      throw Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) });
    };
    const ctx = new SharedContext({ url: "http://127.0.0.1:9", fetch: reset, retries: 3 });
    assert.ok((await ctx.put("k", "v").catch((e) => e)) instanceof TransportError);
    assert.equal(calls, 1, "a put that may have been applied is not sent again");
    calls = 0;
    assert.ok((await ctx.get("k").catch((e) => e)) instanceof TransportError);
    assert.equal(calls, 4);
  });

  test("a 503 with Retry-After is retried after it, for writes too; one without is not", async () => {
    const shed = [503, { error: { code: "unavailable", message: "too many requests in flight" } }, { "retry-after": "1" }];
    const fake = await scripted([shed, [200, receipt]]);
    try {
      const started = Date.now();
      const entry = await new SharedContext({ url: fake.url }).put("k", "v");
      assert.equal(entry.version, 1);
      assert.equal(fake.seen.length, 2);
      assert.ok(Date.now() - started >= 950, "waited the second Retry-After asked for");
    } finally {
      fake.close();
    }
    // Without Retry-After (a deadline passed, or search is off), nothing is retried: a write may have been applied.
    const deadline = [503, { error: { code: "unavailable", message: "the request did not finish within 120 s" } }];
    const again = await scripted([deadline, deadline, [200, { status: "ok" }]]);
    try {
      const ctx = new SharedContext({ url: again.url });
      assert.ok((await ctx.put("k", "v").catch((e) => e)) instanceof Unavailable);
      assert.ok((await ctx.health().catch((e) => e)) instanceof Unavailable);
      assert.equal(again.seen.length, 2);
    } finally {
      again.close();
    }
  });
});

describe("timeouts and aborts", () => {
  let silent;
  let sockets = [];
  before(async () => {
    // Accepts connections and never answers.
    silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  });
  after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const silentUrl = () => `http://127.0.0.1:${silent.address().port}`;

  test("a call that takes longer than the timeout is a Timeout, not retried", async () => {
    const ctx = new SharedContext({ url: silentUrl(), timeout: 200 });
    const started = Date.now();
    const error = await ctx.get("k").catch((e) => e);
    assert.ok(error instanceof Timeout, String(error));
    assert.ok(error instanceof TransportError);
    const took = Date.now() - started;
    assert.ok(took >= 190 && took < 2000, `${took} ms`);
    // Per call too.
    const quick = await new SharedContext({ url: silentUrl() }).stats({ timeout: 100 }).catch((e) => e);
    assert.ok(quick instanceof Timeout, String(quick));
    await assert.rejects(new SharedContext({ url: silentUrl() }).stats({ timeout: 0 }), TypeError);
    // A timeout longer than a timer holds is the longest one, not an instant failure.
    const controller = new AbortController();
    const long = new SharedContext({ url: silentUrl(), timeout: 1e12 }).stats({ signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    assert.ok((await long.catch((e) => e)) instanceof Aborted);
  });

  test("an AbortSignal aborts the call, before or during it", async () => {
    const ctx = new SharedContext({ url: silentUrl() });
    const controller = new AbortController();
    const pending = ctx.get("k", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user gave up")), 100);
    const error = await pending.catch((e) => e);
    assert.ok(error instanceof Aborted, String(error));
    assert.equal(error.cause.message, "user gave up");
    const already = await ctx.put("k", "v", { signal: AbortSignal.abort() }).catch((e) => e);
    assert.ok(already instanceof Aborted, String(already));
  });

  test("an abort during the backoff stops the retries", async () => {
    const ctx = new SharedContext({ url: `http://127.0.0.1:${await closedPort()}`, retries: 10 });
    const started = Date.now();
    const error = await ctx.stats({ signal: AbortSignal.timeout(300) }).catch((e) => e);
    assert.ok(error instanceof Aborted, String(error));
    assert.ok(Date.now() - started < 1500);
  });
});

describe("what goes on the wire", () => {
  test("a put sends raw bytes with the names as headers; metadata or names beyond ASCII send JSON", async () => {
    const fake = await scripted([[200, receipt]]);
    try {
      const ctx = new SharedContext({ url: fake.url, agent: "default", session: "s", ttl: 60, token: "tok" });
      await ctx.put("a b/c", "héllo");
      const raw = fake.seen.at(-1);
      assert.equal(raw.method, "PUT");
      assert.equal(raw.url, "/v1/contexts/a%20b%2Fc");
      assert.equal(raw.headers["content-type"], "application/octet-stream");
      assert.equal(raw.headers["x-cairn-agent"], "default");
      assert.equal(raw.headers["x-cairn-session"], "s");
      assert.equal(raw.headers["x-cairn-ttl-seconds"], "60");
      assert.equal(raw.headers.authorization, "Bearer tok");
      assert.equal(raw.body.toString("utf8"), "héllo");

      await ctx.put("k", "text", { agent: "défaut" });
      const named = fake.seen.at(-1);
      assert.equal(named.headers["content-type"], "application/json");
      assert.equal(named.headers["x-cairn-agent"], undefined);
      assert.deepEqual(JSON.parse(named.body.toString("utf8")), { content: "text", agent: "défaut", session: "s", ttl_seconds: 60 });
      // Binary content cannot travel in JSON: its names go as UTF-8 bytes in headers.
      await ctx.put("k", new Uint8Array([0xff]), { agent: "défaut" });
      const binary = fake.seen.at(-1);
      assert.equal(binary.headers["content-type"], "application/octet-stream");
      assert.equal(Buffer.from(binary.headers["x-cairn-agent"], "latin1").toString("utf8"), "défaut");

      await ctx.put("k", "text", { metadata: { job: 1 }, agent: "other", ttl: 5 });
      const json = fake.seen.at(-1);
      assert.equal(json.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(json.body.toString("utf8")), {
        content: "text",
        agent: "other",
        session: "s",
        ttl_seconds: 5,
        metadata: { job: 1 },
      });
      await assert.rejects(ctx.put("k", new Uint8Array([0xff]), { metadata: {} }), /UTF-8/);
    } finally {
      fake.close();
    }
  });

  test("a byte-order mark is part of the content", async () => {
    const server = await startServer();
    try {
      const ctx = new SharedContext({ url: server.url });
      const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]);
      const entry = await ctx.put(`${uniquePrefix()}bom`, bom, { metadata: { with: "bom" } });
      assert.equal(entry.bytes, 5);
      assert.deepEqual(await ctx.retrieveBytes(entry.ref), bom);
      assert.equal(await ctx.retrieve(entry.ref), "\ufeffhi");
    } finally {
      await server.stop();
    }
  });

  test("a token that cannot travel in a header is refused at once", () => {
    assert.throws(() => new SharedContext({ token: "abc\ndef" }), /printable ASCII/);
  });

  test("$CAIRN_TOKEN is the token when none is given", async () => {
    const fake = await scripted([[200, { status: "ok" }]]);
    const saved = process.env.CAIRN_TOKEN;
    try {
      process.env.CAIRN_TOKEN = "from-env";
      await new SharedContext({ url: fake.url }).health();
      assert.equal(fake.seen[0].headers.authorization, "Bearer from-env");
    } finally {
      if (saved === undefined) delete process.env.CAIRN_TOKEN;
      else process.env.CAIRN_TOKEN = saved;
      fake.close();
    }
  });
});
