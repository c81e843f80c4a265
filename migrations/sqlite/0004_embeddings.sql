-- Sentence embeddings of messages and contexts (local ML, SPEC §7), written by
-- the background embedder, never on the put path. `doc` is the search
-- document's id; `model` the embedder's identity (name and model-file hash),
-- so vectors of another model are never compared. `vector` holds
-- little-endian f32s.
CREATE TABLE embeddings (
    model  TEXT NOT NULL,
    doc    TEXT NOT NULL,
    tenant TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, doc)
);

-- How far the embedder of each model has followed the message and context
-- feeds.
CREATE TABLE embedding_progress (
    model   TEXT    PRIMARY KEY,
    message INTEGER NOT NULL,
    context INTEGER NOT NULL
);
