"""The asyncio client, AsyncSharedContext: the same verbs, awaited."""

from __future__ import annotations

import asyncio
import json

import pytest

import cairn
from cairn import AsyncSharedContext


def test_async_verbs(server_url: str, prefix: str) -> None:
    output = json.dumps([{"id": i, "status": "retry" if i % 40 == 3 else "ok"} for i in range(300)])

    async def scenario() -> None:
        async with AsyncSharedContext(server_url, agent="async-agent") as ctx:
            receipt = await ctx.put(prefix + "rows", output)
            assert receipt.agent == "async-agent" and receipt.version == 1
            view = await ctx.get(prefix + "rows")
            assert view is not None and len(view) < len(output)
            assert await ctx.get(prefix + "rows", full=True) == output
            assert await ctx.get(prefix + "missing") is None
            with pytest.raises(cairn.NotFound):
                await ctx.get_view(prefix + "missing")
            assert await ctx.retrieve(receipt.ref) == output
            assert (await ctx.retrieve_lines(receipt.ref, 1, 2)).selection == "items 1-2"
            assert (await ctx.retrieve_matching(receipt.ref, "retry")).matches

            # Concurrent puts on one client.
            names = [f"{prefix}many/{i}" for i in range(20)]
            await asyncio.gather(*(ctx.put(name, name) for name in names))
            assert await ctx.keys(prefix + "many/") == sorted(names)
            assert len(await ctx.entries(prefix, page_size=3)) == 21

            stats = await ctx.stats()
            assert stats.entries == stats.contexts >= 21
            compressed = await ctx.compress(
                [
                    {"role": "user", "content": "which ids retry?"},
                    {"role": "tool", "tool_call_id": "t1", "content": output},
                ]
            )
            assert compressed.tokens_after < compressed.tokens_before
            text = await ctx.compress_text(output)
            assert text.ref is not None
            assert (await ctx.search("retry", kind="context")).total >= 0
            assert await ctx.get_bytes(prefix + "rows") == output.encode()
            assert (await ctx.delete(prefix + "rows")).versions == 1
            assert await ctx.clear(prefix + "many/") == 20
            assert await ctx.keys(prefix) == []

    asyncio.run(scenario())


def test_async_errors() -> None:
    async def scenario() -> None:
        ctx = AsyncSharedContext("http://127.0.0.1:9", retry=cairn.Retry(attempts=2, first_backoff=0.01))
        try:
            with pytest.raises(cairn.InvalidKey):
                await ctx.get("..")
            with pytest.raises(cairn.ConnectionFailed):
                await ctx.stats()
        finally:
            await ctx.close()

    asyncio.run(scenario())
