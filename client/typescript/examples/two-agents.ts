// Two agents sharing context through Cairn (the TypeScript twin of
// examples/two_agents.rs and examples/python/two_agents.py).
//
// Agent A (a "researcher") runs a tool that returns 500 rows of JSON and puts
// the output into Cairn. Agent B (a "writer"), with a client of its own, reads
// the view meant for its context window, then the original, byte for byte, by
// the `ccr:` reference A's receipt carried.
//
//     node two-agents.js [URL]     # default: $CAIRN_URL, else http://127.0.0.1:8787
import { SharedContext } from "cairn-sdk";

/** What the tool of agent A returned: 500 rows of JSON. */
function toolOutput(): string {
  const rows = Array.from({ length: 500 }, (_, i) => ({
    id: i,
    service: `svc-${i % 7}`,
    status: i % 50 === 7 ? "retry" : "ok",
    latency_ms: 20 + ((i * 37) % 180),
  }));
  return JSON.stringify(rows, null, 2);
}

async function main(url: string | undefined): Promise<void> {
  const output = toolOutput();

  // Agent A stores its tool output.
  const researcher = new SharedContext({ url, agent: "researcher" });
  const entry = await researcher.put("research/latency-table", output);
  console.log(
    `agent A put ${entry.bytes} bytes as version ${entry.version}: ${entry.ref} (${entry.originalTokens} tokens)`,
  );

  // Agent B, with its own client, reads what A left.
  const writer = new SharedContext({ url, agent: "writer" });
  const view = await writer.getView("research/latency-table");
  console.log(
    `agent B got the ${view.view} view: ${view.tokens} tokens of ${view.tokens_original} ` +
      `(written by ${view.agent}), ${view.markers.length} markers`,
  );
  const retrying = (await writer.get("research/latency-table", { query: "retry" })) ?? "";
  console.log(`agent B asked for the rows that retry: ${retrying.split("retry").length - 1} of them are in the view`);
  const original = await writer.retrieve(entry.ref);
  if (original !== output) throw new Error("the original did not round-trip");
  console.log(`agent B retrieved ${entry.ref} by reference: identical to what A put`);
}

await main(process.argv[2]);
