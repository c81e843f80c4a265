-- Cairn's first schema (PostgreSQL), the same tables as migrations/sqlite.
--
-- Every table that a tenant can see carries its tenant. `blobs` is the one
-- exception by design: it is the deduplication layer, holding each distinct
-- original once however many tenants reference it. No query reads `blobs`
-- except through `tenant_blobs`, so a tenant never learns what another stored.
--
-- Times are milliseconds since the Unix epoch (UTC). Keys, ids and hashes
-- compare byte by byte (COLLATE "C"), as in SQLite, whatever the database's
-- locale: listing order and cursors must not depend on it.

CREATE TABLE blobs (
    -- BLAKE3 of the exact original bytes, 64 lowercase hex digits.
    hash              TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    bytes_original    BIGINT  NOT NULL,
    bytes_stored      BIGINT  NOT NULL,
    -- How `data` is encoded: 'zstd' or 'identity'.
    encoding          TEXT    NOT NULL,
    content_type      TEXT    NOT NULL,
    tokens_original   BIGINT  NOT NULL,
    tokens_compressed BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    data              BYTEA   NOT NULL,
    -- The default compressed view (see migrations/sqlite/0001_init.sql).
    view_engine       BIGINT  NOT NULL DEFAULT 0,
    view_encoding     TEXT,
    view_data         BYTEA,
    view_markers      TEXT
);

CREATE TABLE tenant_blobs (
    tenant     TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL REFERENCES blobs (hash),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, hash)
);

CREATE TABLE contexts (
    tenant     TEXT COLLATE "C" NOT NULL DEFAULT 'local',
    key        TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL REFERENCES blobs (hash),
    agent      TEXT,
    session    TEXT,
    metadata   TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (tenant, key, version)
);

-- The highest version each key ever had. Its row is also the lock that
-- numbers concurrent puts to one key, from any node: a put raises
-- `last_version` in its transaction, so two puts never get one number and a
-- rolled-back put leaves no gap.
CREATE TABLE key_versions (
    tenant       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    last_version BIGINT NOT NULL,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE retained_blobs (
    tenant     TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL REFERENCES blobs (hash),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, hash)
);

CREATE INDEX retained_blobs_by_expiry ON retained_blobs (expires_at);
CREATE INDEX contexts_by_hash ON contexts (hash);
CREATE INDEX contexts_by_expiry ON contexts (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX tenant_blobs_by_hash ON tenant_blobs (hash);
