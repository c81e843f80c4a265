"""The package, its tests and the Python examples type-check under ``mypy --strict``
and pass ``ruff format --check`` and ``ruff check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import servers

SDK = servers.REPO / "client" / "python"


def test_mypy_strict(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "pyproject.toml",
            "--cache-dir",
            str(tmp_path / "cache"),
            "src/cairn",
            "tests",
            str(servers.REPO / "examples" / "python"),
            str(servers.REPO / "tests" / "docs"),
        ],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff() -> None:
    paths = ["src", "tests", *(str(servers.REPO / path) for path in ("examples/python", "tests/docs"))]
    for command in (["format", "--check", "--diff", "--no-cache"], ["check", "--no-cache"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *paths],
            cwd=SDK,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"ruff {' '.join(command)}:\n{done.stdout}{done.stderr}"
