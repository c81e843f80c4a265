-- A conversation's thread key (its agent and first real prompt, hashed):
-- among the sessions that began alike, the proxy's copy of a conversation
-- and the copy imported from the agent's own file find each other (by the
-- model's answers) when they carry different session ids (Gemini CLI sends
-- none on the wire).
ALTER TABLE sessions ADD COLUMN thread_key TEXT;

CREATE INDEX sessions_by_thread ON sessions (tenant, agent, thread_key)
    WHERE thread_key IS NOT NULL;
