"""The synchronous client against a real server: every verb, its results and its errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import pytest

import cairn
from cairn import SharedContext


def rows(count: int) -> str:
    """A tool output Cairn compresses well: JSON rows."""
    return json.dumps(
        [
            {"id": i, "service": f"svc-{i % 7}", "status": "retry" if i % 50 == 7 else "ok"}
            for i in range(count)
        ],
        indent=2,
    )


@pytest.fixture
def ctx(server_url: str) -> Iterator[SharedContext]:
    with SharedContext(server_url, agent="tester") as client:
        yield client


def test_put_get_and_get_full(ctx: SharedContext, prefix: str) -> None:
    output = rows(300)
    receipt = ctx.put(prefix + "rows", output, agent="chercheuse-é")
    assert isinstance(receipt, cairn.PutReceipt)
    assert (receipt.key, receipt.version, receipt.agent) == (prefix + "rows", 1, "chercheuse-é")
    assert receipt.ref.startswith("ccr:") and receipt.hash.startswith(receipt.ref[4:])
    assert receipt.bytes == len(output.encode())
    assert receipt.content_type == "application/json"
    assert receipt.original == output
    # Headroom's ContextEntry names.
    assert receipt.original_tokens == receipt.tokens_original > receipt.compressed_tokens > 0
    assert receipt.savings_percent > 50

    view = ctx.get(prefix + "rows")
    assert isinstance(view, str) and len(view) < len(output) and receipt.ref in view
    assert ctx.get(prefix + "rows", full=True) == output

    detail = ctx.get_view(prefix + "rows")
    assert detail.view == "compressed" and detail.agent == "chercheuse-é"
    assert detail.markers and detail.markers[0].ref == receipt.ref
    assert detail.tokens < detail.tokens_original == receipt.tokens_original


def test_the_clients_agent_is_the_default(ctx: SharedContext, prefix: str) -> None:
    receipt = ctx.put(prefix + "a", "text")
    assert receipt.agent == "tester"
    assert ctx.get_view(prefix + "a").agent == "tester"


def test_missing_keys(ctx: SharedContext, prefix: str) -> None:
    assert ctx.get(prefix + "missing") is None
    assert ctx.get(prefix + "missing", full=True) is None
    with pytest.raises(cairn.NotFound) as caught:
        ctx.get_view(prefix + "missing")
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    with pytest.raises(cairn.NotFound):
        ctx.delete(prefix + "missing")


def test_keys_travel_as_one_path_segment(ctx: SharedContext, prefix: str) -> None:
    odd = [prefix + name for name in ("a/b/c", "sp ace", "q?x#y%25", "日本", "dots/../x", "plus+&=")]
    for key in odd:
        ctx.put(key, f"content of {key}")
    for key in odd:
        assert ctx.get(key, full=True) == f"content of {key}"
    assert ctx.keys(prefix) == sorted(odd, key=lambda key: key.encode())


def test_keys_follow_every_page(ctx: SharedContext, prefix: str) -> None:
    names = [f"{prefix}k{i:02}" for i in range(7)]
    for name in names:
        ctx.put(name, name)
    ctx.put(prefix.rstrip("/") + "-other", "not under the prefix")
    entries = ctx.entries(prefix, page_size=2)
    assert [entry.key for entry in entries] == names
    assert ctx.keys(prefix) == names
    assert all(entry.agent == "tester" for entry in entries)
    assert ctx.keys(prefix + "nothing") == []


def test_versions_query_and_max_tokens(ctx: SharedContext, prefix: str) -> None:
    key = prefix + "log"
    first = ctx.put(key, rows(200))
    second = ctx.put(key, rows(300))
    assert (first.version, second.version) == (1, 2)
    assert ctx.get(key, full=True, version=1) == rows(200)
    assert ctx.get_view(key).version == 2
    focused = ctx.get(key, query="retry")
    assert focused is not None and focused.count("retry") >= 6
    log = "\n".join(f"INFO worker {i} handled /api/v{i % 3}/items in {i * 7 % 300}ms" for i in range(500))
    ctx.put(prefix + "plain", log)
    default = ctx.get_view(prefix + "plain")
    capped = ctx.get_view(prefix + "plain", max_tokens=200)
    assert capped.tokens <= 200 < default.tokens < default.tokens_original
    with pytest.raises(cairn.InvalidRequest):
        ctx.get_view(key, max_tokens=0)


def test_dedup_is_reported(ctx: SharedContext, prefix: str) -> None:
    text = f"the same bytes under two keys {prefix}"
    assert not ctx.put(prefix + "one", text).deduplicated
    assert ctx.put(prefix + "two", text).deduplicated


def test_ttl_expires(ctx: SharedContext, prefix: str) -> None:
    receipt = ctx.put(prefix + "short", "short-lived", ttl=1)
    assert receipt.expires_at is not None
    assert ctx.put(prefix + "long", "longer", ttl=timedelta(hours=1)).expires_at is not None
    time.sleep(1.6)
    assert ctx.get(prefix + "short") is None
    with pytest.raises(cairn.Expired) as caught:
        ctx.get_view(prefix + "short")
    assert caught.value.status == 410
    assert ctx.keys(prefix) == [prefix + "long"]
    with pytest.raises(ValueError):
        ctx.put(prefix + "x", "x", ttl=-1)


def test_client_wide_ttl_and_session(server_url: str, prefix: str) -> None:
    with SharedContext(server_url, ttl=3600, session="s-1") as client:
        client.put(prefix + "k", "v")
        view = client.get_view(prefix + "k")
        assert view.expires_at is not None and view.session == "s-1"
        assert client.put(prefix + "k2", "v", session="s-2").key == prefix + "k2"
        assert [e.key for e in client.entries(prefix, session="s-2")] == [prefix + "k2"]


def test_metadata(ctx: SharedContext, prefix: str) -> None:
    ctx.put(prefix + "m", "with metadata", metadata={"job": 42, "tags": ["ci"]}, agent="ci")
    view = ctx.get_view(prefix + "m")
    assert view.metadata == {"job": 42, "tags": ["ci"]} and view.agent == "ci"
    with pytest.raises(cairn.CairnError):
        ctx.put(prefix + "m", b"\xff\xfe", metadata={"job": 1})


def test_binary_content(ctx: SharedContext, prefix: str) -> None:
    data = bytes(range(256)) * 4
    receipt = ctx.put(prefix + "bin", data)
    assert ctx.get_bytes(prefix + "bin") == data
    assert ctx.retrieve_bytes(receipt.ref) == data
    with pytest.raises(cairn.BinaryContent):
        ctx.get(prefix + "bin", full=True)
    with pytest.raises(cairn.BinaryContent):
        ctx.retrieve(receipt.ref)
    assert ctx.get_view(prefix + "bin", full=True).data == data


def test_retrieve_by_reference(ctx: SharedContext, prefix: str) -> None:
    output = rows(120)
    receipt = ctx.put(prefix + "r", output)
    assert ctx.retrieve(receipt.ref) == output
    part = ctx.retrieve_lines(receipt.ref, 2, 4)
    assert part.selection == "items 2-4" and part.total == 120
    assert [json.loads(line)["id"] for line in part.content.splitlines()] == [1, 2, 3]
    matching = ctx.retrieve_matching(receipt.ref, "retry")
    assert matching.matches is not None and [m.position for m in matching.matches][:2] == [8, 58]
    with pytest.raises(cairn.NotFound):
        ctx.retrieve("ccr:" + "0" * 24)
    with pytest.raises(cairn.InvalidRef):
        ctx.retrieve("not-a-ref")


def test_delete_and_clear(ctx: SharedContext, prefix: str) -> None:
    ctx.put(prefix + "d", "one")
    ctx.put(prefix + "d", "two")
    deleted = ctx.delete(prefix + "d")
    assert (deleted.key, deleted.versions) == (prefix + "d", 2)
    assert ctx.get(prefix + "d") is None
    for name in "abc":
        ctx.put(prefix + "c/" + name, name)
    ctx.put(prefix + "keep", "kept")
    assert ctx.clear(prefix + "c/") == 3
    assert ctx.keys(prefix) == [prefix + "keep"]


def search_until(
    ctx: SharedContext,
    query: str,
    seconds: float = 10,
    until: Callable[[cairn.SearchResults], bool] = lambda results: bool(results.hits),
) -> cairn.SearchResults:
    """Searches until ``until`` holds (the index follows the store within moments)."""
    deadline = time.monotonic() + seconds
    while True:
        results = ctx.search(query, kind="context")
        if until(results) or time.monotonic() > deadline:
            return results
        time.sleep(0.1)


def test_search(fresh_server_url: str, prefix: str) -> None:
    ctx = SharedContext(fresh_server_url)
    word = "zebra" + prefix[2:14]
    ctx.put(prefix + "s", f"the deploy failed because {word} timed out", agent="searcher")
    results = search_until(ctx, word)
    assert results.total == 1
    hit = results.hits[0]
    assert (hit.key, hit.kind, hit.agent) == (prefix + "s", "context", "searcher")
    assert f"**{word}**" in hit.snippet
    assert ctx.search(word, agent="someone-else").hits == []
    assert hit.keys == []
    with pytest.raises(cairn.InvalidRequest):
        ctx.search("deploy AND")
    # Identical content under two more keys: still one hit, listing all three.
    for copy in ("t", "u"):
        ctx.put(prefix + copy, f"the deploy failed because {word} timed out")
    grouped = search_until(ctx, word, until=lambda r: bool(r.hits) and len(r.hits[0].keys) == 3)
    assert len(grouped.hits) == 1
    assert grouped.hits[0].keys[0] == grouped.hits[0].key
    assert sorted(grouped.hits[0].keys) == [prefix + "s", prefix + "t", prefix + "u"]


def test_search_after_deleting_the_newest_key(fresh_server_url: str) -> None:
    ctx = SharedContext(fresh_server_url)
    ctx.put("older", "aardvark")
    ctx.put("newest", "bison")
    assert search_until(ctx, "bison").total == 1  # indexed: the watermark passed both rows
    ctx.delete("newest")
    ctx.put("after", "capybara")
    ctx.put("later", "dromedary")
    assert search_until(ctx, "dromedary").total == 1  # the indexer has run since the put
    assert search_until(ctx, "capybara", seconds=1).total == 1


def test_stats(ctx: SharedContext, prefix: str) -> None:
    ctx.put(prefix + "st", rows(200))
    stats = ctx.stats()
    assert stats.contexts >= 1 and stats.versions >= stats.contexts
    assert stats.tokens_saved == stats.tokens_original - stats.tokens_compressed > 0
    # Headroom's SharedContextStats names.
    assert stats.entries == stats.contexts
    assert stats.total_tokens_saved == stats.tokens_saved
    assert stats.total_original_tokens == stats.tokens_original
    assert stats.total_compressed_tokens == stats.tokens_compressed
    assert 0 < stats.savings_percent < 100


def test_compress_messages_and_text(ctx: SharedContext) -> None:
    output = rows(300)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Which services are retrying?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "latency", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": output},
    ]
    result = ctx.compress(messages)
    assert result.messages is not None and len(result.messages) == 3
    assert result.messages[0] == messages[0]
    assert result.tokens_after < result.tokens_before
    assert result.markers and ctx.retrieve(result.markers[0].ref) == output

    text = ctx.compress_text(output, query="retry", kind="json_rows")
    assert text.kind == "json_rows" and text.content is not None and "retry" in text.content
    assert text.ref is not None and ctx.retrieve(text.ref) == output
    with pytest.raises(cairn.InvalidRequest):
        ctx.compress_text("x", kind="no-such-kind")


def test_bad_keys_are_refused_before_sending() -> None:
    # Nothing listens on this port: a request would fail with ConnectionFailed.
    offline = SharedContext("http://127.0.0.1:9", retry=cairn.Retry(attempts=1))
    for key in ("", ".", "..", "a\x00b", "tab\there", "x" * 513, "\u0085"):
        with pytest.raises(cairn.InvalidKey) as caught:
            offline.get(key)
        assert caught.value.code == "invalid_key"
    with pytest.raises(cairn.InvalidKey):
        offline.put("", "x")
    with pytest.raises(TypeError):
        offline.put("k", cast(Any, 42))  # a wrong type on purpose


def test_unreachable_server_is_a_connection_failure() -> None:
    offline = SharedContext("http://127.0.0.1:9", retry=cairn.Retry(attempts=3, first_backoff=0.01))
    started = time.monotonic()
    with pytest.raises(cairn.ConnectionFailed) as caught:
        offline.get("k")
    assert caught.value.code is None and "127.0.0.1:9" in str(caught.value)
    assert time.monotonic() - started >= 0.03  # two waits: 0.01 + 0.02


def test_bad_urls_are_refused_up_front() -> None:
    for url in ("nope", "ftp://host", "http://"):
        with pytest.raises(cairn.CairnError):
            SharedContext(url)


def test_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, server_url: str) -> None:
    monkeypatch.setenv("CAIRN_URL", server_url + "/")
    assert SharedContext().url == server_url
    monkeypatch.delenv("CAIRN_URL")
    assert SharedContext().url == cairn.DEFAULT_URL == "http://127.0.0.1:8787"


def test_errors_map_codes_then_statuses() -> None:
    from cairn.errors import error_for

    assert type(error_for(404, "not_found", "m")) is cairn.NotFound
    assert type(error_for(400, "invalid_key", "m")) is cairn.InvalidKey
    assert type(error_for(507, "storage_full", "m")) is cairn.StorageFull
    assert type(error_for(503, "unavailable", "m")) is cairn.Unavailable
    assert type(error_for(429, "rate_limited", "m")) is cairn.RateLimited
    assert type(error_for(429, None, "m")) is cairn.RateLimited
    assert type(error_for(418, "teapot", "m")) is cairn.InvalidRequest
    assert type(error_for(502, None, "m")) is cairn.ServerError
    error = error_for(413, "payload_too_large", "too big")
    assert isinstance(error, cairn.PayloadTooLarge) and isinstance(error, cairn.CairnError)
    assert str(error) == "too big (payload_too_large, HTTP 413)"
