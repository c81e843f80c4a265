-- Imported agent sessions and their messages (see migrations/sqlite/0002_sessions.sql).

CREATE TABLE sessions (
    tenant      TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    agent       TEXT    NOT NULL,
    project     TEXT,
    title       TEXT,
    parent      TEXT,
    started_at  BIGINT,
    updated_at  BIGINT,
    imported_at BIGINT  NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE messages (
    -- Increases with every insert: what the search indexer has reached.
    -- Numbers are drawn under the feed lock (see 0003), so they become
    -- visible in order and an indexer never passes one still to commit.
    seq        BIGSERIAL PRIMARY KEY,
    tenant     TEXT COLLATE "C" NOT NULL,
    session    TEXT COLLATE "C" NOT NULL,
    position   BIGINT  NOT NULL,
    uid        TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    tool       TEXT,
    call_id    TEXT,
    at         BIGINT,
    injected   BIGINT  NOT NULL DEFAULT 0,
    text       TEXT,
    hash       TEXT COLLATE "C" REFERENCES blobs (hash),
    FOREIGN KEY (tenant, session) REFERENCES sessions (tenant, id),
    UNIQUE (tenant, session, uid),
    UNIQUE (tenant, session, position)
);

CREATE INDEX messages_by_hash ON messages (hash) WHERE hash IS NOT NULL;
CREATE INDEX sessions_by_update ON sessions (tenant, updated_at);
