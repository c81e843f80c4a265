"""Two agents sharing context through Cairn (the Python twin of examples/two_agents.rs).

Agent A (a "researcher") runs a tool that returns 500 rows of JSON and puts the
output into Cairn. Agent B (a "writer"), with a client of its own, reads the
view meant for its context window, then the original, byte for byte, by the
``ccr:`` reference A's receipt carried.

    python examples/python/two_agents.py [URL]     # default: $CAIRN_URL, else http://127.0.0.1:8787
"""

from __future__ import annotations

import json
import sys

from cairn import SharedContext


def tool_output() -> str:
    """What the tool of agent A returned: 500 rows of JSON."""
    rows = [
        {
            "id": i,
            "service": f"svc-{i % 7}",
            "status": "retry" if i % 50 == 7 else "ok",
            "latency_ms": 20 + (i * 37) % 180,
        }
        for i in range(500)
    ]
    return json.dumps(rows, indent=2)


def main(url: str | None) -> None:
    output = tool_output()

    # Agent A stores its tool output.
    with SharedContext(url, agent="researcher") as researcher:
        receipt = researcher.put("research/latency-table", output)
        print(
            f"agent A put {receipt.bytes} bytes as version {receipt.version}: "
            f"{receipt.ref} ({receipt.tokens_original} tokens)"
        )

    # Agent B, with its own client, reads what A left.
    with SharedContext(url, agent="writer") as writer:
        view = writer.get_view("research/latency-table")
        print(
            f"agent B got the {view.view} view: {view.tokens} tokens of {view.tokens_original} "
            f"(written by {view.agent}), {len(view.markers)} markers"
        )
        retrying = writer.get("research/latency-table", query="retry")
        assert retrying is not None
        print(f"agent B asked for the rows that retry: {retrying.count('retry')} of them are in the view")
        original = writer.retrieve(receipt.ref)
        if original != output:
            sys.exit("the original did not round-trip")
        print(f"agent B retrieved {receipt.ref} by reference: identical to what A put")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
