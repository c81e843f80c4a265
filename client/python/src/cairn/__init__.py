"""Cairn's Python SDK: a shared, compressed, reversible memory for AI agents.

    from cairn import SharedContext

    ctx = SharedContext()                     # $CAIRN_URL, else http://127.0.0.1:8787
    ctx.put("research", big_tool_output)      # stored, compressed, versioned
    ctx.get("research")                       # the compressed view
    ctx.get("research", full=True)            # the original, byte for byte

``from cairn import SharedContext`` replaces ``from headroom import
SharedContext``: ``put``, ``get`` and ``get(key, full=True)`` keep Headroom's
names, defaults and return types, and the contexts live in the server, shared
by every process and agent that reaches it.
"""

from ._core import DEFAULT_URL, Retry
from .aio import AsyncSharedContext
from .client import SharedContext
from .errors import (
    BinaryContent,
    CairnError,
    ConnectionFailed,
    Expired,
    Forbidden,
    InvalidKey,
    InvalidRef,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    RateLimited,
    ServerError,
    StorageFull,
    TransportError,
    Unauthorized,
    Unavailable,
)
from .types import (
    CompressResult,
    ContextSummary,
    ContextView,
    Deleted,
    Marker,
    Match,
    ProxyStats,
    PutReceipt,
    Retrieved,
    SearchHit,
    SearchResults,
    Stats,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "AsyncSharedContext",
    "BinaryContent",
    "CairnError",
    "CompressResult",
    "ConnectionFailed",
    "ContextSummary",
    "ContextView",
    "Deleted",
    "Expired",
    "Forbidden",
    "InvalidKey",
    "InvalidRef",
    "InvalidRequest",
    "Marker",
    "Match",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "ProxyStats",
    "PutReceipt",
    "RateLimited",
    "Retrieved",
    "Retry",
    "SearchHit",
    "SearchResults",
    "ServerError",
    "SharedContext",
    "Stats",
    "StorageFull",
    "TransportError",
    "Unauthorized",
    "Unavailable",
]
