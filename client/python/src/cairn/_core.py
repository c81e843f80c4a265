"""What the sync and async clients share: settings, request building and
answer parsing. Only sending differs between the two."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from .errors import CairnError, InvalidKey, ProtocolError, error_for

DEFAULT_URL = "http://127.0.0.1:8787"
"""Where the client looks when neither ``url=`` nor ``CAIRN_URL`` says."""

MAX_KEY_BYTES = 512

Ttl = int | timedelta


@dataclass(frozen=True)
class Retry:
    """Retries of connection failures (the request never reached the server,
    so retrying cannot duplicate a put). Nothing else is retried."""

    attempts: int = 5
    """Attempts in all, the first included."""
    first_backoff: float = 0.05
    """Seconds before the second attempt; doubled each time."""
    max_backoff: float = 2.0

    def backoffs(self) -> list[float]:
        """The waits between attempts."""
        waits, wait = [], self.first_backoff
        for _ in range(max(self.attempts, 1) - 1):
            waits.append(wait)
            wait = min(wait * 2, self.max_backoff)
        return waits


@dataclass(frozen=True)
class Request:
    """One HTTP request, ready for either client to send."""

    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str | bytes] = field(default_factory=dict)
    content: bytes | None = None

    def query(self) -> httpx.QueryParams:
        return httpx.QueryParams(tuple(self.params))

    def header_pairs(self) -> list[tuple[bytes, bytes]]:
        """The headers as bytes (values may be UTF-8, such as agent names)."""
        return [
            (name.encode("ascii"), value if isinstance(value, bytes) else value.encode("ascii"))
            for name, value in self.headers.items()
        ]


@dataclass(frozen=True)
class Settings:
    """A client's configuration, checked once."""

    base: str
    token: str | None = field(repr=False)
    agent: str | None
    session: str | None
    ttl: int | None
    timeout: float
    retry: Retry

    @classmethod
    def make(
        cls,
        url: str | None,
        token: str | None,
        agent: str | None,
        session: str | None,
        ttl: Ttl | None,
        timeout: float,
        retry: Retry | None,
    ) -> Settings:
        url = url or os.environ.get("CAIRN_URL") or DEFAULT_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CairnError(f"invalid server URL {url!r}: expected http://HOST[:PORT]")
        if token is None:
            token = os.environ.get("CAIRN_TOKEN") or None
        return cls(
            base=url.rstrip("/"),
            token=token,
            agent=agent,
            session=session,
            ttl=ttl_seconds(ttl),
            timeout=timeout,
            retry=retry or Retry(),
        )

    def headers(self) -> dict[str, str]:
        """Headers every request carries."""
        headers = {"user-agent": "cairn-python"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return headers

    # Requests ---------------------------------------------------------------

    def put(
        self,
        key: str,
        content: str | bytes,
        agent: str | None,
        session: str | None,
        ttl: Ttl | None,
        metadata: Mapping[str, Any] | None,
    ) -> Request:
        seconds = ttl_seconds(ttl) if ttl is not None else self.ttl
        if not isinstance(content, (str, bytes)):
            raise TypeError(f"content must be str or bytes, not {type(content).__name__}")
        url = self.context_url(key)
        if metadata is not None:
            # Metadata travels in the JSON form, which carries text only.
            if isinstance(content, bytes):
                try:
                    text = content.decode("utf-8")
                except UnicodeDecodeError:
                    raise CairnError("metadata can only travel with UTF-8 content") from None
            else:
                text = content
            body = {
                "content": text,
                "agent": agent,
                "session": session,
                "ttl_seconds": seconds,
                "metadata": dict(metadata),
            }
            return Request(
                "PUT",
                url,
                headers={"content-type": "application/json"},
                content=json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
            )
        # Raw bytes otherwise, so nothing needs escaping; names go in headers
        # as UTF-8, which the server reads.
        headers: dict[str, str | bytes] = {"content-type": "application/octet-stream"}
        if agent is not None:
            headers["x-cairn-agent"] = agent.encode("utf-8")
        if session is not None:
            headers["x-cairn-session"] = session.encode("utf-8")
        if seconds is not None:
            headers["x-cairn-ttl-seconds"] = str(seconds)
        raw = content.encode("utf-8") if isinstance(content, str) else content
        return Request("PUT", url, headers=headers, content=raw)

    def get(
        self,
        key: str,
        full: bool,
        query: str | None,
        max_tokens: int | None,
        version: int | None,
    ) -> Request:
        params = [("view", "full" if full else "compressed")]
        if query is not None:
            params.append(("query", query))
        if max_tokens is not None:
            params.append(("max_tokens", str(max_tokens)))
        if version is not None:
            params.append(("version", str(version)))
        return Request("GET", self.context_url(key), params=params)

    def get_bytes(self, key: str, version: int | None) -> Request:
        params = [("view", "full")]
        if version is not None:
            params.append(("version", str(version)))
        return Request(
            "GET",
            self.context_url(key),
            params=params,
            headers={"accept": "application/octet-stream"},
        )

    def retrieve(
        self,
        ref: str,
        *,
        raw: bool = False,
        lines: tuple[int, int] | None = None,
        query: str | None = None,
    ) -> Request:
        if not ref:
            raise CairnError("a reference is a non-empty ccr:... string", code="invalid_ref")
        params: list[tuple[str, str]] = []
        if lines is not None:
            params.append(("lines", f"{lines[0]}-{lines[1]}"))
        if query is not None:
            params.append(("query", query))
        headers: dict[str, str | bytes] = {"accept": "application/octet-stream"} if raw else {}
        return Request("GET", f"{self.base}/v1/ccr/{segment(ref)}", params=params, headers=headers)

    def list_page(
        self, prefix: str, agent: str | None, session: str | None, cursor: str | None, limit: int
    ) -> Request:
        params = [("limit", str(limit))]
        for name, value in (
            ("prefix", prefix or None),
            ("agent", agent),
            ("session", session),
            ("cursor", cursor),
        ):
            if value is not None:
                params.append((name, value))
        return Request("GET", f"{self.base}/v1/contexts", params=params)

    def delete(self, key: str) -> Request:
        return Request("DELETE", self.context_url(key))

    def search(self, query: str, filters: Mapping[str, str | int | None]) -> Request:
        params = [("q", query)]
        params += [(name, str(value)) for name, value in filters.items() if value is not None]
        return Request("GET", f"{self.base}/v1/search", params=params)

    def stats(self) -> Request:
        return Request("GET", f"{self.base}/v1/stats")

    def compress(self, body: Mapping[str, Any]) -> Request:
        return Request(
            "POST",
            f"{self.base}/v1/compress",
            headers={"content-type": "application/json"},
            content=json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
        )

    def context_url(self, key: str) -> str:
        """The URL of ``key``, refusing keys the server would refuse (some,
        like ``..``, an HTTP client would silently rewrite instead)."""
        check_key(key)
        return f"{self.base}/v1/contexts/{segment(key)}"


def ttl_seconds(ttl: Ttl | None) -> int | None:
    """A TTL as whole seconds: an int of seconds or a timedelta."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
        if seconds != int(seconds):
            raise ValueError(f"a TTL is whole seconds, not {seconds}")
        ttl = int(seconds)
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise TypeError(f"ttl must be an int of seconds or a timedelta, not {type(ttl).__name__}")
    if ttl < 0:
        raise ValueError(f"a TTL cannot be negative ({ttl})")
    return ttl


def check_key(key: str) -> None:
    """Raises :class:`InvalidKey` for a key the server would refuse."""
    if not isinstance(key, str):
        raise TypeError(f"a key is a str, not {type(key).__name__}")
    if not key:
        raise InvalidKey("a key cannot be empty", code="invalid_key")
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"a key is at most {MAX_KEY_BYTES} bytes, not {size}", code="invalid_key")
    if key in (".", ".."):
        raise InvalidKey(f"{key!r} is reserved and cannot be a key", code="invalid_key")
    for at, char in enumerate(key):
        if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            raise InvalidKey(f"a key cannot hold control characters (one at {at})", code="invalid_key")


def segment(text: str) -> str:
    """``text`` percent-encoded as one path segment: everything but RFC 3986's
    unreserved characters is escaped, slashes included."""
    return quote(text, safe="")


def check(response: httpx.Response) -> None:
    """Raises the typed error an error answer stands for."""
    if response.is_success:
        return
    try:
        detail = response.json()["error"]
        code, message = detail["code"], detail["message"]
        if not isinstance(code, str) or not isinstance(message, str):
            raise TypeError("code and message are strings")
    except (ValueError, KeyError, TypeError):
        snippet = response.text[:200]
        raise ProtocolError(
            f"HTTP {response.status_code} without an error body: {snippet!r}",
            status=response.status_code,
        ) from None
    raise error_for(response.status_code, code, message)


def body_json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, after :func:`check`."""
    check(response)
    try:
        data = response.json()
    except ValueError as error:
        raise ProtocolError(f"unexpected response body: {error}", status=response.status_code) from error
    if not isinstance(data, dict):
        raise ProtocolError("unexpected response body: not a JSON object", status=response.status_code)
    return data


def compress_body(
    messages: Sequence[Mapping[str, Any]] | None,
    content: str | None,
    query: str | None,
    max_tokens: int | None,
    kind: str | None,
) -> dict[str, Any]:
    """The body of ``POST /v1/compress``."""
    if messages is not None:
        if isinstance(messages, (str, bytes)) or not all(isinstance(m, Mapping) for m in messages):
            raise TypeError("messages is a list of message dicts (OpenAI Chat or Anthropic shape)")
        return {"messages": [dict(message) for message in messages]}
    return {"content": content, "query": query, "max_tokens": max_tokens, "kind": kind}


def items(page: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``items`` of a list page."""
    found = page.get("items")
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        raise ProtocolError("unexpected response: a list page without items")
    return found


def next_cursor(page: Mapping[str, Any]) -> str | None:
    """The cursor of the next page, or ``None`` after the last."""
    cursor = page.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ProtocolError(f"unexpected response: next_cursor is {cursor!r}")
    return cursor
