"""Every command and code block of docs/sdk-python.md, and the README's
Python SDK section, runs as written against the server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import servers
from test_headroom_swap import headroom_python

DOC = servers.REPO / "docs" / "sdk-python.md"
# Not run here: the command that runs these tests.
NOT_RUN = {"./scripts/test-python.sh\n"}


README = servers.REPO / "README.md"


def blocks(language: str, text: str | None = None) -> list[str]:
    """The fenced blocks of ``language`` in ``text`` (default: the SDK page)."""
    text = DOC.read_text() if text is None else text
    return [
        code for lang, code in re.findall(r"^```(\w+)\n(.*?)^```$", text, re.M | re.S) if lang == language
    ]


def environment(server_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_URL"] = server_url
    # `cairn` on the PATH, as after `cargo install --path server`.
    env["PATH"] = f"{Path(servers.cairn_bin()).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(argv: list[str], server_url: str) -> str:
    done = subprocess.run(
        argv, cwd=servers.REPO, env=environment(server_url), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_page_has_what_the_tests_run() -> None:
    assert len(blocks("python")) >= 10 and len(blocks("sh")) >= 4
    assert set(blocks("sh")) >= NOT_RUN


@pytest.mark.parametrize(
    "code",
    [code for code in blocks("sh") if code not in NOT_RUN],
    ids=lambda code: code.splitlines()[-1][:40],
)
def test_shell_block(code: str, server_url: str) -> None:
    out = run(["bash", "-euo", "pipefail", "-c", code], server_url)
    if "cairn token issue" in code:
        assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", out), out


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_block(index: int, server_url: str, tmp_path: Path) -> None:
    code = blocks("python")[index]
    python = headroom_python() if "from headroom import" in code else sys.executable
    if ".search(" in code:
        # On a server of its own: see conftest.fresh_server_url for why.
        server = servers.start(tmp_path / "data")
        try:
            out = run([python, "-c", code], server.url)
        finally:
            server.stop()
        assert out.startswith("incidents/0412 "), out
        return
    out = run([python, "-c", code], server_url)
    if "research/latency" in code:
        # The quickstart prints the view the page shows.
        shown = re.escape(blocks("text")[0]).replace(re.escape("ccr:…"), "ccr:[0-9a-f]{24}")
        assert re.search(shown, out), out
    if "except cairn.NotFound" in code:
        assert out.startswith("not_found 404 no context under key `no/such/key`\n"), out


def test_the_readme_section(server_url: str) -> None:
    section = README.read_text().split("## Python SDK\n", 1)[1].split("\n## ", 1)[0]
    (code,) = blocks("python", section)
    run([sys.executable, "-c", code], server_url)
    assert "./scripts/install-python-sdk.sh" in section and "docs/sdk-python.md" in section
