// Cairn's dashboard: plain JavaScript over the server's own REST API and
// GraphQL subscription, no build step. Everything the store holds is
// untrusted text: it is put in the page as text nodes, never as HTML.

const TOKEN_KEY = "cairn.token";
const THEME_KEY = "cairn.theme";
const PAGE_SIZE = 50;
const DAYS = 30;

const main = document.getElementById("main");
let token = sessionStorage.getItem(TOKEN_KEY) || "";
/**
 * The page being rendered: what it must stop when another replaces it (its
 * WebSocket, its timers). A page takes it before its first await.
 */
let scope = { cleanups: [] };

// ---------------------------------------------------------------------------
// The DOM, safely.

/** An element with attributes (`on*` functions become listeners) and children. */
function h(tag, attributes = {}, ...children) {
  const svg = ["svg", "g", "rect", "line", "text", "title"].includes(tag);
  const element = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const number = new Intl.NumberFormat();
const fmt = (n) => number.format(n ?? 0);
const percent = (part, whole) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "—");

function when(text) {
  if (!text) return "—";
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? text : at.toLocaleString();
}

function hashLink(page, params = {}, ...path) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const text = query.toString();
  return `#/${[page, ...path.map(encodeURIComponent)].join("/")}${text ? `?${text}` : ""}`;
}

/** `**match**` in a snippet as <mark>, everything as text. */
function highlighted(snippet) {
  return snippet.split("**").map((part, i) => (i % 2 === 1 ? h("mark", {}, part) : part));
}

// ---------------------------------------------------------------------------
// The API, with the token asked for when the server wants one.

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let asking = null;

/** Shows the token dialog (once for every caller waiting) and resolves with what is entered. */
function askToken(reason) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  document.getElementById("token-error").textContent = reason;
  asking = new Promise((resolve) => {
    const submit = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      form.removeEventListener("submit", submit);
      asking = null;
      dialog.close();
      input.value = "";
      token = value;
      sessionStorage.setItem(TOKEN_KEY, value);
      resolve(value);
    };
    form.addEventListener("submit", submit);
  });
  dialog.showModal();
  input.focus();
  return asking;
}

async function api(path, params = {}, { raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  for (;;) {
    const headers = { accept: raw ? "text/plain" : "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(url, { headers });
    if (response.status === 401) {
      const refused = Boolean(token);
      token = "";
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken(refused ? "The server refused that token. Enter another." : "");
      continue;
    }
    const text = await response.text();
    if (!response.ok) {
      let code;
      let message = text.slice(0, 300);
      try {
        ({ code, message } = JSON.parse(text).error);
      } catch {
        // not Cairn's error body: the text says what it can
      }
      throw new ApiError(response.status, code, message);
    }
    return raw ? text : JSON.parse(text);
  }
}

// ---------------------------------------------------------------------------
// The live feed: GraphQL's contextPut subscription over graphql-transport-ws.

function subscribePuts(onPut) {
  const url = new URL("/graphql", location.origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let socket;
  let closed = false;
  let retry = 500;
  let timer;
  const open = () => {
    if (closed) return;
    socket = new WebSocket(url, "graphql-transport-ws");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: token ? { Authorization: `Bearer ${token}` } : {} }));
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        retry = 500;
        socket.send(
          JSON.stringify({
            id: "puts",
            type: "subscribe",
            payload: {
              query:
                "subscription { contextPut { key version ref agent tokensOriginal tokensCompressed contentType createdAt } }",
            },
          }),
        );
      } else if (message.type === "next" && message.payload?.data?.contextPut) {
        onPut(message.payload.data.contextPut);
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    });
    socket.addEventListener("close", (event) => {
      // 4403: the token was refused; the page's next call asks for another.
      if (closed || event.code === 4403) return;
      timer = setTimeout(open, retry);
      retry = Math.min(retry * 2, 10_000);
    });
  };
  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    socket?.close();
  };
}

// ---------------------------------------------------------------------------
// Charts: stacked bars per day, one series per name, as SVG.

function seriesClass(names, name) {
  return `series-${names.indexOf(name) % 6}`;
}

function barChart({ title, days, rows, value, series, unit }) {
  const names = [...new Set(rows.map(series))].sort();
  const totals = days.map((day) => rows.filter((r) => r.day === day).reduce((sum, r) => sum + value(r), 0));
  const max = Math.max(1, ...totals);
  const width = 720;
  const height = 200;
  const left = 56;
  const bottom = 22;
  const step = (width - left) / days.length;
  const y = (v) => height - bottom - (v / max) * (height - bottom - 8);
  const bars = [];
  days.forEach((day, i) => {
    let base = 0;
    for (const name of names) {
      const v = rows.filter((r) => r.day === day && series(r) === name).reduce((sum, r) => sum + value(r), 0);
      if (v === 0) continue;
      bars.push(
        h(
          "rect",
          {
            class: seriesClass(names, name),
            x: (left + i * step + 1).toFixed(1),
            y: y(base + v).toFixed(1),
            width: Math.max(step - 2, 1).toFixed(1),
            height: (y(base) - y(base + v)).toFixed(1),
          },
          h("title", {}, `${day} · ${name}: ${fmt(v)} ${unit}`),
        ),
      );
      base += v;
    }
  });
  const ticks = [...new Set([0, Math.round(max / 2), max])].map((v) =>
    h("g", {}, h("line", { class: "grid", x1: left, x2: width, y1: y(v), y2: y(v) }), h("text", { class: "axis", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(Math.round(v)))),
  );
  const labels = [0, Math.floor(days.length / 2), days.length - 1].map((i) =>
    h("text", { class: "axis", x: left + i * step + step / 2, y: height - 6, "text-anchor": "middle" }, days[i].slice(5)),
  );
  return h(
    "figure",
    { class: "chart panel" },
    h("figcaption", {}, h("strong", {}, title)),
    h("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${fmt(totals.reduce((a, b) => a + b, 0))} ${unit} over ${days.length} days` }, ticks, bars, labels),
    names.length
      ? h("ul", { class: "legend" }, names.map((name) => h("li", {}, h("span", { class: `swatch ${seriesClass(names, name)}`, "aria-hidden": "true" }), name)))
      : h("p", { class: "muted" }, `Nothing in the last ${days.length} days.`),
  );
}

function lastDays(since, count) {
  const first = new Date(`${since}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => new Date(first.getTime() + i * 86_400_000).toISOString().slice(0, 10));
}

function table(caption, columns, rows) {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : undefined }, c.label)))),
    h(
      "tbody",
      {},
      rows.length
        ? rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : c.className }, c.cell(row)))))
        : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "Nothing yet.")),
    ),
  );
}

function groupSum(rows, key, fields) {
  const groups = new Map();
  for (const row of rows) {
    const name = key(row);
    const group = groups.get(name) ?? Object.fromEntries([["name", name], ...fields.map((f) => [f, 0])]);
    for (const field of fields) group[field] += row[field];
    groups.set(name, group);
  }
  return [...groups.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

// ---------------------------------------------------------------------------
// Pages. Each returns the nodes of <main>; `ready` marks it rendered.

async function overview() {
  const page = scope;
  const [stats, activity] = await Promise.all([api("/v1/stats"), api("/v1/activity", { days: DAYS })]);
  const days = lastDays(activity.since, DAYS);
  const agentOf = (r) => r.agent ?? "(no agent)";
  const proxySaved = activity.proxy.reduce((sum, p) => sum + p.tokens_saved, 0);

  const card = (label, value, id) => h("div", { class: "card" }, h("div", { class: "value", id }, value), h("div", { class: "label" }, label));
  const cards = h(
    "section",
    { class: "cards", "aria-label": "Totals" },
    card("contexts", fmt(stats.contexts), "stat-contexts"),
    card("versions", fmt(stats.versions), "stat-versions"),
    card(`tokens saved (${percent(stats.tokens_saved, stats.tokens_original)})`, fmt(stats.tokens_saved), "stat-saved"),
    card("sessions (Claude Code, Codex, Gemini CLI)", fmt(activity.sessions_total), "stat-sessions"),
    card("messages in them", fmt(activity.messages_total), "stat-messages"),
    card("saved by the proxy", fmt(proxySaved), "stat-proxy"),
  );

  const feed = h("ul", { class: "live", id: "live-puts", "aria-live": "polite" });
  const empty = h("p", { class: "muted", id: "live-empty" }, "Waiting for the next put…");
  let refresh;
  page.cleanups.push(() => clearTimeout(refresh));
  page.cleanups.push(
    subscribePuts((put) => {
      empty.remove();
      const saved = put.tokensOriginal - put.tokensCompressed;
      feed.prepend(
        h(
          "li",
          { class: "fresh" },
          h("a", { href: hashLink("context", {}, put.key) }, put.key),
          ` v${put.version} · ${put.agent ?? "no agent"} · ${fmt(put.tokensOriginal)} → ${fmt(put.tokensCompressed)} tokens (${fmt(saved)} saved) · ${when(put.createdAt)}`,
        ),
      );
      clearTimeout(refresh);
      refresh = setTimeout(async () => {
        const fresh = await api("/v1/stats").catch(() => null);
        if (!fresh) return;
        document.getElementById("stat-contexts")?.replaceChildren(fmt(fresh.contexts));
        document.getElementById("stat-versions")?.replaceChildren(fmt(fresh.versions));
        document.getElementById("stat-saved")?.replaceChildren(fmt(fresh.tokens_saved));
      }, 300);
    }),
  );

  const byAgent = groupSum(activity.contexts, agentOf, ["versions", "tokens_original", "tokens_saved"]);
  const byKind = groupSum(activity.contexts, (r) => r.content_type, ["versions", "tokens_original", "tokens_saved"]);
  const sums = [
    { label: "versions", num: true, cell: (r) => fmt(r.versions) },
    { label: "tokens", num: true, cell: (r) => fmt(r.tokens_original) },
    { label: "saved", num: true, cell: (r) => `${fmt(r.tokens_saved)} (${percent(r.tokens_saved, r.tokens_original)})` },
  ];
  return [
    h("h1", {}, "Overview"),
    cards,
    h(
      "div",
      { class: "grid2" },
      barChart({ title: `Tokens saved per day (UTC), by agent, last ${DAYS} days`, days, rows: activity.contexts, value: (r) => r.tokens_saved, series: agentOf, unit: "tokens" }),
      barChart({ title: `Sessions per day (UTC), by agent, last ${DAYS} days`, days, rows: activity.sessions, value: (r) => r.sessions, series: (r) => r.agent, unit: "sessions" }),
    ),
    h(
      "div",
      { class: "grid2" },
      h("section", { class: "panel" }, table(`Puts by agent, last ${DAYS} days`, [{ label: "agent", cell: (r) => r.name }, ...sums], byAgent)),
      h("section", { class: "panel" }, table(`Puts by kind, last ${DAYS} days`, [{ label: "content type", cell: (r) => r.name }, ...sums], byKind)),
    ),
    h(
      "div",
      { class: "grid2" },
      h(
        "section",
        { class: "panel" },
        table(
          "The proxy, by provider (since the server started)",
          [
            { label: "provider", cell: (r) => r.provider },
            { label: "requests", num: true, cell: (r) => fmt(r.requests) },
            { label: "tokens in", num: true, cell: (r) => fmt(r.tokens_original) },
            { label: "sent", num: true, cell: (r) => fmt(r.tokens_sent) },
            { label: "saved", num: true, cell: (r) => `${fmt(r.tokens_saved)} (${percent(r.tokens_saved, r.tokens_original)})` },
          ],
          activity.proxy,
        ),
      ),
      h("section", { class: "panel", "aria-labelledby": "live-title" }, h("h2", { id: "live-title" }, "Live puts"), empty, feed),
    ),
  ];
}

const SINCE = { "": "any time", "1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" };
const SINCE_MS = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 };
const KINDS = ["", "application/json", "text/plain", "text/x-log", "text/markdown", "text/html", "text/csv", "image/png", "application/octet-stream"];

function field(label, control) {
  return h("div", {}, h("label", { for: control.id }, label), control);
}

function filterForm(page, fields) {
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const data = Object.fromEntries(new FormData(form).entries());
        location.hash = hashLink(page, data);
      },
    },
    fields,
    h("div", {}, h("button", { type: "submit" }, "Apply")),
  );
  return form;
}

function select(id, name, options, value) {
  return h(
    "select",
    { id, name },
    Object.entries(options).map(([v, label]) => h("option", { value: v, selected: v === (value ?? "") }, label)),
  );
}

async function contexts(params) {
  const since = SINCE_MS[params.since] ? new Date(Date.now() - SINCE_MS[params.since]).toISOString() : undefined;
  const page = await api("/v1/contexts", {
    prefix: params.prefix,
    agent: params.agent,
    content_type: params.kind,
    since,
    limit: PAGE_SIZE,
    cursor: params.cursor,
  });
  // The cursors of the pages before this one; "-" is the first page's (none).
  const trail = params.trail ? params.trail.split(",") : [];
  const cursorOf = (entry) => (entry === "-" ? undefined : entry);
  const form = filterForm("contexts", [
    field("Key prefix", h("input", { id: "f-prefix", name: "prefix", value: params.prefix ?? "", placeholder: "research/" })),
    field("Agent", h("input", { id: "f-agent", name: "agent", value: params.agent ?? "" })),
    field("Kind", select("f-kind", "kind", Object.fromEntries(KINDS.map((k) => [k, k || "any kind"])), params.kind)),
    field("Written", select("f-since", "since", SINCE, params.since)),
  ]);
  const base = { prefix: params.prefix, agent: params.agent, kind: params.kind, since: params.since };
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages of contexts" },
    h(
      "a",
      {
        class: trail.length ? undefined : "muted",
        "aria-disabled": trail.length ? undefined : "true",
        href: trail.length ? hashLink("contexts", { ...base, cursor: cursorOf(trail.at(-1)), trail: trail.slice(0, -1).join(",") }) : undefined,
      },
      "← Previous",
    ),
    h("span", { class: "muted" }, `page ${trail.length + 1}`),
    page.next_cursor
      ? h("a", { href: hashLink("contexts", { ...base, cursor: page.next_cursor, trail: [...trail, params.cursor ?? "-"].join(",") }), rel: "next" }, "Next →")
      : h("span", { class: "muted" }, "last page"),
  );
  return [
    h("h1", {}, "Contexts"),
    form,
    h(
      "section",
      { class: "panel" },
      table(
        "Live keys, latest versions, in key order",
        [
          { label: "key", className: "key", cell: (r) => h("a", { href: hashLink("context", {}, r.key) }, r.key) },
          { label: "agent", cell: (r) => r.agent ?? "—" },
          { label: "version", num: true, cell: (r) => r.version },
          { label: "kind", cell: (r) => r.content_type },
          { label: "tokens", num: true, cell: (r) => `${fmt(r.tokens_original)} → ${fmt(r.tokens_compressed)}` },
          { label: "written", cell: (r) => when(r.created_at) },
        ],
        page.items,
      ),
      pager,
    ),
  ];
}

/** The range a marker names: `(rows 9-499)`, `(lines 3-7)`, `(items 2-5)`. */
function markerRange(summary) {
  const found = summary.match(/\((?:rows|lines|items|line|row|item) ([\d,]+)(?:-([\d,]+))?\)/);
  const plain = (n) => n.replaceAll(",", "");
  return found ? `${plain(found[1])}-${plain(found[2] ?? found[1])}` : undefined;
}

const MARKER_LINE = /^\[cairn: (.*) — (ccr:[0-9a-f]{24})\]$/;

/** A view's text, each marker a button that puts the original's lines it stands for in its place. */
function viewWithMarkers(text) {
  const nodes = [];
  let plain = [];
  const flush = () => {
    if (plain.length) nodes.push(h("pre", { class: "text" }, plain.join("\n")));
    plain = [];
  };
  for (const line of text.split("\n")) {
    const marker = line.match(MARKER_LINE);
    if (!marker) {
      plain.push(line);
      continue;
    }
    flush();
    const [, summary, ref] = marker;
    const range = markerRange(summary);
    const button = h(
      "button",
      {
        type: "button",
        class: "marker",
        "data-ref": ref,
        onclick: async () => {
          button.disabled = true;
          try {
            const part = await api(`/v1/ccr/${encodeURIComponent(ref)}`, range ? { lines: range } : {});
            const expanded = h(
              "div",
              { class: "expanded", tabindex: "-1" },
              h("div", { class: "note" }, `${part.selection ?? "the whole original"} of ${ref}`),
              h("pre", { class: "text" }, part.content),
            );
            button.replaceWith(expanded);
            expanded.focus();
          } catch (error) {
            button.disabled = false;
            button.after(h("p", { class: "error", role: "alert" }, String(error.message)));
          }
        },
      },
      h("span", { class: "sr-only" }, "Expand "),
      line,
    );
    nodes.push(button);
  }
  flush();
  return nodes;
}

async function context(params, key) {
  const version = params.version ? Number(params.version) : undefined;
  const path = `/v1/contexts/${encodeURIComponent(key)}`;
  // An older version's page still offers every version: the key's list entry names the latest.
  const [view, full, listed] = await Promise.all([
    api(path, { view: "compressed", version }),
    api(path, { view: "full", version }),
    version ? api("/v1/contexts", { prefix: key, limit: 1 }).catch(() => null) : null,
  ]);
  const latest = listed?.items[0]?.key === key ? listed.items[0].version : undefined;
  const newest = latest ?? view.version;
  const versions = h(
    "select",
    {
      id: "f-version",
      onchange: (event) => {
        location.hash = hashLink("context", { version: event.target.value }, key);
      },
    },
    Array.from({ length: newest }, (_, i) => newest - i).map((v) => h("option", { value: v, selected: v === view.version }, `version ${v}`)),
  );
  const copy = h(
    "button",
    {
      type: "button",
      class: "quiet",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(view.ref);
          copy.textContent = "Copied";
        } catch {
          copy.textContent = "Select the reference to copy it";
        }
      },
    },
    "Copy ref",
  );
  const binary = full.encoding === "base64";
  return [
    h("p", {}, h("a", { href: "#/contexts" }, "← Contexts")),
    h("h1", { class: "key" }, key),
    h(
      "section",
      { class: "panel" },
      h(
        "dl",
        { class: "meta" },
        h("dt", {}, "reference"), h("dd", {}, h("code", { id: "ref" }, view.ref), " ", copy),
        h("dt", {}, h("label", { for: "f-version" }, "version")), h("dd", {}, versions),
        h("dt", {}, "agent"), h("dd", {}, view.agent ?? "—"),
        h("dt", {}, "session"), h("dd", {}, view.session ?? "—"),
        h("dt", {}, "written"), h("dd", {}, when(view.created_at)),
        h("dt", {}, "expires"), h("dd", {}, view.expires_at ? when(view.expires_at) : "never (no TTL)"),
        h("dt", {}, "kind"), h("dd", {}, `${view.content_type}, ${fmt(view.bytes)} bytes`),
        h("dt", {}, "tokens"), h("dd", {}, `${fmt(view.tokens)} in the view of ${fmt(view.tokens_original)} (${percent(view.tokens_original - view.tokens, view.tokens_original)} saved)`),
        h("dt", {}, "metadata"), h("dd", {}, view.metadata ? h("pre", { class: "text" }, JSON.stringify(view.metadata, null, 2)) : "—"),
      ),
    ),
    h(
      "div",
      { class: "panes" },
      h(
        "section",
        { class: "pane", "aria-labelledby": "view-title" },
        h("h2", { id: "view-title" }, `Compressed view · ${fmt(view.tokens)} tokens · ${view.markers.length} markers`),
        h("div", { class: "body", id: "view", tabindex: "0", role: "region", "aria-label": "Compressed view" }, viewWithMarkers(view.content)),
      ),
      h(
        "section",
        { class: "pane", "aria-labelledby": "original-title" },
        h("h2", { id: "original-title" }, `Original · ${fmt(view.tokens_original)} tokens`),
        h("div", { class: "body", id: "original", tabindex: "0", role: "region", "aria-label": "Original" }, binary ? h("p", { class: "muted" }, `Binary content, ${fmt(full.bytes)} bytes.`) : h("pre", { class: "text" }, full.content)),
      ),
    ),
  ];
}

async function sessions(params) {
  const list = await api("/v1/sessions", { agent: params.agent, project: params.project, limit: PAGE_SIZE, cursor: params.cursor });
  const projects = [...new Set(list.sessions.map((s) => s.project ?? "(no project)"))];
  let briefing = null;
  if (params.project) briefing = await api("/v1/briefing", { project: params.project, max_tokens: 4000 }).catch(() => null);
  const details = new Map((briefing?.sessions ?? []).map((s) => [s.id, s]));
  const form = filterForm("sessions", [
    field("Project", h("input", { id: "f-project", name: "project", value: params.project ?? "", placeholder: "/home/me/repo" })),
    field("Agent", select("f-agent", "agent", { "": "every agent", claude: "Claude Code", codex: "Codex", gemini: "Gemini CLI" }, params.agent)),
  ]);
  const groups = projects.map((project) => {
    const rows = list.sessions.filter((s) => (s.project ?? "(no project)") === project);
    return h(
      "section",
      { class: "panel" },
      h("h2", {}, project === "(no project)" ? project : h("a", { href: hashLink("sessions", { project }) }, project)),
      h(
        "ol",
        { class: "timeline", reversed: true },
        rows.map((s) => {
          const detail = details.get(s.id);
          const failures = detail?.failures.length;
          return h(
            "li",
            {},
            h("span", { class: "muted" }, when(s.started_at ?? s.updated_at)),
            h("span", {}, h("span", { class: "badge" }, s.agent)),
            h(
              "span",
              {},
              h("a", { href: hashLink("session", {}, s.id) }, s.title || detail?.task?.text || s.id),
              h("span", { class: "muted" }, ` · ${fmt(s.messages)} messages · ${fmt(s.tool_calls)} tool calls${failures ? ` · ${failures} failed commands` : ""}`),
            ),
          );
        }),
      ),
    );
  });
  const next = list.next_cursor ? h("p", {}, h("a", { href: hashLink("sessions", { ...params, cursor: list.next_cursor }), rel: "next" }, "Older sessions →")) : null;
  return [
    h("h1", {}, "Sessions"),
    form,
    briefing
      ? h(
          "details",
          { class: "panel" },
          h("summary", {}, `The briefing a new agent gets for ${params.project} (${fmt(briefing.tokens)} tokens)`),
          h("pre", { class: "text" }, briefing.text),
        )
      : null,
    groups.length ? groups : h("p", { class: "muted" }, "No sessions. Import some: cairn import all."),
    next,
  ];
}

function messageItem(message) {
  const who = [message.role, message.tool ? `· ${message.tool}` : "", message.at ? `· ${when(message.at)}` : "", `· ${fmt(message.tokens)} tokens`].join(" ");
  const body = h("pre", {}, message.content);
  const folded = message.role === "tool" || (message.tool && message.role !== "user");
  let content = body;
  if (folded) {
    const more = message.ref
      ? h(
          "button",
          {
            type: "button",
            class: "quiet",
            onclick: async () => {
              more.disabled = true;
              try {
                body.textContent = await api(`/v1/ccr/${encodeURIComponent(message.ref)}`, {}, { raw: true });
                more.remove();
              } catch (error) {
                more.disabled = false;
                more.after(h("p", { class: "error", role: "alert" }, String(error.message)));
              }
            },
          },
          `Show the whole output (${fmt(message.tokens_original)} tokens)`,
        )
      : null;
    content = h("details", {}, h("summary", {}, message.role === "tool" ? `output of ${message.tool ?? "a tool"}` : `call ${message.tool}`), body, more);
  }
  return h("li", { id: `m-${message.position}` }, h("div", { class: "who" }, `#${message.position} ${who}`), content);
}

async function session(params, id) {
  const at = params.at !== undefined ? Number(params.at) : undefined;
  const from = at !== undefined ? Math.max(0, at - 10) : 0;
  const page = await api(`/v1/sessions/${encodeURIComponent(id)}`, { from, limit: 200 });
  const s = page.session;
  const list = h("ol", { class: "messages" }, page.messages.map(messageItem));
  const tools = [...new Set(page.messages.map((m) => m.tool).filter(Boolean))].sort();
  let next = page.next_from;
  const more = h(
    "button",
    {
      type: "button",
      class: "quiet",
      onclick: async () => {
        if (more.disabled) return;
        more.disabled = true;
        try {
          const later = await api(`/v1/sessions/${encodeURIComponent(id)}`, { from: next, limit: 200 });
          list.append(...later.messages.map(messageItem));
          next = later.next_from;
          if (next === undefined || next === null) more.remove();
        } catch (error) {
          more.after(h("p", { class: "error", role: "alert" }, String(error.message)));
        }
        more.disabled = false;
      },
    },
    "Load more messages",
  );
  const nodes = [
    h("p", {}, h("a", { href: s.project ? hashLink("sessions", { project: s.project }) : "#/sessions" }, "← Sessions")),
    h("h1", {}, s.title || s.id),
    h(
      "section",
      { class: "panel" },
      h(
        "dl",
        { class: "meta" },
        h("dt", {}, "agent"), h("dd", {}, s.agent),
        h("dt", {}, "project"), h("dd", {}, s.project ?? "—"),
        h("dt", {}, "started"), h("dd", {}, when(s.started_at)),
        h("dt", {}, "updated"), h("dd", {}, when(s.updated_at)),
        h("dt", {}, "messages"), h("dd", {}, `${fmt(s.messages)} (${fmt(s.tool_calls)} tool calls)`),
        h("dt", {}, "tools used"), h("dd", {}, tools.length ? tools.join(", ") : "none", page.next_from != null ? " (in the messages shown)" : ""),
        h("dt", {}, "id"), h("dd", {}, h("code", {}, s.id)),
      ),
    ),
    from > 0 ? h("p", {}, h("a", { href: hashLink("session", {}, id) }, `Start from the first message (showing from #${from})`)) : null,
    h("section", { class: "panel", "aria-label": "Conversation" }, list, next !== undefined && next !== null ? more : null),
  ];
  if (at !== undefined) {
    requestAnimationFrame(() => {
      const target = document.getElementById(`m-${at}`);
      if (!target) return;
      target.classList.add("target");
      target.querySelector("details")?.setAttribute("open", "");
      target.scrollIntoView({ block: "center" });
    });
  }
  return nodes;
}

async function search(params) {
  const form = filterForm("search", [
    field("Search sessions and contexts", h("input", { id: "f-q", name: "q", type: "search", value: params.q ?? "", required: true, size: 40 })),
    field("In", select("f-kind", "kind", { "": "everything", message: "session messages", context: "contexts" }, params.kind)),
    field("Agent", h("input", { id: "f-agent", name: "agent", value: params.agent ?? "" })),
  ]);
  if (!params.q) return [h("h1", {}, "Search"), form, h("p", { class: "muted" }, "Words, \"phrases\", identifiers in any shape, field:value, AND/OR/-word.")];
  const results = await api("/v1/search", { q: params.q, kind: params.kind, agent: params.agent, limit: 30 });
  const hits = results.hits.map((hit) => {
    const href = hit.kind === "context" ? hashLink("context", {}, hit.key) : hashLink("session", { at: hit.position }, hit.session);
    const title = hit.kind === "context" ? hit.key : `${hit.session} #${hit.position}`;
    return h(
      "li",
      {},
      h("a", { href, class: "hit" }, title),
      " ",
      h("span", { class: "badge" }, hit.kind),
      " ",
      h("span", { class: "muted" }, [hit.agent, hit.role, hit.tool, when(hit.at), `score ${hit.score.toFixed(2)}`].filter(Boolean).join(" · ")),
      hit.keys?.length > 1 ? h("div", { class: "muted" }, `also under ${hit.keys.slice(1).join(", ")}`) : null,
      h("p", { class: "snippet" }, highlighted(hit.snippet)),
    );
  });
  return [
    h("h1", {}, "Search"),
    form,
    h("p", { class: "muted", role: "status" }, `${results.hits.length} hits`),
    h("ol", { class: "hits" }, hits),
  ];
}

// ---------------------------------------------------------------------------
// Routing, theme, start.

const PAGES = { overview, contexts, context, sessions, session, search };
const NAV = { context: "contexts", session: "sessions" };

let rendered = 0;

async function render() {
  for (const cleanup of scope.cleanups.splice(0)) cleanup();
  const mine = { cleanups: [] };
  scope = mine;
  const id = ++rendered;
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name = "overview", ...rest] = path.split("/");
  const page = PAGES[name] ? name : "overview";
  const params = Object.fromEntries(new URLSearchParams(query));
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === (NAV[page] ?? page)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · Cairn`;
  main.removeAttribute("data-ready");
  main.setAttribute("aria-busy", "true");
  // Another render started meanwhile: this one's page is dropped, and what it started stopped.
  const stale = () => {
    if (id === rendered) return false;
    for (const cleanup of mine.cleanups.splice(0)) cleanup();
    return true;
  };
  try {
    const nodes = await PAGES[page](params, ...rest.map(decodeURIComponent));
    if (stale()) return;
    main.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
  } catch (error) {
    if (stale()) return;
    const message = error instanceof ApiError ? `${error.message} (${error.code ?? "HTTP " + error.status})` : String(error);
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, message));
  }
  main.setAttribute("aria-busy", "false");
  main.dataset.readyAt = String(Math.round(performance.now()));
  // Which render this is, across documents: what a test waits on to know the page changed.
  main.dataset.render = `${performance.timeOrigin}-${id}`;
  main.setAttribute("data-ready", page);
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  document.getElementById("theme").setAttribute("aria-pressed", String(theme === "dark"));
}

setTheme(localStorage.getItem(THEME_KEY) || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
document.getElementById("theme").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  setTheme(next);
});
window.addEventListener("hashchange", () => {
  render().then(() => main.focus({ preventScroll: true }));
});
// The skip link moves focus, not the route.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
// The token dialog stays until a token is given: Escape does not close it,
// and if the browser closes it anyway it comes back.
const tokenDialog = document.getElementById("token-dialog");
tokenDialog.addEventListener("cancel", (event) => event.preventDefault());
tokenDialog.addEventListener("close", () => {
  if (asking) tokenDialog.showModal();
});
render();
