"""A script written for Headroom's SharedContext, unchanged but for its import.

The tests run this text as it is under Headroom, and again with the first
import changed to ``from cairn import SharedContext``, and compare what the
two print. ``write`` puts a tool output and reads it back; ``read``, run as a
second process, reads what ``write`` left (Headroom keeps nothing between
processes; Cairn does).
"""

import json
import sys

from headroom import SharedContext

ROWS = [
    {
        "id": i,
        "service": f"svc-{i % 7}",
        "status": "retry" if i % 50 == 7 else "ok",
        "latency_ms": 20 + (i * 37) % 180,
    }
    for i in range(400)
]
OUTPUT = json.dumps(ROWS, indent=2)

ctx = SharedContext()

if sys.argv[1:] == ["write"]:
    entry = ctx.put("research/latency", OUTPUT, agent="researcher")
    print("put returned an entry for", entry.key, "by", entry.agent)
    print("entry keeps the original:", entry.original == OUTPUT)
    print("entry counts tokens:", entry.original_tokens > entry.compressed_tokens > 0)
    print("entry savings over 50%:", entry.savings_percent > 50)

    summary = ctx.get("research/latency")
    print("get returns", type(summary).__name__, "shorter than the original:", len(summary) < len(OUTPUT))

    full = ctx.get("research/latency", full=True)
    print("get full returns", type(full).__name__, "identical to what was put:", full == OUTPUT)

    print("get of a missing key returns", ctx.get("research/missing"))
    print("get full of a missing key returns", ctx.get("research/missing", full=True))
elif sys.argv[1:] == ["read"]:
    full = ctx.get("research/latency", full=True)
    if full is None:
        print("a second process finds nothing")
    else:
        print("a second process finds what the first put:", full == OUTPUT)
else:
    sys.exit("usage: headroom_script.py write|read")
