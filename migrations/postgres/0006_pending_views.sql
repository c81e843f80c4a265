-- Blobs whose default view is pending (see migrations/sqlite/0006_pending_views.sql).
CREATE INDEX blobs_pending_view ON blobs (created_at) WHERE view_engine = 0;
