"""The OpenAI Python SDK through Cairn's proxy: only the base URL changes.

An agent loop sends the model a 3,000-line log as a tool result. Cairn forwards the request to
OpenAI (or whatever `proxy.openai_upstream` names) with the log compressed, keeps the original
in the store, and returns the provider's answer with two headers that say what was saved; then
the view's marker is resolved back to the original, byte for byte, through the SDK.

    python examples/python/proxy_openai.py [URL]     # default: $CAIRN_URL, else http://127.0.0.1:8787

The key is the caller's own ($OPENAI_API_KEY), passed on to the upstream only.
"""

from __future__ import annotations

import json
import os
import sys

from openai import OpenAI

from cairn import SharedContext


def tool_log() -> str:
    lines = [
        f"2026-11-21T10:{i // 60 % 60:02}:{i % 60:02}Z INFO GET /api/items 200 in {12 + i % 7} ms"
        for i in range(3000)
    ]
    lines[2417] = "2026-11-21T10:40:17Z ERROR GET /api/items 503: upstream connection pool exhausted"
    return "\n".join(lines) + "\n"


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CAIRN_URL", "http://127.0.0.1:8787")
    client = OpenAI(base_url=f"{url}/v1", api_key=os.environ.get("OPENAI_API_KEY", "sk-your-key"))
    log = tool_log()
    messages = [
        {"role": "user", "content": "Why did a request fail?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "read_log", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": log},
    ]
    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=messages)  # type: ignore[arg-type]
    completion = raw.parse()
    original = int(raw.headers["x-cairn-tokens-original"])
    sent = int(raw.headers["x-cairn-tokens-sent"])
    print(f"the model answered: {completion.choices[0].message.content}")
    saved = 100 * (original - sent) // original
    print(f"tokens: {original} in the request, {sent} sent upstream ({saved}% saved)")

    # The log is in the shared store: the same reference a put of the same bytes gets.
    ctx = SharedContext(url=url)
    reference = ctx.put("examples/proxy/log", log).ref
    print(f"the original is one call away: {json.dumps(ctx.retrieve(reference) == log)}")


if __name__ == "__main__":
    main()
