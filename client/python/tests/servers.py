"""Starting and stopping real ``cairn serve`` processes for the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def cairn_bin() -> str:
    """The ``cairn`` binary: ``$CAIRN_BIN``, else this checkout's debug build."""
    path = os.environ.get("CAIRN_BIN") or str(REPO / "target" / "debug" / "cairn")
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"no cairn binary at {path}: run ./scripts/test-python.sh, which builds it, or set CAIRN_BIN"
        )
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``cairn serve``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """Starts ``cairn serve`` on a free loopback port over ``data_dir`` and
    waits until ``/healthz`` answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    environment.update(env or {})
    last_error = "not started"
    for _ in range(3):  # another process may take the port between probe and bind
        port = free_port()
        log = data_dir.parent / f"{data_dir.name}-{port}.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [cairn_bin(), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", str(data_dir), *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        server.stop()
        last_error = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"cairn serve did not come up; its log ends:\n{last_error}")
