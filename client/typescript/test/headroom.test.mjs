// A Headroom SharedContext script (test/headroom/script.ts) runs against
// Cairn with only its import changed: it type-checks under `tsc --strict`
// against both packages, prints the same, and what it put outlives the
// process and the server.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { PACKAGE, cleanEnv, run, startHeadroomProxy, startServer, tempDir } from "./support.mjs";

const HEADROOM_IMPORT = 'import { SharedContext } from "headroom-ai";\n';
const CAIRN_IMPORT = 'import { SharedContext } from "cairn-sdk";\n';

test("the import swap", async () => {
  const compiled = join(PACKAGE, "build", "test", "headroom", "script.js");
  if (!existsSync(compiled)) throw new Error(`no ${compiled}: run \`npm run build:examples\` first`);
  // The swapped copy, compiled beside the original under the same strict settings.
  const source = readFileSync(join(PACKAGE, "test", "headroom", "script.ts"), "utf8");
  assert.equal(source.split(HEADROOM_IMPORT).length, 2);
  const swappedSource = join(PACKAGE, "build", "swapped-src");
  mkdirSync(swappedSource, { recursive: true });
  writeFileSync(join(swappedSource, "script.ts"), source.replace(HEADROOM_IMPORT, CAIRN_IMPORT));
  run(process.execPath, [join(PACKAGE, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.swapped.json"], {
    cwd: PACKAGE,
  });
  const swapped = join(PACKAGE, "build", "swapped", "script.js");

  // Headroom, compressing through its own proxy (`headroom proxy`, as its docs set it up).
  const proxy = await startHeadroomProxy();
  const headroomEnv = cleanEnv({ HEADROOM_BASE_URL: proxy.url });
  let underHeadroom;
  try {
    underHeadroom = run(process.execPath, [compiled, "write"], { env: headroomEnv });
    assert.match(underHeadroom, /entry savings over 50%: true/, "Headroom compressed");
    assert.match(underHeadroom, /get full returns a string identical to what was put: true/);
    assert.match(underHeadroom, /get of a missing key returns null/);
    // Headroom keeps contexts in the process's memory.
    assert.equal(run(process.execPath, [compiled, "read"], { env: headroomEnv }), "a second process finds nothing\n");
    assert.equal(run(process.execPath, [compiled, "clear"], { env: headroomEnv }), "after clear: [] null\n");
  } finally {
    await proxy.stop();
  }

  const dataDir = join(tempDir(), "data");
  const server = await startServer({ dataDir });
  const cairnEnv = () => cleanEnv({ CAIRN_URL: server.url });
  try {
    const underCairn = run(process.execPath, [swapped, "write"], { env: cairnEnv() });
    assert.equal(underCairn, underHeadroom);
    // Cairn keeps it in the server: a second process reads it.
    assert.equal(
      run(process.execPath, [swapped, "read"], { env: cairnEnv() }),
      "a second process finds what the first put: true\n",
    );
  } finally {
    await server.stop();
  }
  // ... and it outlives the server too.
  const restarted = await startServer({ dataDir });
  try {
    const env = cleanEnv({ CAIRN_URL: restarted.url });
    assert.equal(run(process.execPath, [swapped, "read"], { env }), "a second process finds what the first put: true\n");
    assert.equal(run(process.execPath, [swapped, "clear"], { env }), "after clear: [] null\n");
  } finally {
    await restarted.stop();
  }
});
