-- Cairn's first schema (SQLite).
--
-- Every table that a tenant can see carries its tenant. `blobs` is the one
-- exception by design: it is the deduplication layer, holding each distinct
-- original once however many tenants reference it. No query reads `blobs`
-- except through `tenant_blobs`, so a tenant never learns what another stored.
--
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE blobs (
    -- BLAKE3 of the exact original bytes, 64 lowercase hex digits.
    hash              TEXT    PRIMARY KEY NOT NULL,
    -- Size of the original in bytes.
    bytes_original    INTEGER NOT NULL,
    -- Size of `data` in bytes.
    bytes_stored      INTEGER NOT NULL,
    -- How `data` is encoded: 'zstd' or 'identity'.
    encoding          TEXT    NOT NULL,
    -- Media type sniffed from the bytes.
    content_type      TEXT    NOT NULL,
    -- o200k_base tokens of the original and of its default compressed view.
    tokens_original   INTEGER NOT NULL,
    tokens_compressed INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    data              BLOB    NOT NULL,
    -- The default compressed view, computed at put: a cache (views are
    -- deterministic), valid while `view_engine` is the engine's version.
    -- `view_data` is NULL when the view is the original itself.
    view_engine       INTEGER NOT NULL DEFAULT 0,
    view_encoding     TEXT,
    view_data         BLOB,
    -- The view's markers, a JSON array.
    view_markers      TEXT
);

-- Which tenant references which blob. Retrieval by `ccr:` reference and
-- per-tenant stats go through this table only.
CREATE TABLE tenant_blobs (
    tenant     TEXT    NOT NULL,
    hash       TEXT    NOT NULL REFERENCES blobs (hash),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;

-- Every version of every key. A put to an existing key adds version N+1;
-- older versions stay readable until deleted or expired and collected.
CREATE TABLE contexts (
    tenant     TEXT    NOT NULL DEFAULT 'local',
    key        TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    hash       TEXT    NOT NULL REFERENCES blobs (hash),
    agent      TEXT,
    session    TEXT,
    -- JSON object, or NULL.
    metadata   TEXT,
    created_at INTEGER NOT NULL,
    -- NULL: keep forever.
    expires_at INTEGER,
    PRIMARY KEY (tenant, key, version)
);

-- The highest version each key ever had: version numbers are never reused,
-- not after a delete and not after gc, so a version a client holds always
-- means the same bytes.
CREATE TABLE key_versions (
    tenant       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    last_version INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

-- Originals kept because a compressed view points at them rather than a key:
-- `POST /v1/compress` (and later the proxy) store the original of every cut
-- here, for a while.
CREATE TABLE retained_blobs (
    tenant     TEXT    NOT NULL,
    hash       TEXT    NOT NULL REFERENCES blobs (hash),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;

CREATE INDEX retained_blobs_by_expiry ON retained_blobs (expires_at);
CREATE INDEX contexts_by_hash ON contexts (hash);
CREATE INDEX contexts_by_expiry ON contexts (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX tenant_blobs_by_hash ON tenant_blobs (hash);

