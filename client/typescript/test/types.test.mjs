// The SDK's wire types are the server's contract: src/wire.ts is what
// scripts/generate-types.mjs makes of schema/openapi.json, and every error
// code of the contract has its class.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import * as sdk from "cairn-sdk";

import { PACKAGE, REPO } from "./support.mjs";

test("src/wire.ts is up to date with schema/openapi.json", () => {
  const done = spawnSync(process.execPath, [join(PACKAGE, "scripts", "generate-types.mjs"), "--check"], {
    encoding: "utf8",
  });
  assert.equal(done.status, 0, done.stderr);
});

test("every error code of the contract has a class, and every status too", () => {
  const api = JSON.parse(readFileSync(join(REPO, "schema", "openapi.json"), "utf8"));
  // Each code's class, as docs/sdk-typescript.md tables them; asked with a
  // status that would map elsewhere, so the code alone decides.
  const classes = {
    invalid_request: sdk.InvalidRequest,
    invalid_json: sdk.InvalidRequest,
    method_not_allowed: sdk.InvalidRequest,
    unsupported_media_type: sdk.InvalidRequest,
    invalid_key: sdk.InvalidKey,
    invalid_ref: sdk.InvalidRef,
    unauthorized: sdk.Unauthorized,
    forbidden: sdk.Forbidden,
    not_found: sdk.NotFound,
    expired: sdk.Expired,
    payload_too_large: sdk.PayloadTooLarge,
    rate_limited: sdk.RateLimited,
    unavailable: sdk.Unavailable,
    storage_full: sdk.StorageFull,
    internal: sdk.ServerError,
    unknown: sdk.ServerError,
  };
  assert.deepEqual(Object.keys(classes).sort(), [...api.components.schemas.ErrorCode.enum].sort());
  for (const [code, cls] of Object.entries(classes)) {
    const error = sdk.errorFor(cls === sdk.ServerError ? 418 : 500, code, "m");
    assert.equal(error.constructor, cls, code);
    assert.equal(error.code, code);
  }
  const statuses = new Set();
  for (const operations of Object.values(api.paths)) {
    for (const operation of Object.values(operations)) {
      for (const status of Object.keys(operation.responses)) if (Number(status) >= 400) statuses.add(Number(status));
    }
  }
  for (const status of statuses) {
    const error = sdk.errorFor(status, undefined, "m");
    assert.ok(error instanceof sdk.CairnError && error.constructor !== sdk.CairnError, `${status}`);
  }
});
