// Cairn as the shared memory of a Vercel AI SDK agent: three tools that read
// and write the store, and the model reached through Cairn's proxy.
//
// A CI agent left a 2,000-line build log in Cairn. A triage agent, built with
// the AI SDK's `generateText`, reads it through a tool that returns the
// compressed view (the lines the question needs, every cut marked with a
// `ccr:` reference), and stores a one-line diagnosis for the next agent.
//
//     node ai-sdk-tools.js [URL]    # default: $CAIRN_URL, else http://127.0.0.1:8787
//
// The model is OpenAI's, through Cairn's LLM proxy at URL/v1 (only the base
// URL changes); the key is yours ($OPENAI_API_KEY), passed on upstream only.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, tool } from "ai";
import { SharedContext } from "cairn-sdk";
import { z } from "zod";

/** The tools an agent needs to share context through Cairn. */
export function cairnTools(ctx: SharedContext) {
  return {
    read_context: tool({
      description:
        "Read what an agent stored under a key, as a compressed view: every cut is marked with a ccr: " +
        "reference. Give `query` to keep everything that matches it.",
      inputSchema: z.object({ key: z.string(), query: z.string().optional() }),
      execute: async ({ key, query }) => (await ctx.get(key, { query })) ?? `nothing is stored under ${key}`,
    }),
    expand_reference: tool({
      description: "Expand a ccr: reference from a view: lines A-B of the original, or its lines matching `query`.",
      inputSchema: z.object({ ref: z.string(), lines: z.string().optional(), query: z.string().optional() }),
      execute: async ({ ref, lines, query }) => {
        if (query !== undefined) {
          const found = await ctx.retrieve(ref, { query });
          return (found.matches ?? []).map((m) => `${m.position}: ${m.text}`).join("\n");
        }
        return lines !== undefined ? (await ctx.retrieve(ref, { lines })).content : ctx.retrieve(ref);
      },
    }),
    store_finding: tool({
      description: "Store a finding under a key, for the other agents.",
      inputSchema: z.object({ key: z.string(), content: z.string() }),
      execute: async ({ key, content }) => {
        const entry = await ctx.put(key, content);
        return `stored ${key} as version ${entry.version} (${entry.ref})`;
      },
    }),
  };
}

function buildLog(): string {
  const lines = Array.from(
    { length: 2000 },
    (_, i) => `[${String(i).padStart(4, "0")}] compiling module_${i} ... ok (${10 + (i % 13)} ms)`,
  );
  lines[1733] = "[1733] error[E0308]: mismatched types in src/billing/invoice.rs:88: expected `u64`, found `i64`";
  return lines.join("\n");
}

async function main(): Promise<void> {
  const url = process.argv[2] ?? process.env.CAIRN_URL ?? "http://127.0.0.1:8787";
  await new SharedContext({ url, agent: "ci" }).put("builds/1234/log", buildLog());

  const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: process.env.OPENAI_API_KEY ?? "sk-your-key" });
  const triage = new SharedContext({ url, agent: "triage" });
  const result = await generateText({
    model: openai.chat("gpt-4.1"),
    tools: cairnTools(triage),
    stopWhen: stepCountIs(5),
    prompt:
      "Build 1234 failed. Read its log from Cairn (key builds/1234/log), find the error, " +
      "and store a one-line diagnosis under triage/1234.",
  });
  for (const step of result.steps) {
    for (const call of step.toolCalls) console.log(`the model called ${call.toolName} ${JSON.stringify(call.input)}`);
  }
  console.log(`answer: ${result.text}`);
  const diagnosis = await new SharedContext({ url, agent: "next-agent" }).getView("triage/1234");
  console.log(`the next agent reads triage/1234 (by ${diagnosis.agent}): ${diagnosis.content}`);
}

await main();
