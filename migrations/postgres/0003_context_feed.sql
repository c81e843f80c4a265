-- The append-only feed of context versions that every node's search index
-- follows (see migrations/sqlite/0003_context_feed.sql).
--
-- Unlike SQLite, PostgreSQL commits concurrent transactions in any order, so
-- a sequence alone could let a reader see number 11 before 10 commits and
-- pass 10 for good. Every transaction that appends to this feed or to
-- `messages` therefore draws its numbers while holding one transaction-scoped
-- advisory lock (the store's FEED_LOCK), taken last, just before commit:
-- numbers become visible in order. The store writes the feed rows itself
-- (no trigger), and sends NOTIFY cairn_feed in the same transaction.
CREATE TABLE context_feed (
    seq     BIGSERIAL PRIMARY KEY,
    tenant  TEXT COLLATE "C" NOT NULL,
    key     TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL
);

INSERT INTO context_feed (tenant, key, version)
SELECT tenant, key, version FROM contexts ORDER BY created_at, tenant, key, version;
