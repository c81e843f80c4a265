"""The Python examples (examples/python) run against the server and say what they should."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mock_upstream
import servers

EXAMPLES = servers.REPO / "examples" / "python"


def run_example(name: str, url: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_two_agents(server_url: str) -> None:
    out = run_example("two_agents.py", server_url).splitlines()
    assert len(out) == 4, out
    assert re.fullmatch(r"agent A put 44699 bytes as version \d+: ccr:[0-9a-f]{24} \(\d+ tokens\)", out[0])
    view = re.fullmatch(
        r"agent B got the compressed view: (\d+) tokens of (\d+) \(written by researcher\), (\d+) markers",
        out[1],
    )
    assert view is not None and int(view[1]) * 10 < int(view[2]) and int(view[3]) >= 1
    assert out[2] == "agent B asked for the rows that retry: 10 of them are in the view"
    assert re.fullmatch(r"agent B retrieved ccr:[0-9a-f]{24} by reference: identical to what A put", out[3])


def test_tool_outputs(server_url: str) -> None:
    out = run_example("tool_outputs.py", server_url).splitlines()
    assert len(out) == 5, out
    seen = re.fullmatch(
        r"tool search_logs returned (\d+) tokens; the model sees (\d+) "
        r"\(stored as runs/\w+/call_1-search_logs, ccr:[0-9a-f]{24}\)",
        out[0],
    )
    assert seen is not None and int(seen[2]) * 5 < int(seen[1])
    assert re.fullmatch(r"the model expanded ccr:[0-9a-f]{24} for 'ERROR': 7 matching lines", out[1])
    assert re.fullmatch(r"the run kept 1 tool output\(s\) under runs/\w+/", out[2])
    assert out[3] == "answer: billing logged 7 upstream timeouts; everything else was fine."
    compressed = re.fullmatch(
        r"compress\(messages\): (\d+) tokens -> (\d+); (\d+) marker\(s\), originals retrievable: True", out[4]
    )
    assert compressed is not None and int(compressed[2]) * 5 < int(compressed[1]) and int(compressed[3]) >= 1


def test_proxy_openai(tmp_path: Path) -> None:
    """The OpenAI SDK through Cairn's proxy, to a stand-in for OpenAI on loopback."""
    upstream = mock_upstream.start()
    server = servers.start(tmp_path / "data", env=mock_upstream.upstream_env(upstream))
    try:
        out = run_example("proxy_openai.py", server.url).splitlines()
    finally:
        server.stop()
        upstream.stop()
    assert out[0] == f"the model answered: {mock_upstream.ANSWER}", out
    saved = re.fullmatch(r"tokens: (\d+) in the request, (\d+) sent upstream \((\d+)% saved\)", out[1])
    assert saved is not None and int(saved[3]) >= 60, out
    assert out[2] == "the original is one call away: true", out
    (request,) = upstream.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"].startswith("Bearer sk-"), "the caller's key, passed on"
    tool = request.json()["messages"][2]["content"]
    assert "upstream connection pool exhausted" in tool and "ccr:" in tool, tool[:2000]
    assert len(tool) * 5 < 3000 * 50, f"{len(tool)} characters went upstream"
