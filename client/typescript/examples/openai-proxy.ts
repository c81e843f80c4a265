// The OpenAI Node SDK through Cairn's proxy: only the base URL changes.
//
// An agent loop sends the model a 3,000-line log as a tool result. Cairn
// forwards the request to OpenAI (or whatever `proxy.openai_upstream` names)
// with the log compressed, keeps the original in the store, and returns the
// provider's answer with two headers that say what was saved; then the
// original is read back, byte for byte, with the SDK.
//
//     node openai-proxy.js [URL]     # default: $CAIRN_URL, else http://127.0.0.1:8787
//
// The key is the caller's own ($OPENAI_API_KEY), passed on to the upstream only.
import { SharedContext } from "cairn-sdk";
import OpenAI from "openai";

function toolLog(): string {
  const lines = Array.from({ length: 3000 }, (_, i) => {
    const minute = String(Math.floor(i / 60) % 60).padStart(2, "0");
    const second = String(i % 60).padStart(2, "0");
    return `2026-11-21T10:${minute}:${second}Z INFO GET /api/items 200 in ${12 + (i % 7)} ms`;
  });
  lines[2417] = "2026-11-21T10:40:17Z ERROR GET /api/items 503: upstream connection pool exhausted";
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<void> {
  const url = process.argv[2] ?? process.env.CAIRN_URL ?? "http://127.0.0.1:8787";
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: process.env.OPENAI_API_KEY ?? "sk-your-key" });
  const log = toolLog();
  const { data: completion, response } = await client.chat.completions
    .create({
      model: "gpt-4.1",
      messages: [
        { role: "user", content: "Why did a request fail?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "read_log", arguments: "{}" } }],
        },
        { role: "tool", tool_call_id: "call_1", content: log },
      ],
    })
    .withResponse();
  const original = Number(response.headers.get("x-cairn-tokens-original"));
  const sent = Number(response.headers.get("x-cairn-tokens-sent"));
  console.log(`the model answered: ${completion.choices[0]?.message.content}`);
  console.log(`tokens: ${original} in the request, ${sent} sent upstream (${Math.floor((100 * (original - sent)) / original)}% saved)`);

  // The log is in the shared store: the same reference a put of the same bytes gets.
  const ctx = new SharedContext({ url });
  const { ref } = await ctx.put("examples/proxy/log", log);
  console.log(`the original is one call away: ${(await ctx.retrieve(ref)) === log}`);
}

await main();
