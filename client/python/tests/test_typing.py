"""The package, its tests and the Python examples type-check under ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import servers

SDK = servers.REPO / "client" / "python"


def test_mypy_strict(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--config-file", "pyproject.toml",
            "--cache-dir", str(tmp_path / "cache"),
            "src/cairn", "tests", str(servers.REPO / "examples" / "python"),
        ],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
