"""The asynchronous client, :class:`AsyncSharedContext`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from . import _core
from ._core import Request, Retry, Settings, Ttl
from .errors import BinaryContent, ConnectionFailed, Expired, NotFound, TransportError
from .types import (
    CompressResult,
    ContextSummary,
    ContextView,
    Deleted,
    PutReceipt,
    Retrieved,
    SearchResults,
    Stats,
)


class AsyncSharedContext:
    """:class:`~cairn.SharedContext` for asyncio: the same methods, awaited.

    A handle on a Cairn server's shared, compressed, reversible store.

    A drop-in for Headroom's ``SharedContext``: ``put(key, content,
    agent=...)``, ``get(key)`` and ``get(key, full=True)`` have Headroom's
    names, defaults and return types, and what is put outlives the process.

    Args:
        url: The server, such as ``http://127.0.0.1:8787``; else ``$CAIRN_URL``;
            else ``http://127.0.0.1:8787``.
        token: A bearer token (``cairn token issue``); else ``$CAIRN_TOKEN``.
        agent: Recorded on every put that names no agent.
        session: Recorded on every put that names no session.
        ttl: Time to live of every put that names none, in seconds or as a
            ``timedelta``; ``None`` keeps contexts until deleted (or as the
            server's default TTL says).
        timeout: Seconds a request may take (connecting takes at most 5).
        retry: How connection failures are retried (5 attempts by default).

    Use it as an ``async with`` context manager, or await :meth:`close`, to release its
    connections.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        agent: str | None = None,
        session: str | None = None,
        ttl: Ttl | None = None,
        timeout: float = 120.0,
        retry: Retry | None = None,
    ) -> None:
        self._settings = Settings.make(url, token, agent, session, ttl, timeout, retry)
        self._http = httpx.AsyncClient(
            headers=self._settings.headers(),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._settings.base

    async def close(self) -> None:
        """Closes the connections. The client cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSharedContext:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"AsyncSharedContext(url={self.url!r})"

    # Contexts ---------------------------------------------------------------

    async def put(
        self,
        key: str,
        content: str | bytes,
        *,
        agent: str | None = None,
        ttl: Ttl | None = None,
        session: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PutReceipt:
        """Stores ``content`` as the next version of ``key``.

        Args:
            key: 1-512 bytes of UTF-8 without control characters; slashes are fine.
            content: Text or bytes, stored byte for byte.
            agent: Who wrote it (default: the client's ``agent``).
            ttl: Seconds (or a ``timedelta``) until this version expires
                (default: the client's ``ttl``).
            session: The session it belongs to (default: the client's ``session``).
            metadata: A JSON object stored with the version (text content only).

        Returns:
            The receipt: hash, ``ref`` (``ccr:...``), version and token counts.
        """
        settings = self._settings
        agent = agent if agent is not None else settings.agent
        session = session if session is not None else settings.session
        request = settings.put(key, content, agent, session, ttl, metadata)
        data = _core.body_json(await self._send(request))
        return PutReceipt.from_json(data, original=content, agent=agent, timestamp=time.time())

    async def get(
        self,
        key: str,
        *,
        full: bool = False,
        query: str | None = None,
        max_tokens: int | None = None,
        version: int | None = None,
    ) -> str | None:
        """The compressed view of ``key`` as text, or with ``full=True`` the
        original; ``None`` when the key does not exist or has expired.

        Args:
            full: The original instead of the compressed view.
            query: Keep everything matching this in the compressed view.
            max_tokens: Cap the compressed view at this many tokens.
            version: An older version instead of the latest.

        Raises :class:`~cairn.BinaryContent` for a binary original (read it
        with :meth:`get_bytes`).
        """
        try:
            view = await self.get_view(key, full=full, query=query, max_tokens=max_tokens, version=version)
        except (NotFound, Expired):
            return None
        return view.text

    async def get_view(
        self,
        key: str,
        *,
        full: bool = False,
        query: str | None = None,
        max_tokens: int | None = None,
        version: int | None = None,
    ) -> ContextView:
        """The view of ``key`` with its facts (version, ref, tokens, markers,
        agent, ...). Raises :class:`~cairn.NotFound` or :class:`~cairn.Expired`."""
        request = self._settings.get(key, full, query, max_tokens, version)
        return ContextView.from_json(_core.body_json(await self._send(request)))

    async def get_bytes(self, key: str, *, version: int | None = None) -> bytes:
        """The original of ``key``, byte for byte (binary content included)."""
        response = await self._send(self._settings.get_bytes(key, version))
        _core.check(response)
        return response.content

    async def keys(self, prefix: str = "") -> list[str]:
        """Every live key starting with ``prefix``, in key order."""
        return [entry.key for entry in await self.entries(prefix)]

    async def entries(
        self,
        prefix: str = "",
        *,
        agent: str | None = None,
        session: str | None = None,
        page_size: int = 1000,
    ) -> list[ContextSummary]:
        """Every live key starting with ``prefix`` with its latest version,
        following the pages (``page_size`` keys a request, at most 1000);
        optionally only those whose latest version ``agent`` or ``session`` wrote."""
        found: list[ContextSummary] = []
        cursor: str | None = None
        while True:
            data = _core.body_json(
                await self._send(self._settings.list_page(prefix, agent, session, cursor, page_size))
            )
            found += [ContextSummary.from_json(item) for item in _core.items(data)]
            cursor = _core.next_cursor(data)
            if cursor is None:
                return found

    async def delete(self, key: str) -> Deleted:
        """Deletes every version of ``key``; :class:`~cairn.NotFound` if none."""
        return Deleted.from_json(_core.body_json(await self._send(self._settings.delete(key))))

    async def clear(self, prefix: str = "") -> int:
        """Deletes every live key starting with ``prefix`` (every key of the
        tenant when empty, as Headroom's ``clear()``); returns how many."""
        deleted = 0
        for key in await self.keys(prefix):
            try:
                await self.delete(key)
                deleted += 1
            except NotFound:
                pass  # deleted by someone else meanwhile: the outcome is the same
        return deleted

    # References -------------------------------------------------------------

    async def retrieve(self, ref: str) -> str:
        """The original a ``ccr:`` reference names, as text."""
        data = await self.retrieve_bytes(ref)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BinaryContent(f"{ref} names binary content; use retrieve_bytes()") from None

    async def retrieve_bytes(self, ref: str) -> bytes:
        """The original a ``ccr:`` reference names, byte for byte."""
        response = await self._send(self._settings.retrieve(ref, raw=True))
        _core.check(response)
        return response.content

    async def retrieve_lines(self, ref: str, start: int, end: int) -> Retrieved:
        """Lines ``start`` to ``end`` (1-based, inclusive) of the original, or
        those items of a JSON array: what a view's marker left out."""
        request = self._settings.retrieve(ref, lines=(start, end))
        return Retrieved.from_json(_core.body_json(await self._send(request)))

    async def retrieve_matching(self, ref: str, query: str) -> Retrieved:
        """The lines (or JSON array items) of the original matching ``query``."""
        request = self._settings.retrieve(ref, query=query)
        return Retrieved.from_json(_core.body_json(await self._send(request)))

    # Search, stats, compression --------------------------------------------

    async def search(
        self,
        query: str,
        *,
        agent: str | None = None,
        project: str | None = None,
        session: str | None = None,
        kind: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> SearchResults:
        """Searches contexts and imported sessions (BM25 with a recency boost).

        ``query`` takes words, ``"phrases"``, ``field:value`` and
        ``AND``/``OR``/``-word``; ``kind`` is ``"context"`` or ``"message"``;
        ``since`` (inclusive) and ``until`` (exclusive) are RFC 3339 times.
        """
        filters = {
            "agent": agent,
            "project": project,
            "session": session,
            "kind": kind,
            "since": since,
            "until": until,
            "limit": limit,
        }
        return SearchResults.from_json(
            _core.body_json(await self._send(self._settings.search(query, filters)))
        )

    async def stats(self) -> Stats:
        """Counts, bytes and tokens saved, for this tenant."""
        return Stats.from_json(_core.body_json(await self._send(self._settings.stats())))

    async def compress(self, messages: Sequence[Mapping[str, Any]]) -> CompressResult:
        """Compresses the tool results of a conversation (OpenAI Chat or
        Anthropic Messages shape), each for the user turn before it; the rest
        is left as it is. Every cut's original is kept, so its marker's ref
        resolves with :meth:`retrieve`."""
        body = _core.compress_body(messages, None, None, None, None)
        return CompressResult.from_json(_core.body_json(await self._send(self._settings.compress(body))))

    async def compress_text(
        self,
        content: str,
        *,
        query: str | None = None,
        max_tokens: int | None = None,
        kind: str | None = None,
    ) -> CompressResult:
        """Compresses one text without storing it under a key.

        ``kind`` names what it is (``json_rows``, ``log``, ``code``, ...;
        detected when absent)."""
        body = _core.compress_body(None, content, query, max_tokens, kind)
        return CompressResult.from_json(_core.body_json(await self._send(self._settings.compress(body))))

    # Sending ----------------------------------------------------------------

    async def _send(self, request: Request) -> httpx.Response:
        """Sends ``request``, retrying connection failures with backoff."""
        waits = self._settings.retry.backoffs()
        while True:
            try:
                return await self._http.request(
                    request.method,
                    request.url,
                    params=request.query(),
                    headers=request.header_pairs(),
                    content=request.content,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                if not waits:
                    raise ConnectionFailed(f"cannot reach the Cairn server at {self.url}: {error}") from error
                await asyncio.sleep(waits.pop(0))
            except httpx.HTTPError as error:
                raise TransportError(f"{request.method} {request.url} failed: {error!r}") from error
