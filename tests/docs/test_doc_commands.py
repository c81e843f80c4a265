"""Every shell block of README.md and docs/*.md runs as written.

Each page is followed the way a reader follows it: its blocks run in order, in bash
(`-euo pipefail`), in one fresh directory, so a block sees what the blocks above it did:

- the working directory holds copies of README.md and Cargo.toml, and the files the examples
  name as the reader's own (`build.log`, `notes.md`);
- `$HOME` holds real sessions of Claude Code, Codex CLI and Gemini CLI where those agents keep
  them (from fixtures/sessions), so `cairn import all` and `cairn mcp install` work on it;
- `cairn` is on the PATH (this checkout's build), and so are stand-ins for `claude`, `codex` and
  `gemini` (the agents are not installed here) that print how they were launched;
- the proxy's upstreams are a stand-in for the providers on loopback (mock_upstream.py), which
  the tests cannot reach;
- the reader's `cairn serve` over `./cairn-data` answers on a free port, and each block's `8787`
  (the default port) is rewritten to that port. A block that starts its own server, or needs
  none running (`cairn reindex`), runs while the reader's server is stopped.

Blocks that cannot run here are listed in NOT_RUN with the reason, and a test checks every entry
still names a block. docs/sdk-python.md is run by client/python/tests/test_docs.py, and
docs/sdk-typescript.md by client/typescript/test/docs.test.mjs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "client" / "python" / "tests"))

import mock_upstream  # noqa: E402
import servers  # noqa: E402

# The first line of each block not run here, and why.
NOT_RUN = {
    "cargo run --release -p cairn-server -- serve": "a release build takes most of CI's budget; "
    "every test here runs the same `cairn serve` from the debug build",
    "./scripts/test.sh": "the command that runs these tests",
    "sudo -u postgres psql <<'SQL'": "production set-up (a role with a password); the one-machine "
    "block of docs/deployment.md runs the same server on the local PostgreSQL",
    "openssl rand -hex 32 > /etc/cairn/jwt-secret     # once; copy the file to every node": "writes to "
    "/etc on the host; docs/auth.md runs the same commands in a directory of its own",
    "export CAIRN_DATABASE='postgres://cairn:change-me@db.internal:5432/cairn'": "a production "
    "host (db.internal); the one-machine block runs two nodes on the local PostgreSQL",
    "cairn token issue --jwt-secret-file /etc/cairn/jwt-secret --sub build-agent --tenant acme": "reads "
    "the secret from /etc on the host; docs/auth.md issues tokens the same way",
    "cargo run -p cairn-examples --bin two_agents": "examples/tests/examples.rs runs this program "
    "(building it here, from a copy of the page's directory, would build the workspace again)",
}

# What a block's output must show, by the start of a line of the block.
EXPECT = {
    "cairn import all": r'"sessions": [1-9]',
    'cairn search "technical specification"': r"claude",
    'export CAIRN_TOKEN="$(cairn token issue': r'"contexts"',
    "curl -s -o /dev/null -w '%{http_code}\\n' -X PUT": r"401\n401\n403\n",
    "cairn mcp install claude": r"mcpServers",
    # Found in other words (the search shares none with the text): the model is on.
    'cairn search "connection pool exhausted"': r"(?s)(?=.*ML is on)(?=.*1 matches.*notes/db)",
    'cairn search --url http://127.0.0.1:8788 "cold start"': r"cold start(.|\n)*notes/shared",
    "cairn wrap claude": r"claude -p summarise the failing tests ANTHROPIC_BASE_URL=http://127\.0\.0\.1:\d+",
    "ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude": r"ANTHROPIC_BASE_URL=http://127\.0\.0\.1:\d+",
    "curl -s -D headers.txt": r"mock answer(.|\n)*x-cairn-tokens-sent(.|\n)*'tokens_saved': [1-9]",
    "curl -s http://127.0.0.1:8787/v1/messages": r"(mock answer(.|\n)*){3}",
    "curl -s http://127.0.0.1:8787/v1/contexts/runs/1/log ": r'"code":"expired"',
    "curl -s http://127.0.0.1:8787/v1/contexts/no/such/key": r'"code":"not_found"',
    "printf '%s\\n' '{\"jsonrpc\"": r'"serverInfo"',
}

SKIP_PAGES = {"sdk-python.md", "sdk-typescript.md"}


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str

    @property
    def first(self) -> str:
        return self.code.splitlines()[0]

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    docs = sorted(p for p in (REPO / "docs").glob("*.md") if p.name not in SKIP_PAGES)
    return [REPO / "README.md", *docs]


def shell_blocks() -> list[Block]:
    found = []
    for page in pages():
        text = page.read_text()
        for match in re.finditer(r"^```sh\n(.*?)^```$", text, re.M | re.S):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Block(str(page.relative_to(REPO)), line, match.group(1)))
    return found


def to_run() -> list[Block]:
    return [b for b in shell_blocks() if b.first not in NOT_RUN]


def home_with_sessions(home: Path) -> None:
    fixtures = REPO / "fixtures" / "sessions"
    claude = home / ".claude" / "projects" / "-tmp-demo"
    claude.mkdir(parents=True)
    shutil.copy(fixtures / "claude" / "session-3fe1b6bc.jsonl", claude)
    codex = home / ".codex" / "sessions" / "2026" / "05" / "11"
    codex.mkdir(parents=True)
    for rollout in (fixtures / "codex").glob("rollout-*.jsonl"):
        shutil.copy(rollout, codex)
    gemini = home / ".gemini" / "tmp" / "5b959dae" / "chats"
    gemini.mkdir(parents=True)
    for chat in (fixtures / "gemini").glob("session-*.json"):
        shutil.copy(chat, gemini)


def workdir(tmp: Path) -> Path:
    work = tmp / "work"
    work.mkdir()
    for name in ("README.md", "Cargo.toml"):
        shutil.copy(REPO / name, work)
    # `scripts/…` as a reader in the checkout runs them.
    (work / "scripts").symlink_to(REPO / "scripts")
    lines = [f"2026-11-21T10:{i // 60:02}:{i % 60:02}Z INFO step {i} ok" for i in range(400)]
    lines.insert(300, "2026-11-21T10:05:00Z ERROR linker failed: undefined symbol `cairn_open`")
    (work / "build.log").write_text("\n".join(lines) + "\n")
    (work / "notes.md").write_text("# Notes\n\nThe cache misses on every cold start.\n")
    home_with_sessions(tmp / "home")
    return work


def stand_in_agents(bin_dir: Path) -> None:
    """`claude`, `codex` and `gemini` that print their name, arguments and base-URL settings."""
    bin_dir.mkdir()
    for agent in ("claude", "codex", "gemini"):
        script = bin_dir / agent
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{agent} $* ANTHROPIC_BASE_URL=${{ANTHROPIC_BASE_URL:-}} '
            'GOOGLE_GEMINI_BASE_URL=${GOOGLE_GEMINI_BASE_URL:-}"\n'
        )
        script.chmod(0o755)


def environment(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["HOME"] = str(tmp / "home")
    env["CAIRN_URL"] = f"http://127.0.0.1:{port}"
    stand_in_agents(tmp / "agents")
    path = [str(Path(servers.cairn_bin()).parent), str(tmp / "agents"), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(path)
    return env


def stop_group(pgid: int) -> None:
    """Whatever a block started in the background goes with it: SIGTERM to its
    process group, waiting (20 s, then SIGKILL) until none is left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)
            time.sleep(0.05)
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_block(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Output goes to files, not pipes: a server the block starts in the
    # background would hold a pipe open after the block ends.
    out_path, err_path = cwd.parent / "stdout", cwd.parent / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        shell = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", code],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            shell.wait(timeout=120)
        finally:
            stop_group(shell.pid)
    return subprocess.CompletedProcess(
        shell.args, shell.returncode, out_path.read_text(), err_path.read_text()
    )


def expects(block: Block, start: str) -> bool:
    return any(line.startswith(start) for line in block.code.splitlines())


def test_every_not_run_entry_names_a_block() -> None:
    firsts = {b.first for b in shell_blocks()}
    assert set(NOT_RUN) <= firsts, set(NOT_RUN) - firsts
    for start in EXPECT:
        assert any(expects(b, start) for b in to_run()), f"no block has a line starting {start!r}"


def test_there_are_blocks_on_every_page() -> None:
    per_page = {b.page for b in shell_blocks()}
    for page in pages():
        assert str(page.relative_to(REPO)) in per_page, f"{page.name} has no shell block"


class PageServer:
    """The reader's `cairn serve` over ./cairn-data, on one port for the whole page."""

    def __init__(self, work: Path, port: int, upstream: mock_upstream.MockUpstream) -> None:
        self.work, self.port, self.upstream = work, port, upstream
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
        env.update(mock_upstream.upstream_env(self.upstream))
        with open(self.work.parent / "server.log", "a") as log:
            self.process = subprocess.Popen(
                [
                    servers.cairn_bin(),
                    "serve",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--data-dir",
                    "cairn-data",
                ],
                cwd=self.work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.work.parent / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise AssertionError("cairn serve did not come up: " + (self.work.parent / "server.log").read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture(scope="module")
def upstream() -> Iterator[mock_upstream.MockUpstream]:
    mock = mock_upstream.start()
    yield mock
    mock.stop()


@pytest.mark.parametrize("page", sorted({b.page for b in to_run()}))
def test_page(page: str, tmp_path: Path, upstream: mock_upstream.MockUpstream) -> None:
    """The page's blocks, in order, in one directory, as a reader follows it."""
    work = workdir(tmp_path)
    port, second_port = servers.free_port(), servers.free_port()
    env = environment(tmp_path, port)
    server = PageServer(work, port, upstream)
    server.start()
    try:
        for block in (b for b in to_run() if b.page == page):
            # A block that starts its own server, or needs none running, gets the port to itself.
            alone = "cairn serve" in block.code or "cairn reindex" in block.code
            if alone:
                server.stop()
            code = block.code.replace("8787", str(port)).replace("8788", str(second_port))
            done = run_block(code, work, env)
            if alone:
                server.start()
            assert done.returncode == 0, (
                f"{block} failed ({done.returncode}):\n{code}\n{done.stdout}\n{done.stderr}"
            )
            for start, pattern in EXPECT.items():
                if expects(block, start):
                    assert re.search(pattern, done.stdout + done.stderr), f"{block}: {done.stdout}"
    finally:
        server.stop()
