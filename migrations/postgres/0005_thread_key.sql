-- A conversation's thread key (see migrations/sqlite/0005_thread_key.sql).
ALTER TABLE sessions ADD COLUMN thread_key TEXT COLLATE "C";

CREATE INDEX sessions_by_thread ON sessions (tenant, agent, thread_key)
    WHERE thread_key IS NOT NULL;
