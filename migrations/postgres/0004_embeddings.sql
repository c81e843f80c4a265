-- Sentence embeddings of messages and contexts (local ML, SPEC §7), written by
-- the background embedder, never on the put path; the same tables as SQLite's
-- 0004. `doc` is the search document's id; `model` the embedder's identity
-- (name and model-file hash), so vectors of another model are never compared.
-- `vector` holds little-endian f32s. Each node's embedder writes the same rows
-- for the same documents (an upsert), so nodes may share or repeat the work.
CREATE TABLE embeddings (
    model  TEXT  NOT NULL,
    doc    TEXT  COLLATE "C" NOT NULL,
    tenant TEXT  NOT NULL,
    vector BYTEA NOT NULL,
    PRIMARY KEY (model, doc)
);

-- How far the embedder of each model has followed the message and context
-- feeds.
CREATE TABLE embedding_progress (
    model   TEXT   PRIMARY KEY,
    message BIGINT NOT NULL,
    context BIGINT NOT NULL
);
