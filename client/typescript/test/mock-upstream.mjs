// A stand-in for OpenAI, which the tests cannot reach: OpenAI Chat
// Completions on loopback (not streaming), recording every request. Without
// tools it answers ANSWER. With the tools of examples/ai-sdk-tools.ts it
// plays a model that uses them: it reads the build log with a query, stores
// the error line it finds as the diagnosis, then answers with it.
import { createServer } from "node:http";

export const ANSWER = "mock answer";

function completion(model, message, finish) {
  return {
    id: "chatcmpl-mock",
    object: "chat.completion",
    created: 0,
    model,
    choices: [{ index: 0, message: { role: "assistant", content: null, ...message }, finish_reason: finish }],
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
  };
}

function call(id, name, args) {
  return { tool_calls: [{ id, type: "function", function: { name, arguments: JSON.stringify(args) } }] };
}

function answer(request) {
  const model = request.model ?? "mock-model";
  const tools = (request.tools ?? []).map((t) => t.function?.name);
  if (!tools.includes("read_context")) return completion(model, { content: ANSWER }, "stop");
  const results = request.messages.filter((m) => m.role === "tool").map((m) => String(m.content));
  if (results.length === 0) {
    return completion(model, call("call_1", "read_context", { key: "builds/1234/log", query: "error" }), "tool_calls");
  }
  if (results.length === 1) {
    // The tool's answer is the view (as text, or as a JSON string); find its error line.
    let view = results[0];
    try {
      const parsed = JSON.parse(view);
      if (typeof parsed === "string") view = parsed;
    } catch {
      // text as it is
    }
    const line = view.split("\n").find((l) => l.includes("error[")) ?? "no error line in the view";
    return completion(model, call("call_2", "store_finding", { key: "triage/1234", content: line }), "tool_calls");
  }
  return completion(model, { content: "Build 1234 failed on a type mismatch in src/billing/invoice.rs:88." }, "stop");
}

/** Starts the stand-in on a free loopback port: `{ url, received, stop() }`. */
export async function startUpstream() {
  const received = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (c) => chunks.push(c));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push({ path: request.url, headers: request.headers, body });
      let payload;
      let status = 200;
      if (request.url.startsWith("/v1/chat/completions")) {
        payload = answer(JSON.parse(body || "{}"));
      } else {
        status = 404;
        payload = { error: { message: `no route ${request.url}` } };
      }
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(payload));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, received, stop: () => new Promise((r) => server.close(r)) };
}

/** The environment that points `cairn serve`'s proxy at the stand-in. */
export function upstreamEnv(upstream) {
  return { CAIRN_OPENAI_UPSTREAM: upstream.url };
}
