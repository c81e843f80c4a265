-- Blobs whose default view a put left to the background renderer
-- (`view_engine = 0`): the renderer finds them here after a restart, so a
-- view pending at a crash is rendered all the same.
CREATE INDEX blobs_pending_view ON blobs (created_at) WHERE view_engine = 0;
