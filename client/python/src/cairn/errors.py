"""The errors the Cairn client raises.

Every failure is a :class:`CairnError`. When the server answered with an
error, ``code`` is its catalogue code (``not_found``, ``expired``, ...) and
``status`` the HTTP status; errors found before anything was sent (a bad key,
a bad URL) or on the way (the server cannot be reached) carry what applies.
"""

from __future__ import annotations


class CairnError(Exception):
    """Base class of every error this package raises.

    Attributes:
        message: What went wrong, in words.
        code: The server's error code (``"not_found"``, ...), or the code the
            server would have answered with for errors caught before sending
            (``"invalid_key"``); ``None`` when no code applies.
        status: The HTTP status of the server's answer, when there was one.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        details = [part for part in (self.code, f"HTTP {self.status}" if self.status else None) if part]
        return f"{self.message} ({', '.join(details)})" if details else self.message


class InvalidRequest(CairnError):
    """The server refused the request as malformed (HTTP 400, 405, 415)."""


class InvalidKey(InvalidRequest):
    """A key the server refuses: empty, over 512 bytes, ``.``/``..``, or with
    control characters. Raised before sending when the client can tell."""


class InvalidRef(InvalidRequest):
    """A ``ccr:`` reference that is not well formed."""


class Unauthorized(CairnError):
    """No token, or a token the server does not accept (HTTP 401)."""


class Forbidden(CairnError):
    """The token lacks the scope the call needs (HTTP 403)."""


class NotFound(CairnError):
    """No such key, version or reference (HTTP 404)."""


class Expired(CairnError):
    """The version's TTL has passed (HTTP 410)."""


class PayloadTooLarge(CairnError):
    """The body is over the server's limit (HTTP 413)."""


class RateLimited(CairnError):
    """Too many failed authentications from this address (HTTP 429); the
    server answers nothing from it until its budget refills."""


class StorageFull(CairnError):
    """The server's storage is full; nothing was written (HTTP 507)."""


class Unavailable(CairnError):
    """The server cannot serve the request now (HTTP 503)."""


class ServerError(CairnError):
    """The server failed (HTTP 500), or answered an error this client does not know."""


class ConnectionFailed(CairnError):
    """The server could not be reached, after retrying. Nothing was sent."""


class TransportError(CairnError):
    """The request failed on the way (a timeout, a reset connection): the
    server may or may not have acted on it."""


class ProtocolError(CairnError):
    """The server answered something this client does not understand."""


class BinaryContent(CairnError):
    """The content is not UTF-8 text; read it as bytes instead
    (``get_bytes`` or ``retrieve_bytes``)."""


_BY_CODE: dict[str, type[CairnError]] = {
    "invalid_request": InvalidRequest,
    "invalid_json": InvalidRequest,
    "method_not_allowed": InvalidRequest,
    "unsupported_media_type": InvalidRequest,
    "invalid_key": InvalidKey,
    "invalid_ref": InvalidRef,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "expired": Expired,
    "payload_too_large": PayloadTooLarge,
    "rate_limited": RateLimited,
    "storage_full": StorageFull,
    "unavailable": Unavailable,
    "internal": ServerError,
    "unknown": ServerError,
}

_BY_STATUS: dict[int, type[CairnError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: InvalidRequest,
    410: Expired,
    413: PayloadTooLarge,
    415: InvalidRequest,
    429: RateLimited,
    503: Unavailable,
    507: StorageFull,
}


def error_for(status: int, code: str | None, message: str) -> CairnError:
    """The typed error for an error answer: by its code, else by its status."""
    cls = (
        _BY_CODE.get(code or "")
        or _BY_STATUS.get(status)
        or (InvalidRequest if 400 <= status < 500 else ServerError)
    )
    return cls(message, code=code, status=status)
