// A script written for Headroom's TypeScript SharedContext, unchanged but for
// its import. The tests compile and run this text as it is under Headroom
// (npm headroom-ai), and again with the import changed to cairn-sdk, and
// compare what the two print. `write` puts a tool output and reads it back;
// `read`, run as a second process, reads what `write` left (Headroom keeps
// nothing between processes; Cairn does); `clear` clears.
//
// Every call is awaited: Headroom's reads are synchronous and Cairn's return
// Promises, and awaiting a plain value gives the value, so the same text
// runs on both.
import { SharedContext } from "headroom-ai";

const ROWS = Array.from({ length: 400 }, (_, i) => ({
  id: i,
  service: `svc-${i % 7}`,
  status: i % 50 === 7 ? "retry" : "ok",
  latency_ms: 20 + ((i * 37) % 180),
}));
const OUTPUT = JSON.stringify(ROWS, null, 2);

const ctx = new SharedContext({ model: "gpt-4o", ttl: 3600, maxEntries: 100 });

switch (process.argv[2]) {
  case "write": {
    const entry = await ctx.put("research/latency", OUTPUT, { agent: "researcher" });
    console.log("put returned an entry for", entry.key, "by", entry.agent);
    console.log("entry keeps the original:", entry.original === OUTPUT);
    console.log(
      "entry counts tokens:",
      typeof entry.originalTokens,
      typeof entry.compressedTokens,
      entry.originalTokens > entry.compressedTokens && entry.compressedTokens > 0,
    );
    console.log("entry savings over 50%:", entry.savingsPercent > 50 && entry.savingsPercent < 100);
    console.log("entry timestamp is in seconds:", Math.abs(entry.timestamp - Date.now() / 1000) < 60);
    const unnamed = await ctx.put("research/notes", "cold starts miss the cache");
    console.log("an entry without an agent says", unnamed.agent);

    const summary = await ctx.get("research/latency");
    console.log("get returns a", typeof summary, "shorter than the original:", (summary ?? "").length < OUTPUT.length);
    const full = await ctx.get("research/latency", { full: true });
    console.log("get full returns a", typeof full, "identical to what was put:", full === OUTPUT);
    console.log("get of a missing key returns", await ctx.get("research/missing"));
    console.log("get full of a missing key returns", await ctx.get("research/missing", { full: true }));

    const again = await ctx.getEntry("research/latency");
    console.log("getEntry gives the original:", again?.original === OUTPUT, "by", again?.agent);
    console.log("getEntry's compressed text is get's:", again?.compressed === summary);
    console.log("getEntry of a missing key returns", await ctx.getEntry("research/missing"));

    console.log("keys:", JSON.stringify(await ctx.keys()));
    const stats = await ctx.stats();
    console.log("stats count the entries:", stats.entries);
    console.log(
      "stats count tokens:",
      [stats.totalOriginalTokens, stats.totalCompressedTokens, stats.totalTokensSaved, stats.savingsPercent]
        .map((n) => typeof n)
        .join(" "),
    );
    break;
  }
  case "read": {
    const full = await ctx.get("research/latency", { full: true });
    console.log(full === null ? "a second process finds nothing" : `a second process finds what the first put: ${full === OUTPUT}`);
    break;
  }
  case "clear": {
    await ctx.clear();
    console.log("after clear:", JSON.stringify(await ctx.keys()), await ctx.get("research/latency"));
    break;
  }
  default:
    throw new Error("usage: script.js write|read|clear");
}
