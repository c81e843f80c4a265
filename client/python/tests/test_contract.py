"""The SDK's records and error table are the server's contract
(``schema/openapi.json``): each record has exactly the fields of its schema
(plus Headroom's, named here), and every error code has its exception."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import servers

import cairn
from cairn import errors, types

SCHEMAS = json.loads((servers.REPO / "schema" / "openapi.json").read_text())["components"]["schemas"]

# Record → its schema, and the fields it carries beyond the schema (Headroom's).
RECORDS: dict[type[Any], tuple[str, set[str]]] = {
    types.Marker: ("Marker", set()),
    types.PutReceipt: ("PutReceipt", {"original", "agent", "timestamp"}),
    types.ContextView: ("ContextView", set()),
    types.ContextSummary: ("ContextSummary", set()),
    types.Deleted: ("Deleted", set()),
    types.Match: ("Match", set()),
    types.Retrieved: ("Retrieved", set()),
    types.SearchHit: ("SearchHit", set()),
    types.SearchResults: ("SearchResults", set()),
    types.ProxyStats: ("ProxyStats", set()),
    types.Stats: ("Stats", set()),
    types.CompressResult: ("CompressResponse", set()),
}


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.__name__)
def test_each_record_has_its_schemas_fields(record: type[Any]) -> None:
    schema, headroom = RECORDS[record]
    fields = {field.name for field in dataclasses.fields(record)}
    properties = set(SCHEMAS[schema]["properties"])
    assert fields - headroom == properties, f"{record.__name__} vs {schema}"


def test_every_record_of_the_package_is_checked() -> None:
    records = {
        value for value in vars(types).values() if dataclasses.is_dataclass(value) and isinstance(value, type)
    }
    assert records == set(RECORDS)


@pytest.mark.parametrize("code", SCHEMAS["ErrorCode"]["enum"])
def test_every_error_code_has_its_exception(code: str) -> None:
    error = errors.error_for(500 if code not in ("internal", "unknown") else 418, code, "m")
    assert type(error) is errors._BY_CODE[code]
    assert type(error) is not cairn.CairnError
    assert error.code == code


def test_the_table_names_no_code_the_server_lacks() -> None:
    assert set(errors._BY_CODE) == set(SCHEMAS["ErrorCode"]["enum"])
