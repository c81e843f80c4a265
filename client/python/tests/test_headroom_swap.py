"""A Headroom SharedContext script runs unchanged against Cairn once its import
is swapped: the same results, and what it put outlives the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import servers

SCRIPT = Path(__file__).with_name("headroom_script.py")
HEADROOM_IMPORT = "from headroom import SharedContext\n"
CAIRN_IMPORT = "from cairn import SharedContext\n"


def headroom_python() -> str:
    """The python of the venv scripts/install-peer.sh made (``$HEADROOM_PYTHON``)."""
    path = os.environ.get("HEADROOM_PYTHON") or str(servers.REPO / ".venv-peer" / "bin" / "python")
    if not os.access(path, os.X_OK):
        pytest.skip(f"Headroom is not installed at {path}: run ./scripts/install-peer.sh .venv-peer")
    return path


def run(python: str, script: Path, phase: str, url: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    if url is not None:
        env["CAIRN_URL"] = url
    done = subprocess.run([python, str(script), phase], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{script.name} {phase} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_import_swap(tmp_path: Path) -> None:
    text = SCRIPT.read_text()
    assert text.count(HEADROOM_IMPORT) == 1
    swapped = tmp_path / "cairn_script.py"
    swapped.write_text(text.replace(HEADROOM_IMPORT, CAIRN_IMPORT))

    under_headroom = run(headroom_python(), SCRIPT, "write")
    assert "get full returns str identical to what was put: True" in under_headroom
    assert "get of a missing key returns None" in under_headroom
    # Headroom keeps contexts in the process's memory.
    assert run(headroom_python(), SCRIPT, "read") == "a second process finds nothing\n"

    data = tmp_path / "data"
    server = servers.start(data)
    try:
        under_cairn = run(sys.executable, swapped, "write", server.url)
        assert under_cairn == under_headroom
        # Cairn keeps them in the server: a second process reads them.
        assert (
            run(sys.executable, swapped, "read", server.url)
            == "a second process finds what the first put: True\n"
        )
    finally:
        server.stop()
    # ... and they outlive the server too.
    restarted = servers.start(data)
    try:
        assert (
            run(sys.executable, swapped, "read", restarted.url)
            == "a second process finds what the first put: True\n"
        )
    finally:
        restarted.stop()
