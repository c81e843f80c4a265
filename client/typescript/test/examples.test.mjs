// The examples (examples/*.ts, compiled to build/examples by `npm run
// build:examples`) run against a real server and say what they should.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { ANSWER, startUpstream, upstreamEnv } from "./mock-upstream.mjs";
import { PACKAGE, cleanEnv, runAsync, startServer } from "./support.mjs";

let upstream;
let server;
before(async () => {
  upstream = await startUpstream();
  server = await startServer({ env: upstreamEnv(upstream) });
});
after(async () => {
  await server?.stop();
  await upstream?.stop();
});

// The stand-in for OpenAI answers from this process: run the examples without blocking it.
async function example(name) {
  const path = join(PACKAGE, "build", "examples", name);
  if (!existsSync(path)) throw new Error(`no ${path}: run \`npm run build:examples\` first`);
  return (await runAsync(process.execPath, [path, server.url], { env: cleanEnv(), timeout: 120_000 }))
    .trimEnd()
    .split("\n");
}

test("two agents share context", async () => {
  const out = await example("two-agents.js");
  assert.equal(out.length, 4, out.join("\n"));
  assert.match(out[0], /^agent A put 44699 bytes as version \d+: ccr:[0-9a-f]{24} \(\d+ tokens\)$/);
  const view = out[1].match(
    /^agent B got the compressed view: (\d+) tokens of (\d+) \(written by researcher\), (\d+) markers$/,
  );
  assert.ok(view, out[1]);
  assert.ok(Number(view[1]) * 10 < Number(view[2]) && Number(view[3]) >= 1, out[1]);
  assert.equal(out[2], "agent B asked for the rows that retry: 10 of them are in the view");
  assert.match(out[3], /^agent B retrieved ccr:[0-9a-f]{24} by reference: identical to what A put$/);
});

test("an AI SDK agent reads and writes Cairn through its tools, its model through the proxy", async () => {
  const before = upstream.received.length;
  const out = await example("ai-sdk-tools.js");
  assert.deepEqual(out, [
    'the model called read_context {"key":"builds/1234/log","query":"error"}',
    'the model called store_finding {"key":"triage/1234","content":"[1733] error[E0308]: mismatched types in src/billing/invoice.rs:88: expected `u64`, found `i64`"}',
    "answer: Build 1234 failed on a type mismatch in src/billing/invoice.rs:88.",
    "the next agent reads triage/1234 (by triage): [1733] error[E0308]: mismatched types in src/billing/invoice.rs:88: expected `u64`, found `i64`",
  ]);
  const requests = upstream.received.slice(before);
  assert.equal(requests.length, 3, "three model turns went upstream through the proxy");
  // The tool result the model saw is the compressed view, not the 2,000 lines.
  const toolResult = JSON.parse(requests[1].body).messages.find((m) => m.role === "tool").content;
  assert.ok(toolResult.length < 20_000 && toolResult.includes("ccr:"), toolResult.slice(0, 500));
});

test("the OpenAI SDK through Cairn's proxy", async () => {
  const before = upstream.received.length;
  const out = await example("openai-proxy.js");
  assert.equal(out[0], `the model answered: ${ANSWER}`, out.join("\n"));
  const saved = out[1].match(/^tokens: (\d+) in the request, (\d+) sent upstream \((\d+)% saved\)$/);
  assert.ok(saved && Number(saved[3]) >= 60, out[1]);
  assert.equal(out[2], "the original is one call away: true");
  const [request] = upstream.received.slice(before);
  assert.equal(request.path, "/v1/chat/completions");
  assert.match(request.headers.authorization, /^Bearer sk-/, "the caller's key, passed on");
  const tool = JSON.parse(request.body).messages[2].content;
  assert.ok(tool.includes("upstream connection pool exhausted") && tool.includes("ccr:"), tool.slice(0, 2000));
});
