// The package in the other runtimes it promises: Deno (from npm, running the
// ESM build with the same tests' server) and a real browser (Debian's
// Chromium, driven by playwright-core through its executable path), a page
// on another origin that the server allows by `--cors-origin`.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { test } from "node:test";

import { chromium } from "playwright-core";

import { PACKAGE, cleanEnv, closedPort, runAsync, startServer, tempDir } from "./support.mjs";

/** What the page and the Deno script both do with the client; returns what they saw. */
const SCRIPT = `
const { SharedContext, NotFound } = sdk;
const ctx = new SharedContext({ url, agent: "navigateur-é" });
const text = Array.from({ length: 600 }, (_, i) => i === 321 ? "ERROR quota exceeded" : "INFO ok " + i).join("\\n");
const entry = await ctx.put("runtime/log", text, { metadata: { from: "runtime" } });
const view = await ctx.getView("runtime/log");
const bytes = await ctx.put("runtime/bytes", new Uint8Array([0, 255, 1]));
const missing = await ctx.getView("runtime/missing").catch((e) => e instanceof NotFound && e.code);
return {
  version: entry.version,
  agent: view.agent,
  metadata: view.metadata,
  full: (await ctx.get("runtime/log", { full: true })) === text,
  shorter: view.tokens < view.tokens_original,
  matches: (await ctx.retrieve(entry.ref, { query: "ERROR" })).matches.map((m) => m.position),
  bytes: Array.from(await ctx.getBytes("runtime/bytes")),
  bytesRef: bytes.ref.startsWith("ccr:"),
  missing,
};`;

const EXPECTED = {
  version: 1,
  agent: "navigateur-é",
  metadata: { from: "runtime" },
  full: true,
  shorter: true,
  matches: [322],
  bytes: [0, 255, 1],
  bytesRef: true,
  missing: "not_found",
};

test("Deno runs the ESM build", async () => {
  const server = await startServer();
  try {
    const dir = tempDir("cairn-deno-");
    const script = join(dir, "main.js");
    const sdk = join(PACKAGE, "dist", "esm", "index.js");
    writeFileSync(
      script,
      `import * as sdk from ${JSON.stringify(`file://${sdk}`)};
const url = Deno.args[0];
const seen = await (async () => {${SCRIPT}})();
console.log(JSON.stringify(seen));
`,
    );
    const deno = join(PACKAGE, "node_modules", ".bin", "deno");
    const out = await runAsync(deno, ["run", "--quiet", "--no-prompt", "--allow-net=127.0.0.1", script, server.url], {
      env: cleanEnv({ DENO_DIR: join(dir, "cache"), NO_COLOR: "1" }),
    });
    assert.deepEqual(JSON.parse(out), EXPECTED);
  } finally {
    await server.stop();
  }
});

/** Serves the ESM build and one page on loopback `port`, an origin of its own. */
async function site(port, url) {
  const dist = join(PACKAGE, "dist", "esm");
  const page = `<!doctype html><meta charset="utf-8"><title>cairn-sdk in a browser</title>
<script type="module">
import * as sdk from "/sdk/index.js";
const url = ${JSON.stringify(url)};
window.result = (async () => {${SCRIPT}})();
</script>`;
  const server = createServer((request, response) => {
    if (request.url === "/") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
      return;
    }
    const path = normalize(join(dist, (request.url ?? "").replace(/^\/sdk\//, "")));
    if (request.url?.startsWith("/sdk/") && path.startsWith(dist) && existsSync(path) && extname(path) === ".js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(path));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}

function chromiumPath() {
  for (const candidate of [process.env.CAIRN_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error("no Chromium: run ./scripts/install-browser.sh (as root), or set CAIRN_CHROMIUM");
}

test("a browser page on another origin, allowed by --cors-origin", async () => {
  const port = await closedPort();
  const server = await startServer({ args: ["--cors-origin", `http://127.0.0.1:${port}`] });
  const pageSite = await site(port, server.url);
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // The browser logs the 404 the page asks for on purpose, and its favicon's.
    const expected404 = (url) => url.endsWith("/favicon.ico") || url.endsWith("/v1/contexts/runtime%2Fmissing?view=compressed");
    page.on("console", (m) => m.type() === "error" && !expected404(m.location().url) && errors.push(`${m.text()} ${m.location().url}`));
    await page.goto(pageSite.origin);
    const seen = await page.evaluate(() => window.result);
    assert.deepEqual(seen, EXPECTED);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    pageSite.close();
    await server.stop();
  }
});
