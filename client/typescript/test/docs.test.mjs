// Every TypeScript block of docs/sdk-typescript.md (and of both READMEs)
// compiles under `tsc --strict` and runs against a real server, in the
// page's order, and prints what the page says it prints.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { PACKAGE, REPO, cleanEnv, run, startServer } from "./support.mjs";

const PAGES = [join(REPO, "docs", "sdk-typescript.md"), join(REPO, "README.md"), join(PACKAGE, "README.md")];

// What a block's output must show, by a line of the block.
const EXPECT = {
  "console.log(summary);": /rows omitted: 482 status=ok, 9 status=retry/,
  'console.log(await ctx.get("no-such-key"));': /^null$/m,
  "console.log(String(ctx), ctx.url);": /^SharedContext\(http:\/\/127\.0\.0\.1:\d+\) http:\/\/127\.0\.0\.1:\d+$/m,
  "console.log(error instanceof Aborted);": /^true\ntrue Timeout$/m,
  'console.log(await ctx.keys("docs-run/"));': /\[ 'docs-run\/draft', 'docs-run\/plan', 'docs-run\/review' \][\s\S]*^1\n2$/m,
  "for (const match of": /^true\nline 699: ok\nline 700: ERROR disk full\nline 701: ok\n\n700 line 700: ERROR disk full$/m,
  "for (const hit of hits)": /^incidents\/0412 \d+\.\d\d .*\*\*/m,
  "console.log(report.agent, report.sessions, report.messages);": /^claude 1 \d+/m,
  "console.log((await ctx.health()).status);": /^true\njson_rows \d+ -> \d+ ccr:[0-9a-f]{24}\n[\s\S]*\nok$/m,
  "if (error instanceof NotFound)": /^not_found 404 no context under key `no\/such\/key`\ninvalid_key '\.\.' is reserved and cannot be a key\nunreachable: /m,
};

function blocks() {
  return PAGES.flatMap((page) => [...readFileSync(page, "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]));
}

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

test("every TypeScript block of docs/sdk-typescript.md and the READMEs runs", () => {
  const found = blocks();
  assert.ok(found.length >= 10, `${found.length} blocks`);
  const source = join(PACKAGE, "build", "docs-src");
  rmSync(source, { recursive: true, force: true });
  mkdirSync(source, { recursive: true });
  found.forEach((code, i) => writeFileSync(join(source, `block-${String(i).padStart(2, "0")}.ts`), code));
  run(process.execPath, [join(PACKAGE, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.docs.json"], {
    cwd: PACKAGE,
  });

  const unmatched = new Set(Object.keys(EXPECT));
  found.forEach((code, i) => {
    const script = join(PACKAGE, "build", "docs", `block-${String(i).padStart(2, "0")}.js`);
    const out = run(process.execPath, [script], { cwd: PACKAGE, env: cleanEnv({ CAIRN_URL: server.url }) });
    for (const [line, pattern] of Object.entries(EXPECT)) {
      if (!code.includes(line)) continue;
      unmatched.delete(line);
      assert.match(out, pattern, `block ${i} (${line}) printed:\n${out}`);
    }
  });
  assert.deepEqual([...unmatched], [], "every expectation names a block");
});
