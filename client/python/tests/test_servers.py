"""Tests that start servers of their own: auth, a small body limit, and
contexts that outlive the process that put them and the server itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import servers

import cairn
from cairn import SharedContext

SECRET = "python-sdk-test-secret-of-more-than-32-bytes"


def issue_token(scopes: str) -> str:
    """A token from ``cairn token issue``, signed with the test secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_JWT_SECRET"] = SECRET
    done = subprocess.run(
        [servers.cairn_bin(), "token", "issue", "--sub", "py", "--tenant", "t", "--scopes", scopes],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def test_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = servers.start(tmp_path / "data", env={"CAIRN_JWT_SECRET": SECRET})
    try:
        monkeypatch.delenv("CAIRN_TOKEN", raising=False)
        token = issue_token("read,write")
        with SharedContext(server.url, token=token) as ctx:
            receipt = ctx.put("notes/auth", "only for tenant t")
            assert ctx.get("notes/auth", full=True) == "only for tenant t"
            # The token's subject is the agent recorded.
            assert ctx.get_view("notes/auth").agent == "py"
            assert ctx.keys() == ["notes/auth"]

        with SharedContext(server.url) as anonymous:
            with pytest.raises(cairn.Unauthorized) as caught:
                anonymous.get("notes/auth")
            assert (caught.value.code, caught.value.status) == ("unauthorized", 401)
            with pytest.raises(cairn.Unauthorized):
                anonymous.retrieve(receipt.ref)
        with SharedContext(server.url, token="not-a-token") as forged, pytest.raises(cairn.Unauthorized):
            forged.stats()

        with SharedContext(server.url, token=issue_token("read")) as reader:
            assert reader.get("notes/auth", full=True) == "only for tenant t"
            with pytest.raises(cairn.Forbidden) as forbidden:
                reader.put("notes/auth", "overwrite")
            assert forbidden.value.status == 403

        # The token may come from the environment.
        monkeypatch.setenv("CAIRN_TOKEN", token)
        with SharedContext(server.url) as from_env:
            assert from_env.keys("notes/") == ["notes/auth"]
    finally:
        server.stop()


def test_payload_too_large(tmp_path: Path) -> None:
    server = servers.start(tmp_path / "data", "--body-limit-bytes", "1024")
    try:
        with SharedContext(server.url) as ctx:
            with pytest.raises(cairn.PayloadTooLarge) as caught:
                ctx.put("big", "x" * 4096)
            assert caught.value.status == 413
            assert ctx.get("big") is None
    finally:
        server.stop()


def test_contexts_outlive_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = servers.start(data)
    try:
        with SharedContext(first.url) as ctx:
            receipt = ctx.put("handoff/plan", "step 1: read the logs\nstep 2: fix the bug\n", agent="planner")
    finally:
        first.stop()
    second = servers.start(data)
    try:
        with SharedContext(second.url) as ctx:
            assert ctx.get("handoff/plan", full=True) == "step 1: read the logs\nstep 2: fix the bug\n"
            assert ctx.get_view("handoff/plan").agent == "planner"
            assert ctx.retrieve(receipt.ref).startswith("step 1")
    finally:
        second.stop()
