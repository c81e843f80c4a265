"""Drives Cairn's MCP server with the official MCP Python SDK (`mcp` on PyPI).

tests/tests/mcp.rs runs this script with the venv that
scripts/install-mcp-client.sh makes. One run is one client session:

    client.py SCENARIO [--protocol VERSION] [--mode legacy|auto] [--name CLIENT] [--token T] [--ref REF]
              (--http URL | --stdio COMMAND [ARG...])

Scenarios:
    writer   initialize, tools/list, put the test log; prints {"ref", "version", ...}
    reader   get (compressed, full, query), retrieve (whole, lines, query, a
             marker's ref), search, stats and compress, in a new session
    errors   bad arguments and unknown refs come back as tool errors, and the
             session keeps working after each
    readonly with a read-only token: puts and compressions are `forbidden`,
             gets work
    nosearch search is off (another process holds the index): search says
             why, as `unavailable`, and the other tools work

It prints one JSON object on stdout and exits 0, or prints why on stderr and
exits 1. Every check is an assertion here; the Rust test checks the printed
facts once more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import warnings
from typing import Any

import mcp.client.session as client_session
from mcp import Client, MCPDeprecationWarning, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import Implementation

TOOLS = {
    "cairn_put",
    "cairn_get",
    "cairn_retrieve",
    "cairn_search",
    "cairn_briefing",
    "cairn_compress",
    "cairn_stats",
}
KEY = "build/log"
# A word that appears once, for the query, retrieve and search checks.
RARE_WORD = "zanzibarquux"


def test_log() -> str:
    """A build log of 400 lines: the same INFO line again and again, one
    ERROR line and one line with a rare word. The reader rebuilds it to
    compare with what the server returns."""
    lines = []
    for number in range(1, 401):
        if number == 200:
            lines.append("2026-11-21T10:00:00Z ERROR flux capacitor overheated: code=88")
        elif number == 300:
            lines.append(f"2026-11-21T10:00:00Z INFO note {RARE_WORD} seen in module")
        else:
            lines.append(f"2026-11-21T10:00:00Z INFO compiled unit {number} in 12ms")
    return "\n".join(lines) + "\n"


def fail(message: str) -> None:
    raise AssertionError(message)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool that must succeed; returns its structured content."""
    result = await client.call_tool(tool, arguments)
    check(not result.is_error, f"{tool} {arguments} failed: {text_of(result)}")
    check(isinstance(result.structured_content, dict), f"{tool} has structured content")
    check(text_of(result) != "", f"{tool} has text content")
    return result.structured_content


async def tool_error(client: Client, tool: str, arguments: Any, code: str) -> str:
    """Calls a tool that must fail with error `code`; returns the message."""
    result = await client.call_tool(tool, arguments)
    check(result.is_error, f"{tool} {arguments} should fail with {code}: {text_of(result)}")
    error = (result.structured_content or {}).get("error", {})
    check(error.get("code") == code, f"{tool} {arguments}: expected {code}, got {error}")
    check(code in text_of(result), f"the text names the code {code}: {text_of(result)}")
    return error.get("message", "")


async def writer(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    check(client.server_info is not None and client.server_info.name == "cairn", "server is cairn")
    check(bool(client.instructions) and "cairn_get" in client.instructions, "instructions")
    listed = await client.list_tools()
    names = {tool.name for tool in listed.tools}
    check(names == TOOLS, f"tools/list gives the seven tools, got {sorted(names)}")
    for tool in listed.tools:
        check(tool.input_schema.get("type") == "object", f"{tool.name} takes an object")
        check(len(tool.description or "") > 80, f"{tool.name} says when to use it")
        check(bool(tool.title), f"{tool.name} has a title")
    put_schema = next(tool.input_schema for tool in listed.tools if tool.name == "cairn_put")
    check(put_schema.get("required") == ["key", "content"], f"put requires key and content: {put_schema}")
    receipt = await ok(client, "cairn_put", {"key": KEY, "content": test_log()})
    check(receipt["key"] == KEY and receipt["version"] >= 1, f"receipt {receipt}")
    check(receipt["ref"].startswith("ccr:"), "a ccr ref")
    check(receipt["tokens_compressed"] < receipt["tokens_original"], "the view is smaller")
    # Codex names its session in each call's `_meta`; the put records it.
    codex_meta: Any = {"x-codex-turn-metadata": {"session_id": "codex-session-1", "turn_id": "turn-1"}}
    noted = await client.call_tool("cairn_put", {"key": "codex/turn", "content": "from codex"}, meta=codex_meta)
    check(not noted.is_error, f"put with _meta: {text_of(noted)}")
    return {
        "protocol": client.protocol_version,
        "tools": sorted(names),
        "ref": receipt["ref"],
        "version": receipt["version"],
    }


async def reader(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    original = test_log()
    lines = original.splitlines()
    view = await ok(client, "cairn_get", {"key": KEY})
    check(view["view"] == "compressed", "compressed by default")
    check(view["ref"] == args.ref, f"the ref the writer got: {view['ref']} vs {args.ref}")
    check(view["tokens"] < view["tokens_original"], "the view is smaller")
    check("flux capacitor overheated" in view["content"], "the error line is kept")
    check(len(view["markers"]) > 0, "cuts are marked")
    full = await ok(client, "cairn_get", {"key": KEY, "full": True})
    check(full["content"] == original, "full is the original, exactly")
    queried = await ok(client, "cairn_get", {"key": KEY, "query": RARE_WORD, "max_tokens": 200})
    check(RARE_WORD in queried["content"], "the query's line is kept")
    whole = await ok(client, "cairn_retrieve", {"ref": args.ref})
    check(whole["content"] == original, "retrieve gives the original")
    part = await ok(client, "cairn_retrieve", {"ref": args.ref, "lines": "2-3"})
    check(part["content"] == "\n".join(lines[1:3]) + "\n", f"lines 2-3: {part['content']!r}")
    found = await ok(client, "cairn_retrieve", {"ref": args.ref, "query": "capacitor"})
    check([match["position"] for match in found["matches"]] == [200], f"one match: {found['matches']}")
    marker = await ok(client, "cairn_retrieve", {"ref": view["markers"][0]["ref"], "lines": "1"})
    check(marker["content"] == lines[0] + "\n", "a marker's ref resolves")
    # The indexer runs in the background: poll for a few seconds.
    deadline = time.monotonic() + 20
    while True:
        results = await ok(client, "cairn_search", {"query": RARE_WORD, "limit": 5})
        keys = [hit.get("key") for hit in results["hits"]]
        if KEY in keys or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    check(KEY in keys, f"search finds the put: {results}")
    stats = await ok(client, "cairn_stats", {})
    check(stats["contexts"] >= 1, f"stats count it: {stats}")
    turn = await ok(client, "cairn_get", {"key": "codex/turn"})
    compressed = await ok(client, "cairn_compress", {"content": original, "query": "capacitor"})
    check(compressed["tokens_after"] < compressed["tokens_before"], "compress shrinks")
    check("flux capacitor" in compressed["content"], "compress keeps the query's line")
    again = await ok(client, "cairn_retrieve", {"ref": compressed["ref"], "lines": "200"})
    check("flux capacitor" in again["content"], "compress retains its original")
    return {
        "protocol": client.protocol_version,
        "agent": view.get("agent"),
        "markers": len(view["markers"]),
        "search_hits": len(results["hits"]),
        "session": turn.get("session"),
        "search_agent": next(hit.get("agent") for hit in results["hits"] if hit.get("key") == KEY),
    }


async def errors(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    seen: dict[str, str] = {}
    seen["missing key"] = await tool_error(client, "cairn_put", {"content": "x"}, "invalid_request")
    check("key" in seen["missing key"], "the message names the field")
    seen["wrong type"] = await tool_error(client, "cairn_put", {"key": 7, "content": "x"}, "invalid_request")
    seen["no arguments"] = await tool_error(client, "cairn_get", {}, "invalid_request")
    seen["unknown field"] = await tool_error(client, "cairn_get", {"key": "k", "fll": True}, "invalid_request")
    seen["bad ttl"] = await tool_error(client, "cairn_put", {"key": "k", "content": "x", "ttl_seconds": -1}, "invalid_request")
    seen["empty key"] = await tool_error(client, "cairn_get", {"key": ""}, "invalid_key")
    seen["missing"] = await tool_error(client, "cairn_get", {"key": "no/such/key"}, "not_found")
    seen["unknown ref"] = await tool_error(client, "cairn_retrieve", {"ref": "ccr:" + "0" * 24}, "not_found")
    seen["not a ref"] = await tool_error(client, "cairn_retrieve", {"ref": "nonsense"}, "invalid_ref")
    seen["both"] = await tool_error(client, "cairn_retrieve", {"ref": "ccr:" + "0" * 24, "lines": "1", "query": "x"}, "invalid_request")
    seen["bad lines"] = await tool_error(client, "cairn_retrieve", {"ref": "ccr:" + "0" * 24, "lines": "9-2"}, "invalid_request")
    seen["bad limit"] = await tool_error(client, "cairn_search", {"query": "x", "limit": 0}, "invalid_request")
    seen["bad since"] = await tool_error(client, "cairn_search", {"since": "yesterday"}, "invalid_request")
    seen["unknown tool"] = await tool_error(client, "cairn_nope", {}, "not_found")
    # After all of that, the session still works.
    await client.send_ping()
    stats = await ok(client, "cairn_stats", {})
    return {"errors": sorted(seen), "stats_after": "contexts" in stats}


async def readonly(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    denied = []
    for tool, arguments in [
        ("cairn_put", {"key": "read/only", "content": "x"}),
        ("cairn_compress", {"content": "x"}),
    ]:
        await tool_error(client, tool, arguments, "forbidden")
        denied.append(tool)
    view = await ok(client, "cairn_get", {"key": KEY})
    return {"denied": sorted(denied), "read": view["key"] == KEY}


async def nosearch(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    message = await tool_error(client, "cairn_search", {"query": "anything"}, "unavailable")
    receipt = await ok(client, "cairn_put", {"key": "still/works", "content": "yes"})
    view = await ok(client, "cairn_get", {"key": "still/works", "full": True})
    check(view["content"] == "yes", "put and get work without search")
    return {"message": message, "version": receipt["version"]}


SCENARIOS = {
    "writer": writer,
    "reader": reader,
    "errors": errors,
    "readonly": readonly,
    "nosearch": nosearch,
}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--protocol", default=None, help="the handshake version to ask for")
    parser.add_argument(
        "--mode",
        default="legacy",
        choices=["legacy", "auto"],
        help="legacy: the initialize handshake; auto: probe server/discover (2026-07-28) first",
    )
    parser.add_argument("--name", default="cairn-test-client", help="clientInfo.name")
    parser.add_argument("--token", default=None)
    parser.add_argument("--ref", default=None)
    parser.add_argument("--http", default=None, help="the server's /mcp URL")
    parser.add_argument("--stdio", nargs=argparse.REMAINDER, default=None, help="COMMAND ARG...")
    args = parser.parse_args()
    if args.protocol:
        # The SDK asks for its newest handshake version; ask for this one instead.
        client_session.LATEST_HANDSHAKE_VERSION = args.protocol
    if args.http:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
        server: Any = streamable_http_client(args.http, http_client=create_mcp_http_client(headers=headers))
    elif args.stdio:
        server = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:])
    else:
        parser.error("give --http URL or --stdio COMMAND")
    info = Implementation(name=args.name, version="1.0.0")
    async with Client(server, mode=args.mode, client_info=info, read_timeout_seconds=60) as client:
        if args.protocol:
            check(client.protocol_version == args.protocol, f"negotiated {client.protocol_version}")
        facts = await SCENARIOS[args.scenario](client, args)
    print(json.dumps(facts))


if __name__ == "__main__":
    # `ping` is deprecated from 2026-07-28 on; these sessions are handshake-era.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    try:
        asyncio.run(main())
    except* AssertionError as group:
        for error in group.exceptions:
            print(f"check failed: {error}", file=sys.stderr)
        sys.exit(1)
