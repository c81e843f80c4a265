// The Python SDK and this one share one store: what one puts, the other reads.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { SharedContext } from "cairn-sdk";

import { cleanEnv, run, sdkPython, startServer, uniquePrefix } from "./support.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** Runs Python `code` with the Python SDK against the server; returns its stdout. */
function python(code, ...args) {
  return run(sdkPython(), ["-c", code, ...args], { env: cleanEnv({ CAIRN_URL: server.url }) });
}

const TEXT = Array.from({ length: 800 }, (_, i) => `2026-12-04T10:00:${String(i % 60).padStart(2, "0")}Z INFO step ${i} ok — naïve café ✓`)
  .concat(["2026-12-04T10:13:20Z ERROR step 800 failed: disk quota exceeded"])
  .join("\n");

test("a put by TypeScript is read by Python", async () => {
  const key = `${uniquePrefix()}from-ts`;
  const ts = new SharedContext({ url: server.url, agent: "ts-agent" });
  const entry = await ts.put(key, TEXT, { metadata: { lang: "typescript" } });
  const out = python(
    `
import json, sys
from cairn import SharedContext
ctx = SharedContext()
key, ref = sys.argv[1], sys.argv[2]
view = ctx.get_view(key)
print(json.dumps({
    "full": ctx.get(key, full=True),
    "view": view.text,
    "agent": view.agent,
    "metadata": view.metadata,
    "version": view.version,
    "by_ref": ctx.retrieve(ref),
    "errors": [m.text for m in ctx.retrieve_matching(ref, "ERROR").matches],
}))
`,
    key,
    entry.ref,
  );
  const seen = JSON.parse(out);
  assert.equal(seen.full, TEXT);
  assert.equal(seen.by_ref, TEXT);
  assert.equal(seen.view, await ts.get(key), "both read the same view");
  assert.equal(seen.agent, "ts-agent");
  assert.deepEqual(seen.metadata, { lang: "typescript" });
  assert.equal(seen.version, entry.version);
  assert.deepEqual(seen.errors, ["2026-12-04T10:13:20Z ERROR step 800 failed: disk quota exceeded"]);
});

test("a put by Python is read by TypeScript", async () => {
  const key = `${uniquePrefix()}from-py`;
  const out = python(
    `
import json, sys
from cairn import SharedContext
ctx = SharedContext(agent="py-agent")
receipt = ctx.put(sys.argv[1], sys.argv[2], session="py-session")
binary = ctx.put(sys.argv[1] + "-bin", bytes(range(256)))
print(json.dumps({"ref": receipt.ref, "version": receipt.version, "hash": receipt.hash, "bin": binary.ref}))
`,
    key,
    TEXT,
  );
  const receipt = JSON.parse(out);
  const ts = new SharedContext({ url: server.url });
  assert.equal(await ts.get(key, { full: true }), TEXT);
  assert.equal(await ts.retrieve(receipt.ref), TEXT);
  const view = await ts.getView(key);
  assert.equal(view.agent, "py-agent");
  assert.equal(view.session, "py-session");
  assert.equal(view.hash, receipt.hash);
  assert.deepEqual(await ts.getBytes(`${key}-bin`), new Uint8Array(Array.from({ length: 256 }, (_, i) => i)));
  assert.deepEqual(await ts.retrieveBytes(receipt.bin), await ts.getBytes(`${key}-bin`));
  // The same bytes from TypeScript are the same original.
  const again = await ts.put(`${key}-again`, TEXT);
  assert.equal(again.ref, receipt.ref);
  assert.equal(again.deduplicated, true);
});
