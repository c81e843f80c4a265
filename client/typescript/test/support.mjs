// What the tests share: real `cairn serve` processes on free loopback ports,
// tokens from `cairn token issue`, the Python SDK's interpreter, and key
// prefixes no other test uses.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(PACKAGE, "..", "..");
export const SECRET = "a-secret-of-at-least-32-bytes-for-the-typescript-tests";

/** The `cairn` binary: `$CAIRN_BIN`, else this checkout's debug build. */
export function cairnBin() {
  const path = process.env.CAIRN_BIN || join(REPO, "target", "debug", "cairn");
  if (!existsSync(path)) {
    throw new Error(`no cairn binary at ${path}: run ./scripts/test-typescript.sh, which builds it, or set CAIRN_BIN`);
  }
  return path;
}

/** A fresh temporary directory. */
export function tempDir(name = "cairn-ts-") {
  return mkdtempSync(join(tmpdir(), name));
}

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** A loopback port nothing listens on (it was free a moment ago). */
export const closedPort = freePort;

/** The environment without the caller's CAIRN_* settings, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("CAIRN_")));
  return { ...env, ...extra };
}

/**
 * Starts `cairn serve` on a free loopback port over `dataDir` (a new
 * temporary directory by default) and waits until `/healthz` answers.
 * Returns `{ url, dataDir, stop() }`.
 */
export async function startServer({ dataDir = join(tempDir(), "data"), args = [], env = {} } = {}) {
  let lastLog = "not started";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const logPath = `${dataDir}-${port}.log`;
    const log = openSync(logPath, "w");
    const child = spawn(cairnBin(), ["serve", "--bind", `127.0.0.1:${port}`, "--data-dir", dataDir, ...args], {
      env: cleanEnv(env),
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    const url = `http://127.0.0.1:${port}`;
    const stop = () =>
      new Promise((done) => {
        if (exited) return done();
        const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(force);
          done();
        });
        child.kill("SIGTERM");
      });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !exited) {
      try {
        const answer = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (answer.ok) return { url, dataDir, logPath, stop };
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    lastLog = readFileSync(logPath, "utf8").slice(-2000);
  }
  throw new Error(`cairn serve did not come up; its log ends:\n${lastLog}`);
}

/** A token from `cairn token issue`, signed with SECRET. */
export function issueToken({ sub = "ts", tenant = "t", scopes = "read,write" } = {}) {
  const done = spawnSync(cairnBin(), ["token", "issue", "--sub", sub, "--tenant", tenant, "--scopes", scopes], {
    env: cleanEnv({ CAIRN_JWT_SECRET: SECRET }),
    encoding: "utf8",
  });
  if (done.status !== 0) throw new Error(`cairn token issue failed: ${done.stderr}`);
  return done.stdout.trim();
}

/** A key prefix no other test uses. */
export function uniquePrefix() {
  return `ts-${randomBytes(6).toString("hex")}/`;
}

/**
 * The Python of the SDK's venv (`$SDK_PYTHON`, else .venv-sdk): what the
 * cross-language tests run the Python SDK with.
 */
export function sdkPython() {
  const path = process.env.SDK_PYTHON || join(REPO, ".venv-sdk", "bin", "python");
  if (!existsSync(path)) {
    throw new Error(`no Python SDK at ${path}: run ./scripts/install-python-sdk.sh .venv-sdk, or set SDK_PYTHON`);
  }
  return path;
}

/**
 * Starts Headroom's proxy (`headroom proxy`, from the venv
 * `scripts/install-peer.sh .venv-peer-proxy --proxy` makes; `$HEADROOM_PROXY_PYTHON`
 * names another) on a free loopback port, with a HOME of its own, and waits
 * until it answers. Returns `{ url, stop() }`.
 */
export async function startHeadroomProxy() {
  const python = process.env.HEADROOM_PROXY_PYTHON || join(REPO, ".venv-peer-proxy", "bin", "python");
  if (!existsSync(python)) {
    throw new Error(`no Headroom proxy at ${python}: run ./scripts/install-peer.sh .venv-peer-proxy --proxy`);
  }
  const port = await freePort();
  const home = tempDir("headroom-home-");
  const logPath = join(home, "proxy.log");
  const log = openSync(logPath, "w");
  const headroom = join(dirname(python), "headroom");
  const child = spawn(headroom, ["proxy", "--host", "127.0.0.1", "--port", String(port)], {
    env: cleanEnv({ HOME: home }),
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const stop = () =>
    new Promise((done) => {
      if (exited) return done();
      child.once("exit", () => done());
      child.kill("SIGKILL");
    });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !exited) {
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`headroom proxy did not come up; its log ends:\n${readFileSync(logPath, "utf8").slice(-2000)}`);
}

/**
 * Runs `command` to completion without blocking the event loop (for tests
 * whose servers live in this process); throws with its output when it fails.
 */
export function runAsync(command, args, options = {}) {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 300_000);
    child.once("error", fail);
    child.once("close", (status, signal) => {
      clearTimeout(timer);
      if (status === 0) done(stdout);
      else fail(new Error(`${command} ${args.join(" ")} exited ${status ?? signal}:\n${stdout}\n${stderr}`));
    });
  });
}

/** Runs `command` to completion; throws with its output when it fails. */
export function run(command, args, options = {}) {
  const done = spawnSync(command, args, { encoding: "utf8", timeout: 300_000, ...options });
  if (done.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${done.status ?? done.signal}:\n${done.stdout}\n${done.stderr}`,
    );
  }
  return done.stdout;
}
