// The dashboard at /ui in a real browser (Debian's Chromium, headless, driven
// by playwright-core through its executable path) against real servers with
// real sessions of the three agents imported. The screenshots of
// docs/dashboard.md are taken here.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { chromium } from "playwright-core";

import {
  REPO,
  SECRET,
  issueToken,
  runAsync,
  startServer,
  tempDir,
} from "../../client/typescript/test/support.mjs";

const SESSIONS = [
  ["claude", "fixtures/sessions/claude/session-9eda1058.jsonl", undefined],
  ["gemini", "fixtures/sessions/gemini/session-2025-12-01T21-45-5b959dae.json", "/Users/user/repo"],
  ["codex", "fixtures/sessions/codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl", undefined],
];
// docs/dashboard.md's screenshots, rewritten when CAIRN_SCREENSHOTS=1;
// otherwise taken all the same, into a directory of their own.
const SHOTS = process.env.CAIRN_SCREENSHOTS === "1" ? join(REPO, "docs", "dashboard") : tempDir("cairn-shots-");
const AXE = readFileSync(join(REPO, "tests", "dashboard", "node_modules", "axe-core", "axe.min.js"), "utf8");

/**
 * What axe-core (the accessibility engine browsers' audits use) finds on the
 * page against WCAG 2.1 A and AA, serious and critical only. It is evaluated
 * through the DevTools protocol, which the page's policy does not govern.
 */
async function accessibilityProblems(page) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

function chromiumPath() {
  for (const candidate of [process.env.CAIRN_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error("no Chromium: run ./scripts/install-browser.sh (as root), or set CAIRN_CHROMIUM");
}

async function call(url, path, { method = "GET", body, headers = {}, token } = {}) {
  const response = await fetch(`${url}${path}`, {
    method,
    body,
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const put = (url, key, content, agent, token) =>
  call(url, `/v1/contexts/${encodeURIComponent(key)}`, {
    method: "PUT",
    body: content,
    headers: { "content-type": "application/octet-stream", ...(agent ? { "x-cairn-agent": agent } : {}) },
    token,
  });

/** The store a developer running three agents has: their sessions, and contexts they shared. */
async function seed(url, token) {
  for (const [agent, file, project] of SESSIONS) {
    const query = new URLSearchParams({ agent, path: file, ...(project ? { project } : {}) });
    await call(url, `/v1/sessions/import?${query}`, { method: "POST", body: readFileSync(join(REPO, file)), token });
  }
  const rows = Array.from({ length: 500 }, (_, i) => ({ id: i, service: `svc-${i % 7}`, status: i % 50 === 7 ? "retry" : "ok" }));
  await put(url, "research/latency", JSON.stringify(rows, null, 2), "claude", token);
  const log = Array.from({ length: 2000 }, (_, i) => `2026-12-04T10:00:00Z INFO step ${i + 1} ok`);
  log[1233] = "2026-12-04T10:00:00Z ERROR step 1234: disk full";
  await put(url, "builds/42/log", log.join("\n"), "codex", token);
  await put(url, "notes/plan", "# Plan\n\nShip the dashboard, then the SDK.\n", "gemini", token);
}

/** A browser page that records what goes wrong in it. */
async function open(browser, theme = "light") {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, colorScheme: theme, locale: "en-US" });
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error}`));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") page.problems.push(`${message.type()}: ${message.text()}`);
  });
  return page;
}

/** Does `action` and waits until the page has rendered anew (not the render before it). */
async function rendered(page, action) {
  const before = await page.evaluate(() => document.querySelector("main")?.dataset.render ?? null).catch(() => null);
  await action();
  await page.waitForFunction((old) => {
    const main = document.querySelector("main[data-ready]");
    return main !== null && main.dataset.render !== old;
  }, before);
}

async function visit(page, url, hash) {
  await rendered(page, () => page.goto(`${url}/ui${hash}`));
}

describe("the dashboard, auth off", () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer();
    await seed(server.url);
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("every page loads without console errors, in both themes", async () => {
    const pages = [
      ["overview", "#/overview"],
      ["contexts", "#/contexts"],
      ["context", `#/context/${encodeURIComponent("builds/42/log")}`],
      ["sessions", `#/sessions?project=${encodeURIComponent("/Users/user/repo")}`],
      ["session", "#/session/9eda1058-9706-484a-b992-d03f9cfa2546"],
      ["search", "#/search?q=tools"],
    ];
    for (const theme of ["light", "dark"]) {
      const page = await open(browser, theme);
      for (const [name, hash] of pages) {
        await visit(page, server.url, hash);
        assert.equal(await page.getAttribute("main", "data-ready"), name);
        assert.equal(await page.locator("main .error").count(), 0, `${name}: ${await page.textContent("main")}`);
        assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
        assert.deepEqual(await accessibilityProblems(page), [], `${name} in the ${theme} theme`);
        if (theme === "light") await page.screenshot({ path: join(SHOTS, `${name}.png`) });
        else if (name === "overview" || name === "context") await page.screenshot({ path: join(SHOTS, `${name}-dark.png`) });
      }
      assert.deepEqual(page.problems, []);
      await page.close();
    }
  });

  test("the overview counts what is stored, by agent and by kind", async () => {
    const page = await open(browser);
    await visit(page, server.url, "#/overview");
    assert.equal(await page.textContent("#stat-contexts"), "3");
    assert.equal(await page.textContent("#stat-sessions"), "3");
    const tables = await page.locator("table").allTextContents();
    assert.ok(tables.some((t) => t.includes("Puts by agent") && t.includes("claude") && t.includes("codex") && t.includes("gemini")), tables.join("\n"));
    assert.ok(tables.some((t) => t.includes("Puts by kind") && t.includes("application/json")), tables.join("\n"));
    assert.equal(await page.locator("figure svg rect").count() > 0, true, "the chart has bars");
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test("a marker expands, in place, to the original's lines", async () => {
    const page = await open(browser);
    await visit(page, server.url, `#/context/${encodeURIComponent("builds/42/log")}`);
    const marker = page.locator("#view button.marker").first();
    const label = await marker.textContent();
    const range = label.match(/\(lines (\d+)-(\d+)\)/);
    assert.ok(range, label);
    await marker.focus();
    await page.keyboard.press("Enter");
    const expanded = page.locator("#view .expanded pre");
    await expanded.waitFor();
    const original = await page.textContent("#original pre");
    const lines = original.split("\n").slice(Number(range[1]) - 1, Number(range[2]));
    assert.equal((await expanded.textContent()).replace(/\n$/, ""), lines.join("\n"));
    assert.ok(lines.length > 100);
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test("a put by another client appears on the overview without a reload", async () => {
    const page = await open(browser);
    await visit(page, server.url, "#/overview");
    await page.evaluate(() => {
      window.sameDocument = true;
    });
    const before = Number((await page.textContent("#stat-contexts")).replaceAll(",", ""));
    // The subscription opens after the page renders: put until the feed shows one.
    let key;
    for (let i = 0; i < 40; i++) {
      key = `live/put-${i}`;
      await put(server.url, key, `a finding from another agent, number ${i}`, "other-agent");
      if ((await page.locator("#live-puts li", { hasText: key }).count()) > 0) break;
      await page.waitForTimeout(250);
    }
    await page.locator("#live-puts li", { hasText: key }).waitFor({ timeout: 5000 });
    assert.match(await page.textContent("#live-puts"), /other-agent/);
    await page.waitForFunction((n) => Number(document.getElementById("stat-contexts").textContent.replaceAll(",", "")) > n, before);
    assert.equal(await page.evaluate(() => window.sameDocument), true, "no reload");
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test("a search finds a session message and opens it", async () => {
    const page = await open(browser);
    await visit(page, server.url, "#/search");
    await page.fill("#f-q", "store response in file");
    await page.selectOption("#f-kind", "message");
    await page.click("form[role=search] button[type=submit]");
    await page.waitForSelector("main[data-ready=search] .hits li");
    const first = page.locator(".hits li").first();
    assert.match(await first.locator(".snippet mark").first().textContent(), /store|response|file/i);
    await first.locator("a.hit").click();
    await page.waitForSelector("main[data-ready=session]");
    const target = page.locator(".messages li.target");
    await target.waitFor();
    assert.match(await target.textContent(), /store|response|file/i);
    assert.match(page.url(), /#\/session\/9eda1058/);
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test("the contexts list filters on the server, by prefix, agent, kind and time", async () => {
    const page = await open(browser);
    await visit(page, server.url, "#/contexts");
    await page.fill("#f-agent", "codex");
    await rendered(page, () => page.click("form[role=search] button[type=submit]"));
    assert.match(page.url(), /agent=codex/);
    let keys = await page.locator("td.key a").allTextContents();
    assert.deepEqual(keys, ["builds/42/log"]);
    await visit(page, server.url, "#/contexts?kind=application%2Fjson");
    keys = await page.locator("td.key a").allTextContents();
    assert.deepEqual(keys, ["research/latency"]);
    assert.deepEqual(page.problems, []);
    await page.close();
  });
});

describe("the dashboard, auth on", () => {
  let server;
  let browser;
  const tokenA = () => issueToken({ sub: "alice", tenant: "tenant-a", scopes: "read,write" });
  before(async () => {
    server = await startServer({ env: { CAIRN_JWT_SECRET: SECRET } });
    await put(server.url, "plans/a", "tenant A's plan", "alice", tokenA());
    await put(server.url, "plans/b-secret", "tenant B's plan", "bob", issueToken({ sub: "bob", tenant: "tenant-b" }));
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("no token: asked; a wrong one: refused; a good one: kept for the tab, and its tenant alone", async () => {
    const page = await open(browser);
    await page.goto(`${server.url}/ui#/contexts`);
    const dialog = page.locator("#token-dialog[open]");
    await dialog.waitFor();
    assert.equal(await page.textContent("#token-error"), "");
    await page.screenshot({ path: join(SHOTS, "token.png") });

    await page.fill("#token-input", "not-a-token");
    await page.press("#token-input", "Enter");
    await page.waitForFunction(() => document.getElementById("token-error").textContent.includes("refused"));
    assert.ok(await dialog.isVisible());

    await page.fill("#token-input", tokenA());
    await page.press("#token-input", "Enter");
    await page.waitForSelector("main[data-ready=contexts]");
    assert.deepEqual(await page.locator("td.key a").allTextContents(), ["plans/a"]);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("cairn.token")?.length > 20), true);

    // Tenant B's key is not there for A, by any page.
    await visit(page, server.url, `#/context/${encodeURIComponent("plans/b-secret")}`);
    assert.match(await page.textContent("main .error"), /not_found/);
    await visit(page, server.url, "#/search?q=plan");
    assert.doesNotMatch(await page.textContent("main"), /tenant B/);
    await visit(page, server.url, "#/overview");
    assert.equal(await page.textContent("#stat-contexts"), "1");
    // A reload keeps the token (session storage): no dialog.
    await page.reload();
    await page.waitForSelector("main[data-ready=overview]");
    assert.equal(await page.locator("#token-dialog[open]").count(), 0);
    const unexpected = page.problems.filter((p) => !/401|404/.test(p));
    assert.deepEqual(unexpected, []);
    await page.close();
  });
});

describe("the dashboard over 100,000 contexts", () => {
  let server;
  let browser;
  before(async () => {
    // 100,000 keys, written straight into the database of a stopped server
    // (a put each would take minutes), then the server started over it.
    const dataDir = join(tempDir(), "data");
    const first = await startServer({ dataDir });
    await put(first.url, "seed/000000", JSON.stringify({ seeded: true, rows: Array.from({ length: 50 }, (_, i) => i) }), "seeder");
    await first.stop();
    await runAsync("python3", [
      "-c",
      `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT hash FROM contexts WHERE key = 'seed/000000'").fetchone()
now = int(time.time() * 1000)
db.execute("""WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO contexts (tenant, key, version, hash, agent, session, metadata, created_at, expires_at)
SELECT 'local', printf('seed/%06d', i), 1, ?, 'seeder', NULL, NULL, ? - i * 1000, NULL FROM n""", (row[0], now))
db.execute("INSERT INTO key_versions (tenant, key, last_version) SELECT tenant, key, 1 FROM contexts WHERE key <> 'seed/000000'")
db.commit()
print(db.execute("SELECT COUNT(*) FROM contexts").fetchone()[0])
`,
      join(dataDir, "cairn.db"),
    ]);
    server = await startServer({ dataDir });
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("first paint under a second, lists paginated on the server", async () => {
    const timings = {};
    for (const [name, hash] of [["overview", "#/overview"], ["contexts", "#/contexts"]]) {
      // Median of three cold loads (a fresh page each).
      const runs = [];
      for (let i = 0; i < 3; i++) {
        const page = await open(browser);
        await visit(page, server.url, hash);
        runs.push(await page.evaluate(() => Number(document.querySelector("main").dataset.readyAt)));
        if (name === "overview") assert.equal(await page.textContent("#stat-contexts"), "100,000");
        if (name === "contexts") assert.equal(await page.locator("td.key a").count(), 50);
        assert.deepEqual(page.problems, []);
        await page.close();
      }
      timings[name] = runs.sort((a, b) => a - b)[1];
    }
    console.log(`first paint with 100,000 contexts (ms, median of 3): ${JSON.stringify(timings)}`);
    // The time filter, on keys written a second apart, one an hour ago.
    const page = await open(browser);
    await visit(page, server.url, "#/contexts?prefix=seed%2F0035&since=1h");
    assert.equal(await page.locator("td.key a").count(), 50, "written within the hour");
    await visit(page, server.url, "#/contexts?prefix=seed%2F0036&since=1h");
    assert.equal(await page.locator("td.key a").count(), 0, "written over an hour ago");
    await visit(page, server.url, "#/contexts?prefix=seed%2F0036&since=24h");
    assert.equal(await page.locator("td.key a").count(), 50);
    // Page 2 knows it is page 2, and page 1 is one step back.
    await visit(page, server.url, "#/contexts?prefix=seed%2F");
    await rendered(page, () => page.click("a[rel=next]"));
    assert.match(page.url(), /cursor=/);
    assert.match(await page.textContent(".pager"), /page 2/);
    assert.equal(await page.locator("td.key a").first().textContent(), "seed/000050");
    await rendered(page, () => page.click(".pager a:first-child"));
    assert.doesNotMatch(page.url(), /cursor=/);
    assert.equal(await page.locator("td.key a").first().textContent(), "seed/000000");
    assert.deepEqual(page.problems, []);
    await page.close();
    // The 1 s bar is measured in BENCHMARKS.md on a quiet machine; here, on
    // whatever machine CI shares, a first paint past 2 s is a regression.
    for (const [name, ms] of Object.entries(timings)) assert.ok(ms < 2000, `${name}: ${ms} ms`);
  });
});
