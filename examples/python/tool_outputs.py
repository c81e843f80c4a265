"""An agent framework's tool loop with Cairn between the tools and the model.

Tool outputs are the bulk of an agent's context. Here every tool result is
stored in Cairn under the run's prefix, and the model sees the compressed
view instead, markers and ``ccr:`` references included. When the model wants
what a marker left out, it calls the ``expand`` tool, which asks Cairn for the
matching lines of the original. A history that already holds raw tool
results goes through ``compress(messages)`` before it is sent.

The "model" is scripted, so the example runs without an LLM or a key:

    python examples/python/tool_outputs.py [URL]    # default: $CAIRN_URL, else http://127.0.0.1:8787
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable
from typing import Any

from cairn import SharedContext

Message = dict[str, Any]


def search_logs(service: str) -> str:
    """A tool with a large output: 600 log lines, a few of them errors."""
    lines = []
    for i in range(600):
        level = "ERROR" if i % 97 == 13 else "INFO"
        detail = (
            "upstream timed out after 30s"
            if level == "ERROR"
            else f"handled request {i} in {(i * 37) % 180}ms"
        )
        lines.append(f"2026-11-21T09:{i // 60:02}:{i % 60:02}Z {level} {service} {detail}")
    return "\n".join(lines)


class ToolMemory:
    """Keeps a run's tool outputs in Cairn; hands the model their compressed views."""

    def __init__(self, ctx: SharedContext, run: str) -> None:
        self.ctx = ctx
        self.prefix = f"runs/{run}/"

    def record(self, call_id: str, tool: str, output: str) -> str:
        """Stores one tool output; returns what goes into the model's context."""
        receipt = self.ctx.put(f"{self.prefix}{call_id}-{tool}", output, agent=tool)
        view = self.ctx.get(receipt.key)
        assert view is not None
        print(
            f"tool {tool} returned {receipt.tokens_original} tokens; the model sees "
            f"{receipt.tokens_compressed} (stored as {receipt.key}, {receipt.ref})"
        )
        return view

    def expand(self, ref: str, query: str) -> str:
        """The ``expand`` tool: the lines of an original matching ``query``."""
        found = self.ctx.retrieve_matching(ref, query)
        matches = found.matches or []
        print(f"the model expanded {ref} for {query!r}: {len(matches)} matching lines")
        return "\n".join(f"{match.position}: {match.text}" for match in matches)


def scripted_model(messages: list[Message]) -> Message:
    """Stands in for an LLM: calls the log tool, expands the errors, answers."""
    last = messages[-1]
    if last["role"] == "user":
        return {
            "role": "assistant",
            "tool_calls": [{"id": "call_1", "name": "search_logs", "arguments": {"service": "billing"}}],
        }
    if last.get("name") == "search_logs":
        ref = re.search(r"ccr:[0-9a-f]{24}", last["content"])
        assert ref is not None, "the compressed view names its original"
        return {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_2", "name": "expand", "arguments": {"ref": ref.group(0), "query": "ERROR"}}
            ],
        }
    errors = last["content"].count("ERROR")
    return {
        "role": "assistant",
        "content": f"billing logged {errors} upstream timeouts; everything else was fine.",
    }


def run_agent(ctx: SharedContext, question: str) -> str:
    """The framework's loop: model, tools, model, ... until an answer."""
    memory = ToolMemory(ctx, uuid.uuid4().hex[:8])
    tools: dict[str, Callable[..., str]] = {"search_logs": search_logs, "expand": memory.expand}
    messages: list[Message] = [{"role": "user", "content": question}]
    while True:
        reply = scripted_model(messages)
        messages.append(reply)
        if "content" in reply:
            print(f"the run kept {len(ctx.keys(memory.prefix))} tool output(s) under {memory.prefix}")
            return str(reply["content"])
        for call in reply["tool_calls"]:
            output = tools[call["name"]](**call["arguments"])
            if call["name"] != "expand":  # an expansion is already the part the model asked for
                output = memory.record(call["id"], call["name"], output)
            messages.append(
                {"role": "tool", "name": call["name"], "tool_call_id": call["id"], "content": output}
            )


def compress_history(ctx: SharedContext) -> None:
    """A history that holds a raw tool result, compressed before it is sent."""
    messages: list[Message] = [
        {"role": "user", "content": "Which requests to billing failed?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "search_logs", "arguments": json.dumps({"service": "billing"})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": search_logs("billing")},
    ]
    result = ctx.compress(messages)
    assert result.messages is not None
    refs_resolve = all(ctx.retrieve(marker.ref) == search_logs("billing") for marker in result.markers)
    print(
        f"compress(messages): {result.tokens_before} tokens -> {result.tokens_after}; "
        f"{len(result.markers)} marker(s), originals retrievable: {refs_resolve}"
    )


def main(url: str | None) -> None:
    with SharedContext(url) as ctx:
        answer = run_agent(ctx, "Did billing have trouble this morning?")
        print(f"answer: {answer}")
        compress_history(ctx)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
