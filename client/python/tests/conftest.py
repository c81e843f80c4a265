"""Fixtures: a Cairn server for the tests (the one ``$CAIRN_URL`` names, as
scripts/test-python.sh starts it, or one started here), and unique key
prefixes so tests sharing that server do not see each other's keys."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running server shared by the tests."""
    url = os.environ.get("CAIRN_URL")
    if url:
        yield url
        return
    server = servers.start(tmp_path_factory.mktemp("shared") / "data")
    os.environ["CAIRN_URL"] = server.url
    try:
        yield server.url
    finally:
        del os.environ["CAIRN_URL"]
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def fresh_server_url(tmp_path: Path) -> Iterator[str]:
    """A server of this test's own, over an empty data directory.

    Search tests use one: on a server where the newest contexts were deleted,
    the next puts reuse their row ids, which the indexer's watermark has
    passed, so search never finds them (see test_search_after_deleting_the_newest_key).
    """
    server = servers.start(tmp_path / "data")
    try:
        yield server.url
    finally:
        server.stop()
