// Every method of SharedContext against a real `cairn serve` (auth off).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import {
  BinaryContent,
  CairnError,
  Expired,
  InvalidKey,
  InvalidRef,
  InvalidRequest,
  NotFound,
  SharedContext,
} from "cairn-sdk";

import { REPO, startServer, uniquePrefix } from "./support.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

const ctx = (options = {}) => new SharedContext({ url: server.url, ...options });

function rows(n) {
  return JSON.stringify(
    Array.from({ length: n }, (_, i) => ({ id: i, service: `svc-${i % 7}`, status: i % 50 === 7 ? "retry" : "ok" })),
    null,
    2,
  );
}

async function eventually(probe, what) {
  for (let i = 0; i < 100; i++) {
    const found = await probe();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`never: ${what}`);
}

describe("contexts", () => {
  test("put returns the receipt with Headroom's fields; get gives the view and the original", async () => {
    const key = `${uniquePrefix()}latency`;
    const output = rows(500);
    const entry = await ctx({ agent: "researcher" }).put(key, output);
    assert.equal(entry.key, key);
    assert.equal(entry.version, 1);
    assert.match(entry.ref, /^ccr:[0-9a-f]{24}$/);
    assert.match(entry.hash, /^[0-9a-f]{64}$/);
    assert.equal(entry.bytes, Buffer.byteLength(output));
    assert.equal(entry.original, output);
    assert.equal(entry.agent, "researcher");
    assert.equal(entry.originalTokens, entry.tokens_original);
    assert.equal(entry.compressedTokens, entry.tokens_compressed);
    assert.ok(entry.tokens_original > 5 * entry.tokens_compressed, JSON.stringify(entry));
    const expected = ((entry.tokens_original - entry.tokens_compressed) / entry.tokens_original) * 100;
    assert.equal(entry.savingsPercent, expected);
    assert.ok(Math.abs(entry.timestamp - Date.now() / 1000) < 60);
    assert.equal(entry.deduplicated, false);

    const view = await ctx().get(key);
    assert.ok(view.length < output.length / 5 && view.includes(`— ${entry.ref}]`), view);
    assert.equal(await ctx().get(key, { full: true }), output);
    assert.equal(await ctx().get(`${key}-missing`), null);
    assert.equal(await ctx().get(`${key}-missing`, { full: true }), null);

    const again = await ctx().put(`${key}-copy`, output);
    assert.equal(again.deduplicated, true);
    assert.equal(again.agent, null);
  });

  test("get takes a query, a token cap and a version; getView carries the facts", async () => {
    const key = `${uniquePrefix()}log`;
    const log = Array.from({ length: 1000 }, (_, i) =>
      i % 100 === 42 ? `ERROR request ${i} timed out` : `INFO request ${i} ok`,
    ).join("\n");
    const first = await ctx().put(key, log, { agent: "ci", session: "run-1", metadata: { job: 42 } });
    const second = await ctx().put(key, `${log}\nINFO shutting down`, { agent: "ci" });
    assert.equal(second.version, 2);

    const errors = await ctx().get(key, { query: "ERROR" });
    assert.equal(errors.match(/ERROR request/g).length, 10, errors);
    const capped = await ctx().getView(key, { maxTokens: 100 });
    assert.ok(capped.tokens <= 100, `${capped.tokens}`);
    assert.equal(await ctx().get(key, { full: true, version: 1 }), log);

    const old = await ctx().getView(key, { version: 1 });
    assert.equal(old.version, 1);
    assert.equal(old.ref, first.ref);
    assert.equal(old.agent, "ci");
    assert.equal(old.session, "run-1");
    assert.deepEqual(old.metadata, { job: 42 });
    assert.equal(old.view, "compressed");
    assert.ok(old.markers.length >= 1 && old.markers.every((m) => m.ref === first.ref && m.summary), old.markers);
    assert.ok(old.tokens < old.tokens_original);
    assert.ok(!Number.isNaN(Date.parse(old.created_at)));
  });

  test("binary content goes byte for byte, and text reads of it say so", async () => {
    const key = `${uniquePrefix()}pixel`;
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe]);
    const entry = await ctx().put(key, png);
    assert.equal(entry.original, png);
    assert.deepEqual(await ctx().getBytes(key), png);
    assert.deepEqual(await ctx().retrieveBytes(entry.ref), png);
    // The view of binary content is a marker naming it; the original is bytes, not text.
    assert.match(await ctx().get(key), /^\[cairn: binary image\/png, 11 bytes — ccr:[0-9a-f]{24}\]$/);
    await assert.rejects(ctx().get(key, { full: true }), BinaryContent);
    await assert.rejects(ctx().retrieve(entry.ref), BinaryContent);

    const buffer = new TextEncoder().encode("from an ArrayBuffer").buffer;
    const fromBuffer = await ctx().put(`${key}-buffer`, buffer);
    assert.equal(await ctx().get(`${key}-buffer`, { full: true }), "from an ArrayBuffer");
    assert.equal(fromBuffer.bytes, 19);
  });

  test("agent and session names in any script reach the server", async () => {
    const key = `${uniquePrefix()}names`;
    await ctx().put(key, "bonjour", { agent: "rédacteur-日本", session: "séance 1" });
    const view = await ctx().getView(key);
    assert.equal(view.agent, "rédacteur-日本");
    assert.equal(view.session, "séance 1");
    await assert.rejects(ctx().put(key, "x", { agent: "a\nb" }), CairnError);
  });

  test("getEntry is Headroom's entry, read back from the server", async () => {
    const key = `${uniquePrefix()}entry`;
    const output = rows(300);
    await ctx().put(key, output, { agent: "researcher" });
    const entry = await ctx().getEntry(key);
    assert.equal(entry.key, key);
    assert.equal(entry.original, output);
    assert.equal(entry.compressed, await ctx().get(key));
    assert.equal(entry.agent, "researcher");
    assert.ok(entry.originalTokens > entry.compressedTokens);
    assert.ok(entry.savingsPercent > 50);
    assert.deepEqual(entry.transforms, []);
    assert.ok(Math.abs(entry.timestamp - Date.now() / 1000) < 60);
    assert.equal(await ctx().getEntry(`${key}-missing`), null);

    await ctx().put(`${key}-small`, "short");
    const small = await ctx().getEntry(`${key}-small`);
    assert.equal(small.original, "short");
    assert.equal(small.compressed, "short");
  });

  test("keys, entries, delete and clear", async () => {
    const prefix = uniquePrefix();
    for (const step of ["plan", "draft", "review"]) {
      await ctx().put(`${prefix}${step}`, `the ${step}`, { agent: step === "plan" ? "planner" : "writer" });
    }
    assert.deepEqual(await ctx().keys(prefix), [`${prefix}draft`, `${prefix}plan`, `${prefix}review`]);
    // Following pages of two.
    assert.deepEqual(await ctx().keys(prefix, { pageSize: 2 }), await ctx().keys(prefix));
    const byWriter = await ctx().entries(prefix, { agent: "writer" });
    assert.deepEqual(
      byWriter.map((e) => [e.key, e.version, e.agent]),
      [
        [`${prefix}draft`, 1, "writer"],
        [`${prefix}review`, 1, "writer"],
      ],
    );
    assert.equal((await ctx().delete(`${prefix}plan`)).versions, 1);
    await assert.rejects(ctx().delete(`${prefix}plan`), NotFound);
    assert.equal(await ctx().clear(prefix), 2);
    assert.deepEqual(await ctx().keys(prefix), []);
  });

  test("a TTL expires a put; the client's ttl applies to puts that name none", async () => {
    const prefix = uniquePrefix();
    const short = await ctx({ ttl: 1 }).put(`${prefix}short`, "soon gone");
    assert.ok(short.expires_at, JSON.stringify(short));
    const kept = await ctx({ ttl: 1 }).put(`${prefix}kept`, "stays", { ttl: 3600 });
    assert.ok(Date.parse(kept.expires_at) - Date.now() > 3500_000, kept.expires_at);
    assert.equal((await ctx().put(`${prefix}forever`, "kept")).expires_at ?? null, null);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal(await ctx().get(`${prefix}short`), null);
    await assert.rejects(ctx().getView(`${prefix}short`), Expired);
    assert.equal(await ctx().get(`${prefix}kept`), "stays");
    assert.throws(() => new SharedContext({ ttl: 1.5 }), TypeError);
    assert.throws(() => new SharedContext({ ttl: 0 }), TypeError);
  });
});

describe("references", () => {
  test("retrieve: the original, lines, a query", async () => {
    const key = `${uniquePrefix()}syslog`;
    const log = Array.from({ length: 1000 }, (_, i) => `line ${i + 1}: ${i + 1 === 700 ? "ERROR disk full" : "ok"}`).join(
      "\n",
    );
    const entry = await ctx().put(key, log);
    assert.equal(await ctx().retrieve(entry.ref), log);

    const lines = await ctx().retrieve(entry.ref, { lines: [699, 701] });
    assert.equal(lines.content, "line 699: ok\nline 700: ERROR disk full\nline 701: ok\n");
    assert.equal(lines.selection, "lines 699-701");
    assert.equal((await ctx().retrieve(entry.ref, { lines: "699-701" })).content, lines.content);
    assert.equal((await ctx().retrieve(entry.ref, { lines: 700 })).content, "line 700: ERROR disk full\n");

    const matching = await ctx().retrieve(entry.ref, { query: "ERROR" });
    assert.deepEqual(
      matching.matches.map((m) => [m.position, m.text]),
      [[700, "line 700: ERROR disk full"]],
    );
    // A marker's range comes back by reference.
    const view = await ctx().getView(key);
    assert.ok(view.markers.length > 0);
    await assert.rejects(ctx().retrieve("ccr:not-hex"), InvalidRef);
    await assert.rejects(ctx().retrieve(`ccr:${"0".repeat(24)}`), NotFound);
  });
});

describe("search, sessions and briefings", () => {
  const sessionFile = join(REPO, "fixtures", "sessions", "claude", "session-9eda1058.jsonl");

  test("importSession, sessions, session, briefing, search", async () => {
    const report = await ctx().importSession(readFileSync(sessionFile), { path: sessionFile });
    assert.equal(report.agent, "claude");
    assert.ok(report.sessions >= 1 && report.messages > 10, JSON.stringify(report));
    assert.deepEqual(report.errors, []);
    const repeat = await ctx().importSession(readFileSync(sessionFile, "utf8"), { path: sessionFile });
    assert.equal(repeat.messages, 0, "a second import adds nothing");

    const list = await ctx().sessions({ agent: "claude", limit: 10 });
    const summary = list.sessions.find((s) => s.id.startsWith("9eda1058"));
    assert.ok(summary, JSON.stringify(list.sessions.map((s) => s.id)));
    assert.equal(summary.project, "/Users/user/repo");
    await assert.rejects(ctx().sessions({ limit: 0 }), InvalidRequest);

    const first = await ctx().session(summary.id, { limit: 5 });
    assert.equal(first.messages.length, 5);
    assert.ok(first.next_from !== undefined && first.next_from !== null);
    const next = await ctx().session(summary.id, { from: first.next_from, limit: 5 });
    assert.ok(next.messages[0].position > first.messages[4].position);
    await assert.rejects(ctx().session("no-such-session"), NotFound);

    const briefing = await ctx().briefing({ project: "/Users/user/repo", agent: "gemini", maxTokens: 300 });
    assert.equal(briefing.project, "/Users/user/repo");
    assert.ok(briefing.tokens <= 300 && briefing.text.length > 0, JSON.stringify(briefing));
    assert.ok(briefing.sessions.some((s) => s.id === summary.id));
    const own = await ctx().briefing({ project: "/Users/user/repo", agent: "claude" });
    assert.ok(!own.sessions.some((s) => s.id === summary.id), "an agent's own sessions are left out");

    const found = await eventually(async () => {
      const results = await ctx().search("tools response file", { kind: "message", agent: "claude", limit: 5 });
      return results.hits.length > 0 ? results : undefined;
    }, "the imported session is searchable");
    const hit = found.hits[0];
    assert.equal(hit.kind, "message");
    assert.equal(hit.session, summary.id);
    assert.match(hit.snippet, /\*\*/);
  });

  test("search finds contexts, grouped by content", async () => {
    const prefix = uniquePrefix();
    await ctx().put(`${prefix}a`, "getUserById timed out against the replica", { agent: "oncall" });
    await ctx().put(`${prefix}b`, "getUserById timed out against the replica", { agent: "oncall" });
    const results = await eventually(async () => {
      const r = await ctx().search("user replica", { kind: "context", agent: "oncall" });
      const hit = r.hits.find((h) => h.key?.startsWith(prefix));
      return hit?.keys?.length === 2 ? r : undefined;
    }, "both keys indexed");
    const hit = results.hits.find((h) => h.key.startsWith(prefix));
    assert.deepEqual([...hit.keys].sort(), [`${prefix}a`, `${prefix}b`]);
    assert.match(hit.snippet, /\*\*getUserById\*\*|\*\*User\*\*|\*\*replica\*\*/);
    await assert.rejects(ctx().search("x", { since: "yesterday" }), InvalidRequest);
  });
});

describe("stats and compression", () => {
  test("stats has the server's counts and Headroom's names", async () => {
    await ctx().put(`${uniquePrefix()}s`, rows(200));
    const stats = await ctx().stats();
    assert.ok(stats.contexts >= 1 && stats.versions >= stats.contexts);
    assert.equal(stats.entries, stats.contexts);
    assert.equal(stats.totalOriginalTokens, stats.tokens_original);
    assert.equal(stats.totalCompressedTokens, stats.tokens_compressed);
    assert.equal(stats.totalTokensSaved, stats.tokens_saved);
    assert.ok(stats.savingsPercent > 0 && stats.savingsPercent < 100);
    assert.ok(stats.dedup_ratio >= 1);
  });

  test("compress a conversation and a text; the originals resolve", async () => {
    const toolResult = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, ok: i % 97 !== 5 })));
    const result = await ctx().compress([
      { role: "user", content: "Which checks failed?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "checks", arguments: "{}" } }],
      },
      { role: "tool", tool_call_id: "call_1", content: toolResult },
    ]);
    assert.ok(result.tokens_after * 3 < result.tokens_before, JSON.stringify(result).slice(0, 500));
    assert.ok(result.markers.length >= 1);
    assert.equal(await ctx().retrieve(result.markers[0].ref), toolResult);

    const text = await ctx().compressText(toolResult, { query: '"ok":false' });
    assert.equal(text.kind, "json_rows");
    assert.ok(text.content.includes('"ok":false') || text.content.includes("false"), text.content);
    assert.ok(text.tokens_after < text.tokens_before);
    const capped = await ctx().compressText(toolResult, { maxTokens: 100, kind: "json" });
    assert.equal(capped.kind, "json");
    assert.ok(capped.tokens_after <= 100, `${capped.tokens_after}`);
    await assert.rejects(ctx().compress("not a list"), TypeError);
  });

  test("activity counts today's puts by agent and kind", async () => {
    await ctx().put(`${uniquePrefix()}act`, rows(50), { agent: "activity-agent" });
    const activity = await ctx().activity({ days: 7 });
    const today = new Date().toISOString().slice(0, 10);
    const mine = activity.contexts.filter((r) => r.agent === "activity-agent");
    assert.deepEqual(mine.map((r) => [r.day, r.content_type, r.versions]), [[today, "application/json", 1]]);
    assert.ok(mine[0].tokens_saved > 0);
    assert.ok(activity.sessions_total >= 1, "the imported session counts");
    await assert.rejects(ctx().activity({ days: 0 }), InvalidRequest);
  });

  test("entries filter by kind and time", async () => {
    const prefix = uniquePrefix();
    await ctx().put(`${prefix}json`, "[1, 2]");
    await ctx().put(`${prefix}text`, "plain words");
    const json = await ctx().entries(prefix, { contentType: "application/json" });
    assert.deepEqual(json.map((e) => e.key), [`${prefix}json`]);
    assert.equal((await ctx().keys(prefix, { since: new Date(Date.now() + 60_000).toISOString() })).length, 0);
    assert.equal((await ctx().keys(prefix, { since: new Date(Date.now() - 60_000).toISOString() })).length, 2);
  });

  test("health", async () => {
    assert.equal((await ctx().health()).status, "ok");
  });
});

describe("checks before sending", () => {
  test("keys the server would refuse are refused here", async () => {
    for (const key of ["", ".", "..", "a\u0000b", "x".repeat(513), "tab\there"]) {
      await assert.rejects(ctx().put(key, "x"), InvalidKey, JSON.stringify(key));
      await assert.rejects(ctx().get(key), InvalidKey);
    }
    // Anything else is one path segment, whatever it holds.
    for (const key of ["a/b/c", "50%", "q?x=1#f", "sp ace", "é", "(x)*!'"]) {
      const prefixed = `${uniquePrefix()}${key}`;
      await ctx().put(prefixed, key);
      assert.equal(await ctx().get(prefixed, { full: true }), key);
      assert.ok((await ctx().keys(prefixed)).includes(prefixed));
    }
    const error = await ctx()
      .put("..", "x")
      .catch((e) => e);
    assert.equal(error.code, "invalid_key");
    assert.equal(error.status, undefined);
  });

  test("bad settings are refused", () => {
    assert.throws(() => new SharedContext({ url: "ftp://x" }), CairnError);
    assert.throws(() => new SharedContext({ url: "not a url" }), CairnError);
    assert.throws(() => new SharedContext({ timeout: 0 }), TypeError);
    assert.throws(() => new SharedContext({ retries: -1 }), TypeError);
  });

  test("the URL comes from options, Headroom's baseUrl, $CAIRN_URL, then the default", () => {
    const saved = process.env.CAIRN_URL;
    try {
      delete process.env.CAIRN_URL;
      assert.equal(new SharedContext().url, "http://127.0.0.1:8787");
      process.env.CAIRN_URL = "http://example.test:1/";
      assert.equal(new SharedContext().url, "http://example.test:1");
      assert.equal(new SharedContext({ baseUrl: "http://b:2" }).url, "http://b:2");
      assert.equal(new SharedContext({ url: "http://a:3", baseUrl: "http://b:2" }).url, "http://a:3");
    } finally {
      if (saved === undefined) delete process.env.CAIRN_URL;
      else process.env.CAIRN_URL = saved;
    }
  });
});
