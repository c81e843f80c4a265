-- An append-only feed of context versions, numbered by AUTOINCREMENT so that a
-- number is never used twice. The search indexer follows it. (It followed the
-- rowid of `contexts`, which SQLite hands out again after the newest rows are
-- deleted: contexts put after such a delete were never indexed.)
CREATE TABLE context_feed (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant  TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    version INTEGER NOT NULL
);

INSERT INTO context_feed (tenant, key, version)
SELECT tenant, key, version FROM contexts ORDER BY rowid;

CREATE TRIGGER contexts_into_feed AFTER INSERT ON contexts
BEGIN
    INSERT INTO context_feed (tenant, key, version)
    VALUES (NEW.tenant, NEW.key, NEW.version);
END;
