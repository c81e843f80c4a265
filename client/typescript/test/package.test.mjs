// `npm pack` makes a package that installs into an empty project and works
// there: its example runs (ESM), `require` works (CommonJS), and a TypeScript
// consumer type-checks under --strict both ways.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { PACKAGE, cleanEnv, run, startServer, tempDir } from "./support.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

test("the packed package installs into an empty project and runs", () => {
  const project = tempDir("cairn-ts-consumer-");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const packed = JSON.parse(run(npm, ["pack", "--json", "--pack-destination", project], { cwd: PACKAGE }));
  const tarball = join(project, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const needed of ["dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js", "dist/cjs/package.json", "package.json"]) {
    assert.ok(files.includes(needed), `${needed} is in the package: ${files.join(", ")}`);
  }
  assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("node_modules/")), files.join(", "));

  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  run(npm, ["install", "--no-audit", "--no-fund", "--offline", tarball], { cwd: project, env: cleanEnv() });
  assert.deepEqual(readdirSync(join(project, "node_modules")).filter((n) => !n.startsWith(".")), ["cairn-sdk"],
    "no runtime dependencies");

  // The example, as a user would run it.
  copyFileSync(join(PACKAGE, "build", "examples", "two-agents.js"), join(project, "two-agents.js"));
  const out = run(process.execPath, ["two-agents.js", server.url], { cwd: project, env: cleanEnv() });
  assert.match(out, /^agent A put 44699 bytes/);
  assert.match(out, /agent B retrieved ccr:[0-9a-f]{24} by reference: identical to what A put\n$/);

  // CommonJS.
  writeFileSync(
    join(project, "cjs.cjs"),
    `const { SharedContext, NotFound } = require("cairn-sdk");
const ctx = new SharedContext({ url: process.argv[2] });
ctx.put("consumer/cjs", "from require").then(async (entry) => {
  console.log(entry.version >= 1, await ctx.get("consumer/cjs", { full: true }));
  console.log(await ctx.getView("consumer/missing").catch((e) => e instanceof NotFound));
});
`,
  );
  assert.equal(run(process.execPath, ["cjs.cjs", server.url], { cwd: project, env: cleanEnv() }), "true from require\ntrue\n");

  // TypeScript consumers, ESM and CommonJS, under --strict.
  writeFileSync(
    join(project, "esm.mts"),
    `import { SharedContext, NotFound, type PutEntry, type SearchHit } from "cairn-sdk";
const ctx = new SharedContext();
const entry: PutEntry = await ctx.put("k", "v", { agent: "a", ttl: 60 });
const view: string | null = await ctx.get("k", { full: true, maxTokens: 10 });
const hits: SearchHit[] = (await ctx.search("q", { kind: "context", limit: 5 })).hits;
const lines: string = (await ctx.retrieve(entry.ref, { lines: [1, 2] })).content;
const whole: string = await ctx.retrieve(entry.ref);
export { view, hits, lines, whole, NotFound };
`,
  );
  writeFileSync(
    join(project, "cjs.cts"),
    `import { SharedContext, type SharedContextStats } from "cairn-sdk";
export async function stats(): Promise<SharedContextStats> { return new SharedContext().stats(); }
`,
  );
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "nodenext", lib: ["es2022", "dom"], types: [] },
      files: ["esm.mts", "cjs.cts"],
    }),
  );
  run(process.execPath, [join(PACKAGE, "node_modules", "typescript", "bin", "tsc"), "-p", project], { cwd: project });
  assert.ok(existsSync(tarball));
});
