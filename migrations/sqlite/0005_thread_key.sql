-- A conversation's thread key (its agent's first real prompt and the model's
-- first answer, hashed): what joins the proxy's copy of a conversation with
-- the copy imported from the agent's own file when they carry different
-- session ids (Gemini CLI sends none on the wire).
ALTER TABLE sessions ADD COLUMN thread_key TEXT;

CREATE INDEX sessions_by_thread ON sessions (tenant, agent, thread_key)
    WHERE thread_key IS NOT NULL;
