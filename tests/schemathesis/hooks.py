"""Schemathesis hooks for scripts/test-schemathesis.sh: a check of the GraphQL
API's errors that stands in for two of Schemathesis's own.

GraphQL's types cannot state a value's limits (a non-empty key, `first`
1-1000, a `ccr:` reference, a known agent), so a query that is valid by type
is often refused by its resolver, as the server documents, with
`extensions.code` from ErrorCode. Schemathesis counts every such refusal as a
resolver failure (ST113, `not_a_server_error`) unless its code is one of
Apollo's or graphql-java's labels, and any refusal of a type-valid query as
rejected valid data (ST206, `positive_data_acceptance`); neither can tell a
refusal from a failure here. This check can, by the server's own codes:

- an answer with a 5xx status fails (what `not_a_server_error` checks of REST);
- an error that a resolver raised (it has a `path`) fails unless its
  `extensions.code` says the request was at fault (a bad value, a missing
  key or session): `internal`, `unavailable`, `storage_full`, an unknown code
  or none at all fail;
- a type-valid query (positive mode) that the server refuses before running
  it (an error without a `path`: it did not parse or validate) fails, as it
  would under `positive_data_acceptance`: the schema promised it was good.
"""

from __future__ import annotations

import json

import schemathesis

# Codes that mean the request was at fault, not the server.
CLIENT_CODES = frozenset(
    {
        "invalid_request",
        "invalid_key",
        "invalid_ref",
        "invalid_json",
        "unauthorized",
        "forbidden",
        "not_found",
        "expired",
        "payload_too_large",
        "rate_limited",
    }
)


def _is_graphql(case) -> bool:
    return type(case.operation.schema).__name__ == "GraphQLSchema"


@schemathesis.check
def cairn_graphql_errors(ctx, response, case):
    """GraphQL errors are the client's (by ErrorCode), and type-valid queries run."""
    if not _is_graphql(case):
        return None
    if response.status_code >= 500:
        raise AssertionError(f"Server error: status {response.status_code}")
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None  # response_schema_conformance reports a body that is not JSON
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors") or []
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    for error in errors:
        if not isinstance(error, dict):
            raise AssertionError(f"An error that is not an object: {error!r}")
        message = error.get("message")
        if "path" not in error:
            if positive:
                raise AssertionError(f"A type-valid query was refused before it ran: {message}")
            continue
        extensions = error.get("extensions")
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if code not in CLIENT_CODES:
            raise AssertionError(f"A resolver failed (extensions.code = {code!r}): {message}")
    return None
