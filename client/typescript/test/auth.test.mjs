// A server with auth on: tokens, scopes and tenants.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Forbidden, SharedContext, Unauthorized } from "cairn-sdk";

import { SECRET, issueToken, startServer, uniquePrefix } from "./support.mjs";

let server;
before(async () => {
  server = await startServer({ env: { CAIRN_JWT_SECRET: SECRET } });
});
after(() => server?.stop());

test("no token, or a forged one, is Unauthorized", async () => {
  for (const token of [undefined, "not-a-token"]) {
    const error = await new SharedContext({ url: server.url, token }).stats().catch((e) => e);
    assert.ok(error instanceof Unauthorized, String(error));
    assert.equal(error.code, "unauthorized");
    assert.equal(error.status, 401);
  }
});

test("a token's scopes: a read token reads and cannot write", async () => {
  const key = `${uniquePrefix()}scoped`;
  const writer = new SharedContext({ url: server.url, token: issueToken({ sub: "writer", scopes: "read,write" }) });
  const reader = new SharedContext({ url: server.url, token: issueToken({ sub: "reader", scopes: "read" }) });
  const entry = await writer.put(key, "written", { agent: "claims-to-be-someone-else" });
  assert.equal(entry.version, 1);
  // The token's subject is the agent recorded.
  assert.equal((await reader.getView(key)).agent, "writer");
  assert.equal(await reader.get(key), "written");
  const error = await reader.put(key, "nope").catch((e) => e);
  assert.ok(error instanceof Forbidden, String(error));
  assert.equal(error.status, 403);
  assert.equal(await reader.get(key, { full: true }), "written");
});

test("tenant A never sees tenant B", async () => {
  const key = `${uniquePrefix()}secret-plan`;
  const a = new SharedContext({ url: server.url, token: issueToken({ sub: "a", tenant: "tenant-a" }) });
  const b = new SharedContext({ url: server.url, token: issueToken({ sub: "b", tenant: "tenant-b" }) });
  const entry = await a.put(key, "tenant A's plan: ship on Friday");
  assert.equal(await b.get(key), null);
  assert.deepEqual(await b.keys(key), []);
  assert.equal((await b.retrieve(entry.ref).catch((e) => e)).code, "not_found");
  assert.equal((await b.stats()).contexts, 0);
  // The same bytes in B are not reported as already known.
  assert.equal((await b.put(key, "tenant A's plan: ship on Friday")).deduplicated, false);
  assert.equal(await a.get(key, { full: true }), "tenant A's plan: ship on Friday");
});
