-- Imported agent sessions (Claude Code, Codex CLI, Gemini CLI) and their
-- messages. A message's `uid` is the record's own id (or a hash of its line)
-- so that importing a file again, or a grown copy of it, adds only what is
-- new. Tool outputs are stored as blobs (deduplicated like every original)
-- and the message points at them; other text is inline.

CREATE TABLE sessions (
    tenant      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    -- The session's real working directory.
    project     TEXT,
    title       TEXT,
    -- A subagent's parent session.
    parent      TEXT,
    started_at  INTEGER,
    updated_at  INTEGER,
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE messages (
    -- Increases with every insert: what the search indexer has reached.
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    -- Order within the session, from 0.
    position   INTEGER NOT NULL,
    uid        TEXT    NOT NULL,
    -- user, assistant, tool or system.
    role       TEXT    NOT NULL,
    tool       TEXT,
    call_id    TEXT,
    at         INTEGER,
    -- Injected content (system reminders, AGENTS.md, notices): 1.
    injected   INTEGER NOT NULL DEFAULT 0,
    -- The text, or NULL when it is the blob `hash`.
    text       TEXT,
    hash       TEXT    REFERENCES blobs (hash),
    FOREIGN KEY (tenant, session) REFERENCES sessions (tenant, id),
    UNIQUE (tenant, session, uid),
    UNIQUE (tenant, session, position)
);

CREATE INDEX messages_by_hash ON messages (hash) WHERE hash IS NOT NULL;
CREATE INDEX sessions_by_update ON sessions (tenant, updated_at);
