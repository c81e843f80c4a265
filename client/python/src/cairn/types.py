"""What the Cairn server answers, as typed, immutable records.

Field names follow the REST API (``schema/openapi.json``); the only renaming is
``ref`` for the JSON ``"ref"`` field, which Python allows as is. Records that
Headroom's ``SharedContext`` also returns carry Headroom's attribute names as
well (``original_tokens``, ``savings_percent``, ``entries``, ...), so code
written against Headroom keeps working.
"""

from __future__ import annotations

import base64
import binascii
import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BinaryContent, ProtocolError

JSON = Mapping[str, Any]


def _field(data: JSON, name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """``data[name]``, checked to be of ``kind`` (or ``None`` when optional)."""
    value = data.get(name)
    if value is None and optional:
        return None
    # bool is an int in Python; a count that arrives as true is still wrong.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"unexpected response: field {name!r} is {value!r}")
    return value


def _savings_percent(original: int, compressed: int) -> float:
    if original == 0:
        return 0.0
    return round((1 - compressed / original) * 100, 1)


@dataclass(frozen=True)
class Marker:
    """One cut in a compressed view: what it left out and where the original is."""

    ref: str
    summary: str

    @classmethod
    def from_json(cls, data: JSON) -> Marker:
        return cls(ref=_field(data, "ref", str), summary=_field(data, "summary", str))


def _markers(data: JSON) -> list[Marker]:
    return [Marker.from_json(item) for item in _field(data, "markers", list)]


@dataclass(frozen=True)
class PutReceipt:
    """What :meth:`SharedContext.put` returns.

    Besides Cairn's receipt it carries Headroom's ``ContextEntry`` attributes
    ``original``, ``original_tokens``, ``compressed_tokens``, ``agent``,
    ``timestamp`` and ``savings_percent``.
    """

    key: str
    hash: str
    ref: str
    version: int
    bytes: int
    tokens_original: int
    tokens_compressed: int
    content_type: str
    deduplicated: bool
    expires_at: str | None
    original: str | builtins.bytes = field(repr=False)
    """The content as it was put."""
    agent: str | None
    """The agent the put named (the client's agent unless the put named another).
    On a server with auth the token's subject is recorded instead; ``get_view``
    tells what was recorded."""
    timestamp: float
    """When the receipt arrived, as ``time.time()``."""
    view_pending: bool = False
    """Whether the server, busy, left the default view to render after the put:
    ``tokens_compressed`` equals ``tokens_original`` until it is rendered."""

    @classmethod
    def from_json(
        cls, data: JSON, *, original: str | builtins.bytes, agent: str | None, timestamp: float
    ) -> PutReceipt:
        return cls(
            key=_field(data, "key", str),
            hash=_field(data, "hash", str),
            ref=_field(data, "ref", str),
            version=_field(data, "version", int),
            bytes=_field(data, "bytes", int),
            tokens_original=_field(data, "tokens_original", int),
            tokens_compressed=_field(data, "tokens_compressed", int),
            content_type=_field(data, "content_type", str),
            deduplicated=_field(data, "deduplicated", bool),
            expires_at=_field(data, "expires_at", str, optional=True),
            original=original,
            agent=agent,
            timestamp=timestamp,
            view_pending=bool(_field(data, "view_pending", bool, optional=True)),
        )

    @property
    def original_tokens(self) -> int:
        """Headroom's name for ``tokens_original``."""
        return self.tokens_original

    @property
    def compressed_tokens(self) -> int:
        """Headroom's name for ``tokens_compressed``."""
        return self.tokens_compressed

    @property
    def savings_percent(self) -> float:
        """The share of tokens the compressed view saves, in percent, one decimal."""
        return _savings_percent(self.tokens_original, self.tokens_compressed)


@dataclass(frozen=True)
class ContextView:
    """A view of one version of a context (``GET /v1/contexts/{key}``)."""

    key: str
    hash: str
    ref: str
    version: int
    view: str
    """``"compressed"`` or ``"full"``."""
    content: str
    """The view; base64 when ``encoding`` is ``"base64"`` (binary originals)."""
    encoding: str
    tokens: int
    tokens_original: int
    markers: list[Marker]
    bytes: int
    content_type: str
    agent: str | None
    session: str | None
    metadata: dict[str, Any] | None
    created_at: str
    expires_at: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ContextView:
        return cls(
            key=_field(data, "key", str),
            hash=_field(data, "hash", str),
            ref=_field(data, "ref", str),
            version=_field(data, "version", int),
            view=_field(data, "view", str),
            content=_field(data, "content", str),
            encoding=_field(data, "encoding", str, optional=True) or "utf8",
            tokens=_field(data, "tokens", int),
            tokens_original=_field(data, "tokens_original", int),
            markers=_markers(data),
            bytes=_field(data, "bytes", int),
            content_type=_field(data, "content_type", str),
            agent=_field(data, "agent", str, optional=True),
            session=_field(data, "session", str, optional=True),
            metadata=_field(data, "metadata", dict, optional=True),
            created_at=_field(data, "created_at", str),
            expires_at=_field(data, "expires_at", str, optional=True),
        )

    @property
    def data(self) -> builtins.bytes:
        """The view's bytes (base64 decoded for binary content)."""
        if self.encoding == "base64":
            try:
                return base64.b64decode(self.content, validate=True)
            except binascii.Error as error:
                raise ProtocolError(f"unexpected response: bad base64 content ({error})") from error
        return self.content.encode("utf-8")

    @property
    def text(self) -> str:
        """The view as text; :class:`BinaryContent` for a binary original."""
        if self.encoding == "base64":
            raise BinaryContent(
                f"{self.key!r} version {self.version} is binary ({self.content_type}); "
                "read it with get_bytes()"
            )
        return self.content


@dataclass(frozen=True)
class ContextSummary:
    """One live key and its latest version (``GET /v1/contexts``)."""

    key: str
    version: int
    hash: str
    ref: str
    bytes: int
    tokens_original: int
    tokens_compressed: int
    content_type: str
    agent: str | None
    session: str | None
    created_at: str
    expires_at: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ContextSummary:
        return cls(
            key=_field(data, "key", str),
            version=_field(data, "version", int),
            hash=_field(data, "hash", str),
            ref=_field(data, "ref", str),
            bytes=_field(data, "bytes", int),
            tokens_original=_field(data, "tokens_original", int),
            tokens_compressed=_field(data, "tokens_compressed", int),
            content_type=_field(data, "content_type", str),
            agent=_field(data, "agent", str, optional=True),
            session=_field(data, "session", str, optional=True),
            created_at=_field(data, "created_at", str),
            expires_at=_field(data, "expires_at", str, optional=True),
        )


@dataclass(frozen=True)
class Deleted:
    """What :meth:`SharedContext.delete` returns."""

    key: str
    versions: int
    """How many versions were deleted."""

    @classmethod
    def from_json(cls, data: JSON) -> Deleted:
        return cls(key=_field(data, "key", str), versions=_field(data, "versions", int))


@dataclass(frozen=True)
class Match:
    """A line (or JSON array item) of an original that matched a query."""

    position: int
    text: str

    @classmethod
    def from_json(cls, data: JSON) -> Match:
        return cls(position=_field(data, "position", int), text=_field(data, "text", str))


@dataclass(frozen=True)
class Retrieved:
    """An original by reference, or the part of it a selection picked."""

    ref: str
    hash: str
    bytes: int
    content_type: str
    tokens: int
    content: str
    encoding: str
    selection: str | None
    total: int | None
    matches: list[Match] | None

    @classmethod
    def from_json(cls, data: JSON) -> Retrieved:
        matches = _field(data, "matches", list, optional=True)
        return cls(
            ref=_field(data, "ref", str),
            hash=_field(data, "hash", str),
            bytes=_field(data, "bytes", int),
            content_type=_field(data, "content_type", str),
            tokens=_field(data, "tokens", int),
            content=_field(data, "content", str),
            encoding=_field(data, "encoding", str, optional=True) or "utf8",
            selection=_field(data, "selection", str, optional=True),
            total=_field(data, "total", int, optional=True),
            matches=None if matches is None else [Match.from_json(item) for item in matches],
        )


@dataclass(frozen=True)
class SearchHit:
    """One search result: a session message or a context."""

    kind: str
    """``"message"`` or ``"context"``."""
    ref: str
    at: str
    score: float
    snippet: str
    """Around the best match, matches in ``**``."""
    key: str | None
    agent: str | None
    project: str | None
    session: str | None
    role: str | None
    tool: str | None
    position: int | None
    keys: list[str] = field(default_factory=list)
    """Every key that holds this same content, ``key`` first, when more than one does:
    identical contexts are one hit."""

    @classmethod
    def from_json(cls, data: JSON) -> SearchHit:
        return cls(
            kind=_field(data, "kind", str),
            ref=_field(data, "ref", str),
            at=_field(data, "at", str),
            score=float(_field(data, "score", (int, float))),
            snippet=_field(data, "snippet", str),
            key=_field(data, "key", str, optional=True),
            agent=_field(data, "agent", str, optional=True),
            project=_field(data, "project", str, optional=True),
            session=_field(data, "session", str, optional=True),
            role=_field(data, "role", str, optional=True),
            tool=_field(data, "tool", str, optional=True),
            position=_field(data, "position", int, optional=True),
            keys=[str(key) for key in _field(data, "keys", list, optional=True) or []],
        )


@dataclass(frozen=True)
class SearchResults:
    """What :meth:`SharedContext.search` returns."""

    total: int
    """Every match, before the limit."""
    hits: list[SearchHit]

    @classmethod
    def from_json(cls, data: JSON) -> SearchResults:
        return cls(
            total=_field(data, "total", int),
            hits=[SearchHit.from_json(item) for item in _field(data, "hits", list)],
        )


@dataclass(frozen=True)
class ProxyStats:
    """What the LLM proxy forwarded for this tenant since the server started."""

    requests: int
    tokens_original: int
    """Tokens of those requests as the clients sent them."""
    tokens_sent: int
    """Tokens of those requests as sent upstream."""
    tokens_saved: int

    @classmethod
    def from_json(cls, data: JSON) -> ProxyStats:
        return cls(
            requests=_field(data, "requests", int),
            tokens_original=_field(data, "tokens_original", int),
            tokens_sent=_field(data, "tokens_sent", int),
            tokens_saved=_field(data, "tokens_saved", int),
        )


@dataclass(frozen=True)
class Stats:
    """What this tenant has stored and what compression saved.

    Also answers to Headroom's ``SharedContextStats`` names: ``entries``,
    ``total_original_tokens``, ``total_compressed_tokens``,
    ``total_tokens_saved`` and ``savings_percent``.
    """

    contexts: int
    versions: int
    blobs: int
    bytes_original: int
    bytes_unique: int
    bytes_stored: int
    dedup_ratio: float
    tokens_original: int
    tokens_compressed: int
    tokens_saved: int
    proxy: ProxyStats
    """What the LLM proxy saved since the server started."""
    views_pending: int = 0
    """Originals whose default view is still being rendered."""

    @classmethod
    def from_json(cls, data: JSON) -> Stats:
        proxy = data.get("proxy")
        return cls(
            contexts=_field(data, "contexts", int),
            versions=_field(data, "versions", int),
            blobs=_field(data, "blobs", int),
            bytes_original=_field(data, "bytes_original", int),
            bytes_unique=_field(data, "bytes_unique", int),
            bytes_stored=_field(data, "bytes_stored", int),
            dedup_ratio=float(_field(data, "dedup_ratio", (int, float))),
            tokens_original=_field(data, "tokens_original", int),
            tokens_compressed=_field(data, "tokens_compressed", int),
            tokens_saved=_field(data, "tokens_saved", int),
            proxy=ProxyStats.from_json(proxy) if isinstance(proxy, Mapping) else ProxyStats(0, 0, 0, 0),
            views_pending=_field(data, "views_pending", int, optional=True) or 0,
        )

    @property
    def entries(self) -> int:
        """Headroom's name for ``contexts``."""
        return self.contexts

    @property
    def total_original_tokens(self) -> int:
        return self.tokens_original

    @property
    def total_compressed_tokens(self) -> int:
        return self.tokens_compressed

    @property
    def total_tokens_saved(self) -> int:
        return self.tokens_saved

    @property
    def savings_percent(self) -> float:
        return _savings_percent(self.tokens_original, self.tokens_compressed)


@dataclass(frozen=True)
class CompressResult:
    """What :meth:`SharedContext.compress` and :meth:`SharedContext.compress_text` return."""

    tokens_before: int
    tokens_after: int
    markers: list[Marker]
    messages: list[dict[str, Any]] | None
    """The messages with their tool results compressed (``compress``)."""
    content: str | None
    """The compressed text (``compress_text``)."""
    kind: str | None
    """What the text was taken for (``compress_text``)."""
    ref: str | None
    """The ``ccr:`` reference of the original text (``compress_text``)."""

    @classmethod
    def from_json(cls, data: JSON) -> CompressResult:
        return cls(
            tokens_before=_field(data, "tokens_before", int),
            tokens_after=_field(data, "tokens_after", int),
            markers=_markers(data),
            messages=_field(data, "messages", list, optional=True),
            content=_field(data, "content", str, optional=True),
            kind=_field(data, "kind", str, optional=True),
            ref=_field(data, "ref", str, optional=True),
        )
